import { type SummaryWireLevel, writerOptions } from '../src/engine/wire.ts';
import { execFileSync } from 'node:child_process';
import { CORDON_ESM_CONFIG } from '../src/rehearse/esm-config.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CordonConfig, parseConfig } from '../src/config.ts';
import { decodeAnyLineAt } from '../src/decode/decode-line.ts';
import { bucketHashKey, bucketOfKey, cloudWatchSource, IngestStage, partitionPrefixOf, shardOfHashKey, type SourceRecord, summaryBucketsFor,
  widestPrefixes } from '../src/engine/ingest.ts';
import { isIpv6, normaliseIp, prefixOf } from '../src/net/ip.ts';
import type { PutRecord } from '../src/ports/stream.ts';
import { principalKey, type SimEvent } from '../src/simulate/builder.ts';
import { formatLine, kinesisRecordLine } from '../src/simulate/formats.ts';
import { Rng } from '../src/simulate/rng.ts';
import { s3RequestCount, type S3Requests } from './counting-blobs.ts';
import { moveIp, replicaOf } from './replica.ts';
import { costModel, DYNAMO_CALL_MS, LAMBDA_MEMORY_MB, PRICES, S3_CALL_MS, type Usage } from './cost.ts';
import { simulate, type Traffic } from './inputs.ts';
import { int, mdTable, pct, usd } from './table.ts';

/**
 * The pipeline at 1k, 10k and 100k requests a second, and what one detect Lambda holds there, measured rather than
 * estimated. In AWS each shard of the summaries stream has one detect Lambda, which sees only the keys whose bucket
 * maps to that shard, but parts for them from every ingest invocation of every access-log shard. So the traffic is
 * generated at the rate (the `mixed` population replicated as bench/cost.ts replicates it, streamed: never the whole
 * replicated event list in memory), run through the real IngestStage in per-shard ingest batches, and only the
 * summary records put for one summaries shard are kept; the real DetectStage, wired as the detect Lambda wires it,
 * then runs over those in a child process of its own (scale-child.ts), which reports its memory and CPU.
 *
 * This module holds the pure parts (the replicated stream, the shard layout, the filter of events that matter to one
 * shard, ingest for one shard) and the orchestration; scale-child.ts runs each heavy step in a process of its own.
 */

/** Log events per CloudWatch Logs record (as bench/inputs.ts cwlRecordsOf makes them). */
export const EVENTS_PER_RECORD = 200;
/** Ingest event source mapping, the construct's default (as bench/cost.ts batches it): up to 10,000 records, or what arrived within 2 s (at these rates far under the 6 MB payload). */
export const INGEST_BATCH = { records: CORDON_ESM_CONFIG.ingest.batchSize, windowMs: CORDON_ESM_CONFIG.ingest.maximumBatchingWindowMs };
/** Detect event source mapping, the construct's. */
export const DETECT_BATCH = { records: CORDON_ESM_CONFIG.detect.batchSize, windowMs: CORDON_ESM_CONFIG.detect.maximumBatchingWindowMs };
/** The first sequence number src/simulate/formats.ts gives a Kinesis record (record i gets this + i + 1). */
const FIRST_SEQUENCE_NUMBER = 49650000000000000000000000000000000000000000000000000000n;
/** SnapshotBaselineStore's defaults (src/pipeline/snapshot-baseline-store.ts). */
export const SNAPSHOT_MAX_KEYS = 1_000_000;
export const SNAPSHOT_MAX_IDLE_DAYS = 30;
/** The delta is compacted into the base once it holds more than this share of the base's keys. */
export const SNAPSHOT_COMPACT_AT = 1 / 8;
const MONTH_MINUTES = 30 * 24 * 60;

export const accessShardId = (a: number): string => `shardId-${String(a).padStart(12, '0')}`;

// ------------------------------------------------------------------ the replicated population, streamed

/**
 * `replicate(base, copies).events` without building it: the base events sorted by time (stably, as replicate's sort
 * leaves them), and for each run of equal times every copy in turn. Events are named by (base index, copy).
 */
export class ReplicatedStream {
  readonly events: SimEvent[];
  readonly total: number;

  constructor(readonly base: Traffic, readonly copies: number) {
    this.events = [...base.events].sort((a, b) => a.t - b.t);
    this.total = this.events.length * copies;
  }

  event(i: number, j: number): SimEvent {
    return replicaOf(this.events[i], j);
  }

  /** The stream cut into records of `per` events (the last may be shorter): base indices and copies. */
  *chunks(per = EVENTS_PER_RECORD): Generator<{ is: Int32Array; js: Int32Array }> {
    const ev = this.events;
    let is = new Int32Array(per);
    let js = new Int32Array(per);
    let n = 0;
    for (let g = 0; g < ev.length;) {
      let end = g + 1;
      while (end < ev.length && ev[end].t === ev[g].t) end++;
      for (let j = 0; j < this.copies; j++) {
        for (let i = g; i < end; i++) {
          is[n] = i;
          js[n] = j;
          if (++n === per) {
            yield { is, js };
            is = new Int32Array(per);
            js = new Int32Array(per);
            n = 0;
          }
        }
      }
      g = end;
    }
    if (n > 0) yield { is: is.subarray(0, n), js: js.subarray(0, n) };
  }
}

// ------------------------------------------------------------------ which summaries shard a key goes to

export interface ShardLayout {
  shards: number;
  /** Summary partitions (summaryBucketsFor), each on one shard by its explicit hash key. */
  buckets: number;
  shardOfBucket: number[];
}

/** Which shard of a uniformly split stream of `shards` shards each summary partition lands on. */
export function shardLayout(shards: number): ShardLayout {
  const buckets = summaryBucketsFor(shards);
  return { shards, buckets, shardOfBucket: Array.from({ length: buckets }, (_, b) => shardOfHashKey(bucketHashKey(b, buckets), shards)) };
}

/** The shard holding the most partitions (the first of them): the busiest detect Lambda, give or take its keys. */
export function busiestShard(l: ShardLayout): number {
  const n = new Array<number>(l.shards).fill(0);
  for (const s of l.shardOfBucket) n[s]++;
  return n.indexOf(Math.max(...n));
}

