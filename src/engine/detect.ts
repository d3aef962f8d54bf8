import type { CordonConfig } from '../config.ts';
import type { ClosedWindow, Windower } from '../features/windower.ts';
import type { BaselineStore, LedgerStore } from '../ports.ts';
import { asLazy, type LazyChunk, type PartChunk, type PartStore } from './part-store.ts';
import type { BatchResult, StreamRecord } from '../ports/stream.ts';
import { decideClosedWindow, decideOpenWindow, type WindowOutcome } from './decide-window.ts';
import { EarlyWatch } from './early-watch.ts';
import { classifyFailure, errorName } from './errors.ts';
import { windowerFor } from './ingest.ts';
import { type Logger, METRIC, type Metrics, noMetrics, silentLogger } from './observe.ts';
import { compareSequence } from './sequence.ts';
import { hash32 } from '../features/hash.ts';
import { tickSliceOf, type TickSlice } from './tick-slices.ts';
import { batchingExtraMs } from './ingest-batching.ts';
import { BadSummaryError, decodeSummaryRecord, NewerWireError, type ReadNotes, type SummaryPart } from './wire.ts';

export interface DetectDeps {
  windows: PartStore;
  baselines: BaselineStore;
  ledger: LedgerStore;
  config: CordonConfig;
  log?: Logger;
  metrics?: Metrics;
  /** Sees every closed window and what was decided on it (the local runner's report and timeline). */
  onWindow?(closed: ClosedWindow, outcome: WindowOutcome, scope: string): void;
  /** Sees what was decided on a window still open (early decisions; the window is seen again when it closes). */
  onEarly?(open: ClosedWindow, outcome: WindowOutcome, scope: string): void;
  /** Ingest's batching window (the construct prop): past the default, windows wait that much longer (batchingExtraMs). */
  ingestBatchingWindowSeconds?: number;
  /** Announces the summary wire level this release reads (src/engine/wire-handshake.ts); never throws. */
  wireNotice?: { announce(now: number): Promise<void> };
}

export interface DetectResult extends BatchResult {
  decisions: number;
  windowsClosed: number;
  /** Records that were not summary records (counted and skipped). */
  unreadable: number;
  /** Records at or below the scope's stored sequence number: already counted. */
  redelivered: number;
  /** Parts of closed windows from source records already seen (ingest delivered them again): already counted. */
  redeliveredParts: number;
  /** Parts of windows already closed: folded into the next window to close, or (too old) dropped. */
  lateFolded: number;
  lateDropped: number;
  /** Parts whose producer time was ahead of the stage's clock, clamped to it. */
  clamped: number;
  /** Stored chunks that could not be read (data lost, counted). */
  damaged: number;
  /** Scopes the tick stopped visiting (no data for a day, no open window). */
  scopesRetired: number;
  /** Scopes with windows due that the tick left to the next one, its time running out (oldest windows go first). */
  scopesDeferred: number;
  /** Scopes whose windows the clock alone would have closed, left open because their stream delivers behind (clockBound). */
  scopesBehind: number;
  /** Decisions taken on windows still open (unmistakable evidence; included in `decisions`). */
  earlyDecisions: number;
}

/**
 * The longest delivery lag the tick waits for on top of the delivery delay: past it, a stream that far behind has its
 * windows closed on the clock as before (and its data folded, or past `foldLateMinutes` dropped, and counted).
 */
const MAX_WAITED_LAG_MS = 30 * 60_000;

/** A scope without data for this long, and without open windows, is retired from the tick. */
const RETIRE_SCOPE_MS = 24 * 3_600_000;

const emptyResult = (): DetectResult => ({
  batchItemFailures: [], decisions: 0, windowsClosed: 0, unreadable: 0, redelivered: 0, redeliveredParts: 0, lateFolded: 0, lateDropped: 0,
  clamped: 0, damaged: 0, scopesRetired: 0, scopesDeferred: 0, scopesBehind: 0, earlyDecisions: 0,
});

/**
 * Time a tick keeps in hand before it starts closing one more scope's windows: a month-old shard's turn (loading its
 * baselines, closing, writing them back) takes up to about 20 s at the detect function's default memory (README,
 * Scale), so a tick does not start one it is unlikely to finish within the function's timeout.
 */
export const TICK_RESERVE_MS = 30_000;
/** Scopes whose last tick close failed, remembered: they go after the others, so one broken scope cannot starve the rest. */
const MAX_REMEMBERED_FAILURES = 1_000;

/**
 * Stage 2 (DESIGN §1), per summaries shard ("scope"): summary records → open windows (stored, idempotent per part)
 * → windows closed by the event-time watermark **or by the clock** → {@link decideClosedWindow} → the ledger.
 *
 * Real time: `handle` is called with records and the wall clock (`now`), `tick` with the clock alone (a schedule in
 * AWS, the simulated clock in `rehearse`, log time in `replay`). A window closes once the scope's watermark, less the
 * allowed lateness, passes its end; the tick raises the watermark to wall clock less the longest delivery delay
 * waited for, so an attack followed by silence is decided. A part for a window already closed is folded into the
 * next window to close (its volume still counts) and counted; one older than `foldLateMinutes` is dropped and
 * counted. A part's time is bounded by the clock, so one absurd timestamp cannot move a watermark.
 */
