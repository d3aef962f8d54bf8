import { describe, expect, it } from 'vitest';
import type { StreamRecord } from '../../src/ports/stream.ts';
import { DeliveryModel } from '../../src/rehearse/delivery-model.ts';
import { CORDON_ESM_CONFIG, type EsmConfig } from '../../src/rehearse/esm-config.ts';
import {
  EventSourceMapping,
  type HandlerResult,
  type InvocationInfo,
  type ReshardAwareReader,
} from '../../src/rehearse/event-source-mapping.ts';
import { LambdaFunctionModel } from '../../src/rehearse/lambda-model.ts';
import { Scheduler } from '../../src/rehearse/scheduler.ts';

/** A tiny stream: an array of records per shard, with lineage. Records are named by their payload. */
class ArrayStream implements ReshardAwareReader {
  private readonly shards = new Map<string, { records: (StreamRecord & { partitionKey?: string })[]; open: boolean; parents: string[] }>();
  private seq = 0;
  readonly names = new Map<string, string>();

  addShard(id: string, opts: { parents?: string[]; open?: boolean } = {}): this {
    this.shards.set(id, { records: [], open: opts.open ?? true, parents: opts.parents ?? [] });
    return this;
  }
  push(shardId: string, name: string, arrivedAt: number, partitionKey?: string): void {
    const sequenceNumber = String(++this.seq).padStart(20, '0');
    this.names.set(sequenceNumber, name);
    this.shards.get(shardId)!.records.push({ sequenceNumber, shardId, data: Buffer.from(name).toString('base64'), arrivedAt, partitionKey });
  }
  close(shardId: string): void {
    this.shards.get(shardId)!.open = false;
  }
  shardIds(): string[] {
    return [...this.shards].filter(([, s]) => s.open || s.records.length > 0).map(([id]) => id);
  }
  read(shardId: string, after: string | undefined, limit: number): StreamRecord[] {
    const recs = this.shards.get(shardId)!.records;
    const start = after === undefined ? 0 : recs.findIndex((r) => r.sequenceNumber > after);
    return start < 0 ? [] : recs.slice(start, start + limit);
  }
  parentsOf(shardId: string): string[] {
    return this.shards.get(shardId)!.parents;
  }
  isOpen(shardId: string): boolean {
    return this.shards.get(shardId)!.open;
  }
}

interface Call {
  at: number;
  shardId: string;
  names: string[];
  attempt: number;
}

type TestHandler = (names: string[], records: StreamRecord[], call: number, info: InvocationInfo) => HandlerResult | void;

