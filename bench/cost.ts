import { gunzipSync, gzipSync } from 'node:zlib';
import { DynamoBaselineStore, DynamoLedgerStore } from '../src/adapters/aws/dynamodb.ts';
import { DynamoWindowStore } from '../src/adapters/aws/window-store.ts';
import { type CordonConfig, parseConfig } from '../src/config.ts';
import { type DetectDeps, runDetect, runIngest, type StreamRecord } from '../src/pipeline/stages.ts';
import { CountingBaselineStore, CountingLedgerStore, CountingWindowStore, emptyCounts, type PortCounts } from './counting-stores.ts';
import { FakeDynamo } from './fake-dynamo.ts';
import { GroupingWindowStore } from './grouping-window-store.ts';
import { cpuSince } from './timing.ts';
import type { CwlRecord, Traffic } from './inputs.ts';

/**
 * What cordon's own AWS pipeline costs per million API requests, from running the real stage functions on the
 * generated traffic: runIngest with a putter that counts summary records and bytes, runDetect once over in-memory
 * stores that count what crosses the ports (and time the stage's CPU), and once over the real DynamoDB adapters
 * on a fake table that bills capacity units as DynamoDB does. Compared with what CloudWatch Logs charges to
 * ingest the same access-log lines.
 */

/** us-east-1 list prices. */
export const PRICES = {
  lambdaGbSecond: 0.0000133334, // arm64
  lambdaRequest: 0.2 / 1e6,
  kinesisPutUnit: 0.014 / 1e6, // provisioned mode: per 25 KB payload unit
  kinesisShardHour: 0.015,
  dynamoWriteUnit: 0.625 / 1e6, // on-demand
  dynamoReadUnit: 0.125 / 1e6,
  cwlIngestGb: 0.5,
} as const;

/** The deployed functions' memory (infra/cordon-construct.ts); Lambda gives a full vCPU at 1,769 MB. */
export const LAMBDA_MEMORY_MB = 1024;
const VCPU_SHARE = Math.min(1, LAMBDA_MEMORY_MB / 1769);
/** Assumed DynamoDB round trip, charged as if every call were awaited on its own (an upper bound). */
export const DYNAMO_CALL_MS = 5;
/** Event source mapping settings (infra/stream-defaults.ts). */
const INGEST_BATCH = { records: 100, windowMs: 5_000 };
const DETECT_BATCH = { records: 500, windowMs: 5_000 };
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

/**
 * How the pipeline is run. `today`: the stage functions as they are. The what-ifs keep every stage function and
 * adapter as it is and change only what they are fed, to price two changes the lead may want to make:
 * `ingest-per-batch` gives runIngest one record holding the whole Lambda batch (so one windower aggregates 100
 * records instead of one per record), `grouped-parts` also stores one window-store item per detect invocation and
 * window instead of one per part, and `grouped-gzip-parts` gzips those items.
 */
export type Variant = 'today' | 'ingest-per-batch' | 'grouped-parts' | 'grouped-gzip-parts';
export const VARIANTS: readonly Variant[] = ['today', 'ingest-per-batch', 'grouped-parts', 'grouped-gzip-parts'];

/** What one pass over the traffic consumed (totals, not yet per million). */
export interface Usage {
  variant: Variant;
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
  detectInvocations: number;
  detectCpuMs: number;
  windowsClosed: number;
  decisions: number;
  ports: PortCounts;
  dynamoCalls: number;
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  dynamoByTable: Record<string, { writeUnits: number; readUnits: number; calls: Record<string, number> }>;
  /** By item kind: `win` window parts, `wins` open-window markers, `base` baseline buckets, `mark` watermarks, `ledger`. */
  dynamoByKind: Record<string, { writeUnits: number; readUnits: number }>;
  cwlBytes: number;
}

export interface CostRow {
  item: string;
  /** Quantity per million API requests. */
  perMillion: number;
  unit: string;
  /** Dollars per million API requests, one per rate. */
  dollars: number[];
}

export interface CostModel {
  rates: number[];
  scenarioRate: number;
  shards: { access: number; summaries: number }[];
  rows: CostRow[];
  totals: number[];
  cwl: number;
  shareOfCwl: number[];
  usage: Usage;
  assumptions: string[];
}

/** Groups records as an event source mapping does: up to `max` records, or what arrived within `windowMs`. */
function batchesOf<T extends { arrival: number }>(records: readonly T[], max: number, windowMs: number): Batch<T>[] {
  const out: Batch<T>[] = [];
  let cur: Batch<T> | null = null;
  for (const r of records) {
    if (cur === null || cur.records.length >= max || r.arrival - cur.records[0].arrival > windowMs) {
      cur = { records: [], arrival: r.arrival };
      out.push(cur);
    }
    cur.records.push(r);
    cur.arrival = r.arrival;
  }
  return out;
}

const putUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / KINESIS_UNIT_BYTES));

/** Stage 1 over every ingest batch; returns the summary records stage 2 will read. */
async function ingestAll(records: readonly CwlRecord[], config: CordonConfig, u: Usage): Promise<SummaryRecord[]> {
  const summaries: SummaryRecord[] = [];
  for (const batch of batchesOf(records, INGEST_BATCH.records, INGEST_BATCH.windowMs)) {
    const out: { partitionKey: string; data: Uint8Array }[] = [];
    const putter = { put: async (rs: { partitionKey: string; data: Uint8Array }[]) => { out.push(...rs); } };
    const input = u.variant === 'today' ? batch.records.map((r) => ({ sequenceNumber: r.sequenceNumber, data: r.data }))
      : [mergedRecord(batch.records)];
    const cpu0 = process.cpuUsage();
    await runIngest(input, { putter, config });
    u.ingestCpuMs += cpuSince(cpu0);
    u.ingestInvocations++;
    for (const r of batch.records) {
      const bytes = Buffer.from(r.data, 'base64').length;
      u.accessRecords++;
      u.accessBytes += bytes;
      u.accessPutUnits += putUnits(bytes);
    }
    for (const r of out) {
      u.summaryRecords++;
      u.summaryBytes += r.data.byteLength;
      u.summaryPutUnits += putUnits(r.data.byteLength);
      // One summaries shard: every bucket's records arrive in order on it.
      summaries.push({ sequenceNumber: String(summaries.length + 1).padStart(20, '0'), data: Buffer.from(r.data).toString('base64'),
        shardId: 'shardId-000000000000', arrival: batch.arrival });
    }
  }
  return summaries;
}

/** The envelopes of a Lambda batch as one record (the what-ifs' way to aggregate a whole batch in one windower). */
function mergedRecord(records: readonly CwlRecord[]): StreamRecord {
  const envelopes = records.map((r) => JSON.parse(gunzipSync(Buffer.from(r.data, 'base64')).toString('utf8')) as { logEvents: unknown[] });
  const merged = { ...envelopes[0], logEvents: envelopes.flatMap((e) => e.logEvents) };
  return { sequenceNumber: records[0].sequenceNumber, data: gzipSync(JSON.stringify(merged)).toString('base64') };
}

interface DetectTotals {
  invocations: number;
  windowsClosed: number;
  decisions: number;
}

async function detectAll(summaries: readonly SummaryRecord[], deps: DetectDeps, onTime?: (ms: number) => void): Promise<DetectTotals> {
  let invocations = 0;
  let windowsClosed = 0;
  let decisions = 0;
  for (const batch of batchesOf(summaries, DETECT_BATCH.records, DETECT_BATCH.windowMs)) {
    const cpu0 = process.cpuUsage();
    const r = await runDetect(batch.records, deps);
    onTime?.(cpuSince(cpu0));
    if (r.batchItemFailures.length) throw new Error('detect failed in the cost run');
    invocations++;
    windowsClosed += r.windowsClosed;
    decisions += r.decisions;
  }
  return { invocations, windowsClosed, decisions };
}

export async function measureUsage(t: Traffic, records: readonly CwlRecord[], cwlLineBytes: number, variant: Variant = 'today'): Promise<Usage> {
  const config = parseConfig({ allowlist: { cidrs: t.labels.allowlist } });
  const grouped = variant === 'grouped-parts' || variant === 'grouped-gzip-parts';
  const gzipParts = variant === 'grouped-gzip-parts';
  const u: Usage = {
    variant, requests: t.events.length, seconds: t.minutes * 60, ingestInvocations: 0, ingestCpuMs: 0, accessRecords: 0,
    accessBytes: 0, accessPutUnits: 0, summaryRecords: 0, summaryBytes: 0, summaryPutUnits: 0, detectInvocations: 0,
    detectCpuMs: 0, windowsClosed: 0, decisions: 0, ports: emptyCounts(), dynamoCalls: 0, dynamoWriteUnits: 0,
    dynamoReadUnits: 0, dynamoByTable: {}, dynamoByKind: {}, cwlBytes: cwlLineBytes * t.events.length,
  };
  const summaries = await ingestAll(records, config, u);

  // Pass 1: in-memory stores that count port traffic; its time is the stage's own CPU.
  const countingWindows = new CountingWindowStore(u.ports);
  const counted = await detectAll(summaries, {
    windows: grouped ? new GroupingWindowStore(countingWindows, gzipParts) : countingWindows, baselines: new CountingBaselineStore(u.ports),
    ledger: new CountingLedgerStore(u.ports), config,
  }, (ms) => { u.detectCpuMs += ms; });
  u.detectInvocations = counted.invocations;
  u.windowsClosed = counted.windowsClosed;
  u.decisions = counted.decisions;

  // Pass 2: the real DynamoDB adapters on a fake table that bills capacity units.
  const dynamo = new FakeDynamo();
  await detectAll(summaries, {
    windows: grouped ? new GroupingWindowStore(new DynamoWindowStore(dynamo.client(), 'state'), gzipParts)
      : new DynamoWindowStore(dynamo.client(), 'state'),
    baselines: new DynamoBaselineStore(dynamo.client(), 'state'),
    ledger: new DynamoLedgerStore(dynamo.client(), 'ledger'),
    config,
  });
  u.dynamoCalls = dynamo.totalCalls;
  u.dynamoWriteUnits = dynamo.totalWriteUnits;
  u.dynamoReadUnits = dynamo.totalReadUnits;
  u.dynamoByTable = Object.fromEntries(dynamo.bills);
  u.dynamoByKind = Object.fromEntries(dynamo.byKind);
  return u;
}

