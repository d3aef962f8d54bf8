import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { scanAll } from '../../src/adapters/aws/dynamo-common.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTableInput, STATE_TABLE_KEYS } from '../../src/adapters/aws/dynamodb.ts';
import { documentClient as documentClientOf } from '../../src/adapters/aws/dynamo-common.ts';
import { DynamoItemTooLargeError } from '../../src/adapters/aws/errors.ts';
import { S3BlobStore } from '../../src/adapters/aws/s3.ts';
import { DynamoWindowStore } from '../../src/adapters/aws/window-store.ts';
import { MemoryWindowStore } from '../../src/adapters/local/memory-window-store.ts';
import type { WindowStore } from '../../src/ports-window.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

/** The WindowStore contract, run against every implementation. */
function windowStoreContract(make: () => WindowStore) {
  let store: WindowStore;
  beforeEach(() => {
    store = make();
  });

  it('adds parts idempotently per (scope, windowStart, partId): redelivery does not double count', async () => {
    const parts = [
      { windowStart: 120_000, partId: 'shard-1:42', body: '{"ip":"203.0.113.7","n":10}' },
      { windowStart: 120_000, partId: 'shard-2:7', body: '{"ip":"203.0.113.7","n":5}' },
      { windowStart: 60_000, partId: 'shard-1:41', body: '{"n":1}' },
    ];
    await store.add('api-a', parts);
    await store.add('api-a', [parts[0], parts[1]]); // redelivered
    const w = await store.read('api-a', 120_000);
    expect(w).toEqual([
      { partId: 'shard-1:42', body: parts[0].body },
      { partId: 'shard-2:7', body: parts[1].body },
    ]);
    expect(await store.openWindows('api-a')).toEqual([60_000, 120_000]);
    expect(await store.openWindows('api-b')).toEqual([]);
    expect(await store.read('api-b', 120_000)).toEqual([]);
  });

  it('keeps windows in ascending order and scopes apart; drop removes one window', async () => {
    await store.add('s', [
      { windowStart: 1_700_000_180_000, partId: 'a', body: '1' },
      { windowStart: 1_700_000_060_000, partId: 'a', body: '2' },
      { windowStart: 9_000, partId: 'a', body: '3' },
    ]);
    await store.add('t', [{ windowStart: 9_000, partId: 'a', body: 'other scope' }]);
    expect(await store.openWindows('s')).toEqual([9_000, 1_700_000_060_000, 1_700_000_180_000]);
    await store.drop('s', 1_700_000_060_000);
    expect(await store.openWindows('s')).toEqual([9_000, 1_700_000_180_000]);
    expect(await store.read('s', 1_700_000_060_000)).toEqual([]);
    expect(await store.read('t', 9_000)).toEqual([{ partId: 'a', body: 'other scope' }]);
    await store.drop('s', 42); // dropping nothing is fine
  });

  it('watermark starts at 0 and never moves backwards', async () => {
    expect(await store.getWatermark('s')).toBe(0);
    await store.setWatermark('s', 1_000);
    await store.setWatermark('s', 500);
    expect(await store.getWatermark('s')).toBe(1_000);
    await store.setWatermark('s', 1_000);
    await store.setWatermark('s', 2_000);
    expect(await store.getWatermark('s')).toBe(2_000);
    expect(await store.getWatermark('other')).toBe(0);
    // Out of order, one after another: moto checks a condition and writes in two steps, so concurrent requests can
    // both pass it (a CI run saw 7,000 land after 9,000); DynamoDB evaluates the condition atomically with the write.
    for (const t of [3_000, 9_000, 4_000, 7_000]) await store.setWatermark('s', t);
    expect(await store.getWatermark('s')).toBe(9_000);
  });

  it('keeps a scope\'s progress: its sequence, its source entries, when each was last seen and the pieces seen at it', async () => {
    expect(await store.progress('p')).toBeUndefined();
    const progress = { sequence: '49650000000000000000000000000000000000000000000000000001', sources: { 'shardId-1/3': '4965001', 'shardId-2/3of256': '4965002' },
      seenAt: { 'shardId-1/3': 1_793_577_600_000, 'shardId-2/3of256': 1_793_577_660_000 }, pieces: { 'shardId-1/3': ['/1793577600000.0', '/1793577600000.1.0'] } };
    await store.setProgress('p', progress);
    expect(await store.progress('p')).toEqual(progress);
    // Most progress has no pieces: none kept, none read back.
    await store.setProgress('p', { ...progress, pieces: {} });
    expect((await store.progress('p'))?.pieces).toEqual({});
    // The watermark the batch raised it to, kept with it (its own write may fail after).
    await store.setProgress('p', { ...progress, watermark: 1_793_577_665_000 });
    expect(await store.progress('p')).toEqual({ ...progress, watermark: 1_793_577_665_000 });
    // The freshest traffic seen and when it came (the tick's measure of a stream behind), kept with it.
    const freshest = { time: 1_793_577_640_000, at: 1_793_578_250_000 };
    await store.setProgress('p', { ...progress, freshest });
    expect(await store.progress('p')).toEqual({ ...progress, freshest });
    await store.setProgress('p', { ...progress, freshest: { ...freshest, priorLag: 612_000 } });
    expect(await store.progress('p')).toEqual({ ...progress, freshest: { ...freshest, priorLag: 612_000 } });
  });

  it('keeps UTF-8 bodies intact', async () => {
    const body = JSON.stringify({ path: '/ä/😀/\u0000', ua: 'Mozilla "x"' });
    await store.add('s', [{ windowStart: 0, partId: 'p', body }]);
    expect(await store.read('s', 0)).toEqual([{ partId: 'p', body }]);
  });
}

