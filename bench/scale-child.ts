import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DynamoLedgerStore } from '../src/adapters/aws/dynamodb.ts';
import { DynamoWindowStore } from '../src/adapters/aws/window-store.ts';
import { defaultConfig, parseConfig } from '../src/config.ts';
import { decodeLine } from '../src/decode/index.ts';
import { encodeKeyState } from '../src/detect/baseline.ts';
import { Detector, POPULATION_STATE_KEYS, type StateView } from '../src/detect/detector.ts';
import { DetectStage, type DetectResult } from '../src/engine/detect.ts';
import { EncodedPartStore } from '../src/engine/part-store.ts';
import { decodeSummaryRecord, type SummaryWireLevel } from '../src/engine/wire.ts';
import { Windower } from '../src/features/windower.ts';
import { KeyStateStore } from '../src/pipeline/key-state-store.ts';
import { encodeSnapshot, SnapshotBaselineStore } from '../src/pipeline/snapshot-baseline-store.ts';
import { BlobConflictError, type BlobPutCondition, type BlobStore, type StoredBlob } from '../src/ports-blob.ts';
import type { BaselineStore, KeyState } from '../src/ports.ts';
import type { StreamRecord } from '../src/ports/stream.ts';
import type { S3Requests } from './counting-blobs.ts';
import { FakeDynamo } from './fake-dynamo.ts';
import { windowerOptions } from './ingest.ts';
import { linesOf, simulate } from './inputs.ts';
import { DETECT_BATCH, type DetectRun, ingestShard, ReplicatedStream, type ShardRecord, shardLayout, SNAPSHOT_COMPACT_AT, SNAPSHOT_MAX_IDLE_DAYS } from './scale.ts';
import { moveIp } from './replica.ts';

/**
 * The heavy steps of the scale section (bench/scale.ts), each in a process of its own so that one's memory is not
 * another's:
 *
 * - `ingest <spec>`: the replicated traffic through the real IngestStage (scale.ts ingestShard), keeping the summary
 *   records put for one summaries shard; writes them, in arrival order, to a file (`arrival<TAB>base64` lines) and
 *   prints the counts, and the parts and distinct keys of each window the shard receives.
 * - `snapshot <spec>`: a month-old partition's baseline snapshot (the object SnapshotBaselineStore writes) of `keys` keys.
 * - `detect <spec>` (with --expose-gc): the real DetectStage, wired as the detect Lambda wires it, over that file, as
 *   one detect Lambda of that shard would see it; optionally loading the month-old snapshot first. Prints its memory
 *   and CPU (one JSON line, scale.ts DetectRun).
 *
 * Nothing here logs a record: counts only.
 */

const MB = 1 << 20;

// ------------------------------------------------------------------ ingest

interface IngestSpec {
  minutes: number;
  seed: number;
  copies: number;
  accessShards: number;
  shards: number;
  shard: number;
  summaryLevel: SummaryWireLevel;
  out: string;
}

async function ingestMode(spec: IngestSpec): Promise<void> {
  const base = simulate(spec.minutes, spec.seed);
  const config = parseConfig({ allowlist: { cidrs: base.labels.allowlist } });
  const stream = new ReplicatedStream(base, spec.copies);
  const kept: ShardRecord[] = [];
  const parts = new Map<number, number>();
  const keys = new Map<number, Set<string>>();
  const counts = await ingestShard(stream, { config, accessShards: spec.accessShards, layout: shardLayout(spec.shards), shard: spec.shard,
    summaryLevel: spec.summaryLevel, seed: spec.seed }, 'skip', (r) => {
    kept.push(r);
    for (const p of decodeSummaryRecord(r.data)) {
      parts.set(p.w, (parts.get(p.w) ?? 0) + 1);
      let set = keys.get(p.w);
      if (!set) keys.set(p.w, (set = new Set()));
      for (const [k] of p.i) set.add(`i:${k}`);
      for (const [k] of p.p) set.add(`p:${k}`);
      for (const [k] of p.q ?? []) set.add(`p:${k}`);
      for (const [k] of p.u) set.add(`u:${k}`);
    }
  });
  // The summaries shard takes the records in the order they were put (stable: one batch's records stay together).
  kept.sort((a, b) => a.arrival - b.arrival);
  const fd = openSync(spec.out, 'w');
  for (const r of kept) writeSync(fd, `${r.arrival}\t${Buffer.from(r.data).toString('base64')}\n`);
  closeSync(fd);
  const windows = [...parts.keys()].sort((a, b) => a - b);
  console.log(JSON.stringify({ counts, partsPerWindow: windows.map((w) => parts.get(w)!), keysPerWindow: windows.map((w) => keys.get(w)!.size) }));
}

