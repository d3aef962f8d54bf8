import { createHash } from 'node:crypto';
import {
  InvalidArgumentException,
  PutRecordsCommand,
  ValidationException,
  type KinesisClient,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import {
  KINESIS_MAX_BYTES_PER_CALL,
  KINESIS_MAX_BYTES_PER_RECORD,
  KINESIS_MAX_RECORDS_PER_CALL,
  KinesisRecordPutter,
  type KinesisRecordPutterOptions,
} from '../aws/kinesis.ts';
import type { PutOptions, PutOutcome, PutRecord, PutResult, StreamPutter, StreamReader, StreamRecord } from '../../ports/stream.ts';

/**
 * An in-process Kinesis data stream that fails where Kinesis fails, for `cordon replay` / `rehearse` and tests.
 *
 * - Routing as Kinesis does it: MD5 of the partition key (UTF-8) read as a 128-bit unsigned integer; the stream's
 *   shards own equal contiguous hash-key ranges, shard i of n starting at i·⌊2^128/n⌋ and the last one ending at
 *   2^128−1 (what CreateStream gives, and what moto does: the contract test checks both agree).
 * - PutRecords limits (the constants of `src/adapters/aws/kinesis.ts`): more than 500 records → `ValidationException`;
 *   more than 5 MiB in the call (data + partition keys) → `InvalidArgumentException` ("Records size exceeds 5 MB
 *   limit"); one record over 1 MiB (data + key) or a partition key outside 1..256 characters → `ValidationException`.
 *   These are the SDK's own exception classes, so `name`, `$fault` and `$metadata` are what the SDK would throw.
 *   The codes are those of moto's kinesis/exceptions.py and kinesalite's validations (both modelled on AWS's
 *   responses); moto alone answers `InvalidArgumentException` for a long partition key, kinesalite and the Smithy
 *   length constraint say `ValidationException`, which is what this twin throws.
 * - Per-shard write throughput of 1 MiB/s or 1,000 records/s (PutRecords API reference), counted in one-second
 *   buckets of the twin's clock: records beyond it fail *individually* with `ProvisionedThroughputExceededException`
 *   in the result, the rest of the call succeeds (a partial failure, as AWS does it).
 * - Injected per-record failures ({@link KinesisTwin.failNextPuts}) for partial-failure tests and `rehearse`.
 * - Sequence numbers: one counter per stream, 56 digits zero-padded (the length of AWS's), so they increase within a
 *   shard and compare correctly as strings. `arrivedAt` = the twin's clock at the put.
 * - {@link KinesisTwin.reshard}: every open shard closes (no more writes; still readable), new child shards take the
 *   hash space in equal ranges; {@link KinesisTwin.parentsOf} names a child's parents (the closed shards whose range
 *   overlaps it) so a reader finishes parents before children, as the Lambda event source mapping does. AWS's
 *   UpdateShardCount gets there by splits and merges (so at most two parents per child); going from n to m shards in
 *   one step here can give a child more than two parents. The ordering rule is the same.
 *
 * {@link KinesisTwin.put} is the *real* {@link KinesisRecordPutter} (batching, pre-checks, resend of failed records,
 * backoff) driving this twin through a client object whose `send(PutRecordsCommand)` calls
 * {@link KinesisTwin.putRecords}; so the retry logic exercised here is the one deployed. Its sleep defaults to real
 * time: with a simulated clock, give `putter.sleep` that advances that clock.
 */

/** Seconds before the newest one put a shard keeps its use of (a clock may step back at most this far). */
const USED_SECONDS_KEPT = 300;

/** Per-shard write limits (Kinesis PutRecords API reference: 1,000 records and 1 MiB per second per shard). */
export const KINESIS_SHARD_RECORDS_PER_SECOND = 1_000;
export const KINESIS_SHARD_BYTES_PER_SECOND = 1024 * 1024;

const HASH_SPACE = 1n << 128n;
const SEQUENCE_DIGITS = 56;
const TWIN_ACCOUNT = '123456789012';

/** What to fail: the next `records` records (counted across calls), or every record a predicate names a code for. */
export type KinesisFailureRule =
  | { records: number; code?: string; message?: string }
  | ((record: PutRecord, at: { shardId: string; index: number }) => string | undefined | false);

export interface KinesisTwinOptions {
  shards: number;
  /** For messages and the putter's errors. Default `twin`. */
  streamName?: string;
  /** Epoch ms. Default Date.now. */
  clock?: () => number;
  /** A failure rule in force from the start (see {@link KinesisTwin.failNextPuts}). */
  failNext?: KinesisFailureRule;
  /** Per-shard write limits; `false` turns throttling off (AWS never does). Defaults: Kinesis's. */
  throughput?: false | { recordsPerSecond?: number; bytesPerSecond?: number };
  /** Options of the real putter behind {@link KinesisTwin.put}. */
  putter?: KinesisRecordPutterOptions;
  /**
   * Records read carry their bytes as put (`bytes`), and their base64 `data` is made only if it is read: for an
   * in-process consumer, which would only decode it again. Off by default: records as the Lambda event carries them.
   */
  deliverBytes?: boolean;
}

interface StoredRecord {
  sequenceNumber: string;
  shardId: string;
  partitionKey: string;
  arrivedAt: number;
  /** base64, made at the put (default) or on the first read of `data` ({@link KinesisTwinOptions.deliverBytes}). */
  data: string | null;
  /** The bytes as put (not copied: a producer does not touch a record it has put); kept with `deliverBytes` only. */
  bytes: Uint8Array | null;
}

interface Shard {
  id: string;
  /** Inclusive hash-key range. */
  start: bigint;
  end: bigint;
  open: boolean;
  parents: string[];
  records: StoredRecord[];
  /**
   * What each recent second took, by second of the twin's clock: a clock that steps back (rehearse runs invocations in
   * simulated time, each moving the clock on while it waits) finds the second's use as it left it.
   */
  used: Map<number, { records: number; bytes: number }>;
}

export interface KinesisTwinStats {
  /** Records accepted (stored). */
  records: number;
  /** Their bytes as Kinesis counts them (data + partition key). */
  bytes: number;
  /** PutRecords calls that reached the twin (including rejected ones). */
  calls: number;
  /** Records that failed in a result with ProvisionedThroughputExceededException. */
  throttled: number;
  /** Records that failed in a result with an injected code. */
  injectedFailures: number;
}

export function shardIdOf(index: number): string {
  return `shardId-${String(index).padStart(12, '0')}`;
}

/** The partition key's hash key: MD5 of its UTF-8 bytes as an unsigned 128-bit integer. */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

function recordBytes(r: PutRecord): number {
  return r.data.byteLength + Buffer.byteLength(r.partitionKey, 'utf8');
}

function validation(message: string): ValidationException {
  return new ValidationException({ message, $metadata: { httpStatusCode: 400 } });
}

export class KinesisTwin implements StreamPutter, StreamReader {
  readonly streamName: string;
  private readonly clock: () => number;
  private readonly deliverBytes: boolean;
  private readonly recordsPerSecond: number;
  private readonly bytesPerSecond: number;
  private readonly shards = new Map<string, Shard>();
  private nextShardIndex = 0;
  private sequence = 0n;
  private rules: KinesisFailureRule[] = [];
  private readonly counters: KinesisTwinStats = { records: 0, bytes: 0, calls: 0, throttled: 0, injectedFailures: 0 };
  /** The real putter, over {@link asClient}. Its `calls` and `resent` count retries. */
  readonly putter: KinesisRecordPutter;

  constructor(opts: KinesisTwinOptions) {
    if (!Number.isInteger(opts.shards) || opts.shards < 1) throw new RangeError(`shards must be a positive integer (got ${opts.shards})`);
    this.streamName = opts.streamName ?? 'twin';
    this.clock = opts.clock ?? Date.now;
    this.deliverBytes = opts.deliverBytes ?? false;
    const tp = opts.throughput === false ? { recordsPerSecond: Infinity, bytesPerSecond: Infinity } : (opts.throughput ?? {});
    this.recordsPerSecond = tp.recordsPerSecond ?? KINESIS_SHARD_RECORDS_PER_SECOND;
    this.bytesPerSecond = tp.bytesPerSecond ?? KINESIS_SHARD_BYTES_PER_SECOND;
    if (opts.failNext) this.failNextPuts(opts.failNext);
    this.openShards(opts.shards, []);
    // A put's deadline is on the twin's clock unless told otherwise.
    this.putter = new KinesisRecordPutter(this.asClient(), this.streamName, { now: this.clock, ...opts.putter });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Put side

  /** StreamPutter: the real KinesisRecordPutter over this twin (resends only failed records; throws if any are lost). */
  async put(records: PutRecord[], opts?: PutOptions): Promise<PutOutcome> {
    return this.putter.put(records, opts);
  }

  /**
   * One PutRecords call, as Kinesis answers it: throws the SDK's exception for a call AWS refuses outright, else a
   * result per record in order (a shard and sequence number, or an error code), partial failures included.
   */
  putRecords(records: readonly PutRecord[]): PutResult {
    this.counters.calls++;
    this.validate(records);
    const now = this.clock();
    const second = Math.floor(now / 1000);
    const out: PutResult['records'] = [];
    let failed = 0;
    records.forEach((r, index) => {
      const shard = this.ownerOfHash(r.explicitHashKey !== undefined ? BigInt(r.explicitHashKey) : hashKeyOf(r.partitionKey));
      const injected = this.injectedFailure(r, shard.id, index);
      if (injected) {
        failed++;
        this.counters.injectedFailures++;
        out.push(injected);
        return;
      }
      const bytes = recordBytes(r);
      let used = shard.used.get(second);
      if (!used) {
        shard.used.set(second, (used = { records: 0, bytes: 0 }));
        // Seconds well past are done with: the map stays a few entries long.
        for (const s of shard.used.keys()) if (s < second - USED_SECONDS_KEPT) shard.used.delete(s);
      }
      if (used.records + 1 > this.recordsPerSecond || used.bytes + bytes > this.bytesPerSecond) {
        failed++;
        this.counters.throttled++;
        out.push({
          errorCode: 'ProvisionedThroughputExceededException',
          errorMessage: `Rate exceeded for shard ${shard.id} in stream ${this.streamName} under account ${TWIN_ACCOUNT}.`,
        });
        return;
      }
      used.records++;
      used.bytes += bytes;
      const sequenceNumber = (++this.sequence).toString().padStart(SEQUENCE_DIGITS, '0');
      shard.records.push({
        sequenceNumber,
        shardId: shard.id,
        data: this.deliverBytes ? null : base64(r.data),
        bytes: this.deliverBytes ? r.data : null,
        arrivedAt: now,
        partitionKey: r.partitionKey,
      });
      this.counters.records++;
      this.counters.bytes += bytes;
      out.push({ shardId: shard.id, sequenceNumber });
    });
    return { records: out, failedRecordCount: failed };
  }

  /**
   * Makes records fail in later calls' results. `{ records: n, code }`: the next n records put (in call order, across
   * calls) fail with `code` (default `InternalFailure`), then the rule is spent. A function: every record it returns
   * a code for fails with that code, until {@link clearFailures}. Rules stack; the first that applies wins. Injected
   * failures are decided before throughput, and do not use any of it.
   */
  failNextPuts(rule: KinesisFailureRule): void {
    this.rules.push(typeof rule === 'function' ? rule : { ...rule });
  }

  clearFailures(): void {
    this.rules = [];
  }

  /** A stand-in for a KinesisClient that knows PutRecordsCommand only (what KinesisRecordPutter sends). */
  asClient(): KinesisClient {
    const send = async (command: unknown): Promise<PutRecordsCommandOutput> => {
      if (!(command instanceof PutRecordsCommand)) {
        throw new Error(`KinesisTwin client: only PutRecordsCommand is supported (got ${(command as object)?.constructor?.name})`);
      }
      const entries: PutRecordsRequestEntry[] = command.input.Records ?? [];
      const res = this.putRecords(entries.map((e) => ({ partitionKey: e.PartitionKey ?? '', data: e.Data ?? new Uint8Array(),
        ...(e.ExplicitHashKey === undefined ? {} : { explicitHashKey: e.ExplicitHashKey }) })));
      return {
        $metadata: { httpStatusCode: 200 },
        FailedRecordCount: res.failedRecordCount,
        Records: res.records.map((r) =>
          'errorCode' in r ? { ErrorCode: r.errorCode, ErrorMessage: r.errorMessage } : { ShardId: r.shardId, SequenceNumber: r.sequenceNumber },
        ),
      };
    };
    return { send, config: {}, destroy() {} } as unknown as KinesisClient;
  }

  private validate(records: readonly PutRecord[]): void {
    if (records.length < 1) {
      throw validation("1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }
    if (records.length > KINESIS_MAX_RECORDS_PER_CALL) {
      throw validation(
        `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to ${KINESIS_MAX_RECORDS_PER_CALL}`,
      );
    }
    let total = 0;
    for (const r of records) total += recordBytes(r);
    if (total > KINESIS_MAX_BYTES_PER_CALL) {
      throw new InvalidArgumentException({ message: 'Records size exceeds 5 MB limit', $metadata: { httpStatusCode: 400 } });
    }
    records.forEach((r, i) => {
      if (recordBytes(r) > KINESIS_MAX_BYTES_PER_RECORD) {
        throw validation(
          `1 validation error detected: Value at 'records.${i + 1}.member.data' failed to satisfy constraint: Member must have length less than or equal to ${KINESIS_MAX_BYTES_PER_RECORD}`,
        );
      }
      const keyChars = [...r.partitionKey].length;
      if (keyChars < 1 || keyChars > 256) {
        throw validation(
          `1 validation error detected: Value at 'records.${i + 1}.member.partitionKey' failed to satisfy constraint: Member must have length ${keyChars < 1 ? 'greater than or equal to 1' : 'less than or equal to 256'}`,
        );
      }
      // The API's pattern for ExplicitHashKey, and the hash space it must fall in.
      if (r.explicitHashKey !== undefined && (!/^(0|[1-9]\d{0,38})$/.test(r.explicitHashKey) || BigInt(r.explicitHashKey) >= 1n << 128n)) {
        throw new InvalidArgumentException({ message: `Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was ${r.explicitHashKey}`,
          $metadata: { httpStatusCode: 400 } });
      }
    });
  }

  private injectedFailure(r: PutRecord, shardId: string, index: number): { errorCode: string; errorMessage?: string } | undefined {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i];
      if (typeof rule === 'function') {
        const code = rule(r, { shardId, index });
        if (code) return { errorCode: code, errorMessage: messageFor(code) };
        continue;
      }
      if (rule.records <= 0) continue;
      rule.records--;
      if (rule.records <= 0) this.rules.splice(i, 1);
      const code = rule.code ?? 'InternalFailure';
      return { errorCode: code, errorMessage: rule.message ?? messageFor(code) };
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Shards

  /** The id of the open shard that owns a partition key now. */
  shardFor(partitionKey: string): string {
    return this.ownerOf(partitionKey).id;
  }

  private ownerOf(partitionKey: string): Shard {
    return this.ownerOfHash(hashKeyOf(partitionKey));
  }

  private ownerOfHash(h: bigint): Shard {
    for (const s of this.shards.values()) if (s.open && s.start <= h && h <= s.end) return s;
    throw new Error(`KinesisTwin: no open shard owns hash key ${h}`); // unreachable: open shards cover the space
  }

  /** Open shards, and closed ones that hold records (a reader drains them before their children). */
  shardIds(): string[] {
    return [...this.shards.values()].filter((s) => s.open || s.records.length > 0).map((s) => s.id);
  }

  /** Open shards only. */
  openShardIds(): string[] {
    return [...this.shards.values()].filter((s) => s.open).map((s) => s.id);
  }

  /** The shards a shard was split or merged from (empty for the stream's first shards). */
  parentsOf(shardId: string): string[] {
    return [...this.shard(shardId).parents];
  }

  isOpen(shardId: string): boolean {
    return this.shard(shardId).open;
  }

  /** A shard's inclusive hash-key range, as DescribeStream reports it. */
  hashKeyRange(shardId: string): { startingHashKey: string; endingHashKey: string } {
    const s = this.shard(shardId);
    return { startingHashKey: s.start.toString(), endingHashKey: s.end.toString() };
  }

  read(shardId: string, afterSequence: string | undefined, limit: number): StreamRecord[] {
    const recs = this.shard(shardId).records;
    let lo = 0;
    if (afterSequence !== undefined) {
      const after = afterSequence.padStart(SEQUENCE_DIGITS, '0');
      let hi = recs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (recs[mid].sequenceNumber <= after) lo = mid + 1;
        else hi = mid;
      }
    }
    return recs.slice(lo, lo + Math.max(0, limit)).map(delivered);
  }

  /**
   * Lets records up to and including `throughSequence` age out, as Kinesis's retention does: a consumer that keeps no
   * copy (the local runner, after its mapping has read them) keeps memory flat however long the log.
   */
  trim(shardId: string, throughSequence: string): number {
    const s = this.shard(shardId);
    const through = throughSequence.padStart(SEQUENCE_DIGITS, '0');
    let n = 0;
    while (n < s.records.length && s.records[n].sequenceNumber <= through) n++;
    if (n) s.records.splice(0, n);
    return n;
  }

  /** Records a shard holds (until trimmed, retention is unbounded here). */
  size(shardId: string): number {
    return this.shard(shardId).records.length;
  }

  /** Closes every open shard and opens `shards` children over the whole hash space. */
  reshard(shards: number): string[] {
    if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer (got ${shards})`);
    const closing = [...this.shards.values()].filter((s) => s.open);
    for (const s of closing) s.open = false;
    return this.openShards(shards, closing);
  }

  stats(): KinesisTwinStats {
    return { ...this.counters };
  }

  private openShards(n: number, parents: Shard[]): string[] {
    const step = HASH_SPACE / BigInt(n);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const start = BigInt(i) * step;
      const end = i === n - 1 ? HASH_SPACE - 1n : BigInt(i + 1) * step - 1n;
      const id = shardIdOf(this.nextShardIndex++);
      const overlapping = parents.filter((p) => p.start <= end && start <= p.end).map((p) => p.id);
      this.shards.set(id, { id, start, end, open: true, parents: overlapping, records: [], used: new Map() });
      ids.push(id);
    }
    return ids;
  }

  private shard(id: string): Shard {
    const s = this.shards.get(id);
    if (!s) throw new Error(`KinesisTwin: shard ${id} does not exist in stream ${this.streamName}`);
    return s;
  }
}

function base64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

/** A stored record as a reader gets it: a new object each read, `data` made once when first read. */
function delivered(s: StoredRecord): StreamRecord {
  const { sequenceNumber, shardId, arrivedAt, bytes } = s;
  if (bytes === null) return { sequenceNumber, shardId, data: s.data!, arrivedAt };
  return { sequenceNumber, shardId, arrivedAt, bytes, get data() { return (s.data ??= base64(bytes)); } };
}

function messageFor(code: string): string {
  if (code === 'InternalFailure') return 'Internal service failure.';
  if (code === 'ProvisionedThroughputExceededException') return 'Rate exceeded for shard.';
  return code;
}
