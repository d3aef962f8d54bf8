import { isIngestBatchingWindow, MAX_INGEST_BATCHING_WINDOW_SECONDS } from '../src/engine/ingest-batching.ts';
import type { SummaryWireLevel } from '../src/engine/wire.ts';

/**
 * Command-line options of `npm run bench`. Sizes are arguments so a quick run and a long, steadier run use the
 * same code; every input is generated from `seed`, so two runs measure the same bytes.
 */
export const SECTIONS = ['ingest', 'detect', 'stats', 'replay', 'memory', 'cost', 'scale'] as const;
export type Section = (typeof SECTIONS)[number];
/** What runs without --only: every section but `scale` (ten minutes of its own; run it by name). */
export const DEFAULT_SECTIONS: readonly Section[] = SECTIONS.filter((s) => s !== 'scale');

export interface BenchArgs {
  /** Access events pushed through each ingest measurement (the input pool is cycled to reach it). */
  events: number;
  /** Minutes of the `mixed` scenario generated as the input pool (~2,800 requests a minute). */
  minutes: number;
  seed: number;
  /** Runs per throughput figure; the best is reported (a busy machine only ever makes a run slower). */
  repeat: number;
  /** Distinct clients in the synthetic many-keys window of the detect figure. */
  detectKeys: number;
  /** Distinct tracked keys at which the detect stage's memory is measured. */
  memoryKeys: number[];
  /** Tracked keys of the population whose per-key state (slow evidence included) is measured. */
  stateKeys: number;
  /** Minutes of `mixed` traffic written to a file and replayed end to end. */
  replayMinutes: number;
  /** API requests a second the cost is priced at, besides the scenario's own rate. */
  rates: number[];
  /** Minutes of traffic each cost measurement runs over. */
  costMinutes: number;
  /** Rates up to this are measured on replicated traffic; higher ones are extrapolated from the highest measured. */
  costMaxRate: number;
  /** Wire level of the summaries stream in the cost run (1, or 2: prefixes derived at detect). */
  summaryLevel: SummaryWireLevel;
  /** Ingest's batching window in the cost run, ms (construct prop ingestBatchingWindowSeconds); undefined: the construct's default. */
  ingestWindowMs?: number;
  /** Rates of the scale table; all but the highest need a cost measurement (taken from the results file, or made). */
  scaleRates: number[];
  /** Minutes of replicated traffic each scale rate runs (windows are one minute). */
  scaleMinutes: number;
  /** V8 old-space limit of the scale section's detect child, MB: 90% of the detect function's 1,024 MB. */
  scaleHeapMb: number;
  sections: Set<Section>;
  out: string;
  quick: boolean;
}

const HELP = `npm run bench -- [options]
  --events N          events per ingest figure (default 1000000; --quick 200000)
  --minutes N         minutes of the mixed scenario in the input pool (default 60)
  --seed N            generator seed (default 1)
  --repeat N          runs per throughput figure, best reported (default 3; --quick 1)
  --detect-keys N     clients in the many-keys detect window (default 100000; --quick 20000)
  --memory-keys a,b   tracked keys for the memory figure (default 10000,100000,1000000; --quick 10000,100000)
  --state-keys N      tracked keys of the per-key state figure with slow evidence (default 200000)
  --replay-minutes N  minutes of traffic replayed end to end (default 180; --quick 60)
  --rates a,b         requests/s the cost is priced at (default 100,1000,10000)
  --cost-minutes N    minutes of traffic per cost measurement (default 20; --quick 10)
  --cost-max-rate N   highest rate measured on replicated traffic, higher ones extrapolated (default 1000)
  --summary-level N   the summaries stream's wire level in the cost and scale runs: 1 (what every release reads), 2
                      (prefixes derived at detect), 3 (those in brotli records) or 4 (those with short hashes, rounded
                      sums; default: what the construct's 'auto' writes once detect's level has stood)
  --ingest-window S   ingest's batching window in the cost run only (the scale run keeps the default), seconds
                      (construct prop ingestBatchingWindowSeconds, 1-30; default the construct's, 2)
  --scale-rates a,b   rates of the scale table (default 1000,10000,100000); each but the highest uses the cost
                      run's measurement at that rate (from this run, else the results file, else measured here)
  --scale-minutes N   minutes of replicated traffic per scale rate (default 3)
  --scale-heap-mb N   V8 old space of the scale section's detect child (default 921: 90% of 1,024 MB)
  --only a,b          sections: ${SECTIONS.join(',')} (default all but scale)
  --out PATH          results file (default bench/results.json)
  --quick             smaller sizes, one run each`;

