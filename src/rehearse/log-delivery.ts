import { gzipSync } from 'node:zlib';
import type { Rng } from '../simulate/rng.ts';
import type { PutRecord, StreamPutter } from '../ports/stream.ts';
import type { DeliveryModel } from './delivery-model.ts';
import type { Scheduler } from './scheduler.ts';

/**
 * API Gateway access logs → CloudWatch Logs → subscription filter → Kinesis, on the simulated clock.
 *
 * A request logged at `time` is made at wall time `time`. API Gateway writes each line to one of the stage's log
 * streams and flushes each stream's buffer every `flushIntervalMs` (an assumption: AWS documents neither); a
 * flush reaches CloudWatch Logs after the `apigwToCloudWatchLogs` delay and the subscription puts it on the
 * stream after `subscriptionToKinesis`, as one Kinesis record per log stream and flush (split at PutLogEvents'
 * limits: 10,000 events, 1 MiB counting 26 bytes per event). The record is the real envelope: gzip of
 * `{messageType: 'DATA_MESSAGE', owner, logGroup, logStream, subscriptionFilters, logEvents: [{id, timestamp,
 * message}]}` with 56-digit string ids and events in timestamp order. Partition keys are random (the construct's
 * subscription uses distribution `Random`) or the log stream (`ByLogStream`). A CONTROL_MESSAGE record comes first,
 * as when a subscription is created.
 *
 * `logEvents[].timestamp` is the request time: API Gateway stamps the event with it (a line's CloudWatch timestamp
 * equals its `requestTimeEpoch` to the millisecond in published samples), and the delivery delays show up in the
 * record's arrival, not in the timestamp. `cwlTimestamp: 'ingested'` stamps the ingestion time instead.
 */

export interface LogLine {
  /** Request time, epoch ms. */
  time: number;
  /** The access-log line as API Gateway wrote it. */
  line: string;
}

export interface DeliveredRecord {
  /** Simulated time the record was put on the stream. */
  at: number;
  logStream: string;
  partitionKey: string;
  events: number;
  /** Gzip'd bytes. */
  bytes: number;
  firstRequestAt: number;
  lastRequestAt: number;
}

export interface LogDeliveryOptions {
  scheduler: Scheduler;
  model: DeliveryModel;
  putter: StreamPutter;
  logGroup?: string;
  owner?: string;
  subscriptionFilter?: string;
  /** Log streams API Gateway spreads a stage's lines over (default 8). */
  logStreams?: number;
  /** How often API Gateway flushes a log stream (default 1 s; assumption). */
  flushIntervalMs?: number;
  distribution?: 'Random' | 'ByLogStream';
  cwlTimestamp?: 'request' | 'ingested';
  /** Put a CONTROL_MESSAGE record before the first data (default true). */
  controlMessage?: boolean;
  onRecord?: (r: DeliveredRecord) => void;
}

export interface LogDeliveryStats {
  lines: number;
  /** Data records put (control messages not included). */
  records: number;
  controlMessages: number;
  /** Gzip'd bytes put. */
  bytes: number;
  /** Uncompressed envelope bytes. */
  rawBytes: number;
  /** Lines added after their flush had passed (out of order in the input): delivered with the next flush. */
  lateLines: number;
  /** Put attempts that threw and were tried again (CloudWatch Logs retries for up to 24 h). */
  putRetries: number;
  /** Request → record on the stream, over all lines. */
  maxLineDelayMs: number;
  sumLineDelayMs: number;
  lastPutAt: number;
}

/** PutLogEvents: at most 10,000 events and 1,048,576 bytes, counting each event's UTF-8 message plus 26 bytes. */
export const PUT_LOG_EVENTS_MAX_EVENTS = 10_000;
export const PUT_LOG_EVENTS_MAX_BYTES = 1_048_576;
const EVENT_OVERHEAD_BYTES = 26;
const RETRY_FOR_MS = 24 * 3_600_000;

interface Bundle {
  stream: number;
  events: { time: number; line: string }[];
  ingestedAt: number;
  arriveAt: number;
}

