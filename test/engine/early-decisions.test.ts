import { describe, expect, it } from 'vitest';
import type { EarlyWatch } from '../../src/engine/early-watch.ts';
import { METRIC } from '../../src/engine/observe.ts';
import { ipKey } from '../../src/features/keys.ts';
import type { AccessEvent } from '../../src/events.ts';
import { ev, MIN, spread, T0 } from '../helpers/events.ts';
import { StageKit } from './stage-kit.ts';

const ATTACKER = '203.0.113.9';
const SECOND = 1000;

/** Forty steady clients over one minute (the population yardstick). */
function benignMinute(start: number): AccessEvent[] {
  return Array.from({ length: 40 }, (_, c) => spread(6, start, () => ({ ip: `198.51.100.${c + 1}`, path: `/items/${c}` }))).flat();
}

/** `n` requests from `ip` evenly over `[start, start + ms)`. */
function burst(n: number, start: number, ms: number, make: (i: number) => Partial<AccessEvent>): AccessEvent[] {
  return Array.from({ length: n }, (_, i) => ev({ time: start + Math.floor((i * ms) / n), ...make(i) }));
}

const byTime = (a: AccessEvent, b: AccessEvent) => a.time - b.time;

/**
 * Two quiet minutes, then the first 20 s of minute 2: the benign clients' share of it, and `attack`. Delivered 25 s
 * into minute 2, when the window [2, 3) is still open (it closes after its end plus the lateness).
 */
async function openWindowWith(kit: StageKit, attack: AccessEvent[]): Promise<number> {
  for (let m = 0; m < 2; m++) await kit.ingestEvents(benignMinute(T0 + m * MIN));
  const early = benignMinute(T0 + 2 * MIN).filter((e) => e.time < T0 + 2 * MIN + 20 * SECOND);
  await kit.ingestEvents([...early, ...attack].sort(byTime));
  const now = T0 + 2 * MIN + 25 * SECOND;
  await kit.deliver(now);
  return now;
}

