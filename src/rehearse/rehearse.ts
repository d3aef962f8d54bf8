import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DenyListFile } from '../adapters/local/deny-list.ts';
import { AlertFile, IpSetFiles, PolicyFile } from '../adapters/local/files.ts';
import { KinesisTwin } from '../adapters/local/kinesis-twin.ts';
import { MemoryBlobStore } from '../adapters/local/memory-blob-store.ts';
import { MemoryWindowStore } from '../adapters/local/memory-window-store.ts';
import { SqliteState } from '../adapters/local/sqlite-state.ts';
import { type CordonConfig, withoutApiKeys } from '../config.ts';
import type { Decision } from '../decision.ts';
import { readAccessLogs } from '../decode/read-access-logs.ts';
import type { ReadStats } from '../decode/types.ts';
import { ContainStage } from '../engine/contain.ts';
import { DetectStage } from '../engine/detect.ts';
import { cloudWatchSource, INGEST_RETURN_MARGIN_MS, IngestStage, statePlaceOf, summaryBucketsFor } from '../engine/ingest.ts';
import { LogClock } from '../engine/log-clock.ts';
import { tickRules, tickSlicesFor } from '../engine/tick-slices.ts';
import { CountingMetrics, METRIC } from '../engine/observe.ts';
import { EncodedPartStore } from '../engine/part-store.ts';
import type { SummaryWireLevel } from '../engine/wire.ts';
import { AgreedWireLevel, BASE_LEVEL, HIGHEST_LEVEL, MemoryWireNoticeBoard, SETTLE_MS, WireAnnouncer } from '../engine/wire-handshake.ts';
import { DEFAULT_INGEST_BATCHING_WINDOW_SECONDS, isIngestBatchingWindow, MAX_INGEST_BATCHING_WINDOW_SECONDS } from '../engine/ingest-batching.ts';
import type { AccessEvent } from '../events.ts';
import { isIpv6, prefixOf } from '../net/ip.ts';
import { SnapshotBaselineStore } from '../pipeline/snapshot-baseline-store.ts';
import type { AlertBatch } from '../ports.ts';
import type { PolicyDocument } from '../render/resource-policy.ts';
import { DeliveryModel, describeDelays, QUOTAS } from './delivery-model.ts';
import { CORDON_ESM_CONFIG } from './esm-config.ts';
import { EventSourceMapping } from './event-source-mapping.ts';
import { LambdaFunctionModel, RateGate, scheduledRule } from './lambda-model.ts';
import { LogDelivery, type LogLine } from './log-delivery.ts';
import { Scheduler } from './scheduler.ts';

export interface RehearseOptions {
  files: string[];
  outDir: string;
  config: CordonConfig;
  /** Shards of each stream (access logs and summaries). Default 2. */
  shards?: number;
  /** One access-log shard delivers this many seconds behind the others. */
  laggingShardSeconds?: number;
  seed?: number;
  /**
   * The summaries stream's wire level, as the construct prop `summaryWireLevel` sets it (default 'auto': the level
   * detect announces, agreed as in AWS; the deployment is taken to have run long enough for it to stand).
   */
  summaryWireLevel?: SummaryWireLevel | 'auto';
  /** Ingest's batching window, seconds, as the construct prop `ingestBatchingWindowSeconds` sets it (default 2). */
  ingestBatchingWindowSeconds?: number;
  basePolicy?: PolicyDocument | null;
  onDecision?(d: Decision): void;
  onProgress?(bytesRead: number, totalBytes: number): void;
}

