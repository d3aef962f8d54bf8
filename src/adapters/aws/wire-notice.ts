import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isWireNotice, type WireNotice, type WireNoticeBoard } from '../../engine/wire-handshake.ts';
import { documentClient, isConditionalCheckFailed } from './dynamo-common.ts';

/** The state table's one item for the notice (src/engine/wire-handshake.ts); ingest may read only partition key `wire`. */
export const WIRE_NOTICE_KEY = { pk: 'wire', sk: 'readers' } as const;

/** The notice's attributes, as read (the document client gives a number as number, or bigint past 2^53). */
type RawFields = Record<'level' | 'since' | 'before' | 'heartbeat', unknown>;

const NAMES = { '#l': 'level', '#s': 'since', '#b': 'before', '#h': 'heartbeat' };

/**
 * {@link WireNoticeBoard} on the state table: a strongly consistent read, and a put conditioned on the whole notice
 * as read (or on its absence), so a detect that read an older notice loses the race instead of undoing a change.
 *
 * An item that is there but is no notice reads as none, and is overwritten: one with a field missing or not a number
 * by the condition on the attributes' types; one of four numbers that make no notice (level 0, say) by a condition on
 * those very numbers, remembered from the read that saw them. That one stays a compare-and-swap, rather than an
 * unconditional put: a detect that changed the item since this board read it wins, as for a valid notice.
 */
export class DynamoWireNoticeBoard implements WireNoticeBoard {
  private readonly doc: DynamoDBDocumentClient;
  /** The numbers of the item the last read() found to be no notice; undefined after any other read. */
  private invalidNumbers: RawFields | undefined;

  constructor(client: DynamoDBClient | DynamoDBDocumentClient, private readonly tableName: string) {
    this.doc = documentClient(client);
  }

  async read(): Promise<WireNotice | undefined> {
    this.invalidNumbers = undefined;
    const r = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: WIRE_NOTICE_KEY, ConsistentRead: true }));
    const n: RawFields | undefined = r.Item
      ? { level: r.Item.level, since: r.Item.since, before: r.Item.before, heartbeat: r.Item.heartbeat }
      : undefined;
    if (isWireNotice(n)) return n;
    if (n && Object.values(n).every((v) => typeof v === 'number' || typeof v === 'bigint')) this.invalidNumbers = n;
    return undefined;
  }

  async swap(prev: WireNotice | undefined, next: WireNotice): Promise<boolean> {
    const seen = this.invalidNumbers;
    const condition = prev
      ? { ConditionExpression: '#l = :l AND #s = :s AND #b = :b AND #h = :h', ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':l': prev.level, ':s': prev.since, ':b': prev.before, ':h': prev.heartbeat } }
      // None readable: absent, or not a notice (a field missing or not a number), which is overwritten; or the numbers
      // that were read and make no notice.
      : { ConditionExpression: 'attribute_not_exists(pk) OR NOT (attribute_type(#l, :n) AND attribute_type(#s, :n) AND attribute_type(#b, :n) AND attribute_type(#h, :n))'
            + (seen ? ' OR (#l = :l AND #s = :s AND #b = :b AND #h = :h)' : ''),
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':n': 'N', ...(seen ? { ':l': seen.level, ':s': seen.since, ':b': seen.before, ':h': seen.heartbeat } : {}) } };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...WIRE_NOTICE_KEY, ...next }, ...condition }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}
