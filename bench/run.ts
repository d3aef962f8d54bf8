import type { SummaryWireLevel } from '../src/engine/wire.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { type BenchArgs, parseArgs } from './args.ts';
import { baselineFigure, type BaselineFigure } from './baselines.ts';
import { costModel, type CostModel, LAMBDA_MEMORY_MB, measureUsage, rateWhereShareFallsTo, replicate, shardsAt, type Usage } from './cost.ts';
import { bigWindow, detectFigure, type DetectFigure, mixedWindows } from './detect.ts';
import { figure, floorCwl, floorJsonLines, ingestCwl, type IngestFigure, ingestLines, unpackOnlyCwl } from './ingest.ts';
import { cwlRecordsOf, linesOf, meanBytes, simulate, type Traffic } from './inputs.ts';
import { type KeyStateFigure, keyStateFigure, memoryFigure, type MemoryFigure } from './memory.ts';
import { replayFigures, type ReplayFigure } from './replay.ts';
import { statsFigure, type StatsFigure } from './robust-stats.ts';
import { renderScale, scaleFigure, type ScaleFigure, usageNear } from './scale.ts';
import { int, mdTable, pct, qty, usd } from './table.ts';

/**
 * `npm run bench`: cordon's throughput, memory and running cost, measured on this machine, printed as markdown
 * tables and written to bench/results.json. See bench/README.md for what each figure means.
 */

/** The rate at which the what-ifs are compared. */

/** The cost target is judged at this rate (the first priced rate at or above it). */
const COST_TARGET_RATE = 1_000;
const TARGETS = { ingestEventsPerSecond: 1_000_000, floorRatio: 1.5, replayLinesPerSecond: 300_000, bytesPerKey: 250, costShareOfCwl: 0.1,
  summariesShare: 0.2 };

/** Bytes put on the summaries stream per byte on the access-log stream (both gzip'd, as in AWS). */
function summariesRatio(u: { summaryBytes: number; accessBytes: number }): number {
  return u.accessBytes > 0 ? u.summaryBytes / u.accessBytes : 0;
}

interface Results {
  startedAt: string;
  machine: { cpu: string; cores: number; node: string; loadAverage: number[] };
  args: Omit<BenchArgs, 'sections'> & { sections: string[] };
  ingest?: IngestFigure[];
  detect?: DetectFigure[];
  stats?: StatsFigure[];
  replay?: ReplayFigure[];
  memory?: MemoryFigure[];
  keyState?: KeyStateFigure;
  cost?: CostModel & { targetMetFromRate?: number | null; summaryLevel?: SummaryWireLevel };
  baselines?: BaselineFigure[];
  scale?: ScaleFigure;
  targets?: { target: string; measured: string; met: boolean }[];
  /**
   * When each figure of the file was measured: a run with --only keeps the other figures of the results file it
   * writes (from the run that measured them, at the time given here), so one section's run never wipes another's.
   */
  measuredAt?: Partial<Record<Figure, string>>;
}

/** The results' figures, each written by one section (memory writes two, cost writes two). */
const FIGURES = ['ingest', 'detect', 'stats', 'replay', 'memory', 'keyState', 'cost', 'baselines', 'scale'] as const;
type Figure = (typeof FIGURES)[number];

/** The results file as an earlier run left it, or null. */
function previousResults(out: string): Results | null {
  if (!existsSync(out)) return null;
  try {
    return JSON.parse(readFileSync(out, 'utf8')) as Results;
  } catch {
    return null; // not a results file: overwritten
  }
}

/** The previous results file's figures this run did not measure, with when they were measured. */
function carryOver(r: Results, prev: Results | null): void {
  if (prev === null) return;
  const at: Partial<Record<Figure, string>> = {};
  for (const f of FIGURES) {
    if (r[f] !== undefined) at[f] = r.startedAt;
    else if (prev[f] !== undefined) {
      (r as unknown as Record<string, unknown>)[f] = prev[f];
      at[f] = prev.measuredAt?.[f] ?? prev.startedAt;
    }
  }
  r.measuredAt = at;
}

const log = (s: string) => process.stderr.write(s + '\n');