describe('MemoryWindowStore', () => {
  windowStoreContract(() => new MemoryWindowStore());
});

describeMoto('DynamoWindowStore on moto', () => {
  const moto = useMoto();
  let client: DynamoDBClient;
  let n = 0;
  let table = '';
  beforeAll(() => {
    client = new DynamoDBClient(moto.clientConfig());
  });
  afterAll(() => client?.destroy());
  beforeEach(async () => {
    table = `state-${++n}`;
    await client.send(new CreateTableCommand(createTableInput(table, STATE_TABLE_KEYS)));
  });

  windowStoreContract(() => new DynamoWindowStore(client, table));

  it('stores more parts than one BatchWriteItem takes', async () => {
    const store = new DynamoWindowStore(client, table);
    const parts = [...Array(60)].map((_, i) => ({ windowStart: 60_000 * (i % 3), partId: `p${i}`, body: `b${i}` }));
    await store.add('s', parts);
    const counts = await Promise.all([0, 60_000, 120_000].map(async (w) => (await store.read('s', w)).length));
    expect(counts).toEqual([20, 20, 20]);
    await store.drop('s', 60_000);
    expect(await store.read('s', 60_000)).toEqual([]);
    expect(await store.openWindows('s')).toEqual([0, 120_000]);
  });

  it('a batch added while its window is being dropped keeps the window open (its marker is put back)', async () => {
    // The add (parts, then marker) lands between drop's query of the parts it read and its deletes: drop then finds
    // every part it queried gone and deletes the marker, which the add had already written.
    const doc = documentClientOf(client);
    const send = doc.send.bind(doc) as (command: unknown) => Promise<unknown>;
    let store!: DynamoWindowStore;
    let raced = false;
    doc.send = (async (command: { input?: { RequestItems?: Record<string, { DeleteRequest?: { Key: { pk: string } } }[]> } }) => {
      const first = command.input?.RequestItems?.[table]?.[0];
      if (!raced && first?.DeleteRequest?.Key.pk.startsWith('win#')) {
        raced = true;
        await store.add('s', [{ windowStart: 60_000, partId: 'later-batch', body: 'B' }]);
      }
      return send(command);
    }) as typeof doc.send;
    store = new DynamoWindowStore(doc, table);
    await store.add('s', [{ windowStart: 60_000, partId: 'first-batch', body: 'A' }]);
    const read = (await store.read('s', 60_000)).map((p) => p.partId);
    await store.drop('s', 60_000, read);
    expect(raced).toBe(true);
    expect(await store.read('s', 60_000)).toEqual([{ partId: 'later-batch', body: 'B' }]);
    expect(await store.openWindows('s')).toEqual([60_000]);
    // Dropped with nothing added meanwhile, the window goes for good.
    await store.drop('s', 60_000, ['later-batch']);
    expect(await store.openWindows('s')).toEqual([]);
  });

  it('refuses a part too large for one item, before writing anything', async () => {
    const store = new DynamoWindowStore(client, table);
    const big = 'x'.repeat(400 * 1024);
    await expect(store.add('s', [{ windowStart: 0, partId: 'ok', body: 'y' }, { windowStart: 0, partId: 'big', body: big }])).rejects.toBeInstanceOf(
      DynamoItemTooLargeError,
    );
    expect(await store.openWindows('s')).toEqual([]);
    // Not even the part that fits was written.
    expect(await scanAll(documentClientOf(client), { TableName: table })).toEqual([]);
  });
});

