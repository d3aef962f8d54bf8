import { type SummaryWireLevel, writerOptions } from '../src/engine/wire.ts';
import { CORDON_ESM_CONFIG } from '../src/rehearse/esm-config.ts';
import { LAMBDA_FACTS } from '../src/rehearse/delivery-model.ts';
import { RECORD_ENVELOPE_BYTES } from '../src/rehearse/event-source-mapping.ts';
import { DynamoLedgerStore } from '../src/adapters/aws/dynamodb.ts';
import { DynamoWindowStore } from '../src/adapters/aws/window-store.ts';
import { parseConfig } from '../src/config.ts';
import { DetectStage, type DetectResult } from '../src/engine/detect.ts';
import { cloudWatchSource, IngestStage, summaryBucketsFor } from '../src/engine/ingest.ts';
import { EncodedPartStore } from '../src/engine/part-store.ts';
import { SnapshotBaselineStore } from '../src/pipeline/snapshot-baseline-store.ts';
import type { PutRecord, StreamRecord } from '../src/ports/stream.ts';
import type { SimEvent } from '../src/simulate/builder.ts';
import { CountingBlobStore, s3RequestCount, type S3Requests } from './counting-blobs.ts';
import { FakeDynamo } from './fake-dynamo.ts';
import { cachedMoveIp, replicaOf } from './replica.ts';
import { cpuSince } from './timing.ts';
import type { CwlRecord, Traffic } from './inputs.ts';

/**
 * What cordon's own AWS pipeline costs per million API requests, from running the real stage objects, wired as
 * the Lambda functions wire them (src/pipeline/aws-deps.ts), on generated traffic: the IngestStage with a putter
 * that counts summary records and bytes, then the DetectStage over the real adapters (EncodedPartStore over the
 * DynamoDB window store, S3 baseline snapshots, the DynamoDB ledger) on an in-memory DynamoDB table that bills
 * capacity units as DynamoDB does and an in-memory S3 that counts requests, with its one-minute clock tick.
 * Compared with what CloudWatch Logs charges to ingest the same access-log lines.
 *
 * Per-invocation quantities (Lambda requests, summary records, S3 PUTs, watermark writes) fall per request as the
 * rate rises and batches fill, so each rate is measured on traffic at that rate: the scenario's population
 * replicated (see {@link replicate}), not the scenario's figures scaled.
 */

/** us-east-1 list prices. */
export const PRICES = {
  lambdaGbSecond: 0.0000133334, // arm64
  lambdaRequest: 0.2 / 1e6,
  kinesisPutUnit: 0.014 / 1e6, // provisioned mode: per 25 KB payload unit
  kinesisShardHour: 0.015,
  dynamoWriteUnit: 0.625 / 1e6, // on-demand
  dynamoReadUnit: 0.125 / 1e6,
  s3PutListDelete: 0.005 / 1e3, // PUT, COPY, POST (DeleteObjects), LIST
  s3Get: 0.0004 / 1e3,
  cwlIngestGb: 0.5,
} as const;

/** The deployed functions' memory (infra/cordon-construct.ts); Lambda gives a full vCPU at 1,769 MB. */
export const LAMBDA_MEMORY_MB = 1024;
const VCPU_SHARE = Math.min(1, LAMBDA_MEMORY_MB / 1769);
/** Assumed round trips, charged as if every call were awaited on its own (an upper bound). */
export const DYNAMO_CALL_MS = 5;
export const S3_CALL_MS = 25;
/** Event source mapping settings: the construct's (CORDON_ESM_CONFIG, tested equal to infra/stream-defaults.ts). */
const INGEST_BATCH = { records: CORDON_ESM_CONFIG.ingest.batchSize, windowMs: CORDON_ESM_CONFIG.ingest.maximumBatchingWindowMs };
const DETECT_BATCH = { records: CORDON_ESM_CONFIG.detect.batchSize, windowMs: CORDON_ESM_CONFIG.detect.maximumBatchingWindowMs };
const KINESIS_UNIT_BYTES = 25 * 1024;
const SHARD_BYTES_PER_SECOND = 1 << 20;
const SHARD_RECORDS_PER_SECOND = 1_000;

interface Batch<T> {
  records: T[];
  arrival: number;
}

interface SummaryRecord extends StreamRecord {
  shardId: string;
  arrival: number;
}

