import type { BatchResult, StreamReader, StreamRecord } from '../ports/stream.ts';
import type { DeliveryModel } from './delivery-model.ts';
import { LAMBDA_FACTS } from './delivery-model.ts';
import { makeSampler, streamOf, type Sampler } from './distributions.ts';
import type { EsmConfig } from './esm-config.ts';
import type { Invocation, LambdaFunctionModel } from './lambda-model.ts';
import type { Scheduler, TimerHandle } from './scheduler.ts';
import type { Rng } from '../simulate/rng.ts';

/**
 * A Lambda event source mapping over a stream (Kinesis, or a DynamoDB stream read through the same port), as AWS
 * documents it (Lambda Developer Guide: "Using Lambda with Kinesis", "Configuring partial batch response",
 * "Error handling"):
 *
 * - each shard is polled at a base rate (1/s Kinesis, 4/s DynamoDB), records are read ahead and buffered, and one
 *   batch per shard is in flight (or `parallelizationFactor` batches, records split by partition key, each key's
 *   records in order);
 * - a batch is sent when it holds `batchSize` records, reaches the 6 MB payload limit, or its batching window
 *   (counted from when the poller first held its first record) has passed; a backlog goes out batch after batch;
 * - a returned `batchItemFailures` (with ReportBatchItemFailures) checkpoints before the lowest failed sequence
 *   number: records before it are done and never delivered again. With bisect on, the batch is split *at* that
 *   record and only the rest is retried (a split does not count as a retry); so a failure reported for the first
 *   record retries the identical batch, and that counts. Without bisect, the rest is retried as a retry;
 * - a thrown error or timeout (or an item identifier that is empty or not in the batch) fails the whole batch:
 *   with bisect it is halved (not a retry) down to single records, else it is retried whole;
 * - after `maximumRetryAttempts` retries, or for records older than `maximumRecordAgeMs`, the records are skipped
 *   and their batch's metadata goes to the on-failure destination (kept in `failures`);
 * - a parent shard is read to its end (all its records done) before its children, after a reshard.
 *
 * Not documented by AWS, chosen here: a retry or split goes out at the shard's next poll (one poll interval later);
 * the read-ahead holds at most 10,000 records per shard (one GetRecords call's maximum).
 */

export interface InvocationInfo {
  mapping: string;
  shardId: string;
  /** 0 for a first delivery, n for the n-th retry of the same first record. */
  attempt: number;
  /**
   * Work to run at the simulated moment the invocation ends (before its result is applied), e.g. making visible
   * what the stage put on a stream. Runs also when the handler threw or timed out.
   */
  defer(fn: () => void | Promise<void>): void;
}

/** What a handler returns: a BatchResult, optionally with the simulated ms its calls to AWS took. */
export type HandlerResult = Partial<BatchResult> & { simulatedMs?: number };

export type StreamHandler = (records: StreamRecord[], now: number, info: InvocationInfo) => Promise<HandlerResult | void>;

/** A StreamReader that knows shard lineage after a reshard (as KinesisTwin does). */
export interface ReshardAwareReader extends StreamReader {
  /** The shard's parents: one after a split, two after a merge, none for an original shard. */
  parentsOf(shardId: string): string[];
  /** Whether the shard still takes records (a closed one is read to its end, then its children start). */
  isOpen(shardId: string): boolean;
}

export interface FailureDestinationEntry {
  /** Simulated time the metadata was sent. */
  at: number;
  mapping: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  batchSize: number;
  condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
  /** Invocations of these records' batch (first delivery plus retries). */
  approximateInvokeCount: number;
}

export interface ShardStats {
  invocations: number;
  /** Lambda's IteratorAge: at the last invocation, now minus the arrival of the batch's last record. */
  iteratorAgeMs: number;
  maxIteratorAgeMs: number;
}

export interface EsmStats {
  polls: number;
  invocations: number;
  /** Redeliveries of records that had already been delivered with the same first record (count against the quota). */
  retries: number;
  /** Whole-batch failures split in two. */
  bisections: number;
  /** Batches split at a returned sequence number (bisect with ReportBatchItemFailures). */
  splitsAtFailure: number;
  /** Records in all invocations (a record delivered 3 times counts 3). */
  recordsDelivered: number;
  /** Records done (checkpointed) after a successful delivery. */
  recordsSucceeded: number;
  recordsToFailureDestination: number;
  /** Invocations refused for the function's reserved concurrency. */
  throttles: number;
  shards: Record<string, ShardStats>;
}

