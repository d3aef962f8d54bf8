import type { CordonConfig } from '../config.ts';
import type { AccessEvent } from '../events.ts';
import type { PutRecord, StreamPutter } from '../ports/stream.ts';
import { eventsSource, IngestStage } from './ingest.ts';
import { LogClock } from './log-clock.ts';
import { type Metrics, noMetrics } from './observe.ts';

/** Events per ingest invocation (one source record per shard). */
const BATCH_EVENTS = 16_384;
/**
 * Log time one stage pass covers at most. The detect tick and contain run once a minute in AWS, but early decisions are
 * looked for on each delivery: a pass of half a minute stamps them within 30 s of their evidence (a minute cost 30 s
 * more on the median time to contain, 15 s cost some 10% more CPU).
 */
const PASS_MS = 30_000;

/**
 * What one pass of a replay puts on the summaries stream: ingest's invocation over the pass's events, and the log
 * clock when it ran. Plain data, so it can cross from a reading thread to the thread that runs detect.
 */
export interface PassRecords {
  /** The log clock at the pass (the newest accepted event time). */
  now: number;
  /** The summary records ingest put, in order. */
  records: PutRecord[];
  /** Event times ingest clamped to their log timestamp. */
  clamped: number;
  /** Source records ingest reported failed (a replay stops on any). */
  failed: number;
}

/** Where the front's input ended: the log clock's last time and the times it clamped. */
export interface FrontEnd {
  now: number;
  clamped: number;
}

export interface ReplayFrontOptions {
  /**
   * Shards of the access-log stream (a pass's events go round robin over them, one source record each) and of the
   * summaries stream (ingest groups its records by them).
   */
  shards: number;
  /** Summary partitions (buckets). */
  buckets: number;
  metrics?: Metrics;
  /** Runs the rest of the pipeline on one pass's records; the front waits for it before its next pass. */
  onPass(p: PassRecords): Promise<void>;
}

/** Keeps what ingest puts, in order, for the pass's consumer: in-process, the put is where the stages meet. */
class RecordingPutter implements StreamPutter {
  taken: PutRecord[] = [];

  async put(records: PutRecord[]): Promise<void> {
    for (const r of records) this.taken.push(r);
  }
}

/**
 * The ingest side of `cordon replay`: decoded events → the log clock (robust to absurd lines) → passes of up to half
 * a minute of log time → ingest per access-log shard → summary records. Everything after the summaries stream (detect,
 * contain) is the {@link PassRecords} consumer's. The front depends only on its input, never on the consumer, so it
 * can run on its own thread and the consumer sees the same passes in the same order as when both run on one.
 */
export class ReplayFront {
  private readonly clock: LogClock;
  private readonly ingest: IngestStage;
  private readonly putter = new RecordingPutter();
  private buffer: AccessEvent[] = [];
  private sequence = 0;
  private events_ = 0;

  constructor(cfg: CordonConfig, private readonly opts: ReplayFrontOptions) {
    this.clock = new LogClock(Math.max(300_000, cfg.windows.futureToleranceSeconds * 1000), cfg.windows.pastToleranceMinutes * 60_000);
    // Records stay uncompressed where they fit: in-process, bytes cost nothing and gzip cost a tenth of the run. Both
    // stages are this release's, so the parts are level 4's (prefixes left to detect, 16-bit distinct hashes, rounded
    // sums) as the deployed default agrees on them, uncompressed.
    this.ingest = new IngestStage({ putter: this.putter, config: cfg, metrics: opts.metrics ?? noMetrics, buckets: opts.buckets,
      summaryShards: opts.shards, summaryEncoding: 'identity', derivePrefixes: true, shortHashes: true, roundedSums: true });
  }

  get events(): number {
    return this.events_;
  }

  /** The log clock: the newest accepted event time (-Infinity before the first). */
  get now(): number {
    return this.clock.now;
  }

  /** One decoded event (synchronous, from the reader's loop); the stages run on {@link drain}. */
  push(e: AccessEvent): void {
    this.buffer.push(e);
    this.events_++;
  }

  /** True when enough events wait for a stage pass. */
  get ready(): boolean {
    return this.sliceEnd() > 0;
  }

  /** Runs the buffered events through the stages, a pass per half minute of log time at most. */
  async drain(final = false): Promise<void> {
    for (let n = this.sliceEnd(); n > 0 || (final && this.buffer.length); n = this.sliceEnd()) {
      // No local holds the batch: its events are garbage once ingest has them (see pass).
      await this.pass(this.clock.take(this.buffer.splice(0, n > 0 ? n : this.buffer.length)));
    }
    if (final) await this.pass(this.clock.take([], true));
  }

  /** End of input: every buffered event goes through; returns where the log clock stopped. */
  async finish(): Promise<FrontEnd> {
    await this.drain(true);
    return { now: this.clock.now, clamped: this.clock.clamped };
  }

  /** How many buffered events make the next pass: up to BATCH_EVENTS, or half a minute of log time; 0 if not yet. */
  private sliceEnd(): number {
    const b = this.buffer;
    if (b.length === 0) return 0;
    const limit = Math.min(b.length, BATCH_EVENTS);
    const until = b[0].time + PASS_MS;
    for (let i = 1; i < limit; i++) if (b[i].time >= until) return i;
    return b.length >= BATCH_EVENTS ? BATCH_EVENTS : 0;
  }

  /**
   * Ingest's invocation of a pass. The events are let go as soon as it is done (the array is emptied), not held
   * through detect and contain: a pass's events outliving it made every garbage collection in the pass copy them.
   */
  private async pass(events: AccessEvent[]): Promise<void> {
    if (events.length === 0) return;
    const now = this.clock.now;
    const shards = this.opts.shards;
    // CloudWatch Logs spreads a group's lines over the shards (distribution Random): one source record per shard.
    const perShard: AccessEvent[][] = Array.from({ length: shards }, () => []);
    for (let i = 0; i < events.length; i++) perShard[i % shards].push(events[i]);
    const seq = String(++this.sequence).padStart(20, '0');
    const sources = perShard.filter((list) => list.length).map((list, i) => eventsSource(`access-${i}`, seq, list));
    let result;
    try {
      result = await this.ingest.handle(sources);
    } finally {
      events.length = 0;
    }
    const records = this.putter.taken;
    this.putter.taken = [];
    await this.opts.onPass({ now, records, clamped: result.clamped, failed: result.batchItemFailures.length });
  }
}