export class DetectStage {
  private readonly cfg: CordonConfig;
  private readonly sizeMs: number;
  private readonly latenessMs: number;
  private readonly batchingExtraMs: number;
  private readonly closedAtOffsetMs: number;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  /**
   * Scopes this instance registered, and when (bounded: a Lambda sees a few shards). Registered again after an hour,
   * so a scope the tick retired elsewhere comes back even in a long-lived instance.
   */
  private readonly registered = new Map<string, number>();
  /** Scopes whose last close by the tick failed (this process only): tried after the others. */
  private readonly tickFailed = new Set<string>();
  /** Which open windows hold a key that may already be unmistakable (null when early decisions are off). */
  private readonly early: EarlyWatch | null;

  constructor(private readonly deps: DetectDeps) {
    this.cfg = deps.config;
    this.sizeMs = this.cfg.windows.sizeSeconds * 1000;
    this.batchingExtraMs = batchingExtraMs(deps.ingestBatchingWindowSeconds);
    this.latenessMs = (this.cfg.windows.allowedLatenessSeconds + this.cfg.windows.stageLatenessSeconds) * 1000 + this.batchingExtraMs;
    // A window's decisions are stamped as of its end plus the allowed lateness: the same whoever closes it, so a
    // redelivered batch and a clock tick write the same ledger rows.
    this.closedAtOffsetMs = this.cfg.windows.allowedLatenessSeconds * 1000;
    this.log = deps.log ?? silentLogger;
    this.metrics = deps.metrics ?? noMetrics;
    this.early = this.cfg.windows.earlyDecisions ? new EarlyWatch(this.cfg) : null;
  }

  async handle(records: readonly StreamRecord[], now: number): Promise<DetectResult> {
    const res = emptyResult();
    if (records.length === 0) return res;
    const scope = records[0].shardId;
    await this.deps.wireNotice?.announce(now);
    const notes: ReadNotes = { foreignParts: 0, unknownCounters: 0 };
    const countersBefore = this.stateCounters();
    let step = 'read progress';
    let pending: readonly StreamRecord[] = records;
    try {
      await this.register(scope, now);
      const progress = (await this.deps.windows.progress(scope)) ?? { sequence: '', sources: {} };
      const last = progress.sequence;
      const fresh = last === '' ? [...records] : records.filter((r) => compareSequence(r.sequenceNumber, last) > 0);
      res.redelivered = records.length - fresh.length;
      pending = fresh;
      const decoded: SummaryPart[] = [];
      let upTo = fresh.length;
      for (let i = 0; i < fresh.length; i++) {
        try {
          decoded.push(...decodeSummaryRecord(fresh[i].bytes ?? fresh[i].data, notes));
        } catch (err) {
          if (err instanceof NewerWireError) {
            // Everything from here on waits for a stage that reads it (a rolling deploy): report it, keep what came before.
            upTo = i;
            this.log.warn('summary record of a newer wire level: redelivered until a newer stage reads it', { level: err.level, sequenceNumber: fresh[i].sequenceNumber });
            break;
          }
          if (!(err instanceof BadSummaryError)) throw err;
          res.unreadable++;
          // Our own message (never the record's bytes): which record, and what was wrong with it.
          this.log.warn('summary record unreadable: skipped', { sequenceNumber: fresh[i].sequenceNumber, reason: err.message });
        }
      }
      const done = fresh.slice(0, upTo);
      const waiting = fresh.slice(upTo);
      step = 'store parts';
      const seenAt = progress.seenAt ?? {};
      const pieces = progress.pieces ?? {};
      const stored = await this.store(scope, decoded, now, res, done, progress.sources, seenAt, pieces);
      let { watermark, raised } = stored;
      // This batch was recorded as counted before, and the watermark write after it failed: raised from the record.
      if ((progress.watermark ?? 0) > watermark) {
        watermark = progress.watermark!;
        raised = true;
      }
      // The batch is recorded as counted before the watermark moves and any window closes: a failure past this point
      // sends the batch back, and its retry must find these records counted (it only closes what is due). Recorded
      // after the close, a closed window's parts would look new to the retry and be folded into the next window: its
      // volume twice, enough to block a steady client. A failure before it changes nothing the retry does not redo
      // the same way (the chunk ids name the batch; the watermark has not moved).
      step = 'save progress';
      if (done.length) {
        pruneSources(progress.sources, seenAt, now, pieces);
        // The freshest traffic seen, when it came, and how far behind the raise before it came: how far behind the
        // stream delivers (the tick's bound).
        const before = progress.freshest;
        const freshest = stored.newestData > (before?.time ?? -Infinity)
          ? { time: stored.newestData, at: now, ...(before ? { priorLag: before.at - before.time } : {}) } : before;
        await this.deps.windows.setProgress(scope, { sequence: done[done.length - 1].sequenceNumber, sources: progress.sources, seenAt, pieces,
          watermark, ...(freshest ? { freshest } : {}) });
      }
      if (raised) await this.deps.windows.setWatermark(scope, watermark);
      step = 'close windows';
      await this.closeReady(scope, now, res, watermark);
      step = 'early decisions';
      await this.decideEarly(scope, now, res, watermark);
      if (waiting.length) res.batchItemFailures = [{ itemIdentifier: waiting[0].sequenceNumber }];
    } catch (err) {
      this.fail(err, step, scope, res, pending);
    }
    this.report(scope, res, notes, records.length);
    this.logStateCounters(countersBefore, this.stateCounters());
    return res;
  }