export interface EventSourceMappingOptions {
  name: string;
  scheduler: Scheduler;
  reader: StreamReader;
  handler: StreamHandler;
  config: EsmConfig;
  model: DeliveryModel;
  /** The function (cold starts, duration, reserved concurrency). Without one an invocation takes `simulatedMs` only. */
  lambda?: LambdaFunctionModel;
  /** Extra ms before a shard's records reach this consumer (`--lagging-shard`); see DeliveryModel.shardLagMs. */
  lagMs?: (shardId: string, allShardIds: readonly string[]) => number;
  /** The partition key of a record, for parallelization > 1 (default: a `partitionKey` field, else the sequence number). */
  partitionKeyOf?: (r: StreamRecord) => string;
}

interface Batch {
  records: StreamRecord[];
  /** Retries so far of this batch's first record. */
  attempts: number;
}

interface Lane {
  index: number;
  buffer: StreamRecord[];
  bufferBytes: number;
  /** When the lane's oldest buffered record was first held (its batching window starts then). */
  windowStart: number;
  /** Batches to deliver again, exactly, before anything in the buffer (front first). */
  redeliver: Batch[];
  redeliverAt: number;
  inflight: boolean;
  timer: TimerHandle | undefined;
}

interface Shard {
  id: string;
  lanes: Lane[];
  /** Last sequence number read (undefined: nothing read yet). */
  cursor: string | undefined;
  buffered: number;
  done: boolean;
  poll: TimerHandle | undefined;
  stats: ShardStats;
}

/** A record's share of the invoke payload besides its base64 data (sequence number, shard, timestamps). */
export const RECORD_ENVELOPE_BYTES = 200;

function payloadBytes(r: StreamRecord): number {
  return r.data.length + RECORD_ENVELOPE_BYTES;
}

function simulatedMsOf(r: HandlerResult | void): number {
  const ms = (r as HandlerResult | undefined)?.simulatedMs;
  return typeof ms === 'number' && ms > 0 ? ms : 0;
}

function hasLineage(reader: StreamReader): reader is ReshardAwareReader {
  const r = reader as Partial<ReshardAwareReader>;
  return typeof r.parentsOf === 'function' && typeof r.isOpen === 'function';
}

export class EventSourceMapping {
  readonly name: string;
  readonly stats: EsmStats = {
    polls: 0,
    invocations: 0,
    retries: 0,
    bisections: 0,
    splitsAtFailure: 0,
    recordsDelivered: 0,
    recordsSucceeded: 0,
    recordsToFailureDestination: 0,
    throttles: 0,
    shards: {},
  };
  /** What was sent to the on-failure destination. */
  readonly failures: FailureDestinationEntry[] = [];

  private readonly shards = new Map<string, Shard>();
  private readonly cfg: EsmConfig;
  private readonly sched: Scheduler;
  private readonly reader: StreamReader;
  private readonly getRecords: Sampler;
  private readonly phaseRng: Rng;
  private discoverTimer: TimerHandle | undefined;
  private started = false;
  private readonly readAhead: number;

  constructor(private readonly opts: EventSourceMappingOptions) {
    this.name = opts.name;
    this.cfg = opts.config;
    this.sched = opts.scheduler;
    this.reader = opts.reader;
    if (this.cfg.parallelizationFactor < 1 || this.cfg.parallelizationFactor > 10) throw new RangeError('parallelizationFactor must be 1–10');
    this.getRecords = makeSampler('getRecords', opts.model.spec('getRecords'), opts.model.rng(`esm:${opts.name}:getRecords`));
    this.phaseRng = opts.model.rng(`esm:${opts.name}:phase`);
    this.readAhead = Math.max(LAMBDA_FACTS.getRecordsLimit, 2 * this.cfg.batchSize * this.cfg.parallelizationFactor);
    this.sched.addBusyCheck(() => this.started && this.hasWork());
  }

  /** Starts polling (shards are discovered once per poll interval). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.discoverTimer = this.sched.every(this.cfg.pollIntervalMs, () => this.discover(), { start: this.sched.now(), daemon: true });
  }

  stop(): void {
    this.started = false;
    this.discoverTimer?.cancel();
    for (const s of this.shards.values()) {
      s.poll?.cancel();
      for (const l of s.lanes) l.timer?.cancel();
    }
  }

  /** Lambda's IteratorAge for a shard at its last invocation. */
  iteratorAgeMs(shardId: string): number {
    return this.shards.get(shardId)?.stats.iteratorAgeMs ?? 0;
  }

