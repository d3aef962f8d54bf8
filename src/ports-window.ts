/**
 * Partial window summaries between the two stream stages (DESIGN §1): the ingest stage writes per-key partials for
 * a window, the detect stage merges them and closes the window once the event-time watermark passes it.
 */
export interface WindowPart {
  windowStart: number;
  /** Identifies the partial (e.g. shard + sequence number of the record it came from): redelivery rewrites it. */
  partId: string;
  body: string;
}

/** What detect has read of one summaries shard, so a redelivery is recognised however it comes back. */
export interface ScopeProgress {
  /** The newest summaries-stream sequence number stored: a redelivered record at or below it is already counted. */
  sequence: string;
  /**
   * Per access-log shard and summaries bucket (`<shard>/<bucket>`), the newest source sequence number seen in a part:
   * ingest puts a shard's batches in order, so a part at or below it is a redelivered batch (ingest retried), not late
   * data. (An entry keyed by the shard alone, written by the previous release, stands in for a bucket without one.)
   */
  sources: Record<string, string>;
  /**
   * When each `sources` entry was last raised (detect's clock, epoch ms): an entry not raised for longer than a record
   * can be redelivered is dropped, so the item stays bounded however many shards the access-log stream has had.
   * Absent in what earlier releases stored.
   */
  seenAt?: Record<string, number>;
  /**
   * Per `sources` entry, the parts seen at its sequence number that were cut from a partition too large for one record
   * (`sp`), each by the rest of its id after the bucket (window and piece): such a part's siblings arrive in records of
   * their own, so the sequence alone cannot tell a redelivered piece from one not yet seen. Absent in what earlier
   * releases stored, and for entries with no such part.
   */
  pieces?: Record<string, string[]>;
  /**
   * The watermark the batch that wrote this raised it to, written before the watermark itself: if that write fails, the
   * batch's retry finds its records counted and raises the watermark from here (else its windows would wait for more
   * data or the clock). Absent in what earlier releases stored.
   */
  watermark?: number;
  /**
   * The newest event time any part of this scope has carried, and when (detect's clock) the part that raised it was
   * stored: how far behind its traffic the stream delivers. A stream minutes behind is late, not silent, and the
   * tick waits that much longer before it closes a window on the clock, when the raise before showed it too
   * (`priorLag`, absent at a scope's first raise: one late flush is not a stream behind). Absent in what earlier releases
   * stored.
   */
  freshest?: { time: number; at: number; priorLag?: number };
}

export interface WindowStore {
  /** Store chunks of partial window summaries; idempotent per (scope, windowStart, partId) so redelivery doesn't double count. */
  add(scope: string, parts: WindowPart[]): Promise<void>;
  /** Window starts with stored parts, ascending. */
  openWindows(scope: string): Promise<number[]>;
  read(scope: string, windowStart: number): Promise<{ partId: string; body: string }[]>;
  /**
   * Deletes the window's parts: only `partIds` when given (those that were read and decided; a part written since, by
   * a concurrent invocation, stays and reopens the window rather than vanishing), else all of them.
   */
  drop(scope: string, windowStart: number, partIds?: readonly string[]): Promise<void>;
  /** 0 if none. */
  getWatermark(scope: string): Promise<number>;
  /** Never moves backwards (conditional update). */
  setWatermark(scope: string, t: number): Promise<void>;
  /**
   * Scopes that ever held data. The clock tick closes their windows, including those of a shard that went away
   * after a reshard, whose data stopped for good.
   */
  scopes(): Promise<string[]>;
  /** Adds a scope to {@link scopes} (idempotent). */
  registerScope(scope: string): Promise<void>;
  /** Removes a scope from {@link scopes} (a shard gone for good, its windows all closed). */
  unregisterScope(scope: string): Promise<void>;
  /** How far the scope's shard has been read (undefined if never): see {@link ScopeProgress}. */
  progress(scope: string): Promise<ScopeProgress | undefined>;
  /** Records it (one writer per shard: the mapping's parallelization factor is 1). */
  setProgress(scope: string, progress: ScopeProgress): Promise<void>;
  /** Running totals of what the store skipped (e.g. bodies gone missing): logged by detect. */
  counters?(): Record<string, number>;
}
