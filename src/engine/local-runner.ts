import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlertFile, IpSetFiles, PolicyFile } from '../adapters/local/files.ts';
import { CachedBaselines } from '../adapters/local/cached-baselines.ts';
import { DenyListFile } from '../adapters/local/deny-list.ts';
import { KinesisTwin } from '../adapters/local/kinesis-twin.ts';
import type { SqliteState } from '../adapters/local/sqlite-state.ts';
import { type CordonConfig, withoutApiKeys } from '../config.ts';
import type { Decision } from '../decision.ts';
import type { TimelinePoint } from '../detect/detector.ts';
import type { AccessEvent } from '../events.ts';
import { KeyCount } from './key-count.ts';
import { ipKeyHash, prefixKeyHash, principalKeyHash } from '../features/keys.ts';
import { TopKeys } from '../pipeline/top-keys.ts';
import type { AlertBatch, AlertPort, LedgerEntry } from '../ports.ts';
import type { PolicyDocument } from '../render/resource-policy.ts';
import { type ContainResult, ContainStage } from './contain.ts';
import { DetectStage } from './detect.ts';
import { type FrontEnd, type PassRecords, ReplayFront } from './replay-front.ts';
import { MemoryPartStore } from '../adapters/local/memory-part-store.ts';
import { CountingMetrics, METRIC } from './observe.ts';

export interface LocalRunnerOptions {
  outDir: string;
  state: SqliteState;
  /** Shards of each stream (access logs and summaries). Default 1. */
  shards?: number;
  basePolicy?: PolicyDocument | null;
  policyResource?: string;
  onDecision?(d: Decision): void;
}

export interface LocalRunStats {
  windows: number;
  /** Late data: folded into a later window, dropped (too old), clamped (absurd times). */
  lateEvents: number;
  lateFolded: number;
  lateDropped: number;
  clamped: number;
  keysTracked: number;
  peakOpenKeys: number;
  ruleErrors: number;
  incidents: number;
  blocks: number;
  alerts: number;
  unblocks: number;
  decisionsByReason: Record<string, number>;
  ipSetOverflow: number;
  policyDropped: number;
  logStart: number | null;
  logEnd: number | null;
  streams: Record<string, { records: number; bytes: number }>;
}

/** Records per detect invocation: the construct's batch size. */
const DETECT_BATCH = 500;
/** How often idle keys are looked for (windows). */
const EVICT_EVERY = 10;

/**
 * `cordon replay`: the deployed stages (ingest per shard → summaries partitioned by key → detect per partition →
 * ledger → contain) in log time, over in-process twins: a Kinesis twin for the summaries stream, an in-memory
 * window store, SQLite for baselines and the ledger, files for WAF and the resource policy, alerts to a file. The
 * clock is the log's own (robust to absurd lines); contain runs after each detect pass that decided something and
 * once a minute of log time, and the detect tick runs once a minute of log time, as the schedules do in AWS.
 */
export class LocalRunner {
  readonly stats: LocalRunStats = {
    windows: 0, lateEvents: 0, lateFolded: 0, lateDropped: 0, clamped: 0, keysTracked: 0, peakOpenKeys: 0, ruleErrors: 0,
    incidents: 0, blocks: 0, alerts: 0, unblocks: 0, decisionsByReason: {}, ipSetOverflow: 0, policyDropped: 0,
    logStart: null, logEnd: null, streams: {},
  };
  readonly decisions: Decision[] = [];
  readonly topKeys = new TopKeys(50);
  readonly metrics = new CountingMetrics();
  private readonly cfg: CordonConfig;
  private readonly summaries: KinesisTwin;
  /** The ingest side, when this runner reads its own events (not when another thread reads them: see acceptPass). */
  /** The ingest side, when this thread reads (see {@link front}). */
  private frontOrNull: ReplayFront | null = null;
  /** How the ingest side is set up (access-log shards, summary partitions): a reading thread builds its own so. */
  readonly frontShape: { shards: number; buckets: number };
  private readonly detect: DetectStage;
  private readonly contain: ContainStage;
  private readonly baselines: CachedBaselines;
  private readonly parts = new MemoryPartStore();
  private readonly ipSets: IpSetFiles;
  private readonly policy: PolicyFile;
  private readonly decisionsPath: string;
  private readonly seenKeys = new KeyCount();
  /** One point per window start: every scope (summaries shard) closes its part of a window. */
  private readonly timelineByStart = new Map<number, TimelinePoint>();
  private readonly positions = new Map<string, string | undefined>();
  /** The log clock as of the latest pass (the front's; a replay's clock is its log's). */
  private now = -Infinity;
  private nextMinute = -Infinity;
  private decidedSinceContain = false;

