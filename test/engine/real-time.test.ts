import { describe, expect, it } from 'vitest';
import { MemoryPartStore } from '../../src/adapters/local/memory-part-store.ts';
import { MemoryWindowStore } from '../../src/adapters/local/memory-window-store.ts';
import { METRIC } from '../../src/engine/observe.ts';
import { EncodedPartStore } from '../../src/engine/part-store.ts';
import { parseTickSlice, tickRules, tickSliceOf, tickSliceOfEvent, tickSlicesFor } from '../../src/engine/tick-slices.ts';
import type { SummaryPart } from '../../src/engine/wire.ts';
import { eventsSource } from '../../src/engine/ingest.ts';
import { ev, MIN, spread, T0 } from '../helpers/events.ts';
import { StageKit } from './stage-kit.ts';

const ATTACKER = '203.0.113.9';

/** A benign population (so the population yardstick exists) plus, optionally, a flood from one address. */
function minute(start: number, flood = 0) {
  const benign = Array.from({ length: 40 }, (_, c) => spread(6, start, () => ({ ip: `198.51.100.${c + 1}`, path: `/items/${c}` }))).flat();
  const attack = spread(flood, start, (i) => ({ ip: ATTACKER, path: `/items/${i % 7}` }));
  return [...benign, ...attack].sort((a, b) => a.time - b.time);
}