function ingestSection(a: BenchArgs, t: Traffic): IngestFigure[] {
  const records = cwlRecordsOf(t, a.seed);
  log(`ingest: ${records.length} CloudWatch Logs records of 200 events, cycled to ${int(a.events)} events per figure`);
  const out: IngestFigure[] = [
    figure('CWL records, recommended JSON (IngestStage: windower per record)', a.repeat, () => ingestCwl(records, a.events, 1),
      () => floorCwl(records, a.events)),
    figure('CWL records, recommended JSON (windower per 100-record batch)', a.repeat, () => ingestCwl(records, a.events, 100),
      () => floorCwl(records, a.events)),
    figure('CWL records: base64 + gunzip only, no parsing (the ceiling)', a.repeat, () => unpackOnlyCwl(records, a.events)),
  ];
  for (const format of ['apigw-json', 'console-json', 'console-clf', 'combined'] as const) {
    const lines = linesOf(t, format, a.seed);
    const json = format === 'apigw-json' || format === 'console-json';
    out.push(figure(`${format} lines`, a.repeat, () => ingestLines(lines, format, a.events),
      json ? () => floorJsonLines(lines, a.events) : undefined));
  }
  return out;
}

function detectSection(a: BenchArgs, t: Traffic): DetectFigure[] {
  log('detect: scoring closed windows');
  return [
    detectFigure(`mixed scenario, ${t.minutes} one-minute windows`, mixedWindows(linesOf(t, 'apigw-json', a.seed)), a.repeat),
    detectFigure(`one window of ${int(a.detectKeys)} clients`, [bigWindow(a.detectKeys)], a.repeat),
  ];
}

/** The population statistics at the sizes a window holds: a few seconds, the same in --quick. */
function statsSection(a: BenchArgs): StatsFigure[] {
  log('stats: median and MAD of a window\'s keys, cordon against simple-statistics');
  return [1_000, 10_000, 100_000].map((keys) => statsFigure(keys, a.repeat, a.seed));
}

async function replaySection(a: BenchArgs): Promise<ReplayFigure[]> {
  const formats = a.quick ? (['apigw-json'] as const) : (['apigw-json', 'cwl-kinesis', 'combined'] as const);
  const out: ReplayFigure[] = [];
  for (const f of formats) {
    log(`replay: ${a.replayMinutes} min of ${f}`);
    out.push(...await replayFigures(f, a.replayMinutes, a.seed));
  }
  return out;
}

/** Per-key state with slow evidence at its measured share: local runner and the detect stage's snapshot (~15 s). */
function keyStateSection(a: BenchArgs): KeyStateFigure {
  log(`memory: ${int(a.stateKeys)} keys with slow evidence at the share of simulated hours (child process)`);
  return keyStateFigure(a.stateKeys, 60, a.seed);
}

function memorySection(a: BenchArgs): MemoryFigure[] {
  return a.memoryKeys.map((k) => {
    log(`memory: ${int(k)} keys (child process)`);
    return memoryFigure(k);
  });
}

async function costSection(a: BenchArgs): Promise<CostModel & { targetMetFromRate: number | null; summaryLevel: SummaryWireLevel }> {
  const usages = await costUsages(a, a.rates.filter((r) => r <= a.costMaxRate));
  return { ...costModel(usages, a.rates), targetMetFromRate: rateWhereShareFallsTo(usages, TARGETS.costShareOfCwl), summaryLevel: a.summaryLevel };
}

/** The cost run's measurements: the scenario's own rate and each of `rates`, on replicated traffic. */
async function costUsages(a: BenchArgs, rates: number[]): Promise<Usage[]> {
  log(`cost: generating ${a.costMinutes} min of the mixed scenario`);
  const base = simulate(a.costMinutes, a.seed);
  const scenarioRate = base.events.length / (a.costMinutes * 60);
  const copies = [...new Set([1, ...rates.map((r) => Math.max(1, Math.round(r / scenarioRate)))])];
  const usages: Usage[] = [];
  for (const k of copies) {
    const t = replicate(base, k);
    log(`cost: ${k} × the population (${Math.round(t.events.length / (a.costMinutes * 60))} req/s, ${t.events.length} requests): IngestStage and DetectStage`);
    const records = cwlRecordsOf(t, a.seed);
    const lineBytes = meanBytes(linesOf(t, 'apigw-json', a.seed).slice(0, 200_000));
    let u = await measureUsage(t, k, records, lineBytes, a.summaryLevel, 1, a.ingestWindowMs);
    // Ingest groups its records by the summaries shards the construct would deploy at this rate: measured once on
    // one, then again on as many as that measurement asks for.
    const shards = shardsAt(u.rate, u).summaries;
    if (shards > 1) {
      log(`cost: again with ingest told of ${shards} summaries shards`);
      u = await measureUsage(t, k, records, lineBytes, a.summaryLevel, shards, a.ingestWindowMs);
    }
    usages.push(u);
  }
  return usages;
}

