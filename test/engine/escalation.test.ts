import { describe, expect, it } from 'vitest';
import { MIN, spread, T0 } from '../helpers/events.ts';
import { StageKit } from './stage-kit.ts';

describe('repeat offenders over IPv6', () => {
  /** The same IPv6 flood three hours apart: the second block of its /64 escalates, whatever the configured IPv6 prefix. */
  async function secondBlock(config: Record<string, unknown>) {
    const kit = new StageKit({ learning: { windows: 0 }, ...config });
    const flood = (start: number) => [...spread(3000, start, () => ({ ip: '2001:db8:1:2::66', path: '/search' })),
      ...Array.from({ length: 20 }, (_, i) => spread(2, start, () => ({ ip: `198.51.100.${i + 1}` }))).flat()];
    for (const start of [T0, T0 + 180 * MIN]) {
      await kit.ingestEvents(flood(start));
      await kit.deliver(start + MIN + 30_000);
      await kit.detect.tick(start + 3 * MIN);
      await kit.contain.run(start + 3 * MIN);
      await kit.contain.run(start + 120 * MIN);
    }
    const blocks = (await kit.state.listAll()).filter((e) => e.target === '2001:db8:1:2::/64').sort((a, b) => a.createdAt - b.createdAt);
    return blocks[1];
  }

  it.each([[{}], [{ aggregation: { ipv6Prefix: 56 } }]])('escalates with config %j', async (config) => {
    const second = await secondBlock(config);
    expect(second.priorBlocks).toBe(1);
    expect((second.expiresAt - second.effectiveAt!) / MIN).toBe(240);
  });
});

describe('a blocked key is not alerted again while its block lasts', () => {
  it('a flood blocked in one window and still flooding, below the unmistakable level, while cordon learns: no alert each minute', async () => {
    const kit = new StageKit();
    const attacker = '203.0.113.9';
    const minute = (start: number, flood: number) => [
      ...Array.from({ length: 40 }, (_, c) => spread(6, start, () => ({ ip: `198.51.100.${c + 1}` }))).flat(),
      ...spread(flood, start, () => ({ ip: attacker, path: '/search' })),
    ].sort((a, b) => a.time - b.time);
    for (let m = 0; m < 6; m++) await kit.ingestEvents(minute(T0 + m * MIN, m === 1 ? 2_000 : m > 1 ? 900 : 0));
    await kit.deliver(T0 + 6 * MIN + 30_000);
    await kit.detect.tick(T0 + 10 * MIN);
    const rows = (await kit.state.listAll()).filter((e) => e.target === attacker);
    // Minute 1 blocks it (unmistakable); minutes 2-5 would be held for learning (a flood, not unmistakable, no history)
    // if it were not blocked already: they add nothing while the block lasts.
    expect(rows.map((e) => e.status)).toEqual(['active']);
  });
});
