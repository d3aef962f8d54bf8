import { describe, expect, it } from 'vitest';
import { METRIC } from '../../src/engine/observe.ts';
import type { AccessEvent } from '../../src/events.ts';
import { ev, MIN, spread, T0 } from '../helpers/events.ts';
import { StageKit } from './stage-kit.ts';

// Trap routes end to end: ingest → summaries → detect (early look) → ledger → contain, over the in-memory twins.

const ATTACKER = '203.0.113.9';
const SECOND = 1000;
const TRAPS = { trapRoutes: ['/admin-backup/*', '/.env.bak'] };

/** Forty steady clients over one minute (the population yardstick). */
function benignMinute(start: number): AccessEvent[] {
  return Array.from({ length: 40 }, (_, c) => spread(6, start, () => ({ ip: `198.51.100.${c + 1}`, path: `/items/${c}` }))).flat();
}

/**
 * Two quiet minutes, then the first 20 s of minute 2 with `touch` among them; delivered 25 s into minute 2, while the
 * window [2, 3) is still open. Returns that moment.
 */
async function openWindowWith(kit: StageKit, touch: AccessEvent[]): Promise<number> {
  for (let m = 0; m < 2; m++) await kit.ingestEvents(benignMinute(T0 + m * MIN));
  const early = benignMinute(T0 + 2 * MIN).filter((e) => e.time < T0 + 2 * MIN + 20 * SECOND);
  await kit.ingestEvents([...early, ...touch].sort((a, b) => a.time - b.time));
  const now = T0 + 2 * MIN + 25 * SECOND;
  await kit.deliver(now);
  return now;
}

/** Closes minute 2 (and everything before) with a quiet minute 3 and the clock. */
async function closeAll(kit: StageKit): Promise<void> {
  await kit.ingestEvents(benignMinute(T0 + 3 * MIN));
  await kit.deliver(T0 + 4 * MIN);
  await kit.detect.tick(T0 + 10 * MIN);
}

const touch = (over: Partial<AccessEvent> = {}) => ev({ time: T0 + 2 * MIN + 5 * SECOND, ip: ATTACKER, path: '/admin-backup/db.sql?x=1', status: 404, ...over });

