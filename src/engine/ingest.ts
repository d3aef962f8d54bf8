import type { CordonConfig } from '../config.ts';
import { decodeCloudWatchData } from '../decode/cloudwatch.ts';
import type { DecodeSink } from '../decode/types.ts';
import type { AccessEvent } from '../events.ts';
import { hash32 } from '../features/hash.ts';
import { trapRoutesOf } from '../features/trap-routes.ts';
import { type WindowPartial, Windower, type WindowerOptions } from '../features/windower.ts';
import { prefixOf } from '../net/ip.ts';
import type { BatchResult, PutRecord, StreamPutter, StreamRecord } from '../ports/stream.ts';
import { classifyFailure, errorName } from './errors.ts';
import { type Logger, METRIC, type Metrics, noMetrics, silentLogger } from './observe.ts';
import { DEFAULT_BUCKETS, shardOfHashKey } from './partitions.ts';
import { compareSequence } from './sequence.ts';
import { packSummaryUnits, type SummaryEncoding, type SummaryPart, writerOptions } from './wire.ts';
import { asWireLevel } from './wire-handshake.ts';

export { DEFAULT_BUCKETS, shardOfHashKey, summaryBucketsFor } from './partitions.ts';

/**
 * Kinesis takes at most 1 MiB per record (data and partition key); records are sized by their compressed bytes,
 * with room to spare, so no attacker-shaped traffic (long random paths compress badly) can make one too large.
 */
export const MAX_SUMMARY_RECORD_BYTES = 900 * 1024;

/**
 * One source record as ingest sees it. In AWS (and in `rehearse`) it is a Kinesis record holding a CloudWatch Logs
 * envelope; in `replay` it is a slice of a log file already decoded. Only this adapter differs.
 */
export interface SourceRecord {
  sequenceNumber: string;
  shardId: string;
  /** Hands every access event to the sink (with its CloudWatch Logs timestamp where there is one); never throws. */
  decode(sink: DecodeSink): void;
}

export function cloudWatchSource(r: StreamRecord): SourceRecord {
  return { sequenceNumber: r.sequenceNumber, shardId: r.shardId, decode: (sink) => decodeCloudWatchData(r.data, sink) };
}

export function eventsSource(shardId: string, sequenceNumber: string, events: readonly AccessEvent[]): SourceRecord {
  return { sequenceNumber, shardId, decode: (sink) => { for (const e of events) sink.event(e); } };
}

export interface IngestDeps {
  putter: StreamPutter;
  config: CordonConfig;
  buckets?: number;
  maxRecordBytes?: number;
  /** How summary records are written (default gzip, as in AWS; brotli at wire level 3; `identity` in-process). */
  summaryEncoding?: SummaryEncoding;
  /**
   * Parts carry hosts and principals only, and detect derives each prefix from its hosts (wire level 2, a third
   * fewer bytes, and no prefix windows to build here). Only once every detect reads level 2 (src/engine/wire.ts).
   */
  derivePrefixes?: boolean;
  /** Distinct counters' hashes cut short (wire level 4; WindowerOptions.shortHashes); every detect of this release masks alike. */
  shortHashes?: boolean;
  /** Byte and latency sums to a few significant bits (wire level 4; WindowerOptions.roundedSums). */
  roundedSums?: boolean;
  /**
   * Where the level to write is agreed with detect (the construct's default, `summaryWireLevel: 'auto'`,
   * src/engine/wire-handshake.ts): asked once per invocation, it overrides summaryEncoding, derivePrefixes and
   * shortHashes, roundedSums with the writer options of the level every running detect reads.
   */
  wireLevel?: { level(now: number): Promise<number> };
  /** Wall clock (ms) for the agreed level; default Date.now. */
  now?: () => number;
  /**
   * The summaries stream's shards, where it has that many of equal hash ranges (as the construct provisions it): a
   * batch's partitions bound for one shard are written in the same records, keyed by the first of them; a partition's
   * parts of the batch stay in one record. One record a shard instead of one a partition, and one gzip over a shard's
   * share: at 10,000 requests a second about a sixth fewer bytes. While this count stays, each partition travels with
   * the same others to the same shard, so it meets itself there whatever the layout. When it changes (the construct's
   * `summaryShards`), ingest learns it after the stream has resharded: for that minute or two the partitions that
   * move are written to two shards, as they are to parent and child across any reshard. Unset (on-demand, or not
   * known): each partition's records are its own.
   */
  summaryShards?: number;
  log?: Logger;
  metrics?: Metrics;
}

