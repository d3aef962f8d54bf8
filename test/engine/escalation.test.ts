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
