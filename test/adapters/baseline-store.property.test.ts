import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoBaselineStore } from '../../src/adapters/aws/dynamodb.ts';
import type { KeyState } from '../../src/ports.ts';

/**
 * The bucket packing of DynamoBaselineStore, checked with random put sequences against a small in-memory table
 * that honours the adapter's conditional writes (moto is exercised in dynamodb.test.ts; this is about the planner).
 */

type Item = { pk: string; sk: string; v: number; s: Record<string, string> };

function fakeTable(doc: DynamoDBDocumentClient) {
  const items = new Map<string, Item>();
  const mock = mockClient(doc);
  const conditionFailed = () => Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException', $metadata: {} });
  mock.on(QueryCommand).callsFake((input: { ExpressionAttributeValues: Record<string, string> }) => ({
    Items: [...items.values()].filter((i) => i.pk === input.ExpressionAttributeValues[':pk']).map((i) => structuredClone(i)),
  }));
  mock.on(PutCommand).callsFake((input: { Item: Item; ConditionExpression?: string; ExpressionAttributeValues?: Record<string, number> }) => {
    const key = `${input.Item.pk}|${input.Item.sk}`;
    const cur = items.get(key);
    if (input.ConditionExpression === 'attribute_not_exists(pk)' && cur) throw conditionFailed();
    if (input.ConditionExpression === 'v = :v' && cur?.v !== input.ExpressionAttributeValues?.[':v']) throw conditionFailed();
    items.set(key, structuredClone(input.Item));
    return {};
  });
  return { items, mock };
}

const MAX_ITEM = 1024;
const MAX_PARTS = 2;
const itemBytes = (i: Item) => 64 + Object.entries(i.s).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 4, 0);

const stateArb = fc.record({
    reqMean: fc.double({ min: 0, max: 20, noNaN: true }),
    reqVar: fc.double({ min: 0, max: 5, noNaN: true }),
    bytesMean: fc.double({ min: 0, max: 30, noNaN: true }),
    bytesVar: fc.double({ min: 0, max: 5, noNaN: true }),
    ipsMean: fc.double({ min: 0, max: 50, noNaN: true }),
    windows: fc.nat(10_000),
    flags: fc.nat(7),
    lastWindow: fc.constant(0),
  });

describe('DynamoBaselineStore packing (property)', () => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const { items, mock } = fakeTable(doc);
  afterAll(() => mock.restore());

  it('parts stay within budget and count, and every stored key holds its latest state', async () => {
    const keyArb = fc.oneof(
      fc.nat(60).map((i) => `203.0.113.${i}`),
      fc.nat(20).map((i) => `arn:aws:iam::123456789012:user/user-${i}`),
    );
    const opsArb = fc.array(fc.array(fc.tuple(keyArb, stateArb), { minLength: 1, maxLength: 25 }), { minLength: 1, maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
        items.clear();
        const store = new DynamoBaselineStore(doc, 't', { buckets: 2, maxItemBytes: MAX_ITEM, maxPartsPerBucket: MAX_PARTS, sleep: async () => {} });
        const latest = new Map<string, KeyState>();
        for (let op = 0; op < ops.length; op++) {
          const t = 1_700_000_000_000 + op * 60_000;
          const batch = new Map<string, KeyState>();
          for (const [k, s] of ops[op]) batch.set(k, { ...s, lastWindow: t });
          await store.putMany(batch);
          for (const [k, s] of batch) latest.set(k, s);

          for (const item of items.values()) expect(itemBytes(item)).toBeLessThanOrEqual(MAX_ITEM);
          for (const b of [0, 1]) expect([...items.values()].filter((i) => i.pk === `base#${b}`).length).toBeLessThanOrEqual(MAX_PARTS);
          const got = await store.getMany([...latest.keys()]);
          for (const [k, s] of got) expect(s).toEqual(latest.get(k));
          // Everything just written is kept (it is the most recent), unless one bucket cannot hold the batch at all.
          for (const k of batch.keys()) if (!got.has(k)) expect(store.evicted).toBeGreaterThan(0);
          // A key is stored at most once.
          const seen = new Map<string, number>();
          for (const item of items.values()) for (const k of Object.keys(item.s)) seen.set(k, (seen.get(k) ?? 0) + 1);
          for (const n of seen.values()) expect(n).toBe(1);
        }
      }),
      { numRuns: 60 },
    );
  });
});