/**
 * Room an ingest invocation keeps, after its last put, to log, publish metrics and return before its timeout: its
 * deadline is the Lambda's remaining time less this.
 */
export const INGEST_RETURN_MARGIN_MS = 10_000;

export interface IngestResult extends BatchResult {
  events: number;
  unreadable: number;
  /** Events stamped after their CloudWatch Logs timestamp, clamped to it. */
  clamped: number;
  summaries: number;
  summaryBytes: number;
}

/**
 * Stage 1 (DESIGN §1): access-log records → per-key partial summaries, one part per (source shard of the batch,
 * bucket, window), packed into summary records per bucket, or per summaries shard (`summaryShards`), keyed by a bucket's
 * explicit hash key. A poison record is counted and skipped;
 * a failed put (a dependency down) fails the batch, which Kinesis redelivers: the part ids (source shard, span of
 * sequence numbers, bucket, window) make that harmless downstream.
 */
export class IngestStage {
  private readonly buckets: number;
  /** Each bucket's explicit hash key, worked out once (see bucketHashKey). */
  private readonly hashKeys: string[];
  /** Each bucket's name in part ids and partition keys (see bucketLabel). */
  private readonly labels: string[];
  /** Per bucket, the bucket whose records carry its parts: the first bucket on the same shard (itself, ungrouped). */
  private readonly carrierOf: number[];
  private readonly maxRecordBytes: number;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly toleranceMs: number;

  constructor(private readonly deps: IngestDeps) {
    this.buckets = deps.buckets ?? DEFAULT_BUCKETS;
    this.hashKeys = Array.from({ length: this.buckets }, (_, b) => bucketHashKey(b, this.buckets));
    this.labels = Array.from({ length: this.buckets }, (_, b) => bucketLabel(b, this.buckets));
    this.carrierOf = carriers(this.hashKeys, deps.summaryShards);
    this.maxRecordBytes = deps.maxRecordBytes ?? MAX_SUMMARY_RECORD_BYTES;
    this.log = deps.log ?? silentLogger;
    this.metrics = deps.metrics ?? noMetrics;
    this.toleranceMs = deps.config.windows.futureToleranceSeconds * 1000;
  }

  /** How this invocation writes: the agreed level's options, or the deployment's fixed ones; the level is a metric. */
  private async writer(): Promise<{ derivePrefixes: boolean; shortHashes: boolean; roundedSums: boolean; summaryEncoding: SummaryEncoding | undefined }> {
    const d = this.deps;
    if (d.wireLevel) {
      const level = asWireLevel(await d.wireLevel.level((d.now ?? Date.now)()));
      this.metrics.add(METRIC.SummaryWireLevel, level);
      return writerOptions(level);
    }
    const fixed = { derivePrefixes: d.derivePrefixes === true, shortHashes: d.shortHashes === true, roundedSums: d.roundedSums === true,
      summaryEncoding: d.summaryEncoding };
    this.metrics.add(METRIC.SummaryWireLevel, fixed.shortHashes ? 4 : fixed.summaryEncoding === 'brotli' ? 3 : fixed.derivePrefixes ? 2 : 1);
    return fixed;
  }

