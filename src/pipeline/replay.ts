import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SqliteState } from '../adapters/local/sqlite-state.ts';
import type { CordonConfig } from '../config.ts';
import type { Decision } from '../decision.ts';
import { readAccessLogs } from '../decode/read-access-logs.ts';
import type { ReadStats } from '../decode/types.ts';
import type { Unreadable } from '../events.ts';
import type { PolicyDocument } from '../render/resource-policy.ts';
import { renderReportHtml } from '../report/html.ts';
import type { ReportData } from '../report/report-data.ts';
import { LocalRunner, type LocalRunStats } from '../engine/local-runner.ts';
import { defaultThreads, readOnThread } from './threaded-read.ts';

export interface ReplayOptions {
  files: string[];
  outDir: string;
  config: CordonConfig;
  /**
   * SQLite state to learn from and keep, carried across runs (baselines, blocks). Without it, OUT/state.sqlite is
   * started afresh: a replay shows what cordon would have done on these logs alone.
   */
  statePath?: string;
  basePolicy?: PolicyDocument | null;
  /** Shards of each stream between the stages (default 1). */
  shards?: number;
  /**
   * 1: read and run every stage on this thread. 2: read, decode and ingest on a second thread, detect and contain on
   * this one (the same passes and decisions). Default: 2 on a machine with two cores or more, for input of 32 MB or more.
   */
  threads?: 1 | 2;
  onDecision?(d: Decision): void;
  onProgress?(bytesRead: number, totalBytes: number): void;
}

export interface ReplaySummary {
  inputs: string[];
  formats: Record<string, string>;
  linesRead: number;
  linesUnreadable: number;
  unreadableByReason: Record<string, number>;
  unreadableSamples: Unreadable[];
  events: number;
  keysTracked: number;
  windows: number;
  lateEvents: number;
  /** Late data, always counted: folded into a later window, dropped (older than the fold limit), times clamped. */
  late: { folded: number; dropped: number; clamped: number };
  /** Records and bytes put on each stream between the stages. */
  streams: Record<string, { records: number; bytes: number }>;
  blocks: number;
  alerts: number;
  unblocks: number;
  decisionsByReason: Record<string, number>;
  activeBlocksAtEnd: number;
  eventsPerSecond: number;
  wallSeconds: number;
  dryRun: boolean;
  logStart: string | null;
  logEnd: string | null;
  peakOpenKeys: number;
  ruleErrors: number;
  incidentWindows: number;
  ipSetOverflow: number;
  policyEntriesDropped: number;
  outputs: Record<string, string>;
}

const OUTPUTS: Record<string, string> = {
  'decisions.jsonl': 'every decision, one JSON object a line',
  'waf-ipset-v4.json': 'UpdateIPSet payloads for the IPv4 sets',
  'waf-ipset-v6.json': 'UpdateIPSet payloads for the IPv6 sets',
  'resource-policy.json': 'the API resource policy with cordon\'s statements merged in',
  'alerts.jsonl': 'one alert per decision batch, as SNS would carry it',
  'summary.json': 'counts for this run',
  'report.html': 'the report for people',
  'state.sqlite': 'baselines and the block ledger (blocks list|release|extend, explain)',
};

/** With config waf.routeScoped: the route IP sets and the rule that refuses their addresses on the login route. */
const ROUTE_OUTPUTS: Record<string, string> = {
  'waf-ipset-route-v4.json': 'UpdateIPSet payload for the IPv4 route set (blocked on the login route only)',
  'waf-ipset-route-v6.json': 'UpdateIPSet payload for the IPv6 route set (blocked on the login route only)',
  'waf-route-rule.json': 'the web ACL rule that blocks the route sets\' addresses on POSTs to login paths',
};

const outputsFor = (cfg: CordonConfig): Record<string, string> => (cfg.waf.routeScoped.enabled ? { ...OUTPUTS, ...ROUTE_OUTPUTS } : OUTPUTS);

/** Unreadable lines kept as samples for the summary and the report. */
const MAX_SAMPLES = 20;

/** The input's size, for the choice of threads; a file that cannot be read counts nothing (the read reports it). */
function totalBytes(files: string[]): number {
  let n = 0;
  for (const f of files) {
    try {
      n += statSync(f).size;
    } catch {
      // Reported by the read, which names the file.
    }
  }
  return n;
}

