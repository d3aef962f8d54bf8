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