  /**
   * Whether records remain that this mapping has not finished with (a shard waiting on a parent that is still open
   * cannot move, so it does not count).
   */
  hasWork(): boolean {
    const lineage = hasLineage(this.reader) ? this.reader : undefined;
    for (const id of this.reader.shardIds()) {
      const s = this.shards.get(id);
      if (s?.done) continue;
      if (lineage && lineage.parentsOf(id).some((p) => lineage.isOpen(p))) continue;
      if (this.reader.read(id, s?.cursor, 1).length > 0) return true;
    }
    for (const s of this.shards.values()) if (!s.done && s.lanes.some((l) => l.inflight || l.buffer.length > 0 || l.redeliver.length > 0)) return true;
    return false;
  }

  // ------------------------------------------------------------------ shards and polling

  private discover(): void {
    for (const id of this.reader.shardIds()) this.ensureShard(id);
  }

  private ensureShard(id: string): Shard {
    let s = this.shards.get(id);
    if (s) return s;
    const stats: ShardStats = { invocations: 0, iteratorAgeMs: 0, maxIteratorAgeMs: 0 };
    this.stats.shards[id] = stats;
    s = {
      id,
      lanes: Array.from({ length: this.cfg.parallelizationFactor }, (_, index) => ({
        index,
        buffer: [],
        bufferBytes: 0,
        windowStart: 0,
        redeliver: [],
        redeliverAt: 0,
        inflight: false,
        timer: undefined,
      })),
      cursor: undefined,
      buffered: 0,
      done: false,
      poll: undefined,
      stats,
    };
    this.shards.set(id, s);
    const shard = s;
    const phase = this.phaseRng.random() * this.cfg.pollIntervalMs;
    shard.poll = this.sched.every(this.cfg.pollIntervalMs, (now) => this.poll(shard, now), { start: this.sched.now() + phase, daemon: true });
    if (hasLineage(this.reader)) for (const p of this.reader.parentsOf(id)) this.ensureShard(p);
    return shard;
  }

  /** Parents not yet read to their end (their records all done). */
  private blockedByParent(s: Shard): boolean {
    if (!hasLineage(this.reader)) return false;
    return this.reader.parentsOf(s.id).some((p) => !this.ensureShard(p).done);
  }

  private poll(s: Shard, now: number): void | Promise<void> {
    if (s.done || this.blockedByParent(s)) return;
    this.stats.polls++;
    if (this.fetch(s, now) > 0) {
      this.sched.after(this.getRecords.sample(), (t) => this.dispatchAll(s, t));
      return;
    }
    return this.dispatchAll(s, now);
  }

  /** Reads what is visible into the lanes' buffers; returns how many records were read. */
  private fetch(s: Shard, now: number): number {
    const room = this.readAhead - s.buffered;
    if (room <= 0) return 0;
    const records = this.reader.read(s.id, s.cursor, Math.min(room, LAMBDA_FACTS.getRecordsLimit));
    if (records.length === 0) return 0;
    const lag = this.opts.lagMs ? this.opts.lagMs(s.id, this.reader.shardIds()) : 0;
    let n = 0;
    for (const r of records) {
      if (r.arrivedAt !== undefined && r.arrivedAt + lag > now) break;
      const lane = s.lanes[this.laneOf(r)];
      if (lane.buffer.length === 0) lane.windowStart = now;
      lane.buffer.push(r);
      lane.bufferBytes += payloadBytes(r);
      s.cursor = r.sequenceNumber;
      n++;
    }
    s.buffered += n;
    return n;
  }

  private laneOf(r: StreamRecord): number {
    const p = this.cfg.parallelizationFactor;
    if (p === 1) return 0;
    const key = this.opts.partitionKeyOf ? this.opts.partitionKeyOf(r) : ((r as { partitionKey?: string }).partitionKey ?? r.sequenceNumber);
    return streamOf(key) % p;
  }

  private async dispatchAll(s: Shard, now: number): Promise<void> {
    for (const lane of s.lanes) await this.tryDispatch(s, lane, now);
    this.checkDone(s);
  }

  // ------------------------------------------------------------------ batches

