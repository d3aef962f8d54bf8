import type { ScopeProgress, WindowStore } from '../ports-window.ts';
import { BadSummaryError, chunkPartIds, decodeChunk, encodeChunk, type SummaryPart } from './wire.ts';

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
  read(scope: string, windowStart: number): Promise<{ chunks: { chunkId: string; parts: SummaryPart[] }[]; damaged: number; damagedIds?: string[] }>;
  /**
   * The same chunks, each decoded only when its `parts()` is called (a store of encoded bodies), so a window can be
   * merged a chunk at a time in bounded memory; `ids` are its parts' ids, read without decoding them. A damaged chunk
   * is there too (so it is dropped with its window), its `parts()` throwing BadSummaryError.
   */
  readLazily?(scope: string, windowStart: number): Promise<LazyChunk[]>;
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

/** A stored chunk whose parts are decoded on demand (see PartStore.readLazily). */
export interface LazyChunk {
  chunkId: string;
  /** Its parts' ids, in order (fewer than its parts if one was written with escapes: then read it whole). */
  ids: string[];
  /** Decodes the parts (again on every call); throws BadSummaryError for a damaged chunk. */
  parts(): SummaryPart[];
}

/** A chunk that cannot be read: it holds no part anyone can count, and is dropped with its window. */
export function damagedChunk(chunkId: string): LazyChunk {
  return { chunkId, ids: [], parts: () => { throw new BadSummaryError('damaged window chunk'); } };
}

/**
 * Chunks already decoded (the in-memory store's, or a whole read) as lazy ones, their ids taken from the parts: the
 * same merge then runs on every store. Damaged chunks the store names come along (counted, and dropped); any it only
 * counts are returned apart.
 */
export function asLazy(r: { chunks: { chunkId: string; parts: SummaryPart[] }[]; damaged: number; damagedIds?: string[] }): { chunks: LazyChunk[]; unnamedDamaged: number } {
  const chunks: LazyChunk[] = r.chunks.map((c) => ({ chunkId: c.chunkId, ids: c.parts.map((p) => p.id), parts: () => c.parts }));
  for (const id of r.damagedIds ?? []) chunks.push(damagedChunk(id));
  return { chunks, unnamedDamaged: r.damaged - (r.damagedIds?.length ?? 0) };
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

  async read(scope: string, windowStart: number): Promise<{ chunks: { chunkId: string; parts: SummaryPart[] }[]; damaged: number; damagedIds: string[] }> {
    const chunks: { chunkId: string; parts: SummaryPart[] }[] = [];
    const damagedIds: string[] = [];
    for (const { partId, body } of await this.store.read(scope, windowStart)) {
      try {
        chunks.push({ chunkId: partId, parts: decodeChunk(body) });
      } catch (err) {
        if (!(err instanceof BadSummaryError)) throw err;
        damagedIds.push(partId);
      }
    }
    return { chunks, damaged: damagedIds.length, damagedIds };
  }

  async readLazily(scope: string, windowStart: number): Promise<LazyChunk[]> {
    const chunks: LazyChunk[] = [];
    for (const { partId, body } of await this.store.read(scope, windowStart)) {
      let ids: string[];
      try {
        ids = chunkPartIds(body);
      } catch (err) {
        if (!(err instanceof BadSummaryError)) throw err;
        chunks.push(damagedChunk(partId));
        continue;
      }
      chunks.push({ chunkId: partId, ids, parts: () => decodeChunk(body) });
    }
    return chunks;
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