export function parseArgs(argv: string[]): BenchArgs {
  const quick = argv.includes('--quick');
  const a: BenchArgs = {
    events: quick ? 200_000 : 1_000_000,
    minutes: 60,
    seed: 1,
    repeat: quick ? 1 : 3,
    detectKeys: quick ? 20_000 : 100_000,
    memoryKeys: quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000],
    stateKeys: 200_000,
    replayMinutes: quick ? 60 : 180,
    rates: [100, 1_000, 10_000],
    costMinutes: quick ? 10 : 20,
    costMaxRate: 1_000,
    summaryLevel: 4,
    scaleRates: [1_000, 10_000, 100_000],
    scaleMinutes: 3,
    scaleHeapMb: 921,
    sections: new Set(DEFAULT_SECTIONS),
    out: new URL('./results.json', import.meta.url).pathname,
    quick,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick': break;
      case '--events': a.events = positiveInt(flag, value()); break;
      case '--minutes': a.minutes = positiveInt(flag, value()); break;
      case '--seed': a.seed = positiveInt(flag, value()); break;
      case '--repeat': a.repeat = positiveInt(flag, value()); break;
      case '--detect-keys': a.detectKeys = positiveInt(flag, value()); break;
      case '--memory-keys': a.memoryKeys = value().split(',').map((v) => positiveInt(flag, v)); break;
      case '--state-keys': a.stateKeys = positiveInt(flag, value()); break;
      case '--replay-minutes': a.replayMinutes = positiveInt(flag, value()); break;
      case '--rates': a.rates = value().split(',').map((v) => positiveInt(flag, v)); break;
      case '--cost-minutes': a.costMinutes = positiveInt(flag, value()); break;
      case '--cost-max-rate': a.costMaxRate = positiveInt(flag, value()); break;
      case '--summary-level': {
        const level = positiveInt(flag, value());
        if (level !== 1 && level !== 2 && level !== 3 && level !== 4) throw new Error('--summary-level must be 1, 2, 3 or 4');
        a.summaryLevel = level;
        break;
      }
      case '--ingest-window': {
        const s = positiveInt(flag, value());
        if (!isIngestBatchingWindow(s)) throw new Error(`--ingest-window must be at most ${MAX_INGEST_BATCHING_WINDOW_SECONDS} (the construct's limit)`);
        a.ingestWindowMs = s * 1000;
        break;
      }
      case '--scale-rates': a.scaleRates = value().split(',').map((v) => positiveInt(flag, v)); break;
      case '--scale-minutes': a.scaleMinutes = positiveInt(flag, value()); break;
      case '--scale-heap-mb': a.scaleHeapMb = positiveInt(flag, value()); break;
      case '--only': a.sections = new Set(value().split(',').map(section)); break;
      case '--out': a.out = value(); break;
      case '--help': case '-h': console.log(HELP); process.exit(0);
      // falls through (unreachable: exit)
      default: throw new Error(`unknown option ${flag}\n${HELP}`);
    }
  }
  return a;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${v}`);
  return n;
}

function section(v: string): Section {
  if (!(SECTIONS as readonly string[]).includes(v)) throw new Error(`unknown section ${v}; known: ${SECTIONS.join(', ')}`);
  return v as Section;
}
