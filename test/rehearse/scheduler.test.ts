import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/rehearse/scheduler.ts';

describe('Scheduler', () => {
  it('runs events in time order, ties in insertion order, and moves the clock to each event', async () => {
    const s = new Scheduler(1_000);
    const log: string[] = [];
    s.at(3_000, (t) => void log.push(`c@${t}`));
    s.at(2_000, (t) => void log.push(`a@${t}`));
    s.at(2_000, (t) => void log.push(`b@${t}`));
    s.after(500, (t) => void log.push(`first@${t}`));
    const r = await s.run();
    expect(log).toEqual(['first@1500', 'a@2000', 'b@2000', 'c@3000']);
    expect(r).toMatchObject({ events: 4, now: 3_000, reason: 'empty' });
  });

  it('runs an event scheduled during a tie after the events already queued for that time', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(10, () => {
      log.push('x');
      s.at(10, () => void log.push('z'));
    });
    s.at(10, () => void log.push('y'));
    await s.run();
    expect(log).toEqual(['x', 'y', 'z']);
  });

  it('runs a time in the past at the current time, never moving the clock back', async () => {
    const s = new Scheduler();
    const seen: number[] = [];
    s.at(100, () => {
      s.at(50, (t) => void seen.push(t));
    });
    await s.run();
    expect(seen).toEqual([100]);
    expect(s.now()).toBe(100);
  });

  it('awaits an async action before the next event, whatever real time it takes', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(1, async (t) => {
      log.push(`start@${t}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      log.push('end');
      s.after(5, (u) => void log.push(`completion@${u}`)); // a simulated duration: its completion comes later
    });
    s.at(2, (t) => void log.push(`next@${t}`));
    await s.run();
    expect(log).toEqual(['start@1', 'end', 'next@2', 'completion@6']);
  });

  it('every() runs on a fixed grid from its start and stops when cancelled or past until', async () => {
    const s = new Scheduler(0);
    const ticks: number[] = [];
    const limited: number[] = [];
    const timer = s.every(60_000, (t) => void ticks.push(t), { start: 15_000 });
    s.every(1_000, (t) => void limited.push(t), { start: 0, until: 2_500 });
    s.at(200_000, () => timer.cancel());
    await s.run({ until: 400_000 });
    expect(ticks).toEqual([15_000, 75_000, 135_000, 195_000]);
    expect(limited).toEqual([0, 1_000, 2_000]);
    expect(s.now()).toBe(400_000);
  });

  it('a slow action in every() does not drift the grid', async () => {
    const s = new Scheduler(0);
    const ticks: number[] = [];
    s.every(
      100,
      async (t) => {
        ticks.push(t);
        await new Promise((resolve) => setTimeout(resolve, 2));
      },
      { start: 0 },
    );
    await s.run({ until: 350 });
    expect(ticks).toEqual([0, 100, 200, 300]);
  });

  it('cancel() removes a one-shot event; cancelling twice or after it ran is harmless', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const a = s.at(10, () => void log.push('a'));
    const b = s.at(20, () => void log.push('b'));
    a.cancel();
    a.cancel();
    await s.run();
    b.cancel();
    expect(log).toEqual(['b']);
  });

  it('without until, ends when only daemon events remain and no busy check reports work', async () => {
    const s = new Scheduler(0);
    let polls = 0;
    let backlog = 3;
    s.every(1_000, () => {
      polls++;
      if (backlog > 0) backlog--;
    }, { start: 0 }); // a daemon
    s.addBusyCheck(() => backlog > 0);
    const r = await s.run();
    expect(r.reason).toBe('idle');
    expect(backlog).toBe(0);
    expect(polls).toBe(3);
  });

  it('a daemon-only queue with nothing busy runs nothing', async () => {
    const s = new Scheduler(0);
    let polls = 0;
    s.every(1_000, () => void polls++, { start: 0 });
    expect((await s.run()).reason).toBe('idle');
    expect(polls).toBe(0);
    await s.run({ until: 2_500 }); // with until, daemons run up to it
    expect(polls).toBe(3);
  });

  it('run() refuses to be re-entered', async () => {
    const s = new Scheduler();
    let inner: unknown;
    s.at(1, async () => {
      inner = await s.run().catch((e: unknown) => e);
    });
    await s.run();
    expect(inner).toBeInstanceOf(Error);
  });

  it('propagates an action error and can run again afterwards', async () => {
    const s = new Scheduler();
    s.at(1, () => {
      throw new Error('boom');
    });
    s.at(2, () => undefined);
    await expect(s.run()).rejects.toThrow('boom');
    expect((await s.run()).events).toBe(1);
  });

  it('processes a million events in order, quickly', async () => {
    const s = new Scheduler(0);
    let x = 12345;
    let last = -1;
    let lastSeq = -1;
    let inOrder = true;
    const n = 1_000_000;
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const t = x % 100_000; // many ties
      const seq = i;
      s.at(t, (now) => {
        if (now < last || (now === last && seq < lastSeq)) inOrder = false;
        last = now;
        lastSeq = seq;
      });
    }
    const started = performance.now();
    const r = await s.run();
    const ms = performance.now() - started;
    expect(r.events).toBe(n);
    expect(inOrder).toBe(true);
    expect(ms).toBeLessThan(15_000); // ~1 s on an idle machine; generous for a loaded CI box
  });
});