describe('early decisions: unmistakable evidence acts before its window closes', () => {
  it('a flood past the unmistakable level is blocked when detect holds it, stamped then, and the close does not decide it again', async () => {
    const kit = new StageKit();
    const now = await openWindowWith(kit, burst(2_000, T0 + 2 * MIN, 20 * SECOND, (i) => ({ ip: ATTACKER, path: `/search?q=${i}` })));
    const active = await kit.state.listActive(now);
    expect(active.map((e) => e.target)).toEqual([ATTACKER]);
    expect(active[0].createdAt).toBe(now);
    expect(active[0].reasons).toEqual(['flood']);
    expect(active[0].evidence.held).toBe('unmistakable, 25 s into the window');
    expect(active[0].evidence.windowStart).toBe(T0 + 2 * MIN);
    expect(kit.metrics.get(METRIC.EarlyDecisions)).toBe(1);
    // Contain enforces it at once.
    await kit.contain.run(now + 1_000);
    expect(kit.ipSet.v4).toEqual([`${ATTACKER}/32`]);
    // The window closes later with the whole minute: one row, not two.
    await kit.ingestEvents(benignMinute(T0 + 3 * MIN));
    await kit.deliver(T0 + 4 * MIN);
    await kit.detect.tick(T0 + 10 * MIN);
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toHaveLength(1);
    expect(kit.metrics.get(METRIC.EarlyDecisions)).toBe(1);
  });

  it('a shard that goes quiet: the tick that closes its windows also forgets what was watched in them', async () => {
    const kit = new StageKit();
    const now = await openWindowWith(kit, []);
    const early = (kit.detect as unknown as { early: EarlyWatch }).early;
    expect(early.trackedKeys()).toBeGreaterThan(0);
    // No more data on the shard: only the clock closes window [2, 3), and with it what the watch held.
    await kit.detect.tick(now + 5 * MIN);
    expect(early.trackedKeys()).toBe(0);
  });

  it('with early decisions off, the same flood waits for its window to close', async () => {
    const kit = new StageKit({ windows: { earlyDecisions: false } });
    const now = await openWindowWith(kit, burst(2_000, T0 + 2 * MIN, 20 * SECOND, () => ({ ip: ATTACKER })));
    expect(await kit.state.listActive(now)).toEqual([]);
    await kit.detect.tick(T0 + 10 * MIN);
    const [entry] = await kit.state.listActive(T0 + 4 * MIN);
    expect(entry.target).toBe(ATTACKER);
    expect(entry.createdAt).toBe(T0 + 3 * MIN + kit.cfg.windows.allowedLatenessSeconds * 1000);
  });

  it('a flood above the flood threshold but short of unmistakable is left to the close', async () => {
    const kit = new StageKit();
    const { floodMinRequests, floodUnmistakableRequests } = kit.cfg.thresholds;
    const n = Math.floor((floodMinRequests + floodUnmistakableRequests) / 2);
    const now = await openWindowWith(kit, burst(n, T0 + 2 * MIN, 20 * SECOND, () => ({ ip: ATTACKER })));
    expect(await kit.state.listAll()).toEqual([]);
    expect(kit.metrics.get(METRIC.EarlyDecisions)).toBe(0);
    expect(now).toBeLessThan(T0 + 3 * MIN);
  });

  it('a scanner past the unmistakable breadth of missing paths is blocked early (a behaviour rule)', async () => {
    const kit = new StageKit();
    const paths = 3 * kit.cfg.thresholds.scanDistinct404;
    const now = await openWindowWith(kit, burst(paths, T0 + 2 * MIN, 15 * SECOND, (i) => ({ ip: ATTACKER, path: `/wp-admin/${i}.php`, resource: '/{proxy+}', status: 404 })));
    const active = await kit.state.listActive(now);
    expect(active.map((e) => [e.target, e.reasons])).toEqual([[ATTACKER, ['path-scan']]]);
    expect(active[0].createdAt).toBe(now);
  });

  it('an allowlisted address flooding is alerted once, early, and never blocked', async () => {
    const kit = new StageKit({ allowlist: { cidrs: ['203.0.113.0/28'] } });
    const now = await openWindowWith(kit, burst(2_000, T0 + 2 * MIN, 20 * SECOND, () => ({ ip: ATTACKER })));
    expect(await kit.state.listActive(now)).toEqual([]);
    const held = (await kit.state.listAll()).filter((e) => e.target === ATTACKER);
    expect(held.map((e) => [e.status, e.evidence.heldBack])).toEqual([['held', 'allowlist']]);
    await kit.detect.tick(T0 + 10 * MIN);
    // The close finds the alert in the ledger: no second one for the same period.
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toHaveLength(1);
  });

  it('a shared egress (many principals behind one address) at a flood\'s total is not blocked early', async () => {
    const kit = new StageKit();
    const now = await openWindowWith(kit, burst(2_000, T0 + 2 * MIN, 20 * SECOND, (i) => ({ ip: ATTACKER, principal: `user-${i % 80}` })));
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toEqual([]);
    expect(now).toBeLessThan(T0 + 3 * MIN);
  });

  it.each([false, true])('judging an open window learns nothing: the keys\' states are as the closed windows left them (in-memory cache: %s)', async (cachedBaselines) => {
    const kit = new StageKit({}, { cachedBaselines });
    for (let m = 0; m < 2; m++) await kit.ingestEvents(benignMinute(T0 + m * MIN));
    // A request 16 s into minute 2 moves the watermark past minute 1's end and lateness: both earlier windows close.
    await kit.ingestEvents([ev({ time: T0 + 2 * MIN + 16 * SECOND, ip: '192.0.2.200' })]);
    const [first] = await kit.deliver(T0 + 2 * MIN + 20 * SECOND);
    expect(first.windowsClosed).toBe(2);
    const keys = [ipKey('198.51.100.1'), ipKey(ATTACKER), '~pop:ip'];
    // A copy: the cache hands out the objects it holds.
    const before = structuredClone(await kit.baselines.getMany(keys));
    const early = benignMinute(T0 + 2 * MIN).filter((e) => e.time < T0 + 2 * MIN + 20 * SECOND);
    await kit.ingestEvents([...early, ...burst(2_000, T0 + 2 * MIN, 20 * SECOND, () => ({ ip: ATTACKER }))].sort(byTime));
    const [second] = await kit.deliver(T0 + 2 * MIN + 25 * SECOND);
    expect(second.windowsClosed).toBe(0);
    expect(kit.metrics.get(METRIC.EarlyDecisions)).toBe(1);
    expect(await kit.baselines.getMany(keys)).toEqual(before);
  });

  it('a redelivered batch decides nothing twice', async () => {
    const kit = new StageKit();
    for (let m = 0; m < 2; m++) await kit.ingestEvents(benignMinute(T0 + m * MIN));
    await kit.ingestEvents(burst(2_000, T0 + 2 * MIN, 20 * SECOND, () => ({ ip: ATTACKER })));
    const records = [...kit.pending().values()][0];
    const now = T0 + 2 * MIN + 25 * SECOND;
    await kit.detect.handle(records, now);
    // The same records again (a retry after a timeout), later: already counted, already decided.
    const again = await kit.detect.handle(records, now + 15 * SECOND);
    expect(again.redelivered).toBe(records.length);
    expect(again.earlyDecisions).toBe(0);
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toHaveLength(1);
  });
});
