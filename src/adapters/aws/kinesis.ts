import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { KinesisPutError, KinesisRecordTooLargeError } from './errors.ts';
import type { PutOptions, PutOutcome } from '../../ports/stream.ts';
import { awsErrorName, backoffDelay, realSleep, type Sleep } from './retry.ts';

export interface KinesisRecord {
  partitionKey: string;
  data: Uint8Array;
  /** A decimal hash key in [0, 2^128): overrides the partition key's MD5 (see PutRecord.explicitHashKey). */
  explicitHashKey?: string;
}

/** Kinesis limits (PutRecords). */
export const KINESIS_MAX_RECORDS_PER_CALL = 500;
export const KINESIS_MAX_BYTES_PER_CALL = 5 * 1024 * 1024;
export const KINESIS_MAX_BYTES_PER_RECORD = 1024 * 1024;

export interface KinesisRecordPutterOptions {
  /**
   * PutRecords calls per batch (first try + resends of failed records). Default 6. A put with a deadline resends
   * records refused for throughput until the deadline instead (and others still this many times).
   */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: Sleep;
  random?: () => number;
  /** The clock a put's deadline is on (epoch ms). Default Date.now; a simulated one where `sleep` advances it. */
  now?: () => number;
  /** Lower limits for tests of the batching; never above Kinesis's own. */
  maxRecordsPerCall?: number;
  maxBytesPerCall?: number;
}

/** A record's size as Kinesis counts it: data plus the partition key's UTF-8 bytes. */
function recordBytes(r: KinesisRecord): number {
  return r.data.byteLength + Buffer.byteLength(r.partitionKey, 'utf8');
}

/**
 * Record errors that pass with time: a shard's per-second write limit, Kinesis's own transient failure, KMS's
 * request rate. With a deadline these are resent until it; the rest (a KMS key disabled or denied) are not
 * worth more than `maxAttempts`.
 */
const TRANSIENT_RECORD_ERRORS = new Set(['ProvisionedThroughputExceededException', 'InternalFailure', 'KMSThrottlingException']);

/**
 * Calls a put with a deadline may make per batch at most: a bound should a clock not move (a simulated one whose
 * sleep does not advance it), far above what a deadline of minutes allows at the backoff's ceiling.
 */
const MAX_ATTEMPTS_WITH_DEADLINE = 200;
/** No call waits longer than a Lambda may run (and a timer takes no more than 2^31 − 1 ms). */
const MAX_CALL_MS = 15 * 60_000;

/**
 * Puts records with PutRecords: batches of at most 500 records and 5 MiB (data + partition keys), each record at
 * most 1 MiB (else {@link KinesisRecordTooLargeError} before anything is sent). A call can partly fail; only the
 * records with an ErrorCode (ProvisionedThroughputExceededException, InternalFailure, KMS errors) are sent again,
 * with exponential backoff and full jitter, up to `maxAttempts` calls per batch, or, for a put with a deadline,
 * until the deadline as long as what fails is transient (a burst of summaries over a shard's per-second limit
 * takes as many seconds as it has megabytes). Whatever is still unwritten then is reported by a
 * {@link KinesisPutError} with the count lost: records are never dropped silently. Whole-call throttling and 5xx
 * are retried by the SDK client (configure its maxAttempts); other call errors surface as a KinesisPutError with
 * the SDK error as cause.
 */