  private wakeAt(lane: Lane, s: Shard, time: number): void {
    if (lane.timer && !lane.timer.cancelled && lane.timer.time <= time) return;
    lane.timer?.cancel();
    lane.timer = this.sched.at(time, (t) => {
      lane.timer = undefined;
      return this.tryDispatch(s, lane, t);
    });
  }

  private async tryDispatch(s: Shard, lane: Lane, now: number): Promise<void> {
    if (lane.inflight || s.done) return;
    let batch: Batch | undefined;
    if (lane.redeliver.length > 0) {
      if (now < lane.redeliverAt) return this.wakeAt(lane, s, lane.redeliverAt);
      batch = lane.redeliver[0];
    } else if (lane.buffer.length > 0) {
      const due = lane.windowStart + this.cfg.maximumBatchingWindowMs;
      const full = lane.buffer.length >= this.cfg.batchSize || lane.bufferBytes >= this.cfg.maxPayloadBytes;
      if (!full && now < due) return this.wakeAt(lane, s, due);
    } else {
      return;
    }
    const lambda = this.opts.lambda;
    if (lambda && !lambda.canStart(now)) {
      lambda.throttled();
      this.stats.throttles++;
      return this.wakeAt(lane, s, lambda.nextFreeAt(now));
    }
    if (batch) lane.redeliver.shift();
    else batch = { records: this.takeBatch(s, lane), attempts: 0 };
    const live = this.dropExpired(s, batch, now);
    if (!live) return this.tryDispatch(s, lane, now);
    await this.invoke(s, lane, live, now);
  }

  /** The next batch from the lane's buffer (the backlog keeps its window start: it has waited already). */
  private takeBatch(s: Shard, lane: Lane): StreamRecord[] {
    let n = 0;
    let bytes = 0;
    while (n < lane.buffer.length && n < this.cfg.batchSize) {
      const b = payloadBytes(lane.buffer[n]);
      if (n > 0 && bytes + b > this.cfg.maxPayloadBytes) break;
      bytes += b;
      n++;
    }
    const records = lane.buffer.splice(0, n);
    lane.bufferBytes -= bytes;
    s.buffered -= n;
    return records;
  }

  /** Sends records older than the maximum age to the failure destination; returns what is left to deliver. */
  private dropExpired(s: Shard, batch: Batch, now: number): Batch | undefined {
    const maxAge = this.cfg.maximumRecordAgeMs;
    if (maxAge < 0) return batch;
    let k = 0;
    while (k < batch.records.length) {
      const arrived = batch.records[k].arrivedAt;
      if (arrived === undefined || now - arrived <= maxAge) break;
      k++;
    }
    if (k === 0) return batch;
    this.toFailureDestination(s, batch.records.slice(0, k), 'RecordAgeExceeded', batch.attempts + 1, now);
    if (k === batch.records.length) return undefined;
    return { records: batch.records.slice(k), attempts: batch.attempts };
  }

  private async invoke(s: Shard, lane: Lane, batch: Batch, now: number): Promise<void> {
    lane.inflight = true;
    this.stats.invocations++;
    this.stats.recordsDelivered += batch.records.length;
    if (batch.attempts > 0) this.stats.retries++;
    s.stats.invocations++;
    const last = batch.records[batch.records.length - 1];
    const age = last.arrivedAt === undefined ? 0 : Math.max(0, now - last.arrivedAt);
    s.stats.iteratorAgeMs = age;
    s.stats.maxIteratorAgeMs = Math.max(s.stats.maxIteratorAgeMs, age);

    const deferred: (() => void | Promise<void>)[] = [];
    const info: InvocationInfo = { mapping: this.name, shardId: s.id, attempt: batch.attempts, defer: (fn) => void deferred.push(fn) };
    // The handler gets its own array: it may not disturb the batch kept for a retry.
    const run = (t: number) => this.opts.handler(batch.records.slice(), t, info);
    let outcome: { result?: HandlerResult | void; error?: unknown; endsAt: number };
    if (this.opts.lambda) {
      const inv: Invocation<HandlerResult | void> = await this.opts.lambda.invoke(now, run, (r) => simulatedMsOf(r));
      outcome = { result: inv.result, error: inv.error, endsAt: inv.endsAt };
    } else {
      try {
        const result = await run(now);
        outcome = { result, endsAt: now + simulatedMsOf(result) };
      } catch (error) {
        outcome = { error, endsAt: now };
      }
    }
    this.sched.at(outcome.endsAt, async (t) => {
      for (const fn of deferred) await fn();
      await this.complete(s, lane, batch, outcome, t);
    });
  }