/**
 * Which events of the stream matter to one summaries shard: those whose address (its prefixes go to the same partition
 * as it: partitionPrefixOf) or principal is kept there. Worked out once per distinct base address and principal and
 * copy, with the functions ingest uses (the decoder's normaliseIp, partitionPrefixOf, bucketOfKey).
 */
export class ShardFilter {
  private readonly ipOf: Int32Array;
  private readonly principalOf: Int32Array;
  private readonly ipIn: Uint8Array;
  private readonly principalIn: Uint8Array;
  private readonly nIp: number;
  private readonly nPrincipal: number;

  constructor(readonly stream: ReplicatedStream, layout: ShardLayout, readonly shard: number, config: CordonConfig) {
    const [w4, w6] = widestPrefixes(config);
    const ips = new Map<string, number>();
    const principals = new Map<string, number>();
    const ev = stream.events;
    this.ipOf = new Int32Array(ev.length);
    this.principalOf = new Int32Array(ev.length);
    for (let i = 0; i < ev.length; i++) {
      let k = ips.get(ev[i].ip);
      if (k === undefined) ips.set(ev[i].ip, (k = ips.size));
      this.ipOf[i] = k;
      const p = ev[i].id ? principalKey(ev[i].id!) : null;
      if (p === null || p === '' || p === '-') this.principalOf[i] = -1;
      else {
        let q = principals.get(p);
        if (q === undefined) principals.set(p, (q = principals.size));
        this.principalOf[i] = q;
      }
    }
    this.nIp = ips.size;
    this.nPrincipal = principals.size;
    const c = stream.copies;
    this.ipIn = new Uint8Array(this.nIp * c);
    this.principalIn = new Uint8Array(this.nPrincipal * c);
    const inShard = (key: string) => layout.shardOfBucket[bucketOfKey(key, layout.buckets)] === shard ? 1 : 0;
    for (const [ip, k] of ips) {
      for (let j = 0; j < c; j++) {
        const norm = normaliseIp(moveIp(ip, j));
        // An address the decoder refuses makes no event at all: nothing for any shard.
        this.ipIn[k * c + j] = norm === null ? 0 : inShard(partitionPrefixOf(norm, w4, w6));
      }
    }
    for (const [p, q] of principals) for (let j = 0; j < c; j++) this.principalIn[q * c + j] = inShard(j === 0 ? p : `${p}~${j}`);
  }

  matters(i: number, j: number): boolean {
    const c = this.stream.copies;
    if (this.ipIn[this.ipOf[i] * c + j] === 1) return true;
    const p = this.principalOf[i];
    return p >= 0 && this.principalIn[p * c + j] === 1;
  }
}

// ------------------------------------------------------------------ ingest for one summaries shard

export interface IngestPlan {
  config: CordonConfig;
  accessShards: number;
  layout: ShardLayout;
  /** The summaries shard whose records are kept. */
  shard: number;
  summaryLevel: SummaryWireLevel;
  seed: number;
}

export interface ShardRecord {
  /** When the ingest batch that put it arrived (epoch ms): the summaries stream's arrival order. */
  arrival: number;
  data: Uint8Array;
}

export interface IngestCounts {
  requests: number;
  accessRecords: number;
  ingestInvocations: number;
  /** Access events decoded and handed to the IngestStage (all of them for `cwl`). */
  eventsIngested: number;
  shardRecords: number;
  shardBytes: number;
  cpuMs: number;
}

/**
 * The stream through the real IngestStage as the ingest Lambdas see it: records of 200 events, dealt round the
 * access-log shards (a CloudWatch Logs subscription spreads its records over all shards), each shard's records in
 * batches of up to 100 or 2 s (the construct's); `emit` gets every summary record put for `plan.shard`.
 *
 * `cwl`: the records are real CloudWatch Logs records (gzip'd envelopes, decodeCloudWatchData), as bench/cost.ts
 * feeds them. `skip`: each record hands the stage only the events that matter to the shard (see ShardFilter), plus
 * the record's latest event. What that changes is none of the shard's parts: the stage pre-aggregates each shard's
 * batch in one windower and splits its keys by partition, so a part of one of the shard's partitions holds exactly
 * the keys of that partition (an event's address and its prefixes share one partition, its principal has its own:
 * an event whose keys are all elsewhere adds nothing to it); its request and 5xx counts are sums over those keys; its
 * id is the batch's source shard, span of sequence numbers (every record is still passed) and window; and its time
 * `t` is the batch's newest event time, which the latest event of every record keeps (the ingest windower never
 * closes a window, so no event is ever late in it). The events are decoded from their recommended-format line with
 * the decoder CloudWatch Logs records go through (decodeAnyLineAt), at the same log timestamp. The test
 * (test/bench/scale.test.ts) checks the shard's records byte for byte against the `cwl` path.
 */