describe('trap routes: the first touch blocks, early, through every guard', () => {
  it('one request to a trap route blocks its address while the window is still open; contain enforces it; the close does not decide it again', async () => {
    const kit = new StageKit(TRAPS);
    const now = await openWindowWith(kit, [touch()]);
    expect(now).toBeLessThan(T0 + 3 * MIN); // the window [2, 3) has not even ended
    const active = await kit.state.listActive(now);
    expect(active.map((e) => [e.target, e.targetKind, e.reasons])).toEqual([[ATTACKER, 'ip', ['trap-route']]]);
    expect(active[0].createdAt).toBe(now);
    expect(active[0].evidence.held).toBe('unmistakable, 25 s into the window');
    expect(active[0].evidence.findings).toEqual([{ rule: 'trap-route', score: 1, unmistakable: true, detail: '1 of 1 requests to trap routes' }]);
    expect(active[0].evidence.samples?.paths).toEqual(['/admin-backup/db.sql?x=1']);
    expect(kit.metrics.get(METRIC.EarlyDecisions)).toBe(1);
    await kit.contain.run(now + SECOND);
    expect(kit.ipSet.v4).toEqual([`${ATTACKER}/32`]);
    await closeAll(kit);
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toHaveLength(1);
    expect(kit.metrics.get(METRIC.EarlyDecisions)).toBe(1);
  });

  it('without early decisions the same touch is blocked at the window close', async () => {
    const kit = new StageKit({ ...TRAPS, windows: { earlyDecisions: false } });
    const now = await openWindowWith(kit, [touch()]);
    expect(await kit.state.listAll()).toEqual([]);
    await closeAll(kit);
    const [entry] = await kit.state.listActive(T0 + 4 * MIN);
    expect([entry.target, entry.reasons, entry.createdAt > now]).toEqual([ATTACKER, ['trap-route'], true]);
  });

  it('the same paths are nothing without trap routes configured, and other paths are nothing with them', async () => {
    const none = new StageKit();
    await openWindowWith(none, [touch()]);
    await closeAll(none);
    expect(await none.state.listAll()).toEqual([]);
    const other = new StageKit(TRAPS);
    await openWindowWith(other, [touch({ path: '/admin-backup' }), touch({ path: '/items/1?next=/.env.bak' })]);
    await closeAll(other);
    expect(await other.state.listAll()).toEqual([]);
  });

  it('an allowlisted address touching a trap is alerted, never blocked', async () => {
    const kit = new StageKit({ ...TRAPS, allowlist: { cidrs: ['203.0.113.0/28'] } });
    const now = await openWindowWith(kit, [touch()]);
    expect(await kit.state.listActive(now)).toEqual([]);
    await closeAll(kit);
    const rows = (await kit.state.listAll()).filter((e) => e.target === ATTACKER);
    expect(rows.map((e) => [e.status, e.evidence.heldBack, e.reasons])).toEqual([['held', 'allowlist', ['trap-route']]]);
    await kit.contain.run(T0 + 10 * MIN);
    expect(kit.ipSet.v4).toEqual([]);
  });

  it('an allowlisted principal touching a trap is alerted, never blocked (its address, with no allowlist, is)', async () => {
    const kit = new StageKit({ ...TRAPS, allowlist: { principals: ['monitoring'] } });
    const now = await openWindowWith(kit, [touch({ principal: 'monitoring' })]);
    const rows = await kit.state.listAll();
    expect(rows.map((e) => [e.target, e.status, e.evidence.heldBack ?? null]).sort()).toEqual([[ATTACKER, 'active', null], ['monitoring', 'held', 'allowlist']]);
    expect(rows.every((e) => e.createdAt === now)).toBe(true);
  });

  it('a proxy address touching a trap is alerted with the proxy advice, never blocked', async () => {
    const kit = new StageKit({ ...TRAPS, proxies: { cidrs: ['203.0.113.0/24'] } });
    await openWindowWith(kit, [touch()]);
    await closeAll(kit);
    const rows = (await kit.state.listAll()).filter((e) => e.target === ATTACKER);
    expect(rows.map((e) => [e.status, e.evidence.heldBack])).toEqual([['held', 'proxy']]);
    expect(rows[0].evidence.advice).toMatch(/proxy/);
  });

  it('behind a shared egress (many principals on one address) the address is not blocked; the principal that touched the trap is', async () => {
    const kit = new StageKit(TRAPS);
    const office = Array.from({ length: 60 }, (_, i) => ev({ time: T0 + 2 * MIN + (i % 20) * SECOND, ip: ATTACKER, path: `/items/${i}`, principal: `user-${i % 12}` }));
    const now = await openWindowWith(kit, [...office, touch({ principal: 'user-7' })]);
    const active = await kit.state.listActive(now);
    expect(active.map((e) => [e.target, e.targetKind, e.reasons])).toEqual([['user-7', 'principal', ['trap-route']]]);
    await closeAll(kit);
    // At the close the address's finding is one window of k = 2: held, not acted on.
    expect((await kit.state.listAll()).filter((e) => e.target === ATTACKER)).toEqual([]);
  });

  it('in count mode a touch is alerted, not blocked; in dry run nothing is enforced', async () => {
    const count = new StageKit({ ...TRAPS, rules: { 'trap-route': 'count' } });
    await openWindowWith(count, [touch()]);
    expect((await count.state.listAll()).map((e) => [e.target, e.status, e.evidence.heldBack])).toEqual([[ATTACKER, 'held', 'count-mode']]);
    const dry = new StageKit({ ...TRAPS, dryRun: true });
    await openWindowWith(dry, [touch()]);
    expect((await dry.state.listAll()).map((e) => [e.target, e.status, e.evidence.heldBack])).toEqual([[ATTACKER, 'held', 'dry-run']]);
    const off = new StageKit({ ...TRAPS, rules: { 'trap-route': 'off' } });
    await openWindowWith(off, [touch()]);
    await closeAll(off);
    expect(await off.state.listAll()).toEqual([]);
  });
});
