import { KeyStateStore } from '../../pipeline/key-state-store.ts';
import type { BaselineStore, KeyState } from '../../ports.ts';
import type { SqliteState } from './sqlite-state.ts';

/** Keys remembered as absent from SQLite at most (about 100 B each). */
const MAX_ABSENT = 500_000;
/** Keys remembered as written to a store that started empty, at most (the same budget as the absent ones). */
const MAX_WRITTEN = 500_000;

/**
 * The local runner's {@link BaselineStore}: every key's state in memory (packed, 64 bytes a key), read from the
 * SQLite file the first time a key is asked for, written back when it goes idle and at the end. The detect stage
 * asks for every key of every window, which SQLite alone would turn into a query per key per window.
 */
export class CachedBaselines implements BaselineStore {
  private readonly states = new KeyStateStore();
  /**
   * Keys SQLite was asked for and does not hold: one-off visitors are never written, and each window would ask again
   * for every one of them (most of a replay's queries). Forgotten when written; cleared when it grows too large.
   */
  private readonly absent = new Set<string>();
  /**
   * When SQLite held no baseline at the start (a replay's own state, the default): the keys written to it since, the
   * only ones it can hold, so a key never written costs no query at all. Null when it held some, or once too many
   * were written to remember (then the absent keys are remembered instead).
   */
  private written: Set<string> | null;

  constructor(private readonly sqlite: SqliteState, private readonly idleEvictMs: number) {
    this.written = sqlite.baselineCount() > 0 ? null : new Set();
  }

  async getMany(keys: readonly string[]): Promise<Map<string, KeyState>> {
    const out = new Map<string, KeyState>();
    const written = this.written;
    for (const key of keys) {
      let s = this.states.get(key);
      if (s === undefined && (written === null ? !this.absent.has(key) : written.has(key))) {
        s = this.sqlite.getBaselineSync(key);
        if (s) this.states.set(key, s);
        else {
          if (this.absent.size >= MAX_ABSENT) this.absent.clear();
          this.absent.add(key);
        }
      }
      if (s) out.set(key, s);
    }
    return out;
  }

  async putMany(states: ReadonlyMap<string, KeyState>): Promise<void> {
    for (const [key, s] of states) this.states.set(key, s);
  }

  get size(): number {
    return this.states.size;
  }

  /** Keys idle since before `now - idleEvictMs` leave memory; their baselines go to SQLite. */
  evictIdle(now: number): number {
    const cutoff = now - this.idleEvictMs;
    const idle = this.states.keysIdleBefore(cutoff);
    if (idle.length === 0) return 0;
    this.persist(idle.map((k) => [k, this.states.get(k)!] as [string, KeyState]));
    for (const k of idle) this.states.delete(k);
    return idle.length;
  }

  /** Everything still in memory goes to SQLite (end of a run). */
  flush(): void {
    this.persist([...this.states.keys()].map((k) => [k, this.states.get(k)!] as [string, KeyState]));
  }

  private persist(states: [string, KeyState][]): void {
    // Only keys with a learned window are worth a row: a one-off visitor teaches nothing.
    const worth = states.filter(([, s]) => s.windows > 0 || s.flags !== 0);
    this.sqlite.putBaselinesSync(worth);
    if (this.written === null) for (const [key] of worth) this.absent.delete(key);
    else {
      for (const [key] of worth) this.written.add(key);
      // (Nothing is remembered absent while written keys are: the absent set starts empty.)
      if (this.written.size > MAX_WRITTEN) this.written = null;
    }
  }
}