describeMoto('DynamoWindowStore with bodies in S3, on moto', () => {
  const moto = useMoto();
  let client: DynamoDBClient;
  let s3: S3Client;
  let n = 0;
  let table = '';
  let bucket = '';
  beforeAll(() => {
    client = new DynamoDBClient(moto.clientConfig());
    s3 = new S3Client({ ...moto.clientConfig(), forcePathStyle: true });
  });
  afterAll(() => {
    client?.destroy();
    s3?.destroy();
  });
  beforeEach(async () => {
    table = `state-s3-${++n}`;
    bucket = `cordon-windows-${n}`;
    await client.send(new CreateTableCommand(createTableInput(table, STATE_TABLE_KEYS)));
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  // minBytes 8: nearly every body of the contract goes through S3.
  windowStoreContract(() => new DynamoWindowStore(client, table, { bodies: { store: new S3BlobStore(s3, bucket), minBytes: 8 } }));

  it('keeps large bodies as objects (items hold a reference), small ones inline; drop removes both', async () => {
    const blobs = new S3BlobStore(s3, bucket);
    const store = new DynamoWindowStore(client, table, { bodies: { store: blobs } });
    const big = JSON.stringify({ parts: 'x'.repeat(500 * 1024) }); // over DynamoDB's item limit: fine as an object
    await store.add('shardId-1', [{ windowStart: 60_000, partId: 'b1#0', body: big }, { windowStart: 60_000, partId: 'b1#1', body: 'small' }]);
    const items = await scanAll(documentClientOf(client), { TableName: table });
    const parts = items.filter((it) => String(it.pk).startsWith('win#'));
    expect(parts.map((it) => [it.sk, typeof it.body, typeof it.ref]).sort()).toEqual([['b1#0', 'undefined', 'string'], ['b1#1', 'string', 'undefined']]);
    expect(parts.every((it) => JSON.stringify(it).length < 2048)).toBe(true);
    expect(await blobs.list('win/shardId-1/')).toHaveLength(1);
    expect(await store.read('shardId-1', 60_000)).toEqual([{ partId: 'b1#0', body: big }, { partId: 'b1#1', body: 'small' }]);
    await store.drop('shardId-1', 60_000);
    expect(await blobs.list('win/')).toEqual([]);
    expect(await store.openWindows('shardId-1')).toEqual([]);
  });

  it('an item whose object is gone reads as an empty (damaged) body and is counted', async () => {
    const blobs = new S3BlobStore(s3, bucket);
    const store = new DynamoWindowStore(client, table, { bodies: { store: blobs, minBytes: 1 } });
    await store.add('s', [{ windowStart: 0, partId: 'a', body: 'hello' }, { windowStart: 0, partId: 'b', body: 'world' }]);
    await blobs.delete((await blobs.list('win/s/')).slice(0, 1));
    const read = await store.read('s', 0);
    expect(read.map((r) => r.body).sort()).toEqual(['', 'world']);
    expect(store.missingBodies).toBe(1);
  });

  it('writes the object before its item: a failed object write leaves no item pointing at nothing', async () => {
    const store = new DynamoWindowStore(client, table, { bodies: { store: new S3BlobStore(s3, 'cordon-no-such-bucket'), minBytes: 1 } });
    await expect(store.add('s', [{ windowStart: 0, partId: 'a', body: 'hello' }])).rejects.toThrow(/cordon-no-such-bucket/);
    expect(await scanAll(documentClientOf(client), { TableName: table })).toEqual([]);
  });
});