describe('real time: windows close on a clock', () => {
  it('an attack followed by silence is decided by the tick, not by later data', async () => {
    // Early decisions off: this is about the close (test/engine/early-decisions.test.ts has the early path).
    const kit = new StageKit({ windows: { earlyDecisions: false } });
    for (let m = 0; m < 3; m++) await kit.ingestEvents(minute(T0 + m * MIN, m === 2 ? 2_000 : 0));
    // Delivered a little after the last request; nothing comes after it.
    const wall = T0 + 3 * MIN + 10_000;
    const [first] = await kit.deliver(wall);
    expect(first.windowsClosed).toBe(2); // the attack's window waits for its lateness
    expect(await kit.state.listActive(wall)).toEqual([]);
    // Ticks before the longest delivery delay has passed leave it open...
    expect((await kit.detect.tick(wall + 30_000)).windowsClosed).toBe(0);
    // ...and the first tick after it decides it.
    const tick = await kit.detect.tick(T0 + 3 * MIN + kit.cfg.windows.maxDeliveryDelaySeconds * 1000 + 1_000);
    expect(tick.windowsClosed).toBe(1);
    const blocked = await kit.state.listActive(T0 + 4 * MIN);
    expect(blocked.map((e) => e.target)).toEqual([ATTACKER]);
    // Its decision is stamped as of the window's end plus the allowed lateness, whoever closed it.
    expect(blocked[0].createdAt).toBe(T0 + 3 * MIN + kit.cfg.windows.allowedLatenessSeconds * 1000);
  });

  it('a stream delivering ten minutes behind is late, not silent: once it has shown it twice, the tick leaves its windows to its data, then closes them after silence', async () => {
    const LAG = 10 * MIN;
    const MINUTES = 16;
    const run = async (earlierRelease: boolean) => {
      const kit = new StageKit({ windows: { earlyDecisions: false } });
      const folded: number[] = [];
      let behind = 0;
      for (let m = 0; m < MINUTES; m++) {
        await kit.ingestEvents(minute(T0 + m * MIN, m === 13 ? 2_000 : 0));
        // Each minute's traffic reaches detect ten minutes after it ends; the tick runs every minute in between.
        const wall = T0 + (m + 1) * MIN + LAG;
        folded.push((await kit.deliver(wall)).reduce((n, r) => n + r.lateFolded, 0));
        // What an earlier release stored: progress without the freshest traffic.
        if (earlierRelease) for (const scope of await kit.detect['deps'].windows.scopes()) {
          const p = (await kit.detect['deps'].windows.progress(scope))!;
          delete p.freshest;
          await kit.detect['deps'].windows.setProgress(scope, p);
        }
        behind += (await kit.detect.tick(wall + 30_000)).scopesBehind;
      }
      // Then silence: the last minute waits the lag and half the delivery delay past its end, then the clock closes it.
      const last = T0 + MINUTES * MIN;
      const halfDelay = kit.cfg.windows.maxDeliveryDelaySeconds * 500;
      const quiet = await kit.detect.tick(last + LAG + halfDelay - 10_000);
      const late = await kit.detect.tick(last + LAG + halfDelay + 10_000);
      const blocked = (await kit.state.listActive(last + 2 * LAG)).map((e) => e.target);
      return { folded, behind, quietClosed: quiet.windowsClosed, lateClosed: late.windowsClosed, blocked };
    };
    const now = await run(false);
    // The scope's first batch alone is no stream behind (one late flush): the first tick closes ahead of it once, and
    // the minutes it passed come late. From then on nothing does.
    expect(now.folded.slice(0, 10).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(now.folded.slice(10)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(now.behind).toBeGreaterThan(0);
    expect(now.blocked).toEqual([ATTACKER]);
    expect(now.quietClosed).toBe(0);
    expect(now.lateClosed).toBe(1);
    // Without the measure (as before), the clock closed every window ahead of its data, and each came late.
    const before = await run(true);
    expect(before.behind).toBe(0);
    expect(before.folded.slice(10).every((n) => n > 0)).toBe(true);
  });

  it('one late flush among timely ones is not a stream behind: silence after it is decided on the usual clock (helper-62)', async () => {
    const kit = new StageKit({ windows: { earlyDecisions: false } });
    for (let m = 0; m < 2; m++) {
      await kit.ingestEvents(minute(T0 + m * MIN));
      await kit.deliver(T0 + (m + 1) * MIN + 10_000);
    }
    // The attack's minute comes in one flush 70 s behind (the model's 94th percentile), then nothing.
    await kit.ingestEvents(minute(T0 + 2 * MIN, 2_000));
    await kit.deliver(T0 + 3 * MIN + 70_000);
    const tick = await kit.detect.tick(T0 + 3 * MIN + kit.cfg.windows.maxDeliveryDelaySeconds * 1000 + 20_000);
    expect(tick.scopesBehind).toBe(0);
    expect(tick.windowsClosed).toBe(1);
    expect((await kit.state.listActive(T0 + 5 * MIN)).map((e) => e.target)).toEqual([ATTACKER]);
  });

  it('ingest batching longer than the default: windows wait the difference, by later data and by the tick', async () => {
    const closedBy = async (ingestBatchingWindowSeconds: number | undefined) => {
      const kit = new StageKit({ windows: { earlyDecisions: false } }, { ingestBatchingWindowSeconds });
      for (let m = 0; m < 2; m++) await kit.ingestEvents(minute(T0 + m * MIN));
      // Data up to 20 s into minute 2: past minute 1's end by more than the default lateness (5 + 10 s), not by 8 s more.
      await kit.ingestEvents(spread(40, T0 + 2 * MIN, (i) => ({ ip: `198.51.100.${(i % 40) + 1}`, time: T0 + 2 * MIN + 16_000 + (i % 5) * 1_000 })));
      const [byData] = await kit.deliver(T0 + 2 * MIN + 20_000);
      // The tick once wall clock minus the delivery delay has passed minute 2's end, and again 8 s later.
      const wait = kit.cfg.windows.maxDeliveryDelaySeconds * 1000;
      const early = await kit.detect.tick(T0 + 3 * MIN + wait + 1_000);
      const late = await kit.detect.tick(T0 + 3 * MIN + wait + 9_000);
      return [byData.windowsClosed, early.windowsClosed, late.windowsClosed];
    };
    // Default (2 s): minute 1 closes on the data 15 s past its end, minute 2 on the first tick.
    expect(await closedBy(undefined)).toEqual([2, 1, 0]);
    expect(await closedBy(2)).toEqual([2, 1, 0]);
    // 10 s batches: 8 s more each way, so minute 1 is left to the first tick, and minute 2 to the one 8 s later.
    expect(await closedBy(10)).toEqual([1, 1, 1]);
  });

  it('closing a window twice (a redelivered batch and a tick) writes the same ledger row once', async () => {
    const kit = new StageKit();
    for (let m = 0; m < 2; m++) await kit.ingestEvents(minute(T0 + m * MIN, m === 1 ? 2_000 : 0));
    const records = [...kit.pending().values()][0];
    await kit.detect.handle(records, T0 + 2 * MIN);
    await kit.detect.tick(T0 + 10 * MIN);
    const again = await kit.detect.handle(records, T0 + 10 * MIN);
    expect(again.redelivered).toBe(records.length);
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toHaveLength(1);
  });
});

describe('real time: late data is folded and counted, never dropped silently', () => {
  it('parts of a closed window are folded into the next window to close and counted', async () => {
    const kit = new StageKit();
    // A lagging access-log shard: minute 1 of the flood arrives after its window closed.
    await kit.ingestEvents(minute(T0), 'shardId-fast');
    await kit.ingestEvents(minute(T0 + MIN), 'shardId-fast');
    await kit.ingestEvents(minute(T0 + 2 * MIN), 'shardId-fast');
    await kit.deliver(T0 + 3 * MIN);
    await kit.ingestEvents(spread(2_000, T0 + MIN, (i) => ({ ip: ATTACKER, path: `/x/${i % 5}` })), 'shardId-slow');
    const [late] = await kit.deliver(T0 + 3 * MIN + 90_000);
    expect(late.lateFolded).toBeGreaterThan(0);
    expect(late.lateDropped).toBe(0);
    expect(kit.metrics.get(METRIC.LateFolded)).toBe(late.lateFolded);
    await kit.detect.tick(T0 + 10 * MIN);
    // The flood's volume counted in the window it was folded into: the attacker is still blocked.
    expect((await kit.state.listActive(T0 + 5 * MIN)).map((e) => e.target)).toContain(ATTACKER);
  });

  it('parts older than the fold limit are dropped and counted as dropped', async () => {
    const kit = new StageKit({ windows: { foldLateMinutes: 10 } });
    await kit.ingestEvents(minute(T0 + 30 * MIN));
    await kit.deliver(T0 + 31 * MIN);
    await kit.detect.tick(T0 + 40 * MIN);
    await kit.ingestEvents(minute(T0), 'shardId-stale');
    const [r] = await kit.deliver(T0 + 40 * MIN);
    expect(r.lateDropped).toBeGreaterThan(0);
    expect(kit.metrics.get(METRIC.LateDropped)).toBe(r.lateDropped);
  });
});

describe('real time: stragglers are judged, not learned', () => {
  const KEY = '198.51.100.200';

  /**
   * Twelve minutes of the benign population; the key sends 40 requests in every other minute. With `late`, 5 of each
   * active minute's 40 reach detect from a lagging shard after that minute closed: they are folded into the next
   * minute, one the key is otherwise quiet in.
   */
  async function sessions(late: boolean) {
    const kit = new StageKit();
    let stragglers: ReturnType<typeof spread> = [];
    for (let m = 0; m < 12; m++) {
      const start = T0 + m * MIN;
      const key = m % 2 === 0 ? spread(40, start, (i) => ({ ip: KEY, path: `/items/${i}` })) : [];
      const trailing = late ? key.filter((_, i) => i % 8 === 7) : [];
      await kit.ingestEvents([...minute(start), ...key.filter((e) => !trailing.includes(e))].sort((a, b) => a.time - b.time), 'shardId-fast');
      await kit.deliver(start + MIN + 20_000);
      if (stragglers.length) {
        await kit.ingestEvents(stragglers, 'shardId-slow');
        await kit.deliver(start + MIN + 25_000);
      }
      stragglers = trailing;
    }
    await kit.detect.tick(T0 + 20 * MIN);
    const [state] = [...(await kit.state.getMany([`i:${KEY}`])).values()];
    const folded = kit.metrics.get(METRIC.LateFolded) ?? 0;
    return { state, folded, kit };
  }

  it('a window holding only a key\'s late parts is not a minute it was active in: its usual volume stays its own', async () => {
    const onTime = await sessions(false);
    const late = await sessions(true);
    expect(onTime.folded).toBe(0);
    expect(late.folded).toBeGreaterThan(0);
    // Six active minutes learned either way; before, each folded-only minute was learned too (eleven windows), and the
    // key's usual volume sank towards the 5 requests of its stragglers.
    expect(onTime.state.windows).toBe(6);
    expect(late.state.windows).toBe(6);
    expect(Math.expm1(onTime.state.reqMean)).toBeCloseTo(40, 0);
    expect(Math.expm1(late.state.reqMean)).toBeGreaterThan(33);
  });

  it('a slow scanner whose every request comes late is caught over the horizons as one on time is (helper-61)', async () => {
    const SCANNER = '192.0.2.66';
    const run = async (late: boolean) => {
      const kit = new StageKit({ learning: { windows: 0 } });
      let previous: ReturnType<typeof spread> = [];
      for (let m = 0; m < 12; m++) {
        const start = T0 + m * MIN;
        // Three new missing paths a minute: under every per-minute threshold, plain over an hour.
        const probes = spread(3, start, (i) => ({ ip: SCANNER, path: `/x${m}-${i}`, status: 404 }));
        await kit.ingestEvents([...minute(start), ...(late ? [] : probes)].sort((a, b) => a.time - b.time), 'shardId-fast');
        await kit.deliver(start + MIN + 20_000);
        if (late && previous.length) {
          await kit.ingestEvents(previous, 'shardId-slow');
          await kit.deliver(start + MIN + 25_000);
        }
        previous = probes;
      }
      await kit.detect.tick(T0 + 20 * MIN);
      const blocked = (await kit.state.listActive(T0 + 20 * MIN)).filter((e) => e.target === SCANNER);
      return { blocked: blocked.length, folded: kit.metrics.get(METRIC.LateFolded) ?? 0 };
    };
    const onTime = await run(false);
    const late = await run(true);
    expect(onTime).toEqual({ blocked: 1, folded: 0 });
    expect(late.folded).toBeGreaterThan(0);
    expect(late.blocked).toBe(1);
  });
});

describe('real time: one absurd timestamp moves no clock', () => {
  it('a part stamped in 2100 is clamped to the stage clock; later windows still close on time', async () => {
    const kit = new StageKit();
    const y2100 = Date.UTC(2100, 0, 1);
    await kit.ingestEvents([...minute(T0), ev({ time: y2100, ip: '192.0.2.66' })]);
    const [r] = await kit.deliver(T0 + MIN + 5_000);
    expect(r.clamped + r.lateDropped).toBeGreaterThan(0);
    await kit.ingestEvents(minute(T0 + MIN, 2_000));
    await kit.ingestEvents(minute(T0 + 2 * MIN));
    await kit.deliver(T0 + 3 * MIN);
    expect((await kit.state.listActive(T0 + 3 * MIN)).map((e) => e.target)).toEqual([ATTACKER]);
  });
});

describe('contain: expiry counts from enforcement', () => {
  it('a block decided long before contain first sees it still lasts its full duration, and the alert says so', async () => {
    const kit = new StageKit();
    for (let m = 0; m < 3; m++) await kit.ingestEvents(minute(T0 + m * MIN, m === 1 ? 2_000 : 0));
    await kit.deliver(T0 + 3 * MIN);
    const [entry] = await kit.state.listActive(T0 + 3 * MIN);
    const duration = entry.expiresAt - entry.createdAt;
    // Contain was down for longer than the block's own duration.
    const late = entry.createdAt + duration + 10 * MIN;
    const run = await kit.contain.run(late);
    expect(run.enforced.map((e) => e.target)).toEqual([ATTACKER]);
    expect(kit.ipSet.v4).toEqual([`${ATTACKER}/32`]);
    const [stored] = await kit.state.history(ATTACKER);
    expect(stored.effectiveAt).toBe(late);
    expect(stored.expiresAt).toBe(late + duration);
    const block = kit.alerts[0].decisions.find((d) => d.action === 'block')!;
    expect(block.expiresAt).toBe(new Date(late + duration).toISOString());
    // It expires a full duration after it took effect, not before.
    await kit.contain.run(late + duration - 1);
    expect(kit.ipSet.v4).toEqual([`${ATTACKER}/32`]);
    const end = await kit.contain.run(late + duration);
    expect(end.ended.map((e) => e.target)).toEqual([ATTACKER]);
    expect(kit.ipSet.v4).toEqual([]);
  });
});

describe('real time: two detect invocations at once (a tick beside a stream batch)', () => {
  it('a chunk stored while its window is being closed is not deleted with it: the window reopens and is decided on its own', async () => {
    let injected = false;
    // The chunk lands between detect's read of the window and its delete (both ways of reading it).
    class Racing extends EncodedPartStore {
      override async read(scope: string, windowStart: number) {
        const got = await super.read(scope, windowStart);
        if (!injected && got.chunks.length) await this.race(scope, windowStart, got.chunks[0].parts);
        return got;
      }
      override async readLazily(scope: string, windowStart: number) {
        const got = await super.readLazily(scope, windowStart);
        if (!injected && got.length) await this.race(scope, windowStart, got[0].parts());
        return got;
      }
      private async race(scope: string, windowStart: number, parts: SummaryPart[]): Promise<void> {
        injected = true;
        const late = parts.map((p) => ({ ...p, id: `${p.id}-concurrent` }));
        await this.add(scope, [{ windowStart, chunkId: 'concurrent', parts: late }]);
      }
    }
    const windows = new Racing(new MemoryWindowStore());
    const kit = new StageKit({}, { windows });
    await kit.ingestEvents(minute(T0));
    await kit.deliver(T0 + 30_000);
    const [scope] = await windows.scopes();
    const first = await kit.detect.tick(T0 + 10 * MIN);
    expect(first.windowsClosed).toBe(1);
    expect(await windows.openWindows(scope)).toEqual([T0]); // the concurrent chunk kept its window open
    const second = await kit.detect.tick(T0 + 11 * MIN);
    expect(second.windowsClosed).toBe(1);
    expect(await windows.openWindows(scope)).toEqual([]);
  });
});

describe('real time: a source record ingest delivers again after its window closed', () => {
  it('is recognised by its source sequence number and not counted twice; genuinely late data still folds', async () => {
    const kit = new StageKit();
    const flood = spread(300, T0, (i) => ({ ip: ATTACKER, path: `/x/${i % 5}` }));
    await kit.ingest.handle([eventsSource('shardId-a', '0001', flood)]);
    for (let m = 1; m < 3; m++) await kit.ingest.handle([eventsSource('shardId-a', `000${m + 1}`, minute(T0 + m * MIN))]);
    await kit.deliver(T0 + 3 * MIN);
    // Ingest retried record 0001 (its batch failed after the put): the same parts, under new summaries records.
    await kit.ingest.handle([eventsSource('shardId-a', '0001', flood)]);
    const [again] = await kit.deliver(T0 + 3 * MIN + 5_000);
    expect(again.redeliveredParts).toBeGreaterThan(0);
    expect(kit.metrics.get(METRIC.RedeliveredParts)).toBe(again.redeliveredParts);
    expect(again.lateFolded).toBe(0);
    // A record of the same shard that was never seen is late data, and folds.
    await kit.ingest.handle([eventsSource('shardId-a', '0009', spread(10, T0, () => ({ ip: '192.0.2.9' })))]);
    const [late] = await kit.deliver(T0 + 3 * MIN + 10_000);
    expect(late.lateFolded).toBeGreaterThan(0);
    expect(late.redeliveredParts).toBe(0);
  });
});

describe('real time: resharding', () => {
  it('after a reshard the parent shard receives nothing more, and its open windows still close on the clock', async () => {
    const kit = new StageKit({ windows: { earlyDecisions: false } });
    await kit.ingestEvents(minute(T0, 2_000));
    await kit.deliver(T0 + 40_000); // the parent's window is open, waiting for later data
    const [parent] = kit.summaries.shardIds();
    kit.summaries.reshard(2);
    await kit.ingestEvents(minute(T0 + MIN));
    await kit.ingestEvents(minute(T0 + 2 * MIN));
    await kit.deliver(T0 + 3 * MIN); // only the children get data now
    expect(kit.summaries.isOpen(parent)).toBe(false);
    expect(await kit.state.listActive(T0 + 3 * MIN)).toEqual([]);
    const tick = await kit.detect.tick(T0 + 3 * MIN + kit.cfg.windows.maxDeliveryDelaySeconds * 1000);
    expect(tick.windowsClosed).toBeGreaterThan(0);
    expect((await kit.state.listActive(T0 + 4 * MIN)).map((e) => e.target)).toContain(ATTACKER);
  });
});

describe('real time: the tick stops visiting a shard gone for good', () => {
  it('a scope without data for a day and without open windows is retired; data brings it back', async () => {
    const kit = new StageKit();
    await kit.ingestEvents(minute(T0));
    await kit.deliver(T0 + 30_000);
    const scopes = () => (kit.detect as unknown as { deps: { windows: { scopes(): Promise<string[]> } } }).deps.windows.scopes();
    expect(await scopes()).toHaveLength(1);
    expect((await kit.detect.tick(T0 + 10 * MIN)).windowsClosed).toBe(1);
    expect((await kit.detect.tick(T0 + 12 * 60 * MIN)).scopesRetired).toBe(0); // quiet, but not for a day yet
    expect((await kit.detect.tick(T0 + 25 * 60 * MIN)).scopesRetired).toBe(1);
    expect(await scopes()).toEqual([]);
    await kit.ingestEvents(minute(T0 + 26 * 60 * MIN));
    await kit.deliver(T0 + 26 * 60 * MIN + 30_000);
    expect(await scopes()).toHaveLength(1);
  });
});

describe('real time: a tick that runs out of time', () => {
  /**
   * Four summaries shards over /24s: `early` of them send through the first minute, thirty in the first seconds of the
   * second (within the allowed lateness, so no shard's data closes the first), and nothing comes after: traffic
   * stopped on every shard at once.
   */
  async function quietShards(early: number) {
    const windows = new MemoryPartStore();
    const kit = new StageKit({ windows: { earlyDecisions: false } }, { shards: 4, windows });
    const group = (start: number, from: number, n: number, spanMs: number) =>
      Array.from({ length: n }, (_, c) => Array.from({ length: 6 }, (_, i) => ev({ time: start + Math.floor((i * spanMs) / 6), ip: `10.${from + c}.0.1` }))).flat();
    await kit.ingestEvents([...group(T0, 0, early, MIN), ...group(T0 + MIN, 100, 30, 3_000)].sort((a, b) => a.time - b.time));
    await kit.deliver(T0 + 2 * MIN);
    return { kit, windows };
  }

  it('closes the shards with the oldest open windows first and leaves the rest, counted, to the next tick', async () => {
    const { kit, windows } = await quietShards(2);
    const oldestOpen = async () => {
      const out = new Map<string, number>();
      for (const scope of await windows.scopes()) {
        const open = await windows.openWindows(scope);
        if (open.length) out.set(scope, Math.min(...open));
      }
      return out;
    };
    // The store lists scopes newest-registered first, so an oldest-first order is the tick's own doing.
    const listed = windows.scopes.bind(windows);
    windows.scopes = async () => (await listed()).reverse();
    const before = await oldestOpen();
    expect(before.size).toBeGreaterThanOrEqual(3);
    expect(new Set(before.values())).toEqual(new Set([T0, T0 + MIN])); // one shard's oldest window is a minute older
    let openBefore = 0;
    for (const scope of before.keys()) openBefore += (await windows.openWindows(scope)).length;
    // Time for one shard, then the tick's reserve is reached.
    let asked = 0;
    const first = await kit.detect.tick(T0 + 10 * MIN, () => (asked++ === 0 ? 60_000 : 1_000));
    expect(first.scopesDeferred).toBe(before.size - 1);
    expect(kit.metrics.totals.get('TickScopesDeferred')).toBe(before.size - 1);
    const after = await oldestOpen();
    const closed = [...before.keys()].filter((s) => !after.has(s));
    expect(closed).toHaveLength(1);
    expect(before.get(closed[0])).toBe(Math.min(...before.values()));
    // The next tick, with time, closes the rest.
    const second = await kit.detect.tick(T0 + 11 * MIN, () => 120_000);
    expect(second.scopesDeferred).toBe(0);
    expect((await oldestOpen()).size).toBe(0);
    expect(first.windowsClosed + second.windowsClosed).toBe(openBefore);
  });

  it('counts only the shards with windows due as left over, and takes a shard whose close failed after the others', async () => {
    const { kit, windows } = await quietShards(3);
    const openAt = async () => new Map(await Promise.all((await windows.scopes()).map(async (sc) => [sc, await windows.openWindows(sc)] as const)));
    const before = await openAt();
    const due = [...before].filter(([, open]) => open[0] === T0).map(([sc]) => sc);
    const notYet = [...before].filter(([, open]) => open[0] === T0 + MIN).map(([sc]) => sc);
    expect(due.length).toBeGreaterThanOrEqual(2);
    expect(notYet.length).toBeGreaterThan(0);
    // At this tick only the first minute is due (the second waits for its delivery delay): the shards holding only it
    // are not work left over.
    const now = T0 + MIN + kit.cfg.windows.maxDeliveryDelaySeconds * 1000 + 30_000;
    // The first shard the tick tries cannot be read (a bug): within the same minute the order would be the same, so
    // only its failure puts it after the others.
    let broken: string | null = null;
    const read = windows.read.bind(windows);
    windows.read = async (scope, start) => {
      broken ??= scope;
      if (scope === broken) throw new Error('bug: cannot read');
      return read(scope, start);
    };
    const oneTurn = () => {
      let turns = 0;
      return () => (turns++ < 1 ? 60_000 : 1_000);
    };
    const first = await kit.detect.tick(now, oneTurn());
    expect(broken).not.toBeNull();
    expect(first.windowsClosed).toBe(0);
    expect(first.scopesDeferred).toBe(due.length - 1);
    const second = await kit.detect.tick(now + 1, oneTurn());
    expect(second.windowsClosed).toBe(1);
    expect(second.scopesDeferred).toBe(due.length - 1);
    const after = await openAt();
    expect(due.filter((sc) => !(after.get(sc) ?? []).includes(T0))).toHaveLength(1);
    expect(after.get(broken!)).toContain(T0);
  });

  it('ticks run at once over slices of the shards: each closes its own, together all of them', async () => {
    const { kit, windows } = await quietShards(30);
    const scopes = await windows.scopes();
    expect(scopes).toHaveLength(4);
    const now = T0 + 10 * MIN;
    const closedBy = new Map<number, string[]>();
    for (const slice of [0, 1]) {
      const before = new Set((await Promise.all(scopes.map(async (sc) => ((await windows.openWindows(sc)).length ? sc : '')))).filter(Boolean));
      await kit.detect.tick(now, () => 120_000, { slice, of: 2 });
      const after = new Set((await Promise.all(scopes.map(async (sc) => ((await windows.openWindows(sc)).length ? sc : '')))).filter(Boolean));
      closedBy.set(slice, [...before].filter((sc) => !after.has(sc)));
    }
    // Shards numbered 0-3: the even ones in slice 0, the odd ones in slice 1.
    expect(closedBy.get(0)).toEqual(scopes.filter((sc) => tickSliceOf(sc, 2) === 0));
    expect(closedBy.get(0)).toHaveLength(2);
    expect(closedBy.get(1)).toHaveLength(2);
    expect([...closedBy.get(0)!, ...closedBy.get(1)!].sort()).toEqual([...scopes].sort());
  });

  it('the construct runs one tick up to four shards, a slice each four past that; a slice input is checked', () => {
    expect([1, 4, 5, 28, 100, 500].map((n) => tickSlicesFor(n))).toEqual([1, 1, 2, 7, 25, 25]);
    expect(tickSlicesFor('on-demand')).toBe(16);
    expect(parseTickSlice({ slice: 2, of: 7 })).toEqual({ slice: 2, of: 7 });
    for (const bad of [null, 'x', { slice: 7, of: 7 }, { slice: -1, of: 2 }, { slice: 0, of: 0 }, { slice: 1.5, of: 2 }, { slice: 0, of: 26 }]) {
      expect(parseTickSlice(bad)).toBeNull();
    }
    // Shard ids by their number: every slice gets as many; other names by a hash, still in range.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => tickSliceOf(`shardId-${String(i).padStart(12, '0')}`, 4))).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(tickSliceOf('default', 4)).toBeLessThan(4);
    // What the handler reads from its event: a plain scheduled event, a slice, or an input it cannot read (every shard).
    expect(tickSliceOfEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({ unreadable: false });
    expect(tickSliceOfEvent({ tick: { slice: 1, of: 2 } })).toEqual({ slice: { slice: 1, of: 2 }, unreadable: false });
    expect(tickSliceOfEvent({ tick: { slice: 'one' } })).toEqual({ unreadable: true });
    expect(tickSliceOfEvent(null)).toEqual({ unreadable: false });
  });

  it('the schedule: one rule with a plain target up to four shards; past that, rules of five targets, every slice once', () => {
    expect(tickRules(1)).toEqual([{ name: 'DetectSchedule', slices: [undefined] }]);
    const rules = tickRules(tickSlicesFor(28));
    expect(rules.map((r) => [r.name, r.slices.length])).toEqual([['DetectSchedule', 5], ['DetectSchedule2', 2]]);
    expect(rules.flatMap((r) => r.slices)).toEqual([0, 1, 2, 3, 4, 5, 6].map((slice) => ({ slice, of: 7 })));
    expect(tickRules(25).flatMap((r) => r.slices.map((s) => s!.slice))).toEqual([...Array(25).keys()]);
  });
});