  private stateCounters(): Record<string, number> {
    return { ...this.deps.windows.counters?.(), ...this.deps.baselines.counters?.() };
  }

  /** What the state stores skipped or did this invocation: damaged state as a warning (it is data lost), the rest as info. */
  private logStateCounters(before: Record<string, number>, after: Record<string, number>): void {
    const changed: Record<string, number> = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, d]) => d !== 0));
    if (Object.keys(changed).length === 0) return;
    const damaged = Object.entries(changed).filter(([k]) => k.endsWith('Corrupt') || k.endsWith('Missing')).reduce((n, [, v]) => n + v, 0);
    if (damaged) {
      this.metrics.add(METRIC.StateDamaged, damaged);
      this.log.warn('detect state damaged: affected keys relearn (counts this invocation)', changed);
    } else this.log.info('detect state maintenance (counts this invocation)', changed);
  }

  /**
   * The clock alone: closes, in every scope, the windows whose time is up; the scopes whose oldest open window is
   * oldest first. `timeLeftMs` (the Lambda's remaining time) stops it from starting a scope it may not finish: when
   * traffic stops on every shard at once, more than six month-old shards take longer than one invocation may run.
   * Those left are counted, logged, and first in line at the next tick. With `slice`, only that share of the scopes
   * (the construct runs several ticks at once on many shards: src/engine/tick-slices.ts).
   */
  async tick(now: number, timeLeftMs?: () => number, slice?: TickSlice): Promise<DetectResult> {
    const res = emptyResult();
    // The tick runs every minute with or without traffic: the notice's heartbeat.
    await this.deps.wireNotice?.announce(now);
    const bound = now - this.cfg.windows.maxDeliveryDelaySeconds * 1000 - this.batchingExtraMs + this.latenessMs;
    const minute = Math.floor(now / 60_000);
    const due: { scope: string; wm: number; bound: number; open: number[]; failed: boolean; tie: number }[] = [];
    for (const scope of await this.deps.windows.scopes()) {
      if (slice && tickSliceOf(scope, slice.of) !== slice.slice) continue;
      try {
        const wm = await this.deps.windows.getWatermark(scope);
        const open = await this.deps.windows.openWindows(scope);
        if (open.length === 0) {
          // Nothing to close: the watermark stays at the scope's last data. A shard without data for a day (resharded
          // away) is done, and the tick stops visiting it; if data comes again, its first batch registers it again.
          if (wm > 0 && wm < now - RETIRE_SCOPE_MS) {
            await this.deps.windows.unregisterScope(scope);
            this.registered.delete(scope);
            res.scopesRetired++;
          }
          continue;
        }
        // Nothing due yet (open is in ascending order): the scope's own data, or a later tick, closes it.
        if (open[0] + this.sizeMs > Math.max(wm, bound) - this.latenessMs) continue;
        const scopeBound = await this.clockBound(scope, now, bound);
        if (open[0] + this.sizeMs > Math.max(wm, scopeBound) - this.latenessMs) {
          res.scopesBehind++;
          continue;
        }
        // Ties (every scope that went quiet at once) in an order of this minute's own: a tick still running from the
        // minute before walks them in another, so the two share the work instead of repeating it.
        due.push({ scope, wm, bound: scopeBound, open, failed: this.tickFailed.has(scope), tie: hash32(`${scope}|${minute}`) });
      } catch (err) {
        // One scope's failure does not stop the others; the next tick tries again.
        this.fail(err, 'tick', scope, res, []);
      }
    }
    if (res.scopesBehind) {
      this.metrics.add(METRIC.TickScopesBehind, res.scopesBehind);
      this.log.info('tick: streams delivering behind their traffic; their windows wait for it', { scopes: res.scopesBehind });
    }
    due.sort((a, b) => Number(a.failed) - Number(b.failed) || a.open[0] - b.open[0] || a.tie - b.tie);
    for (let i = 0; i < due.length; i++) {
      const { scope, wm, bound, open } = due[i];
      if (timeLeftMs && timeLeftMs() < TICK_RESERVE_MS) {
        res.scopesDeferred = due.length - i;
        this.metrics.add(METRIC.TickScopesDeferred, res.scopesDeferred);
        this.log.warn('tick out of time: scopes left to the next tick', { deferred: res.scopesDeferred, closed: i, next: scope });
        break;
      }
      try {
        if (bound > wm) await this.deps.windows.setWatermark(scope, bound);
        await this.closeReady(scope, now, res, Math.max(wm, bound), open);
        // A shard gone quiet gets no batch to forget its closed windows' early sums: the tick does.
        this.early?.forget(scope, this.closedUntil(Math.max(wm, bound)));
        this.tickFailed.delete(scope);
      } catch (err) {
        if (this.tickFailed.size >= MAX_REMEMBERED_FAILURES) this.tickFailed.clear();
        this.tickFailed.add(scope);
        this.fail(err, 'tick', scope, res, []);
      }
    }
    this.report('tick', res, { foreignParts: 0, unknownCounters: 0 }, 0);
    return res;
  }

  /**
   * The clock's bound for one scope: wall clock less the longest delivery delay waited for; when the stream delivered
   * its freshest traffic further behind than that (beyond ingest's batching) at the last two raises, wall clock less
   * that lag and half the delay. A stream minutes behind (a consumer catching up, CloudWatch Logs
   * delivering late) is late, not silent: closing its windows on the clock would fold its data into whatever window is
   * open when it comes, a minute's worth of everybody's traffic at a time. Silence after it still closes them, that
   * much later. One late flush among timely ones (the last before silence, or a scope's first batch) is not a stream
   * behind: it would only hold back the decision of an attack followed by silence. So a stream already behind at a
   * scope's first batch has its first windows closed on the clock once (what comes for them is folded, and counted).
   */
  private async clockBound(scope: string, now: number, bound: number): Promise<number> {
    const freshest = (await this.deps.windows.progress(scope))?.freshest;
    if (freshest?.priorLag === undefined) return bound;
    const lag = Math.min(freshest.at - freshest.time, freshest.priorLag, MAX_WAITED_LAG_MS) - this.batchingExtraMs;
    const maxDelay = this.cfg.windows.maxDeliveryDelaySeconds * 1000;
    // Within the longest delay waited for, the stream is on time: the usual bound (it already waits that long). Past
    // it, wall clock less the lag and half the delay: the usual bound moved back by the lag less that half.
    return lag > maxDelay ? bound - (lag - maxDelay / 2) : bound;
  }

  private async register(scope: string, now: number): Promise<void> {
    const at = this.registered.get(scope);
    if (at !== undefined && now - at < 3_600_000 && now >= at) return;
    await this.deps.windows.registerScope(scope);
    if (this.registered.size > 1000) this.registered.clear();
    this.registered.set(scope, now);
  }

  /** Sorts parts into open windows, late-but-foldable and too old; stores them; returns the watermark they raise it to. */
  private async store(scope: string, parts: SummaryPart[], now: number, res: DetectResult, records: readonly StreamRecord[],
    sources: Record<string, string>, seenAt: Record<string, number>, pieces: Record<string, string[]> = {}): Promise<{ watermark: number; raised: boolean; newestData: number }> {
    if (parts.length === 0) return { watermark: await this.deps.windows.getWatermark(scope), raised: false, newestData: -Infinity };
    // The newest source record seen per access-log shard and bucket, before this batch: a closed window's part at or
    // below it is a batch ingest delivered again (its first copy was counted), not late data. Per bucket, because a
    // batch's summary records land or fail one by one: one bucket's failing must not make its retry look seen.
    const seenBefore = { ...sources };
    const piecesBefore: Record<string, readonly string[]> = Object.fromEntries(Object.entries(pieces).map(([k, v]) => [k, [...v]]));
    for (const p of parts) {
      const src = sourceOf(p.id);
      if (!src) continue;
      const key = sourceKey(src);
      const order = sources[key] === undefined ? 1 : compareSequence(src.sequence, sources[key]);
      if (order > 0) {
        sources[key] = src.sequence;
        delete pieces[key];
      }
      // A piece of a partition cut across records: remembered by its id, for its siblings still to come (and its own
      // redelivery) are of the same source sequence. Only pieces of the span that raised the mark (its first sequence
      // too: a bisected half ends where the whole did), and a bounded number of them.
      if (p.sp === 1 && order >= 0) notePiece(pieces, key, order > 0, src.first, tailOf(src));
      seenAt[key] = now;
    }
    const previous = await this.deps.windows.getWatermark(scope);
    const closedUntil = this.closedUntil(previous);
    const foldLimit = closedUntil - this.cfg.windows.foldLateMinutes * 60_000;
    const ceiling = now + this.cfg.windows.futureToleranceSeconds * 1000;
    const byWindow = new Map<number, SummaryPart[]>();
    let newestData = -Infinity;
    for (const p of parts) {
      let part = p;
      let target = part.w;
      if (part.t > ceiling) {
        part = { ...part, t: now };
        res.clamped++;
      }
      if (part.w + this.sizeMs <= closedUntil) {
        const src = sourceOf(part.id);
        // An entry per shard alone was written by the previous release: used until this bucket has one of its own.
        const before = src ? seenBefore[sourceKey(src)] ?? seenBefore[src.shard] : undefined;
        const order = src && before !== undefined ? compareSequence(src.sequence, before) : 1;
        // At the same sequence, a piece of the same span not seen yet is a sibling that came apart: it counts. Anything
        // else at or below the mark is a redelivery, as without pieces.
        if (order < 0 || (order === 0 && !(part.sp === 1 && unseenPiece(piecesBefore[sourceKey(src!)], src!.first, tailOf(src!))))) {
          res.redeliveredParts++;
          continue;
        }
        if (part.w + this.sizeMs <= foldLimit || part.w + this.sizeMs > ceiling + this.sizeMs) {
          res.lateDropped++;
          continue;
        }
        // Its window was decided: the next one to close takes its volume (the same target for every part folded
        // in this call, and the id is kept, so a redelivered part still counts once there). It is stored there with
        // its own start, which tells the close it came late (addPart).
        target = closedUntil;
        res.lateFolded++;
      } else if (part.w > ceiling) {
        res.lateDropped++; // a window that cannot have started yet: a forged time, not data
        continue;
      }
      let list = byWindow.get(target);
      if (!list) byWindow.set(target, (list = []));
      list.push(part);
      this.early?.observe(scope, target === part.w ? part : { ...part, w: target });
      if (part.t > newestData) newestData = part.t;
    }
    const batchId = `${records[0]?.sequenceNumber ?? '0'}-${records.at(-1)?.sequenceNumber ?? '0'}`;
    // One chunk per invocation and window (DynamoDB bills writes by item); the id names the batch, so a redelivered
    // identical batch overwrites its own chunk.
    const chunks: PartChunk[] = [...byWindow].map(([windowStart, list]) => ({ windowStart, chunkId: batchId, parts: list }));
    if (chunks.length) await this.deps.windows.add(scope, chunks);
    // The caller moves the watermark, once the batch is recorded as counted.
    return { watermark: Math.max(previous, newestData), raised: newestData > previous, newestData };
  }

  /** Start of the oldest window not yet closed, given a watermark. */
  private closedUntil(watermark: number): number {
    const t = watermark - this.latenessMs;
    return t - (((t % this.sizeMs) + this.sizeMs) % this.sizeMs);
  }

  /**
   * Closes the windows the watermark has passed. The caller passes the watermark (and open windows) it already read
   * or wrote: a concurrent invocation that raised it further only means fewer windows close now, and more next time.
   */
  private async closeReady(scope: string, now: number, res: DetectResult, watermark: number, open?: number[]): Promise<void> {
    const until = watermark - this.latenessMs;
    for (const start of open ?? (await this.deps.windows.openWindows(scope))) {
      if (start + this.sizeMs > until) break;
      res.decisions += await this.closeWindow(scope, start, now, res);
      res.windowsClosed++;
    }
    if (watermark > 0) this.metrics.add(METRIC.WatermarkLagMs, Math.max(0, now - until), 'Milliseconds', { partition: scope });
  }

  /**
   * A stored window, its parts de-duplicated by id, as one ClosedWindow (null when it holds nothing readable). Every
   * store's chunks go through the one merge of {@link mergeLazily}, so a replay merges in the order the Lambda does; a
   * store of encoded chunks is decoded a chunk at a time.
   */
  private async readWindow(scope: string, start: number, res: { damaged: number }): Promise<{ closed: ClosedWindow | null; read: string[] }> {
    const store = this.deps.windows;
    let chunks: LazyChunk[];
    let unnamed = 0;
    if (store.readLazily) chunks = await store.readLazily(scope, start);
    else ({ chunks, unnamedDamaged: unnamed } = asLazy(await store.read(scope, start)));
    let merged = this.mergeLazily(chunks, start);
    if (merged === null) {
      // A chunk's ids could not be read from its text (an id written with escapes): decoded whole, ids from the parts.
      ({ chunks, unnamedDamaged: unnamed } = asLazy(await store.read(scope, start)));
      merged = this.mergeLazily(chunks, start)!;
    }
    this.countDamaged(scope, start, merged.damaged + unnamed, res);
    return { closed: merged.windower.closeAll()[0] ?? null, read: chunks.map((c) => c.chunkId) };
  }

  /**
   * A window merged a chunk at a time: only the chunk being merged is decoded, and the parts de-duplication has to
   * compare (those of a source shard and bucket whose spans overlap: a bisected or re-cut batch) wait for the end.
   * Holding every decoded part at once cost more than the window itself (about 1 KB a key entry, 300 MB for one
   * shard's minute at 100,000 requests a second). Null when a chunk's parts differ from the ids read for it.
   */
  private mergeLazily(chunks: readonly LazyChunk[], start: number): { windower: Windower; damaged: number } | null {
    const windower = windowerFor(this.cfg);
    const compared = partsToCompare(chunks.flatMap((c) => c.ids));
    const seen = new Set<string>();
    const held: SummaryPart[] = [];
    let damaged = 0;
    for (const c of chunks) {
      let parts: SummaryPart[];
      try {
        parts = c.parts();
      } catch (err) {
        if (!(err instanceof BadSummaryError)) throw err;
        damaged++;
        continue;
      }
      if (parts.length !== c.ids.length) return null;
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i];
        if (p.id !== c.ids[i]) return null;
        if (compared.has(p.id)) held.push(p);
        else if (!seen.has(p.id)) {
          seen.add(p.id);
          if (!addPart(windower, p, start)) damaged++;
        }
      }
    }
    const { kept, noDerive } = dedupeParts(held);
    for (const p of kept) if (!addPart(windower, p, start, noDerive.get(p))) damaged++;
    return { windower, damaged };
  }

  private countDamaged(scope: string, start: number, damaged: number, res: { damaged: number }): void {
    if (damaged === 0) return;
    res.damaged += damaged;
    this.log.warn('damaged window chunks or parts skipped', { scope, windowStart: start, damaged });
  }

  private async closeWindow(scope: string, start: number, now: number, res: DetectResult): Promise<number> {
    const { closed, read } = await this.readWindow(scope, start, res);
    if (!closed) {
      await this.deps.windows.drop(scope, start, read);
      return 0;
    }
    closed.closedAt = closed.end + this.closedAtOffsetMs;
    const outcome = await decideClosedWindow(closed, scope, this.deps);
    this.deps.onWindow?.(closed, outcome, scope);
    await this.deps.windows.drop(scope, start, read);
    const decisions = outcome.decided.decisions;
    for (const d of decisions) this.metrics.add(METRIC.Decisions, 1, 'Count', { action: d.action });
    if (decisions.length) this.metrics.add(METRIC.DecisionDelayMs, Math.max(0, now - closed.end), 'Milliseconds');
    return decisions.length;
  }

  /**
   * Early decisions: the open windows where a key may already be unmistakable (see EarlyWatch) are read as they stand
   * and judged (decideOpenWindow). Damage found here is counted when the window closes, not twice.
   */
  private async decideEarly(scope: string, now: number, res: DetectResult, watermark: number): Promise<void> {
    if (!this.early) return;
    this.early.forget(scope, this.closedUntil(watermark));
    for (const start of this.early.due(scope)) {
      const { closed } = await this.readWindow(scope, start, { damaged: 0 });
      if (!closed) continue;
      const outcome = await decideOpenWindow(closed, scope, this.deps, now);
      const decisions = outcome.decided.decisions;
      if (decisions.length === 0) continue;
      this.deps.onEarly?.(closed, outcome, scope);
      for (const d of decisions) this.metrics.add(METRIC.Decisions, 1, 'Count', { action: d.action });
      this.metrics.add(METRIC.EarlyDecisions, decisions.length);
      res.decisions += decisions.length;
      res.earlyDecisions += decisions.length;
    }
  }

  private fail(err: unknown, step: string, scope: string, res: DetectResult, pending: readonly StreamRecord[]): void {
    const kind = classifyFailure(err);
    if (kind === 'unavailable') this.log.warn('detect: a dependency failed; the batch will be retried', { step, scope, error: errorName(err) });
    else {
      this.metrics.add(METRIC.StageErrors, 1);
      this.log.error('detect failed', { step, scope, error: errorName(err), message: (err as Error)?.message?.slice(0, 200) });
    }
    // Parts already stored and windows already decided are idempotent on redelivery (part ids, deterministic rows).
    if (pending.length) res.batchItemFailures = [{ itemIdentifier: pending[0].sequenceNumber }];
  }

  private report(scope: string, res: DetectResult, notes: ReadNotes, records: number): void {
    const m = this.metrics;
    if (res.unreadable) m.add(METRIC.Unreadable, res.unreadable);
    if (res.lateFolded) m.add(METRIC.LateFolded, res.lateFolded);
    if (res.lateDropped) {
      m.add(METRIC.LateDropped, res.lateDropped);
      this.log.warn('summary parts too late to fold dropped', { scope, dropped: res.lateDropped });
    }
    if (res.clamped) m.add(METRIC.ClockClamped, res.clamped);
    if (res.redeliveredParts) m.add(METRIC.RedeliveredParts, res.redeliveredParts);
    if (res.damaged) m.add(METRIC.StateDamaged, res.damaged);
    if (notes.foreignParts) m.add(METRIC.ForeignVersionParts, notes.foreignParts);
    if (res.windowsClosed) m.add(METRIC.WindowsClosed, res.windowsClosed);
    if (res.batchItemFailures.length) m.add(METRIC.RecordsFailed, 1);
    this.log.info('detected', { scope, records, windowsClosed: res.windowsClosed, decisions: res.decisions, earlyDecisions: res.earlyDecisions,
      lateFolded: res.lateFolded, lateDropped: res.lateDropped, redelivered: res.redelivered, redeliveredParts: res.redeliveredParts,
      unreadable: res.unreadable,
      foreignParts: notes.foreignParts, unknownCounters: notes.unknownCounters });
  }
}