/**
 * The scale table (bench/scale.ts): shards, Lambdas, cost and S3/DynamoDB requests from the cost run's measurements
 * (this run's, else the results file's; any rate missing from both, but the highest, is measured here first), and one
 * detect Lambda of each rate measured on its own shard's records.
 */
async function scaleSection(a: BenchArgs, r: Results, prev: Results | null): Promise<ScaleFigure> {
  let usages = r.cost?.usages ?? prev?.cost?.usages ?? [];
  const top = Math.max(...a.scaleRates);
  const missing = a.scaleRates.filter((rate) => rate !== top && !usageNear(usages, rate));
  if (missing.length || usages.length === 0) {
    log(`scale: no cost measurement at ${missing.map(int).join(', ') || 'any rate'} req/s; measuring`);
    usages = [...usages, ...await costUsages(a, missing)];
  } else log(`scale: the cost run's measurements at ${usages.map((u) => int(u.rate)).join(', ')} req/s${r.cost ? '' : ` (from ${a.out})`}`);
  return scaleFigure(usages, { rates: a.scaleRates, minutes: a.scaleMinutes, seed: a.seed, heapMb: a.scaleHeapMb, summaryLevel: a.summaryLevel, log });
}

function targetsOf(r: Results): { target: string; measured: string; met: boolean }[] {
  const out: { target: string; measured: string; met: boolean }[] = [];
  const cwl = r.ingest?.[0];
  if (cwl) {
    out.push({ target: `ingest ≥ ${int(TARGETS.ingestEventsPerSecond)} events/s (CWL records, recommended JSON)`,
      measured: `${int(cwl.eventsPerSecond)}/s`, met: cwl.eventsPerSecond >= TARGETS.ingestEventsPerSecond });
    out.push({ target: `ingest ≤ ${TARGETS.floorRatio}× the floor's time`, measured: `${cwl.floorRatio}×`,
      met: (cwl.floorRatio ?? Infinity) <= TARGETS.floorRatio });
  }
  // The issue's target is end to end, as a whole process, per wall second, on this machine's cores.
  const rp = r.replay?.filter((p) => p.format === 'apigw-json' && p.process)
    .sort((x, y) => y.process!.linesPerSecond - x.process!.linesPerSecond)[0];
  if (rp?.process) {
    const floor = rp.floorLinesPerSecond ? `; JSON.parse floor ${int(rp.floorLinesPerSecond)}/s` : '';
    out.push({ target: `local replay ≥ ${int(TARGETS.replayLinesPerSecond)} lines/s (wall, whole process)`,
      measured: `${int(rp.process.linesPerSecond)}/s (${rp.format}, ${rp.threads} thread${rp.threads > 1 ? 's' : ''}; past its ` +
        `${rp.process.startSeconds} s start ${int(rp.process.steadyLinesPerSecond)}/s; in process ${int(rp.linesPerWallSecond)}/s${floor})`,
      met: rp.process.linesPerSecond >= TARGETS.replayLinesPerSecond });
  }
  const mem = r.memory?.at(-1);
  if (mem) {
    out.push({ target: `≤ ${TARGETS.bytesPerKey} bytes per tracked key (synthetic mix)`, measured: `${mem.heapBytesPerKey} B at ${int(mem.keys)} keys`,
      met: mem.heapBytesPerKey <= TARGETS.bytesPerKey });
  }
  const ks = r.keyState;
  if (ks) {
    out.push({ target: `≤ ${TARGETS.bytesPerKey} bytes per tracked key, local runner (${pct(ks.share)} with slow evidence)`,
      measured: `${ks.localBytesPerKey} B at ${int(ks.keys)} keys`, met: ks.localBytesPerKey <= TARGETS.bytesPerKey });
    out.push({ target: `≤ ${TARGETS.bytesPerKey} bytes per tracked key, detect stage's stored snapshot (gzip)`,
      measured: `${ks.snapshot.gzipBytesPerKey} B (raw ${ks.snapshot.rawBytesPerKey} B)`, met: ks.snapshot.gzipBytesPerKey <= TARGETS.bytesPerKey });
  }
  if (r.cost) {
    // The summaries stream must shrink with traffic (pre-aggregation per ingest invocation): measured at the top rate.
    const top = r.cost.usages.reduce((a, b) => (b.rate > a.rate ? b : a));
    if (top.rate >= 5_000) {
      out.push({ target: `summaries ≤ ${pct(TARGETS.summariesShare)} of the access-log stream's bytes at 10,000 req/s`,
        measured: `${pct(summariesRatio(top))} at ${int(top.rate)} req/s (wire level ${r.cost.summaryLevel ?? 1}${top.ingestWindowMs ? `, ${top.ingestWindowMs / 1000} s ingest batches` : ''})`, met: summariesRatio(top) <= TARGETS.summariesShare });
    }
    const i = Math.max(0, r.cost.rates.findIndex((rate) => rate >= COST_TARGET_RATE));
    out.push({ target: `cost ≤ ${pct(TARGETS.costShareOfCwl)} of CloudWatch Logs ingestion`,
      measured: `${pct(r.cost.shareOfCwl[i])} at ${int(r.cost.rates[i])} req/s`, met: r.cost.shareOfCwl[i] <= TARGETS.costShareOfCwl });
  }
  return out;
}

