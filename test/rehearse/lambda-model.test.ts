import { describe, expect, it } from 'vitest';
import { DeliveryModel, LAMBDA_FACTS } from '../../src/rehearse/delivery-model.ts';
import { LambdaFunctionModel, RateGate, scheduledRule } from '../../src/rehearse/lambda-model.ts';
import { Scheduler } from '../../src/rehearse/scheduler.ts';

function fn(sched: Scheduler, opts: Partial<ConstructorParameters<typeof LambdaFunctionModel>[0]> = {}, seed = 1) {
  return new LambdaFunctionModel({ name: 'f', memoryMb: 1769, timeoutMs: 60_000, cpuTime: () => 50, ...opts }, new DeliveryModel(seed), sched);
}

describe('LambdaFunctionModel', () => {
  it('is cold on first use, warm when reused soon after, cold again after an idle reclaim', async () => {
    const sched = new Scheduler(0);
    const f = fn(sched);
    const a = await f.invoke(0, async () => 'a');
    expect(a.cold).toBe(true);
    expect(a.initMs).toBeGreaterThan(0);
    expect(a.handlerAt).toBeGreaterThan(a.startedAt + a.initMs - 1e-9);
    // 50 ms of CPU at 1,769 MB (one vCPU) is 50 ms, plus the invoke overhead.
    expect(a.durationMs).toBeGreaterThanOrEqual(50);
    const colds: boolean[] = [];
    let t = a.endsAt + 1_000;
    for (let i = 0; i < 50; i++) {
      const inv = await f.invoke(t, async () => i);
      colds.push(inv.cold);
      t = inv.endsAt + 1_000;
    }
    // Warm but for the rare recycle (1 %).
    expect(colds.filter(Boolean).length).toBeLessThanOrEqual(3);
    const late = await f.invoke(t + LAMBDA_FACTS.idleReclaimMs + 1, async () => 'late');
    expect(late.cold).toBe(true);
  });

  it('scales CPU time by memory: half the memory, twice the time', async () => {
    const sched = new Scheduler(0);
    const small = fn(sched, { memoryMb: 1769 / 2 });
    const inv = await small.invoke(0, async () => undefined);
    expect(inv.cpuMs).toBe(50);
    expect(inv.durationMs).toBeGreaterThanOrEqual(100);
  });

  it('adds the simulated time a stage reports for its calls to AWS, and fails a run past its timeout', async () => {
    const sched = new Scheduler(0);
    const f = fn(sched, { timeoutMs: 1_000 });
    const ok = await f.invoke(0, async () => ({ simulatedMs: 300 }), (r) => r.simulatedMs);
    expect(ok.durationMs).toBeGreaterThanOrEqual(350);
    const slow = await f.invoke(ok.endsAt, async () => ({ simulatedMs: 5_000 }), (r) => r.simulatedMs);
    expect(slow.timedOut).toBe(true);
    expect(slow.error).toBeInstanceOf(Error);
    expect(slow.durationMs).toBe(1_000);
    const thrown = await f.invoke(slow.endsAt, async () => {
      throw new Error('bug');
    });
    expect((thrown.error as Error).message).toBe('bug');
    expect(f.stats).toMatchObject({ invocations: 3, errors: 2, timeouts: 1 });
  });

  it('measures the handler’s CPU time when no figure is given', async () => {
    const sched = new Scheduler(0);
    const f = fn(sched, { cpuTime: 'measured' });
    const inv = await f.invoke(0, async () => {
      let x = 0;
      for (let i = 0; i < 3e6; i++) x += Math.sqrt(i);
      return x;
    });
    expect(inv.cpuMs).toBeGreaterThan(0);
  });

  it('holds reserved concurrency: a second invocation waits for the first to end', async () => {
    const sched = new Scheduler(0);
    const f = fn(sched, { reservedConcurrency: 1 });
    expect(f.canStart(0)).toBe(true);
    const a = await f.invoke(0, async () => undefined);
    expect(f.canStart(a.endsAt - 1)).toBe(false);
    expect(f.nextFreeAt(a.endsAt - 1)).toBe(a.endsAt);
    await expect(f.invoke(a.endsAt - 1, async () => undefined)).rejects.toThrow(/reserved concurrency/);
    expect(f.canStart(a.endsAt)).toBe(true);
  });

  it('queues an async invocation while the function is busy and drops it past its maximum age', async () => {
    const sched = new Scheduler(0);
    const f = fn(sched, { reservedConcurrency: 1, timeoutMs: 300_000 });
    const done: number[] = [];
    // A long invocation holds the only environment for ~3 minutes.
    f.invokeAsync(async () => ({ simulatedMs: 180_000 }), { maxEventAgeMs: 120_000, simulatedMs: (r) => r.simulatedMs, onDone: (i) => void done.push(i.endsAt) });
    sched.at(1_000, () => {
      f.invokeAsync(async () => undefined, { maxEventAgeMs: 120_000, onDone: (i) => void done.push(i.endsAt) }); // dropped
    });
    sched.at(150_000, () => {
      f.invokeAsync(async () => undefined, { maxEventAgeMs: 120_000, onDone: (i) => void done.push(i.endsAt) }); // waits, runs
    });
    await sched.run();
    expect(done).toHaveLength(2);
    expect(done[1]).toBeGreaterThan(done[0]);
    expect(f.stats.droppedAsyncEvents).toBe(1);
    expect(f.stats.throttles).toBeGreaterThan(0);
  });
});

describe('RateGate', () => {
  it('spaces calls at least its interval apart', () => {
    const gate = new RateGate(1_000);
    expect([gate.reserve(0), gate.reserve(0), gate.reserve(500), gate.reserve(5_000)]).toEqual([0, 1_000, 2_000, 5_000]);
    expect(gate.waits).toBe(2);
  });
});

describe('scheduledRule', () => {
  it('fires once a period at a fixed offset within it, plus a small jitter, seeded', async () => {
    const fire = async (seed: number) => {
      const sched = new Scheduler(0);
      const times: number[] = [];
      const rule = scheduledRule(sched, new DeliveryModel(seed), 'contain', 60_000, (t) => void times.push(t));
      await sched.run({ until: 5 * 60_000 });
      return { times, offset: rule.offsetMs };
    };
    const { times, offset } = await fire(4);
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThan(60_000);
    expect(times.length).toBeGreaterThanOrEqual(4);
    times.forEach((t, i) => {
      expect(t - (offset + i * 60_000)).toBeGreaterThanOrEqual(0);
      expect(t - (offset + i * 60_000)).toBeLessThan(30_000);
    });
    expect(await fire(4)).toEqual({ times, offset });
  });
});