/** What one pass over the traffic consumed (totals, not yet per million). */
export interface Usage {
  /** Requests a second of the traffic measured, and how many copies of the scenario's population it holds. */
  rate: number;
  copies: number;
  /** The summaries shards ingest was told of (its records go one a shard); 1 where not given (older results). */
  summaryShards?: number;
  /** Ingest's batching window, ms (the construct's unless `--ingest-window` says otherwise); unset in older results. */
  ingestWindowMs?: number;
  requests: number;
  seconds: number;
  ingestInvocations: number;
  ingestCpuMs: number;
  accessRecords: number;
  accessBytes: number;
  accessPutUnits: number;
  summaryRecords: number;
  summaryBytes: number;
  summaryPutUnits: number;
  /** Detect invocations: summary batches and the one-minute schedule's ticks. */
  detectInvocations: number;
  /** Of those, the schedule's ticks (one a minute, whatever the rate). */
  detectTicks?: number;
  detectCpuMs: number;
  windowsClosed: number;
  decisions: number;
  dynamoCalls: number;
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  /** By item kind: `win` window-part index items, `wins` open-window markers, `mark` watermarks, `ledger`. */
  dynamoByKind: Record<string, { writeUnits: number; readUnits: number }>;
  s3: S3Requests;
  /** Bytes of the largest baseline snapshot written (one per summaries shard). */
  largestSnapshotBytes: number;
  cwlBytes: number;
}

export interface CostRow {
  item: string;
  unit: string;
  /** Quantity per million API requests, one per rate. */
  perMillion: number[];
  /** Dollars per million API requests, one per rate. */
  dollars: number[];
}

export interface CostModel {
  rates: number[];
  /** Per rate: the rate of the measurement its per-request quantities come from. */
  measuredAt: number[];
  shards: { access: number; summaries: number }[];
  rows: CostRow[];
  totals: number[];
  cwl: number[];
  shareOfCwl: number[];
  usages: Usage[];
  assumptions: string[];
}

/**
 * Groups records as an event source mapping does: up to `max` records, what arrived within `windowMs`, or the 6 MB
 * invoke payload (base64 data and each record's envelope, as src/rehearse/event-source-mapping.ts counts it).
 */
function batchesOf<T extends { arrival: number; data: string }>(records: readonly T[], max: number, windowMs: number): Batch<T>[] {
  const out: Batch<T>[] = [];
  let cur: Batch<T> | null = null;
  let bytes = 0;
  for (const r of records) {
    const size = r.data.length + RECORD_ENVELOPE_BYTES;
    if (cur === null || cur.records.length >= max || r.arrival - cur.records[0].arrival > windowMs || bytes + size > LAMBDA_FACTS.maxPayloadBytes) {
      cur = { records: [], arrival: r.arrival };
      out.push(cur);
      bytes = 0;
    }
    cur.records.push(r);
    cur.arrival = r.arrival;
    bytes += size;
  }
  return out;
}

const putUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / KINESIS_UNIT_BYTES));

/**
 * The scenario's traffic `copies` times over, as if that many such populations used the API at once (replicaOf: each
 * copy on networks and principals of its own, its paths' numbers, sizes and latencies its own), so keys multiply with
 * the rate as they would with more clients, and each copy keeps its NATs, /24s and attacks.
 */
export function replicate(t: Traffic, copies: number): Traffic {
  if (copies <= 1) return t;
  const events: SimEvent[] = [];
  const move = cachedMoveIp();
  for (let j = 0; j < copies; j++) for (const e of t.events) events.push(replicaOf(e, j, move));
  events.sort((a, b) => a.t - b.t);
  return { events, labels: t.labels, minutes: t.minutes };
}

