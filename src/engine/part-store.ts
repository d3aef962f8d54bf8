import type { ScopeProgress, WindowStore } from '../ports-window.ts';
import { BadSummaryError, decodeChunk, encodeChunk, type SummaryPart } from './wire.ts';

/** Parts of one open window stored together (one chunk per detect invocation and window). */
export interface PartChunk {
  windowStart: number;
  chunkId: string;
  parts: SummaryPart[];
}

/**
 * What the detect stage keeps for open windows, typed: the scope's chunks of parts, its watermark, its progress.
 * In AWS it is {@link EncodedPartStore} over the DynamoDB window store (chunks as gzip'd wire documents); locally the
 * parts stay objects in memory.
 */
export interface PartStore {
  add(scope: string, chunks: PartChunk[]): Promise<void>;
  openWindows(scope: string): Promise<number[]>;
  /** The window's chunks; `damaged` counts those that could not be read (skipped: data lost, counted). */
  read(scope: string, windowStart: number): Promise<{ chunks: { chunkId: string; parts: SummaryPart[] }[]; damaged: number }>;
  /** Deletes the chunks that were read (`chunkIds`; all when absent): one written since stays and reopens the window. */
  drop(scope: string, windowStart: number, chunkIds?: readonly string[]): Promise<void>;
  getWatermark(scope: string): Promise<number>;
  setWatermark(scope: string, t: number): Promise<void>;
  scopes(): Promise<string[]>;
  registerScope(scope: string): Promise<void>;
  unregisterScope(scope: string): Promise<void>;
  progress(scope: string): Promise<ScopeProgress | undefined>;
  setProgress(scope: string, progress: ScopeProgress): Promise<void>;
  counters?(): Record<string, number>;
}

/** Stored chunks stay well under DynamoDB's 400 KB item limit (base64 of gzip'd JSON). */
const MAX_CHUNK_CHARS = 300 * 1024;

/** A {@link PartStore} over a {@link WindowStore} of encoded bodies (the wire codec's chunk documents). */
export class EncodedPartStore implements PartStore {
  constructor(readonly store: WindowStore) {}

  async add(scope: string, chunks: PartChunk[]): Promise<void> {
    const parts = chunks.flatMap((c) => encodeSplit(c.parts).map((body, i) => ({ windowStart: c.windowStart, partId: i ? `${c.chunkId}.${i}` : c.chunkId, body })));
    if (parts.length) await this.store.add(scope, parts);
  }

  openWindows(scope: string): Promise<number[]> {
    return this.store.openWindows(scope);
  }

  async read(scope: string, windowStart: number): Promise<{ chunks: { chunkId: string; parts: SummaryPart[] }[]; damaged: number }> {
    const chunks: { chunkId: string; parts: SummaryPart[] }[] = [];
    let damaged = 0;
    for (const { partId, body } of await this.store.read(scope, windowStart)) {
      try {
        chunks.push({ chunkId: partId, parts: decodeChunk(body) });
      } catch (err) {
        if (!(err instanceof BadSummaryError)) throw err;
        damaged++;
      }
    }
    return { chunks, damaged };
  }

  drop(scope: string, windowStart: number, chunkIds?: readonly string[]): Promise<void> {
    return this.store.drop(scope, windowStart, chunkIds);
  }
  getWatermark(scope: string): Promise<number> {
    return this.store.getWatermark(scope);
  }
  setWatermark(scope: string, t: number): Promise<void> {
    return this.store.setWatermark(scope, t);
  }
  scopes(): Promise<string[]> {
    return this.store.scopes();
  }
  unregisterScope(scope: string): Promise<void> {
    return this.store.unregisterScope(scope);
  }
  registerScope(scope: string): Promise<void> {
    return this.store.registerScope(scope);
  }
  progress(scope: string): Promise<ScopeProgress | undefined> {
    return this.store.progress(scope);
  }
  setProgress(scope: string, progress: ScopeProgress): Promise<void> {
    return this.store.setProgress(scope, progress);
  }
  counters(): Record<string, number> {
    return this.store.counters?.() ?? {};
  }
}

