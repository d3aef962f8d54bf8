import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LedgerEntry, LedgerStore } from '../../ports.ts';
import type { Evidence } from '../../decision.ts';
import { documentClient, isConditionalCheckFailed, queryAll, scanAll, type Item } from './dynamo-common.ts';
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
  if (typeof it.effectiveAt === 'number') entry.effectiveAt = it.effectiveAt;
  if (Array.isArray(it.alerted) && it.alerted.length) entry.alerted = it.alerted as LedgerEntry['status'][];
  return [entry];
}