// ------------------------------------------------------------------ snapshot

interface SnapshotSpec {
  keys: number;
  seed: number;
  minutes: number;
  out: string;
}

/**
 * Real states: the scenario's simulated hour through the Detector window by window, its states in a KeyStateStore
 * as the local runner keeps them (as bench/key-state-child.ts harvests them); the population's own entries aside.
 */
function harvest(seed: number): [string, KeyState][] {
  const t = simulate(60, seed);
  const w = new Windower(windowerOptions());
  for (const line of linesOf(t, 'apigw-json', seed)) {
    const e = decodeLine(line, 'apigw-json');
    if (typeof e !== 'string') w.add(e);
  }
  const states = new KeyStateStore();
  const view: StateView = { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); } };
  const detector = new Detector(defaultConfig());
  for (const closed of w.closeAll()) detector.assess(closed, view);
  const population = new Set(POPULATION_STATE_KEYS);
  return [...states.entries()].filter(([k]) => !population.has(k));
}

/** A key of copy j of the population: its address or prefix moved as replicate moves addresses, a principal suffixed. */
function keyOfCopy(key: string, j: number): string {
  const kind = key.slice(0, 2);
  const value = key.slice(2);
  if (kind === 'u:') return `${key}~m${j}`;
  if (kind === 'p:') {
    const slash = value.lastIndexOf('/');
    return `p:${moveIp(value.slice(0, slash), j)}${value.slice(slash)}`;
  }
  return `i:${moveIp(value, j)}`;
}

/**
 * A month-old partition's two objects, as SnapshotBaselineStore keeps them: the base, `keys` keys named as other copies
 * of the population (not the traffic's: its keys are all new to the partition, the worst case), each with a harvested
 * state, last seen spread evenly over the month before the traffic, oldest first (as compactions append them); and the
 * delta of the keys changed since the base was written, at the size past which the next write compacts (1/8 of the
 * base: the store's default compactAt), so that the run's first window close compacts, as one in every few does.
 * The delta's keys are the base's most recently seen, seen again within the hour before the traffic.
 */
function snapshotMode(spec: SnapshotSpec): void {
  const pool = harvest(spec.seed);
  const start = Math.floor(Math.min(...simulate(spec.minutes, spec.seed).events.map((e) => e.t)) / 60_000) * 60_000;
  const spanMinutes = (SNAPSHOT_MAX_IDLE_DAYS * 24 * 60) - 60; // within the idle limit
  const names = new Set<string>();
  const entries: [string, string][] = [];
  const states: KeyState[] = [];
  let withSlow = 0;
  for (let j = 1, i = 0; entries.length < spec.keys; i++) {
    if (i === pool.length) {
      i = 0;
      j++;
    }
    const name = keyOfCopy(pool[i][0], j);
    if (names.has(name)) continue;
    names.add(name);
    const k = entries.length;
    const lastWindow = start - (spanMinutes - Math.floor((k * spanMinutes) / spec.keys)) * 60_000;
    const s = pool[i][1];
    if (s.slow) withSlow++;
    entries.push([name, encodeKeyState({ ...s, lastWindow })]);
    states.push(s);
  }
  const deltaKeys = Math.floor(entries.length * SNAPSHOT_COMPACT_AT);
  const delta: [string, string][] = [];
  for (let k = entries.length - deltaKeys; k < entries.length; k++) {
    const lastWindow = start - 60 * 60_000 + Math.floor(((k - (entries.length - deltaKeys)) * 59) / deltaKeys) * 60_000;
    delta.push([entries[k][0], encodeKeyState({ ...states[k], windows: states[k].windows + 1, lastWindow })]);
  }
  const body = encodeSnapshot(entries);
  const deltaBody = encodeSnapshot(delta);
  writeFileSync(spec.out, body);
  writeFileSync(`${spec.out}.delta`, deltaBody);
  console.log(JSON.stringify({ keys: entries.length, deltaKeys: delta.length, withSlowShare: withSlow / entries.length, bytes: body.byteLength,
    deltaBytes: deltaBody.byteLength, pool: pool.length }));
}

