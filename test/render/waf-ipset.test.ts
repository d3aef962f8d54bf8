import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCidr, parseCidr } from '../../src/net/cidr.ts';
import { IpSetPlanError, planIpSets, type IpSetPlanOptions } from '../../src/render/waf-ipset.ts';

const OPTS: IpSetPlanOptions = { namePrefix: 'cordon-prod', addressesPerSet: 10, maxSetsPerFamily: 3 };

const lenOf = (c: string) => Number(c.split('/')[1]);

describe('planIpSets', () => {
  it('always emits set 0 of each family, even when empty', () => {
    expect(planIpSets({ v4: [], v6: [] }, OPTS)).toEqual({
      v4: [{ Name: 'cordon-prod-v4-0', Scope: 'REGIONAL', IPAddressVersion: 'IPV4', Addresses: [] }],
      v6: [{ Name: 'cordon-prod-v6-0', Scope: 'REGIONAL', IPAddressVersion: 'IPV6', Addresses: [] }],
      overflow: [],
      rejected: [],
    });
  });

  it('shards sorted addresses into contiguous slices, sorted by address not by text', () => {
    const v4 = Array.from({ length: 25 }, (_, i) => `10.0.0.${24 - i}/32`);
    const plan = planIpSets({ v4, v6: ['2001:db8::/64'] }, OPTS);
    expect(plan.v4.map((s) => s.Name)).toEqual(['cordon-prod-v4-0', 'cordon-prod-v4-1', 'cordon-prod-v4-2']);
    expect(plan.v4.map((s) => s.Addresses.length)).toEqual([10, 10, 5]);
    expect(plan.v4[0].Addresses.slice(8)).toEqual(['10.0.0.8/32', '10.0.0.9/32']);
    expect(plan.v4[1].Addresses[0]).toBe('10.0.0.10/32');
    expect(plan.v6).toEqual([
      { Name: 'cordon-prod-v6-0', Scope: 'REGIONAL', IPAddressVersion: 'IPV6', Addresses: ['2001:db8::/64'] },
    ]);
    expect(plan.overflow).toEqual([]);
  });

  it('writes canonical text, drops duplicates and sends each entry to its real family', () => {
    const plan = planIpSets(
      { v4: ['198.51.100.7', '198.51.100.7/32', '2001:DB8::1'], v6: ['::ffff:198.51.100.8', '2001:db8:0:0::1/128'] },
      OPTS,
    );
    expect(plan.v4[0].Addresses).toEqual(['198.51.100.7/32', '198.51.100.8/32']);
    expect(plan.v6[0].Addresses).toEqual(['2001:db8::1/128']);
  });

  it('rejects what WAF would refuse (garbage and /0) instead of failing the whole update', () => {
    const plan = planIpSets({ v4: ['0.0.0.0/0', 'nope', '192.0.2.1'], v6: ['::/0'] }, OPTS);
    expect(plan.rejected).toEqual(['0.0.0.0/0', 'nope', '::/0']);
    expect(plan.v4[0].Addresses).toEqual(['192.0.2.1/32']);
  });

  it('keeps the widest prefixes when the sets are full, and reports the rest as overflow', () => {
    const opts = { namePrefix: 'c', addressesPerSet: 2, maxSetsPerFamily: 2 };
    const v4 = ['192.0.2.9/32', '203.0.113.0/24', '192.0.2.1/32', '198.51.100.0/24', '192.0.2.4/30', '192.0.2.2/32'];
    const plan = planIpSets({ v4, v6: [] }, opts);
    expect(plan.v4.flatMap((s) => s.Addresses)).toEqual(['192.0.2.1/32', '192.0.2.4/30', '198.51.100.0/24', '203.0.113.0/24']);
    expect(plan.overflow).toEqual(['192.0.2.2/32', '192.0.2.9/32']);
  });

  it.each([
    { ...OPTS, addressesPerSet: 10_001 },
    { ...OPTS, addressesPerSet: 0 },
    { ...OPTS, maxSetsPerFamily: 0 },
    { ...OPTS, namePrefix: '' },
    { ...OPTS, namePrefix: 'has space' },
  ])('refuses options %j', (opts) => {
    expect(() => planIpSets({ v4: [], v6: [] }, opts)).toThrow(IpSetPlanError);
  });

  it('handles 20,000 addresses in two full sets of 10,000', () => {
    const v4 = Array.from({ length: 20_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    const plan = planIpSets({ v4, v6: [] }, { namePrefix: 'cordon', addressesPerSet: 10_000, maxSetsPerFamily: 5 });
    expect(plan.v4.map((s) => s.Addresses.length)).toEqual([10_000, 10_000]);
    expect(plan.overflow).toEqual([]);
  });

  const block = fc.oneof(
    fc.record({ n: fc.integer({ min: 0, max: 0xffff_ffff }), len: fc.integer({ min: 8, max: 32 }) }).map(
      ({ n, len }) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${len}`,
    ),
    fc.record({ g: fc.integer({ min: 0, max: 0xffff }), len: fc.integer({ min: 16, max: 128 }) }).map(
      ({ g, len }) => `2001:db8:${g.toString(16)}::/${len}`,
    ),
  );

  it('is deterministic, fits the limits, loses nothing, and overflows only the narrowest', () => {
    fc.assert(
      fc.property(
        fc.array(block, { maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.infiniteStream(fc.boolean()),
        (entries, addressesPerSet, maxSetsPerFamily, coin) => {
          const opts = { namePrefix: 'p', addressesPerSet, maxSetsPerFamily };
          // Same set, different order and lists: same payloads.
          const a = planIpSets({ v4: entries, v6: [] }, opts);
          const shuffled = [...entries].reverse();
          const split = { v4: [] as string[], v6: [] as string[] };
          for (const e of shuffled) (coin.next().value ? split.v4 : split.v6).push(e);
          expect(planIpSets(split, opts)).toEqual(a);

          const canonical = new Set(entries.map((e) => formatCidr(parseCidr(e)!)));
          const kept = [...a.v4, ...a.v6].flatMap((s) => s.Addresses);
          expect(kept.length + a.overflow.length).toBe(canonical.size);
          for (const fam of [a.v4, a.v6]) {
            expect(fam.length).toBeGreaterThanOrEqual(1);
            expect(fam.length).toBeLessThanOrEqual(maxSetsPerFamily);
            fam.forEach((s, i) => {
              expect(s.Name).toBe(`p-${s.IPAddressVersion === 'IPV4' ? 'v4' : 'v6'}-${i}`);
              expect(s.Addresses.length).toBeLessThanOrEqual(addressesPerSet);
              if (i < fam.length - 1) expect(s.Addresses.length).toBe(addressesPerSet);
            });
            const famOverflow = a.overflow.filter((o) => o.includes(':') === (fam[0].IPAddressVersion === 'IPV6'));
            const famKept = fam.flatMap((s) => s.Addresses);
            if (famOverflow.length) {
              expect(famKept.length).toBe(addressesPerSet * maxSetsPerFamily);
              expect(Math.max(...famKept.map(lenOf))).toBeLessThanOrEqual(Math.min(...famOverflow.map(lenOf)));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