/** Stage 1 over every ingest batch; returns the summary records stage 2 will read. */
async function ingestAll(records: readonly CwlRecord[], config: ReturnType<typeof parseConfig>, u: Usage, level: SummaryWireLevel,
  summaryShards: number, ingestWindowMs: number): Promise<SummaryRecord[]> {
  const summaries: SummaryRecord[] = [];
  let out: PutRecord[] = [];
  const stage = new IngestStage({ config, ...writerOptions(level), summaryShards, buckets: summaryBucketsFor(summaryShards),
    putter: { put: async (rs: PutRecord[]) => { out.push(...rs); } } });
  for (const batch of batchesOf(records, INGEST_BATCH.records, ingestWindowMs)) {
    out = [];
    const cpu0 = process.cpuUsage();
    const r = await stage.handle(batch.records.map((x) => cloudWatchSource({ sequenceNumber: x.sequenceNumber, data: x.data, shardId: 'shardId-000000000000' })));
    u.ingestCpuMs += cpuSince(cpu0);
    if (r.batchItemFailures.length) throw new Error('ingest failed in the cost run');
    u.ingestInvocations++;
    for (const x of batch.records) {
      const bytes = Buffer.from(x.data, 'base64').length;
      u.accessRecords++;
      u.accessBytes += bytes;
      u.accessPutUnits += putUnits(bytes);
    }
    for (const x of out) {
      u.summaryRecords++;
      u.summaryBytes += x.data.byteLength;
      u.summaryPutUnits += putUnits(x.data.byteLength);
      // One summaries shard: every bucket's records arrive in order on it.
      summaries.push({ sequenceNumber: String(summaries.length + 1).padStart(20, '0'), data: Buffer.from(x.data).toString('base64'),
        shardId: 'shardId-000000000000', arrival: batch.arrival });
    }
  }
  return summaries;
}

/**
 * Stage 1 and stage 2 over the traffic, counted. `summaryShards`: the summaries stream's shards ingest is told of, as
 * the construct tells it (its partitions bound for one shard share records); detect here reads them all as one.
 */
export async function measureUsage(t: Traffic, copies: number, records: readonly CwlRecord[], cwlLineBytes: number, summaryLevel: SummaryWireLevel = 1,
  summaryShards = 1, ingestWindowMs: number = INGEST_BATCH.windowMs): Promise<Usage> {
  const config = parseConfig({ allowlist: { cidrs: t.labels.allowlist } });
  const seconds = t.minutes * 60;
  const u: Usage = {
    rate: Math.round(t.events.length / seconds), copies, summaryShards, ingestWindowMs, requests: t.events.length, seconds, ingestInvocations: 0, ingestCpuMs: 0,
    accessRecords: 0, accessBytes: 0, accessPutUnits: 0, summaryRecords: 0, summaryBytes: 0, summaryPutUnits: 0,
    detectInvocations: 0, detectTicks: 0, detectCpuMs: 0, windowsClosed: 0, decisions: 0, dynamoCalls: 0, dynamoWriteUnits: 0,
    dynamoReadUnits: 0, dynamoByKind: {}, s3: { puts: 0, lists: 0, deletes: 0, gets: 0, bytesPut: 0 }, largestSnapshotBytes: 0,
    cwlBytes: cwlLineBytes * t.events.length,
  };
  const summaries = await ingestAll(records, config, u, summaryLevel, summaryShards, ingestWindowMs);

  // The detect Lambda's wiring (aws-deps.ts) over an in-memory DynamoDB that bills and an S3 that counts. The
  // timed CPU includes the SDK-free fakes' own work, a small overstatement.
  const dynamo = new FakeDynamo();
  const blobs = new CountingBlobStore();
  const stage = new DetectStage({
    config,
    windows: new EncodedPartStore(new DynamoWindowStore(dynamo.client(), 'state', { bodies: { store: blobs } })),
    baselines: new SnapshotBaselineStore(blobs),
    ledger: new DynamoLedgerStore(dynamo.client(), 'ledger'),
    ingestBatchingWindowSeconds: ingestWindowMs / 1000,
  });
  const run = async (call: () => Promise<DetectResult>, what: string): Promise<void> => {
    const cpu0 = process.cpuUsage();
    const r = await call();
    u.detectCpuMs += cpuSince(cpu0);
    if (r.batchItemFailures.length) throw new Error(`detect failed in the cost run (${what})`);
    u.detectInvocations++;
    u.windowsClosed += r.windowsClosed;
    u.decisions += r.decisions;
  };
  // The schedule: one tick a minute of wall clock (here, arrival time), between the batches it falls between.
  let nextTick = summaries.length ? Math.floor(summaries[0].arrival / 60_000) * 60_000 + 60_000 : Infinity;
  const tick = async (now: number): Promise<void> => {
    await run(() => stage.tick(now), 'tick');
    u.detectTicks = (u.detectTicks ?? 0) + 1;
  };
  for (const batch of batchesOf(summaries, DETECT_BATCH.records, DETECT_BATCH.windowMs)) {
    for (; nextTick <= batch.arrival; nextTick += 60_000) await tick(nextTick);
    await run(() => stage.handle(batch.records, batch.arrival), 'batch');
  }
  // After the traffic the schedule runs on until the last window's time is up (it closes on the clock).
  const w = config.windows;
  const last = summaries.at(-1)?.arrival ?? 0;
  for (; nextTick <= last + (w.maxDeliveryDelaySeconds + w.sizeSeconds) * 1000 + 60_000; nextTick += 60_000) await tick(nextTick);
  u.dynamoCalls = dynamo.totalCalls;
  u.dynamoWriteUnits = dynamo.totalWriteUnits;
  u.dynamoReadUnits = dynamo.totalReadUnits;
  u.dynamoByKind = Object.fromEntries(dynamo.byKind);
  u.s3 = { ...blobs.requests };
  for (const [key, blob] of blobs.objects) if (key.startsWith('base/')) u.largestSnapshotBytes = Math.max(u.largestSnapshotBytes, blob.body.byteLength);
  return u;
}