/**
 * The access-log shard and the span of its sequence numbers in a part id (`<shard>:<seq>/<bucket>/<window>`, or
 * `<shard>:<first>-<last>/…` for a pre-aggregated batch), with the rest of the id (bucket and window), if it has them.
 */
export function sourceOf(id: string): { shard: string; first: string; sequence: string; rest: string } | null {
  const colon = id.indexOf(':');
  const slash = id.indexOf('/', colon + 1);
  if (colon <= 0 || slash < 0) return null;
  const span = id.slice(colon + 1, slash);
  const m = /^(\d+)(?:-(\d+))?$/.exec(span);
  if (!m) return null;
  // `sequence` is the span's last record: what "seen before" is compared with.
  return { shard: id.slice(0, colon), first: m[1], sequence: m[2] ?? m[1], rest: id.slice(slash) };
}

/** Pieces remembered per source entry at most; past it, the entry says only that (a further piece then counts as seen). */
const MAX_PIECES = 32;
const TOO_MANY_PIECES = '*';

/**
 * Adds a piece (its span's first sequence and its tail) to a source entry's `[first, ...tails]`: a piece of a newer span
 * starts the entry; one of the entry's own span joins it; any other (an entry an older release left without pieces, a
 * bisected half of the span) leaves it as it is.
 */
