import type { ScopeProgress, WindowPart, WindowStore } from '../../ports-window.ts';

/** In-memory {@link WindowStore}: the same contract as the DynamoDB one, for the local runner and tests. */
export class MemoryWindowStore implements WindowStore {
  /** scope → windowStart → partId → body */
  private readonly windows = new Map<string, Map<number, Map<string, string>>>();
  private readonly marks = new Map<string, number>();

  async add(scope: string, parts: WindowPart[]): Promise<void> {
    if (parts.length === 0) return;
    let byWindow = this.windows.get(scope);
    if (!byWindow) this.windows.set(scope, (byWindow = new Map()));
    for (const p of parts) {
      checkWindowStart(p.windowStart);
      let window = byWindow.get(p.windowStart);
      if (!window) byWindow.set(p.windowStart, (window = new Map()));
      window.set(p.partId, p.body);
    }
  }

  async openWindows(scope: string): Promise<number[]> {
    return [...(this.windows.get(scope)?.keys() ?? [])].sort((a, b) => a - b);
  }

  async read(scope: string, windowStart: number): Promise<{ partId: string; body: string }[]> {
    const window = this.windows.get(scope)?.get(windowStart);
    if (!window) return [];
    return [...window]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([partId, body]) => ({ partId, body }));
  }

  async drop(scope: string, windowStart: number, partIds?: readonly string[]): Promise<void> {
    const window = this.windows.get(scope)?.get(windowStart);
    if (window && partIds) {
      for (const id of partIds) window.delete(id);
      if (window.size) return;
    }
    this.windows.get(scope)?.delete(windowStart);
  }

  private readonly known = new Set<string>();
  private readonly progresses = new Map<string, ScopeProgress>();

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
    return p && { sequence: p.sequence, sources: { ...p.sources }, seenAt: { ...p.seenAt }, pieces: copyPieces(p.pieces),
      ...(p.watermark === undefined ? {} : { watermark: p.watermark }), ...(p.freshest === undefined ? {} : { freshest: { ...p.freshest } }) };
  }

  async setProgress(scope: string, progress: ScopeProgress): Promise<void> {
    this.progresses.set(scope, { sequence: progress.sequence, sources: { ...progress.sources }, seenAt: { ...progress.seenAt },
      pieces: copyPieces(progress.pieces), ...(progress.watermark === undefined ? {} : { watermark: progress.watermark }),
      ...(progress.freshest === undefined ? {} : { freshest: { ...progress.freshest } }) });
  }

  async getWatermark(scope: string): Promise<number> {
    return this.marks.get(scope) ?? 0;
  }

  async setWatermark(scope: string, t: number): Promise<void> {
    if (!Number.isFinite(t)) throw new RangeError(`watermark must be a finite number, got ${t}`);
    if (t > (this.marks.get(scope) ?? 0)) this.marks.set(scope, t);
  }
}

function checkWindowStart(t: number): void {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`windowStart must be a non-negative integer (epoch ms), got ${t}`);
}

function copyPieces(pieces: Record<string, string[]> | undefined): Record<string, string[]> {
  return Object.fromEntries(Object.entries(pieces ?? {}).map(([k, v]) => [k, [...v]]));
}