/** Shards each stream needs at `rate` requests a second: bytes, records, and one Lambda per shard keeping up. */
export function shardsAt(rate: number, u: Usage): { access: number; summaries: number } {
  const per = (x: number) => x / u.requests;
  const ingestPerShard = (u.requests / (u.ingestCpuMs / 1000)) * VCPU_SHARE;
  const detectPerShard = u.requests / detectBilledSeconds(u);
  const need = (bytes: number, records: number, perShard: number) =>
    Math.max(1, Math.ceil((rate * bytes) / SHARD_BYTES_PER_SECOND), Math.ceil((rate * records) / SHARD_RECORDS_PER_SECOND),
      Math.ceil(rate / perShard));
  return {
    access: need(per(u.accessBytes), per(u.accessRecords), ingestPerShard),
    summaries: need(per(u.summaryBytes), per(u.summaryRecords), detectPerShard),
  };
}

/** Seconds the detect Lambda is billed for: its CPU at the memory's vCPU share, plus every remote call's wait. */
function detectBilledSeconds(u: Usage): number {
  return u.detectCpuMs / 1000 / VCPU_SHARE + (u.dynamoCalls * DYNAMO_CALL_MS + s3RequestCount(u.s3) * S3_CALL_MS) / 1000;
}

/**
 * Dollars per million requests at each rate: per-request quantities from the measurement nearest the rate (above
 * the highest measured rate that one: per-request quantities only fall as batches fill, so this errs high),
 * shard-hours at the rate itself.
 */