  /**
   * `deadline` (epoch ms): when the invocation must be done by (its Lambda's remaining time, less room to return).
   * Summaries the stream refuses for throughput are put again until then, not given up after a few seconds.
   */
  async handle(records: readonly SourceRecord[], opts: { deadline?: number } = {}): Promise<IngestResult> {
    const cfg = this.deps.config;
    /** Per carrier (the bucket whose key its shard's records use), its buckets' parts. */
    const byCarrier = new Map<number, Map<number, SummaryPart[]>>();
    let events = 0;
    let unreadable = 0;
    let clamped = 0;
    const tolerance = this.toleranceMs;
    const [widest4, widest6] = widestPrefixes(cfg);
    const writer = await this.writer();
    // Pre-aggregated per invocation: all records of one source shard in one windower, so a key seen in many records
    // of the batch is one entry, and the summaries stream shrinks as traffic grows.
    for (const [shardId, group] of byShard(records)) {
      const windower = windowerFor(cfg, writer.derivePrefixes, writer);
      for (const r of group) {
        r.decode({
          event: (e, logTimestamp) => {
            // The request cannot have been made after CloudWatch Logs stamped its line: a later time is a lie (or a
            // broken clock) and must not move any watermark. An earlier one is left as it is (detect folds it, or drops
            // it past foldLateMinutes, and counts it): a forwarder that re-puts a backlog with the time it puts it would
            // otherwise pile hours of every client's requests into one window.
            if (logTimestamp !== undefined && e.time > logTimestamp + tolerance) {
              e.time = logTimestamp;
              clamped++;
            }
            windower.add(e);
            events++;
          },
          unreadable: () => { unreadable++; },
        });
      }
      const span = sequenceSpan(group);
      for (const partial of windower.drainPartials()) {
        for (const [bucket, part] of splitByBucket(partial, this.buckets, widest4, widest6)) {
          const carrier = this.carrierOf[bucket];
          let units = byCarrier.get(carrier);
          if (!units) byCarrier.set(carrier, (units = new Map()));
          let list = units.get(bucket);
          if (!list) units.set(bucket, (list = []));
          list.push({ ...part, id: `${shardId}:${span}/${this.labels[bucket]}/${part.w}` });
        }
      }
    }
    const out: PutRecord[] = [];
    let bytes = 0;
    for (const [carrier, units] of byCarrier) {
      const explicitHashKey = this.hashKeys[carrier];
      // A partition's parts of this batch stay in one record (packSummaryUnits says why).
      for (const data of packSummaryUnits([...units.values()], this.maxRecordBytes, writer.summaryEncoding)) {
        out.push({ partitionKey: `b${this.labels[carrier]}`, data, explicitHashKey });
        bytes += data.byteLength;
      }
    }
    this.metrics.add(METRIC.EventsIn, events);
    if (unreadable) {
      this.metrics.add(METRIC.Unreadable, unreadable);
      this.log.warn('unreadable access-log records skipped', { unreadable, records: records.length });
    }
    if (clamped) {
      this.metrics.add(METRIC.ClockClamped, clamped);
      this.log.warn('event times after their log timestamp clamped', { clamped });
    }
    const none = { events, unreadable, clamped, summaries: 0, summaryBytes: 0 };
    try {
      const put = out.length ? await this.deps.putter.put(out, { deadline: opts.deadline }) : undefined;
      if (put && put.throttled > 0) {
        this.metrics.add(METRIC.SummariesThrottled, put.throttled);
        this.log.warn('summaries stream throttled: records sent again', { throttled: put.throttled, summaries: out.length });
      }
    } catch (err) {
      // Throttled on the way and still not landed by the deadline: the case the alarm is for, so counted too.
      const throttled = (err as { throttled?: unknown } | null)?.throttled;
      if (typeof throttled === 'number' && throttled > 0) this.metrics.add(METRIC.SummariesThrottled, throttled);
      const kind = classifyFailure(err);
      if (kind === 'bug') {
        // What we built was refused: retrying the same records cannot help. Surfaced (metric, alarm), and the
        // records still go back to the mapping, whose bounded retries end in the failure queue.
        this.metrics.add(METRIC.StageErrors, 1);
        this.log.error('summaries refused', { error: errorName(err), summaries: out.length });
      } else this.log.warn('summaries not delivered: the batch will be retried', { error: errorName(err), summaries: out.length });
      this.metrics.add(METRIC.RecordsFailed, records.length);
      return { batchItemFailures: records.map((r) => ({ itemIdentifier: r.sequenceNumber })), ...none };
    }
    this.metrics.add(METRIC.SummaryRecords, out.length);
    this.metrics.add(METRIC.SummaryBytes, bytes, 'Bytes');
    this.log.info('ingested', { records: records.length, events, unreadable, summaries: out.length, bytes });
    return { batchItemFailures: [], events, unreadable, clamped, summaries: out.length, summaryBytes: bytes };
  }
}

