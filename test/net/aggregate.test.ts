import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { aggregate, AggregateOptionsError, type AggregateOptions } from '../../src/net/aggregate.ts';
import { InvalidCidrError } from '../../src/net/cidr.ts';

const OPTS: AggregateOptions = { ipv4Offenders: 3, ipv4Prefix: 24, ipv6Prefix: 64 };

// ---------------------------------------------------------------------------------------------------------------
// An independent oracle: ipaddr.js for parsing, a bitmap for the address set.

type Parsed = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** ipaddr.js's reading of a block, with mapped IPv6 turned into IPv4 as cordon does. */
function oracleParse(text: string): Parsed {
  const [addr, len] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), text.includes(':') ? 128 : 32];
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && len >= 96)
    return [(addr as ipaddr.IPv6).toIPv4Address(), len - 96];
  return [addr, len];
}

function toBig(a: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return a.toByteArray().reduce((v, b) => (v << 8n) | BigInt(b), 0n);
}

function oracleRange(text: string): { v6: boolean; start: bigint; end: bigint } {
  const [addr, len] = oracleParse(text);
  const bits = addr.kind() === 'ipv4' ? 32 : 128;
  const host = (1n << BigInt(bits - len)) - 1n;
  const start = toBig(addr) & ~host;
  return { v6: bits === 128, start, end: start | host };
}

/** Offsets [from, to] of a block within the region [base, base + size), clipped; null when outside. */
function regionSpan(text: string, base: bigint, size: number): [number, number] | null {
  const r = oracleRange(text);
  const from = r.start < base ? 0n : r.start - base;
  const to = r.end - base >= BigInt(size) ? BigInt(size - 1) : r.end - base;
  return r.end < base || from > to ? null : [Number(from), Number(to)];
}

/** Exact expected set over a small aligned region [base, base + size), by brute force. */
function expectedBitmap(
  base: bigint,
  size: number,
  offenders: string[],
  allow: string[],
  blockBits: number /* host bits of the promotion block */,
  threshold: number,
): Uint8Array {
  const mark = (list: string[]) => {
    const m = new Uint8Array(size);
    for (const t of list) {
      const span = regionSpan(t, base, size);
      if (span) m.fill(1, span[0], span[1] + 1);
    }
    return m;
  };
  const off = mark(offenders);
  const al = mark(allow);
  const u = off.map((v, i) => (v && !al[i] ? 1 : 0));
  const block = 1 << blockBits;
  const out = new Uint8Array(size);
  for (let b = 0; b < size; b += block) {
    let n = 0;
    for (let i = b; i < b + block; i++) n += u[i];
    for (let i = b; i < b + block; i++) out[i] = (n >= threshold || u[i]) && !al[i] ? 1 : 0;
  }
  return out;
}

/** A plain assertion for hot loops inside properties (an `expect` per address is too slow). */
function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

function outputBitmap(base: bigint, size: number, out: string[]): Uint8Array {
  const m = new Uint8Array(size);
  for (const t of out) {
    const r = oracleRange(t);
    check(r.start >= base && r.end < base + BigInt(size), `${t} leaves the region`);
    const [from, to] = regionSpan(t, base, size)!;
    check(!m.subarray(from, to + 1).includes(1), `${t} overlaps an earlier output`);
    m.fill(1, from, to + 1);
  }
  return m;
}

function expectSameSet(got: Uint8Array, want: Uint8Array, what: string): void {
  const i = got.findIndex((v, j) => v !== want[j]);
  check(i < 0, `${what} ${i}: got ${got[i]}, want ${want[i]}`);
}

