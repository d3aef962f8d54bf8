import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregate, AggregateOptionsError, type AggregateOptions, crowdedBlocks } from '../../src/net/aggregate.ts';
import { cidrToRange, type Range, unionRanges } from '../../src/net/ranges.ts';
import { toCidr } from '../../src/net/cidr.ts';

const OPTS: AggregateOptions = { ipv4Offenders: 3, ipv4Prefix: 24, ipv6Prefix: 64 };
const range = (t: string) => cidrToRange(toCidr(t));
const r = (start: number | bigint, end: number | bigint): Range => ({ start: BigInt(start), end: BigInt(end) });

describe('crowdedBlocks', () => {
  it('counts the addresses of each block a range touches, leaving out blocks wholly covered', () => {
    // /28 blocks (16 addresses): a range over 5–40 touches 0–15 (11 addresses), 16–31 (whole) and 32–47 (9).
    const got = crowdedBlocks([r(5, 40)], 4, 28, 1n);
    expect(got).toEqual([r(0, 15), r(32, 47)]);
    expect(crowdedBlocks([r(5, 40)], 4, 28, 10n)).toEqual([r(0, 15)]);
    expect(crowdedBlocks([r(5, 40)], 4, 28, 9n)).toEqual([r(0, 15), r(32, 47)]);
    expect(crowdedBlocks([r(5, 40)], 4, 28, 11n)).toEqual([r(0, 15)]);
    expect(crowdedBlocks([r(5, 40)], 4, 28, 12n)).toEqual([]);
  });

  it('leaves out a whole block however it is reached, and counts partial ones at both ends', () => {
    expect(crowdedBlocks([r(16, 31)], 4, 28, 1n)).toEqual([]); // exactly one block
    expect(crowdedBlocks([r(16, 63)], 4, 28, 1n)).toEqual([]); // three whole blocks
    expect(crowdedBlocks([r(16, 40)], 4, 28, 1n)).toEqual([r(32, 47)]); // whole head, partial tail
    expect(crowdedBlocks([r(5, 31)], 4, 28, 1n)).toEqual([r(0, 15)]); // partial head, whole tail
    expect(crowdedBlocks([r(5, 15)], 4, 28, 11n)).toEqual([r(0, 15)]); // ends at the end of its block
    expect(crowdedBlocks([r(0, 14)], 4, 28, 15n)).toEqual([r(0, 15)]); // starts at the start of its block
    expect(crowdedBlocks([r(0, 14)], 4, 28, 16n)).toEqual([]);
  });

  it('adds up the ranges that fall in one block', () => {
    expect(crowdedBlocks([r(1, 2), r(5, 5), r(9, 10)], 4, 28, 5n)).toEqual([r(0, 15)]);
    expect(crowdedBlocks([r(1, 2), r(5, 5), r(9, 10)], 4, 28, 6n)).toEqual([]);
    // A tail of one range and the head of the next in the same block.
    expect(crowdedBlocks([r(10, 17), r(20, 35)], 4, 28, 1n)).toEqual([r(0, 15), r(16, 31), r(32, 47)]);
    expect(crowdedBlocks([r(10, 17), r(20, 35)], 4, 28, 15n)).toEqual([]);
    expect(crowdedBlocks([r(10, 17), r(20, 35)], 4, 28, 14n)).toEqual([r(16, 31)]);
  });

  it('works in IPv6 past 64 bits', () => {
    const base = 0x2001_0db8n << 96n;
    expect(crowdedBlocks([r(base + 1n, base + 3n)], 6, 64, 3n)).toEqual([r(base, base + (1n << 64n) - 1n)]);
    expect(crowdedBlocks([r(base + 1n, base + 3n)], 6, 64, 4n)).toEqual([]);
  });

  it('matches counting address by address', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 40 })), { maxLength: 6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 20 }),
        (pieces, hostBits, threshold) => {
          const set = unionRanges(pieces.map(([s, n]) => r(s, s + n)));
          const size = 1 << hostBits;
          const counts = new Map<number, number>();
          for (const x of set) for (let a = Number(x.start); a <= Number(x.end); a++) counts.set(a - (a % size), (counts.get(a - (a % size)) ?? 0) + 1);
          const want = [...counts]
            .filter(([, n]) => n >= threshold && n < size)
            .map(([b]) => r(b, b + size - 1))
            .sort((a, b) => Number(a.start - b.start));
          const got = crowdedBlocks(set, 4, 32 - hostBits, BigInt(threshold)).sort((a, b) => Number(a.start - b.start));
          expect(got).toEqual(want);
        },
      ),
    );
  });
});

describe('aggregate: options', () => {
  it.each([
    [{ ...OPTS, ipv4Offenders: 1 }],
    [{ ...OPTS, ipv4Offenders: Number.MAX_SAFE_INTEGER }],
    [{ ...OPTS, ipv4Prefix: 1 }],
    [{ ...OPTS, ipv4Prefix: 32 }],
    [{ ...OPTS, ipv6Prefix: 1 }],
    [{ ...OPTS, ipv6Prefix: 128 }],
  ])('accepts %j', (opts) => {
    expect(() => aggregate(['10.0.0.1', '2001:db8::1'], [], opts)).not.toThrow();
  });

  it.each([
    [{ ...OPTS, ipv4Offenders: 0 }, 'ipv4Offenders must be an integer ≥ 1, got 0'],
    [{ ...OPTS, ipv4Offenders: 1.5 }, 'ipv4Offenders must be an integer ≥ 1, got 1.5'],
    [{ ...OPTS, ipv4Offenders: Number.MAX_SAFE_INTEGER + 2 }, `ipv4Offenders must be an integer ≥ 1, got ${Number.MAX_SAFE_INTEGER + 2}`],
    [{ ...OPTS, ipv4Offenders: NaN }, 'ipv4Offenders must be an integer ≥ 1, got NaN'],
    [{ ...OPTS, ipv4Prefix: 0 }, 'ipv4Prefix must be an integer in 1..32, got 0'],
    [{ ...OPTS, ipv4Prefix: 33 }, 'ipv4Prefix must be an integer in 1..32, got 33'],
    [{ ...OPTS, ipv4Prefix: 24.5 }, 'ipv4Prefix must be an integer in 1..32, got 24.5'],
    [{ ...OPTS, ipv6Prefix: 0 }, 'ipv6Prefix must be an integer in 1..128, got 0'],
    [{ ...OPTS, ipv6Prefix: 129 }, 'ipv6Prefix must be an integer in 1..128, got 129'],
  ])('rejects %j', (opts, message) => {
    let err: unknown;
    try {
      aggregate([], [], opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AggregateOptionsError);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).name).toBe('AggregateOptionsError');
    expect((err as Error).message).toBe(message);
  });
});