export function notePiece(pieces: Record<string, string[]>, key: string, newer: boolean, first: string, tail: string): void {
  const entry = pieces[key];
  if (newer) {
    pieces[key] = [first, tail];
    return;
  }
  if (entry === undefined || entry[0] !== first) return;
  if (entry.includes(tail) || entry[1] === TOO_MANY_PIECES) return;
  if (entry.length > MAX_PIECES) pieces[key] = [first, TOO_MANY_PIECES];
  else entry.push(tail);
}

/** A piece its source entry knows the span of and has not seen: a sibling that came apart, not a redelivery. */
export function unseenPiece(entry: readonly string[] | undefined, first: string, tail: string): boolean {
  return entry !== undefined && entry[0] === first && entry[1] !== TOO_MANY_PIECES && !entry.includes(tail, 1);
}

/** A part's id after its bucket (`/<window>` and any piece suffix): which of its source's parts it is. */
function tailOf(src: { rest: string }): string {
  const slash = src.rest.indexOf('/', 1);
  return slash < 0 ? '' : src.rest.slice(slash);
}

/** A source shard and a summaries bucket (`<shard>/<bucket>`): what "seen before" is kept per. */
function sourceKey(src: { shard: string; rest: string }): string {
  const slash = src.rest.indexOf('/', 1);
  return src.shard + (slash < 0 ? src.rest : src.rest.slice(0, slash));
}

