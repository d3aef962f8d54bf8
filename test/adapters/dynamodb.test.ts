import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Evidence } from '../../src/decision.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import {
  createTableInput,
  DynamoLedgerStore,
  LEDGER_TABLE_KEYS,
  STATE_TABLE_KEYS,
} from '../../src/adapters/aws/dynamodb.ts';
import { documentClient, scanAll } from '../../src/adapters/aws/dynamo-common.ts';
import { DynamoUnprocessedItemsError } from '../../src/adapters/aws/errors.ts';
import { DynamoWindowStore } from '../../src/adapters/aws/window-store.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';
import { awsJsonError, FaultInjectingHandler, type FaultRule } from './fault-handler.ts';

const STATE = 'cordon-state';
const LEDGER = 'cordon-ledger';

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
});

describeMoto('DynamoDB faults injected in front of moto (real SDK retries)', () => {
  const moto = useMoto();

  beforeEach(async () => {
    await moto.reset();
    const setup = new DynamoDBClient(moto.clientConfig());
    await setup.send(new CreateTableCommand(createTableInput(STATE, STATE_TABLE_KEYS)));
    await setup.send(new CreateTableCommand(createTableInput(LEDGER, LEDGER_TABLE_KEYS)));
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
    const ledger = new DynamoLedgerStore(client, LEDGER);
    const entries = [entry('203.0.113.7', 1_000, 10_000_000), entry('203.0.113.7', 2_000, 10_000_000)];
    for (const e of entries) await ledger.put(e);
    const hist = await ledger.history('203.0.113.7');
    expect(throttled).toEqual(budget);
    // Two entries: two successful item writes plus the throttled attempt, and no extra write.
    expect(handler.seen.filter((o) => o === 'PutItem').length).toBe(3);
    expect(hist).toEqual([...entries].reverse());
    const checkClient = new DynamoDBClient(moto.clientConfig());
    expect((await new DynamoLedgerStore(checkClient, LEDGER).listAll()).length).toBe(2);
    checkClient.destroy();
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
    // Nothing landed: no part, and no marker announcing the window.
    const check = new DynamoDBClient(moto.clientConfig());
    expect(await scanAll(documentClient(check), { TableName: STATE })).toEqual([]);
    check.destroy();
  });

  it('UnprocessedItems that clear for some parts only: the error leaves no window marker; redelivery completes the window', async () => {
    // moto writes the first three parts of every batch; the rest stay unprocessed, every time.
    const { client } = faultyClient(({ operation, json }) => {
      if (operation !== 'BatchWriteItem') return undefined;
      const req = json as { RequestItems: Record<string, { PutRequest: { Item: { sk: { S: string } } } }[]> };
      const [table, items] = Object.entries(req.RequestItems)[0];
      const keep = items.filter((it) => ['p0', 'p1', 'p2'].includes(it.PutRequest.Item.sk.S));
      const held = items.filter((it) => !keep.includes(it));
      if (keep.length === 0) return { respond: { status: 200, json: { UnprocessedItems: req.RequestItems } } };
      return {
        forward: {
          body: JSON.stringify({ ...req, RequestItems: { [table]: keep } }),
          editResponse: (res) => ({ ...(res as object), UnprocessedItems: held.length ? { [table]: held } : {} }),
        },
      };
    });
    const windows = new DynamoWindowStore(client, STATE, { unprocessedBackoff: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const parts = [...Array(7)].map((_, i) => ({ windowStart: 60_000, partId: `p${i}`, body: `{"n":${i}}` }));
    const err = await windows.add('api-1', parts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamoUnprocessedItemsError);
    expect((err as DynamoUnprocessedItemsError).remaining).toBe(4);
    client.destroy();

    const check = new DynamoDBClient(moto.clientConfig());
    const healthy = new DynamoWindowStore(check, STATE);
    // What landed is the three parts, and no marker: detect does not see the half-written window as open.
    expect((await healthy.read('api-1', 60_000)).map((p) => p.partId)).toEqual(['p0', 'p1', 'p2']);
    expect(await healthy.openWindows('api-1')).toEqual([]);
    // The batch is redelivered (its failure failed the invocation): every part once, and the window open.
    await healthy.add('api-1', parts);
    expect((await healthy.read('api-1', 60_000)).map((p) => p.partId)).toEqual(parts.map((p) => p.partId));
    expect(await healthy.openWindows('api-1')).toEqual([60_000]);
    check.destroy();
  });
});