export class LogDelivery {
  readonly stats: LogDeliveryStats = {
    lines: 0,
    records: 0,
    controlMessages: 0,
    bytes: 0,
    rawBytes: 0,
    lateLines: 0,
    putRetries: 0,
    maxLineDelayMs: 0,
    sumLineDelayMs: 0,
    lastPutAt: 0,
  };
  readonly logGroup: string;
  readonly logStreamNames: string[];
  private readonly bundles = new Map<string, Bundle>();
  private readonly rng: Rng;
  private readonly streamRng: Rng;
  private readonly keyRng: Rng;
  private readonly flushMs: number;
  private readonly phases: number[];
  private idCounter = 0n;
  private controlSent: boolean;
  private feeding = 0;

  constructor(private readonly opts: LogDeliveryOptions) {
    this.rng = opts.model.rng('log-delivery');
    this.streamRng = opts.model.rng('log-delivery:stream');
    this.keyRng = opts.model.rng('log-delivery:partition-key');
    this.logGroup = opts.logGroup ?? '/aws/apigateway/cordon/rehearse/prod';
    const n = Math.max(1, opts.logStreams ?? 8);
    this.logStreamNames = Array.from({ length: n }, () => this.rng.hex(32));
    this.flushMs = Math.max(1, opts.flushIntervalMs ?? 1_000);
    this.phases = Array.from({ length: n }, () => this.rng.random() * this.flushMs);
    this.controlSent = opts.controlMessage === false;
  }

  /** Whether lines are still being fed or bundles wait to be put. */
  get busy(): boolean {
    return this.feeding > 0 || this.bundles.size > 0;
  }

  /** Adds one line; call it no later than (simulated) `line.time`, as `feed` does. */
  add(line: LogLine): void {
    const sched = this.opts.scheduler;
    const now = sched.now();
    if (!this.controlSent) this.sendControlMessage(now);
    const stream = this.streamRng.randrange(this.logStreamNames.length);
    const phase = this.phases[stream];
    let bucket = Math.floor((line.time - phase) / this.flushMs);
    let flushAt = (bucket + 1) * this.flushMs + phase;
    if (flushAt <= now) {
      // Its flush has passed (the input was out of order): it goes out with the stream's next flush.
      this.stats.lateLines++;
      bucket = Math.floor((now - phase) / this.flushMs);
      flushAt = (bucket + 1) * this.flushMs + phase;
    }
    const key = `${stream}:${bucket}`;
    let bundle = this.bundles.get(key);
    if (!bundle) {
      const ingestedAt = flushAt + this.opts.model.sample('apigwToCloudWatchLogs');
      const arriveAt = ingestedAt + this.opts.model.sample('subscriptionToKinesis');
      const created: Bundle = { stream, events: [], ingestedAt, arriveAt };
      bundle = created;
      this.bundles.set(key, created);
      sched.at(arriveAt, () => this.deliver(key, created));
    }
    bundle.events.push({ time: line.time, line: line.line });
    this.stats.lines++;
  }

  /**
   * Feeds lines (in about time order) on the simulated clock: each line is added at or before its request time,
   * `chunkMs` ahead at most. Runs inside the scheduler's `run()`.
   */
  feed(source: Iterable<LogLine> | AsyncIterable<LogLine>, opts: { chunkMs?: number } = {}): void {
    const chunkMs = Math.max(1, opts.chunkMs ?? 1_000);
    const iter: AsyncIterator<LogLine> | Iterator<LogLine> =
      Symbol.asyncIterator in source ? (source as AsyncIterable<LogLine>)[Symbol.asyncIterator]() : (source as Iterable<LogLine>)[Symbol.iterator]();
    const sched = this.opts.scheduler;
    let pending: LogLine | undefined;
    this.feeding++;
    const pull = async (now: number): Promise<void> => {
      const horizon = now + chunkMs;
      for (;;) {
        if (!pending) {
          const next = await iter.next();
          if (next.done) {
            this.feeding--;
            return;
          }
          pending = next.value;
        }
        if (pending.time > horizon) break;
        this.add(pending);
        pending = undefined;
      }
      sched.at(pending.time - chunkMs, pull); // strictly later than now: pending.time > now + chunkMs
    };
    sched.at(sched.now(), pull);
  }

