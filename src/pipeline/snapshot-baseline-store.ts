import { type Gunzip, createGunzip, gzipSync } from 'node:zlib';
import { decodeKeyState, encodeKeyState } from '../detect/baseline.ts';
import { BlobConflictError, type BlobStore } from '../ports-blob.ts';
import type { BaselineStore, KeyState } from '../ports.ts';

export interface SnapshotBaselineStoreOptions {
  /** Key prefix of the snapshots in the blob store. Default `base/`. */
  prefix?: string;
  /** Keys kept per scope; past it the least recently seen are forgotten. Default 1,000,000. */
  maxKeys?: number;
  /**
   * Keys a warm process keeps cached over all the scopes it has seen (base, delta and inherited entries); past it the
   * least recently loaded scopes leave the cache, never the one in use. Default 1.25 × maxKeys. Size it to the
   * function's memory ({@link baselineBudget}): a warm detect Lambda that meets several shards would otherwise hold
   * a million keys for each.
   */
  maxCachedKeys?: number;
  /** A key not seen for this long (event time, from the scope's newest key) is forgotten. Default 30 days. */
  maxIdleMs?: number;
  /** Conditional writes lost to another writer before giving up. Default 4. */
  maxConflictRetries?: number;
  /**
   * The changed keys are compacted into the base object once they number more than this share of it; until then
   * each window writes only the delta. Default 1/8.
   */
  compactAt?: number;
  /**
   * Where a key falls among the stream's partitions (src/engine/ingest.ts statePlaceOf): a shard holds the keys of one
   * range of places. A new scope that cannot inherit every other scope's keys keeps those in the range of the keys it
   * was first asked for (its own) before any other. Undefined for a key of no partition (kept). Without it, the most
   * recently seen keys are kept.
   */
  placeOf?: (key: string) => number | undefined;
}

/** One stored object (the base, or the delta of keys changed since the base was written). */
interface Stored {
  /** null: no object stored yet. */
  etag: string | null;
  /** key → encoded state (encodeKeyState): a short string per key is what keeps a warm Lambda's cache small. */
  entries: Map<string, string>;
  /** Its entries are being compacted in place: no longer what the etag names. */
  detached?: boolean;
}

interface Snapshot {
  base: Stored;
  delta: Stored;
  /** A new scope's start: every other scope's keys (see load), folded into its first base. */
  inherited: Map<string, string>;
}

/** Heap a cached key costs in a warm process, measured at a million keys (bench/scale.ts: 254 MB once loaded). */
const HEAP_BYTES_PER_CACHED_KEY = 256;
/** Share of the function's memory the baseline cache may take: the rest is the runtime, the window and its parts. */
const CACHE_SHARE_OF_MEMORY = 0.3;

/**
 * The snapshot store's bounds for a function of `memoryMb`: the cache over all scopes gets 30% of it (1.26 M keys at
 * the default 1,024 MB), and a scope keeps at most a million keys, or the cache's worth if that is less.
 */
export function baselineBudget(memoryMb: number): { maxKeys: number; maxCachedKeys: number } {
  const maxCachedKeys = Math.max(1, Math.floor((memoryMb * 2 ** 20 * CACHE_SHARE_OF_MEMORY) / HEAP_BYTES_PER_CACHED_KEY));
  return { maxKeys: Math.min(1_000_000, maxCachedKeys), maxCachedKeys };
}

/** gzip level: snapshots are rewritten often, so speed matters more than the last few percent of size. */
const GZIP_LEVEL = 3;

/** Thrown when every attempt to write a scope's snapshot lost to another writer. */
export class SnapshotContentionError extends Error {
  override name = 'SnapshotContentionError';
}