/** Replays access-log files through the local pipeline and writes the output folder of DESIGN §7. */
export async function runReplay(opts: ReplayOptions): Promise<ReplaySummary> {
  mkdirSync(opts.outDir, { recursive: true });
  const statePath = opts.statePath ?? join(opts.outDir, 'state.sqlite');
  if (!opts.statePath) for (const f of ['', '-wal', '-shm']) rmSync(statePath + f, { force: true });
  const state = new SqliteState(statePath);
  const started = performance.now();
  let read: ReadStats;
  let pipeline: LocalRunner;
  let activeAtEnd: number;
  try {
    pipeline = new LocalRunner(opts.config, { outDir: opts.outDir, state, basePolicy: opts.basePolicy,
      onDecision: opts.onDecision, shards: opts.shards });
    const p = pipeline;
    const threads = opts.threads ?? defaultThreads(totalBytes(opts.files));
    if (threads === 2) {
      read = await readOnThread(p, { files: opts.files, config: opts.config, maxSamples: MAX_SAMPLES, onProgress: opts.onProgress });
    } else {
      read = await readAccessLogs(opts.files, { event: (e) => p.push(e), unreadable: () => {} },
        { onProgress: opts.onProgress, maxSamples: MAX_SAMPLES, afterChunk: () => p.drain() });
      await pipeline.finish();
    }
    activeAtEnd = (await pipeline.activeBlocks(pipeline.stats.logEnd ?? 0)).length;
  } finally {
    state.close();
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const s: LocalRunStats = pipeline.stats;
  const summary: ReplaySummary = {
    inputs: opts.files,
    formats: read.formats,
    linesRead: read.lines,
    linesUnreadable: read.unreadable,
    unreadableByReason: read.byReason,
    unreadableSamples: read.samples,
    events: read.events,
    keysTracked: s.keysTracked,
    windows: s.windows,
    lateEvents: s.lateEvents,
    late: { folded: s.lateFolded, dropped: s.lateDropped, clamped: s.clamped },
    streams: s.streams,
    blocks: s.blocks,
    alerts: s.alerts,
    unblocks: s.unblocks,
    decisionsByReason: s.decisionsByReason,
    activeBlocksAtEnd: activeAtEnd,
    eventsPerSecond: Math.round(read.events / Math.max(wallSeconds, 1e-6)),
    wallSeconds: Math.round(wallSeconds * 1000) / 1000,
    dryRun: opts.config.dryRun,
    logStart: s.logStart === null ? null : new Date(s.logStart).toISOString(),
    logEnd: s.logEnd === null ? null : new Date(s.logEnd).toISOString(),
    peakOpenKeys: s.peakOpenKeys,
    ruleErrors: s.ruleErrors,
    incidentWindows: s.incidents,
    ipSetOverflow: s.ipSetOverflow,
    policyEntriesDropped: s.policyDropped,
    outputs: Object.fromEntries(Object.keys(outputsFor(opts.config)).map((f) => [f, f === 'state.sqlite' ? statePath : join(opts.outDir, f)])),
  };
  writeFileSync(join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
  writeFileSync(join(opts.outDir, 'report.html'), renderReportHtml(reportData(summary, pipeline, opts.config)));
  return summary;
}

function reportData(s: ReplaySummary, p: LocalRunner, cfg: CordonConfig): ReportData {
  return {
    title: `cordon replay of ${s.inputs.map((f) => basename(f)).join(', ')}`,
    generatedAt: new Date().toISOString(),
    inputs: s.inputs.map((f) => basename(f)),
    dryRun: s.dryRun,
    summary: {
      linesRead: s.linesRead, linesUnreadable: s.linesUnreadable, events: s.events, keysTracked: s.keysTracked,
      eventsPerSecond: s.eventsPerSecond, wallSeconds: s.wallSeconds, blocks: s.blocks, alerts: s.alerts,
      unblocks: s.unblocks, decisionsByReason: s.decisionsByReason,
      logStart: s.logStart ? Date.parse(s.logStart) : null, logEnd: s.logEnd ? Date.parse(s.logEnd) : null,
    },
    timeline: p.timeline,
    decisions: p.decisions,
    topKeys: markDecided(p.topKeys.top(), p.decisions),
    unreadableSamples: s.unreadableSamples,
    outputs: Object.entries(outputsFor(cfg)).map(([name, description]) => ({ name, description })),
  };
}

function markDecided(keys: ReturnType<LocalRunner['topKeys']['top']>, decisions: Decision[]): ReportData['topKeys'] {
  const decided = new Map<string, 'block' | 'alert'>();
  for (const d of decisions) {
    if (d.action === 'block') decided.set(d.target, 'block');
    else if (d.action === 'alert' && !decided.has(d.target)) decided.set(d.target, 'alert');
  }
  return keys.map((k) => ({ ...k, decided: decided.get(k.key) }));
}
