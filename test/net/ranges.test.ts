import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Cidr, type Family, formatCidr, toCidr } from '../../src/net/cidr.ts';
import { cidrToRange, type Range, rangesSize, rangesToCidrs, rangeToCidrs, subtractRanges, unionRanges } from '../../src/net/ranges.ts';

// ---------------------------------------------------------------------------------------------------------------
// Oracles written apart from the code: sets as arrays of addresses (small universes), and the fewest CIDRs of a
// range worked out top-down over the prefix tree (a block wholly inside is taken whole, one outside is dropped,
// any other is split in two), where the code works bottom-up from the start of the range.

const addresses = (ranges: readonly Range[]) => {
  const out: bigint[] = [];
  for (const r of ranges) for (let a = r.start; a <= r.end; a++) out.push(a);
  return out;
};
const set = (ranges: readonly Range[]) => new Set(addresses(ranges));

function oracleCidrs(family: Family, r: Range): Cidr[] {
  const bits = family === 4 ? 32 : 128;
  const out: Cidr[] = [];
  const walk = (addr: bigint, len: number) => {
    const last = addr + (1n << BigInt(bits - len)) - 1n;
    if (last < r.start || addr > r.end) return;
    if (addr >= r.start && last <= r.end && len > 0) {
      out.push({ family, addr, len });
      return;
    }
    const half = 1n << BigInt(bits - len - 1);
    walk(addr, len + 1);
    walk(addr + half, len + 1);
  };
  walk(0n, 0);
  return out;
}

/** Sorted, disjoint and not adjacent: the normal form every function here hands out. */
function isNormal(ranges: readonly Range[]): boolean {
  for (let i = 0; i < ranges.length; i++) {
    if (ranges[i].start > ranges[i].end) return false;
    if (i > 0 && ranges[i].start <= ranges[i - 1].end + 1n) return false;
  }
  return true;
}

const smallRange = fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 })).map(([a, b]) => ({
  start: BigInt(Math.min(a, b)),
  end: BigInt(Math.max(a, b)),
}));
const r = (start: number | bigint, end: number | bigint): Range => ({ start: BigInt(start), end: BigInt(end) });

describe('unionRanges', () => {
  it.each([
    [[], []],
    [[r(5, 9)], [r(5, 9)]],
    [[r(5, 9), r(10, 12)], [r(5, 12)]], // adjacent: joined
    [[r(5, 9), r(11, 12)], [r(5, 9), r(11, 12)]], // a gap of one: kept apart
    [[r(11, 12), r(5, 9)], [r(5, 9), r(11, 12)]], // sorted
    [[r(5, 20), r(6, 7)], [r(5, 20)]], // inside
    [[r(5, 9), r(7, 15)], [r(5, 15)]], // overlapping
    [[r(7, 15), r(5, 9), r(1, 1), r(16, 16)], [r(1, 1), r(5, 16)]],
    [[r(3, 3), r(3, 3)], [r(3, 3)]],
    [[r(0, 0), r(1, 1), r(2, 2)], [r(0, 2)]],
  ])('union %#', (input, expected) => {
    expect(unionRanges(input)).toEqual(expected);
  });

  it('is the union of the addresses, in normal form, for any ranges in any order', () => {
    fc.assert(
      fc.property(fc.array(smallRange, { maxLength: 8 }), (list) => {
        const u = unionRanges(list);
        expect(isNormal(u)).toBe(true);
        expect(set(u)).toEqual(set(list));
        expect(rangesSize(u)).toBe(BigInt(set(list).size));
      }),
    );
  });
});

describe('subtractRanges', () => {
  it.each([
    [[r(0, 10)], [], [r(0, 10)]],
    [[], [r(0, 10)], []],
    [[r(0, 10)], [r(0, 10)], []],
    [[r(0, 10)], [r(3, 4)], [r(0, 2), r(5, 10)]],
    [[r(0, 10)], [r(0, 0)], [r(1, 10)]],
    [[r(0, 10)], [r(10, 10)], [r(0, 9)]],
    [[r(5, 10)], [r(0, 4)], [r(5, 10)]],
    [[r(5, 10)], [r(11, 20)], [r(5, 10)]],
    [[r(5, 10)], [r(0, 5)], [r(6, 10)]],
    [[r(5, 10)], [r(10, 20)], [r(5, 9)]],
    [[r(0, 20)], [r(2, 3), r(5, 6), r(8, 30)], [r(0, 1), r(4, 4), r(7, 7)]],
    [[r(0, 3), r(6, 9), r(12, 15)], [r(2, 13)], [r(0, 1), r(14, 15)]],
    [[r(0, 3), r(10, 13)], [r(5, 6)], [r(0, 3), r(10, 13)]],
  ])('difference %#', (a, b, expected) => {
    expect(subtractRanges(a, b)).toEqual(expected);
  });

  it('is the difference of the addresses, in normal form', () => {
    fc.assert(
      fc.property(fc.array(smallRange, { maxLength: 6 }), fc.array(smallRange, { maxLength: 6 }), (x, y) => {
        const a = unionRanges(x);
        const b = unionRanges(y);
        const d = subtractRanges(a, b);
        expect(isNormal(d)).toBe(true);
        const bs = set(b);
        expect(set(d)).toEqual(new Set([...set(a)].filter((v) => !bs.has(v))));
      }),
    );
  });

  it('works at the top of the IPv6 space', () => {
    const top = (1n << 128n) - 1n;
    expect(subtractRanges([r(0, top)], [r(1, top - 1n)])).toEqual([r(0, 0), r(top, top)]);
    expect(subtractRanges([r(top - 5n, top)], [r(top, top)])).toEqual([r(top - 5n, top - 1n)]);
  });
});