export function costModel(usages: Usage[], rates: readonly number[]): CostModel {
  const measured = [...usages].sort((a, b) => a.rate - b.rate);
  const allRates = [...new Set([measured[0].rate, ...rates])].sort((a, b) => a - b);
  // The measurement nearest the rate (by ratio): replicated traffic lands near, not on, the rates asked for.
  const pick = (rate: number): Usage => measured.reduce((best, u) => (Math.abs(Math.log(u.rate / rate)) < Math.abs(Math.log(best.rate / rate)) ? u : best));
  const columns = allRates.map((rate) => ({ rate, u: pick(rate) }));
  const row = (item: string, unit: string, qty: (u: Usage) => number, price: number): CostRow => {
    const perMillion = columns.map(({ u }) => qty(u) * (1e6 / u.requests));
    return { item, unit, perMillion, dollars: perMillion.map((q) => q * price) };
  };
  const kind = (u: Usage, k: string) => u.dynamoByKind[k] ?? { writeUnits: 0, readUnits: 0 };
  const shards = columns.map(({ rate, u }) => shardsAt(rate, u));
  const rows: CostRow[] = [
    row('Lambda ingest compute', 'GB-s', (u) => ((u.ingestCpuMs / 1000 / VCPU_SHARE) * LAMBDA_MEMORY_MB) / 1024, PRICES.lambdaGbSecond),
    row('Lambda detect compute (incl. waiting on DynamoDB and S3)', 'GB-s', (u) => (detectBilledSeconds(u) * LAMBDA_MEMORY_MB) / 1024, PRICES.lambdaGbSecond),
    row('Lambda invocations', 'requests', (u) => u.ingestInvocations + u.detectInvocations, PRICES.lambdaRequest),
    row('Kinesis access-logs PUT units', '25 KB units', (u) => u.accessPutUnits, PRICES.kinesisPutUnit),
    row('Kinesis summaries PUT units', '25 KB units', (u) => u.summaryPutUnits, PRICES.kinesisPutUnit),
    {
      item: 'Kinesis shard-hours (both streams)', unit: 'shard-h',
      perMillion: columns.map(({ rate }, i) => ((shards[i].access + shards[i].summaries) * 1e6) / (rate * 3600)),
      dollars: columns.map(({ rate }, i) => ((shards[i].access + shards[i].summaries) * PRICES.kinesisShardHour * 1e6) / (rate * 3600)),
    },
    row('DynamoDB writes: open-window index, watermark and progress, scope registry', 'WRU',
      (u) => kind(u, 'win').writeUnits + kind(u, 'wins').writeUnits + kind(u, 'mark').writeUnits + kind(u, 'scopes').writeUnits, PRICES.dynamoWriteUnit),
    row('DynamoDB writes: ledger', 'WRU', (u) => kind(u, 'ledger').writeUnits, PRICES.dynamoWriteUnit),
    row('DynamoDB reads', 'RRU', (u) => u.dynamoReadUnits, PRICES.dynamoReadUnit),
    row('S3 PUT/LIST/DeleteObjects: window chunks, baseline snapshots', 'requests', (u) => u.s3.puts + u.s3.lists + u.s3.deletes, PRICES.s3PutListDelete),
    row('S3 GET', 'requests', (u) => u.s3.gets, PRICES.s3Get),
  ];
  const totals = columns.map((_, i) => rows.reduce((s, r) => s + r.dollars[i], 0));
  const cwl = columns.map(({ u }) => ((u.cwlBytes / u.requests) * 1e6 / 2 ** 30) * PRICES.cwlIngestGb);
  const scenario = measured[0];
  return {
    rates: allRates, measuredAt: columns.map(({ u }) => u.rate), shards, rows, totals, cwl, shareOfCwl: totals.map((t, i) => t / cwl[i]),
    usages: measured,
    assumptions: [
      `traffic: the mixed scenario (${scenario.requests} requests in ${scenario.seconds / 60} min, ${scenario.rate} req/s), and ` +
        `for higher rates that population replicated (${measured.slice(1).map((u) => `${u.copies}× → ${u.rate} req/s`).join(', ')}); ` +
        'rates above the highest measured one use its per-request figures',
      `Lambda arm64 at ${LAMBDA_MEMORY_MB} MB (${VCPU_SHARE.toFixed(2)} vCPU): billed time = measured single-core CPU time / ` +
        `${VCPU_SHARE.toFixed(2)}; detect adds ${DYNAMO_CALL_MS} ms per DynamoDB call and ${S3_CALL_MS} ms per S3 request as if none overlapped`,
      `Kinesis provisioned mode (PUT payload units + shard-hours), ${INGEST_BATCH.records}-record ingest and ` +
        `${DETECT_BATCH.records}-record detect batches with a ${(scenario.ingestWindowMs ?? INGEST_BATCH.windowMs) / 1000} s / ${DETECT_BATCH.windowMs / 1000} s batching window, and detect's one-minute clock tick (an ` +
        'invocation a minute, run on until the last window closed); shards per stream = ' +
        'max(1, MB/s, records/s / 1000, Lambda keeping up)',
      'DynamoDB on-demand, units billed by the fake table from the real adapters (writes by the larger of old and new item, strongly consistent reads)',
      'S3 Standard requests (PUT/LIST/POST $0.005 per 1,000, GET incl. 304s $0.0004 per 1,000); storage (a few MB per shard, ' +
        'window chunks deleted at close) and in-region transfer are not counted',
      'CloudWatch Logs: ingestion of the recommended-format lines (message bytes only, $0.50/GB); storage, KMS and data transfer not counted on either side',
    ],
  };
}

/** The lowest rate (within 5%) from which cordon costs at most `share` of CloudWatch Logs ingestion, or null. */
export function rateWhereShareFallsTo(usages: Usage[], share: number): number | null {
  for (let r = 10; r <= 100_000; r = Math.ceil(r * 1.05)) {
    const m = costModel(usages, [r]);
    if (m.shareOfCwl[m.rates.indexOf(r)] <= share) return r;
  }
  return null;
}
