import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BaselineStore, IdempotencyStore, KeyState, LedgerEntry, LedgerStore } from '../../ports.ts';
import type { Evidence } from '../../decision.ts';
import { decodeKeyState, encodeKeyState } from '../../detect/baseline.ts';

export { decodeKeyState, encodeKeyState };
import {
  documentClient,
  isConditionalCheckFailed,
  mapLimit,
  queryAll,
  scanAll,
  utf8Bytes,
  DYNAMO_ITEM_LIMIT_BYTES,
  type Item,
} from './dynamo-common.ts';
import { AdapterConfigError, AwsRejectedError, ContentionError } from './errors.ts';
import { awsErrorName, backoffDelay, realSleep, type Sleep } from './retry.ts';

export { STATE_TABLE_KEYS, LEDGER_TABLE_KEYS, createTableInput } from './dynamo-common.ts';

// ---------------------------------------------------------------------------------------------------------------
// Baselines
// ---------------------------------------------------------------------------------------------------------------

/** FNV-1a (32 bit) of the key's UTF-8, mod `buckets`: stable across processes and releases. */
export function bucketOf(key: string, buckets: number): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(key, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % buckets;
}

/** lastWindow of an encoded state without decoding all of it. */
function lastWindowOf(encoded: string): number {
  return Number(encoded.slice(encoded.lastIndexOf(',') + 1)) || 0;
}

export interface DynamoBaselineStoreOptions {
  /** Hash buckets the key space is spread over (fixed for the life of the table). Default 256. */
  buckets?: number;
  /** Byte budget of one bucket part item (DynamoDB's limit is 400 KB). Default 64 KiB. */
  maxItemBytes?: number;
  /** Items one bucket may spill over to before least-recent keys are evicted. Default 4. */
  maxPartsPerBucket?: number;
  /** Keys whose lastWindow is this much older than the bucket's newest are dropped when their part is rewritten. Default 30 days. */
  maxIdleMs?: number;
  /** Buckets read or written in parallel. Default 8. */
  concurrency?: number;
  /** Conditional write attempts per bucket before {@link ContentionError}. Default 6. */
  maxConflictRetries?: number;
  sleep?: Sleep;
  random?: () => number;
}

interface Part {
  part: number;
  /** undefined = not stored yet. */
  version: number | undefined;
  entries: Map<string, string>;
}

/** Approximate DynamoDB size of one map entry: name + string value + per-element overhead. */
function entryBytes(key: string, encoded: string): number {
  return utf8Bytes(key) + utf8Bytes(encoded) + 4;
}

/** Item overhead besides the map: pk, sk, v, attribute names, map header. */
const PART_OVERHEAD_BYTES = 64;

/**
 * {@link BaselineStore} on the state table, frugal with writes: keys are packed into hash-bucket items
 * (`pk = base#<bucket>`, `sk = <part>`, attribute `s` = map key → encoded state, `v` = version), so one putMany
 * writes at most one item per touched bucket part, not one per key.
 *
 * - Each part holds at most `maxItemBytes` (default 64 KiB, well under the 400 KB limit). A bucket that outgrows
 *   its part spills into further parts (`sk = 1, 2, …`) up to `maxPartsPerBucket`; beyond that, the least
 *   recently seen keys (smallest `lastWindow`) are evicted: their baseline is forgotten and they start again as
 *   new keys (judged against the population). {@link evicted} counts them. Keys idle for `maxIdleMs` are dropped
 *   whenever their part is rewritten anyway.
 * - Keys stay in their part; new keys go to the first part with room; only parts whose content changed are
 *   written. Unchanged states produce no write at all.
 * - Writes are conditional on the part's version (optimistic locking), so two writers touching one bucket never
 *   lose each other's keys: the loser re-reads and re-applies its own keys, bounded by `maxConflictRetries`.
 *
 * Cost note: DynamoDB bills a write by item size (1 WCU per KB), so a part's size is what a write of it costs.
 * Size buckets so that the active key population fills parts modestly: about 100 bytes per key, i.e. with the
 * defaults (256 buckets × 64 KiB) about 170k keys before spilling.
 */
