import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isOpenEntry, LEDGER_PENDING_LOOKBACK_MS, type LedgerEntry, type LedgerKey, type LedgerStore } from '../../ports.ts';
import type { Evidence } from '../../decision.ts';
import { documentClient, isConditionalCheckFailed, LEDGER_TABLE_KEYS, mapLimit, queryAll, scanAll, type Item } from './dynamo-common.ts';
import { AwsRejectedError } from './errors.ts';
import { awsErrorName, backoffDelay, realSleep } from './retry.ts';

export { STATE_TABLE_KEYS, LEDGER_TABLE_KEYS, createTableInput } from './dynamo-common.ts';

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
 * - listActive and listOpen query the status index (`byStatus`: status, then ttl), so a ledger holding a month of
 *   ended entries costs them nothing; the index is eventually consistent, and the entries a caller knows were just
 *   written are read from the table itself. Only listAll (an operator's listing) scans.
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
      effectiveAt: entry.effectiveAt,
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
    const items = await this.byStatus('active', undefined, { expression: '#exp > :now', names: { '#exp': 'expiresAt' }, values: { ':now': now } });
    return items.flatMap(toEntry).sort(newestFirst);
  }

  async listOpen(now: number, written: readonly LedgerKey[] = []): Promise<LedgerEntry[]> {
    // Ended or held entries whose end lies within the lookback: ttl = end (s) + grace, so the range starts there.
    const since = Math.floor((now - LEDGER_PENDING_LOOKBACK_MS) / 1000) + this.graceSeconds;
    const unalerted = { expression: 'NOT contains(#al, :self)', names: { '#al': 'alerted' } };
    const lists = await Promise.all([
      this.byStatus('active'),
      ...(['held', 'expired', 'released'] as const).map((st) => this.byStatus(st, since, { ...unalerted, values: { ':self': st } })),
    ]);
    const keyOf = (k: LedgerKey) => `${k.target}#${k.createdAt}`;
    const byKey = new Map<string, LedgerEntry>();
    for (const e of lists.flat().flatMap(toEntry)) byKey.set(keyOf(e), e);
    // From the table itself (the index may lag a moment behind): the entries the caller names, and every entry contain
    // may write back (one to enforce, expire or alert), so it never puts an older copy over a newer write (an
    // operator's extension, a block just enforced). Only blocks in force and announced are taken from the index.
    const consistent = new Map<string, LedgerKey>(written.map((k) => [keyOf(k), k]));
    for (const e of byKey.values()) if (!isSettled(e, now)) consistent.set(keyOf(e), e);
    const fresh = await mapLimit([...consistent.entries()], 8, async ([key, k]) => {
      const r = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: k.target, sk: k.createdAt }, ConsistentRead: true }));
      return { key, entry: r.Item ? toEntry(r.Item)[0] : undefined };
    });
    for (const { key, entry } of fresh) {
      if (entry) byKey.set(key, entry);
      else byKey.delete(key); // gone (TTL) or damaged
    }
    return [...byKey.values()].filter((e) => isOpenEntry(e, now)).sort(newestFirst);
  }

  /** Items of one status from the status index, those ending (ttl) after `ttlAfter` if given, filtered further. */
  private byStatus(status: LedgerEntry['status'], ttlAfter?: number,
    filter?: { expression: string; names: Record<string, string>; values: Record<string, unknown> }): Promise<Item[]> {
    const index = LEDGER_TABLE_KEYS.statusIndex;
    return queryAll(this.doc, {
      TableName: this.tableName,
      IndexName: index.name,
      KeyConditionExpression: ttlAfter === undefined ? '#st = :st' : '#st = :st AND #ttl > :after',
      ...(filter ? { FilterExpression: filter.expression } : {}),
      ExpressionAttributeNames: { '#st': index.partitionKey.name, ...(ttlAfter === undefined ? {} : { '#ttl': index.sortKey.name }), ...filter?.names },
      ExpressionAttributeValues: { ':st': status, ...(ttlAfter === undefined ? {} : { ':after': ttlAfter }), ...filter?.values },
    });
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

/** A block in force, enforced and announced: nothing contain would write to it this run. */
function isSettled(e: LedgerEntry, now: number): boolean {
  return e.status === 'active' && e.effectiveAt !== undefined && e.expiresAt > now && (e.alerted ?? []).includes('active');
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
  if (typeof it.effectiveAt === 'number') entry.effectiveAt = it.effectiveAt;
  if (Array.isArray(it.alerted) && it.alerted.length) entry.alerted = it.alerted as LedgerEntry['status'][];
  return [entry];
}
