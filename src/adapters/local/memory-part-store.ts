import type { PartChunk, PartStore } from '../../engine/part-store.ts';
import type { SummaryPart } from '../../engine/wire.ts';
import type { ScopeProgress } from '../../ports-window.ts';
import { MemoryWindowStore } from './memory-window-store.ts';

/**
 * The local runner's {@link PartStore}: parts stay objects (nothing to bill, nothing to encode). Watermarks, scopes
 * and progress are the in-memory window store's, the same contract as DynamoDB's.
 */
export class MemoryPartStore implements PartStore {
  private readonly windows = new Map<string, Map<number, Map<string, SummaryPart[]>>>();
  private readonly book = new MemoryWindowStore();

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

  getWatermark(scope: string): Promise<number> {
    return this.book.getWatermark(scope);
  }
  setWatermark(scope: string, t: number): Promise<void> {
    return this.book.setWatermark(scope, t);
  }
  scopes(): Promise<string[]> {
    return this.book.scopes();
  }
  registerScope(scope: string): Promise<void> {
    return this.book.registerScope(scope);
  }
  unregisterScope(scope: string): Promise<void> {
    return this.book.unregisterScope(scope);
  }
  progress(scope: string): Promise<ScopeProgress | undefined> {
    return this.book.progress(scope);
  }
  setProgress(scope: string, progress: ScopeProgress): Promise<void> {
    return this.book.setProgress(scope, progress);
  }
}