export class DynamoBaselineStore implements BaselineStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly buckets: number;
  private readonly maxItemBytes: number;
  private readonly maxParts: number;
  private readonly maxIdleMs: number;
  private readonly concurrency: number;
  private readonly maxConflictRetries: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  /** Keys forgotten to keep buckets within their size budget (least recent first). */
  evicted = 0;
  /** Stored entries that could not be decoded (skipped, as if absent). */
  corrupt = 0;
  /** Part items written (for cost accounting). */
  itemsWritten = 0;

  constructor(
    client: DynamoDBClient | DynamoDBDocumentClient,
    private readonly tableName: string,
    opts: DynamoBaselineStoreOptions = {},
  ) {
    this.doc = documentClient(client);
    this.buckets = opts.buckets ?? 256;
    this.maxItemBytes = opts.maxItemBytes ?? 64 * 1024;
    this.maxParts = opts.maxPartsPerBucket ?? 4;
    this.maxIdleMs = opts.maxIdleMs ?? 30 * 24 * 3600 * 1000;
    this.concurrency = opts.concurrency ?? 8;
    this.maxConflictRetries = opts.maxConflictRetries ?? 6;
    this.sleep = opts.sleep ?? realSleep;
    this.random = opts.random ?? Math.random;
    if (!Number.isInteger(this.buckets) || this.buckets < 1) throw new AdapterConfigError('buckets must be a positive integer');
    if (this.maxItemBytes < 1024 || this.maxItemBytes > DYNAMO_ITEM_LIMIT_BYTES - 10 * 1024) {
      throw new AdapterConfigError(`maxItemBytes must be between 1 KiB and ${DYNAMO_ITEM_LIMIT_BYTES - 10 * 1024}`);
    }
    if (!Number.isInteger(this.maxParts) || this.maxParts < 1) throw new AdapterConfigError('maxPartsPerBucket must be >= 1');
  }

  async getMany(keys: readonly string[]): Promise<Map<string, KeyState>> {
    const byBucket = this.group(keys);
    const out = new Map<string, KeyState>();
    await mapLimit([...byBucket.entries()], this.concurrency, async ([bucket, wanted]) => {
      const entries = mergeParts(await this.readBucket(bucket));
      for (const key of wanted) {
        const enc = entries.get(key);
        if (enc === undefined) continue;
        const state = decodeKeyState(enc);
        if (state) out.set(key, state);
        else this.corrupt++;
      }
    });
    return out;
  }

  async putMany(states: ReadonlyMap<string, KeyState>): Promise<void> {
    const byBucket = new Map<number, Map<string, string>>();
    for (const [key, state] of states) {
      const b = bucketOf(key, this.buckets);
      let m = byBucket.get(b);
      if (!m) byBucket.set(b, (m = new Map()));
      m.set(key, encodeKeyState(state));
    }
    await mapLimit([...byBucket.entries()], this.concurrency, ([bucket, updates]) => this.putBucket(bucket, updates));
  }

  private group(keys: readonly string[]): Map<number, Set<string>> {
    const byBucket = new Map<number, Set<string>>();
    for (const key of keys) {
      const b = bucketOf(key, this.buckets);
      let s = byBucket.get(b);
      if (!s) byBucket.set(b, (s = new Set()));
      s.add(key);
    }
    return byBucket;
  }

  private async readBucket(bucket: number): Promise<Part[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `base#${bucket}` },
      ConsistentRead: true,
    });
    return items
      .map((it) => ({
        part: Number(it.sk),
        version: typeof it.v === 'number' ? it.v : 0,
        entries: this.entriesOf(it.s),
      }))
      .sort((a, b) => a.part - b.part);
  }

  /** The string entries of a part's map. A damaged item (not a map, entries not strings) is counted, never thrown: what it held is dropped when the part is rewritten. */
  private entriesOf(s: unknown): Map<string, string> {
    const out = new Map<string, string>();
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      if (s !== undefined) this.corrupt++;
      return out;
    }
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === 'string') out.set(k, v);
      else this.corrupt++;
    }
    return out;
  }

  private async putBucket(bucket: number, updates: Map<string, string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const parts = await this.readBucket(bucket);
      const dirty = this.plan(parts, new Map(updates));
      try {
        for (const p of dirty) await this.writePart(bucket, p);
        return;
      } catch (err) {
        if (!isConditionalCheckFailed(err)) throw err;
        if (attempt + 1 >= this.maxConflictRetries) {
          throw new ContentionError(
            `baseline bucket ${bucket}: concurrent writers won ${attempt + 1} times in a row`,
            'dynamodb',
            'PutItem',
            { table: this.tableName, bucket, attempts: attempt + 1 },
            { cause: err },
          );
        }
        await this.sleep(backoffDelay(attempt, { baseDelayMs: 20, maxDelayMs: 1_000, random: this.random }));
      }
    }
  }

  /**
   * Applies `updates` to `parts` in place and returns the parts whose content changed. Keys keep their part; new
   * keys (and keys pushed out of a part that grew past its budget) fill the first part with room, then new parts,
   * then the least recent keys of the bucket are evicted.
   */
  private plan(parts: Part[], updates: Map<string, string>): Part[] {
    const changed = new Set<Part>();
    // Where each key lives now (a key found in two parts, left by an interrupted move, keeps its newest copy).
    const home = new Map<string, Part>();
    for (const p of parts) {
      for (const [key, enc] of p.entries) {
        const prev = home.get(key);
        if (!prev) {
          home.set(key, p);
          continue;
        }
        const keepNew = lastWindowOf(enc) > lastWindowOf(prev.entries.get(key)!);
        const loser = keepNew ? prev : p;
        if (keepNew) home.set(key, p);
        loser.entries.delete(key);
        changed.add(loser);
      }
    }
    const homeless: string[] = [];
    for (const [key, enc] of updates) {
      const p = home.get(key);
      if (p) {
        if (p.entries.get(key) !== enc) {
          p.entries.set(key, enc);
          changed.add(p);
        }
      } else {
        homeless.push(key);
      }
    }
    if (changed.size === 0 && homeless.length === 0) return [];

    // Idle keys are dropped from parts that are rewritten anyway (never a write just to evict).
    let newest = 0;
    for (const enc of updates.values()) newest = Math.max(newest, lastWindowOf(enc));
    for (const p of parts) for (const enc of p.entries.values()) newest = Math.max(newest, lastWindowOf(enc));
    const idleBefore = newest - this.maxIdleMs;
    for (const p of changed) {
      for (const [key, enc] of p.entries) {
        if (!updates.has(key) && lastWindowOf(enc) < idleBefore) {
          p.entries.delete(key);
          this.evicted++;
        }
      }
    }

    const size = (p: Part) => {
      let n = PART_OVERHEAD_BYTES;
      for (const [k, v] of p.entries) n += entryBytes(k, v);
      return n;
    };
    // Parts that grew past the budget push out their least recent keys to be placed again.
    const sizes = new Map<Part, number>();
    for (const p of parts) {
      let s = size(p);
      if (s > this.maxItemBytes) {
        const byAge = [...p.entries].sort((a, b) => lastWindowOf(a[1]) - lastWindowOf(b[1]));
        for (const [key, enc] of byAge) {
          if (s <= this.maxItemBytes) break;
          p.entries.delete(key);
          s -= entryBytes(key, enc);
          homeless.push(key);
          updates.set(key, updates.get(key) ?? enc);
          changed.add(p);
        }
      }
      sizes.set(p, s);
    }

    // Place homeless keys, newest first, so that if anything must go it is the least recent.
    homeless.sort((a, b) => lastWindowOf(updates.get(b)!) - lastWindowOf(updates.get(a)!));
    for (const key of homeless) {
      const enc = updates.get(key)!;
      const need = entryBytes(key, enc);
      let target = parts.find((p) => sizes.get(p)! + need <= this.maxItemBytes);
      if (!target && parts.length < this.maxParts) {
        target = { part: nextPartNumber(parts), version: undefined, entries: new Map() };
        parts.push(target);
        sizes.set(target, PART_OVERHEAD_BYTES);
      }
      if (!target) {
        target = this.evictFor(parts, sizes, need, lastWindowOf(enc), changed) ?? undefined;
        if (!target) {
          this.evicted++; // older than everything stored: the newcomer itself is the least recent key
          continue;
        }
      }
      target.entries.set(key, enc);
      sizes.set(target, sizes.get(target)! + need);
      changed.add(target);
    }
    return parts.filter((p) => changed.has(p));
  }

  /** Evicts keys older than `than` from the part where that frees `need` bytes soonest; null if none can. */
  private evictFor(parts: Part[], sizes: Map<Part, number>, need: number, than: number, changed: Set<Part>): Part | null {
    let best: { part: Part; victims: [string, string][] } | null = null;
    for (const p of parts) {
      const byAge = [...p.entries].filter(([, e]) => lastWindowOf(e) < than).sort((a, b) => lastWindowOf(a[1]) - lastWindowOf(b[1]));
      let free = this.maxItemBytes - sizes.get(p)!;
      const victims: [string, string][] = [];
      for (const [k, e] of byAge) {
        if (free >= need) break;
        victims.push([k, e]);
        free += entryBytes(k, e);
      }
      if (free < need) continue;
      const oldest = victims.length ? lastWindowOf(victims[0][1]) : Infinity;
      const bestOldest = best?.victims.length ? lastWindowOf(best.victims[0][1]) : Infinity;
      if (!best || oldest < bestOldest || (oldest === bestOldest && victims.length < best.victims.length)) best = { part: p, victims };
    }
    if (!best) return null;
    let s = sizes.get(best.part)!;
    for (const [k, e] of best.victims) {
      best.part.entries.delete(k);
      s -= entryBytes(k, e);
      this.evicted++;
    }
    sizes.set(best.part, s);
    changed.add(best.part);
    return best.part;
  }

  private async writePart(bucket: number, p: Part): Promise<void> {
    const item: Item = { pk: `base#${bucket}`, sk: String(p.part), v: (p.version ?? 0) + 1, s: Object.fromEntries(p.entries) };
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: item,
        ...(p.version === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': p.version } }),
      }),
    );
    this.itemsWritten++;
    p.version = (p.version ?? 0) + 1;
  }
}