// ------------------------------------------------------------------ detect

/**
 * S3 for the detect stage, with S3's semantics for tags and conditions (as MemoryBlobStore), counting requests by
 * price class (as bench/counting-blobs.ts), but keeping the objects on disk: in AWS they are not the Lambda's memory.
 */
class DiskBlobStore implements BlobStore {
  readonly requests: S3Requests = { puts: 0, lists: 0, deletes: 0, gets: 0, bytesPut: 0 };
  private readonly meta = new Map<string, { etag: string; file: string }>();
  private next = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** An object placed before the run (the month-old snapshot), not a request of the stage. */
  place(key: string, body: Uint8Array): void {
    this.write(key, body);
  }

  private write(key: string, body: Uint8Array): string {
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    const file = join(this.dir, String(this.next++));
    writeFileSync(file, body);
    const old = this.meta.get(key);
    this.meta.set(key, { etag, file });
    if (old) unlinkSync(old.file);
    return etag;
  }

  async put(key: string, body: Uint8Array, condition: BlobPutCondition = {}): Promise<string> {
    this.requests.puts++;
    this.requests.bytesPut += body.byteLength;
    const current = this.meta.get(key);
    if (condition.ifNoneMatch === '*' && current) throw new BlobConflictError(key);
    if (condition.ifMatch !== undefined && current?.etag !== condition.ifMatch) throw new BlobConflictError(key);
    return this.write(key, body);
  }

  async get(key: string, ifNoneMatch?: string): Promise<StoredBlob | 'unchanged' | null> {
    this.requests.gets++;
    const current = this.meta.get(key);
    if (!current) return null;
    if (ifNoneMatch !== undefined && ifNoneMatch === current.etag) return 'unchanged';
    return { body: readFileSync(current.file), etag: current.etag };
  }

  async list(prefix: string): Promise<string[]> {
    this.requests.lists++;
    return [...this.meta.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    this.requests.deletes += Math.ceil(keys.length / 1000);
    for (const k of keys) {
      const m = this.meta.get(k);
      if (!m) continue;
      this.meta.delete(k);
      unlinkSync(m.file);
    }
  }
}

interface DetectSpec {
  records: string;
  scope: string;
  allowlist: string[];
  dir: string;
  snapshot?: string;
  /** Keys in the snapshot's base and delta, and the share of them with slow evidence (as the snapshot step made it). */
  snapshotKeys?: number;
  deltaKeys?: number;
  withSlowShare?: number;
  heapLimitMb: number;
  /**
   * Diagnosis only (not in the bench's figures): force a GC and take the live heap around each baseline read and write
   * of the stage, i.e. inside a window close, with its window and states in hand, and after the snapshot write (a
   * compaction's copies are garbage by then). The GCs' CPU is left out of the invocation's; they lower its peak RSS.
   */
  probe?: boolean;
}

/** The stage's baseline store, passed through, with the live heap taken around its calls (DetectSpec.probe). */
class ProbedBaselines implements BaselineStore {
  readonly live: Record<string, number> = {};
  gcCpuMs = 0;

  constructor(private readonly inner: SnapshotBaselineStore) {}

  private take(label: string): void {
    const cpu0 = process.cpuUsage();
    const heap = settle().heapUsed;
    this.gcCpuMs += cpuSince(cpu0);
    this.live[label] = Math.max(this.live[label] ?? 0, Math.round(heap / MB));
  }

  async getMany(keys: readonly string[], scope?: string): Promise<Map<string, KeyState>> {
    const out = await this.inner.getMany(keys, scope);
    // A window close reads every key of the window at once; early decisions read a few.
    this.take(keys.length > 1000 ? 'afterWindowRead' : 'afterSmallRead');
    return out;
  }

  async putMany(states: ReadonlyMap<string, KeyState>, scope?: string): Promise<void> {
    this.take('beforeWrite');
    await this.inner.putMany(states, scope);
    this.take('afterWrite');
  }