/**
 * Baselines as two objects per scope (the detect stage's summaries shard owns its keys: the ingest stage sends every
 * key to one shard): the base, with every key, and the delta, with the keys changed since the base was written.
 * Each closed window reads both (conditionally) and rewrites the delta only; when the delta outgrows `compactAt` of
 * the base, the two are merged into a new base. So a window's write costs what its active keys cost, not what
 * the scope's million keys would, and S3 bills per request, not per KB as DynamoDB would.
 *
 * - A warm process keeps both objects and re-reads them conditionally (`If-None-Match`): unchanged, nothing is
 *   transferred; changed (another process handled the shard meanwhile), it is reloaded.
 * - Writes are conditional on the tag read (`If-Match`, or `If-None-Match: *` for the first): a lost race reloads
 *   and merges, keeping for each key the state with the later `lastWindow`, so neither writer's learning regresses.
 *   Compaction writes the base, then an empty delta; a crash between leaves keys in both, and the same rule reads
 *   them right.
 * - A damaged object or entry is counted ({@link corrupt}) and treated as never seen: the keys learn again.
 * - Idle keys and keys past maxKeys are forgotten when the base is compacted.
 * - Resharding the streams gives every key a new scope (Kinesis names the child shards anew). A scope with nothing
 *   stored yet therefore starts from every other scope's keys, its parents' among them, and folds them into its
 *   first base: learning carries over, and keys it does not own age out as idle.
 */
/** Scopes whose snapshots a store keeps in memory at once. */
const MAX_CACHED_SCOPES = 8;
/**
 * Keys with a place a new scope must first be asked for before their range is taken for its own: n keys spread over a
 * range leave about 1/(n+1) of it beyond each end.
 */
const MIN_KEYS_FOR_RANGE = 200;
/** Inherited keys may reach this many times maxKeys before the least recently seen are let go (each pass sorts). */
const INHERIT_SLACK = 1.25;

export class SnapshotBaselineStore implements BaselineStore {
  private readonly cache = new Map<string, Snapshot>();
  private readonly prefix: string;
  private readonly maxKeys: number;
  private readonly maxCachedKeys: number;
  private readonly maxIdleMs: number;
  private readonly maxConflictRetries: number;
  private readonly compactAt: number;
  private readonly placeOf: ((key: string) => number | undefined) | undefined;
  /** Keys forgotten (idle or over maxKeys). */
  evicted = 0;
  /** Stored entries that could not be decoded (skipped, as if absent). */
  corrupt = 0;
  /** Conditional writes lost and retried. */
  conflicts = 0;
  /** Times the delta was merged into the base. */
  compactions = 0;
  /** Keys a new scope took over from the others (after resharding). */
  inheritedKeys = 0;

