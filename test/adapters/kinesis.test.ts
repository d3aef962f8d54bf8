import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destroyClients, kinesisClient } from '../../src/adapters/aws/clients.ts';
import { KinesisPutError, KinesisRecordTooLargeError } from '../../src/adapters/aws/errors.ts';
import { KinesisRecordPutter, type KinesisRecord } from '../../src/adapters/aws/kinesis.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';
import { FaultInjectingHandler, type FaultRule } from './fault-handler.ts';

const noSleep = async () => {};

function records(n: number, prefix = 'r'): KinesisRecord[] {
  return [...Array(n)].map((_, i) => ({
    partitionKey: `bucket-${i % 16}`,
    data: Buffer.from(JSON.stringify({ id: `${prefix}${i}`, path: '/ä/😀' }), 'utf8'),
  }));
}

describeMoto('KinesisRecordPutter on moto', () => {
  const moto = useMoto();
  let client: KinesisClient;
  let stream = '';
  let n = 0;

  beforeAll(() => {
    client = new KinesisClient({ ...moto.clientConfig(), requestHandler: new NodeHttpHandler() });
  });
  afterAll(() => client?.destroy());
  beforeEach(async () => {
    stream = `summaries-${++n}`;
    await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 2 }));
  });

  /** Every record in the stream, decoded, in shard order. */
  async function readBack(): Promise<string[]> {
    const out: string[] = [];
    const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
    for (const shard of shards) {
      let it = (
        await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }))
      ).ShardIterator;
      for (let page = 0; it && page < 50; page++) {
        const res = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
        for (const r of res.Records ?? []) out.push(JSON.parse(Buffer.from(r.Data!).toString('utf8')).id);
        if ((res.Records ?? []).length === 0) break;
        it = res.NextShardIterator;
      }
    }
    return out;
  }

  it('puts more than one call holds and every record reads back once, UTF-8 intact', async () => {
    const putter = new KinesisRecordPutter(client, stream, { sleep: noSleep });
    const recs = records(1_100);
    await putter.put(recs);
    expect(putter.calls).toBe(3); // 500 + 500 + 100
    const ids = await readBack();
    expect(ids.length).toBe(1_100);
    expect(new Set(ids).size).toBe(1_100);
  });

  it('the module-scope Kinesis client speaks HTTP/1.1 to an endpoint from the environment', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
    try {
      await new KinesisRecordPutter(kinesisClient(), stream, { sleep: noSleep }).put(records(3, 'env'));
      expect((await readBack()).sort()).toEqual(['env0', 'env1', 'env2']);
    } finally {
      destroyClients();
      process.env = saved;
    }
  });

  function faulty(rule: FaultRule) {
    const handler = new FaultInjectingHandler(rule);
    return { handler, client: new KinesisClient({ ...moto.clientConfig(), requestHandler: handler as never, maxAttempts: 2 }) };
  }

  it('partial PutRecords failures: only the failed records are resent; nothing lost, nothing duplicated', async () => {
    let partialCalls = 0;
    const sentCounts: number[] = [];
    const { client: c } = faulty(({ operation, json }) => {
      if (operation !== 'PutRecords') return undefined;
      const req = json as { Records: unknown[] };
      sentCounts.push(req.Records.length);
      if (partialCalls >= 2) return undefined;
      partialCalls++;
      // Every third record fails this time (as a hot shard would): moto gets the others.
      const failedAt = new Set(req.Records.map((_, i) => i).filter((i) => i % 3 === 0));
      const keep = req.Records.filter((_, i) => !failedAt.has(i));
      return {
        forward: {
          body: JSON.stringify({ ...req, Records: keep }),
          editResponse: (res) => {
            const ok = [...((res as { Records: unknown[] }).Records ?? [])];
            return {
              FailedRecordCount: failedAt.size,
              Records: req.Records.map((_, i) =>
                failedAt.has(i)
                  ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' }
                  : ok.shift(),
              ),
            };
          },
        },
      };
    });
    const putter = new KinesisRecordPutter(c, stream, { sleep: noSleep });
    await putter.put(records(30));
    // 30 sent, 10 failed and resent, 4 of those failed again and were resent.
    expect(sentCounts).toEqual([30, 10, 4]);
    expect(putter.resent).toBe(14);
    const ids = await readBack();
    expect(ids.length).toBe(30);
    expect(new Set(ids).size).toBe(30);
    c.destroy();
  });

  it('records that keep failing end in KinesisPutError with the count lost, after bounded attempts', async () => {
    let calls = 0;
    const { client: c } = faulty(({ operation, json }) => {
      if (operation !== 'PutRecords') return undefined;
      calls++;
      const req = json as { Records: unknown[] };
      return {
        forward: {
          body: JSON.stringify({ ...req, Records: req.Records.slice(1) }),
          editResponse: (res) => ({
            FailedRecordCount: 1,
            Records: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' }, ...((res as { Records: unknown[] }).Records ?? [])],
          }),
        },
      };
    });
    const putter = new KinesisRecordPutter(c, stream, { sleep: noSleep, maxAttempts: 4 });
    const err = await putter.put(records(5)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KinesisPutError);
    expect((err as KinesisPutError).lost).toBe(1);
    expect((err as KinesisPutError).delivered).toBe(4);
    expect(calls).toBe(4);
    // The first record was never written; the other four were written exactly once.
    expect((await readBack()).sort()).toEqual(['r1', 'r2', 'r3', 'r4']);
    c.destroy();
  });

  it('a call refused outright (AccessDenied) after a good one: the error counts what is lost, and the stream holds exactly what was delivered', async () => {
    let calls = 0;
    const { client: c } = faulty(({ operation }) => {
      if (operation !== 'PutRecords' || ++calls === 1) return undefined;
      return { respond: { status: 400, json: { __type: 'AccessDeniedException', message: 'not authorized' } } };
    });
    const err = await new KinesisRecordPutter(c, stream, { sleep: noSleep }).put(records(1_200)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KinesisPutError);
    expect((err as KinesisPutError).lost).toBe(700);
    expect((err as KinesisPutError).delivered).toBe(500);
    expect((await readBack()).sort()).toEqual(records(500).map((_, i) => `r${i}`).sort());
    c.destroy();
  });
});

