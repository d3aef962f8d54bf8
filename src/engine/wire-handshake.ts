import { type Logger, METRIC, type Metrics, noMetrics } from './observe.ts';
import type { SummaryWireLevel } from './wire.ts';

/**
 * How ingest learns which summary wire level it may write without a human choosing one (the construct's default,
 * `summaryWireLevel: 'auto'`).
 *
 * A record that a running detect cannot read is lost or refused: a detect of an earlier release skips a brotli record
 * as unreadable and refuses a level-2 one. In a stack update ingest may be updated before detect, and a detect of the
 * earlier release can still be running for a while after. So every detect announces the highest level it reads on a
 * notice in the state table, and beats on it every minute (its tick runs every minute even without traffic); ingest
 * writes a newly announced level only once that level has stood for SETTLE_MS (every detect started since reads it),
 * and the level before it until then. A notice nobody has beaten on for STALE_MS (a rollback to a release that does
 * not announce, a broken detect) counts for nothing: ingest writes level 1, which every release reads.
 *
 * An older release that announces (a downgrade) lowers the notice at once: its level is written as both `level` and
 * `before`. Writes are compare-and-swap on the whole notice, so two detects never undo each other's change.
 */
export interface WireNotice {
  /** The level the detect that last changed the notice reads. */
  level: number;
  /** When `level` was first announced (ms). */
  since: number;
  /** What ingest writes until `level` has stood for SETTLE_MS. */
  before: number;
  /** When a detect last announced (ms). */
  heartbeat: number;
}

/** Where the notice is kept: the state table in AWS (DynamoWireNoticeBoard), memory in-process. */
export interface WireNoticeBoard {
  read(): Promise<WireNotice | undefined>;
  /** Writes `next` if the stored notice is still `prev` (undefined: none); false if another writer changed it first. */
  swap(prev: WireNotice | undefined, next: WireNotice): Promise<boolean>;
}

/** Long past the time an earlier release's detect can still be running after a stack update has replaced it. */
export const SETTLE_MS = 15 * 60_000;
/** Five missed ticks. */
export const STALE_MS = 5 * 60_000;
export const HEARTBEAT_MS = 60_000;
/** What every release reads. */
export const BASE_LEVEL = 1;
/** The highest level this release writes and reads (src/engine/wire.ts: writerOptions). */
export const HIGHEST_LEVEL = 4;

/** A level as this release writes it: a higher one agreed by a later release is written as this release's highest. */
export function asWireLevel(n: number): SummaryWireLevel {
  return (Number.isFinite(n) ? Math.max(BASE_LEVEL, Math.min(HIGHEST_LEVEL, Math.floor(n))) : BASE_LEVEL) as SummaryWireLevel;
}

/** The notice after a detect that reads `reads` announces at `now`; undefined when there is nothing to write. */
export function announced(prev: WireNotice | undefined, reads: number, now: number): WireNotice | undefined {
  if (!prev || !(now - prev.heartbeat <= STALE_MS)) return { level: reads, since: now, before: BASE_LEVEL, heartbeat: now };
  if (prev.level < reads) return { level: reads, since: now, before: agreedLevel(prev, now), heartbeat: now };
  if (prev.level > reads) return { level: reads, since: now, before: reads, heartbeat: now };
  if (now - prev.heartbeat >= HEARTBEAT_MS) return { ...prev, heartbeat: now };
  return undefined;
}

/** The level every running detect reads, by the notice at `now`. */
export function agreedLevel(n: WireNotice | undefined, now: number): number {
  if (!n || !(now - n.heartbeat <= STALE_MS)) return BASE_LEVEL;
  return now - n.since >= SETTLE_MS ? n.level : n.before;
}

/** A stored notice as read back: anything else is no notice (ingest then writes level 1). */
export function isWireNotice(x: unknown): x is WireNotice {
  const n = x as WireNotice;
  return typeof n === 'object' && n !== null && [n.level, n.since, n.before, n.heartbeat].every((v) => Number.isSafeInteger(v))
    && n.level >= 1 && n.before >= 1;
}

/**
 * Detect's side: announces the level it reads, at most once a HEARTBEAT_MS per instance unless the notice needs a
 * change. A failure to announce never fails detect's batch (its records are read either way): it is logged and counted,
 * and ingest falls back to level 1 once the notice is stale.
 */
export class WireAnnouncer {
  private lastWrite = -Infinity;
  failures = 0;

  constructor(private readonly board: WireNoticeBoard, private readonly reads: number, private readonly log?: Logger,
    private readonly metrics: Metrics = noMetrics) {}

  async announce(now: number): Promise<void> {
    if (now - this.lastWrite < HEARTBEAT_MS) return;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const prev = await this.board.read();
        const next = announced(prev, this.reads, now);
        if (!next || (await this.board.swap(prev, next))) {
          this.lastWrite = now;
          return;
        }
      }
    } catch (err) {
      this.failures++;
      this.metrics.add(METRIC.WireNoticeFailures, 1);
      this.log?.warn('wire level notice not written', { error: (err as Error).name, message: (err as Error).message });
    }
  }
}

/**
 * Ingest's side: the level to write, read from the notice at most once a minute per instance, never above what this
 * release writes. A failed read writes level 1 (every release reads it) until a read succeeds.
 */
export class AgreedWireLevel {
  private cached: { level: number; at: number } | undefined;
  failures = 0;

  constructor(private readonly board: WireNoticeBoard, private readonly writes: number, private readonly log?: Logger,
    private readonly metrics: Metrics = noMetrics) {}

  async level(now: number): Promise<number> {
    if (this.cached && now - this.cached.at < HEARTBEAT_MS && now >= this.cached.at) return this.cached.level;
    let level = BASE_LEVEL;
    try {
      level = Math.min(this.writes, agreedLevel(await this.board.read(), now));
    } catch (err) {
      this.failures++;
      this.metrics.add(METRIC.WireNoticeFailures, 1);
      this.log?.warn('wire level notice not read; writing level 1', { error: (err as Error).name, message: (err as Error).message });
    }
    if (this.cached && this.cached.level !== level) this.log?.info('summary wire level changed', { from: this.cached.level, to: level });
    this.cached = { level, at: now };
    return level;
  }
}

/** The notice in memory: rehearse and tests. */
export class MemoryWireNoticeBoard implements WireNoticeBoard {
  notice: WireNotice | undefined;

  async read(): Promise<WireNotice | undefined> {
    return this.notice ? { ...this.notice } : undefined;
  }

  async swap(prev: WireNotice | undefined, next: WireNotice): Promise<boolean> {
    if (!sameNotice(this.notice, prev)) return false;
    this.notice = { ...next };
    return true;
  }
}

function sameNotice(a: WireNotice | undefined, b: WireNotice | undefined): boolean {
  if (!a || !b) return a === b;
  return a.level === b.level && a.since === b.since && a.before === b.before && a.heartbeat === b.heartbeat;
}