export interface RehearseSummary {
  mode: 'rehearse';
  inputs: string[];
  formats: Record<string, string>;
  linesRead: number;
  linesUnreadable: number;
  unreadableByReason: Record<string, number>;
  events: number;
  seed: number;
  shards: number;
  laggingShardSeconds: number;
  summaryWireLevel: SummaryWireLevel | 'auto';
  /** Ingest invocations by the wire level they wrote at. */
  summaryWireLevelsWritten: Record<string, number>;
  ingestBatchingWindowSeconds: number;
  /** Summary records detect could not read (counted and skipped): 0 unless something is broken. */
  summaryRecordsUnreadable: number;
  /** Detect's tick slices that ran: ticks a minute, each over its slice of the summaries shards (1 up to four shards). */
  tickSlices: number;
  /** Windows still open when the rehearsal ended: 0, as every window is decided by later data or by a tick. */
  windowsOpenAtEnd: number;
  dryRun: boolean;
  logStart: string | null;
  logEnd: string | null;
  /** Simulated wall clock at which the rehearsal ended. */
  simulatedEnd: string | null;
  blocks: number;
  alerts: number;
  unblocks: number;
  decisionsByReason: Record<string, number>;
  /**
   * Wall-clock seconds from a blocked target's first request in the log to its block in effect (WAF propagated, or
   * the redeployed policy live): over every target's first block.
   */
  timeToContainSeconds: { p50: number | null; p95: number | null; worst: number | null; blocks: number };
  /**
   * The same up to the moment cordon's write was accepted (UpdateIPSet, or the redeploy made): cordon's own share,
   * without WAF's or API Gateway's propagation.
   */
  timeToApplySeconds: { p50: number | null; p95: number | null; worst: number | null; blocks: number };
  late: { folded: number; dropped: number; clamped: number; linesOutOfOrder: number };
  delivery: {
    retried: number;
    bisected: number;
    splitAtFailure: number;
    toFailureQueue: number;
    coldStarts: number;
    maxIteratorAgeSeconds: Record<string, number>;
  };
  streams: Record<string, { records: number; bytes: number }>;
  /** Where every delay of the simulation comes from. */
  delays: { name: string; source: string }[];
  wallSeconds: number;
}

const HOUR = 3_600_000;

/**
 * `cordon rehearse`: the log through the deployed stages under a simulated wall clock that behaves as AWS does
 * (delivery-model.ts says where each delay comes from). A request logged at `t` is made at wall time `t`; its line
 * reaches CloudWatch Logs and the access-log stream after the modelled delays; event source mappings configured as
 * the construct configures them (esm-config.ts) invoke ingest and detect; the detect tick and the contain schedule
 * run once a minute, contain also after ledger writes (the ledger's stream); WAF takes one write a second and
 * propagates after a delay. Each decision's `time` is the moment its block is in effect (or, for an alert or an
 * unblock, the moment it is published).
 */
