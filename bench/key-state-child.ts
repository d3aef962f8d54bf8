import { MemoryBlobStore } from '../src/adapters/local/memory-blob-store.ts';
import { defaultConfig } from '../src/config.ts';
import { encodeKeyState } from '../src/detect/baseline.ts';
import { Detector, POPULATION_STATE_KEYS, type StateView } from '../src/detect/detector.ts';
import { decodeLine } from '../src/decode/index.ts';
import { Windower } from '../src/features/windower.ts';
import { KeyStateStore } from '../src/pipeline/key-state-store.ts';
import { SnapshotBaselineStore, encodeSnapshot } from '../src/pipeline/snapshot-baseline-store.ts';
import type { KeyState } from '../src/ports.ts';
import type { Scenario } from '../src/simulate/labels.ts';
import { simulateEvents } from '../src/simulate/traffic.ts';
import { windowerOptions } from './ingest.ts';
import { linesOf } from './inputs.ts';
import { syntheticEvents } from './synthetic.ts';

/**
 * Runs in its own process, started with --expose-gc (see memory.ts, keyStateFigure): what a tracked key costs now
 * that keys which showed a sign (a 401/403, a 404, a login POST) carry evidence over ten minutes and an hour.
 *
 * 1. The share of keys that carry slow evidence, measured: each scenario's simulated hour through the Detector,
 *    window by window, with its states in a KeyStateStore as the local runner keeps them; at the end of the hour,
 *    the keys holding evidence over all keys held. Their states (real learned values, real evidence) are kept as pools.
 * 2. The local runner: `keys` states in a KeyStateStore (key names from scoring synthetic windows, as memory-child.ts
 *    does), the largest measured share of them given slow evidence from the pool, the others a state without; heap
 *    plus array buffers after a full GC, per key. The same with no slow evidence gives the marginal cost of a key
 *    that carries some.
 * 3. The detect stage's stored state: the same population as the baseline snapshot the stage writes to S3
 *    (`key<TAB>encodeKeyState` lines: raw, and gzipped as encodeSnapshot writes them), and the heap of a warm
 *    Lambda's cache of it (SnapshotBaselineStore after loading the object), per key.
 *
 * Prints one JSON line. Argument: keys (default 200,000), minutes of each simulated hour (default 60), seed.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const CHUNK_CLIENTS = 100_000;
const KEYS_PER_CLIENT = 1 + 1 / 4 + 1 / 5;
const WINDOW_START = Date.UTC(2026, 10, 2);
const SCENARIOS: Scenario[] = ['mixed', 'low-and-slow'];
const POPULATION = new Set(POPULATION_STATE_KEYS);

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage();
}

const heapOf = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.arrayBuffers;

const storeView = (states: KeyStateStore): StateView => ({ get: (k) => states.get(k), set: (k, s) => { states.set(k, s); } });

interface Harvest {
  scenario: Scenario;
  keys: number;
  withSlow: number;
  share: number;
}

/** One scenario's hour through the detector: the share of keys with slow evidence at its end, and their states. */
function harvest(scenario: Scenario, minutes: number, seed: number, pools: { slow: KeyState[]; plain: KeyState[] }): Harvest {
  const { events, labels } = simulateEvents({ scenario, minutes, seed });
  const w = new Windower(windowerOptions());
  for (const line of linesOf({ events, labels, minutes }, 'apigw-json', seed)) {
    const e = decodeLine(line, 'apigw-json');
    if (typeof e !== 'string') w.add(e);
  }
  const states = new KeyStateStore();
  const detector = new Detector(defaultConfig());
  const view = storeView(states);
  for (const closed of w.closeAll()) detector.assess(closed, view);
  let keys = 0;
  let withSlow = 0;
  for (const [key, s] of states.entries()) {
    if (POPULATION.has(key)) continue;
    keys++;
    if (s.slow) {
      withSlow++;
      pools.slow.push(s);
    } else pools.plain.push(s);
  }
  return { scenario, keys, withSlow, share: withSlow / keys };
}

/** Tracked keys as memory-child.ts makes them: synthetic windows scored by the detector, in chunks. */
function trackedKeys(detector: Detector, clients: number): KeyStateStore {
  const states = new KeyStateStore();
  const view = storeView(states);
  for (let from = 0, n = 0; from < clients; from += CHUNK_CLIENTS, n++) {
    const w = new Windower(windowerOptions());
    syntheticEvents(from, Math.min(clients, from + CHUNK_CLIENTS), WINDOW_START + n * 60_000, (e) => w.add(e));
    for (const closed of w.closeAll()) detector.assess(closed, view);
  }
  for (const key of POPULATION) states.delete(key);
  return states;
}

/**
 * The population: every tracked key given a pooled state (real learned values); every `1/share`-th key one with slow
 * evidence, so exactly round(share × keys) of them carry some, spread evenly over the slots.
 */
