import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BlobStore } from '../../ports-blob.ts';
import type { ScopeProgress, WindowPart, WindowStore } from '../../ports-window.ts';
import {
  batchWriteAll,
  documentClient,
  isConditionalCheckFailed,
  mapLimit,
  queryAll,
  utf8Bytes,
  DEFAULT_UNPROCESSED_BACKOFF,
  DYNAMO_ITEM_LIMIT_BYTES,
  type WriteRequest,
} from './dynamo-common.ts';
import { AwsRejectedError, DynamoItemTooLargeError } from './errors.ts';
import type { BackoffOptions } from './retry.ts';

export interface DynamoWindowStoreOptions {
  /** Seconds (wall clock) a stored part or marker lives before TTL may delete it, if never dropped. Default 2 days. */
  ttlSeconds?: number;
  /** Backoff for resending BatchWriteItem UnprocessedItems. */
  unprocessedBackoff?: BackoffOptions;
  now?: () => number;
  /**
   * Where bodies of more than `minBytes` go (S3): the item then holds only a reference. DynamoDB bills a write by
   * the KB and S3 by the request, so past a few KB a body is cheaper as an object. Without it every body is inline.
   */
  bodies?: { store: BlobStore; minBytes?: number };
}

/** A body this size costs about as much written to DynamoDB (1 WRU per KB) as one S3 PUT. */
const DEFAULT_OFFLOAD_BYTES = 4 * 1024;
/** Parallel S3 requests per call. */
const BLOB_CONCURRENCY = 8;

/** Room left in an item for the keys and attribute names around a part's body. */
const MAX_BODY_BYTES = DYNAMO_ITEM_LIMIT_BYTES - 8 * 1024;

const pad = (t: number) => String(t).padStart(16, '0');

/**
 * {@link WindowStore} on the state table:
 *
 * - parts: `pk = win#<scope>#<windowStart>`, `sk = <partId>`, `body`, `ttl`. A redelivered part has the same key
 *   and overwrites itself, so nothing is counted twice. Each window is its own partition.
 * - open-window markers: `pk = wins#<scope>`, `sk = <windowStart, zero-padded>`, so openWindows is one small Query.
 *   Parts are written before their markers: a listed window always has its parts.
 * - watermark: `pk = mark#<scope>`, `sk = wm`, `t`, only ever raised (conditional update).
 *
 * With `bodies`, a large body is an S3 object (`win/<scope>/<windowStart>/<partId>`) and its item carries `ref`
 * instead of `body`. The object is written before its item and deleted after it, so an item never points at
 * nothing; an object whose item was never written (a crash in between) is overwritten by the redelivery or
 * expires with the bucket's lifecycle rule on `win/`.
 *
 * `ttl` is wall clock + ttlSeconds (not event time, so replays of old logs are not deleted at once): it only
 * cleans up windows that were never dropped. Writes go through BatchWriteItem with bounded resends of
 * UnprocessedItems.
 */