export async function runRehearse(opts: RehearseOptions): Promise<RehearseSummary> {
  const started = performance.now();
  const cfg = opts.config;
  const seed = opts.seed ?? 1;
  const shards = opts.shards ?? 2;
  const lagMs = Math.round((opts.laggingShardSeconds ?? 0) * 1000);
  // As the construct accepts it (infra/props.ts), before any work.
  const windowSeconds = opts.ingestBatchingWindowSeconds ?? DEFAULT_INGEST_BATCHING_WINDOW_SECONDS;
  if (!isIngestBatchingWindow(windowSeconds)) {
    throw new RangeError(`ingestBatchingWindowSeconds must be a whole number from 1 to ${MAX_INGEST_BATCHING_WINDOW_SECONDS}, got ${windowSeconds}`);
  }
  mkdirSync(opts.outDir, { recursive: true });

  // The log, bounded by its own neighbourhood (a line stamped in 2100 is not requested in 2100), in time order.
  // The clock bounds a copy's time (when it is requested); the line keeps the time it was stamped with.
  const requests: { at: number; event: AccessEvent }[] = [];
  const clock = new LogClock(Math.max(300_000, cfg.windows.futureToleranceSeconds * 1000), cfg.windows.pastToleranceMinutes * 60_000);
  let pending: AccessEvent[] = [];
  const stamped = new WeakMap<AccessEvent, AccessEvent>();
  const take = (final: boolean) => {
    for (const at of clock.take(pending, final)) requests.push({ at: at.time, event: stamped.get(at)! });
    pending = [];
  };
  const read: ReadStats = await readAccessLogs(opts.files, { event: (e) => { const copy = { ...e }; stamped.set(copy, e); pending.push(copy); }, unreadable: () => {} },
    { onProgress: opts.onProgress, maxSamples: 20, afterChunk: async () => take(false) });
  take(true);
  requests.sort((a, b) => a.at - b.at);

  const start = requests.length ? requests[0].at : Date.now();
  const sched = new Scheduler(start);
  const model = new DeliveryModel(seed, { laggingShardMs: lagMs });
  const now = () => sched.now();
  const metrics = new CountingMetrics();
  const noSleep = { sleep: async () => {} };
  const accessLogs = new KinesisTwin({ shards, streamName: 'access-logs', clock: now, putter: noSleep });
  // An ingest put that waits out the summaries stream's throughput (a burst over a shard's second) takes simulated
  // time: its sleeps move this stream's clock and add to the invocation's duration.
  const putWait = { ms: 0 };
  const summaries = new KinesisTwin({ shards, streamName: 'summaries', clock: () => now() + putWait.ms,
    putter: { sleep: async (ms) => { putWait.ms += ms; } } });

  const statePath = join(opts.outDir, 'state.sqlite');
  for (const f of ['', '-wal', '-shm']) rmSync(statePath + f, { force: true });
  const ledger = new SqliteState(statePath);
  const summaryWireLevel = opts.summaryWireLevel ?? 'auto';
  // 'auto' as in AWS: detect announces on the notice and beats on it, ingest reads it once a minute. The deployment has
  // run before the log starts: detect's level has stood (a fresh stack would write level 1 for its first 15 minutes).
  const notices = new MemoryWireNoticeBoard();
  notices.notice = { level: HIGHEST_LEVEL, since: start - SETTLE_MS, before: BASE_LEVEL, heartbeat: start };
  const agreed = new AgreedWireLevel(notices, HIGHEST_LEVEL);
  const summaryWireLevelsWritten: Record<string, number> = {};
  const written = (level: number) => {
    summaryWireLevelsWritten[level] = (summaryWireLevelsWritten[level] ?? 0) + 1;
    return level;
  };
  const writer = summaryWireLevel === 'auto'
    ? { wireLevel: { level: async (at: number) => written(await agreed.level(at)) }, now }
    : { wireLevel: { level: async () => written(summaryWireLevel) } };
  // As the construct sets the mapping and tells detect (infra/cordon-construct.ts).
  const ingestEsm = { ...CORDON_ESM_CONFIG.ingest, maximumBatchingWindowMs: windowSeconds * 1000 };
  const ingest = new IngestStage({ putter: summaries, config: cfg, metrics, buckets: summaryBucketsFor(shards),
    summaryShards: shards, ...writer });
  const windows = new EncodedPartStore(new MemoryWindowStore());
  const detect = new DetectStage({ windows, baselines: new SnapshotBaselineStore(new MemoryBlobStore(), { placeOf: statePlaceOf(cfg) }),
    ledger, config: cfg, metrics, ingestBatchingWindowSeconds: windowSeconds, wireNotice: new WireAnnouncer(notices, HIGHEST_LEVEL) });
  const ipSets = new IpSetFiles(opts.outDir, { namePrefix: 'cordon', addressesPerSet: cfg.caps.addressesPerIpSet, maxSetsPerFamily: cfg.caps.maxIpSetsPerFamily,
    routeScoped: cfg.waf.routeScoped.enabled });
  const policy = new PolicyFile(opts.outDir, opts.basePolicy ?? null, { resource: 'execute-api:/*', maxChars: cfg.caps.policyMaxChars });
  const alertFile = new AlertFile(join(opts.outDir, 'alerts.jsonl'));
  const published: { batch: AlertBatch; at: number }[] = [];
  const denyList = cfg.denyList.enabled ? { denyList: new DenyListFile(opts.outDir, now) } : {};
  const contain = new ContainStage({ ledger, ipSets, policies: [policy], ...denyList, config: withoutApiKeys(cfg), metrics,
    alerts: { publish: async (batch) => { published.push({ batch, at: sched.now() }); await alertFile.publish(batch); } } });

  // The functions, as the construct sizes them (infra/cordon-construct.ts).
  const fn = (name: string, memoryMb: number, timeoutMs: number, reservedConcurrency?: number) =>
    new LambdaFunctionModel({ name, memoryMb, timeoutMs, reservedConcurrency }, model, sched);
  const INGEST_TIMEOUT_MS = 120_000;
  const ingestFn = fn('ingest', 1024, INGEST_TIMEOUT_MS);
  const detectFn = fn('detect', 1024, 120_000);
  const containFn = fn('contain', 512, 180_000, 1);

  const putLatency = () => model.sample('kinesisPut');
  const mappings: EventSourceMapping[] = [];
  mappings.push(new EventSourceMapping({ name: 'ingest', scheduler: sched, reader: accessLogs, config: ingestEsm, model, lambda: ingestFn,
    lagMs: (shard, all) => model.shardLagMs(shard, all),
    handler: async (records) => {
      // As functions/ingest.ts: puts go on until the function's remaining time, less room to return.
      putWait.ms = 0;
      const r = await ingest.handle(records.map(cloudWatchSource), { deadline: now() + INGEST_TIMEOUT_MS - INGEST_RETURN_MARGIN_MS });
      const waited = putWait.ms;
      putWait.ms = 0;
      return { batchItemFailures: r.batchItemFailures, simulatedMs: (r.summaries ? putLatency() : 0) + waited };
    } }));

  // Contain: after ledger writes (the ledger's DynamoDB stream, read 4 times a second, a 5 s batching window) and once
  // a minute; one at a time (reserved concurrency 1: the single WAF writer).
  const wafGate = new RateGate(QUOTAS.wafWriteIntervalMs);
  const deployGate = new RateGate(QUOTAS.createDeploymentIntervalMs);
  /** Each published decision: when cordon applied it (the write accepted) and when it is in effect. */
  const effects: { decision: Decision; at: number; appliedAt: number }[] = [];
  let containQueued = false;
  const runContain = (reason: 'stream' | 'schedule') => {
    if (reason === 'stream') {
      if (containQueued) return;
      containQueued = true;
    }
    containFn.invokeAsync(async (t) => {
      if (reason === 'stream') containQueued = false;
      const before = published.length;
      const r = await contain.run(t);
      // The new blocks take effect when WAF (≤ 1 write/s, then propagation) or the redeployed policy has them.
      let waf: { applied: number; effect: number } | undefined;
      let policy: { applied: number; effect: number } | undefined;
      for (const p of published.slice(before)) {
        for (const d of p.batch.decisions) {
          if (d.action !== 'block') {
            effects.push({ decision: d, at: t, appliedAt: t });
            continue;
          }
          if (d.targetKind === 'principal') {
            if (!policy) {
              const applied = deployGate.reserve(t);
              policy = { applied, effect: applied + model.sample('redeployPropagation') };
            }
            effects.push({ decision: d, at: policy.effect, appliedAt: policy.applied });
          } else {
            if (!waf) {
              const applied = wafGate.reserve(t) + model.sample('wafWriteLatency');
              waf = { applied, effect: applied + model.sample('wafPropagation') };
            }
            effects.push({ decision: d, at: waf.effect, appliedAt: waf.applied });
          }
        }
      }
      return r;
    }, { maxEventAgeMs: 6 * HOUR });
  };

  let summaryRecordsUnreadable = 0;
  mappings.push(new EventSourceMapping({ name: 'detect', scheduler: sched, reader: summaries, config: CORDON_ESM_CONFIG.detect, model, lambda: detectFn,
    handler: async (records, t, info) => {
      const r = await detect.handle(records, t);
      summaryRecordsUnreadable += r.unreadable;
      if (r.decisions) info.defer(() => void sched.after(model.sample('dynamoStreamVisibility') + CORDON_ESM_CONFIG.contain.maximumBatchingWindowMs,
        () => runContain('stream')));
      return { batchItemFailures: r.batchItemFailures };
    } }));
  for (const m of mappings) m.start();
  // The detect tick as the construct schedules it: on many summaries shards, several rules of several targets, each
  // target a tick over its slice of the shards, all invoked when their rule fires.
  const slicesTicked = new Set<number>();
  for (const rule of tickRules(tickSlicesFor(shards))) {
    scheduledRule(sched, model, rule.name === 'DetectSchedule' ? 'detect-tick' : `detect-tick:${rule.name}`, 60_000, () => {
      for (const slice of rule.slices) {
        detectFn.invokeAsync(async (t) => {
          slicesTicked.add(slice?.slice ?? 0);
          const r = await detect.tick(t, undefined, slice);
          if (r.decisions) sched.after(model.sample('dynamoStreamVisibility') + CORDON_ESM_CONFIG.contain.maximumBatchingWindowMs, () => runContain('stream'));
          return r;
        }, { maxEventAgeMs: 60_000 });
      }
    });
  }
  scheduledRule(sched, model, 'contain', 60_000, () => runContain('schedule'));

  const delivery = new LogDelivery({ scheduler: sched, model, putter: accessLogs, cwlTimestamp: 'request' });
  const lines: LogLine[] = requests.map((r) => ({ time: r.at, line: recommendedLine(r.event) }));
  delivery.feed(lines);
  const last = requests.length ? requests[requests.length - 1].at : start;
  // After the last request: the longest delivery delay, the windows' clock, contain and WAF propagation, with room.
  const until = last + (cfg.windows.maxDeliveryDelaySeconds + 2 * cfg.windows.sizeSeconds) * 1000 + 15 * 60_000 + lagMs;
  await sched.run({ until });
  ledger.close();
  let windowsOpenAtEnd = 0;
  for (const scope of await windows.scopes()) windowsOpenAtEnd += (await windows.openWindows(scope)).length;

  // Outputs, as replay writes them; decision times are wall-clock moments.
  effects.sort((a, b) => a.at - b.at);
  const decisions = effects.map((e) => ({ ...e.decision, time: new Date(e.at).toISOString() }));
  writeFileSync(join(opts.outDir, 'decisions.jsonl'), decisions.map((d) => JSON.stringify(d)).join('\n') + (decisions.length ? '\n' : ''));
  for (const d of decisions) opts.onDecision?.(d);
  const byReason: Record<string, number> = {};
  for (const d of decisions) if (d.action !== 'unblock') for (const r of d.reasons) byReason[r] = (byReason[r] ?? 0) + 1;
  const ttc = timesToContain(decisions, requests);
  const applied = timesToContain(effects.map((e) => ({ ...e.decision, time: new Date(e.appliedAt).toISOString() }))
    .sort((a, b) => a.time.localeCompare(b.time)), requests);
  const esmStats = [ingestFn, detectFn, containFn];
  const summary: RehearseSummary = {
    mode: 'rehearse',
    inputs: opts.files,
    formats: read.formats,
    linesRead: read.lines,
    linesUnreadable: read.unreadable,
    unreadableByReason: read.byReason,
    events: read.events,
    seed,
    shards,
    laggingShardSeconds: lagMs / 1000,
    summaryWireLevel,
    summaryWireLevelsWritten,
    ingestBatchingWindowSeconds: windowSeconds,
    summaryRecordsUnreadable,
    tickSlices: slicesTicked.size,
    windowsOpenAtEnd,
    dryRun: cfg.dryRun,
    logStart: requests.length ? new Date(start).toISOString() : null,
    logEnd: requests.length ? new Date(last).toISOString() : null,
    simulatedEnd: new Date(sched.now()).toISOString(),
    blocks: decisions.filter((d) => d.action === 'block').length,
    alerts: decisions.filter((d) => d.action === 'alert').length,
    unblocks: decisions.filter((d) => d.action === 'unblock').length,
    decisionsByReason: byReason,
    timeToContainSeconds: ttc,
    timeToApplySeconds: applied,
    late: { folded: metrics.get(METRIC.LateFolded), dropped: metrics.get(METRIC.LateDropped),
      clamped: metrics.get(METRIC.ClockClamped) + clock.clamped, linesOutOfOrder: delivery.stats.lateLines },
    delivery: {
      retried: mappings.reduce((n, m) => n + m.stats.retries, 0),
      bisected: mappings.reduce((n, m) => n + m.stats.bisections, 0),
      splitAtFailure: mappings.reduce((n, m) => n + m.stats.splitsAtFailure, 0),
      toFailureQueue: mappings.reduce((n, m) => n + m.stats.recordsToFailureDestination, 0),
      coldStarts: esmStats.reduce((n, f) => n + f.stats.coldStarts, 0),
      maxIteratorAgeSeconds: Object.fromEntries(mappings.map((m) => [m.name,
        Math.round(Math.max(0, ...Object.values(m.stats.shards).map((s) => s.maxIteratorAgeMs)) / 100) / 10])),
    },
    streams: {
      'access-logs': { records: accessLogs.stats().records, bytes: accessLogs.stats().bytes },
      summaries: { records: summaries.stats().records, bytes: summaries.stats().bytes },
    },
    delays: describeDelays(model).map((d) => ({ name: d.name, source: d.source })),
    wallSeconds: Math.round((performance.now() - started) / 10) / 100,
  };
  writeFileSync(join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
  return summary;
}

/** A decoded request as the recommended API Gateway access-log line (what the construct's stages write). */
function recommendedLine(e: AccessEvent): string {
  const dash = (s: string) => (s === '' ? '-' : s);
  const arn = e.principal.startsWith('arn:') ? e.principal : '-';
  return JSON.stringify({ requestId: '-', ip: e.ip, requestTimeEpoch: e.time, httpMethod: dash(e.method), resourcePath: dash(e.resource),
    path: dash(e.path), status: e.status, protocol: 'HTTP/1.1', responseLength: e.bytes, responseLatency: e.latencyMs,
    userAgent: dash(e.userAgent), caller: '-', user: '-', userArn: arn, principalId: arn === '-' ? dash(e.principal) : '-', apiKeyId: '-' });
}

/** Per target's first block: its effect moment minus the target's first request in the log. */
function timesToContain(decisions: Decision[], requests: { at: number; event: AccessEvent }[]): RehearseSummary['timeToContainSeconds'] {
  const firstBlock = new Map<string, Decision>();
  for (const d of decisions) if (d.action === 'block' && !firstBlock.has(d.target)) firstBlock.set(d.target, d);
  const firstSeen = new Map<string, number>();
  for (const { at, event } of requests) {
    for (const key of [event.ip, prefixOf(event.ip), isIpv6(event.ip) ? '' : prefixOf(event.ip, 24), event.principal]) {
      if (key && firstBlock.has(key) && !firstSeen.has(key)) firstSeen.set(key, at);
    }
  }
  const times = [...firstBlock].filter(([t]) => firstSeen.has(t)).map(([t, d]) => (Date.parse(d.time) - firstSeen.get(t)!) / 1000).sort((a, b) => a - b);
  const q = (p: number) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.floor(p * (times.length - 1) + 0.5))] * 10) / 10 : null);
  return { p50: q(0.5), p95: q(0.95), worst: times.length ? Math.round(times[times.length - 1] * 10) / 10 : null, blocks: times.length };
}