function population(detector: Detector, clients: number, share: number, pools: { slow: KeyState[]; plain: KeyState[] }): KeyStateStore {
  const states = trackedKeys(detector, clients);
  let i = 0;
  let slow = 0;
  for (const key of [...states.keys()]) {
    i++;
    const wantSlow = Math.round(i * share) > slow;
    if (wantSlow) slow++;
    const pool = wantSlow ? pools.slow : pools.plain;
    const s = pool[i % pool.length];
    states.set(key, { ...s, lastWindow: s.lastWindow + (i % 7) * 60_000 });
  }
  return states;
}

interface SnapshotBytes {
  raw: number;
  gzip: number;
  rawWithSlow: number;
  rawWithout: number;
}

function snapshotBytes(states: KeyStateStore): { bytes: SnapshotBytes; body: Uint8Array } {
  const entries: [string, string][] = [];
  let raw = 0;
  let rawSlow = 0;
  let nSlow = 0;
  for (const [key, s] of states.entries()) {
    const enc = encodeKeyState(s);
    entries.push([key, enc]);
    const line = Buffer.byteLength(key) + 1 + Buffer.byteLength(enc) + 1;
    raw += line;
    if (s.slow) {
      rawSlow += line;
      nSlow++;
    }
  }
  // In arrival order, as a snapshot holds them: synthetic keys were made in sequence, and neighbouring near-identical
  // names would gzip better than a real shard's do.
  const body = encodeSnapshot(shuffled(entries));
  const n = entries.length;
  return {
    bytes: { raw: raw / n, gzip: body.byteLength / n, rawWithSlow: nSlow ? rawSlow / nSlow : 0,
      rawWithout: n > nSlow ? (raw - rawSlow) / (n - nSlow) : 0 },
    body,
  };
}

/** A deterministic Fisher–Yates shuffle (mulberry32). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let a = 0x9e3779b9;
  const next = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Heap per key of a warm detect Lambda's snapshot cache: a SnapshotBaselineStore that has loaded the base object. */
async function warmCacheBytesPerKey(body: Uint8Array, keys: number, firstKey: string): Promise<number> {
  const blobs = new MemoryBlobStore();
  await blobs.put('base/shard', body);
  const before = heapOf(settle());
  const store = new SnapshotBaselineStore(blobs);
  await store.getMany([firstKey], 'shard');
  const after = heapOf(settle());
  const perKey = (after - before) / keys;
  // Keep the store reachable until measured.
  return store.corrupt === 0 ? perKey : NaN;
}

async function main(): Promise<void> {
  const targetKeys = Number(process.argv[2] ?? 200_000);
  const minutes = Number(process.argv[3] ?? 60);
  const seed = Number(process.argv[4] ?? 1);
  const started = process.hrtime.bigint();
  const pools = { slow: [] as KeyState[], plain: [] as KeyState[] };
  const shares = SCENARIOS.map((s) => harvest(s, minutes, seed, pools));
  const share = Math.max(...shares.map((h) => h.share));
  const clients = Math.ceil(targetKeys / KEYS_PER_CLIENT);
  const detector = new Detector(defaultConfig());
  trackedKeys(detector, 2_000); // warm-up: compiled code and caches are not per-key state

  const measure = (s: number): { keys: number; withSlow: number; bytesPerKey: number; states: KeyStateStore } => {
    const base = heapOf(settle());
    const states = population(detector, clients, s, pools);
    const bytes = heapOf(settle()) - base;
    let withSlow = 0;
    for (const [, st] of states.entries()) if (st.slow) withSlow++;
    return { keys: states.size, withSlow, bytesPerKey: bytes / states.size, states };
  };
  const none = measure(0);
  const noneBytes = none.bytesPerKey;
  none.states = new KeyStateStore(); // dropped before the next measurement
  const real = measure(share);
  const marginal = real.withSlow > 0 ? (real.bytesPerKey - noneBytes) * real.keys / real.withSlow : 0;
  const snap = snapshotBytes(real.states);
  const firstKey = real.states.keys().next().value!;
  const keys = real.keys;
  real.states = new KeyStateStore();
  const warmCache = await warmCacheBytesPerKey(snap.body, keys, firstKey);
  console.log(JSON.stringify({
    keys, share, withSlow: real.withSlow, shares,
    localBytesPerKey: Math.round(real.bytesPerKey),
    localBytesPerKeyWithoutSlow: Math.round(noneBytes),
    marginalBytesPerSlowKey: Math.round(marginal),
    snapshot: {
      rawBytesPerKey: Math.round(snap.bytes.raw), gzipBytesPerKey: Math.round(snap.bytes.gzip),
      rawBytesPerKeyWithSlow: Math.round(snap.bytes.rawWithSlow), rawBytesPerKeyWithout: Math.round(snap.bytes.rawWithout),
      warmCacheBytesPerKey: Math.round(warmCache),
    },
    seconds: Math.round(Number(process.hrtime.bigint() - started) / 1e8) / 10,
  }));
}

await main();