/** The records of a batch by source shard, in order (an event source mapping's batch holds one shard's). */
function byShard(records: readonly SourceRecord[]): Map<string, SourceRecord[]> {
  const out = new Map<string, SourceRecord[]>();
  for (const r of records) {
    let list = out.get(r.shardId);
    if (!list) out.set(r.shardId, (list = []));
    list.push(r);
  }
  return out;
}

/**
 * The source records a part summarises, in its id: `<seq>` for one record, `<first>-<last>` for a batch. Kinesis
 * retries a batch whose first record failed as the identical batch (same id: detect counts it once), and bisects one
 * whose invocation failed into halves, whose spans lie inside the whole's (a half's part adds only the keys the whole's
 * landed parts lack: detect.ts dedupeParts).
 */
export function sequenceSpan(records: readonly SourceRecord[]): string {
  let first = records[0].sequenceNumber;
  let last = first;
  for (const r of records) {
    if (compareSequence(r.sequenceNumber, first) < 0) first = r.sequenceNumber;
    if (compareSequence(r.sequenceNumber, last) > 0) last = r.sequenceNumber;
  }
  return first === last ? first : `${first}-${last}`;
}

export function windowerFor(cfg: CordonConfig, hostsOnly = false, level4: { shortHashes?: boolean; roundedSums?: boolean } = {}): Windower {
  const o = windowerOptionsOf(cfg);
  const { shortHashes = false, roundedSums = false } = level4;
  return new Windower(hostsOnly || shortHashes || roundedSums ? { ...o, hostsOnly, shortHashes, roundedSums } : o);
}

/** Worked out once per config: ingest makes a windower per source record. */
const windowerOptions = new WeakMap<CordonConfig, WindowerOptions>();

function windowerOptionsOf(cfg: CordonConfig): WindowerOptions {
  let o = windowerOptions.get(cfg);
  if (o === undefined) {
    const a = cfg.aggregation;
    // The wide prefixes in force, narrowest first: those shorter than their family's prefix.
    const inForce = (widths: readonly number[], prefix: number) => widths.filter((b) => b < prefix).sort((x, y) => y - x);
    o = { sizeMs: cfg.windows.sizeSeconds * 1000, latenessMs: cfg.windows.allowedLatenessSeconds * 1000,
      ipv4Prefix: a.ipv4Prefix, ipv6Prefix: a.ipv6Prefix, ipv6WidePrefixes: inForce(a.ipv6WidePrefixes, a.ipv6Prefix),
      ipv4WidePrefixes: inForce(a.ipv4WidePrefixes, a.ipv4Prefix), trapRoutes: trapRoutesOf(cfg.trapRoutes) };
    windowerOptions.set(cfg, o);
  }
  return o;
}

/**
 * The prefix whose bucket a host or prefix goes to: its family's widest prefix kept (aggregation.*WidePrefixes, else
 * ipv4Prefix / ipv6Prefix), so every prefix meets all its hosts and narrower prefixes in one partition.
 */
export function partitionPrefixOf(ipOrCidr: string, widest4: number, widest6: number): string {
  const slash = ipOrCidr.indexOf('/');
  if (slash < 0) return prefixOf(ipOrCidr, widest4, widest6);
  const v6 = ipOrCidr.includes(':');
  const bits = Number(ipOrCidr.slice(slash + 1));
  return bits <= (v6 ? widest6 : widest4) ? ipOrCidr : prefixOf(ipOrCidr.slice(0, slash), widest4, widest6);
}

/** Each family's widest prefix in force (worked out once per batch, not per key). */
export function widestPrefixes(cfg: CordonConfig): [number, number] {
  const o = windowerOptionsOf(cfg);
  return [o.ipv4WidePrefixes?.at(-1) ?? o.ipv4Prefix, o.ipv6WidePrefixes?.at(-1) ?? o.ipv6Prefix];
}

/**
 * The middle of bucket `b`'s equal slice of the 128-bit hash space. Partition keys hash by MD5, which spreads a few
 * dozen keys unevenly (64 keys over 16 shards: 1 to 9 per shard); placed explicitly, every shard of a uniformly split
 * stream (how CreateStream and UpdateShardCount split it) gets buckets / shards of them.
 */
