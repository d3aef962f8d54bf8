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
 * An older release that announces (a downgrade) lowers the notice at once: its level is written as `level`, and as
 * `before` unless ingest was still writing less (a downgrade while a higher level settles: the lower level has not
 * stood either). Writes are compare-and-swap on the whole notice, so two detects never undo each other's change.
 *
 * The notice says "a detect of this release runs", not "it reads successfully": detect announces before it reads its
 * batch (and on every tick), so a detect that cannot read its stream or state still beats. That is what ingest needs:
 * which release reads its records, not whether that release's detect is healthy right now (its own alarms say that).
 *
 * Neither side's failure stops its stage: a detect that cannot announce backs off for HEARTBEAT_MS (the notice goes
 * stale after STALE_MS without beats, and ingest falls to level 1); an ingest that cannot read goes on by the last
 * notice it read, which falls to level 1 once that goes stale. Both count WireNoticeFailures.
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
/** Compare-and-swap attempts of one announcement. */
export const ANNOUNCE_ATTEMPTS = 3;
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
  // What ingest writes may not rise on a downgrade: a level still settling has not stood (its detects may be new).
  if (prev.level > reads) return { level: reads, since: now, before: Math.min(reads, agreedLevel(prev, now)), heartbeat: now };
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
 * and the instance tries again only a HEARTBEAT_MS later (not on every batch of a throttled table); ingest falls back to
 * level 1 once the notice is stale. Losing the compare-and-swap on every attempt (other detects changing the notice
 * each time) counts as a failure too.
 */
export class WireAnnouncer {
  private lastWrite = -Infinity;
  failures = 0;

  constructor(private readonly board: WireNoticeBoard, private readonly reads: number, private readonly log?: Logger,
    private readonly metrics: Metrics = noMetrics) {}

  async announce(now: number): Promise<void> {
    if (now - this.lastWrite < HEARTBEAT_MS) return;
    // Tried, whatever comes of it: the next try is a HEARTBEAT_MS away.
    this.lastWrite = now;
    try {
      for (let attempt = 0; attempt < ANNOUNCE_ATTEMPTS; attempt++) {
        const prev = await this.board.read();
        const next = announced(prev, this.reads, now);
        if (!next || (await this.board.swap(prev, next))) return;
      }
      this.failed(`changed by another writer on each of ${ANNOUNCE_ATTEMPTS} attempts`, { error: 'CompareAndSwapLost' });
    } catch (err) {
      this.failed((err as Error).message, { error: (err as Error).name });
    }
  }

  private failed(message: string, fields: { error: string }): void {
    this.failures++;
    this.metrics.add(METRIC.WireNoticeFailures, 1);
    this.log?.warn('wire level notice not written', { ...fields, message, retryInMs: HEARTBEAT_MS });
  }
}

/**
 * Ingest's side: the level to write, read from the notice at most once a minute per instance, never above what this
 * release writes. A failed read goes on by the last notice this instance read, never above the level last worked out
 * (level 1 once that notice is stale, as for anyone reading it), and writes level 1 (every release reads it) while it
 * has read none.
 */
export class AgreedWireLevel {
  /** The level last worked out, and when: reused for a HEARTBEAT_MS. */
  private cached: { level: number; at: number } | undefined;
  /** The last successful read (`notice` undefined: there was none on the board), and when. */
  private lastRead: { notice: WireNotice | undefined; at: number } | undefined;
  failures = 0;

  constructor(private readonly board: WireNoticeBoard, private readonly writes: number, private readonly log?: Logger,
    private readonly metrics: Metrics = noMetrics) {}

  async level(now: number): Promise<number> {
    if (this.cached && now - this.cached.at < HEARTBEAT_MS && now >= this.cached.at) return this.cached.level;
    let level: number;
    try {
      this.lastRead = { notice: await this.board.read(), at: now };
      level = Math.min(this.writes, agreedLevel(this.lastRead.notice, now));
    } catch (err) {
      this.failures++;
      this.metrics.add(METRIC.WireNoticeFailures, 1);
      // Never above what was last worked out: a notice read while it settled has not stood since, unseen (a downgrade
      // may have come meanwhile); it only falls, to level 1 once stale.
      level = this.lastRead ? Math.min(this.writes, this.cached?.level ?? BASE_LEVEL, agreedLevel(this.lastRead.notice, now)) : BASE_LEVEL;
      this.log?.warn(this.lastRead ? 'wire level notice not read; going by the last one read' : 'wire level notice not read; writing level 1',
        { error: (err as Error).name, message: (err as Error).message, level,
          ...(this.lastRead ? { lastReadAgoMs: now - this.lastRead.at } : {}) });
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