  constructor(
    private readonly blobs: BlobStore,
    opts: SnapshotBaselineStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'base/';
    this.placeOf = opts.placeOf;
    this.maxKeys = opts.maxKeys ?? 1_000_000;
    this.maxCachedKeys = opts.maxCachedKeys ?? Math.ceil(this.maxKeys * 1.25);
    this.maxIdleMs = opts.maxIdleMs ?? 30 * 24 * 3600 * 1000;
    this.maxConflictRetries = opts.maxConflictRetries ?? 4;
    this.compactAt = opts.compactAt ?? 1 / 8;
    if (!Number.isInteger(this.maxKeys) || this.maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
    if (!Number.isInteger(this.maxCachedKeys) || this.maxCachedKeys < 1) throw new RangeError('maxCachedKeys must be a positive integer');
    if (!(this.compactAt >= 0)) throw new RangeError('compactAt must be a non-negative share');
  }

  counters(): Record<string, number> {
    return { baselinesCorrupt: this.corrupt, baselinesEvicted: this.evicted, baselineConflicts: this.conflicts,
      baselineCompactions: this.compactions, baselinesInherited: this.inheritedKeys };
  }

  async getMany(keys: readonly string[], scope = 'default'): Promise<Map<string, KeyState>> {
    const snap = await this.load(scope, keys);
    const out = new Map<string, KeyState>();
    for (const key of keys) {
      const enc = newer(snap.delta.entries.get(key), snap.base.entries.get(key)) ?? snap.inherited.get(key);
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
      try {
        await this.write(scope, snap, updates);
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

  /** Writes the updates as a new delta, or compacts base and delta when the delta has grown. */
  private async write(scope: string, snap: Snapshot, updates: Map<string, string>): Promise<void> {
    const delta = new Map(snap.delta.entries);
    for (const [key, enc] of updates) {
      if (newer(enc, delta.get(key) ?? snap.base.entries.get(key)) === enc) delta.set(key, enc);
    }
    const deltaKey = this.deltaKey(scope);
    if (delta.size <= snap.base.entries.size * this.compactAt) {
      const etag = await this.blobs.put(deltaKey, encodeSnapshot(delta), condition(snap.delta.etag));
      this.cache.set(scope, { base: snap.base, delta: { etag, entries: delta }, inherited: snap.inherited });
      this.trimCache(scope);
      return;
    }
    // Merged into the loaded base map itself: a second map of a million keys beside it was the detect Lambda's peak.
    // That map is no longer what is stored, so it leaves the cache first: a failure from here on reloads the scope.
    this.cache.delete(scope);
    // A load that began before this (its conditional GET still out) must not take this map back as the stored base.
    snap.base.detached = true;
    const base = snap.base.entries;
    for (const [key, enc] of snap.inherited) {
      const own = base.get(key);
      // The scope's own state wins a tie, as it always has.
      if (own === undefined || lastWindowOf(enc) > lastWindowOf(own)) base.set(key, enc);
    }
    for (const [key, enc] of delta) if (newer(enc, base.get(key)) === enc) base.set(key, enc);
    this.evict(base);
    const baseEtag = await this.blobs.put(this.baseKey(scope), encodeSnapshot(base), condition(snap.base.etag));
    const empty = new Map<string, string>();
    const deltaEtag = await this.blobs.put(deltaKey, encodeSnapshot(empty), condition(snap.delta.etag));
    this.cache.set(scope, { base: { etag: baseEtag, entries: base }, delta: { etag: deltaEtag, entries: empty }, inherited: new Map() });
    this.trimCache(scope);
    this.compactions++;
  }

  private baseKey(scope: string): string {
    return `${this.prefix}${scope}`;
  }

  private deltaKey(scope: string): string {
    return `${this.prefix}${scope}.delta`;
  }

  /** The scope's two objects, from the cache where the stored ones have not changed since. */
  private async load(scope: string, asked: readonly string[] = []): Promise<Snapshot> {
    const cached = this.cache.get(scope);
    // A scope not cached may bring up to maxKeys: the others make room first, so the peak stays near the budget.
    if (!cached) this.trimCache(scope, Math.max(0, this.maxCachedKeys - this.maxKeys));
    const [base, delta] = await Promise.all([
      this.loadOne(this.baseKey(scope), cached?.base),
      this.loadOne(this.deltaKey(scope), cached?.delta),
    ]);
    let inherited = cached?.inherited ?? new Map<string, string>();
    if (!cached && base.etag === null && delta.etag === null) inherited = await this.inherit(scope, asked);
    const snap = { base, delta, inherited };
    this.cache.delete(scope);
    this.cache.set(scope, snap);
    this.trimCache(scope);
    return snap;
  }

  /**
   * A warm Lambda sees a few shards; after reshards it could see many, each with up to maxKeys. The least recently
   * loaded scopes go first, until the cache holds at most MAX_CACHED_SCOPES scopes and `budget` keys; `current`
   * stays whatever its size. At 1,024 MB one full scope fills the budget: a Lambda that alternates between two such
   * scopes reads each again (about 2 s) rather than holding both and running out of memory. A scope dropped here is read again (two GETs) if it comes back.
   */
  private trimCache(current: string, budget = this.maxCachedKeys): void {
    let keys = this.cachedKeys();
    for (const [scope, snap] of this.cache) {
      if (this.cache.size <= MAX_CACHED_SCOPES && keys <= budget) return;
      if (scope === current) continue;
      this.cache.delete(scope);
      keys -= cachedKeys(snap);
    }
  }

  /** Keys the cache holds now, over all scopes (what maxCachedKeys bounds). */
  cachedKeys(): number {
    let keys = 0;
    for (const snap of this.cache.values()) keys += cachedKeys(snap);
    return keys;
  }

  /**
   * Every other scope's keys, the later state of a key where two scopes hold it, and at most about maxKeys of them
   * (the most recently seen): after a reshard the others are the parents and every other live shard, each with up to
   * maxKeys, so taking them all would not fit the function. Read a line at a time into the one map, never a whole
   * other scope beside it.
   */
  private async inherit(scope: string, asked: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const limit = Math.ceil(this.maxKeys * INHERIT_SLACK);
    // The range of places of the keys first asked for (the scope's own window): once everything no longer fits, keys
    // outside it (other shards' after a reshard) go first, then the least recently seen.
    const inRange = this.ownRange(asked);
    let narrowed = false;
    const take = (key: string, enc: string) => {
      if (narrowed && !inRange(key)) return;
      if (newer(enc, out.get(key)) !== enc) return;
      out.set(key, enc);
      if (out.size <= limit) return;
      if (!narrowed) {
        narrowed = true;
        for (const k of out.keys()) if (!inRange(k)) out.delete(k);
      }
      if (out.size > limit) this.evict(out, false);
    };
    const others = (await this.blobs.list(this.prefix)).filter((k) => !k.endsWith('.delta') && k !== this.baseKey(scope));
    for (const baseKey of others) {
      for (const key of [baseKey, `${baseKey}.delta`]) {
        const got = await this.blobs.get(key);
        if (got !== null && got !== 'unchanged') await this.decode(got.body, take);
      }
    }
    this.evict(out, false);
    if (out.size) this.inheritedKeys += out.size;
    return out;
  }

  /**
   * Whether a key's place lies within the range the places of `asked` span, widened by the gap expected at each end
   * (always true without placeOf, or with too few keys asked to tell the range: a thin first window, at night, would
   * otherwise narrow it to a sliver and let go of the scope's own keys).
   */
  private ownRange(asked: readonly string[]): (key: string) => boolean {
    const placeOf = this.placeOf;
    if (!placeOf) return () => true;
    let lo = Infinity;
    let hi = -Infinity;
    let n = 0;
    for (const k of asked) {
      const p = placeOf(k);
      if (p === undefined) continue;
      n++;
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    if (n < MIN_KEYS_FOR_RANGE) return () => true;
    const margin = (hi - lo) / (n - 1);
    return (key) => {
      const p = placeOf(key);
      return p === undefined || (p >= lo - margin && p <= hi + margin);
    };
  }

  private async loadOne(key: string, cached: Stored | undefined): Promise<Stored> {
    const got = await this.blobs.get(key, cached?.etag ?? undefined);
    if (got === 'unchanged' && cached) return cached.detached ? this.loadOne(key, undefined) : cached;
    if (got === null || got === 'unchanged') return { etag: null, entries: new Map() };
    return { etag: got.etag, entries: await this.decode(got.body) };
  }

  /**
   * A snapshot is read line by line as it is gunzipped, a MB at a time: never as one string, one JSON document or
   * one buffer of its whole text (at a million keys, some 150 MB beside the map being built, in a 1 GB Lambda).
   */
  private async decode(body: Uint8Array, sink?: (key: string, enc: string) => void): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    // Each line to the sink instead (inheritance); what it took from a damaged object before the damage is kept.
    const put = sink ?? ((key: string, enc: string) => void out.set(key, enc));
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    gunzip.end(body);
    let header = true;
    /** Damaged lines: counted once the whole object has read, as a damaged object counts once. */
    let badLines = 0;
    /** The start of a line the previous chunk cut. */
    let carry: Buffer | null = null;
    // false: not a snapshot of this format.
    const take = (line: string): boolean => {
      if (header) {
        header = false;
        return line === SNAPSHOT_HEADER;
      }
      const key = entryKey(line);
      if (key === null) badLines++;
      else put(key, line.slice(line.indexOf('\t') + 1));
      return true;
    };
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        let pos = 0;
        let end = chunk.indexOf(10);
        if (carry !== null) {
          if (end < 0) {
            carry = Buffer.concat([carry, chunk]);
            continue;
          }
          if (!take(Buffer.concat([carry, chunk.subarray(0, end)]).toString('utf8'))) return this.damaged(gunzip);
          carry = null;
          pos = end + 1;
          end = chunk.indexOf(10, pos);
        }
        for (; end >= 0; pos = end + 1, end = chunk.indexOf(10, pos)) {
          if (!take(chunk.toString('utf8', pos, end))) return this.damaged(gunzip);
        }
        if (pos < chunk.length) carry = Buffer.from(chunk.subarray(pos));
      }
    } catch {
      // A damaged snapshot is as good as none: the keys learn again rather than the stage failing every batch.
      return this.damaged(gunzip);
    }
    if (carry !== null && carry.length && !take(carry.toString('utf8'))) return this.damaged(gunzip);
    if (header) return this.damaged(gunzip); // empty: not even the header
    this.corrupt += badLines;
    return out;
  }

  private damaged(gunzip: Gunzip): Map<string, string> {
    gunzip.destroy();
    this.corrupt++;
    return new Map();
  }

  /** Forgets keys idle past maxIdleMs, then the least recently seen past maxKeys (counted, unless `count` is false). */
  private evict(entries: Map<string, string>, count = true): void {
    let newest = 0;
    for (const enc of entries.values()) newest = Math.max(newest, lastWindowOf(enc));
    const idleBefore = newest - this.maxIdleMs;
    for (const [key, enc] of entries) {
      if (lastWindowOf(enc) < idleBefore) {
        entries.delete(key);
        if (count) this.evicted++;
      }
    }
    if (entries.size <= this.maxKeys) return;
    // The least recently seen go, the earlier in the map first on a tie (a stable sort's order), found from the
    // ages alone: sorting the entries themselves built an array of a million pairs.
    const excess = entries.size - this.maxKeys;
    const ages = new Float64Array(entries.size);
    let n = 0;
    for (const enc of entries.values()) ages[n++] = lastWindowOf(enc);
    const sorted = ages.slice().sort();
    const cutoff = sorted[excess - 1];
    let atCutoff = excess;
    for (let i = 0; i < excess; i++) if (sorted[i] < cutoff) atCutoff--;
    // The map is walked in the order `ages` was filled; deleting the entry being visited keeps the two in step.
    n = 0;
    for (const key of entries.keys()) {
      const age = ages[n++];
      if (age < cutoff || (age === cutoff && atCutoff-- > 0)) {
        entries.delete(key);
        if (count) this.evicted++;
      }
    }
  }
}

const cachedKeys = (snap: Snapshot): number => snap.base.entries.size + snap.delta.entries.size + snap.inherited.size;

const condition = (etag: string | null) => (etag === null ? { ifNoneMatch: '*' as const } : { ifMatch: etag });

/** Of two encoded states of one key, the one seen later (the first on a tie); undefined if neither. */
function newer(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return lastWindowOf(a) >= lastWindowOf(b) ? a : b;
}

/** The first line of every snapshot; what follows is one `key<TAB>encoded state` line per key. */
const SNAPSHOT_HEADER = 'cordon-baselines 2';
/** Lines gzip'd per member: the members concatenate into one gzip stream, and no line list grows past this. */
const LINES_PER_MEMBER = 20_000;

/**
 * The snapshot's bytes: the header, then a line per key. A key is written as it is unless it could be misread (a
 * tab, a line break, or a leading quote), then as a JSON string. Encoded states are digits and commas only.
 */
export function encodeSnapshot(entries: Iterable<[string, string]>): Uint8Array {
  const members: Buffer[] = [];
  let lines: string[] = [SNAPSHOT_HEADER];
  const flush = () => {
    members.push(gzipSync(lines.join('\n') + '\n', { level: GZIP_LEVEL }));
    lines = [];
  };
  for (const [key, enc] of entries) {
    lines.push(`${/[\t\n\r]|^"/.test(key) ? JSON.stringify(key) : key}\t${enc}`);
    if (lines.length >= LINES_PER_MEMBER) flush();
  }
  if (lines.length) flush();
  return Buffer.concat(members);
}

/** The key of a snapshot line, or null if the line is damaged. */
function entryKey(line: string): string | null {
  const tab = line.indexOf('\t');
  if (tab <= 0) return null;
  const raw = line.slice(0, tab);
  if (raw.charCodeAt(0) !== 34 /* " */) return raw;
  try {
    const key: unknown = JSON.parse(raw);
    return typeof key === 'string' ? key : null;
  } catch {
    return null;
  }
}

/** lastWindow of an encoded state (its last field) without decoding the rest. */
function lastWindowOf(encoded: string): number {
  const cut = encoded.indexOf(';');
  const base = cut < 0 ? encoded : encoded.slice(0, cut);
  return Number(base.slice(base.lastIndexOf(',') + 1)) || 0;
}