/** DynamoDB write units by what is written. */
function dynamoWriteRows(u: Usage): [string, number][] {
  const w = (kind: string) => u.dynamoByKind[kind]?.writeUnits ?? 0;
  return [
    ['DynamoDB writes: window parts (+ markers, watermark)', w('win') + w('wins') + w('mark')],
    ['DynamoDB writes: baselines', w('base')],
    ['DynamoDB writes: ledger', w('ledger')],
  ];
}

export interface WhatIfRow {
  variant: string;
  summaryRecordsPerMillion: number;
  summaryPutUnitsPerMillion: number;
  windowWriteUnitsPerMillion: number;
  baselineWriteUnitsPerMillion: number;
  readUnitsPerMillion: number;
  /** Dollars per million requests at the comparison rate, and as a share of CloudWatch Logs ingestion. */
  dollars: number;
  shareOfCwl: number;
}

/**
 * The variants side by side at one rate; the last row also prices baselines as one small item per key
 * (1 WRU per key written, 0.5 RRU per key read, from the port counts) instead of the bucketed items.
 */
export function whatIfs(usages: Usage[], rate: number): WhatIfRow[] {
  const rows = usages.map((u) => whatIfRow(u.variant, u, rate, null));
  const last = usages.at(-1)!;
  rows.push(whatIfRow(`${last.variant} + baselines one item per key`, last, rate, {
    writeUnits: last.ports.baselineKeysWritten, readUnits: last.ports.baselineKeysRead * 0.5 }));
  return rows;
}

function whatIfRow(variant: string, u: Usage, rate: number, perKeyBaselines: { writeUnits: number; readUnits: number } | null): WhatIfRow {
  const model = costModel(u, [rate]);
  const i = model.rates.indexOf(rate);
  const m = 1e6 / u.requests;
  const base = u.dynamoByKind.base ?? { writeUnits: 0, readUnits: 0 };
  let dollars = model.totals[i];
  let baselineWrites = base.writeUnits;
  let reads = u.dynamoReadUnits;
  if (perKeyBaselines) {
    dollars += (perKeyBaselines.writeUnits - base.writeUnits) * m * PRICES.dynamoWriteUnit
      + (perKeyBaselines.readUnits - base.readUnits) * m * PRICES.dynamoReadUnit;
    baselineWrites = perKeyBaselines.writeUnits;
    reads += perKeyBaselines.readUnits - base.readUnits;
  }
  const w = (kind: string) => u.dynamoByKind[kind]?.writeUnits ?? 0;
  return {
    variant, summaryRecordsPerMillion: u.summaryRecords * m, summaryPutUnitsPerMillion: u.summaryPutUnits * m,
    windowWriteUnitsPerMillion: (w('win') + w('wins') + w('mark')) * m, baselineWriteUnitsPerMillion: baselineWrites * m,
    readUnitsPerMillion: reads * m, dollars, shareOfCwl: dollars / model.cwl,
  };
}

