import { SLOW_EVIDENCE_LENGTH, type SlowEvidence } from '../detect/horizons.ts';
import type { KeyState } from '../ports.ts';

const FIELDS = 8;

/**
 * The per-key states the local pipeline keeps in memory, packed: the eight numbers of each key live in one shared
 * Float64Array (64 bytes a key) instead of an object of boxed doubles (about 184 bytes), which is what keeps a
 * long run with millions of keys within the memory budget. `get` hands out a fresh KeyState and `set` copies it
 * back, which is how the Detector uses a StateView (it always calls `set` after changing a state). Slots of
 * deleted keys are reused.
 */
export class KeyStateStore {
  private readonly index = new Map<string, number>();
  /**
   * Slow evidence, for the few keys that carry any (see src/detect/horizons.ts): key slot → slot in a packed column
   * of SLOW_EVIDENCE_LENGTH numbers each (an array per key would cost half as much again), -1 for none. An array beside
   * the key slots, not a Map: every get asks it (4 bytes a key).
   */
  private slowAt = new Int32Array(1024).fill(-1);
  private readonly slowFree: number[] = [];
  private slowCols = new Float64Array(256 * SLOW_EVIDENCE_LENGTH);
  private slowUsed = 0;
  private readonly free: number[] = [];
  private cols = new Float64Array(1024 * FIELDS);
  private used = 0;

  get size(): number {
    return this.index.size;
  }

  get(key: string): KeyState | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.read(i);
  }

  set(key: string, s: KeyState): void {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.free.pop() ?? this.used++;
      if (this.used * FIELDS > this.cols.length) this.grow();
      this.index.set(key, i);
    }
    const c = this.cols;
    const o = i * FIELDS;
    c[o] = s.reqMean;
    c[o + 1] = s.reqVar;
    c[o + 2] = s.bytesMean;
    c[o + 3] = s.bytesVar;
    c[o + 4] = s.ipsMean;
    c[o + 5] = s.windows;
    c[o + 6] = s.flags;
    c[o + 7] = s.lastWindow;
    if (s.slow) this.writeSlow(i, s.slow);
    else this.dropSlow(i);
  }

  delete(key: string): void {
    const i = this.index.get(key);
    if (i === undefined) return;
    this.index.delete(key);
    this.dropSlow(i);
    this.free.push(i);
  }

  /** Keys last seen in a window before `cutoff`, in one pass over the slots (idle eviction; no lookup per key). */
  keysIdleBefore(cutoff: number): string[] {
    const idle: string[] = [];
    const c = this.cols;
    this.index.forEach((i, key) => {
      if (c[i * FIELDS + 7] < cutoff) idle.push(key);
    });
    return idle;
  }

  *entries(): IterableIterator<[string, KeyState]> {
    for (const [key, i] of this.index) yield [key, this.read(i)];
  }

  keys(): IterableIterator<string> {
    return this.index.keys();
  }

  private read(i: number): KeyState {
    const c = this.cols;
    const o = i * FIELDS;
    const state: KeyState = { reqMean: c[o], reqVar: c[o + 1], bytesMean: c[o + 2], bytesVar: c[o + 3], ipsMean: c[o + 4],
      windows: c[o + 5], flags: c[o + 6], lastWindow: c[o + 7] };
    const j = this.slowAt[i];
    if (j >= 0) state.slow = Array.from(this.slowCols.subarray(j * SLOW_EVIDENCE_LENGTH, (j + 1) * SLOW_EVIDENCE_LENGTH));
    return state;
  }

  private writeSlow(i: number, e: SlowEvidence): void {
    let j = this.slowAt[i];
    if (j < 0) {
      j = this.slowFree.pop() ?? this.slowUsed++;
      if (this.slowUsed * SLOW_EVIDENCE_LENGTH > this.slowCols.length) {
        const next = new Float64Array(Math.ceil(this.slowCols.length * 1.5 / SLOW_EVIDENCE_LENGTH) * SLOW_EVIDENCE_LENGTH);
        next.set(this.slowCols);
        this.slowCols = next;
      }
      this.slowAt[i] = j;
    }
    this.slowCols.set(e, j * SLOW_EVIDENCE_LENGTH);
  }

  private dropSlow(i: number): void {
    const j = this.slowAt[i];
    if (j < 0) return;
    this.slowAt[i] = -1;
    this.slowFree.push(j);
  }

  private grow(): void {
    const next = new Float64Array(Math.ceil((this.cols.length * 1.5) / FIELDS) * FIELDS);
    next.set(this.cols);
    this.cols = next;
    const slowAt = new Int32Array(next.length / FIELDS).fill(-1);
    slowAt.set(this.slowAt);
    this.slowAt = slowAt;
  }
}