  constructor(cfg: CordonConfig, private readonly opts: LocalRunnerOptions) {
    this.cfg = cfg;
    const shards = opts.shards ?? 1;
    const logNow = () => (Number.isFinite(this.now) ? this.now : 0);
    // Log time is not wall time: the per-second write limits of a shard would throttle a replay by its speed.
    // Detect reads the records' bytes as put (no base64 round trip in-process); the twin still counts them all.
    this.summaries = new KinesisTwin({ shards, streamName: 'summaries', clock: logNow, throughput: false,
      deliverBytes: true });
    this.baselines = new CachedBaselines(opts.state, cfg.windows.idleEvictMinutes * 60_000);
    // A few partitions per shard are enough to spread keys; a shard's share of a pass is one record where it fits.
    this.frontShape = { shards, buckets: summaryBuckets(shards) };
    this.detect = new DetectStage({ windows: this.parts, baselines: this.baselines, ledger: opts.state, config: cfg,
      metrics: this.metrics, onWindow: (closed, outcome) => {
        const a = outcome.assessment;
        this.stats.windows++;
        this.stats.ruleErrors += a.ruleErrors;
        if (a.incident) this.stats.incidents++;
        if (closed.keys.keyCount > this.stats.peakOpenKeys) this.stats.peakOpenKeys = closed.keys.keyCount;
        this.addTimeline(a.timeline);
        this.topKeys.addWindow(closed.keys);
        // Keys the detector keeps a state for (a prefix only once it holds two hosts).
        for (const k of closed.keys.byIp.keys()) this.seenKeys.add(ipKeyHash(k));
        for (const [k, kw] of closed.keys.byPrefix) if (kw.ips.size >= 2) this.seenKeys.add(prefixKeyHash(k));
        for (const [k, kw] of closed.keys.byWidePrefix) if (kw.ips.size >= 2) this.seenKeys.add(prefixKeyHash(k));
        for (const k of closed.keys.byPrincipal.keys()) this.seenKeys.add(principalKeyHash(k));
        if (outcome.decided.blocks.length || outcome.decided.held.length) this.decidedSinceContain = true;
        if (this.stats.logStart === null || closed.start < this.stats.logStart) this.stats.logStart = closed.start;
        if (this.stats.logEnd === null || closed.end > this.stats.logEnd) this.stats.logEnd = closed.end;
        if (this.stats.windows % EVICT_EVERY === 0) this.baselines.evictIdle(closed.start);
      }, onEarly: (_open, outcome) => {
        if (outcome.decided.blocks.length || outcome.decided.held.length) this.decidedSinceContain = true;
      } });
    this.ipSets = new IpSetFiles(opts.outDir, { namePrefix: 'cordon', addressesPerSet: cfg.caps.addressesPerIpSet,
      maxSetsPerFamily: cfg.caps.maxIpSetsPerFamily, routeScoped: cfg.waf.routeScoped.enabled });
    this.policy = new PolicyFile(opts.outDir, opts.basePolicy ?? null, { resource: opts.policyResource ?? 'execute-api:/*',
      maxChars: cfg.caps.policyMaxChars });
    this.decisionsPath = join(opts.outDir, 'decisions.jsonl');
    writeFileSync(this.decisionsPath, '');
    // deny-list.json only when the config turns the list on: otherwise the output folder is what it always was.
    const denyList = cfg.denyList.enabled ? { denyList: new DenyListFile(opts.outDir, logNow) } : {};
    this.contain = new ContainStage({ ledger: opts.state, ipSets: this.ipSets, policies: [this.policy], ...denyList,
      alerts: this.recordingAlerts(new AlertFile(join(opts.outDir, 'alerts.jsonl'))), config: withoutApiKeys(cfg), metrics: this.metrics });
  }

  /**
   * The ingest side of a replay read on this thread, built on first use: a run whose passes come from a reading thread
   * ({@link acceptPass}) builds none.
   */
  private get front(): ReplayFront {
    return (this.frontOrNull ??= new ReplayFront(this.cfg, { ...this.frontShape, metrics: this.metrics, onPass: (p) => this.acceptPass(p) }));
  }

  /** Events read on this thread (a reading thread counts its own). */
  get events(): number {
    return this.frontOrNull?.events ?? 0;
  }

  /** One decoded event (synchronous, from the reader's loop); the stages run on {@link drain}. */
  push(e: AccessEvent): void {
    this.front.push(e);
  }

  /** True when enough events wait for a stage pass. */
  get ready(): boolean {
    return this.front.ready;
  }

  /** Runs the buffered events through the stages, a pass per half minute of log time at most (see ReplayFront). */
  drain(final = false): Promise<void> {
    return this.front.drain(final);
  }

  /** End of input: the clock runs on until every window has closed, then contain publishes the last decisions. */
  async finish(): Promise<void> {
    await this.finishAfter(await this.front.finish());
  }