export function bucketHashKey(b: number, buckets: number): string {
  return (((2n * BigInt(b) + 1n) << 127n) / BigInt(buckets)).toString();
}

/** Per bucket, the first bucket of its shard among `shards` of equal ranges (each its own when `shards` is unset). */
function carriers(hashKeys: readonly string[], shards: number | undefined): number[] {
  if (shards === undefined || !Number.isInteger(shards) || shards < 1) return hashKeys.map((_, b) => b);
  const first = new Map<number, number>();
  return hashKeys.map((key, b) => {
    const shard = shardOfHashKey(key, shards);
    if (!first.has(shard)) first.set(shard, b);
    return first.get(shard)!;
  });
}

/**
 * A key's bucket of `buckets`: where its hash falls once its low 6 bits are read first. For 64 buckets that is
 * `hash % 64`, as every earlier release placed keys; more buckets only cut each of the 64 finer (bucket b of 64 is
 * buckets 4b to 4b+3 of 256), so a key's slice of the stream's hash space, and the shard holding it and its baselines,
 * stays where it was when the count changes (a switch to on-demand, say). Only a reshard moves keys, and new shards
 * start from the baselines of the shards before them.
 */
export function bucketOfKey(key: string, buckets: number): number {
  return Math.floor((placeOfKey(key) * buckets) / 2 ** 32);
}

/**
 * Where in [0, 2³²) a partition key falls: buckets are equal slices of it in order, and a shard of a uniformly split
 * stream holds a run of consecutive buckets, so a shard's keys are those whose place lies in one range.
 */
export function placeOfKey(key: string): number {
  const h = hash32(key);
  return (h % DEFAULT_BUCKETS) * 2 ** 26 + Math.floor(h / DEFAULT_BUCKETS);
}

/**
 * The place (see placeOfKey) of a stored state's key (`i:` host, `p:` prefix, `u:` principal), as ingest partitions
 * it: a host and a prefix by their widest prefix, a principal by itself; undefined for the population's own keys.
 */
export function statePlaceOf(cfg: CordonConfig): (stateKey: string) => number | undefined {
  const [widest4, widest6] = widestPrefixes(cfg);
  return (stateKey) => {
    const kind = stateKey.slice(0, 2);
    const key = stateKey.slice(2);
    try {
      if (kind === 'i:' || kind === 'p:') return placeOfKey(partitionPrefixOf(key, widest4, widest6));
    } catch {
      return undefined; // not an address: kept, like the population's keys
    }
    return kind === 'u:' ? placeOfKey(key) : undefined;
  };
}

/**
 * A bucket's name in part ids and partition keys: its number for 64 buckets (as before), `<b>of<buckets>` otherwise,
 * so a batch retried across a change of the count never reuses an id for other keys (detect would take it for a
 * redelivery and drop it).
 */
export function bucketLabel(b: number, buckets: number): string {
  return buckets === DEFAULT_BUCKETS ? String(b) : `${b}of${buckets}`;
}

function splitByBucket(p: WindowPartial, buckets: number, widest4: number, widest6: number): Map<number, WindowPartial> {
  const out = new Map<number, WindowPartial>();
  const part = (b: number): WindowPartial => {
    let x = out.get(b);
    if (!x) out.set(b, (x = { w: p.w, t: p.t, n: 0, e5: 0, i: [], p: [], u: [], ...(p.dp === 1 ? { dp: 1 as const } : {}) }));
    return x;
  };
  for (const entry of p.i) {
    const x = part(bucketOfKey(partitionPrefixOf(entry[0], widest4, widest6), buckets));
    x.i.push(entry);
    x.n += entry[1].c[0];
    x.e5 += entry[1].c[2];
  }
  for (const entry of p.p) part(bucketOfKey(partitionPrefixOf(entry[0], widest4, widest6), buckets)).p.push(entry);
  for (const entry of p.u) part(bucketOfKey(entry[0], buckets)).u.push(entry);
  if (p.q) for (const entry of p.q) (part(bucketOfKey(partitionPrefixOf(entry[0], widest4, widest6), buckets)).q ??= []).push(entry);
  return out;
}
