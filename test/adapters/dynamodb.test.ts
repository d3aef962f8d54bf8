import { CreateTableCommand, DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Evidence } from '../../src/decision.ts';
import type { KeyState, LedgerEntry } from '../../src/ports.ts';
import {
  createTableInput,
  DynamoBaselineStore,
  DynamoIdempotencyStore,
  DynamoLedgerStore,
  LEDGER_TABLE_KEYS,
  STATE_TABLE_KEYS,
  bucketOf,
  decodeKeyState,
  encodeKeyState,
} from '../../src/adapters/aws/dynamodb.ts';
import { DynamoUnprocessedItemsError } from '../../src/adapters/aws/errors.ts';
import { DynamoWindowStore } from '../../src/adapters/aws/window-store.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';
import { awsJsonError, FaultInjectingHandler, type FaultRule } from './fault-handler.ts';

const STATE = 'cordon-state';
const LEDGER = 'cordon-ledger';

function keyState(i: number, lastWindow = 1_700_000_000_000 + i * 60_000): KeyState {
  return {
    reqMean: Math.log1p(i) / 3,
    reqVar: 0.1 + i / 7,
    bytesMean: Math.log1p(i * 1000),
    bytesVar: 1 / 3,
    ipsMean: i % 5,
    windows: i,
    flags: i & 7,
    lastWindow,
  };
}

const evidence: Evidence = {
  key: '203.0.113.7',
  keyKind: 'ip',
  windowStart: 1_700_000_000_000,
  windowEnd: 1_700_000_060_000,
  findings: [{ rule: 'flood', score: 3.2, unmistakable: false, detail: '2400 requests in 60 s' }],
  features: { requests: 2400 },
  held: '2/3',
};

function entry(target: string, createdAt: number, expiresAt: number, status: LedgerEntry['status'] = 'active'): LedgerEntry {
  return { target, targetKind: 'ip', createdAt, expiresAt, status, reasons: ['flood'], score: 3.2, priorBlocks: 0, evidence };
}