describe('aggregate: prefix lengths other than the defaults', () => {
  it('IPv4 /16: the threshold counts addresses across the whole /16', () => {
    const opts = { ipv4Offenders: 3, ipv4Prefix: 16, ipv6Prefix: 64 };
    expect(aggregate(['10.1.0.1', '10.1.200.1', '10.1.255.255'], [], opts).v4).toEqual(['10.1.0.0/16']);
    expect(aggregate(['10.1.0.1', '10.1.200.1', '10.2.0.1'], [], opts).v4).toEqual(['10.1.0.1/32', '10.1.200.1/32', '10.2.0.1/32']);
  });

  it('IPv4 /25 and /30: blocks of that size only', () => {
    const o25 = { ipv4Offenders: 2, ipv4Prefix: 25, ipv6Prefix: 64 };
    expect(aggregate(['10.0.0.1', '10.0.0.127'], [], o25).v4).toEqual(['10.0.0.0/25']);
    expect(aggregate(['10.0.0.127', '10.0.0.128'], [], o25).v4).toEqual(['10.0.0.127/32', '10.0.0.128/32']);
    const o30 = { ipv4Offenders: 2, ipv4Prefix: 30, ipv6Prefix: 64 };
    expect(aggregate(['10.0.0.5', '10.0.0.6'], [], o30).v4).toEqual(['10.0.0.4/30']);
    expect(aggregate(['10.0.0.5', '10.0.0.6'], ['10.0.0.4'], o30).v4).toEqual(['10.0.0.5/32', '10.0.0.6/31']);
  });

  it('IPv4 /32 with a threshold of 1: every address alone', () => {
    expect(aggregate(['10.0.0.5', '10.0.0.9'], [], { ipv4Offenders: 1, ipv4Prefix: 32, ipv6Prefix: 64 }).v4).toEqual(['10.0.0.5/32', '10.0.0.9/32']);
  });

  it('IPv6 /48, /56, /128 and /1', () => {
    const off = ['2001:db8:aaaa:bbbb::1'];
    expect(aggregate(off, [], { ...OPTS, ipv6Prefix: 48 }).v6).toEqual(['2001:db8:aaaa::/48']);
    expect(aggregate(off, [], { ...OPTS, ipv6Prefix: 56 }).v6).toEqual(['2001:db8:aaaa:bb00::/56']);
    expect(aggregate(off, [], { ...OPTS, ipv6Prefix: 128 }).v6).toEqual(['2001:db8:aaaa:bbbb::1/128']);
    // ::/1 less the IPv4-mapped ::ffff:0:0/96: 16 blocks below it (::/81 … ::fffe:0:0/96), 79 above (::1:0:0:0/80 … 4000::/2).
    const half = aggregate(off, [], { ...OPTS, ipv6Prefix: 1 }).v6;
    expect(half).toHaveLength(95);
    expect([half[0], half[15], half[16], half[94]]).toEqual(['::/81', '::fffe:0:0/96', '::1:0:0:0/80', '4000::/2']);
    expect(aggregate(['::/1'], [], { ...OPTS, ipv6Prefix: 1 }).v6).toEqual(half);
    expect(aggregate(['8000::1'], [], { ...OPTS, ipv6Prefix: 1 }).v6).toEqual(['8000::/1']);
  });

  it('IPv6 widening stops at the allowlist, and at the IPv4-mapped range', () => {
    expect(aggregate(['2001:db8:0:1::1'], ['2001:db8:0:1::/64'], { ...OPTS, ipv6Prefix: 48 }).v6).toEqual([]);
    expect(aggregate(['2001:db8:0:1::1', '2001:db8:0:2::1'], ['2001:db8:0:1::/64'], { ...OPTS, ipv6Prefix: 48 }).v6).toEqual([
      '2001:db8::/64',
      '2001:db8:0:2::/63',
      '2001:db8:0:4::/62',
      '2001:db8:0:8::/61',
      '2001:db8:0:10::/60',
      '2001:db8:0:20::/59',
      '2001:db8:0:40::/58',
      '2001:db8:0:80::/57',
      '2001:db8:0:100::/56',
      '2001:db8:0:200::/55',
      '2001:db8:0:400::/54',
      '2001:db8:0:800::/53',
      '2001:db8:0:1000::/52',
      '2001:db8:0:2000::/51',
      '2001:db8:0:4000::/50',
      '2001:db8:0:8000::/49',
    ]);
    expect(aggregate(['::fffe:0:1'], [], { ...OPTS, ipv6Prefix: 94 }).v6).toEqual(['::fffc:0:0/95', '::fffe:0:0/96']);
  });
});