/** Shards each stream needs at `rate` requests a second: bytes, records, and one Lambda per shard keeping up. */
function shardsAt(rate: number, u: Usage): { access: number; summaries: number } {
  const per = (x: number) => x / u.requests;
  const ingestPerShard = (u.requests / (u.ingestCpuMs / 1000)) * VCPU_SHARE;
  const detectPerShard = (u.requests / ((u.detectCpuMs + u.dynamoCalls * DYNAMO_CALL_MS * VCPU_SHARE) / 1000)) * VCPU_SHARE;
  const need = (bytes: number, records: number, perShard: number) =>
    Math.max(1, Math.ceil((rate * bytes) / SHARD_BYTES_PER_SECOND), Math.ceil((rate * records) / SHARD_RECORDS_PER_SECOND),
      Math.ceil(rate / perShard));
  return {
    access: need(per(u.accessBytes), per(u.accessRecords), ingestPerShard),
    summaries: need(per(u.summaryBytes), per(u.summaryRecords), detectPerShard),
  };
}

export function costModel(u: Usage, rates: readonly number[]): CostModel {
  const scenarioRate = Math.round(u.requests / u.seconds);
  const allRates = [scenarioRate, ...rates.filter((r) => r !== scenarioRate)];
  const m = 1e6 / u.requests; // per million requests
  const ingestGbS = ((u.ingestCpuMs / 1000 / VCPU_SHARE) * LAMBDA_MEMORY_MB) / 1024;
  const detectGbS = ((u.detectCpuMs / 1000 / VCPU_SHARE + (u.dynamoCalls * DYNAMO_CALL_MS) / 1000) * LAMBDA_MEMORY_MB) / 1024;
  const same = (x: number) => allRates.map(() => x);
  const shards = allRates.map((r) => shardsAt(r, u));
  const rows: CostRow[] = [
    { item: 'Lambda ingest compute', perMillion: ingestGbS * m, unit: 'GB-s', dollars: same(ingestGbS * m * PRICES.lambdaGbSecond) },
    { item: 'Lambda detect compute', perMillion: detectGbS * m, unit: 'GB-s', dollars: same(detectGbS * m * PRICES.lambdaGbSecond) },
    { item: 'Lambda invocations', perMillion: (u.ingestInvocations + u.detectInvocations) * m, unit: 'requests',
      dollars: same((u.ingestInvocations + u.detectInvocations) * m * PRICES.lambdaRequest) },
    { item: 'Kinesis access-logs PUT units', perMillion: u.accessPutUnits * m, unit: '25 KB units',
      dollars: same(u.accessPutUnits * m * PRICES.kinesisPutUnit) },
    { item: 'Kinesis summaries PUT units', perMillion: u.summaryPutUnits * m, unit: '25 KB units',
      dollars: same(u.summaryPutUnits * m * PRICES.kinesisPutUnit) },
    { item: 'Kinesis shard-hours (both streams)', perMillion: NaN, unit: 'shard-h',
      dollars: allRates.map((r, i) => ((shards[i].access + shards[i].summaries) * PRICES.kinesisShardHour * 1e6) / (r * 3600)) },
    ...dynamoWriteRows(u).map(([item, units]) =>
      ({ item, perMillion: units * m, unit: 'WRU', dollars: same(units * m * PRICES.dynamoWriteUnit) })),
    { item: 'DynamoDB reads', perMillion: u.dynamoReadUnits * m, unit: 'RRU', dollars: same(u.dynamoReadUnits * m * PRICES.dynamoReadUnit) },
  ];
  const totals = allRates.map((_, i) => rows.reduce((s, r) => s + r.dollars[i], 0));
  const cwl = ((u.cwlBytes * m) / 2 ** 30) * PRICES.cwlIngestGb;
  return {
    rates: allRates, scenarioRate, shards, rows, totals, cwl, shareOfCwl: totals.map((t) => t / cwl), usage: u,
    assumptions: [
      `traffic mix: the mixed scenario (${u.requests} requests in ${u.seconds / 60} min, ${scenarioRate} req/s); ` +
        'per-request quantities are taken as constant at other rates (more clients behaving alike)',
      `Lambda arm64 at ${LAMBDA_MEMORY_MB} MB (${VCPU_SHARE.toFixed(2)} vCPU): billed time = measured single-core CPU time / ` +
        `${VCPU_SHARE.toFixed(2)}; detect adds ${DYNAMO_CALL_MS} ms per DynamoDB call as if none overlapped`,
      `Kinesis provisioned mode (PUT payload units + shard-hours), ${INGEST_BATCH.records}-record ingest and ` +
        `${DETECT_BATCH.records}-record detect batches with a 5 s batching window; shards per stream = ` +
        'max(1, MB/s, records/s / 1000, Lambda keeping up)',
      'DynamoDB on-demand, units billed by the fake table from the real adapters (writes by the larger of old and new item, strongly consistent reads)',
      'CloudWatch Logs: ingestion of the recommended-format lines (message bytes only, $0.50/GB); storage, KMS and data transfer not counted on either side',
    ],
  };
}