function rig(opts: {
  config?: Partial<EsmConfig>;
  handler?: TestHandler;
  shards?: string[];
  seed?: number;
  lagMs?: (shardId: string) => number;
  lambda?: boolean;
}) {
  const sched = new Scheduler(0);
  const model = new DeliveryModel(opts.seed ?? 1, { overrides: { getRecords: { kind: 'constant', ms: 0 } } });
  const stream = new ArrayStream();
  for (const id of opts.shards ?? ['shard-0']) stream.addShard(id);
  const calls: Call[] = [];
  const config: EsmConfig = { ...CORDON_ESM_CONFIG.ingest, ...opts.config };
  const lambda = opts.lambda
    ? new LambdaFunctionModel({ name: 'ingest', memoryMb: 1024, timeoutMs: 120_000, cpuTime: () => 100 }, model, sched)
    : undefined;
  const esm = new EventSourceMapping({
    name: 'test',
    scheduler: sched,
    reader: stream,
    config,
    model,
    lambda,
    lagMs: opts.lagMs,
    handler: async (records, now, info) => {
      const names = records.map((r) => stream.names.get(r.sequenceNumber)!);
      calls.push({ at: now, shardId: info.shardId, names, attempt: info.attempt });
      return opts.handler?.(names, records, calls.length - 1, info);
    },
  });
  const put = (shardId: string, name: string, at: number, partitionKey?: string) => sched.at(at, (t) => stream.push(shardId, name, t, partitionKey));
  return { sched, stream, esm, calls, put, model, lambda };
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const failureFor = (records: StreamRecord[], ...idx: number[]): HandlerResult => ({
  batchItemFailures: idx.map((i) => ({ itemIdentifier: records[i].sequenceNumber })),
});

describe('EventSourceMapping: batching', () => {
  it('holds records until the batching window has passed since the first was polled, then sends them together', async () => {
    const { sched, esm, calls, put } = rig({ config: { maximumBatchingWindowMs: 5_000 } });
    put('shard-0', 'a', 100);
    put('shard-0', 'b', 1_200);
    put('shard-0', 'c', 2_500);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([['a', 'b', 'c']]);
    // First seen at the first poll after 100 ms (polls are 1 s apart, at a random phase), sent 5 s after that.
    expect(calls[0].at).toBeGreaterThanOrEqual(5_100);
    expect(calls[0].at).toBeLessThan(6_100);
    expect(esm.stats).toMatchObject({ invocations: 1, recordsDelivered: 3, recordsSucceeded: 3, retries: 0 });
  });

  it('sends a full batch at once, and what is left when its own window has passed', async () => {
    const { sched, esm, calls, put } = rig({ config: { batchSize: 2, maximumBatchingWindowMs: 5_000 } });
    put('shard-0', 'a', 100);
    put('shard-0', 'b', 1_200);
    put('shard-0', 'c', 2_500);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([['a', 'b'], ['c']]);
    expect(calls[0].at).toBeGreaterThanOrEqual(1_200);
    expect(calls[0].at).toBeLessThan(2_200);
    expect(calls[1].at).toBeGreaterThanOrEqual(7_500);
    expect(calls[1].at).toBeLessThan(8_500);
  });

  it('without a window, invokes at the poll that finds records; a backlog goes out batch after batch', async () => {
    const { sched, esm, calls, put } = rig({ config: { batchSize: 3, maximumBatchingWindowMs: 0 } });
    for (const [i, n] of names('r', 8).entries()) put('shard-0', n, 10 + i);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6', 'r7']]);
    expect(calls[2].at - calls[0].at).toBeLessThan(1); // no waiting between batches of a backlog
  });

  it('keeps one batch per shard in flight: the next waits for the previous to end', async () => {
    const { sched, esm, calls, put } = rig({
      config: { batchSize: 1, maximumBatchingWindowMs: 0 },
      handler: () => ({ batchItemFailures: [], simulatedMs: 3_000 }),
    });
    put('shard-0', 'a', 0);
    put('shard-0', 'b', 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([['a'], ['b']]);
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(3_000);
  });

  it('runs parallelizationFactor batches per shard at once, records split by partition key, each key in order', async () => {
    const { sched, esm, calls, put } = rig({
      config: { batchSize: 10, maximumBatchingWindowMs: 0, parallelizationFactor: 4 },
      handler: () => ({ simulatedMs: 5_000 }),
    });
    for (let i = 0; i < 40; i++) put('shard-0', `k${i % 8}-${Math.floor(i / 8)}`, 0, `key-${i % 8}`);
    esm.start();
    await sched.run();
    const first = calls[0].at;
    const concurrent = calls.filter((c) => c.at === first);
    expect(concurrent.length).toBeGreaterThan(1);
    for (let k = 0; k < 8; k++) {
      const seen = calls.flatMap((c) => c.names).filter((n) => n.startsWith(`k${k}-`));
      expect(seen).toEqual(names(`k${k}-`, 5));
    }
  });

  it('runs deferred work at the simulated end of the invocation, also when the handler throws', async () => {
    const ran: number[] = [];
    let sched!: Scheduler;
    const r = rig({
      config: { batchSize: 1, maximumBatchingWindowMs: 0, bisectBatchOnFunctionError: false },
      handler: (_n, _r, call, info) => {
        info.defer(() => void ran.push(sched.now()));
        if (call === 0) return { simulatedMs: 2_000 };
        if (call === 1) throw new Error('after putting something');
      },
    });
    sched = r.sched;
    r.put('shard-0', 'a', 0);
    r.put('shard-0', 'b', 0);
    r.esm.start();
    await sched.run();
    expect(r.calls.map((c) => c.names)).toEqual([['a'], ['b'], ['b']]);
    expect(ran).toHaveLength(3);
    expect(ran[0]).toBe(r.calls[0].at + 2_000);
    expect(ran[1]).toBe(r.calls[1].at);
  });
});

describe('EventSourceMapping: partial failures and retries', () => {
  it('a failure reported for record k redelivers from k: records before k are not delivered again', async () => {
    const { sched, esm, calls, put } = rig({
      config: { maximumBatchingWindowMs: 0 },
      handler: (_names, records, call) => (call === 0 ? failureFor(records, 2) : undefined),
    });
    for (const n of names('r', 5)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([names('r', 5), ['r2', 'r3', 'r4']]);
    // Bisect + ReportBatchItemFailures: split at the returned record, which is not a retry.
    expect(calls[1].attempt).toBe(0);
    expect(esm.stats).toMatchObject({ splitsAtFailure: 1, retries: 0, recordsSucceeded: 5, recordsToFailureDestination: 0 });
  });

  it('checkpoints at the lowest of several reported failures', async () => {
    const { sched, esm, calls, put } = rig({
      config: { maximumBatchingWindowMs: 0 },
      handler: (_n, records, call) => (call === 0 ? failureFor(records, 3, 1) : undefined),
    });
    for (const n of names('r', 5)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls[1].names).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('without bisect, the rest after a reported failure is retried and the retry counts', async () => {
    const { sched, esm, calls, put } = rig({
      config: { maximumBatchingWindowMs: 0, bisectBatchOnFunctionError: false },
      handler: (_n, records, call) => (call === 0 ? failureFor(records, 2) : undefined),
    });
    for (const n of names('r', 5)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([names('r', 5), ['r2', 'r3', 'r4']]);
    expect(calls[1].attempt).toBe(1);
    expect(esm.stats).toMatchObject({ splitsAtFailure: 0, retries: 1 });
  });

  it('a failure on the first record retries the identical batch up to maximumRetryAttempts, then sends it to the failure destination; later batches proceed', async () => {
    const { sched, esm, calls, put } = rig({
      config: { batchSize: 3, maximumBatchingWindowMs: 0, maximumRetryAttempts: 2 },
      handler: (n, records) => (n.includes('r0') ? failureFor(records, 0) : undefined),
    });
    for (const n of names('r', 6)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => [c.names, c.attempt])).toEqual([
      [['r0', 'r1', 'r2'], 0],
      [['r0', 'r1', 'r2'], 1],
      [['r0', 'r1', 'r2'], 2],
      [['r3', 'r4', 'r5'], 0],
    ]);
    expect(esm.failures).toHaveLength(1);
    expect(esm.failures[0]).toMatchObject({
      mapping: 'test',
      shardId: 'shard-0',
      batchSize: 3,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    });
    expect(esm.stats).toMatchObject({ retries: 2, recordsToFailureDestination: 3, recordsSucceeded: 3, invocations: 4 });
  });

  it('a thrown error fails the whole batch: bisect halves it until the poison record is alone, and only it is given up on', async () => {
    const { sched, esm, calls, put } = rig({
      config: { batchSize: 4, maximumBatchingWindowMs: 0, maximumRetryAttempts: 1 },
      handler: (n) => {
        if (n.includes('r2')) throw new Error('poison');
      },
    });
    for (const n of names('r', 4)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r0', 'r1'],
      ['r2', 'r3'],
      ['r2'],
      ['r2'],
      ['r3'],
    ]);
    expect(esm.stats).toMatchObject({ bisections: 2, retries: 1, recordsSucceeded: 3, recordsToFailureDestination: 1 });
    expect(esm.failures.map((f) => [f.batchSize, f.condition, f.approximateInvokeCount])).toEqual([[1, 'RetryAttemptsExhausted', 2]]);
  });

  it('without bisect, a thrown error retries the whole batch', async () => {
    let thrown = 0;
    const { sched, esm, calls, put } = rig({
      config: { maximumBatchingWindowMs: 0, bisectBatchOnFunctionError: false, maximumRetryAttempts: 3 },
      handler: () => {
        if (thrown++ < 2) throw new Error('transient');
      },
    });
    for (const n of names('r', 3)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => [c.names.length, c.attempt])).toEqual([
      [3, 0],
      [3, 1],
      [3, 2],
    ]);
    expect(esm.stats.recordsSucceeded).toBe(3);
  });

  it('an item identifier that is empty or not in the batch fails the whole batch', async () => {
    const { sched, esm, calls, put } = rig({
      config: { batchSize: 2, maximumBatchingWindowMs: 0 },
      handler: (_n, _r, call) => (call === 0 ? { batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] } : undefined),
    });
    for (const n of names('r', 2)) put('shard-0', n, 0);
    esm.start();
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([['r0', 'r1'], ['r0'], ['r1']]);
    expect(esm.stats.bisections).toBe(1);
  });

  it('ignores a returned failure list when ReportBatchItemFailures is off (AWS does not read it)', async () => {
    const { sched, esm, calls, put } = rig({
      config: { maximumBatchingWindowMs: 0, reportBatchItemFailures: false },
      handler: (_n, records) => failureFor(records, 0),
    });
    put('shard-0', 'r0', 0);
    esm.start();
    await sched.run();
    expect(calls).toHaveLength(1);
    expect(esm.stats.recordsSucceeded).toBe(1);
  });

  it('records older than the maximum record age go to the failure destination undelivered', async () => {
    const { sched, esm, calls, put } = rig({
      config: { maximumBatchingWindowMs: 0, maximumRecordAgeMs: 2_000 },
      lagMs: () => 5_000,
    });
    put('shard-0', 'old', 0);
    esm.start();
    await sched.run();
    expect(calls).toEqual([]);
    expect(esm.failures.map((f) => [f.condition, f.batchSize])).toEqual([['RecordAgeExceeded', 1]]);
  });
});

describe('EventSourceMapping: shards', () => {
  it('delays a lagging shard by its lag; the others are not held up, and iterator age shows it', async () => {
    const { sched, esm, calls, put } = rig({
      shards: ['shard-0', 'shard-1'],
      config: { maximumBatchingWindowMs: 0 },
      lagMs: (id) => (id === 'shard-1' ? 30_000 : 0),
    });
    put('shard-0', 'a', 1_000);
    put('shard-1', 'b', 1_000);
    esm.start();
    await sched.run();
    const at = Object.fromEntries(calls.map((c) => [c.names[0], c.at]));
    expect(at.a).toBeLessThan(2_100);
    expect(at.b).toBeGreaterThanOrEqual(31_000);
    expect(at.b).toBeLessThan(32_100);
    expect(esm.iteratorAgeMs('shard-1')).toBeGreaterThanOrEqual(30_000);
    expect(esm.iteratorAgeMs('shard-0')).toBeLessThan(1_100);
  });

  it('reads a parent shard to its end before its child, retries included', async () => {
    const { sched, stream, esm, calls, put } = rig({
      shards: [],
      config: { batchSize: 2, maximumBatchingWindowMs: 0 },
      handler: (n, records, call) => (call === 0 ? failureFor(records, 1) : undefined),
    });
    stream.addShard('parent');
    stream.addShard('child', { parents: ['parent'] });
    // The child's records arrive first: still, none is delivered until the parent is done.
    put('child', 'c0', 0);
    put('child', 'c1', 0);
    for (const [i, n] of names('p', 5).entries()) put('parent', n, 100 + i);
    sched.at(200, () => stream.close('parent'));
    esm.start();
    await sched.run();
    const order = calls.flatMap((c) => c.names);
    const lastParent = Math.max(...['p0', 'p1', 'p2', 'p3', 'p4'].map((n) => order.lastIndexOf(n)));
    const firstChild = Math.min(order.indexOf('c0'), order.indexOf('c1'));
    expect(lastParent).toBeLessThan(firstChild);
    expect(order.filter((n) => n.startsWith('p'))).toEqual(['p0', 'p1', 'p1', 'p2', 'p3', 'p4']);
    expect(order.filter((n) => n.startsWith('c'))).toEqual(['c0', 'c1']);
  });

  it('a child of an open parent waits; the run still ends once nothing can move', async () => {
    const { sched, stream, esm, calls, put } = rig({ shards: [], config: { maximumBatchingWindowMs: 0 } });
    stream.addShard('parent');
    stream.addShard('child', { parents: ['parent'] });
    put('child', 'c0', 0);
    esm.start();
    expect((await sched.run()).reason).toBe('idle');
    expect(calls).toEqual([]);
    stream.close('parent');
    await sched.run();
    expect(calls.map((c) => c.names)).toEqual([['c0']]);
  });

  it('is deterministic for a seed', async () => {
    const go = async (seed: number) => {
      const { sched, esm, calls, put } = rig({ seed, shards: ['s0', 's1', 's2'] });
      for (let i = 0; i < 30; i++) put(`s${i % 3}`, `r${i}`, i * 700);
      esm.start();
      await sched.run();
      return calls.map((c) => `${c.shardId}@${c.at}:${c.names.join(',')}`);
    };
    expect(await go(9)).toEqual(await go(9));
    expect(await go(9)).not.toEqual(await go(10));
  });
});

describe('EventSourceMapping with a Lambda function model', () => {
  it('pays a cold start on the first invocation and the measured/scaled CPU time on each', async () => {
    const { sched, esm, calls, put, lambda } = rig({ lambda: true, config: { maximumBatchingWindowMs: 0, batchSize: 1 } });
    put('shard-0', 'a', 0);
    put('shard-0', 'b', 0);
    esm.start();
    await sched.run();
    expect(calls).toHaveLength(2);
    expect(lambda!.stats.coldStarts).toBeGreaterThanOrEqual(1);
    expect(lambda!.stats.invocations).toBe(2);
    // 100 ms of CPU at 1,024 MB is 100 × 1769/1024 ms of Lambda time.
    expect(calls[1].at - calls[0].at).toBeGreaterThan((100 * 1769) / 1024);
  });

  it('a timeout is a failure of the whole batch', async () => {
    const sched = new Scheduler(0);
    const model = new DeliveryModel(3);
    const stream = new ArrayStream().addShard('s');
    const lambda = new LambdaFunctionModel({ name: 'f', memoryMb: 1769, timeoutMs: 1_000 }, model, sched);
    let n = 0;
    const esm = new EventSourceMapping({
      name: 'to',
      scheduler: sched,
      reader: stream,
      model,
      lambda,
      config: { ...CORDON_ESM_CONFIG.ingest, maximumBatchingWindowMs: 0, bisectBatchOnFunctionError: false },
      handler: async () => ({ simulatedMs: n++ === 0 ? 5_000 : 10 }),
    });
    sched.at(0, (t) => stream.push('s', 'x', t));
    esm.start();
    await sched.run();
    expect(lambda.stats.timeouts).toBe(1);
    expect(esm.stats).toMatchObject({ invocations: 2, retries: 1, recordsSucceeded: 1 });
  });
});