function render(r: Results): string {
  const out: string[] = [`cordon bench — ${r.machine.cpu}, node ${r.machine.node}, load ${r.machine.loadAverage.map((x) => x.toFixed(1)).join(' ')}`];
  const earlier = Object.entries(r.measuredAt ?? {}).filter(([, at]) => at !== r.startedAt);
  if (earlier.length) out.push(`(from earlier runs, kept in the results file: ${earlier.map(([f, at]) => `${f} ${at}`).join(', ')})`);
  if (r.ingest) {
    out.push('\n### Ingest (one core; per CPU-second, wall-clock in brackets)\n',
      mdTable(['input', 'events', 'events/s', 'floor events/s', '× floor time'],
        r.ingest.map((f) => [f.name, int(f.events), `${int(f.eventsPerSecond)} (${int(f.eventsPerWallSecond)})`,
          f.floorEventsPerSecond ? int(f.floorEventsPerSecond) : '–', f.floorRatio ?? '–'])));
  }
  if (r.detect) {
    out.push('\n### Detect (Detector.assess, warm state)\n', mdTable(['windows', 'keys scored', 'keys/s', 'windows/s'],
      r.detect.map((d) => [d.name, int(d.keys), int(d.keysPerSecond), qty(d.windowsPerSecond)])));
  }
  if (r.stats) {
    out.push('\n### Population statistics of one window (median and MAD, CPU µs per call)\n',
      mdTable(['keys', 'implementation', 'µs per call', '× cordon', 'windows differing from the sort (any bit)'],
        r.stats.flatMap((s) => s.variants.map((v) => [int(s.keys), v.name, qty(v.us), (v.us / s.variants[0].us).toFixed(1),
          `${v.differ} of ${int(v.samples)}`])), ['r', 'l', 'r', 'r', 'r']));
  }
  if (r.replay) {
    out.push('\n### Local replay end to end (runReplay, SQLite state, file read included)\n',
      mdTable(['format', 'threads', 'file lines', 'events', 'MB', 'CPU s (wall s)', 'lines per CPU-s (per wall s)', 'JSON.parse floor (wall)', 'events/s', 'summary records (MB)', 'blocks'],
        r.replay.map((p) => [p.format, p.threads ?? 1, int(p.lines), int(p.events), (p.fileBytes / 1e6).toFixed(0), `${p.cpuSeconds} (${p.seconds})`,
          `${int(p.linesPerSecond)} (${int(p.linesPerWallSecond)})`, p.floorLinesPerSecond ? int(p.floorLinesPerSecond) : '–', int(p.eventsPerSecond),
          `${int(p.summaryRecords)} (${p.summaryMb})`, p.blocks])) +
      '\n\n(A cwl-kinesis file has one Kinesis record of 200 log events per line: compare it by events/s. Summary records are' +
      ' uncompressed JSON in a replay; AWS gzips them.)');
    const whole = r.replay.filter((p) => p.process);
    if (whole.length) {
      out.push('\n### `cordon replay` as a whole process (Node, the modules, the reading thread, the outputs; best of two)\n',
        mdTable(['format', 'threads', 'lines', 'wall s', 'lines per wall s', 'start (first 2,000 lines) s', 'lines per wall s past the start', 'JSON.parse floor (wall)'],
          whole.map((p) => [p.format, p.threads, int(p.lines), p.process!.seconds, int(p.process!.linesPerSecond), p.process!.startSeconds,
            int(p.process!.steadyLinesPerSecond), p.floorLinesPerSecond ? int(p.floorLinesPerSecond) : '–'])));
    }
  }
  if (r.memory) {
    out.push('\n### Detect-stage memory per tracked key (after GC)\n',
      mdTable(['tracked keys', 'B/key KeyStateStore (pipeline)', 'B/key Map of KeyState objects', 'B/key while window open', 'peak RSS MB'],
        r.memory.map((m) => [int(m.keys), m.heapBytesPerKey, m.objectMapHeapBytesPerKey, m.openWindowBytesPerKey, m.peakRssMb])));
  }
  if (r.keyState) out.push(`\n### Per-key state with evidence over time (${int(r.keyState.keys)} keys, after GC)\n`, renderKeyState(r.keyState));
  if (r.cost) out.push('\n### Cost per million API requests\n', renderCost(r.cost));
  if (r.baselines) {
    out.push('\n### Baseline snapshots of a long-running shard (detect CPU, one core)\n',
      mdTable(['keys in the shard', 'active keys a window', 'base object MB', 'window (delta write) ms', 'compaction ms',
        'windows per compaction', 'amortized ms a window', 'cold-start load ms'],
      r.baselines.map((b) => [int(b.keys), int(b.activePerWindow), (b.baseBytes / 1e6).toFixed(1), b.warmWindowMs, b.compactionMs,
        b.windowsPerCompaction, b.amortizedWindowMs, b.coldLoadMs])));
  }
  if (r.scale) out.push('\n### Scale: one detect Lambda at each rate, measured on its own shard\n', renderScale(r.scale));
  if (r.targets) {
    out.push('\n### Targets\n', mdTable(['target', 'measured', 'met'], r.targets.map((t) => [t.target, t.measured, t.met ? 'yes' : 'no']), ['l', 'l', 'l']));
  }
  return out.join('\n');
}