describeMoto('DynamoDB adapters on moto', () => {
  const moto = useMoto();
  let client: DynamoDBClient;

  beforeAll(() => {
    client = new DynamoDBClient({ ...moto.clientConfig(), maxAttempts: 3 });
  });
  afterAll(() => client?.destroy());

  beforeEach(async () => {
    await moto.reset();
    await client.send(new CreateTableCommand(createTableInput(STATE, STATE_TABLE_KEYS)));
    await client.send(new CreateTableCommand(createTableInput(LEDGER, LEDGER_TABLE_KEYS)));
  });

  const rawParts = async (bucket: number) =>
    (
      await client.send(
        new QueryCommand({
          TableName: STATE,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: `base#${bucket}` } },
        }),
      )
    ).Items ?? [];

  it('encodes key states losslessly in a short string', () => {
    const s = keyState(17);
    expect(decodeKeyState(encodeKeyState(s))).toEqual(s);
    expect(decodeKeyState('1,2,3')).toBeNull();
    expect(bucketOf('203.0.113.7', 256)).toBe(bucketOf('203.0.113.7', 256));
  });

  it('baselines: round trip across buckets, one write per touched bucket, none when unchanged', async () => {
    const store = new DynamoBaselineStore(client, STATE, { buckets: 8 });
    const states = new Map<string, KeyState>();
    for (let i = 0; i < 400; i++) states.set(i % 2 ? `10.0.${i >> 8}.${i & 255}` : `arn:aws:iam::123456789012:user/u${i}`, keyState(i));
    await store.putMany(states);
    // 400 keys, 8 buckets: 8 item writes, not 400.
    expect(store.itemsWritten).toBe(8);

    const got = await new DynamoBaselineStore(client, STATE, { buckets: 8 }).getMany([...states.keys(), 'never-seen']);
    expect(got.size).toBe(400);
    for (const [k, s] of states) expect(got.get(k)).toEqual(s);

    await store.putMany(states);
    expect(store.itemsWritten).toBe(8); // unchanged: no write
    const one = new Map([['10.0.0.1', keyState(1, 1_700_100_000_000)]]);
    await store.putMany(one);
    expect(store.itemsWritten).toBe(9); // one key changed: one item
    expect((await store.getMany(['10.0.0.1'])).get('10.0.0.1')).toEqual(one.get('10.0.0.1'));
  });

  it('baselines: a full bucket spills into more items, then evicts the least recent keys', async () => {
    const store = new DynamoBaselineStore(client, STATE, { buckets: 1, maxItemBytes: 2048, maxPartsPerBucket: 2 });
    const states = new Map<string, KeyState>();
    for (let i = 0; i < 80; i++) states.set(`198.51.100.${i}`, keyState(i));
    await store.putMany(states);
    const parts = await rawParts(0);
    expect(parts.length).toBe(2);
    for (const p of parts) expect(JSON.stringify(p).length).toBeLessThan(2048 + 200);
    expect(store.evicted).toBeGreaterThan(0);
    const kept = await store.getMany([...states.keys()]);
    expect(kept.size + store.evicted).toBe(80);
    // What is kept is the most recent keys.
    const keptIdx = [...kept.keys()].map((k) => Number(k.split('.')[3]));
    expect(Math.min(...keptIdx)).toBe(80 - kept.size);
    for (const [k, s] of kept) expect(s).toEqual(states.get(k));
  });

  it('baselines: concurrent writers of one bucket lose nothing (conditional writes)', async () => {
    const a = new DynamoBaselineStore(client, STATE, { buckets: 1, maxConflictRetries: 20 });
    const b = new DynamoBaselineStore(client, STATE, { buckets: 1, maxConflictRetries: 20 });
    const sa = new Map<string, KeyState>();
    const sb = new Map<string, KeyState>();
    for (let i = 0; i < 20; i++) {
      sa.set(`a${i}`, keyState(i));
      sb.set(`b${i}`, keyState(i + 100));
    }
    await Promise.all([...Array(5)].map((_, r) => (r % 2 ? a.putMany(sa) : b.putMany(sb))));
    const got = await a.getMany([...sa.keys(), ...sb.keys()]);
    expect(got.size).toBe(40);
  });

  it('ledger: listActive filters expired entries itself, history newest first, ttl = expiry + grace', async () => {
    const ledger = new DynamoLedgerStore(client, LEDGER, { graceSeconds: 86_400 });
    const now = 1_700_000_600_000;
    await ledger.put(entry('203.0.113.7', now - 600_000, now - 1)); // expired, TTL not yet run (moto never runs it)
    await ledger.put(entry('203.0.113.7', now - 60_000, now + 3_600_000)); // active
    await ledger.put(entry('198.51.100.0/24', now - 30_000, now + 60_000, 'released'));
    await ledger.put(entry('arn:aws:iam::123456789012:user/mallory', now - 10_000, now + 60_000));

    const active = await ledger.listActive(now);
    expect(active.map((e) => e.target)).toEqual(['arn:aws:iam::123456789012:user/mallory', '203.0.113.7']);
    expect(active[1]).toEqual(entry('203.0.113.7', now - 60_000, now + 3_600_000));

    const hist = await ledger.history('203.0.113.7');
    expect(hist.map((e) => e.createdAt)).toEqual([now - 60_000, now - 600_000]);
    expect((await ledger.listAll()).length).toBe(4);

    const raw = await client.send(
      new GetItemCommand({ TableName: LEDGER, Key: { pk: { S: '203.0.113.7' }, sk: { N: String(now - 60_000) } } }),
    );
    expect(Number(raw.Item?.ttl?.N)).toBe(Math.ceil((now + 3_600_000) / 1000) + 86_400);
  });

  it('ledger: a redelivered active put does not undo a release', async () => {
    const ledger = new DynamoLedgerStore(client, LEDGER);
    const e = entry('203.0.113.9', 1_000, 10_000_000);
    await ledger.put(e);
    await ledger.put({ ...e, status: 'released', endedAt: 5_000 });
    await ledger.put(e); // stale redelivery
    const [stored] = await ledger.history('203.0.113.9');
    expect(stored.status).toBe('released');
    expect(stored.endedAt).toBe(5_000);
    expect(ledger.staleReactivations).toBe(1);
  });

  it('idempotency: a claim succeeds once, and again only after its ttl', async () => {
    let now = 1_700_000_000_000;
    const store = new DynamoIdempotencyStore(client, STATE, () => now);
    const results = await Promise.all([...Array(5)].map(() => store.claim('batch-1', 60)));
    expect(results.filter(Boolean).length).toBe(1);
    expect(await store.claim('batch-1', 60)).toBe(false);
    expect(await store.claim('batch-2', 60)).toBe(true);
    now += 61_000; // TTL is lazy: the mark is still there, but expired
    expect(await store.claim('batch-1', 60)).toBe(true);
  });
});

