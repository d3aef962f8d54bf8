import { MemoryWindowStore } from '../src/adapters/local/memory-window-store.ts';
import type { BaselineStore, KeyState, LedgerEntry, LedgerStore } from '../src/ports.ts';
import type { WindowPart, WindowStore } from '../src/ports-window.ts';

/**
 * In-memory stores for the detect stage that count what crosses each port: how many keys are read and written,
 * how many window parts and bytes are stored. They carry no per-call cost of their own, so timing runDetect
 * over them gives the stage's own CPU time.
 */
export interface PortCounts {
  baselineGets: number;
  baselineKeysRead: number;
  baselinePuts: number;
  baselineKeysWritten: number;
  ledgerPuts: number;
  ledgerReads: number;
  windowPartsStored: number;
  windowPartBytes: number;
  windowReads: number;
}

export const emptyCounts = (): PortCounts => ({
  baselineGets: 0, baselineKeysRead: 0, baselinePuts: 0, baselineKeysWritten: 0, ledgerPuts: 0, ledgerReads: 0,
  windowPartsStored: 0, windowPartBytes: 0, windowReads: 0,
});

export class CountingBaselineStore implements BaselineStore {
  private readonly states = new Map<string, KeyState>();
  constructor(private readonly counts: PortCounts) {}

  async getMany(keys: readonly string[]): Promise<Map<string, KeyState>> {
    this.counts.baselineGets++;
    this.counts.baselineKeysRead += keys.length;
    const out = new Map<string, KeyState>();
    for (const k of keys) {
      const s = this.states.get(k);
      if (s) out.set(k, { ...s });
    }
    return out;
  }

  async putMany(states: ReadonlyMap<string, KeyState>): Promise<void> {
    this.counts.baselinePuts++;
    this.counts.baselineKeysWritten += states.size;
    for (const [k, s] of states) this.states.set(k, { ...s });
  }
}

export class CountingLedgerStore implements LedgerStore {
  private readonly entries = new Map<string, LedgerEntry>();
  constructor(private readonly counts: PortCounts) {}

  async put(entry: LedgerEntry): Promise<void> {
    this.counts.ledgerPuts++;
    this.entries.set(`${entry.target}#${entry.createdAt}`, structuredClone(entry));
  }

  async listActive(now: number): Promise<LedgerEntry[]> {
    this.counts.ledgerReads++;
    return this.sorted().filter((e) => e.status === 'active' && e.expiresAt > now);
  }

  async history(target: string): Promise<LedgerEntry[]> {
    this.counts.ledgerReads++;
    return this.sorted().filter((e) => e.target === target);
  }

  async listAll(): Promise<LedgerEntry[]> {
    this.counts.ledgerReads++;
    return this.sorted();
  }

  private sorted(): LedgerEntry[] {
    return [...this.entries.values()].map((e) => structuredClone(e)).sort((a, b) => b.createdAt - a.createdAt);
  }
}

export class CountingWindowStore implements WindowStore {
  private readonly inner = new MemoryWindowStore();
  constructor(private readonly counts: PortCounts) {}

  async add(scope: string, parts: WindowPart[]): Promise<void> {
    this.counts.windowPartsStored += parts.length;
    for (const p of parts) this.counts.windowPartBytes += Buffer.byteLength(p.body);
    return this.inner.add(scope, parts);
  }

  openWindows(scope: string): Promise<number[]> {
    return this.inner.openWindows(scope);
  }

  async read(scope: string, windowStart: number): Promise<{ partId: string; body: string }[]> {
    this.counts.windowReads++;
    return this.inner.read(scope, windowStart);
  }

  drop(scope: string, windowStart: number): Promise<void> {
    return this.inner.drop(scope, windowStart);
  }

  getWatermark(scope: string): Promise<number> {
    return this.inner.getWatermark(scope);
  }

  setWatermark(scope: string, t: number): Promise<void> {
    return this.inner.setWatermark(scope, t);
  }
}
