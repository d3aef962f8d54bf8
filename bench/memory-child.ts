import { defaultConfig } from '../src/config.ts';
import { Detector, type StateView } from '../src/detect/detector.ts';
import { Windower } from '../src/features/windower.ts';
import type { KeyState } from '../src/ports.ts';
import { KeyStateStore } from '../src/pipeline/key-state-store.ts';
import { windowerOptions } from './ingest.ts';
import { syntheticEvents } from './synthetic.ts';

/**
 * Runs in its own process, started with --expose-gc (see memory.ts): builds the detect stage's per-key state for
 * about `keys` distinct keys by scoring synthetic windows exactly as the local pipeline does, and prints what it
 * costs per key after a full GC. Keys arrive in windows of at most CHUNK_CLIENTS clients, as a long run sees them.
 *
 * The work is done inside functions on purpose: a top-level loop leaves its last iterator in a live register of
 * the module frame, which would keep a whole closed window reachable and count it as per-key state.
 */
const CHUNK_CLIENTS = 100_000;
/** Tracked keys per client of the synthetic mix: the IP, a quarter of a /24, a fifth of a principal. */
const KEYS_PER_CLIENT = 1 + 1 / 4 + 1 / 5;
const WINDOW_START = Date.UTC(2026, 10, 2);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage();
}

function openWindow(from: number, to: number, n: number): Windower {
  const w = new Windower(windowerOptions());
  syntheticEvents(from, to, WINDOW_START + n * 60_000, (e) => w.add(e));
  return w;
}

function scoreWindows(detector: Detector, w: Windower, view: StateView): void {
  for (const closed of w.closeAll()) detector.assess(closed, view);
}

/** Heap per key of one open window (what a window costs until it closes). */
function openWindowBytesPerKey(clients: number, base: number): number {
  const w = openWindow(0, Math.min(clients, CHUNK_CLIENTS), 0);
  const perKey = (settle().heapUsed - base) / w.openKeys;
  return w.openKeys > 0 ? perKey : 0;
}

/** The states as the local pipeline keeps them (KeyStateStore), built by scoring windows. */
function buildStates(detector: Detector, clients: number): KeyStateStore {
  const states = new KeyStateStore();
  const view: StateView = { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); } };
  for (let from = 0, n = 0; from < clients; from += CHUNK_CLIENTS, n++) {
    scoreWindows(detector, openWindow(from, Math.min(clients, from + CHUNK_CLIENTS), n), view);
  }
  return states;
}

/** For comparison: the same states as a Map of KeyState objects (what the pipeline kept before). */
function toObjectMap(states: KeyStateStore): Map<string, KeyState> {
  return new Map([...states.entries()]);
}

function main(): void {
  const clients = Math.ceil(Number(process.argv[2]) / KEYS_PER_CLIENT);
  const detector = new Detector(defaultConfig());
  toObjectMap(buildStates(detector, 2_000)); // warm-up: compiled code and caches are not per-key state
  const before = settle();
  const windowBytes = openWindowBytesPerKey(clients, before.heapUsed);
  const base = settle();
  let states: KeyStateStore | null = buildStates(detector, clients);
  const withStore = settle();
  const keys = states.size;
  const objects = toObjectMap(states);
  states = null;
  const withObjects = settle();
  console.log(JSON.stringify({
    keys,
    heapBytesPerKey: Math.round((withStore.heapUsed + withStore.arrayBuffers - base.heapUsed - base.arrayBuffers) / keys),
    rssBytesPerKey: Math.round((withStore.rss - base.rss) / keys),
    objectMapHeapBytesPerKey: Math.round((withObjects.heapUsed - base.heapUsed) / objects.size),
    openWindowBytesPerKey: Math.round(windowBytes),
    peakRss: process.resourceUsage().maxRSS * 1024,
  }));
}

main();
