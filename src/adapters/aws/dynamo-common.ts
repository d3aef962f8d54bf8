import { DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  ScanCommand,
  type QueryCommandInput,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { AwsRejectedError, DynamoUnprocessedItemsError } from './errors.ts';
import { backoffDelay, realSleep, type BackoffOptions } from './retry.ts';

/**
 * Table layout shared by the DynamoDB adapters, and the helpers they share (document client, paginated
 * query/scan, BatchWriteItem with bounded resends of UnprocessedItems).
 *
 * Two tables, names passed to the adapters' constructors:
 *
 * - **state** (`pk` S, `sk` S, TTL on `ttl`): window part index items (`win#<scope>#<windowStart>` / partId;
 *   with a blob store, a large body is an S3 object and the item holds a reference), open-window markers
 *   (`wins#<scope>` / padded windowStart) and watermarks (`mark#<scope>` / `wm`). Baselines are not here: they
 *   are S3 objects per summaries shard, a base and a delta (src/pipeline/snapshot-baseline-store.ts).
 * - **ledger** (`pk` S = target, `sk` N = createdAt epoch ms, TTL on `ttl`; the contain stage reads its stream).
 *
 * The infrastructure code creates the tables from {@link STATE_TABLE_KEYS} and {@link LEDGER_TABLE_KEYS}.
 */

export const STATE_TABLE_KEYS = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  ttlAttribute: 'ttl',
} as const;

export const LEDGER_TABLE_KEYS = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'N' },
  ttlAttribute: 'ttl',
  /**
   * Entries by status, then by end (`ttl`): contain and detect read the active ones, and the recently ended ones
   * awaiting their alert, without scanning the ledger. Both attributes are written by every release of cordon, so
   * DynamoDB backfills the index on its own when it is added to an existing table.
   */
  statusIndex: { name: 'byStatus', partitionKey: { name: 'status', type: 'S' }, sortKey: { name: 'ttl', type: 'N' } },
} as const;

/** CreateTable input for either table (on-demand billing), e.g. for emulator tests and scripts. */
export function createTableInput(
  tableName: string,
  keys: typeof STATE_TABLE_KEYS | typeof LEDGER_TABLE_KEYS,
): CreateTableCommandInput {
  const index = 'statusIndex' in keys ? keys.statusIndex : undefined;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: keys.partitionKey.name, AttributeType: keys.partitionKey.type },
      { AttributeName: keys.sortKey.name, AttributeType: keys.sortKey.type },
      ...(index ? [
        { AttributeName: index.partitionKey.name, AttributeType: index.partitionKey.type },
        { AttributeName: index.sortKey.name, AttributeType: index.sortKey.type },
      ] : []),
    ],
    KeySchema: [
      { AttributeName: keys.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: keys.sortKey.name, KeyType: 'RANGE' },
    ],
    ...(index ? {
      GlobalSecondaryIndexes: [{
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      }],
    } : {}),
  };
}

/** DynamoDB's item size limit; the adapters keep well below it. */
export const DYNAMO_ITEM_LIMIT_BYTES = 400 * 1024;

/** A document client over `client` (or `client` itself if it is one already). */
export function documentClient(client: DynamoDBClient | DynamoDBDocumentClient): DynamoDBDocumentClient {
  const doc = client instanceof DynamoDBDocumentClient ? client : DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
  doc.middlewareStack.add(nameMissingTable, { step: 'initialize', name: 'cordonNameMissingTable', override: true });
  return doc;
}

/**
 * DynamoDB says only "Requested resource not found" for a missing table: every call of every adapter goes through
 * this one middleware, which names the table (a wrong name or region in the configuration is the usual cause).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a middleware sees every command's input
const nameMissingTable = (next: any, context: any) => async (args: any) => {
  try {
    return await next(args);
  } catch (err) {
    if ((err as Error)?.name !== 'ResourceNotFoundException') throw err;
    const input = (args?.input ?? {}) as { TableName?: string; RequestItems?: Record<string, unknown> };
    const table = input.TableName ?? Object.keys(input.RequestItems ?? {}).join(', ');
    const operation = String(context?.commandName ?? 'request').replace(/Command$/, '');
    throw new AwsRejectedError(`DynamoDB table ${table || '(unknown)'} not found: check the table name and region`, 'dynamodb', operation,
      { table }, { cause: err });
  }
};

export type Item = Record<string, unknown>;

export async function queryAll(doc: DynamoDBDocumentClient, input: QueryCommandInput): Promise<Item[]> {
  const out: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) out.push(item);
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

export async function scanAll(doc: DynamoDBDocumentClient, input: ScanCommandInput): Promise<Item[]> {
  const out: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ ...input, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) out.push(item);
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

export type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

export const DEFAULT_UNPROCESSED_BACKOFF: BackoffOptions = { maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 5_000 };

/**
 * Writes every request with BatchWriteItem (25 per call, a few calls in parallel). UnprocessedItems are sent
 * again with exponential backoff and jitter; after `maxAttempts` calls for a chunk, throws
 * {@link DynamoUnprocessedItemsError} with the number of items still unwritten. Requests must not repeat a key.
 */
export async function batchWriteAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  requests: readonly WriteRequest[],
  backoff: BackoffOptions = DEFAULT_UNPROCESSED_BACKOFF,
  concurrency = 4,
): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
  const sleep = backoff.sleep ?? realSleep;
  await mapLimit(chunks, concurrency, async (chunk) => {
    let pending: WriteRequest[] = chunk;
    for (let attempt = 0; ; attempt++) {
      const res = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      pending = (res.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
      if (pending.length === 0) return;
      if (attempt + 1 >= backoff.maxAttempts) {
        throw new DynamoUnprocessedItemsError(
          `BatchWriteItem on ${tableName}: ${pending.length} of ${chunk.length} items still unprocessed after ${attempt + 1} calls`,
          pending.length,
          { table: tableName, attempts: attempt + 1 },
        );
      }
      await sleep(backoffDelay(attempt, backoff));
    }
  });
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.err;
  return results;
}

export function isConditionalCheckFailed(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'ConditionalCheckFailedException';
}

/** UTF-8 byte length. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