/** A chunk as one or more bodies under the item budget (halved until each fits). */
function encodeSplit(parts: SummaryPart[]): string[] {
  const out: string[] = [];
  const pending = [parts];
  while (pending.length) {
    const list = pending.shift()!;
    const body = encodeChunk(list);
    if (body.length > MAX_CHUNK_CHARS && list.length > 1) {
      const half = Math.ceil(list.length / 2);
      pending.unshift(list.slice(0, half), list.slice(half));
      continue;
    }
    out.push(body);
  }
  return out;
}

/** The local runner's {@link PartStore}: parts stay objects (nothing to bill, nothing to encode). */
export class MemoryPartStore implements PartStore {
  /** What is held now: open windows (over all scopes) and the distinct keys in their parts (memory checks). */
  held(): { openWindows: number; openKeys: number } {
    let openWindows = 0;
    let openKeys = 0;
    for (const byWindow of this.windows.values()) {
      for (const chunks of byWindow.values()) {
        openWindows++;
        const keys = new Set<string>();
        for (const parts of chunks.values()) {
          for (const part of parts) {
            for (const [k] of part.i) keys.add(`i${k}`);
            for (const [k] of part.p) keys.add(`p${k}`);
            for (const [k] of part.u) keys.add(`u${k}`);
          }
        }
        openKeys += keys.size;
      }
    }
    return { openWindows, openKeys };
  }

  private readonly windows = new Map<string, Map<number, Map<string, SummaryPart[]>>>();
  private readonly marks = new Map<string, number>();
  private readonly known = new Set<string>();
  private readonly progresses = new Map<string, ScopeProgress>();

  async add(scope: string, chunks: PartChunk[]): Promise<void> {
    let byWindow = this.windows.get(scope);
    if (!byWindow) this.windows.set(scope, (byWindow = new Map()));
    for (const c of chunks) {
      let w = byWindow.get(c.windowStart);
      if (!w) byWindow.set(c.windowStart, (w = new Map()));
      w.set(c.chunkId, c.parts);
    }
  }
  async openWindows(scope: string): Promise<number[]> {
    return [...(this.windows.get(scope)?.keys() ?? [])].sort((a, b) => a - b);
  }
  async read(scope: string, windowStart: number): Promise<{ chunks: { chunkId: string; parts: SummaryPart[] }[]; damaged: number }> {
    const w = this.windows.get(scope)?.get(windowStart);
    return { chunks: w ? [...w].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([chunkId, parts]) => ({ chunkId, parts })) : [], damaged: 0 };
  }
  async drop(scope: string, windowStart: number, chunkIds?: readonly string[]): Promise<void> {
    const w = this.windows.get(scope)?.get(windowStart);
    if (w && chunkIds) {
      for (const id of chunkIds) w.delete(id);
      if (w.size) return;
    }
    this.windows.get(scope)?.delete(windowStart);
  }
  async getWatermark(scope: string): Promise<number> {
    return this.marks.get(scope) ?? 0;
  }
  async setWatermark(scope: string, t: number): Promise<void> {
    if (!Number.isFinite(t)) throw new RangeError(`watermark must be a finite number, got ${t}`);
    if (t > (this.marks.get(scope) ?? 0)) this.marks.set(scope, t);
  }
  async scopes(): Promise<string[]> {
    return [...this.known].sort();
  }
  async unregisterScope(scope: string): Promise<void> {
    this.known.delete(scope);
  }
  async registerScope(scope: string): Promise<void> {
    this.known.add(scope);
  }
  async progress(scope: string): Promise<ScopeProgress | undefined> {
    const p = this.progresses.get(scope);
    return p && { sequence: p.sequence, sources: { ...p.sources } };
  }
  async setProgress(scope: string, progress: ScopeProgress): Promise<void> {
    this.progresses.set(scope, { sequence: progress.sequence, sources: { ...progress.sources } });
  }
}
