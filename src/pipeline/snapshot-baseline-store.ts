import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeKeyState, encodeKeyState } from '../detect/baseline.ts';
import { BlobConflictError, type BlobStore } from '../ports-blob.ts';
import type { BaselineStore, KeyState } from '../ports.ts';

export interface SnapshotBaselineStoreOptions {
  /** Key prefix of the snapshots in the blob store. Default `base/`. */
  prefix?: string;
  /** Keys kept per scope; past it the least recently seen are forgotten. Default 1,000,000. */
  maxKeys?: number;
  /** A key not seen for this long (event time, from the scope's newest key) is forgotten. Default 30 days. */
  maxIdleMs?: number;
  /** Conditional writes lost to another writer before giving up. Default 4. */
  maxConflictRetries?: number;
}

interface Snapshot {
  /** null: no object stored yet. */
  etag: string | null;
  /** key → encoded state (encodeKeyState): a short string per key is what keeps a warm Lambda's cache small. */
  entries: Map<string, string>;
}

/** gzip level: snapshots are rewritten every window, so speed matters more than the last few percent of size. */
const GZIP_LEVEL = 3;

/** Thrown when every attempt to write a scope's snapshot lost to another writer. */
export class SnapshotContentionError extends Error {
  override name = 'SnapshotContentionError';
}

/**
 * Baselines as one object per scope (the detect stage's summaries shard owns its keys: the ingest stage sends every
 * key to one shard), read once per closed window and written once, whatever the number of keys. S3 bills per
 * request, so this costs two requests a minute per shard where DynamoDB would bill every KB of every bucket item
 * rewritten.
 *
 * - A warm process keeps the snapshot and re-reads it conditionally (`If-None-Match`): unchanged, nothing is
 *   transferred; changed (another process handled the shard meanwhile), it is reloaded.
 * - Writes are conditional on the tag read (`If-Match`, or `If-None-Match: *` for the first): a lost race reloads
 *   and merges, keeping for each key the state with the later `lastWindow`, so neither writer's learning regresses.
 * - A damaged snapshot or entry is counted ({@link corrupt}) and treated as never seen: the keys learn again.
 * - Resharding the summaries stream moves keys to new scopes: they start learning again there (blocks, the ledger
 *   and the allowlist are unaffected).
 */
export class SnapshotBaselineStore implements BaselineStore {
  private readonly cache = new Map<string, Snapshot>();
  private readonly prefix: string;
  private readonly maxKeys: number;
  private readonly maxIdleMs: number;
  private readonly maxConflictRetries: number;
  /** Keys forgotten (idle or over maxKeys). */
  evicted = 0;
  /** Stored entries that could not be decoded (skipped, as if absent). */
  corrupt = 0;
  /** Conditional writes lost and retried. */
  conflicts = 0;

  constructor(
    private readonly blobs: BlobStore,
    opts: SnapshotBaselineStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'base/';
    this.maxKeys = opts.maxKeys ?? 1_000_000;
    this.maxIdleMs = opts.maxIdleMs ?? 30 * 24 * 3600 * 1000;
    this.maxConflictRetries = opts.maxConflictRetries ?? 4;
    if (!Number.isInteger(this.maxKeys) || this.maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
  }

  async getMany(keys: readonly string[], scope = 'default'): Promise<Map<string, KeyState>> {
    const snap = await this.load(scope);
    const out = new Map<string, KeyState>();
    for (const key of keys) {
      const enc = snap.entries.get(key);
      if (enc === undefined) continue;
      const state = decodeKeyState(enc);
      if (state) out.set(key, state);
      else this.corrupt++;
    }
    return out;
  }

  async putMany(states: ReadonlyMap<string, KeyState>, scope = 'default'): Promise<void> {
    if (states.size === 0) return;
    const updates = new Map<string, string>();
    for (const [key, state] of states) updates.set(key, encodeKeyState(state));
    let snap = this.cache.get(scope) ?? (await this.load(scope));
    for (let attempt = 0; ; attempt++) {
      const entries = new Map(snap.entries);
      for (const [key, enc] of updates) {
        const prev = entries.get(key);
        if (prev === undefined || lastWindowOf(enc) >= lastWindowOf(prev)) entries.set(key, enc);
      }
      this.evict(entries);
      const body = encodeSnapshot(scope, entries);
      try {
        const etag = await this.blobs.put(this.objectKey(scope), body, snap.etag === null ? { ifNoneMatch: '*' } : { ifMatch: snap.etag });
        this.cache.set(scope, { etag, entries });
        return;
      } catch (err) {
        if (!(err instanceof BlobConflictError)) throw err;
        this.conflicts++;
        if (attempt >= this.maxConflictRetries) {
          throw new SnapshotContentionError(`baselines of ${scope}: ${attempt + 1} conditional writes lost to other writers`);
        }
        this.cache.delete(scope);
        snap = await this.load(scope);
      }
    }
  }

  private objectKey(scope: string): string {
    return `${this.prefix}${scope}`;
  }

  /** The scope's snapshot, from the cache if the stored object has not changed since. */
  private async load(scope: string): Promise<Snapshot> {
    const cached = this.cache.get(scope);
    const got = await this.blobs.get(this.objectKey(scope), cached?.etag ?? undefined);
    if (got === 'unchanged' && cached) return cached;
    let snap: Snapshot;
    if (got === null || got === 'unchanged') snap = { etag: null, entries: new Map() };
    else snap = { etag: got.etag, entries: this.decode(got.body) };
    this.cache.set(scope, snap);
    return snap;
  }

  private decode(body: Uint8Array): Map<string, string> {
    let doc: unknown;
    try {
      doc = JSON.parse(gunzipSync(body).toString('utf8'));
    } catch {
      // A damaged snapshot is as good as none: the keys learn again rather than the stage failing every batch.
      this.corrupt++;
      return new Map();
    }
    const entries = (doc as { v?: unknown; entries?: unknown })?.entries;
    const out = new Map<string, string>();
    if ((doc as { v?: unknown })?.v !== 1 || !Array.isArray(entries)) {
      this.corrupt++;
      return out;
    }
    for (const e of entries) {
      if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string') out.set(e[0], e[1]);
      else this.corrupt++;
    }
    return out;
  }

  /** Forgets keys idle past maxIdleMs, then the least recently seen past maxKeys. */
  private evict(entries: Map<string, string>): void {
    let newest = 0;
    for (const enc of entries.values()) newest = Math.max(newest, lastWindowOf(enc));
    const idleBefore = newest - this.maxIdleMs;
    for (const [key, enc] of entries) {
      if (lastWindowOf(enc) < idleBefore) {
        entries.delete(key);
        this.evicted++;
      }
    }
    if (entries.size <= this.maxKeys) return;
    const byAge = [...entries].sort((a, b) => lastWindowOf(a[1]) - lastWindowOf(b[1]));
    for (let i = 0; i < byAge.length - this.maxKeys; i++) {
      entries.delete(byAge[i][0]);
      this.evicted++;
    }
  }
}

function encodeSnapshot(scope: string, entries: Map<string, string>): Uint8Array {
  return gzipSync(JSON.stringify({ v: 1, scope, entries: [...entries] }), { level: GZIP_LEVEL });
}

/** lastWindow of an encoded state (its last field) without decoding the rest. */
function lastWindowOf(encoded: string): number {
  return Number(encoded.slice(encoded.lastIndexOf(',') + 1)) || 0;
}