function renderKeyState(k: KeyStateFigure): string {
  const budget = `${TARGETS.bytesPerKey}`;
  const s = k.snapshot;
  const breakEven = k.marginalBytesPerSlowKey > 0 ? (TARGETS.bytesPerKey - k.localBytesPerKeyWithoutSlow) / k.marginalBytesPerSlowKey : NaN;
  const rows = [
    [`local runner: KeyStateStore, ${pct(k.share)} of keys with slow evidence`, String(k.localBytesPerKey), budget],
    ['local runner: KeyStateStore, no key with slow evidence', String(k.localBytesPerKeyWithoutSlow), budget],
    ['local runner: added by each key with slow evidence', String(k.marginalBytesPerSlowKey), '–'],
    ['detect stage: baseline snapshot, gzip (as stored in S3)', String(s.gzipBytesPerKey), budget],
    ['detect stage: baseline snapshot, raw lines', String(s.rawBytesPerKey), budget],
    ['detect stage: raw line of a key with / without slow evidence', `${s.rawBytesPerKeyWithSlow} / ${s.rawBytesPerKeyWithout}`, '–'],
    ['detect stage: warm Lambda\'s cache of the loaded snapshot (heap)', String(s.warmCacheBytesPerKey), budget],
  ];
  const shares = k.shares.map((x) => `${x.scenario} ${pct(x.share)} (${int(x.withSlow)} of ${int(x.keys)} keys)`).join(', ');
  return mdTable(['measure', 'bytes per key', 'budget'], rows, ['l', 'r', 'r']) +
    `\n\nShare of keys holding slow evidence at the end of a simulated hour through the Detector: ${shares}; the larger is used.` +
    (Number.isFinite(breakEven) ? ` The local runner reaches the budget at ${pct(Math.max(0, breakEven))} of keys with slow evidence.` : '') +
    ` (${k.seconds} s)`;
}