export async function ingestShard(stream: ReplicatedStream, plan: IngestPlan, mode: 'cwl' | 'skip', emit: (r: ShardRecord) => void): Promise<IngestCounts> {
  const filter = mode === 'skip' ? new ShardFilter(stream, plan.layout, plan.shard, plan.config) : null;
  const cpu0 = process.cpuUsage();
  const counts: IngestCounts = { requests: stream.total, accessRecords: 0, ingestInvocations: 0, eventsIngested: 0, shardRecords: 0, shardBytes: 0, cpuMs: 0 };
  let out: PutRecord[] = [];
  const stage = new IngestStage({ config: plan.config, ...writerOptions(plan.summaryLevel), buckets: plan.layout.buckets, summaryShards: plan.layout.shards,
    putter: { put: async (rs: PutRecord[]) => { out.push(...rs); } } });
  const rng = new Rng(plan.seed, 1);
  const S = BigInt(plan.layout.shards);
  interface Pending { sources: SourceRecord[]; first: number; arrival: number }
  const pending: (Pending | null)[] = new Array(plan.accessShards).fill(null);
  const flush = async (b: Pending): Promise<void> => {
    out = [];
    const r = await stage.handle(b.sources);
    if (r.batchItemFailures.length) throw new Error('ingest failed in the scale run');
    counts.ingestInvocations++;
    counts.eventsIngested += r.events;
    for (const x of out) {
      if (Number((BigInt(x.explicitHashKey!) * S) >> 128n) !== plan.shard) continue;
      counts.shardRecords++;
      counts.shardBytes += x.data.byteLength;
      emit({ arrival: b.arrival, data: x.data });
    }
  };
  const eventsSource = (is: Int32Array, js: Int32Array, picked: number[], sequenceNumber: string, shardId: string): SourceRecord => ({
    sequenceNumber, shardId,
    decode: (sink) => {
      for (const k of picked) {
        const e = stream.event(is[k], js[k]);
        const timestamp = e.t + 200; // the CloudWatch Logs timestamp formats.ts gives the line
        const d = decodeAnyLineAt(formatLine(e, 'apigw-json', rng), timestamp);
        if (typeof d === 'string') sink.unreadable({ reason: d, excerpt: '', line: 0, source: 'kinesis' });
        else sink.event(d, timestamp);
      }
    },
  });
  let record = 0;
  let firstIndex = 0;
  for (const { is, js } of stream.chunks()) {
    const n = is.length;
    const arrival = stream.events[is[n - 1]].t + 900; // formats.ts: approximateArrivalTimestamp
    const a = record % plan.accessShards;
    const shardId = accessShardId(a);
    let source: SourceRecord;
    if (filter === null) {
      const events: SimEvent[] = [];
      for (let k = 0; k < n; k++) events.push(stream.event(is[k], js[k]));
      const k = (JSON.parse(kinesisRecordLine(events, firstIndex, record, rng)) as { kinesis: { sequenceNumber: string; data: string } }).kinesis;
      source = cloudWatchSource({ sequenceNumber: k.sequenceNumber, data: k.data, shardId });
    } else {
      let latest = 0;
      for (let k = 1; k < n; k++) if (stream.events[is[k]].t > stream.events[is[latest]].t) latest = k;
      const picked: number[] = [];
      for (let k = 0; k < n; k++) if (k === latest || filter.matters(is[k], js[k])) picked.push(k);
      source = eventsSource(is, js, picked, String(FIRST_SEQUENCE_NUMBER + BigInt(record + 1)), shardId);
    }
    counts.accessRecords++;
    let b = pending[a];
    if (b !== null && (b.sources.length >= INGEST_BATCH.records || arrival - b.first > INGEST_BATCH.windowMs)) {
      await flush(b);
      b = null;
    }
    if (b === null) pending[a] = b = { sources: [], first: arrival, arrival };
    b.sources.push(source);
    b.arrival = arrival;
    record++;
    firstIndex += n;
  }
  for (const b of pending.filter((x): x is Pending => x !== null).sort((x, y) => x.arrival - y.arrival)) await flush(b);
  counts.cpuMs = (() => {
    const u = process.cpuUsage(cpu0);
    return (u.user + u.system) / 1000;
  })();
  return counts;
}

// ------------------------------------------------------------------ keys a month-old partition holds

/** Distinct state keys of the scenario, per copy: those of its first window, and how many new ones each later minute brings. */
export interface KeyChurn {
  minutes: number;
  firstWindowKeys: number;
  /** Mean new keys a minute after the first window (the scenario's clients arriving and leaving). */
  newKeysPerMinute: number;
  totalKeys: number;
}

/** The keys detect keeps state for (src/engine/decide-window.ts stateKeysOf): each IP, its prefixes, each principal. */
function stateKeysOfEvent(e: SimEvent, cfg: CordonConfig): string[] {
  const a = cfg.aggregation;
  const keys = [`i:${e.ip}`, `p:${prefixOf(e.ip, a.ipv4Prefix, a.ipv6Prefix)}`];
  for (const bits of isIpv6(e.ip) ? a.ipv6WidePrefixes.filter((b) => b < a.ipv6Prefix) : a.ipv4WidePrefixes.filter((b) => b < a.ipv4Prefix)) {
    keys.push(`p:${isIpv6(e.ip) ? prefixOf(e.ip, a.ipv4Prefix, bits) : prefixOf(e.ip, bits, a.ipv6Prefix)}`);
  }
  const p = e.id ? principalKey(e.id) : null;
  if (p) keys.push(`u:${p}`);
  return keys;
}

export function keyChurn(t: Traffic, cfg: CordonConfig): KeyChurn {
  const first = new Map<string, number>();
  let t0 = Infinity;
  for (const e of t.events) t0 = Math.min(t0, e.t);
  for (const e of t.events) {
    const w = Math.floor((e.t - t0) / 60_000);
    for (const k of stateKeysOfEvent(e, cfg)) {
      const f = first.get(k);
      if (f === undefined || w < f) first.set(k, w);
    }
  }
  let firstWindowKeys = 0;
  for (const w of first.values()) if (w === 0) firstWindowKeys++;
  return { minutes: t.minutes, firstWindowKeys, newKeysPerMinute: (first.size - firstWindowKeys) / Math.max(1, t.minutes - 1), totalKeys: first.size };
}

/**
 * Keys one summaries shard has seen after a month at `copies` times the scenario's population: the first window's
 * clients and a month of the scenario's churn, per copy, times the shard's share of the partitions; capped at the
 * snapshot store's maxKeys (keys idle for 30 days are forgotten, so a month's keys all stay until the cap).
 */
export function monthKeys(churn: KeyChurn, copies: number, shareOfKeys: number): { seen: number; kept: number; minutesToCap: number } {
  const seen = Math.round((churn.firstWindowKeys + churn.newKeysPerMinute * MONTH_MINUTES) * copies * shareOfKeys);
  const perMinute = churn.newKeysPerMinute * copies * shareOfKeys;
  const minutesToCap = perMinute > 0 ? Math.max(0, (SNAPSHOT_MAX_KEYS - churn.firstWindowKeys * copies * shareOfKeys) / perMinute) : Infinity;
  return { seen, kept: Math.min(SNAPSHOT_MAX_KEYS, seen), minutesToCap };
}

// ------------------------------------------------------------------ figures

