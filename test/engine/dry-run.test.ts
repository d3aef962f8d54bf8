import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/ports.ts';
import { MIN, spread, T0 } from '../helpers/events.ts';
import { StageKit } from './stage-kit.ts';

/** A crowd and one unmistakable flood in the same minute: enough for a block when not dry. */
const minute = (start: number) => [
  ...Array.from({ length: 50 }, (_, i) => spread(2, start, () => ({ ip: `203.0.113.${i + 1}` }))).flat(),
  ...spread(3000, start, () => ({ ip: '192.0.2.66', path: '/search' })),
];

async function runMinute(kit: StageKit): Promise<void> {
  await kit.ingestEvents(minute(T0));
  await kit.deliver(T0 + MIN + 30_000);
  await kit.detect.tick(T0 + 3 * MIN);
  await kit.contain.run(T0 + 3 * MIN);
}

describe('dry run end to end (detect, ledger, contain)', () => {
  it('detect writes no active block; contain enforces nothing and alerts what would have been blocked', async () => {
    const kit = new StageKit({ dryRun: true });
    await runMinute(kit);
    const ledger = await kit.state.listAll();
    expect(ledger.filter((e) => e.status === 'active')).toEqual([]);
    expect(kit.ipSet).toEqual({ v4: [], v6: [] });
    expect(kit.deny).toEqual({ principals: [], cidrs: [] });
    const alerted = kit.alerts.flatMap((b) => b.decisions);
    expect(alerted.map((d) => [d.action, d.target, d.evidence.heldBack])).toEqual([['alert', '192.0.2.66', 'dry-run']]);
  });

  it('the same traffic without dry run is blocked (the control)', async () => {
    const kit = new StageKit({});
    await runMinute(kit);
    expect(kit.ipSet.v4).toEqual(['192.0.2.66/32']);
  });

  it('an active block left unenforced in the ledger becomes a dry-run alert, and leaving dry run does not enforce it', async () => {
    const dry = new StageKit({ dryRun: true });
    const stale: LedgerEntry = { target: '198.51.100.9', targetKind: 'ip', createdAt: T0, expiresAt: T0 + 60 * MIN, status: 'active',
      reasons: ['flood'], score: 3, priorBlocks: 0, evidence: { key: '198.51.100.9', keyKind: 'ip', windowStart: T0 - MIN, windowEnd: T0,
        findings: [], features: {}, held: 'unmistakable' } };
    await dry.state.put(stale);
    await dry.contain.run(T0 + MIN);
    expect(dry.ipSet.v4).toEqual([]);
    const [row] = await dry.state.listAll();
    expect(row).toMatchObject({ status: 'held', evidence: { heldBack: 'dry-run' } });
    expect(row.effectiveAt).toBeUndefined();
    expect(dry.alerts.flatMap((b) => b.decisions).map((d) => [d.action, d.target])).toEqual([['alert', '198.51.100.9']]);

    // Dry run off, same ledger: nothing decided during the dry run is enforced.
    const live = new StageKit({});
    for (const e of await dry.state.listAll()) await live.state.put(e);
    await live.contain.run(T0 + 2 * MIN);
    expect(live.ipSet.v4).toEqual([]);
  });
});