export class DynamoWindowStore implements WindowStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly ttlSeconds: number;
  private readonly backoff: BackoffOptions;
  private readonly now: () => number;
  private readonly blobs: BlobStore | undefined;
  private readonly offloadBytes: number;
  /** Items whose S3 body was missing when read (returned with an empty body, which the reader skips as damaged). */
  missingBodies = 0;

  constructor(
    client: DynamoDBClient | DynamoDBDocumentClient,
    private readonly tableName: string,
    opts: DynamoWindowStoreOptions = {},
  ) {
    this.doc = documentClient(client);
    this.ttlSeconds = opts.ttlSeconds ?? 2 * 24 * 3600;
    this.backoff = opts.unprocessedBackoff ?? DEFAULT_UNPROCESSED_BACKOFF;
    this.now = opts.now ?? Date.now;
    this.blobs = opts.bodies?.store;
    this.offloadBytes = opts.bodies?.minBytes ?? DEFAULT_OFFLOAD_BYTES;
  }

  counters(): Record<string, number> {
    return { windowBodiesMissing: this.missingBodies };
  }

  async add(scope: string, parts: WindowPart[]): Promise<void> {
    if (parts.length === 0) return;
    checkScope(scope);
    const ttl = Math.ceil(this.now() / 1000) + this.ttlSeconds;
    // The last copy of a (windowStart, partId) in one call wins: BatchWriteItem refuses duplicate keys.
    const unique = new Map<string, WindowPart>();
    for (const p of parts) {
      checkWindowStart(p.windowStart);
      if (typeof p.partId !== 'string' || p.partId.length === 0 || utf8Bytes(p.partId) > 1024) {
        throw new AwsRejectedError('window part id must be 1..1024 bytes', 'dynamodb', 'BatchWriteItem', { scope });
      }
      const bytes = utf8Bytes(p.body);
      if (bytes > MAX_BODY_BYTES && !this.blobs) {
        throw new DynamoItemTooLargeError(
          `window part ${p.partId} is ${bytes} bytes; at most ${MAX_BODY_BYTES} fit in one item: split it`,
          'dynamodb',
          'BatchWriteItem',
          { scope, windowStart: p.windowStart, partId: p.partId, bytes },
        );
      }
      unique.set(`${p.windowStart}\n${p.partId}`, p);
    }
    const partWrites: WriteRequest[] = [];
    const windows = new Set<number>();
    const offloaded: { key: string; body: string }[] = [];
    for (const p of unique.values()) {
      windows.add(p.windowStart);
      const item: Record<string, unknown> = { pk: partPk(scope, p.windowStart), sk: p.partId, ttl };
      if (this.blobs && utf8Bytes(p.body) > this.offloadBytes) {
        item.ref = blobKey(scope, p.windowStart, p.partId);
        offloaded.push({ key: item.ref as string, body: p.body });
      } else {
        item.body = p.body;
      }
      partWrites.push({ PutRequest: { Item: item } });
    }
    const blobs = this.blobs;
    if (blobs) await mapLimit(offloaded, BLOB_CONCURRENCY, (o) => blobs.put(o.key, Buffer.from(o.body, 'utf8')));
    await batchWriteAll(this.doc, this.tableName, partWrites, this.backoff);
    const markers: WriteRequest[] = [...windows].map((ws) => ({
      PutRequest: { Item: { pk: `wins#${scope}`, sk: pad(ws), ws, ttl } },
    }));
    await batchWriteAll(this.doc, this.tableName, markers, this.backoff);
  }

  async openWindows(scope: string): Promise<number[]> {
    checkScope(scope);
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `wins#${scope}` },
      ConsistentRead: true,
    });
    return items.map((it) => Number(it.sk)).sort((a, b) => a - b);
  }

  async read(scope: string, windowStart: number): Promise<{ partId: string; body: string }[]> {
    checkScope(scope);
    checkWindowStart(windowStart);
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': partPk(scope, windowStart) },
      ConsistentRead: true,
    });
    const blobs = this.blobs;
    return mapLimit(items, BLOB_CONCURRENCY, async (it) => {
      if (typeof it.ref !== 'string') return { partId: String(it.sk), body: String(it.body) };
      const got = blobs ? await blobs.get(it.ref) : null;
      if (!got || got === 'unchanged') {
        this.missingBodies++;
        return { partId: String(it.sk), body: '' };
      }
      return { partId: String(it.sk), body: Buffer.from(got.body).toString('utf8') };
    });
  }

  async drop(scope: string, windowStart: number, partIds?: readonly string[]): Promise<void> {
    checkScope(scope);
    checkWindowStart(windowStart);
    const keys = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': partPk(scope, windowStart) },
      ProjectionExpression: 'pk, sk, #ref',
      ExpressionAttributeNames: { '#ref': 'ref' },
      ConsistentRead: true,
    });
    const only = partIds ? new Set(partIds) : null;
    const doomed = only ? keys.filter((k) => only.has(String(k.sk))) : keys;
    const deletes: WriteRequest[] = doomed.map((k) => ({ DeleteRequest: { Key: { pk: k.pk, sk: k.sk } } }));
    await batchWriteAll(this.doc, this.tableName, deletes, this.backoff);
    const refs = doomed.map((k) => k.ref).filter((r): r is string => typeof r === 'string');
    if (refs.length && this.blobs) await this.blobs.delete(refs);
    // A part written since the window was read keeps it open (its marker stays), to be decided on its own.
    if (doomed.length < keys.length) return;
    const marker = { pk: `wins#${scope}`, sk: pad(windowStart) };
    await batchWriteAll(this.doc, this.tableName, [{ DeleteRequest: { Key: marker } }], this.backoff);
    // A batch's add (its parts, then the marker) may have landed between the query above and this delete: its part
    // would be left with no marker, never listed, never decided. Looked for again, and the marker put back. An add
    // whose part lands after this look writes its marker after it, so nothing slips between.
    const since = await this.doc.send(new QueryCommand({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': partPk(scope, windowStart) },
      ProjectionExpression: 'pk',
      Limit: 1,
      ConsistentRead: true,
    }));
    if (since.Items?.length) {
      const ttl = Math.ceil(this.now() / 1000) + this.ttlSeconds;
      await batchWriteAll(this.doc, this.tableName, [{ PutRequest: { Item: { ...marker, ws: windowStart, ttl } } }], this.backoff);
    }
  }

  async scopes(): Promise<string[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'scopes' },
      ConsistentRead: true,
    });
    return items.map((it) => String(it.sk)).sort();
  }

  async unregisterScope(scope: string): Promise<void> {
    checkScope(scope);
    await batchWriteAll(this.doc, this.tableName, [{ DeleteRequest: { Key: { pk: 'scopes', sk: scope } } }], this.backoff);
  }

  async registerScope(scope: string): Promise<void> {
    checkScope(scope);
    // No TTL: a scope is listed until its shard's windows are closed; the item is a few bytes.
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: 'scopes', sk: scope } }));
  }

  async progress(scope: string): Promise<ScopeProgress | undefined> {
    checkScope(scope);
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `mark#${scope}`, sk: 'seq' }, ConsistentRead: true }),
    );
    const s = res.Item?.s;
    if (typeof s !== 'string') return undefined;
    const src = res.Item?.src;
    const sources: Record<string, string> = {};
    if (src && typeof src === 'object') for (const [k, v] of Object.entries(src as Record<string, unknown>)) if (typeof v === 'string') sources[k] = v;
    const at = res.Item?.at;
    const seenAt: Record<string, number> = {};
    if (at && typeof at === 'object') for (const [k, v] of Object.entries(at as Record<string, unknown>)) if (typeof v === 'number') seenAt[k] = v;
    const pc = res.Item?.pc;
    const pieces: Record<string, string[]> = {};
    if (pc && typeof pc === 'object') {
      for (const [k, v] of Object.entries(pc as Record<string, unknown>)) if (Array.isArray(v)) pieces[k] = v.filter((x): x is string => typeof x === 'string');
    }
    const wm = res.Item?.w;
    const fr = res.Item?.fr as { t?: unknown; at?: unknown; pl?: unknown } | undefined;
    const freshest = fr && typeof fr.t === 'number' && Number.isFinite(fr.t) && typeof fr.at === 'number' && Number.isFinite(fr.at)
      ? { time: fr.t, at: fr.at, ...(typeof fr.pl === 'number' && Number.isFinite(fr.pl) ? { priorLag: fr.pl } : {}) } : undefined;
    return { sequence: s, sources, seenAt, pieces, ...(typeof wm === 'number' && Number.isFinite(wm) ? { watermark: wm } : {}),
      ...(freshest ? { freshest } : {}) };
  }

  async setProgress(scope: string, progress: ScopeProgress): Promise<void> {
    checkScope(scope);
    await this.doc.send(new PutCommand({ TableName: this.tableName,
      Item: { pk: `mark#${scope}`, sk: 'seq', s: progress.sequence, src: progress.sources, at: progress.seenAt ?? {},
        // Only where a partition was cut across records (rare): most items carry none.
        ...(progress.pieces && Object.keys(progress.pieces).length ? { pc: progress.pieces } : {}),
        ...(progress.watermark !== undefined && Number.isFinite(progress.watermark) ? { w: progress.watermark } : {}),
        ...(progress.freshest && Number.isFinite(progress.freshest.time) ? { fr: { t: progress.freshest.time, at: progress.freshest.at,
          ...(progress.freshest.priorLag !== undefined ? { pl: progress.freshest.priorLag } : {}) } } : {}) } }));
  }

  async getWatermark(scope: string): Promise<number> {
    checkScope(scope);
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `mark#${scope}`, sk: 'wm' }, ConsistentRead: true }),
    );
    const t = res.Item?.t;
    return typeof t === 'number' ? t : 0;
  }

  async setWatermark(scope: string, t: number): Promise<void> {
    checkScope(scope);
    if (!Number.isFinite(t)) throw new AwsRejectedError(`watermark must be a finite number, got ${t}`, 'dynamodb', 'UpdateItem', { scope });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `mark#${scope}`, sk: 'wm' },
          UpdateExpression: 'SET #t = :t',
          ConditionExpression: 'attribute_not_exists(#t) OR #t < :t',
          ExpressionAttributeNames: { '#t': 't' },
          ExpressionAttributeValues: { ':t': t },
        }),
      );
    } catch (err) {
      // The stored watermark is already at or past t: keeping it is exactly the contract.
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }
}

function blobKey(scope: string, windowStart: number, partId: string): string {
  return `win/${scope}/${pad(windowStart)}/${partId}`;
}

function partPk(scope: string, windowStart: number): string {
  return `win#${scope}#${windowStart}`;
}

function checkScope(scope: string): void {
  if (typeof scope !== 'string' || scope.length === 0 || scope.length > 512) {
    throw new AwsRejectedError('window scope must be 1..512 characters', 'dynamodb', 'Query');
  }
}

function checkWindowStart(t: number): void {
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new AwsRejectedError(`windowStart must be a non-negative integer (epoch ms), got ${t}`, 'dynamodb', 'Query');
  }
}