/**
 * How long a source entry of a scope's progress is kept without being raised: past Kinesis's 24-hour retention (and
 * the mappings' one-hour maximum record age), no batch of that shard can come again.
 */
export const SOURCE_ENTRY_TTL_MS = 25 * 3_600_000;

/**
 * Drops source entries not raised within SOURCE_ENTRY_TTL_MS (in place). An entry an earlier release stored has no
 * time: it is given `now`, and dropped a retention later if nothing raises it.
 */
export function pruneSources(sources: Record<string, string>, seenAt: Record<string, number>, now: number,
  pieces: Record<string, string[]> = {}): void {
  for (const key of Object.keys(sources)) {
    const at = seenAt[key];
    if (at === undefined) seenAt[key] = now;
    else if (now - at > SOURCE_ENTRY_TTL_MS) {
      delete sources[key];
      delete seenAt[key];
    }
  }
  for (const key of Object.keys(pieces)) if (sources[key] === undefined) delete pieces[key];
  for (const key of Object.keys(seenAt)) if (sources[key] === undefined) delete seenAt[key];
}

/** A part's source shard and summaries bucket, without a piece's suffix (`.0`, `.1`): what dedupeParts compares within. */
function groupOf(src: { shard: string; rest: string }): string {
  const dot = src.rest.indexOf('.');
  return src.shard + (dot < 0 ? src.rest : src.rest.slice(0, dot));
}