describe('rangeToCidrs', () => {
  it.each([
    ['0.0.0.0', '255.255.255.255', ['0.0.0.0/1', '128.0.0.0/1']], // never /0
    ['0.0.0.0', '127.255.255.255', ['0.0.0.0/1']],
    ['10.0.0.0', '10.0.0.0', ['10.0.0.0/32']],
    ['10.0.0.1', '10.0.0.6', ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32']],
    ['10.0.0.0', '10.0.1.255', ['10.0.0.0/23']],
    ['10.0.0.255', '10.0.1.0', ['10.0.0.255/32', '10.0.1.0/32']],
    ['0.0.0.1', '255.255.255.254', null], // checked against the oracle below
    ['255.255.255.255', '255.255.255.255', ['255.255.255.255/32']],
    ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', ['::/1', '8000::/1']],
    ['::', '::', ['::/128']],
    ['2001:db8::', '2001:db8:0:0:ffff:ffff:ffff:ffff', ['2001:db8::/64']],
    ['2001:db8::1', '2001:db8::2', ['2001:db8::1/128', '2001:db8::2/128']],
    ['::1:0:0:0', '::1:ffff:ffff:ffff', ['::1:0:0:0/80']],
    ['::ffff', '::1:0', ['::ffff/128', '::1:0/128']],
  ])('%s – %s', (from, to, expected) => {
    const a = toCidr(from);
    const range = { start: a.addr, end: toCidr(to).addr };
    const got = rangeToCidrs(a.family, range).map(formatCidr);
    expect(got).toEqual(oracleCidrs(a.family, range).map(formatCidr));
    if (expected) expect(got).toEqual(expected);
  });

  it('gives the fewest blocks covering exactly the range, in address order, for ranges of any size and place', () => {
    const big = (bits: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });
    const place = fc.oneof(
      fc.tuple(fc.constant<Family>(4), big(32), big(32)),
      fc.tuple(fc.constant<Family>(6), big(128), big(128)),
      // Small ranges near powers of two, where alignment matters.
      fc.tuple(fc.constant<Family>(6), fc.integer({ min: 0, max: 127 }), fc.bigInt({ min: -40n, max: 40n }), fc.bigInt({ min: 0n, max: 300n })).map(
        ([, p, d, n]): [Family, bigint, bigint] => {
          const s = (1n << BigInt(p)) + d < 0n ? 0n : (1n << BigInt(p)) + d;
          const e = s + n > (1n << 128n) - 1n ? (1n << 128n) - 1n : s + n;
          return [6, s, e];
        },
      ),
    );
    fc.assert(
      fc.property(place, ([family, a, b]) => {
        const range = { start: a < b ? a : b, end: a < b ? b : a };
        const got = rangeToCidrs(family, range);
        expect(got).toEqual(oracleCidrs(family, range));
        // Contiguous and exact.
        let next = range.start;
        for (const c of got) {
          const [first, last] = [cidrToRange(c).start, cidrToRange(c).end];
          expect(first).toBe(next);
          expect(c.addr).toBe(first);
          next = last + 1n;
        }
        expect(next).toBe(range.end + 1n);
      }),
      { numRuns: 300 },
    );
  });

  it('cuts several ranges one after the other', () => {
    const v4 = (t: string) => cidrToRange(toCidr(t));
    expect(rangesToCidrs(4, [v4('10.0.0.0/31'), v4('10.0.0.5'), v4('10.0.1.0/24')]).map(formatCidr)).toEqual([
      '10.0.0.0/31',
      '10.0.0.5/32',
      '10.0.1.0/24',
    ]);
    expect(rangesToCidrs(6, [])).toEqual([]);
  });
});

describe('rangesSize', () => {
  it('counts addresses, not ranges', () => {
    expect(rangesSize([])).toBe(0n);
    expect(rangesSize([r(5, 5)])).toBe(1n);
    expect(rangesSize([r(0, 9), r(20, 29)])).toBe(20n);
    expect(rangesSize([cidrToRange(toCidr('::/0'))])).toBe(1n << 128n);
  });
});
