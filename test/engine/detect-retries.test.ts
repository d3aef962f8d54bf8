import { describe, expect, it } from 'vitest';
import { MemoryPartStore } from '../../src/adapters/local/memory-part-store.ts';
import { DetectStage } from '../../src/engine/detect.ts';
import type { PartStore } from '../../src/engine/part-store.ts';
import type { BaselineStore, LedgerStore } from '../../src/ports.ts';
import { MIN, spread, T0 } from '../helpers/events.ts';
import { StageKit } from './stage-kit.ts';

const BUSY = '198.51.100.200';
const ATTACKER = '203.0.113.9';

/**
 * A minute of 40 quiet clients and one busy, steady, legitimate client at 500 requests a minute (a third of the
 * 1,500 that is an unmistakable flood), and in minute 2 a flood of 3,000 from one address.
 */
function minute(m: number) {
  const start = T0 + m * MIN;
  const quiet = Array.from({ length: 40 }, (_, c) => spread(6, start, () => ({ ip: `198.51.100.${c + 1}`, path: `/items/${c}` }))).flat();
  const busy = spread(500, start, (i) => ({ ip: BUSY, path: `/items/${i % 50}` }));
  const flood = m === 2 ? spread(3_000, start, (i) => ({ ip: ATTACKER, path: `/items/${i % 7}` })) : [];
  return [...quiet, ...busy, ...flood].sort((a, b) => a.time - b.time);
}

/** `target` with its `method` failing once (a throttled call: a dependency, so the batch is retried). */
function failingOnce<T extends object>(target: T, method: string | undefined): T {
  let failed = false;
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop === method && !failed) {
          failed = true;
          return Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
        }
        return v.apply(t, args);
      };
    },
  });
}

type FaultPoint = `windows.${keyof PartStore}` | 'ledger.put' | 'baselines.putMany';

/**
 * Four minutes in one detect batch (detect catching up on a backlog), one call failing once where `fault` says, the
 * batch redelivered until it is taken (as Kinesis does with ReportBatchItemFailures), then the clock closes the rest.
 */
async function run(fault?: FaultPoint) {
  const kit = new StageKit({});
  const [where, method] = fault ? fault.split('.') : [];
  const windows = failingOnce<PartStore>(new MemoryPartStore(), where === 'windows' ? method : undefined);
  const ledger = failingOnce<LedgerStore>(kit.state, where === 'ledger' ? method : undefined);
  const baselines = failingOnce<BaselineStore>(kit.state, where === 'baselines' ? method : undefined);
  const closed = new Map<number, number[]>();
  const detect = new DetectStage({ windows, baselines, ledger, config: kit.cfg, metrics: kit.metrics,
    onWindow: (w) => closed.set(w.start, [...(closed.get(w.start) ?? []), w.keys.requests]) });
  for (let m = 0; m < 4; m++) await kit.ingestEvents(minute(m));
  const records = [...kit.pending().values()][0];
  let lateFolded = 0;
  let failures = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await detect.handle(records, T0 + 4 * MIN + attempt * 1_000);
    lateFolded += r.lateFolded;
    if (r.batchItemFailures.length === 0) break;
    failures++;
  }
  // What the retries alone closed, before any clock tick (a clean run closes every window the batch's data passed).
  const closedBeforeTick = closed.size;
  await detect.tick(T0 + 20 * MIN);
  const active = (await kit.state.listAll()).filter((e) => e.status === 'active').map((e) => e.target).sort();
  const states = await kit.state.getMany([`i:${BUSY}`, 'i:198.51.100.1']);
  return { active, closed, closedBeforeTick, lateFolded, failures, learned: [...states.values()].map((s) => s.windows) };
}

describe('detect retried after a failure at any step decides and learns what a clean run does', () => {
  const faults: FaultPoint[] = ['windows.add', 'windows.setProgress', 'windows.setWatermark', 'windows.drop', 'ledger.put',
    'baselines.putMany'];

  it.each(faults)('a failure at %s', async (fault) => {
    const clean = await run();
    expect(clean.active).toEqual([ATTACKER]);
    expect(clean.failures).toBe(0);
    const faulty = await run(fault);
    expect(faulty.failures).toBe(1);
    // Nothing counted twice: no part of a window already decided comes back as late data, and a window decided
    // again (its drop failed, or it was not yet recorded as decided) holds what it held the first time.
    expect(faulty.lateFolded).toBe(0);
    for (const [start, counts] of faulty.closed) for (const n of counts) expect(n, `window ${start}`).toBe(clean.closed.get(start)?.[0]);
    expect([...faulty.closed.keys()]).toEqual([...clean.closed.keys()]);
    // And the retry itself decides them, without waiting for more data or the clock.
    expect(clean.closedBeforeTick).toBeGreaterThan(0);
    expect(faulty.closedBeforeTick).toBe(clean.closedBeforeTick);
    // The busy client is not blocked for the retry, the attacker is; each key learned each window once.
    expect(faulty.active).toEqual(clean.active);
    expect(faulty.learned).toEqual(clean.learned);
  });
});