  counters(): Record<string, number> {
    return this.inner.counters();
  }
}

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage();
}

const cpuSince = (cpu0: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(cpu0);
  return (u.user + u.system) / 1000;
};

/** The shard's summary records in arrival order, grouped as the detect event source mapping groups them. */
async function* detectBatches(path: string, scope: string): AsyncGenerator<{ records: StreamRecord[]; arrival: number }> {
  let cur: { records: StreamRecord[]; first: number; arrival: number } | null = null;
  let n = 0;
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    const arrival = Number(line.slice(0, tab));
    if (cur !== null && (cur.records.length >= DETECT_BATCH.records || arrival - cur.first > DETECT_BATCH.windowMs)) {
      yield { records: cur.records, arrival: cur.arrival };
      cur = null;
    }
    cur ??= { records: [], first: arrival, arrival };
    cur.records.push({ sequenceNumber: String(++n).padStart(20, '0'), data: line.slice(tab + 1), shardId: scope });
    cur.arrival = arrival;
  }
  if (cur !== null) yield { records: cur.records, arrival: cur.arrival };
}

async function detectMode(spec: DetectSpec): Promise<void> {
  if (!gc) throw new Error('run with --expose-gc');
  const started = Date.now();
  const atStart = settle().rss;
  const config = parseConfig({ allowlist: { cidrs: spec.allowlist } });
  const blobDir = join(spec.dir, `blobs-${process.pid}`);
  const blobs = new DiskBlobStore(blobDir);
  let dynamo: FakeDynamo | null = new FakeDynamo();
  const baselines = new SnapshotBaselineStore(blobs);
  const probed = spec.probe ? new ProbedBaselines(baselines) : null;
  const keysPerClosedWindow: number[] = [];
  const stage = new DetectStage({
    config,
    windows: new EncodedPartStore(new DynamoWindowStore(dynamo.client(), 'state', { bodies: { store: blobs } })),
    baselines: probed ?? baselines,
    ledger: new DynamoLedgerStore(dynamo.client(), 'ledger'),
    onWindow: (closed) => { keysPerClosedWindow.push(closed.keys.keyCount); },
  });
  let peakRss = 0;
  let peakHeap = 0;
  let peakExternal = 0;
  let liveAfterClose = 0;
  const sample = (m: NodeJS.MemoryUsage) => {
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
  };

  let snapshot: DetectRun['snapshot'];
  if (spec.snapshot) {
    const body = readFileSync(spec.snapshot);
    const deltaBody = readFileSync(`${spec.snapshot}.delta`);
    blobs.place(`base/${spec.scope}`, body);
    blobs.place(`base/${spec.scope}.delta`, deltaBody);
    const objectMb = (body.byteLength + deltaBody.byteLength) / MB;
    const before = settle();
    const cpu0 = process.cpuUsage();
    // A warm Lambda's first look at its shard: the base and delta objects loaded into the store's cache.
    await baselines.getMany(['i:192.0.2.1'], spec.scope);
    const loadCpuMs = cpuSince(cpu0);
    const after = settle();
    sample(after);
    if (baselines.corrupt > 0) throw new Error('the month-old snapshot did not load');
    const keys = spec.snapshotKeys ?? NaN;
    const warm = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
    snapshot = { keys, deltaKeys: spec.deltaKeys ?? NaN, objectMb: round(objectMb), warmCacheMb: round(warm / MB), warmCacheBytesPerKey: Math.round(warm / (keys + (spec.deltaKeys ?? 0))), loadCpuMs: Math.round(loadCpuMs),
      rssAfterLoadMb: Math.round(after.rss / MB), withSlowShare: spec.withSlowShare ?? NaN };
  }

  const cpuPerInvocation: number[] = [];
  const cpuPerClose: number[] = [];
  let windowsClosed = 0;
  let decisions = 0;
  let ticks = 0;
  const run = async (call: () => Promise<DetectResult>, what: string): Promise<void> => {
    const cpu0 = process.cpuUsage();
    const probeMs = probed?.gcCpuMs ?? 0;
    const r = await call();
    const ms = cpuSince(cpu0) - ((probed?.gcCpuMs ?? 0) - probeMs);
    if (r.batchItemFailures.length) throw new Error(`detect failed in the scale run (${what})`);
    cpuPerInvocation.push(ms);
    windowsClosed += r.windowsClosed;
    decisions += r.decisions;
    sample(process.memoryUsage());
    if (r.windowsClosed > 0) {
      for (let i = 0; i < r.windowsClosed; i++) cpuPerClose.push(ms / r.windowsClosed);
      const m = settle();
      liveAfterClose = Math.max(liveAfterClose, m.heapUsed);
      sample(m);
    }
  };
  const tick = async (now: number) => {
    await run(() => stage.tick(now), 'tick');
    ticks++;
  };
  let nextTick = Infinity;
  let last = 0;
  for await (const batch of detectBatches(spec.records, spec.scope)) {
    if (nextTick === Infinity) nextTick = Math.floor(batch.records.length ? batch.arrival / 60_000 : 0) * 60_000 + 60_000;
    for (; nextTick <= batch.arrival; nextTick += 60_000) await tick(nextTick);
    await run(() => stage.handle(batch.records, batch.arrival), 'batch');
    last = batch.arrival;
  }
  // After the traffic the schedule runs on until the last window's time is up (as bench/cost.ts).
  const w = config.windows;
  for (; nextTick <= last + (w.maxDeliveryDelaySeconds + w.sizeSeconds) * 1000 + 60_000; nextTick += 60_000) await tick(nextTick);
  const peakRssMb = Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / MB;

  // What the in-memory DynamoDB held (it is in the figures above; in AWS it is not the Lambda's).
  const withDynamo = settle().heapUsed;
  const bill = { calls: dynamo.totalCalls, writeUnits: dynamo.totalWriteUnits, readUnits: dynamo.totalReadUnits };
  (dynamo as unknown as { tables: Map<string, unknown> }).tables.clear();
  dynamo = null;
  const fakeDynamoMb = (withDynamo - settle().heapUsed) / MB;
  const counters = baselines.counters();
  const sorted = [...cpuPerInvocation].sort((a, b) => a - b);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
  const out: DetectRun = {
    partition: spec.snapshot ? 'month-old' : 'fresh', heapLimitMb: spec.heapLimitMb, outOfMemory: false,
    invocations: cpuPerInvocation.length, ticks, windowsClosed, decisions,
    peakRssMb: Math.round(peakRssMb), peakHeapMb: Math.round(peakHeap / MB), peakExternalMb: Math.round(peakExternal / MB),
    liveHeapAfterCloseMb: Math.round(liveAfterClose / MB), rssAtStartMb: Math.round(atStart / MB), cpuMs: Math.round(sorted.reduce((s, x) => s + x, 0)),
    cpuMsPerWindowClose: { mean: Math.round(mean(cpuPerClose)), max: Math.round(Math.max(0, ...cpuPerClose)) },
    cpuMsPerInvocation: { mean: Math.round(mean(sorted)), p95: Math.round(sorted[Math.floor(0.95 * (sorted.length - 1))] ?? 0), max: Math.round(sorted.at(-1) ?? 0) },
    keysPerClosedWindow, s3: { ...blobs.requests }, dynamoCalls: bill.calls, dynamoWriteUnits: bill.writeUnits, dynamoReadUnits: bill.readUnits,
    fakeDynamoMb: round(fakeDynamoMb), ...(snapshot ? { snapshot } : {}), compactions: counters.baselineCompactions, evicted: counters.baselinesEvicted,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    ...(probed ? { probeLiveHeapMb: probed.live } : {}),
  };
  rmSync(blobDir, { recursive: true, force: true });
  console.log(JSON.stringify(out));
}

const round = (x: number): number => Math.round(x * 10) / 10;

// ------------------------------------------------------------------ main

const [mode, arg] = process.argv.slice(2);
if (mode === 'ingest') await ingestMode(JSON.parse(arg) as IngestSpec);
else if (mode === 'snapshot') snapshotMode(JSON.parse(arg) as SnapshotSpec);
else if (mode === 'detect') await detectMode(JSON.parse(arg) as DetectSpec);
else throw new Error(`scale-child: unknown mode ${mode}`);