/** What the detect child measured over one shard's summary records. */
export interface DetectRun {
  partition: 'fresh' | 'month-old';
  heapLimitMb: number;
  /** The child ran out of heap (V8's limit above) before the end. */
  outOfMemory: boolean;
  invocations: number;
  ticks: number;
  windowsClosed: number;
  decisions: number;
  /** Peak resident set of the process (its high-water mark) and the largest sampled heap, after every invocation. */
  peakRssMb: number;
  peakHeapMb: number;
  peakExternalMb: number;
  /** Largest heap right after a window closed, after forced GC: what the stage keeps live between windows. */
  liveHeapAfterCloseMb: number;
  /** The process before any work (node, its loader and the stage's modules): a Lambda's runtime holds some of it too. */
  rssAtStartMb: number;
  cpuMs: number;
  /** CPU of the invocations that closed windows, per window closed. */
  cpuMsPerWindowClose: { mean: number; max: number };
  cpuMsPerInvocation: { mean: number; p95: number; max: number };
  keysPerClosedWindow: number[];
  s3: S3Requests;
  dynamoCalls: number;
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  /** Heap the in-memory DynamoDB itself held at the end (in the figures above: an overstatement by this much). */
  fakeDynamoMb: number;
  /** For the month-old partition: the snapshot loaded before the traffic, and a warm Lambda's cache of it. */
  snapshot?: { keys: number; deltaKeys: number; objectMb: number; warmCacheMb: number; warmCacheBytesPerKey: number; loadCpuMs: number; rssAfterLoadMb: number;
    withSlowShare: number };
  compactions?: number;
  evicted?: number;
  wallSeconds: number;
  /** Diagnosis runs only (scale-child.ts DetectSpec.probe): live heap after forced GC around the stage's baseline calls. */
  probeLiveHeapMb?: Record<string, number>;
}

export interface ScaleRow {
  rate: number;
  /** Requests a second of the generated traffic, and how many copies of the scenario it holds. */
  trafficRate: number;
  copies: number;
  minutes: number;
  requests: number;
  /** Shards each stream needs (bench/cost.ts shardsAt: bytes, records, a Lambda keeping up), and what the construct deploys. */
  needed: { access: number; summaries: number };
  /** Shards deployed: the access-log stream's (the construct's `shards`), and the summaries stream's (`summaryShards`). */
  accessShards: number;
  shards: number;
  buckets: number;
  shard: number;
  bucketsOnShard: number;
  lambdas: { ingest: number; detect: number };
  ingest: IngestCounts;
  partsPerWindow: number[];
  keysPerWindow: number[];
  fresh: DetectRun;
  month: DetectRun;
  /** When the month-old partition went over the function's memory: the same run with V8's old space capped lower. */
  tighter?: { heapLimitMb: number; outOfMemory: boolean; peakRssMb?: number; peakHeapMb?: number; cpuMs?: number;
    cpuMsPerWindowClose?: { mean: number; max: number } };
  /** Seconds of the month-old partition's detect Lambda per second of traffic (busyShare); over 1 it falls behind. */
  detectBusy: number;
  monthKeys: { seen: number; kept: number; minutesToCap: number };
  /** All shards together: the measured shard's requests times the shards, per second of traffic. */
  s3PerSecond: number;
  dynamoPerSecond: number;
  cost: { perMillion: number; cwlPerMillion: number; share: number; measuredAt: number };
  wallSeconds: number;
  /** Shard counts measured first that did not keep up or fit (shardsToFit), in the order tried. */
  tried?: { shards: number; detectBusy: number; peakRssMb: number; outOfMemory: boolean; partition: DetectRun['partition']; keysPerWindow: number;
    wallSeconds: number }[];
}

export interface ScaleFigure {
  rows: ScaleRow[];
  churn: KeyChurn;
  lambdaMemoryMb: number;
  timeToContain: string;
  firstLimit: string;
  assumptions: string[];
}

/** The README's rehearsed time to contain (bench does not rehearse; README "Rehearsing a deployment"). */
export const REHEARSED_TIME_TO_CONTAIN = 'rehearsed at the scenario\'s own rate (mixed, 2 shards, 24 attackers): median 59 s, p95 179 s, worst 187 s, cordon\'s share at worst 81 s';

// ------------------------------------------------------------------ orchestration

export interface ScaleOptions {
  rates: number[];
  minutes: number;
  seed: number;
  heapMb: number;
  summaryLevel: SummaryWireLevel;
  log: (s: string) => void;
}

const child = fileURLToPath(new URL('./scale-child.ts', import.meta.url));

