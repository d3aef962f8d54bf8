import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Memory per tracked key in the detect stage. Measured in a child process started with --expose-gc, so the
 * figure comes from a heap after a full collection, and the parent's inputs do not count.
 */
export interface MemoryFigure {
  keys: number;
  /** Heap (and array buffers) per key of the KeyStateStore the local pipeline keeps between windows. */
  heapBytesPerKey: number;
  rssBytesPerKey: number;
  /** For comparison: the same states as a Map of KeyState objects (the pipeline's store before KeyStateStore). */
  objectMapHeapBytesPerKey: number;
  /** Heap per key while its window is open (KeyWindow: counters, distinct sets, samples), first window only. */
  openWindowBytesPerKey: number;
  peakRssMb: number;
}

export function memoryFigure(keys: number): MemoryFigure {
  const child = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import', 'tsx', child, String(keys)],
    { encoding: 'utf8', maxBuffer: 1 << 20 });
  const r = JSON.parse(out.trim().split('\n').pop()!) as Omit<MemoryFigure, 'peakRssMb'> & { peakRss: number };
  return { keys: r.keys, heapBytesPerKey: r.heapBytesPerKey, rssBytesPerKey: r.rssBytesPerKey,
    objectMapHeapBytesPerKey: r.objectMapHeapBytesPerKey, openWindowBytesPerKey: r.openWindowBytesPerKey,
    peakRssMb: Math.round(r.peakRss / (1 << 20)) };
}

/** A scenario's simulated hour through the detector: keys held at its end, and how many carry slow evidence. */
export interface SlowShare {
  scenario: string;
  keys: number;
  withSlow: number;
  share: number;
}

/**
 * What a tracked key costs with evidence over time (src/detect/horizons.ts), for a population whose share of keys
 * carrying slow evidence is the one measured on simulated hours (see key-state-child.ts): in the local runner's
 * memory, and in the detect stage's stored state.
 */
export interface KeyStateFigure {
  keys: number;
  /** The share of keys given slow evidence: the largest of `shares`. */
  share: number;
  withSlow: number;
  shares: SlowShare[];
  /** KeyStateStore, heap plus array buffers after GC, per key. */
  localBytesPerKey: number;
  localBytesPerKeyWithoutSlow: number;
  /** What one key carrying slow evidence adds (its array and its entry in the store's sparse map). */
  marginalBytesPerSlowKey: number;
  snapshot: {
    /** `key<TAB>encodeKeyState` lines, per key, uncompressed and as encodeSnapshot gzips them. */
    rawBytesPerKey: number;
    gzipBytesPerKey: number;
    rawBytesPerKeyWithSlow: number;
    rawBytesPerKeyWithout: number;
    /** Heap of a warm detect Lambda's cache of the loaded snapshot (SnapshotBaselineStore), per key. */
    warmCacheBytesPerKey: number;
  };
  seconds: number;
}

export function keyStateFigure(keys: number, minutes: number, seed: number): KeyStateFigure {
  const child = fileURLToPath(new URL('./key-state-child.ts', import.meta.url));
  const out = execFileSync(process.execPath,
    ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', child, String(keys), String(minutes), String(seed)],
    { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as KeyStateFigure;
}