export class KinesisRecordPutter {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  /** PutRecords calls made (for metrics). */
  calls = 0;
  /** Records sent again after a per-record failure. */
  resent = 0;
  /** Of those, records refused for the shard's write throughput (ProvisionedThroughputExceededException). */
  throttled = 0;
  private readonly now: () => number;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    opts: KinesisRecordPutterOptions = {},
  ) {
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 5_000;
    this.sleep = opts.sleep ?? realSleep;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.maxRecords = Math.min(opts.maxRecordsPerCall ?? KINESIS_MAX_RECORDS_PER_CALL, KINESIS_MAX_RECORDS_PER_CALL);
    this.maxBytes = Math.min(opts.maxBytesPerCall ?? KINESIS_MAX_BYTES_PER_CALL, KINESIS_MAX_BYTES_PER_CALL);
  }

  async put(records: readonly KinesisRecord[], opts: PutOptions = {}): Promise<PutOutcome> {
    if (records.length === 0) return { throttled: 0 };
    const throttledBefore = this.throttled;
    records.forEach((r, i) => this.check(r, i));
    const batches = this.batch(records);
    let delivered = 0;
    for (let b = 0; b < batches.length; b++) {
      const lost = await this.putBatch(batches[b], opts.deadline);
      if (lost.count > 0) {
        const notSent = batches.slice(b + 1).reduce((n, x) => n + x.length, 0);
        throw new KinesisPutError(
          `PutRecords to ${this.streamName}: ${lost.count + notSent} of ${records.length} records not written ` +
            `(${lost.count} failed after ${lost.attempts} attempts${lost.lastError ? `, last error ${lost.lastError}` : ''}; ` +
            `${notSent} in later batches not attempted)`,
          lost.count + notSent,
          delivered + batches[b].length - lost.count,
          { stream: this.streamName, failedAfterRetries: lost.count, notAttempted: notSent, lastError: lost.lastError },
          lost.cause ? { cause: lost.cause } : undefined,
          this.throttled - throttledBefore,
        );
      }
      delivered += batches[b].length;
    }
    return { throttled: this.throttled - throttledBefore };
  }

  private check(r: KinesisRecord, index: number): void {
    const keyLen = r.partitionKey.length;
    if (keyLen < 1 || keyLen > 256) {
      throw new KinesisRecordTooLargeError(
        `record ${index}: partition key must be 1..256 characters (got ${keyLen}); nothing was sent`,
        'kinesis',
        'PutRecords',
        { stream: this.streamName, index },
      );
    }
    const bytes = recordBytes(r);
    if (bytes > KINESIS_MAX_BYTES_PER_RECORD) {
      throw new KinesisRecordTooLargeError(
        `record ${index} is ${bytes} bytes (data + partition key); Kinesis takes at most ${KINESIS_MAX_BYTES_PER_RECORD}; nothing was sent`,
        'kinesis',
        'PutRecords',
        { stream: this.streamName, index, bytes },
      );
    }
  }

  private batch(records: readonly KinesisRecord[]): KinesisRecord[][] {
    const out: KinesisRecord[][] = [];
    let cur: KinesisRecord[] = [];
    let bytes = 0;
    for (const r of records) {
      const n = recordBytes(r);
      if (cur.length > 0 && (cur.length >= this.maxRecords || bytes + n > this.maxBytes)) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(r);
      bytes += n;
    }
    if (cur.length) out.push(cur);
    return out;
  }

  /** Sends one batch, resending only failed records; returns how many are still unwritten at the end. */
  private async putBatch(batch: KinesisRecord[], deadline: number | undefined): Promise<{ count: number; attempts: number; lastError?: string; cause?: unknown }> {
    let pending = batch;
    let lastError: string | undefined;
    let transient = true;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        const delay = backoffDelay(attempt - 1, { baseDelayMs: this.baseDelayMs, maxDelayMs: this.maxDelayMs, random: this.random });
        const more = deadline !== undefined && transient
          ? attempt < MAX_ATTEMPTS_WITH_DEADLINE && this.now() + delay < deadline
          : attempt < this.maxAttempts;
        if (!more) return { count: pending.length, attempts: attempt, lastError };
        await this.sleep(delay);
      }
      const entries: PutRecordsRequestEntry[] = pending.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data,
        ...(r.explicitHashKey === undefined ? {} : { ExplicitHashKey: r.explicitHashKey }) }));
      let res;
      try {
        this.calls++;
        // With a deadline, the call itself (the SDK's own retries and timeouts included) ends by it too: the Lambda
        // must have time left to report the batch, or the whole batch is retried with nothing said.
        const left = deadline === undefined ? undefined : Math.min(MAX_CALL_MS, Math.max(1, deadline - this.now()));
        res = await this.client.send(new PutRecordsCommand({ StreamName: this.streamName, Records: entries }),
          left === undefined ? {} : { abortSignal: AbortSignal.timeout(left) });
      } catch (err) {
        // The SDK has already retried throttling and 5xx; anything else (missing stream, access denied) is final.
        return { count: pending.length, attempts: attempt + 1, lastError: awsErrorName(err) || String(err), cause: err };
      }
      const results = res.Records ?? [];
      if (!res.FailedRecordCount && results.every((r) => !r.ErrorCode)) return { count: 0, attempts: attempt + 1 };
      if (results.length !== pending.length) {
        // A response we cannot match to our records: resending all is the only way not to lose any.
        lastError = 'MalformedPutRecordsResponse';
        transient = false;
        continue;
      }
      const failed: KinesisRecord[] = [];
      transient = true;
      results.forEach((r, i) => {
        if (r.ErrorCode) {
          failed.push(pending[i]);
          lastError = r.ErrorCode;
          if (r.ErrorCode === 'ProvisionedThroughputExceededException') this.throttled++;
          if (!TRANSIENT_RECORD_ERRORS.has(r.ErrorCode)) transient = false;
        }
      });
      if (failed.length === 0) return { count: 0, attempts: attempt + 1 };
      this.resent += failed.length;
      pending = failed;
    }
  }
}