  private sendControlMessage(now: number): void {
    this.controlSent = true;
    const envelope = {
      messageType: 'CONTROL_MESSAGE',
      owner: 'CloudwatchLogs',
      logGroup: '',
      logStream: '',
      subscriptionFilters: [],
      logEvents: [{ id: '', timestamp: Math.trunc(now), message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }],
    };
    const data = gzipSync(Buffer.from(JSON.stringify(envelope)));
    this.stats.controlMessages++;
    const record = { partitionKey: this.keyRng.hex(32), data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    this.opts.scheduler.at(now, () => this.put([record], now, 0));
  }

  private deliver(key: string, bundle: Bundle): Promise<void> {
    this.bundles.delete(key);
    const now = this.opts.scheduler.now();
    const logStream = this.logStreamNames[bundle.stream];
    const stamp = this.opts.cwlTimestamp === 'ingested' ? () => Math.trunc(bundle.ingestedAt) : (t: number) => Math.trunc(t);
    const events = bundle.events.sort((a, b) => a.time - b.time);
    const records: PutRecord[] = [];
    let start = 0;
    while (start < events.length) {
      let end = start;
      let bytes = 0;
      while (end < events.length && end - start < PUT_LOG_EVENTS_MAX_EVENTS) {
        const b = Buffer.byteLength(events[end].line, 'utf8') + EVENT_OVERHEAD_BYTES;
        if (end > start && bytes + b > PUT_LOG_EVENTS_MAX_BYTES) break;
        bytes += b;
        end++;
      }
      const part = events.slice(start, end);
      const envelope = {
        messageType: 'DATA_MESSAGE',
        owner: this.opts.owner ?? '123456789012',
        logGroup: this.logGroup,
        logStream,
        subscriptionFilters: [this.opts.subscriptionFilter ?? 'cordon'],
        logEvents: part.map((e) => {
          const timestamp = stamp(e.time);
          return { id: this.eventId(timestamp), timestamp, message: e.line };
        }),
      };
      const raw = Buffer.from(JSON.stringify(envelope));
      const gz = gzipSync(raw);
      const partitionKey = this.opts.distribution === 'ByLogStream' ? logStream : this.keyRng.hex(32);
      records.push({ partitionKey, data: new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength) });
      this.stats.records++;
      this.stats.bytes += gz.byteLength;
      this.stats.rawBytes += raw.byteLength;
      for (const e of part) {
        const d = now - e.time;
        this.stats.sumLineDelayMs += d;
        if (d > this.stats.maxLineDelayMs) this.stats.maxLineDelayMs = d;
      }
      this.opts.onRecord?.({
        at: now,
        logStream,
        partitionKey,
        events: part.length,
        bytes: gz.byteLength,
        firstRequestAt: part[0].time,
        lastRequestAt: part[part.length - 1].time,
      });
      start = end;
    }
    return this.put(records, now, 0);
  }

  /** 56 digits, unique, increasing with the timestamp (the shape CloudWatch Logs uses; its internals are not ours). */
  private eventId(timestamp: number): string {
    return String(3n * 10n ** 55n + BigInt(timestamp) * 10n ** 20n + this.idCounter++);
  }

  private async put(records: PutRecord[], firstTry: number, attempt: number): Promise<void> {
    const sched = this.opts.scheduler;
    try {
      await this.opts.putter.put(records);
      this.stats.lastPutAt = sched.now();
    } catch (err) {
      const now = sched.now();
      if (now - firstTry >= RETRY_FOR_MS) throw err;
      this.stats.putRetries++;
      const backoff = Math.min(60_000, 1_000 * 2 ** Math.min(attempt, 6));
      sched.after(backoff, () => this.put(records, firstTry, attempt + 1));
    }
  }
}
