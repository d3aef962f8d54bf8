import type { KeyState } from '../src/ports.ts';

/**
 * A prototype of a compact per-key state store for the detect stage, measured beside the Map<string, KeyState>
 * the local pipeline keeps today (bench only: the pipeline is not changed here). The eight numbers of each key
 * live in one shared Float64Array (64 bytes a key) instead of an object with six boxed doubles (about 184 bytes
 * a key on 64-bit Node without pointer compression). The KeyState port type is untouched: `get` hands out a
 * fresh KeyState and `set` copies it back, which is how the Detector already uses a StateView (it always calls
 * `set` after changing a state).
 */
const FIELDS = 8;

export class CompactKeyStates {
  private readonly index = new Map<string, number>();
  private cols = new Float64Array(1024 * FIELDS);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): KeyState | undefined {
    const i = this.index.get(key);
    if (i === undefined) return undefined;
    const c = this.cols;
    const o = i * FIELDS;
    return { reqMean: c[o], reqVar: c[o + 1], bytesMean: c[o + 2], bytesVar: c[o + 3], ipsMean: c[o + 4],
      windows: c[o + 5], flags: c[o + 6], lastWindow: c[o + 7] };
  }

  set(key: string, s: KeyState): void {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.count++;
      if (this.count * FIELDS > this.cols.length) this.grow();
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
  }

  /** Exact size for the measurement (a real store would grow by half and reuse evicted slots). */
  trim(): void {
    this.cols = this.cols.slice(0, this.count * FIELDS);
  }

  private grow(): void {
    const next = new Float64Array(this.cols.length * 2);
    next.set(this.cols);
    this.cols = next;
  }
}