  private async complete(s: Shard, lane: Lane, batch: Batch, outcome: { result?: HandlerResult | void; error?: unknown }, now: number): Promise<void> {
    lane.inflight = false;
    const failedAt = this.firstFailure(batch, outcome);
    const n = batch.records.length;
    if (failedAt === undefined) {
      this.stats.recordsSucceeded += n;
    } else if (failedAt === 'whole') {
      if (this.cfg.bisectBatchOnFunctionError && n > 1) {
        const half = Math.ceil(n / 2);
        this.stats.bisections++;
        this.redeliverFirst(lane, now, { records: batch.records.slice(0, half), attempts: batch.attempts }, { records: batch.records.slice(half), attempts: batch.attempts });
      } else {
        this.retryOrGiveUp(s, lane, batch, now);
      }
    } else {
      this.stats.recordsSucceeded += failedAt;
      const rest: Batch = { records: batch.records.slice(failedAt), attempts: batch.attempts };
      if (failedAt === 0) {
        this.retryOrGiveUp(s, lane, batch, now); // the identical batch again
      } else if (this.cfg.bisectBatchOnFunctionError) {
        this.stats.splitsAtFailure++;
        this.redeliverFirst(lane, now, rest); // a split: not a retry
      } else {
        this.retryOrGiveUp(s, lane, rest, now);
      }
    }
    await this.tryDispatch(s, lane, now);
    if (!lane.inflight && lane.buffer.length === 0 && lane.redeliver.length === 0 && this.fetch(s, now) > 0) {
      // Caught up with the read-ahead: read again at once rather than at the next base-rate poll.
      this.sched.after(this.getRecords.sample(), (t) => this.dispatchAll(s, t));
    }
    this.checkDone(s);
  }

  /**
   * Index of the lowest failed record, 'whole' for a failure of the whole batch, undefined for success. Without
   * ReportBatchItemFailures a returned list is ignored (AWS does not read it).
   */
  private firstFailure(batch: Batch, outcome: { result?: HandlerResult | void; error?: unknown }): number | 'whole' | undefined {
    if (outcome.error !== undefined) return 'whole';
    const failures = (outcome.result as HandlerResult | undefined)?.batchItemFailures;
    if (!this.cfg.reportBatchItemFailures || !failures || failures.length === 0) return undefined;
    let lowest = Infinity;
    for (const f of failures) {
      const id = f?.itemIdentifier;
      if (typeof id !== 'string' || id === '') return 'whole';
      const i = batch.records.findIndex((r) => r.sequenceNumber === id);
      if (i < 0) return 'whole';
      if (i < lowest) lowest = i;
    }
    return lowest;
  }

  private redeliverFirst(lane: Lane, now: number, ...batches: Batch[]): void {
    lane.redeliver.unshift(...batches);
    lane.redeliverAt = now + this.cfg.pollIntervalMs;
  }

  private retryOrGiveUp(s: Shard, lane: Lane, batch: Batch, now: number): void {
    const max = this.cfg.maximumRetryAttempts;
    if (max < 0 || batch.attempts < max) {
      this.redeliverFirst(lane, now, { records: batch.records, attempts: batch.attempts + 1 });
    } else {
      this.toFailureDestination(s, batch.records, 'RetryAttemptsExhausted', batch.attempts + 1, now);
    }
  }

  private toFailureDestination(s: Shard, records: StreamRecord[], condition: FailureDestinationEntry['condition'], invokes: number, now: number): void {
    this.failures.push({
      at: now,
      mapping: this.name,
      shardId: s.id,
      startSequenceNumber: records[0].sequenceNumber,
      endSequenceNumber: records[records.length - 1].sequenceNumber,
      batchSize: records.length,
      condition,
      approximateInvokeCount: invokes,
    });
    this.stats.recordsToFailureDestination += records.length;
  }

  /** A closed shard whose records are all done is finished: its poller stops and its children may start. */
  private checkDone(s: Shard): void {
    if (s.done || !hasLineage(this.reader) || this.reader.isOpen(s.id)) return;
    if (s.lanes.some((l) => l.inflight || l.buffer.length > 0 || l.redeliver.length > 0)) return;
    if (this.reader.read(s.id, s.cursor, 1).length > 0) return;
    s.done = true;
    s.poll?.cancel();
  }
}