/**
 * Adds a part to the window that starts at `start`; false if damaged. A folded late part carries its own, earlier
 * start: its requests are marked late (KeyWindow.lateRequests).
 */
function addPart(windower: Windower, p: SummaryPart, start: number, noDerive?: Set<string>): boolean {
  try {
    windower.addPartial(p.w === start ? p : { ...p, w: start }, noDerive, p.w < start);
    return true;
  } catch {
    return false;
  }
}

/**
 * The ids of a window's parts that {@link dedupeParts} must see together: every part of a source shard and bucket
 * (a group) in which two distinct parts' spans of source records overlap (pieces of one span, a bisected half inside
 * its whole). Any other part counts once by its id alone. Sequence numbers are compared as numbers.
 */
export function partsToCompare(ids: readonly string[]): Set<string> {
  const groups = new Map<string, { id: string; first: string; last: string }[]>();
  const distinct = new Set<string>();
  for (const id of ids) {
    if (distinct.has(id)) continue;
    distinct.add(id);
    const src = sourceOf(id);
    if (!src) continue;
    const group = groupOf(src);
    let spans = groups.get(group);
    if (!spans) groups.set(group, (spans = []));
    spans.push({ id, first: src.first, last: src.sequence });
  }
  const out = new Set<string>();
  for (const spans of groups.values()) {
    if (spans.length < 2) continue;
    const ordered = [...spans].sort((a, b) => compareSequence(a.first, b.first));
    // By first record: a span that starts at or before the previous one's last record overlaps it.
    let overlaps = false;
    for (let i = 1; i < ordered.length && !overlaps; i++) overlaps = compareSequence(ordered[i].first, ordered[i - 1].last) <= 0;
    if (overlaps) for (const s of spans) out.add(s.id);
  }
  return out;
}

/**
 * Parts of one window counted once. An id seen before is a redelivery. Beyond that, parts are compared per source
 * shard, bucket and window: a part whose span of source records lies inside a wider one's (the halves of a batch
 * Kinesis bisected after its first try had landed) adds only the keys the wider one's landed pieces lack, so a key
 * counts once even when a part too large for one record was cut into pieces (`<id>.0`, `<id>.1`) and only some of
 * them landed. Pieces of one span complement each other; a key that two pieces of one span both hold (two different
 * cuts of the same records: a retry after the wire level changed) counts once, the first.
 *
 * A part of wire level 2 derives its prefixes from its hosts. Where a level-1 piece of the same or a covering span
 * already carries a prefix (whole, as ingest counted it over the span), deriving it too would count its hosts twice:
 * `noDerive` names, per kept part, the prefixes it must not derive into.
 */