function renderCost(c: CostModel & { targetMetFromRate?: number | null; summaryLevel?: SummaryWireLevel }): string {
  const ref = Math.max(0, c.rates.findIndex((rate) => rate >= COST_TARGET_RATE));
  const label = (r: number, i: number) => `$ at ${int(r)} req/s${Math.abs(Math.log(c.measuredAt[i] / r)) < 0.1 ? '' : '*'}`;
  const head = ['item', `quantity / M requests at ${int(c.rates[ref])} req/s`, ...c.rates.map(label)];
  const rows = c.rows.map((r) => [r.item, `${qty(r.perMillion[ref])} ${r.unit}`, ...r.dollars.map(usd)]);
  rows.push(['**cordon total**', c.shards.map((s) => `${s.access}+${s.summaries}`).join(' / ') + ' shards', ...c.totals.map(usd)]);
  const u = c.usages.find((x) => x.rate === c.measuredAt[ref]) ?? c.usages[0];
  rows.push(['CloudWatch Logs ingestion of the same lines', `${qty(u.cwlBytes / u.requests)} B/line`, ...c.cwl.map(usd)]);
  rows.push(['**cordon / CloudWatch Logs**', '', ...c.shareOfCwl.map(pct)]);
  const measured = `summaries wire level ${c.summaryLevel ?? 1}; ` + c.usages.map((x) => `${int(x.rate)} req/s: summaries stream ${pct(summariesRatio(x))} of the access-log stream's bytes ` +
    `(${int(x.summaryRecords)} records, ${(x.summaryBytes / 1e6).toFixed(1)} MB, against ${(x.accessBytes / 1e6).toFixed(1)} MB); ${int(x.detectInvocations)} detect invocations (${int(x.detectTicks ?? 0)} of them clock ticks), ${int(x.windowsClosed)} windows closed, ` +
    `${int(x.s3.puts)} S3 PUTs, ${int(x.s3.gets)} GETs, largest baseline snapshot ${(x.largestSnapshotBytes / 1024).toFixed(0)} KB`).join('; ');
  return mdTable(head, rows) + '\n\n\\* per-request figures of the nearest measured rate (shard-hours at the rate itself).\n\n' +
    [...c.assumptions, `measured: ${measured}`].map((s) => `- ${s}`).join('\n') +
    (c.targetMetFromRate ? `\n\nAt or under ${pct(TARGETS.costShareOfCwl)} of CloudWatch Logs ingestion from about ${int(c.targetMetFromRate)} req/s ` +
      '(below that, the two streams\' minimum of one shard each dominates).' : '');
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const prev = previousResults(a.out);
  const r: Results = {
    startedAt: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadAverage: loadavg() },
    args: { ...a, sections: [...a.sections] },
  };
  let pool: Traffic | null = null;
  const traffic = (): Traffic => {
    if (pool === null) {
      log(`generating ${a.minutes} min of the mixed scenario (seed ${a.seed})`);
      pool = simulate(a.minutes, a.seed);
    }
    return pool;
  };
  if (a.sections.has('ingest')) r.ingest = ingestSection(a, traffic());
  if (a.sections.has('detect')) r.detect = detectSection(a, traffic());
  if (a.sections.has('stats')) r.stats = statsSection(a);
  if (a.sections.has('replay')) r.replay = await replaySection(a);
  if (a.sections.has('memory')) {
    r.memory = memorySection(a);
    r.keyState = keyStateSection(a);
  }
  if (a.sections.has('cost')) {
    r.cost = await costSection(a);
    r.baselines = [];
    for (const keys of a.quick ? [100_000] : [100_000, 1_000_000]) {
      log(`cost: baseline snapshots of ${int(keys)} keys`);
      r.baselines.push(await baselineFigure(keys, 15_000));
    }
  }
  if (a.sections.has('scale')) r.scale = await scaleSection(a, r, prev);
  carryOver(r, prev);
  r.targets = targetsOf(r);
  console.log(render(r));
  mkdirSync(dirname(a.out), { recursive: true });
  writeFileSync(a.out, JSON.stringify(r, null, 1) + '\n');
  log(`\nwritten ${a.out} (Lambda memory assumed ${LAMBDA_MEMORY_MB} MB)`);
}

await main();