/** Disjoint, sorted, canonical, no /0, and minimal (no two outputs are siblings that should have merged). */
function expectCanonical(list: string[], family: 'ipv4' | 'ipv6'): void {
  let prevEnd = -1n;
  let prev: { start: bigint; len: number } | null = null;
  for (const t of list) {
    const [addr, len] = ipaddr.parseCIDR(t);
    check(addr.kind() === family, `${t} is not ${family}`);
    check(len > 0, `${t} is a /0`);
    const text = addr.kind() === 'ipv4' ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
    check(t === `${text}/${len}`, `${t} is not canonical`);
    const r = oracleRange(t);
    check(r.start === toBig(addr), `${t} has host bits set`);
    check(r.start > prevEnd, `${t} is not after and disjoint from the previous entry`);
    // Two /1s are the one pair of siblings allowed: their parent would be /0.
    if (prev && prev.len === len && len > 1) {
      const size = r.end - r.start + 1n;
      const siblings = prev.start + size === r.start && prev.start % (2n * size) === 0n;
      check(!siblings, `${t} and its sibling should have merged`);
    }
    prevEnd = r.end;
    prev = { start: r.start, len };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Unit tests

describe('aggregate: IPv4', () => {
  it('blocks the /24 once it holds ipv4Offenders offenders, not before', () => {
    expect(aggregate(['203.0.113.1', '203.0.113.200'], [], OPTS).v4).toEqual(['203.0.113.1/32', '203.0.113.200/32']);
    expect(aggregate(['203.0.113.1', '203.0.113.200', '203.0.113.77'], [], OPTS).v4).toEqual(['203.0.113.0/24']);
  });

  it('counts addresses, whatever their spelling, and ignores duplicates', () => {
    const offenders = ['203.0.113.1', '203.0.113.1/32', '::ffff:203.0.113.1', ' 203.0.113.1 '];
    expect(aggregate(offenders, [], OPTS).v4).toEqual(['203.0.113.1/32']);
    expect(aggregate(['203.0.113.1', '::ffff:203.0.113.2', '::ffff:cb00:7103'], [], OPTS).v4).toEqual(['203.0.113.0/24']);
  });

  it('splits a blocked /24 around an allowlisted /28', () => {
    expect(aggregate(['198.51.100.0/24'], ['198.51.100.16/28'], OPTS).v4).toEqual([
      '198.51.100.0/28',
      '198.51.100.32/27',
      '198.51.100.64/26',
      '198.51.100.128/25',
    ]);
  });

  it('drops an allowlisted offender before counting, so it cannot pull in its /24', () => {
    const r = aggregate(['198.51.100.1', '198.51.100.2', '198.51.100.3'], ['198.51.100.3'], OPTS);
    expect(r.v4).toEqual(['198.51.100.1/32', '198.51.100.2/32']);
    expect(aggregate(['198.51.100.7'], ['198.51.100.0/24'], OPTS)).toEqual({ v4: [], v6: [], rejected: [] });
  });

  it('merges adjacent siblings only when both halves are offending', () => {
    const big = { ...OPTS, ipv4Offenders: 1_000_000 };
    expect(aggregate(['10.0.0.0/25', '10.0.0.128/25'], [], big).v4).toEqual(['10.0.0.0/24']);
    expect(aggregate(['10.0.0.0/25', '10.0.0.128/26'], [], big).v4).toEqual(['10.0.0.0/25', '10.0.0.128/26']);
    // Adjacent but not siblings: 10.0.0.128/25 + 10.0.1.0/25 is not a /24.
    expect(aggregate(['10.0.0.128/25', '10.0.1.0/25'], [], big).v4).toEqual(['10.0.0.128/25', '10.0.1.0/25']);
    expect(aggregate(['10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7'], [], big).v4).toEqual(['10.0.0.4/30']);
  });

  it('counts the part of a longer run that spills into the next prefix', () => {
    // One range 10.0.0.0–10.0.1.63: the second /24 holds 64 offending addresses.
    expect(aggregate(['10.0.0.0/24', '10.0.1.0/26'], [], OPTS).v4).toEqual(['10.0.0.0/23']);
    // …and the part that leads into it: 10.0.0.192–10.0.1.255.
    expect(aggregate(['10.0.0.192/26', '10.0.1.0/24'], [], OPTS).v4).toEqual(['10.0.0.0/23']);
  });

  it('drops entries covered by wider ones', () => {
    expect(aggregate(['10.0.5.5', '10.0.0.0/16', '10.0.9.0/24'], [], OPTS).v4).toEqual(['10.0.0.0/16']);
  });

  it('never emits /0, even for the whole address space', () => {
    expect(aggregate(['0.0.0.0/0'], [], OPTS).v4).toEqual(['0.0.0.0/1', '128.0.0.0/1']);
    expect(aggregate(['1.2.3.4/0'], ['0.0.0.0/1'], OPTS).v4).toEqual(['128.0.0.0/1']);
  });

  it('respects a custom prefix', () => {
    const opts = { ipv4Offenders: 2, ipv4Prefix: 28, ipv6Prefix: 64 };
    expect(aggregate(['192.0.2.1', '192.0.2.14', '192.0.2.17'], [], opts).v4).toEqual(['192.0.2.0/28', '192.0.2.17/32']);
  });
});

describe('aggregate: IPv6', () => {
  it('every offender becomes its /64', () => {
    expect(aggregate(['2001:db8:1:2::dead', '2001:DB8:1:2:ffff::1'], [], OPTS).v6).toEqual(['2001:db8:1:2::/64']);
  });

  it('adjacent /64s merge, non-siblings do not', () => {
    expect(aggregate(['2001:db8:1:2::1', '2001:db8:1:3::1'], [], OPTS).v6).toEqual(['2001:db8:1:2::/63']);
    expect(aggregate(['2001:db8:1:1::1', '2001:db8:1:2::1'], [], OPTS).v6).toEqual([
      '2001:db8:1:1::/64',
      '2001:db8:1:2::/64',
    ]);
  });

  it('keeps offenders wider than /64 as they are', () => {
    expect(aggregate(['2001:db8:ab00::/40', '2001:db8:ab01::7'], [], OPTS).v6).toEqual(['2001:db8:ab00::/40']);
  });

  it('splits the /64 around an allowlisted address, and drops an allowlisted offender unwidened', () => {
    const r = aggregate(['2001:db8::1'], ['2001:db8::8000:0:0:0/65'], OPTS);
    expect(r.v6).toEqual(['2001:db8::/65']);
    expect(aggregate(['2001:db8::1'], ['2001:db8::1'], OPTS).v6).toEqual([]);
    const hole = aggregate(['2001:db8::1'], ['2001:db8::ffff'], OPTS).v6;
    expect(hole).toHaveLength(64); // the /64 minus one address takes one block per bit
    expect(hole).not.toContain('2001:db8::/64');
  });

  it('never emits ::/0', () => {
    expect(aggregate(['8000::/1', '::/1'], [], OPTS).v6).toContain('8000::/1');
    expect(aggregate(['::/0'], [], OPTS).v6).not.toContain('::/0');
  });

  it('leaves out the IPv4-mapped range, which is IPv4 and would read back as such', () => {
    const r = aggregate(['::/64'], [], OPTS);
    // Below the hole ::/81 … ::fffe:0:0/96 (16 blocks), above it ::1:0:0:0/80 … ::8000:0:0:0/65 (16 blocks).
    expect(r.v6).toHaveLength(32);
    expect([r.v6[0], r.v6[15], r.v6[16], r.v6[31]]).toEqual(['::/81', '::fffe:0:0/96', '::1:0:0:0/80', '::8000:0:0:0/65']);
    expect(r.v6.some((c) => c.startsWith('::ffff:'))).toBe(false);
    expect(aggregate(r.v6, [], OPTS)).toEqual(r);
    expect(aggregate(['::ffff:0:0/95'], [], { ...OPTS, ipv6Prefix: 128 }).v6).toEqual(['::fffe:0:0/96']);
  });
});

describe('aggregate: input handling', () => {
  it('returns empty lists for empty input', () => {
    expect(aggregate([], [], OPTS)).toEqual({ v4: [], v6: [], rejected: [] });
    expect(aggregate([], ['10.0.0.0/8'], OPTS)).toEqual({ v4: [], v6: [], rejected: [] });
  });

  it('skips and reports unreadable offenders', () => {
    expect(aggregate(['-', '10.0.0.1', 'not-an-ip', '10.0.0.1/33'], [], OPTS)).toEqual({
      v4: ['10.0.0.1/32'],
      v6: [],
      rejected: ['-', 'not-an-ip', '10.0.0.1/33'],
    });
  });

  it('refuses an unreadable allowlist entry rather than ignore it', () => {
    expect(() => aggregate(['10.0.0.1'], ['10.0.0.0/8', '10.0.0.x'], OPTS)).toThrow(InvalidCidrError);
  });

  it.each([
    { ...OPTS, ipv4Offenders: 0 },
    { ...OPTS, ipv4Prefix: 0 },
    { ...OPTS, ipv4Prefix: 33 },
    { ...OPTS, ipv6Prefix: 0 },
    { ...OPTS, ipv6Prefix: 64.5 },
  ])('rejects options %j', (opts) => {
    expect(() => aggregate([], [], opts)).toThrow(AggregateOptionsError);
  });

  it('keeps the families apart: a v4 allowlist does not protect v6 and the reverse', () => {
    const r = aggregate(['10.0.0.1', '2001:db8::1'], ['::/0', '192.0.2.0/24'], OPTS);
    expect(r).toEqual({ v4: ['10.0.0.1/32'], v6: [], rejected: [] });
  });

  it('aggregates 100k offenders quickly', () => {
    const offenders: string[] = [];
    for (let i = 0; i < 100_000; i++) offenders.push(`${11 + (i % 200)}.${(i * 7) % 256}.${(i * 13) % 256}.${i % 251}`);
    const t0 = performance.now();
    const r = aggregate(offenders, ['12.0.0.0/8'], OPTS);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(r.v4.length).toBeGreaterThan(1000);
    expect(r.v4.some((c) => c.startsWith('12.'))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** Blocks inside one aligned region of 1,024 addresses, written in the spellings cordon meets. */
function regionBlock(spell: (offset: number, len?: number) => string, minLen: number, maxLen: number) {
  return fc
    .record({
      // Aligned offsets often, so that blocks meet and ranges run on into the next prefix.
      offset: fc.oneof(
        fc.integer({ min: 0, max: 1023 }),
        fc.integer({ min: 0, max: 63 }).map((x) => x * 16),
        fc.integer({ min: 0, max: 7 }).map((x) => x * 128),
      ),
      len: fc.oneof({ arbitrary: fc.constant(maxLen), weight: 3 }, { arbitrary: fc.integer({ min: minLen, max: maxLen }), weight: 2 }),
    })
    .map(({ offset, len }) => (len === maxLen && offset % 2 ? spell(offset) : spell(offset, len)));
}

const V4_BASE = 0x0a00_0400n; // 10.0.4.0/22
const v4Text = (o: number) => ipaddr.fromByteArray([10, 0, 4 + (o >> 8), o & 255]).toString();
const v4At = (o: number, len?: number) => (len === undefined ? v4Text(o) : `${v4Text(o)}/${len}`);
/** Some offenders come IPv4-mapped (`::ffff:a.b.c.d/120` is a.b.c.d/24). */
const v4Spelling = (o: number, len?: number) =>
  o % 5 !== 0 ? v4At(o, len) : len === undefined ? `::ffff:${v4Text(o)}` : `::ffff:${v4Text(o)}/${len + 96}`;
const V6_BASE = 0x2001_0db8_0000_0000_0000_0000_0000_0000n; // 2001:db8::/118
const v6At = (o: number, len?: number) => `2001:db8::${o.toString(16)}${len === undefined ? '' : `/${len}`}`;

describe('aggregate: properties over an exact oracle', () => {
  it('IPv4: the output is exactly (offenders − allowlist) ∪ crowded prefixes − allowlist, disjoint and canonical', () => {
    fc.assert(
      fc.property(
        fc.array(regionBlock(v4Spelling, 22, 32), { maxLength: 12 }),
        fc.array(regionBlock(v4At, 24, 32), { maxLength: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 22, max: 32 }),
        (offenders, allow, k, prefix) => {
          const opts = { ipv4Offenders: k, ipv4Prefix: prefix, ipv6Prefix: 64 };
          const out = aggregate(offenders, allow, opts);
          expect(out.v6).toEqual([]);
          expectCanonical(out.v4, 'ipv4');
          const want = expectedBitmap(V4_BASE, 1024, offenders, allow, 32 - prefix, k);
          expectSameSet(outputBitmap(V4_BASE, 1024, out.v4), want, 'IPv4 offset');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('IPv6: the output is exactly the offenders widened to their prefix, minus the allowlist', () => {
    fc.assert(
      fc.property(
        fc.array(regionBlock(v6At, 118, 128), { maxLength: 10 }),
        fc.array(regionBlock(v6At, 120, 128), { maxLength: 4 }),
        fc.integer({ min: 118, max: 128 }),
        (offenders, allow, prefix) => {
          const out = aggregate(offenders, allow, { ...OPTS, ipv6Prefix: prefix });
          expect(out.v4).toEqual([]);
          expectCanonical(out.v6, 'ipv6');
          // Widening: any offending address left after the allowlist pulls in its whole block (threshold 1).
          const want = expectedBitmap(V6_BASE, 1024, offenders, allow, 128 - prefix, 1);
          expectSameSet(outputBitmap(V6_BASE, 1024, out.v6), want, 'IPv6 offset');
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** Anywhere in the address space, clustered enough for blocks to meet. */
const anyV4 = fc
  .record({
    a: fc.constantFrom(10, 192, 203, 255, 0),
    b: fc.integer({ min: 0, max: 3 }),
    c: fc.integer({ min: 0, max: 3 }),
    d: fc.integer({ min: 0, max: 255 }),
    len: fc.oneof({ arbitrary: fc.constant(32), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 32 }), weight: 1 }),
  })
  .map(({ a, b, c, d, len }) => `${a}.${b}.${c}.${d}/${len}`);
const anyV6 = fc
  .record({
    g: fc.array(fc.constantFrom(0, 1, 0xffff, 0x2001, 0xdb8), { minLength: 8, maxLength: 8 }),
    len: fc.oneof({ arbitrary: fc.constant(128), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 128 }), weight: 1 }),
  })
  .filter(({ g }) => !new ipaddr.IPv6(g).isIPv4MappedAddress())
  .map(({ g, len }) => `${new ipaddr.IPv6(g).toNormalizedString()}/${len}`);
const anyBlock = fc.oneof(anyV4, anyV6);

const rangesOverlap = (x: string, y: string) => {
  const a = oracleRange(x);
  const b = oracleRange(y);
  return a.v6 === b.v6 && a.start <= b.end && b.start <= a.end;
};

describe('aggregate: properties over the whole address space', () => {
  const params = fc.record({
    ipv4Offenders: fc.integer({ min: 1, max: 5 }),
    ipv4Prefix: fc.integer({ min: 16, max: 32 }),
    ipv6Prefix: fc.integer({ min: 16, max: 128 }),
  });

  it('(a) no output covers an allowlisted address; (b) every other offender address is covered', () => {
    fc.assert(
      fc.property(fc.array(anyBlock, { maxLength: 15 }), fc.array(anyBlock, { maxLength: 5 }), params, (offenders, allow, opts) => {
        const out = aggregate(offenders, allow, opts);
        const all = [...out.v4, ...out.v6];
        const outRanges = all.map(oracleRange);
        for (const o of all) for (const a of allow) check(!rangesOverlap(o, a), `${o} covers allowlisted ${a}`);
        // Every offender address outside the allowlist lies in the output: check the block's pieces that the
        // allowlist leaves, by their first and last addresses.
        for (const off of offenders) {
          const r = oracleRange(off);
          const cuts = allow.map(oracleRange).filter((a) => a.v6 === r.v6 && a.start <= r.end && r.start <= a.end);
          const probes = [r.start, r.end, ...cuts.flatMap((a) => [a.start - 1n, a.end + 1n])].filter(
            (p) => p >= r.start && p <= r.end && !cuts.some((a) => a.start <= p && p <= a.end),
          );
          for (const p of probes) {
            const covered = outRanges.some((x) => x.v6 === r.v6 && x.start <= p && p <= x.end);
            check(covered, `${off}: address ${p} is not covered`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('(c) output is disjoint and canonical; (d) aggregating the output again changes nothing', () => {
    fc.assert(
      fc.property(fc.array(anyBlock, { maxLength: 15 }), fc.array(anyBlock, { maxLength: 5 }), params, (offenders, allow, opts) => {
        const out = aggregate(offenders, allow, opts);
        expectCanonical(out.v4, 'ipv4');
        expectCanonical(out.v6, 'ipv6');
        expect(aggregate([...out.v4, ...out.v6], allow, opts)).toEqual(out);
        expect(aggregate([...out.v6].reverse().concat(out.v4), allow, opts)).toEqual(out);
      }),
      { numRuns: 300 },
    );
  });

  it('(e) fewer than ipv4Offenders offenders in a /24 never yield the /24 (or anything wider over it)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }).chain((k) =>
          fc.tuple(fc.constant(k), fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: k - 1 })),
        ),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
        ([k, hosts], allowHosts) => {
          const offenders = hosts.map((h) => `203.0.113.${h}`);
          const allow = allowHosts.map((h) => `203.0.113.${h}`);
          const out = aggregate(offenders, allow, { ipv4Offenders: k, ipv4Prefix: 24, ipv6Prefix: 64 });
          const wantCount = hosts.filter((h) => !allowHosts.includes(h)).length;
          const covered = out.v4.reduce((n, c) => n + 2 ** (32 - Number(c.split('/')[1])), 0);
          expect(covered).toBe(wantCount);
          for (const c of out.v4) expect(Number(c.split('/')[1])).toBeGreaterThan(24);
        },
      ),
      { numRuns: 300 },
    );
  });
});