function runChild(args: string[], heapMb: number, gc: boolean): string {
  return execFileSync(process.execPath, [...(gc ? ['--expose-gc'] : []), `--max-old-space-size=${heapMb}`, '--import', 'tsx', child, ...args],
    { encoding: 'utf8', maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
}

const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').pop()!) as T;

/**
 * The detect child over one shard's records. Past the heap limit it is run again with room (`retry`), to measure what
 * it needs; without, null.
 */
function detectRun(spec: Record<string, unknown>, heapMb: number, log: (s: string) => void, retry = true): DetectRun | null {
  try {
    return lastJson<DetectRun>(runChild(['detect', JSON.stringify({ ...spec, heapLimitMb: heapMb })], heapMb, true));
  } catch (err) {
    log(`scale: the detect child stopped at a heap limit of ${heapMb} MB (${(err as Error).message.split('\n')[0].slice(0, 200)})` +
      (retry ? '; again with 8,192 MB to measure it' : ''));
    if (!retry) return null;
    return { ...lastJson<DetectRun>(runChild(['detect', JSON.stringify({ ...spec, heapLimitMb: 8192 })], 8192, true)), outOfMemory: true, heapLimitMb: heapMb };
  }
}

/** The share of the function's memory a detect Lambda should have to spare. */
const HEADROOM = 0.1;

/** Lambda gives a full vCPU at 1,769 MB. */
const VCPU_SHARE = Math.min(1, LAMBDA_MEMORY_MB / 1769);

/**
 * Seconds of the detect Lambda's time per second of traffic, as bench/cost.ts bills it: CPU at the function's vCPU
 * share, and every DynamoDB call and S3 request waited for on its own. Over 1, the shard's Lambda falls behind.
 */
export function busyShare(r: DetectRun, seconds: number): number {
  return (r.cpuMs / 1000 / VCPU_SHARE + (r.dynamoCalls * DYNAMO_CALL_MS + s3RequestCount(r.s3) * S3_CALL_MS) / 1000) / seconds;
}

/** The usage measured nearest a rate (within 10%), if any. */
export function usageNear(usages: readonly Usage[], rate: number): Usage | undefined {
  return usages.find((u) => Math.abs(Math.log(u.rate / rate)) < 0.1);
}

export function scaleFigure(usages: Usage[], o: ScaleOptions): ScaleFigure {
  const rates = [...o.rates].sort((a, b) => a - b);
  const model = costModel(usages, rates);
  const base = simulate(o.minutes, o.seed);
  const scenarioRate = base.events.length / (o.minutes * 60);
  const hour = simulate(60, o.seed);
  const config = parseConfig({ allowlist: { cidrs: base.labels.allowlist } });
  const churn = keyChurn(hour, config);
  const dir = mkdtempSync(join(tmpdir(), 'cordon-scale-'));
  const rows: ScaleRow[] = [];
  try {
    const snapshots = new Map<number, { snapshot: string; snapshotKeys: number; deltaKeys: number; withSlowShare: number }>();
    /** One detect Lambda at `rate` with the streams at `shards` shards: ingest for its shard, then detect fresh and month-old. */
    const measureAt = (rate: number, col: number, shards: number): ScaleRow => {
      const started = Date.now();
      const needed = model.shards[col];
      // The access-log stream keeps the cost model's count (its bytes and records set it); `shards` is the summaries
      // stream's (the construct's `shards` and `summaryShards`).
      const accessShards = needed.access;
      const layout = shardLayout(shards);
      const shard = busiestShard(layout);
      const bucketsOnShard = layout.shardOfBucket.filter((s) => s === shard).length;
      const copies = Math.max(1, Math.round(rate / scenarioRate));
      const records = join(dir, `shard-${rate}.tsv`);
      o.log(`scale: ${int(rate)} req/s: ${copies} × ${o.minutes} min of the mixed population, ${accessShards} access-log and ${shards} summaries shard(s) (cost model: ` +
        `${needed.access} access-log, ${needed.summaries} summaries), ${layout.buckets} partitions; ingest for summaries shard ${shard} (${bucketsOnShard} partitions)`);
      const ing = lastJson<{ counts: IngestCounts; partsPerWindow: number[]; keysPerWindow: number[] }>(runChild(['ingest', JSON.stringify({
        minutes: o.minutes, seed: o.seed, copies, accessShards, shards, shard, summaryLevel: o.summaryLevel, out: records })], 4096, false));
      const scope = `shardId-${String(shard).padStart(12, '0')}`;
      o.log(`scale: ${int(rate)} req/s: ${int(ing.counts.shardRecords)} summary records for the shard (${(ing.counts.shardBytes / 1e6).toFixed(1)} MB), ` +
        `${int(ing.counts.eventsIngested)} of ${int(ing.counts.requests)} events ingested; detect, fresh partition`);
      const spec = { records, scope, allowlist: base.labels.allowlist, dir };
      const fresh = detectRun(spec, o.heapMb, o.log)!;
      const mk = monthKeys(churn, copies, bucketsOnShard / layout.buckets);
      let snapshot = snapshots.get(mk.kept);
      if (snapshot === undefined) {
        const path = join(dir, `month-${mk.kept}.gz`);
        o.log(`scale: a month-old partition's baseline snapshot of ${int(mk.kept)} keys (${int(mk.seen)} seen in a month)`);
        const made = lastJson<{ keys: number; deltaKeys: number; withSlowShare: number }>(runChild(['snapshot', JSON.stringify({ keys: mk.kept, seed: o.seed, minutes: o.minutes, out: path })], 4096, false));
        snapshots.set(mk.kept, (snapshot = { snapshot: path, snapshotKeys: made.keys, deltaKeys: made.deltaKeys, withSlowShare: made.withSlowShare }));
      }
      o.log(`scale: ${int(rate)} req/s: detect, month-old partition`);
      const month = detectRun({ ...spec, ...snapshot }, o.heapMb, o.log)!;
      // Over the function's memory without running out of heap: would a tighter heap (V8 collecting sooner) fit it?
      let tighter: ScaleRow['tighter'];
      if (!month.outOfMemory && month.peakRssMb > LAMBDA_MEMORY_MB) {
        const heapLimitMb = Math.max(256, o.heapMb - (month.peakRssMb - LAMBDA_MEMORY_MB) - 64);
        o.log(`scale: ${int(rate)} req/s: month-old partition again, V8's old space capped at ${heapLimitMb} MB`);
        const t = detectRun({ ...spec, ...snapshot }, heapLimitMb, o.log, false);
        tighter = t === null ? { heapLimitMb, outOfMemory: true } : { heapLimitMb, outOfMemory: false, peakRssMb: t.peakRssMb, peakHeapMb: t.peakHeapMb,
          cpuMs: t.cpuMs, cpuMsPerWindowClose: t.cpuMsPerWindowClose };
      }
      rmSync(records, { force: true });
      const seconds = o.minutes * 60;
      // The cost model's shard-hours give way to the shards deployed.
      const perMillion = model.totals[col] - shardHourDollarsPerMillion(needed.access + needed.summaries, rate) + shardHourDollarsPerMillion(accessShards + shards, rate);
      return {
        rate, trafficRate: Math.round(ing.counts.requests / seconds), copies, minutes: o.minutes, requests: ing.counts.requests, needed, accessShards, shards,
        buckets: layout.buckets, shard, bucketsOnShard, lambdas: { ingest: accessShards, detect: shards }, ingest: ing.counts,
        partsPerWindow: ing.partsPerWindow, keysPerWindow: ing.keysPerWindow, fresh, month, ...(tighter ? { tighter } : {}), monthKeys: mk,
        detectBusy: busyShare(month, seconds),
        s3PerSecond: (s3RequestCount(month.s3) * shards) / seconds, dynamoPerSecond: (month.dynamoCalls * shards) / seconds,
        cost: { perMillion, cwlPerMillion: model.cwl[col], share: perMillion / model.cwl[col], measuredAt: model.measuredAt[col] },
        wallSeconds: Math.round((Date.now() - started) / 1000),
      };
    };
    for (const rate of rates) {
      const col = model.rates.indexOf(rate);
      const needed = model.shards[col];
      let row = measureAt(rate, col, Math.max(needed.access, needed.summaries));
      // The cost model extrapolates one shard's CPU per request and knows nothing of memory: where the measured Lambda
      // does not keep up or does not fit with room, the shards that would are estimated from the run and measured.
      const tried: ScaleRow['tried'] = [];
      for (let attempt = 0; attempt < MAX_SIZING_RUNS; attempt++) {
        const next = shardsToFit(row);
        if (next === null || next <= row.shards) break;
        const worst = row.fresh.outOfMemory && !row.month.outOfMemory ? row.fresh : row.month.outOfMemory || row.month.peakRssMb >= row.fresh.peakRssMb ? row.month : row.fresh;
        tried.push({ shards: row.shards, detectBusy: row.detectBusy, peakRssMb: worst.peakRssMb, outOfMemory: worst.outOfMemory, partition: worst.partition,
          keysPerWindow: Math.max(...inner(row.keysPerWindow)), wallSeconds: row.wallSeconds });
        o.log(`scale: ${int(rate)} req/s: ${row.shards} shards do not ${row.detectBusy > MAX_BUSY ? 'keep up' : 'fit'}; measuring ${next}`);
        row = measureAt(rate, col, next);
      }
      rows.push(tried.length ? { ...row, tried } : row);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, churn, lambdaMemoryMb: LAMBDA_MEMORY_MB, timeToContain: REHEARSED_TIME_TO_CONTAIN, firstLimit: firstLimit(rows, usages),
    assumptions: assumptions(rows, churn, o) };
}

/** A detect Lambda busier than this (s per s of traffic) is taken as not keeping up: a busier minute must not put it behind. */
const MAX_BUSY = 0.8;
/** Runs at more shards after the cost model's, per rate, at most. */
const MAX_SIZING_RUNS = 2;

/** Kinesis shard-hours per million requests at `rate`, in dollars, for `shards` shards over both streams. */
function shardHourDollarsPerMillion(shards: number, rate: number): number {
  return (shards * PRICES.kinesisShardHour * 1e6) / (rate * 3600);
}

/**
 * Shards a stream at which the measured row's detect Lambda would keep up (busy ≤ MAX_BUSY) and keep a tenth of the
 * function's memory spare, estimated from the run: its busy time falls as 1/shards, and so does its peak memory
 * above what the month-old partition holds with its snapshot loaded and no window (the floor, which more shards do not
 * shrink). null where it already does, or where the floor alone leaves no room.
 */
export function shardsToFit(r: ScaleRow): number | null {
  const target = LAMBDA_MEMORY_MB * (1 - HEADROOM);
  if (!Number.isFinite(r.detectBusy)) return null; // nothing measured to size from
  const byBusy = r.detectBusy > MAX_BUSY ? Math.ceil((r.shards * r.detectBusy) / MAX_BUSY) : r.shards;
  // Either partition over the mark counts, out of heap whatever its peak.
  const over = [r.fresh, r.month].filter((d) => d.outOfMemory || d.peakRssMb > target);
  const floor = r.month.snapshot?.rssAfterLoadMb ?? r.month.rssAtStartMb;
  let byMemory = r.shards;
  if (over.length) {
    if (floor >= target) return byBusy > r.shards ? byBusy : null;
    const peak = Math.max(...over.map((d) => d.peakRssMb));
    byMemory = Math.max(r.shards + 1, Math.ceil((r.shards * (peak - floor)) / (target - floor)));
  }
  const next = Math.max(byBusy, byMemory);
  return next > r.shards ? next : null;
}

/** The lowest rate (within 5%) at which a stream needs more than one shard, as bench/cost.ts sizes them, and which. */
export function rateNeedingShards(usages: Usage[]): { rate: number; stream: string } | null {
  for (let r = 100; r <= 1_000_000; r = Math.ceil(r * 1.05)) {
    const m = costModel(usages, [r]);
    const s = m.shards[m.rates.indexOf(r)];
    if (Math.max(s.access, s.summaries) > 1) return { rate: r, stream: s.summaries > 1 ? (s.access > 1 ? 'both streams' : 'the summaries stream') : 'the access-log stream' };
  }
  return null;
}

/**
 * The limits met as traffic grows, lowest rate first: the default one shard a stream outgrown (bench/cost.ts sizing),
 * a detect Lambda over its memory (the month-old partition's peak resident set past the function's), and a detect
 * Lambda that cannot keep up with its shard at the shard count the cost model gives (busyShare over 1).
 */
export function limitsOf(rows: ScaleRow[], shardsAt: { rate: number; stream: string } | null): { rate: number; text: string }[] {
  const out: { rate: number; text: string }[] = [];
  if (shardsAt !== null) {
    out.push({ rate: shardsAt.rate, text: `one shard a stream (the construct's default \`shards: 1\`) is outgrown at about ${int(shardsAt.rate)} req/s, ` +
      `where ${shardsAt.stream} needs a second (bench/cost.ts shardsAt: MB/s, records/s, or one Lambda keeping up with its shard); the consumer's ` +
      'iterator age then grows until its alarm fires. Change: raise `shards` (both streams take it; `summaryShards` sizes the summaries stream alone, and summary partitions follow it: summaryBucketsFor)' });
  }
  // Room: a tenth of the function's memory to spare (a busier minute, a bigger window, a second scope after a reshard).
  const roomy = (r: DetectRun) => !r.outOfMemory && r.peakRssMb <= LAMBDA_MEMORY_MB * (1 - HEADROOM);
  const keys = (r: ScaleRow) => int(Math.max(...inner(r.keysPerWindow)));
  // The cost model's shards, measured, were outgrown here (the first run of a sized row).
  const outgrown = rows.find((r) => r.tried?.length);
  if (outgrown) {
    const first = outgrown.tried![0];
    const why = [first.detectBusy > MAX_BUSY ? `busy ${first.detectBusy.toFixed(2)} s a second (CPU at ${VCPU_SHARE.toFixed(2)} vCPU, DynamoDB and S3 waits)` : '',
      first.outOfMemory || first.peakRssMb > LAMBDA_MEMORY_MB * (1 - HEADROOM) ? `${first.outOfMemory ? 'out of heap' : `peaking at ${int(first.peakRssMb)} MB resident`} ` +
        `with ${int(first.keysPerWindow)} keys a window (a ${first.partition} partition)` : ''].filter(Boolean).join(' and ') || 'short of what it needs';
    const fits = roomy(outgrown.month) && roomy(outgrown.fresh) && outgrown.detectBusy <= MAX_BUSY;
    out.push({ rate: outgrown.rate, text: `at ${int(outgrown.rate)} req/s the ${first.shards} shards the cost model gives (it extrapolates one shard's CPU per ` +
      `request and knows nothing of memory) are too few: the measured shard's detect Lambda is ${why}. ` +
      (fits ? `At ${outgrown.shards} shards it ${outgrown.detectBusy <= MAX_BUSY ? `is busy ${outgrown.detectBusy.toFixed(2)} s a second and ` : ''}peaks at ` +
        `${int(outgrown.month.peakRssMb)} MB with ${keys(outgrown)} keys a window, a tenth of the function's ${LAMBDA_MEMORY_MB} MB to spare: set \`summaryShards\` so` :
        `At ${outgrown.shards} shards it is busy ${outgrown.detectBusy.toFixed(2)} s a second and peaks at ${int(outgrown.month.peakRssMb)} MB: still short; ` +
        'give detect more memory (`detectMemoryMb`, which also brings more CPU)') });
  }
  // Whatever the shards, a row that still does not fit with room: the floor (a month of baselines) is the limit.
  const tight = rows.find((r) => !roomy(r.month) || !roomy(r.fresh));
  if (tight && tight !== outgrown) {
    const run = !roomy(tight.month) ? tight.month : tight.fresh;
    out.push({ rate: tight.rate, text: `the detect Lambda's memory: at ${int(tight.rate)} req/s and ${tight.shards} shards one summaries shard's detect peaks at ` +
      `${int(run.peakRssMb)} MB resident with ${keys(tight)} keys a window, ${run.outOfMemory ? 'out of heap' : `${pct(1 - run.peakRssMb / LAMBDA_MEMORY_MB)} of the function's memory to spare`}; ` +
      `a month of baselines alone holds ${int(tight.month.snapshot?.rssAfterLoadMb ?? 0)} MB. Change: \`detectMemoryMb\`` });
  }
  return out.sort((a, b) => a.rate - b.rate);
}

function firstLimit(rows: ScaleRow[], usages: Usage[]): string {
  return limitsOf(rows, rateNeedingShards(usages)).map((l, i) => (i === 0 ? l.text : `then ${l.text}`)).join('; ');
}

function assumptions(rows: ScaleRow[], churn: KeyChurn, o: ScaleOptions): string[] {
  const top = rows.at(-1);
  const capped = rows.filter((r) => r.monthKeys.seen >= SNAPSHOT_MAX_KEYS);
  const held = capped.length === rows.length ? `exceeds the store's ${int(SNAPSHOT_MAX_KEYS)}-key cap at every rate here, so the shard holds ${int(SNAPSHOT_MAX_KEYS)} keys`
    : `gives ${rows.map((r) => `${int(r.monthKeys.kept)} keys at ${int(r.rate)} req/s`).join(', ')} (the store keeps at most ${int(SNAPSHOT_MAX_KEYS)})`;
  const fill = rows.map((r) => `${int(r.rate)} req/s ${r.monthKeys.minutesToCap < 120 ? `${Math.round(r.monthKeys.minutesToCap)} min` : `${(r.monthKeys.minutesToCap / 60).toFixed(0)} h`}`).join(', ');
  const dynamo = Math.max(...rows.flatMap((r) => [r.fresh.fakeDynamoMb, r.month.fakeDynamoMb]));
  return [
    `traffic: ${o.minutes} min of the mixed scenario (seed ${o.seed}) replicated as bench/cost.ts replicates it, streamed copy by copy; ` +
      'one-minute windows, the detect clock ticking each minute and run on until the last window closed',
    `shards: first as bench/cost.ts sizes each stream (MB/s, records/s, a Lambda keeping up) from the cost run's measurement nearest the rate; ` +
      `where the shard measured then is busier than ${MAX_BUSY} s a second or has less than a tenth of the function's memory spare, the shards that ` +
      `would do are estimated from that run (busy time and memory above the loaded snapshot's falling as 1/shards: shardsToFit) and measured, ` +
      `up to ${MAX_SIZING_RUNS} more times; cost per million prices the shard-hours of both streams at the deployed shards (the other items stay the cost model's, per request, so S3 and Lambda requests that grow with shards are not repriced). Above the highest measured rate the cost model ` +
      'takes that one\'s per-request figures; the access-log stream keeps the cost model\'s shards (`shards`) and the summaries stream takes the sized ones (`summaryShards`), with ' +
      `${LAMBDA_MEMORY_MB} MB functions with one Lambda per shard (parallelizationFactor 1, infra/stream-defaults.ts); the detect tick is one more ` +
      'invocation a minute and contain one function',
    'one detect Lambda measured per rate: the summaries shard with the most partitions, its summary records from every ingest invocation of ' +
      `every access-log shard (records dealt round the shards; ingest batches of ${INGEST_BATCH.records} records or ${INGEST_BATCH.windowMs / 1000} s, detect batches of ${DETECT_BATCH.records} or ${DETECT_BATCH.windowMs / 1000} s, the construct's), ` +
      'the real DetectStage wired as the Lambda (EncodedPartStore over DynamoWindowStore, SnapshotBaselineStore, DynamoLedgerStore) over an in-memory ' +
      'DynamoDB and an S3 kept on disk (its objects are not the Lambda\'s memory), in a child process with V8\'s old space capped at ' +
      `${o.heapMb} MB; memory sampled after every invocation and, after forced GC, at every window close`,
    `month-old partition: the scenario's keys churn ${churn.newKeysPerMinute.toFixed(0)} new keys a minute per copy after its first window's ` +
      `${int(churn.firstWindowKeys)} (a simulated hour, ${int(churn.totalKeys)} keys); a month of that per copy, times the copies, times the ` +
      `shard's share of partitions, ${held} (the cap is reached after ${fill}): states from the scenario's hour through the Detector (its ` +
      'share of keys with slow evidence), names of other copies of the population, last seen spread over the month; the traffic\'s own keys are ' +
      'new to it (the base and the delta then both grow: the worst case)',
      `memory: peak RSS is the process's high-water mark, which includes node, the tsx loader and the modules before any work ` +
      `(${rows.map((r) => `${r.month.rssAtStartMb} MB`).join(', ')} at start) and the in-memory DynamoDB (at most ${dynamo} MB of heap at the end)`,
    'S3 and DynamoDB requests per second: the month-old partition\'s, times the shards',
    `cost per million requests: bench/cost.ts costModel; ${top ? `${int(top.rate)} req/s takes the per-request quantities of the ${int(top.cost.measuredAt)} req/s measurement` : ''} ` +
      '(shard-hours at the rate itself); Lambda compute is the cost run\'s, not the per-shard run\'s',
    `time to contain: ${REHEARSED_TIME_TO_CONTAIN}; not rehearsed at these rates. A window close here adds its detect CPU time at the ` +
      `function's ${VCPU_SHARE.toFixed(2)} vCPU, mean (max) of the month-old partition's closes`,
    `detect Lambda busy: CPU / ${VCPU_SHARE.toFixed(2)} vCPU + ${DYNAMO_CALL_MS} ms a DynamoDB call + ${S3_CALL_MS} ms an S3 request (as bench/cost.ts bills ` +
      'detect), over the traffic\'s seconds; CPU measured on this machine, which another job shared',
  ];
}

// ------------------------------------------------------------------ rendering

const mb = (n: number): string => `${int(n)} MB`;
const range = (xs: number[]): string => (xs.length ? (Math.min(...xs) === Math.max(...xs) ? int(xs[0]) : `${int(Math.min(...xs))}–${int(Math.max(...xs))}`) : '–');
/** Full windows only: the first and last minute of a run are partial. */
const inner = (xs: number[]): number[] => (xs.length > 2 ? xs.slice(1, -1) : xs);

export function renderScale(f: ScaleFigure): string {
  const cols = f.rows;
  const row = (label: string, cell: (r: ScaleRow) => string): string[] => [label, ...cols.map(cell)];
  const memory = (d: DetectRun) => `${mb(d.peakRssMb)} RSS, heap ${mb(d.peakHeapMb)} (live after a close ${mb(d.liveHeapAfterCloseMb)})${d.outOfMemory ? `, **out of a ${d.heapLimitMb} MB heap**` : ''}`;
  const rows: string[][] = [
    row('traffic measured', (r) => `${int(r.trafficRate)} req/s (${int(r.copies)} × mixed, ${r.minutes} min)`),
    row('shards: the cost model\'s access-log / summaries → deployed `shards` / `summaryShards` (summaries measured first, where more were needed)',
      (r) => `${r.needed.access} / ${r.needed.summaries} → **${r.accessShards} / ${r.shards}**${r.tried?.length ? ` (${r.tried.map((t) => t.shards).join(', ')} did not keep up or fit)` : ''}`),
    row('concurrent Lambdas: ingest + detect (+ tick, contain)', (r) => `${r.lambdas.ingest} + ${r.lambdas.detect} (+1, +1)`),
    row('one detect Lambda: keys / parts per window', (r) => `${range(inner(r.keysPerWindow))} / ${range(inner(r.partsPerWindow))}`),
    row('detect peak memory, fresh partition', (r) => memory(r.fresh)),
    row('month-old partition: baselines (base + delta), warm cache', (r) => `${int(r.month.snapshot?.keys ?? 0)} + ${int(r.month.snapshot?.deltaKeys ?? 0)} keys, ` +
      `${mb(r.month.snapshot?.warmCacheMb ?? 0)} heap (${r.month.snapshot?.warmCacheBytesPerKey ?? 0} B/key)`),
    row('detect peak memory, month-old partition', (r) => memory(r.month) + (r.tighter ? `; old space ${r.tighter.heapLimitMb} MB: ` +
      (r.tighter.outOfMemory ? '**out of heap**' : `${mb(r.tighter.peakRssMb ?? 0)} RSS`) : '')),
    row('detect CPU per window close, fresh / month-old', (r) => `${int(r.fresh.cpuMsPerWindowClose.mean)} / ${int(r.month.cpuMsPerWindowClose.mean)} ms (max ${int(r.month.cpuMsPerWindowClose.max)})`),
    row('detect CPU per invocation, mean / p95 (month-old)', (r) => `${int(r.month.cpuMsPerInvocation.mean)} / ${int(r.month.cpuMsPerInvocation.p95)} ms`),
    row('detect Lambda busy, s per s of traffic (month-old; over 1 falls behind)', (r) => r.detectBusy.toFixed(2)),
    row('S3 / DynamoDB requests per second (all shards)', (r) => `${r.s3PerSecond.toFixed(1)} / ${r.dynamoPerSecond.toFixed(1)}`),
    row('time to contain (rehearsed at the scenario\'s rate, below) + a window close here', (r) => `+${(r.month.cpuMsPerWindowClose.mean / 1000 / VCPU_SHARE).toFixed(0)} s (max ${(r.month.cpuMsPerWindowClose.max / 1000 / VCPU_SHARE).toFixed(0)} s)`),
    row('cordon per million requests (share of CloudWatch Logs ingestion)', (r) => `${usd(r.cost.perMillion)} (${pct(r.cost.share)} of ${usd(r.cost.cwlPerMillion)})${Math.abs(Math.log(r.cost.measuredAt / r.rate)) < 0.1 ? '' : '*'}`),
  ];
  return mdTable(['', ...cols.map((r) => `${int(r.rate)} req/s`)], rows, ['l', ...cols.map(() => 'r' as const)]) +
    `\n\n\\* per-request quantities of the ${int(cols.at(-1)?.cost.measuredAt ?? 0)} req/s measurement.\n\n` +
    `Time to contain: ${f.timeToContain}.\n\n**Limits as traffic grows:** ${f.firstLimit || 'none within these rates'}.\n\n` +
    f.assumptions.map((s) => `- ${s}`).join('\n') +
    `\n- wall time: ${cols.map((r) => `${int(r.rate)} req/s ${r.wallSeconds} s`).join(', ')}`;
}