describe('KinesisRecordPutter limits (mocked client)', () => {
  // Mock one instance (mocking the class would also stub the clients of the moto suite above).
  const mocked = new KinesisClient({ region: 'us-east-1' });
  const kinesis = mockClient(mocked);
  afterEach(() => kinesis.reset());
  afterAll(() => kinesis.restore());

  it('batches by 5 MiB as well as by 500 records', async () => {
    kinesis.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => ({
      FailedRecordCount: 0,
      Records: input.Records.map((_, i) => ({ SequenceNumber: String(i), ShardId: 'shardId-000000000000' })),
    }));
    const big = [...Array(12)].map((_, i) => ({ partitionKey: `k${i}`, data: new Uint8Array(900 * 1024) }));
    await new KinesisRecordPutter(mocked, 's', { sleep: noSleep }).put(big);
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls.length).toBe(3);
    for (const call of calls) {
      const bytes = call.args[0].input.Records!.reduce((n, r) => n + r.Data!.byteLength + r.PartitionKey!.length, 0);
      expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
    }
    expect(calls.reduce((n, c) => n + c.args[0].input.Records!.length, 0)).toBe(12);
  });

  it('refuses a record over 1 MiB (with its partition key) before sending anything', async () => {
    const recs = [
      { partitionKey: 'a', data: new Uint8Array(10) },
      { partitionKey: 'abc', data: new Uint8Array(1024 * 1024 - 2) },
    ];
    await expect(new KinesisRecordPutter(mocked, 's').put(recs)).rejects.toBeInstanceOf(
      KinesisRecordTooLargeError,
    );
    expect(kinesis.commandCalls(PutRecordsCommand).length).toBe(0);
  });

  it('a call that fails outright is a KinesisPutError counting every unsent record', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({ FailedRecordCount: 0, Records: [...Array(500)].map(() => ({ SequenceNumber: '1', ShardId: 's' })) })
      .rejects(denied);
    const err = await new KinesisRecordPutter(mocked, 's', { sleep: noSleep })
      .put(records(1_200))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KinesisPutError);
    expect((err as KinesisPutError).lost).toBe(700);
    expect((err as KinesisPutError).delivered).toBe(500);
    expect((err as KinesisPutError).cause).toBe(denied);
  });
});

describe('KinesisRecordPutter with a deadline, against an endpoint that never answers', () => {
  it('gives up by the deadline (the SDK call is aborted), not after its own timeouts and retries', async () => {
    const { createServer } = await import('node:http');
    const server = createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const client = new KinesisClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, maxAttempts: 5,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      requestHandler: new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 30_000 }) });
    try {
      const putter = new KinesisRecordPutter(client, 'stalled', { sleep: noSleep });
      const t0 = Date.now();
      const err = await putter.put(records(3), { deadline: t0 + 1_500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KinesisPutError);
      expect((err as KinesisPutError).lost).toBe(3);
      // 5 attempts of a 30 s request timeout would be minutes.
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      client.destroy();
      server.closeAllConnections();
      server.close();
    }
  }, 30_000);
});