function mergeParts(parts: Part[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of parts) {
    for (const [k, v] of p.entries) {
      const prev = out.get(k);
      if (prev === undefined || lastWindowOf(v) > lastWindowOf(prev)) out.set(k, v);
    }
  }
  return out;
}

function nextPartNumber(parts: Part[]): number {
  let n = 0;
  for (const p of parts) n = Math.max(n, p.part + 1);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Ledger
// ---------------------------------------------------------------------------------------------------------------

export interface DynamoLedgerStoreOptions {
  /**
   * Seconds an entry is kept after it expires (or ends) before DynamoDB TTL may delete it. Must cover the
   * escalation lookback (repeat offences are counted from history). Default 35 days.
   */
  graceSeconds?: number;
}

/**
 * {@link LedgerStore} on the ledger table: `pk` = target, `sk` = createdAt (epoch ms), attributes `targetKind`,
 * `expiresAt`, `status`, `endedAt`, `reasons`, `score`, `priorBlocks`, `evidence` (JSON text) and `ttl`
 * (epoch seconds = max(expiresAt, endedAt) + grace).
 *
 * - listActive filters `status = active AND expiresAt > now` itself: TTL deletes lazily, up to two days late.
 * - An entry that has ended (released or expired) is never made active again by a later put of the same
 *   (target, createdAt): that is a redelivered decision arriving after an operator's release, and the conditional
 *   write keeps the release. Such a stale put is a no-op (counted in {@link staleReactivations}).
 * - listActive and listAll scan the table: it only holds entries within expiry + grace, a few thousand at most.
 */
export class DynamoLedgerStore implements LedgerStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly graceSeconds: number;
  staleReactivations = 0;

  constructor(
    client: DynamoDBClient | DynamoDBDocumentClient,
    private readonly tableName: string,
    opts: DynamoLedgerStoreOptions = {},
  ) {
    this.doc = documentClient(client);
    this.graceSeconds = opts.graceSeconds ?? 35 * 24 * 3600;
  }

  async put(entry: LedgerEntry): Promise<void> {
    for (const [field, v] of [
      ['createdAt', entry.createdAt],
      ['expiresAt', entry.expiresAt],
      ['score', entry.score],
      ['priorBlocks', entry.priorBlocks],
    ] as const) {
      if (!Number.isFinite(v)) {
        throw new AwsRejectedError(`ledger entry for ${entry.target}: ${field} must be a finite number`, 'dynamodb', 'PutItem', { field });
      }
    }
    if (!entry.target) throw new AwsRejectedError('ledger entry without a target', 'dynamodb', 'PutItem');
    const end = Math.max(entry.expiresAt, entry.endedAt ?? 0);
    const item: Item = {
      pk: entry.target,
      sk: entry.createdAt,
      targetKind: entry.targetKind,
      expiresAt: entry.expiresAt,
      status: entry.status,
      endedAt: entry.endedAt,
      reasons: entry.reasons,
      score: entry.score,
      priorBlocks: entry.priorBlocks,
      alerted: entry.alerted ?? [],
      evidence: JSON.stringify(entry.evidence),
      ttl: Math.ceil(end / 1000) + this.graceSeconds,
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ...(entry.status === 'active'
            ? {
                ConditionExpression: 'attribute_not_exists(pk) OR #st = :active',
                ExpressionAttributeNames: { '#st': 'status' },
                ExpressionAttributeValues: { ':active': 'active' },
              }
            : {}),
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      this.staleReactivations++;
    }
  }

  async listActive(now: number): Promise<LedgerEntry[]> {
    const items = await scanAll(this.doc, {
      TableName: this.tableName,
      FilterExpression: '#st = :active AND #exp > :now',
      ExpressionAttributeNames: { '#st': 'status', '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':active': 'active', ':now': now },
      ConsistentRead: true,
    });
    return items.flatMap(toEntry).sort(newestFirst);
  }

  async history(target: string): Promise<LedgerEntry[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :t',
      ExpressionAttributeValues: { ':t': target },
      ScanIndexForward: false,
      ConsistentRead: true,
    });
    return items.flatMap(toEntry);
  }

  async listAll(): Promise<LedgerEntry[]> {
    const items = await scanAll(this.doc, { TableName: this.tableName, ConsistentRead: true });
    return items.flatMap(toEntry).sort(newestFirst);
  }

  /**
   * Sets `alerted` of every entry in one TransactWriteItems (per 100 entries, DynamoDB's limit): all marks of an
   * alert batch are stored or none. Only `alerted` is written, so a status changed meanwhile (an operator's release)
   * stays and is alerted on the next run. An entry that is gone (TTL) is skipped, never re-created as a stub; a
   * transaction that lost to another writer is tried again (bounded), anything else is thrown.
   */
  async markAlerted(entries: LedgerEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += TRANSACT_MAX_ITEMS) {
      let chunk = entries.slice(i, i + TRANSACT_MAX_ITEMS);
      for (let attempt = 0; chunk.length > 0; attempt++) {
        try {
          await this.doc.send(new TransactWriteCommand({
            TransactItems: chunk.map((e) => ({
              Update: {
                TableName: this.tableName,
                Key: { pk: e.target, sk: e.createdAt },
                UpdateExpression: 'SET #al = :al',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: { '#al': 'alerted' },
                ExpressionAttributeValues: { ':al': e.alerted ?? [] },
              },
            })),
          }));
          break;
        } catch (err) {
          const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
          const retryable = awsErrorName(err) === 'TransactionCanceledException' && reasons.length === chunk.length &&
            reasons.every((r) => ['None', 'ConditionalCheckFailed', 'TransactionConflict'].includes(r.Code ?? 'None'));
          if (!retryable || attempt + 1 >= 4) throw err;
          chunk = chunk.filter((_, j) => reasons[j]?.Code !== 'ConditionalCheckFailed');
          if (reasons.some((r) => r.Code === 'TransactionConflict')) await realSleep(backoffDelay(attempt, { baseDelayMs: 20, maxDelayMs: 500 }));
        }
      }
    }
  }
}

