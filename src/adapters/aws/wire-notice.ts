import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isWireNotice, type WireNotice, type WireNoticeBoard } from '../../engine/wire-handshake.ts';
import { documentClient, isConditionalCheckFailed } from './dynamo-common.ts';

/** The state table's one item for the notice (src/engine/wire-handshake.ts); ingest may read only this key. */
export const WIRE_NOTICE_KEY = { pk: 'wire', sk: 'readers' } as const;

/**
 * {@link WireNoticeBoard} on the state table: a strongly consistent read, and a put conditioned on the whole notice
 * as read (or on its absence), so a detect that read an older notice loses the race instead of undoing a change.
 */
export class DynamoWireNoticeBoard implements WireNoticeBoard {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient | DynamoDBDocumentClient, private readonly tableName: string) {
    this.doc = documentClient(client);
  }

  async read(): Promise<WireNotice | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: WIRE_NOTICE_KEY, ConsistentRead: true }));
    const n = r.Item ? { level: r.Item.level, since: r.Item.since, before: r.Item.before, heartbeat: r.Item.heartbeat } : undefined;
    return isWireNotice(n) ? n : undefined;
  }

  async swap(prev: WireNotice | undefined, next: WireNotice): Promise<boolean> {
    const condition = prev
      ? { ConditionExpression: '#l = :l AND #s = :s AND #b = :b AND #h = :h',
          ExpressionAttributeNames: { '#l': 'level', '#s': 'since', '#b': 'before', '#h': 'heartbeat' },
          ExpressionAttributeValues: { ':l': prev.level, ':s': prev.since, ':b': prev.before, ':h': prev.heartbeat } }
      // None readable: absent, or not a notice (a field missing or not a number), which is overwritten.
      : { ConditionExpression: 'attribute_not_exists(pk) OR NOT (attribute_type(#l, :n) AND attribute_type(#s, :n) AND attribute_type(#b, :n) AND attribute_type(#h, :n))',
          ExpressionAttributeNames: { '#l': 'level', '#s': 'since', '#b': 'before', '#h': 'heartbeat' },
          ExpressionAttributeValues: { ':n': 'N' } };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...WIRE_NOTICE_KEY, ...next }, ...condition }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}
