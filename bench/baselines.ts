import { SnapshotBaselineStore } from '../src/pipeline/snapshot-baseline-store.ts';
import type { KeyState } from '../src/ports.ts';
import { CountingBlobStore } from './counting-blobs.ts';
import { cpuSince } from './timing.ts';

/**
 * The detect stage's baseline snapshots at the size a long-running shard reaches (a month of distinct clients,
 * up to the store's 1 M-key cap), which a 20-minute cost run never does: the CPU of a window's write (only the
 * delta of its active keys), of a compaction (the whole base), and of a cold start's load, and the objects' sizes.
 */
export interface BaselineFigure {
  keys: number;
  activePerWindow: number;
  baseBytes: number;
  warmWindowMs: number;
  compactionMs: number;
  windowsPerCompaction: number;
  coldLoadMs: number;
  /** CPU per window averaged over a compaction cycle. */
  amortizedWindowMs: number;
}

const MIN = 60_000;

function syntheticState(i: number, window: number): KeyState {
  // Deterministic, with the spread of real learned values (17-digit doubles compress as badly as real ones).
  const x = Math.sin(i * 12.9898 + window) * 43758.5453;
  const f = x - Math.floor(x);
  return { reqMean: 1 + 3 * f, reqVar: f / 2, bytesMean: 6 + 4 * f, bytesVar: f / 3, ipsMean: 1, windows: 1 + (i % 60), flags: 0,
    lastWindow: 1_790_000_000_000 + window * MIN };
}

export async function baselineFigure(keys: number, activePerWindow: number): Promise<BaselineFigure> {
  const blobs = new CountingBlobStore();
  const store = new SnapshotBaselineStore(blobs);
  const key = (i: number) => `i:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const all = new Map<string, KeyState>();
  for (let i = 0; i < keys; i++) all.set(key(i), syntheticState(i, 0));
  await store.putMany(all, 's'); // the base, as a compaction writes it
  const baseBytes = blobs.objects.get('base/s')?.body.byteLength ?? 0;
  let windows = 0;
  let warmMs = 0;
  let compactionMs = 0;
  const compactionsBefore = store.compactions;
  // Windows of distinct active keys until the delta is compacted into the base once.
  for (let w = 1; store.compactions === compactionsBefore; w++) {
    const active = new Map<string, KeyState>();
    for (let j = 0; j < activePerWindow; j++) {
      const i = (w * activePerWindow + j) % keys;
      active.set(key(i), syntheticState(i, w));
    }
    const cpu0 = process.cpuUsage();
    await store.getMany([...active.keys()], 's');
    await store.putMany(active, 's');
    const ms = cpuSince(cpu0);
    windows++;
    if (store.compactions === compactionsBefore) warmMs += ms;
    else compactionMs = ms;
  }
  const cpu0 = process.cpuUsage();
  await new SnapshotBaselineStore(blobs).getMany([key(0)], 's');
  const coldLoadMs = cpuSince(cpu0);
  const warmWindows = Math.max(1, windows - 1);
  return {
    keys, activePerWindow, baseBytes, warmWindowMs: Math.round(warmMs / warmWindows), compactionMs: Math.round(compactionMs),
    windowsPerCompaction: windows, coldLoadMs: Math.round(coldLoadMs), amortizedWindowMs: Math.round((warmMs + compactionMs) / windows),
  };
}