/** Items per TransactWriteItems. */
const TRANSACT_MAX_ITEMS = 100;

function newestFirst(a: LedgerEntry, b: LedgerEntry): number {
  return b.createdAt - a.createdAt || (a.target < b.target ? -1 : a.target > b.target ? 1 : 0);
}

const TARGET_KINDS: ReadonlySet<unknown> = new Set(['ip', 'cidr', 'principal']);
const STATUSES: ReadonlySet<unknown> = new Set(['active', 'released', 'expired', 'held']);

/** The entry of an item, or none for a damaged item (skipped like a corrupt SQLite row: it never blocks anyone). */
function toEntry(it: Item): LedgerEntry[] {
  let evidence: Evidence;
  try {
    evidence = JSON.parse(String(it.evidence ?? '{}')) as Evidence;
  } catch {
    return [];
  }
  if (!TARGET_KINDS.has(it.targetKind) || !STATUSES.has(it.status) || typeof evidence !== 'object' || evidence === null) return [];
  if (![it.sk, it.expiresAt, it.score].every((v) => Number.isFinite(Number(v)))) return [];
  const entry: LedgerEntry = {
    target: String(it.pk),
    targetKind: it.targetKind as LedgerEntry['targetKind'],
    createdAt: Number(it.sk),
    expiresAt: Number(it.expiresAt),
    status: it.status as LedgerEntry['status'],
    reasons: Array.isArray(it.reasons) ? (it.reasons as string[]) : [],
    score: Number(it.score),
    priorBlocks: Number(it.priorBlocks ?? 0),
    evidence,
  };
  if (typeof it.endedAt === 'number') entry.endedAt = it.endedAt;
  if (Array.isArray(it.alerted) && it.alerted.length) entry.alerted = it.alerted as LedgerEntry['status'][];
  return [entry];
}

// ---------------------------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------------------------

/**
 * {@link IdempotencyStore} on the state table (`pk = idem#<id>`, `sk = idem`, `ttl`): a conditional put that
 * succeeds only if no unexpired mark exists. A mark past its ttl but not yet deleted (TTL is lazy) counts as gone.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient | DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {
    this.doc = documentClient(client);
  }

  async claim(id: string, ttlSeconds: number): Promise<boolean> {
    if (!id) throw new AwsRejectedError('idempotency id must not be empty', 'dynamodb', 'PutItem');
    const nowSec = Math.floor(this.now() / 1000);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `idem#${id}`, sk: 'idem', ttl: nowSec + Math.max(1, Math.ceil(ttlSeconds)) },
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :now',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':now': nowSec },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}