export function dedupeParts(parts: readonly SummaryPart[]): { kept: SummaryPart[]; duplicates: number; noDerive: Map<SummaryPart, Set<string>> } {
  const kept: SummaryPart[] = [];
  const noDerive = new Map<SummaryPart, Set<string>>();
  let duplicates = 0;
  const seen = new Set<string>();
  // group (shard + bucket + window) → span → its pieces
  const groups = new Map<string, Map<string, Span>>();
  for (const p of parts) {
    if (seen.has(p.id)) { duplicates++; continue; }
    seen.add(p.id);
    const src = sourceOf(p.id);
    if (!src) { kept.push(p); continue; }
    const group = groupOf(src);
    let spans = groups.get(group);
    if (!spans) groups.set(group, (spans = new Map()));
    const key = `${src.first}-${src.sequence}`;
    let span = spans.get(key);
    if (!span) {
      const width = src.first === src.sequence ? 0n : BigInt(src.sequence) - BigInt(src.first);
      spans.set(key, (span = { first: src.first, last: src.sequence, width, pieces: [] }));
    }
    // A key an earlier piece of this span holds is that piece's (pieces of one cut never share one).
    let piece: SummaryPart | null = p;
    if (span.pieces.length) {
      const keys = spanKeys(span);
      piece = withoutKeys(p, (k) => keys.has(k));
      if (piece) for (const k of keysOf(piece)) keys.add(k);
    }
    if (piece !== p) duplicates++;
    if (piece) span.pieces.push(piece);
  }
  for (const spans of groups.values()) {
    // Wider first (stable: single records keep their stored order); only spans of several records can hold others.
    const ordered = [...spans.values()].sort((a, b) => (a.width === b.width ? 0 : a.width < b.width ? 1 : -1));
    const wide: Span[] = [];
    for (const s of ordered) {
      const covering = wide.filter((w) => compareSequence(s.first, w.first) >= 0 && compareSequence(s.last, w.last) <= 0);
      const coveringKeys = covering.map(spanKeys);
      // Only a level-2 piece beside level-1 ones (a retry across the switch) needs to know what they carry.
      const carried = s.pieces.some((x) => x.dp === 1) ? carriedPrefixes([s, ...covering]) : null;
      for (const piece of s.pieces) {
        const rest = covering.length ? withoutKeys(piece, (k) => coveringKeys.some((keys) => keys.has(k))) : piece;
        if (rest !== piece) duplicates++;
        if (!rest) continue;
        kept.push(rest);
        if (rest.dp === 1 && carried !== null && carried.size) noDerive.set(rest, carried);
      }
      if (s.width > 0n) wide.push(s);
    }
  }
  return { kept, duplicates, noDerive };
}

interface Span {
  first: string;
  last: string;
  width: bigint;
  pieces: SummaryPart[];
  /**
   * The keys its landed pieces hold (kind and key), made when first compared (see spanKeys): nearly every span has
   * one piece and covers none, and then no key string is built.
   */
  keys?: Set<string>;
}

function spanKeys(s: Span): Set<string> {
  if (s.keys === undefined) {
    s.keys = new Set();
    for (const p of s.pieces) for (const k of keysOf(p)) s.keys.add(k);
  }
  return s.keys;
}

/** The prefixes (`p…`, `q…`) the level-1 pieces of these spans carry whole. */
function carriedPrefixes(spans: readonly Span[]): Set<string> {
  const out = new Set<string>();
  for (const s of spans) {
    for (const p of s.pieces) {
      if (p.dp === 1) continue;
      for (const [k] of p.p) out.add(`p${k}`);
      for (const [k] of p.q ?? []) out.add(`q${k}`);
    }
  }
  return out;
}

function* keysOf(p: SummaryPart): Generator<string> {
  for (const [k] of p.i) yield `i${k}`;
  for (const [k] of p.p) yield `p${k}`;
  for (const [k] of p.u) yield `u${k}`;
  for (const [k] of p.q ?? []) yield `q${k}`;
}

/** The part without the keys `drop` names (the part itself if none; null if none is left). */
function withoutKeys(p: SummaryPart, drop: (key: string) => boolean): SummaryPart | null {
  const i = p.i.filter(([k]) => !drop(`i${k}`));
  const pp = p.p.filter(([k]) => !drop(`p${k}`));
  const u = p.u.filter(([k]) => !drop(`u${k}`));
  const q = p.q?.filter(([k]) => !drop(`q${k}`));
  const left = i.length + pp.length + u.length + (q?.length ?? 0);
  if (left === 0) return null;
  if (left === p.i.length + p.p.length + p.u.length + (p.q?.length ?? 0)) return p;
  // Window totals travel with the host windows (see wire.ts splitPart).
  let n = 0;
  let e5 = 0;
  for (const [, kw] of i) {
    n += kw.c[0];
    e5 += kw.c[2];
  }
  return { ...p, i, p: pp, u, ...(q ? { q } : {}), n, e5 };
}
