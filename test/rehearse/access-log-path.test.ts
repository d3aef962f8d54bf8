import { describe, expect, it } from 'vitest';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { decodeCloudWatchData } from '../../src/decode/cloudwatch.ts';
import { DeliveryModel } from '../../src/rehearse/delivery-model.ts';
import { CORDON_ESM_CONFIG } from '../../src/rehearse/esm-config.ts';
import { EventSourceMapping } from '../../src/rehearse/event-source-mapping.ts';
import { LambdaFunctionModel } from '../../src/rehearse/lambda-model.ts';
import { LogDelivery, type LogLine } from '../../src/rehearse/log-delivery.ts';
import { Scheduler } from '../../src/rehearse/scheduler.ts';
import { T, apigwLine } from '../decode/fixtures.ts';

/**
 * The simulated AWS end to end up to ingest: access-log lines → CloudWatch Logs → subscription → the Kinesis twin
 * → the ingest event source mapping → a handler that decodes what it gets. The stages plug in where the handler is.
 */
async function rehearseAccessLogs(seed: number, opts: { lines: number; spreadMs: number; laggingShardMs?: number }) {
  const sched = new Scheduler(T - 10_000);
  const model = new DeliveryModel(seed, { laggingShardMs: opts.laggingShardMs });
  const stream = new KinesisTwin({ shards: 4, streamName: 'access-logs', clock: () => sched.now() });
  const delivery = new LogDelivery({ scheduler: sched, model, putter: stream });
  const ingest = new LambdaFunctionModel({ name: 'ingest', memoryMb: 1024, timeoutMs: 120_000, cpuTime: () => 40 }, model, sched);
  const seen: { requestAt: number; handledAt: number; shardId: string }[] = [];
  const esm = new EventSourceMapping({
    name: 'ingest',
    scheduler: sched,
    reader: stream,
    model,
    lambda: ingest,
    config: CORDON_ESM_CONFIG.ingest,
    lagMs: (id, all) => model.shardLagMs(id, all),
    handler: async (records, now, info) => {
      for (const r of records) {
        decodeCloudWatchData(r.data, {
          event: (e) => void seen.push({ requestAt: e.time, handledAt: now, shardId: info.shardId }),
          unreadable: (u) => {
            throw new Error(`unreadable: ${u.reason}`);
          },
        });
      }
      return { batchItemFailures: [] };
    },
  });
  const input: LogLine[] = Array.from({ length: opts.lines }, (_, i) => {
    const time = T + Math.floor((i * opts.spreadMs) / opts.lines);
    return { time, line: apigwLine({ requestTimeEpoch: time, path: `/prod/items/${i}` }) };
  });
  delivery.feed(input);
  esm.start();
  await sched.run();
  return { seen, esm, ingest, stream, delivery };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('the simulated access-log path (CloudWatch Logs → Kinesis twin → ingest mapping)', () => {
  it('hands every line to ingest exactly once, seconds after the request, over all shards', async () => {
    const { seen, esm, ingest } = await rehearseAccessLogs(1, { lines: 5_000, spreadMs: 10 * 60_000 });
    expect(seen).toHaveLength(5_000);
    const delays = seen.map((s) => s.handledAt - s.requestAt);
    expect(Math.min(...delays)).toBeGreaterThan(0);
    // Flush wait + API Gateway → CWL (median 5 s) + subscription (3 s) + poll + the 5 s batching window.
    expect(median(delays)).toBeGreaterThan(8_000);
    expect(median(delays)).toBeLessThan(25_000);
    expect(new Set(seen.map((s) => s.shardId)).size).toBe(4);
    expect(esm.stats).toMatchObject({ retries: 0, recordsToFailureDestination: 0 });
    expect(ingest.stats.coldStarts).toBeGreaterThanOrEqual(4); // one environment per shard at least
  });

  it('--lagging-shard holds one shard back by that much, and only that one', async () => {
    const { seen, esm } = await rehearseAccessLogs(1, { lines: 2_000, spreadMs: 5 * 60_000, laggingShardMs: 90_000 });
    expect(seen).toHaveLength(2_000);
    const byShard = new Map<string, number[]>();
    for (const s of seen) byShard.set(s.shardId, [...(byShard.get(s.shardId) ?? []), s.handledAt - s.requestAt]);
    const lagging = 'shardId-000000000000';
    expect(median(byShard.get(lagging)!)).toBeGreaterThan(90_000);
    for (const [id, d] of byShard) if (id !== lagging) expect(median(d)).toBeLessThan(30_000);
    expect(esm.stats.shards[lagging].maxIteratorAgeMs).toBeGreaterThanOrEqual(90_000);
  });

  it('reads the twin’s parent shards to their end before their children after a reshard', async () => {
    const sched = new Scheduler(0);
    const model = new DeliveryModel(2);
    const stream = new KinesisTwin({ shards: 2, clock: () => sched.now(), throughput: false });
    const order: { key: string; n: number; shardId: string }[] = [];
    const esm = new EventSourceMapping({
      name: 'detect',
      scheduler: sched,
      reader: stream,
      model,
      config: { ...CORDON_ESM_CONFIG.detect, batchSize: 3 },
      handler: async (records, _now, info) => {
        for (const r of records) {
          const [key, n] = Buffer.from(r.data, 'base64').toString().split(':');
          order.push({ key, n: Number(n), shardId: info.shardId });
        }
        // Slow: the parents still hold records when the children get theirs.
        return { simulatedMs: 4_000 };
      },
    });
    const put = (key: string, n: number) => stream.put([{ partitionKey: key, data: Buffer.from(`${key}:${n}`) }]);
    const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
    for (let n = 0; n < 6; n++) sched.at(n * 100, async () => Promise.all(keys.map((k) => put(k, n))).then(() => undefined));
    sched.at(1_000, () => void stream.reshard(3));
    for (let n = 6; n < 12; n++) sched.at(1_000 + n * 100, async () => Promise.all(keys.map((k) => put(k, n))).then(() => undefined));
    esm.start();
    await sched.run();
    expect(order).toHaveLength(keys.length * 12);
    for (const k of keys) expect(order.filter((o) => o.key === k).map((o) => o.n)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });
});