  /**
   * The end of a run whose events another thread read ({@link acceptPass} took its passes): `end` is where its log
   * clock stopped. The clock runs on until every window has closed, then contain publishes the last decisions.
   */
  async finishAfter(end: FrontEnd): Promise<void> {
    if (end.now > this.now) this.now = end.now;
    const last = Number.isFinite(this.now) ? this.now : 0;
    const w = this.cfg.windows;
    const closeAll = last + (w.maxDeliveryDelaySeconds + w.sizeSeconds) * 1000 + 1;
    const r = await this.detect.tick(closeAll);
    this.countDetect(r);
    // Not before any decision the final tick made (a window's decision is stamped at its end plus the lateness).
    const decided = (await this.opts.state.listAll()).reduce((t, e) => Math.max(t, e.createdAt), 0);
    await this.runContain(Math.max(last, decided));
    this.baselines.flush();
    this.stats.keysTracked = this.seenKeys.size;
    const s = this.summaries.stats();
    this.stats.streams = { summaries: { records: s.records, bytes: s.bytes } };
    this.stats.clamped += end.clamped;
    this.stats.lateEvents = this.stats.lateFolded + this.stats.lateDropped;
  }

  /** What the runner holds in memory now: key states, open windows and their keys, unread summary records. */
  held(): { keyStates: number; openWindows: number; openKeys: number; summaryRecords: number } {
    const summaryRecords = this.summaries.shardIds().reduce((n, id) => n + this.summaries.size(id), 0);
    return { keyStates: this.baselines.size, ...this.parts.held(), summaryRecords };
  }

  activeBlocks(now: number): Promise<LedgerEntry[]> {
    return this.opts.state.listActive(now);
  }

  /**
   * One pass of the ingest side: its summary records go on the summaries twin, then detect reads every shard, and the
   * one-minute schedules (the detect tick, contain) run when their minute has come. Passes must come in the order
   * the front made them.
   */
  async acceptPass(p: PassRecords): Promise<void> {
    if (p.now > this.now) this.now = p.now;
    const now = p.now;
    this.stats.clamped += p.clamped;
    if (p.failed) throw new Error('replay: ingest failed on a pass (see its log)');
    if (p.records.length) {
      try {
        await this.summaries.put(p.records);
      } catch (err) {
        throw new Error(`replay: summaries could not be put on the summaries twin: ${(err as Error).message}`, { cause: err });
      }
    }
    await this.detectAll(now);
    if (now >= this.nextMinute) {
      // The one-minute schedules of the detect tick and of contain.
      this.nextMinute = now - (now % 60_000) + 60_000;
      this.countDetect(await this.detect.tick(now));
      await this.runContain(now);
    } else if (this.decidedSinceContain) await this.runContain(now);
  }

  private async detectAll(now: number): Promise<void> {
    for (const shard of this.summaries.shardIds()) {
      for (;;) {
        const records = this.summaries.read(shard, this.positions.get(shard), DETECT_BATCH);
        if (records.length === 0) break;
        const r = await this.detect.handle(records, now);
        this.countDetect(r);
        if (r.batchItemFailures.length) throw new Error(`replay: detect failed on ${shard} (${this.metrics.get(METRIC.StageErrors)} stage errors)`);
        const last = records[records.length - 1].sequenceNumber;
        this.positions.set(shard, last);
        // Read and checkpointed: past retention as far as a replay is concerned.
        this.summaries.trim(shard, last);
      }
    }
  }

  private countDetect(r: { lateFolded: number; lateDropped: number; clamped: number }): void {
    this.stats.lateFolded += r.lateFolded;
    this.stats.lateDropped += r.lateDropped;
    this.stats.clamped += r.clamped;
  }

  private async runContain(now: number): Promise<ContainResult> {
    this.decidedSinceContain = false;
    const r = await this.contain.run(now);
    this.stats.ipSetOverflow = this.ipSets.overflow.length;
    this.stats.policyDropped = this.policy.last.dropped.length;
    return r;
  }

  /** Alerts go to alerts.jsonl as SNS would carry them; their decisions are the run's decisions. */
  private recordingAlerts(file: AlertFile): AlertPort {
    return {
      publish: async (batch: AlertBatch) => {
        await file.publish(batch);
        appendFileSync(this.decisionsPath, batch.decisions.map((d) => JSON.stringify(d)).join('\n') + '\n');
        for (const d of batch.decisions) {
          this.decisions.push(d);
          if (d.action === 'block') this.stats.blocks++;
          else if (d.action === 'alert') this.stats.alerts++;
          else this.stats.unblocks++;
          if (d.action !== 'unblock') for (const r of d.reasons) this.stats.decisionsByReason[r] = (this.stats.decisionsByReason[r] ?? 0) + 1;
          this.opts.onDecision?.(d);
        }
      },
    };
  }

  /** Traffic per window, oldest first (each scope's part of a window added up). */
  get timeline(): TimelinePoint[] {
    return [...this.timelineByStart.values()].sort((a, b) => a.start - b.start);
  }

  private addTimeline(p: TimelinePoint): void {
    const existing = this.timelineByStart.get(p.start);
    if (!existing) {
      this.timelineByStart.set(p.start, { ...p });
      return;
    }
    existing.requests += p.requests;
    existing.errors += p.errors;
    existing.notFound += p.notFound;
    existing.authFailures += p.authFailures;
    existing.uniqueIps += p.uniqueIps;
  }
}

/** Summary partitions of a replay: a few per shard spread keys. */
function summaryBuckets(shards: number): number {
  return 4 * shards;
}