describeMoto('DynamoDB faults injected in front of moto (real SDK retries)', () => {
  const moto = useMoto();

  beforeEach(async () => {
    await moto.reset();
    const setup = new DynamoDBClient(moto.clientConfig());
    await setup.send(new CreateTableCommand(createTableInput(STATE, STATE_TABLE_KEYS)));
    setup.destroy();
  });

  function faultyClient(rule: FaultRule) {
    const handler = new FaultInjectingHandler(rule);
    const client = new DynamoDBClient({ ...moto.clientConfig(), maxAttempts: 4, requestHandler: handler as never });
    return { handler, client };
  }

  it('throttling (ProvisionedThroughputExceeded, ThrottlingException) is retried by the SDK; data lands once', async () => {
    const throttled: Record<string, number> = { Query: 0, PutItem: 0 };
    const budget: Record<string, number> = { Query: 1, PutItem: 1 };
    const { handler, client } = faultyClient(({ operation }) => {
      if (!(operation in budget) || throttled[operation] >= budget[operation]) return undefined;
      throttled[operation]++;
      const type = operation === 'Query' ? 'ThrottlingException' : 'ProvisionedThroughputExceededException';
      return { respond: { status: 400, json: awsJsonError(`com.amazonaws.dynamodb.v20120810#${type}`, 'slow down') } };
    });
    const store = new DynamoBaselineStore(client, STATE, { buckets: 2 });
    const states = new Map([...Array(10)].map((_, i) => [`k${i}`, keyState(i)] as const));
    await store.putMany(states);
    expect(throttled).toEqual(budget);
    // Two buckets: two successful item writes plus the throttled attempt, and no extra write.
    expect(handler.seen.filter((o) => o === 'PutItem').length).toBe(3);
    expect(store.itemsWritten).toBe(2);
    const check = new DynamoBaselineStore(new DynamoDBClient(moto.clientConfig()), STATE, { buckets: 2 });
    expect((await check.getMany([...states.keys()])).size).toBe(10);
    client.destroy();
  });

  it('BatchWriteItem UnprocessedItems are resent until every item is written, none twice', async () => {
    let partial = 0;
    const { handler, client } = faultyClient(({ operation, json }) => {
      if (operation !== 'BatchWriteItem' || partial >= 3) return undefined;
      partial++;
      const req = json as { RequestItems: Record<string, unknown[]> };
      const [table, items] = Object.entries(req.RequestItems)[0];
      const keep = items.slice(0, Math.ceil(items.length / 2));
      const held = items.slice(keep.length);
      return {
        forward: {
          body: JSON.stringify({ ...req, RequestItems: { [table]: keep } }),
          editResponse: (res) => ({ ...(res as object), UnprocessedItems: held.length ? { [table]: held } : {} }),
        },
      };
    });
    const windows = new DynamoWindowStore(client, STATE, { unprocessedBackoff: { maxAttempts: 8, baseDelayMs: 1, maxDelayMs: 5 } });
    const parts = [...Array(20)].map((_, i) => ({ windowStart: 60_000, partId: `shard-0:${i}`, body: `{"n":${i}}` }));
    await windows.add('api-1', parts);
    expect(partial).toBe(3);
    expect(handler.seen.filter((o) => o === 'BatchWriteItem').length).toBeGreaterThan(3);
    const back = await windows.read('api-1', 60_000);
    expect(back.map((p) => p.partId).sort()).toEqual(parts.map((p) => p.partId).sort());
    expect(await windows.openWindows('api-1')).toEqual([60_000]);
    client.destroy();
  });

  it('UnprocessedItems that never clear end in a named error with the count', async () => {
    const { client } = faultyClient(({ operation, json }) => {
      if (operation !== 'BatchWriteItem') return undefined;
      const req = json as { RequestItems: Record<string, unknown[]> };
      return { respond: { status: 200, json: { UnprocessedItems: req.RequestItems } } };
    });
    const windows = new DynamoWindowStore(client, STATE, { unprocessedBackoff: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const parts = [...Array(7)].map((_, i) => ({ windowStart: 0, partId: `p${i}`, body: 'x' }));
    const err = await windows.add('api-1', parts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamoUnprocessedItemsError);
    expect((err as DynamoUnprocessedItemsError).remaining).toBe(7);
    client.destroy();
  });
});
