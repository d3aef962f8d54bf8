import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  canonicalCidr,
  cidrSize,
  compareCidr,
  contains,
  formatCidr,
  InvalidCidrError,
  lastAddress,
  makeCidr,
  overlaps,
  parseCidr,
  toCidr,
} from '../../src/net/cidr.ts';
import { normaliseIp } from '../../src/net/ip.ts';

/** Random IPv6 groups with plenty of zero runs, so `::` placement is exercised. */
const v6Groups = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
});
const v4Int = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0xffff_ffff, 0x0a00_0000));

const groupsToBigint = (g: number[]) => g.reduce((v, x) => (v << 16n) | BigInt(x), 0n);
const v4Text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

describe('parseCidr / formatCidr', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7/32'],
    ['203.0.113.7/32', '203.0.113.7/32'],
    [' 10.0.0.0/8 ', '10.0.0.0/8'],
    ['10.1.2.3/8', '10.0.0.0/8'], // host bits cleared
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1/128'],
    ['2001:db8::1/64', '2001:db8::/64'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'], // first of two equal zero runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'], // a single zero group is not `::`
    ['::', '::/128'],
    ['::/0', '::/0'],
    ['[2001:db8::5]', '2001:db8::5/128'],
    ['fe80::1%eth0', 'fe80::1/128'],
    ['::ffff:198.51.100.7', '198.51.100.7/32'],
    ['::ffff:198.51.100.0/120', '198.51.100.0/24'],
    ['::FFFF:c633:6407', '198.51.100.7/32'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::ffff:0:0/95', '::fffe:0:0/95'], // wider than the mapped range: stays IPv6
    ['64:ff9b::198.51.100.7', '64:ff9b::c633:6407/128'], // NAT64 is not IPv4-mapped
  ])('%s → %s', (input, expected) => {
    expect(canonicalCidr(input)).toBe(expected);
  });

  it.each([
    '',
    'banana',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.4/33',
    '1.2.3.4/',
    '1.2.3.4/08',
    '1.2.3.4/-1',
    '1.2.3.4/ 8',
    '2001:db8::/129',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '12345::',
    'g::1',
    '::1.2.3',
    '-',
  ])('rejects %j', (input) => {
    expect(parseCidr(input)).toBeNull();
  });

  it('toCidr throws a named error on garbage', () => {
    expect(() => toCidr('nope')).toThrow(InvalidCidrError);
  });

  it('formats IPv6 exactly as ipaddr.js does (RFC 5952)', () => {
    fc.assert(
      fc.property(v6Groups, fc.integer({ min: 0, max: 128 }), (g, len) => {
        const c = makeCidr(6, groupsToBigint(g), len);
        const net = ipaddr.IPv6.networkAddressFromCIDR(`${new ipaddr.IPv6(g).toNormalizedString()}/${len}`);
        expect(formatCidr(c)).toBe(`${net.toRFC5952String()}/${len}`);
      }),
    );
  });

  it('reads any spelling of an IPv6 block back to the same value', () => {
    fc.assert(
      fc.property(v6Groups, fc.integer({ min: 0, max: 95 }), (g, len) => {
        const a = new ipaddr.IPv6(g);
        const expected = makeCidr(6, groupsToBigint(g), len);
        for (const text of [a.toNormalizedString(), (a as unknown as { toFixedLengthString(): string }).toFixedLengthString().toUpperCase(), a.toRFC5952String()]) {
          expect(parseCidr(`${text}/${len}`)).toEqual(expected);
        }
        expect(parseCidr(formatCidr(expected))).toEqual(expected);
      }),
    );
  });

  it('round-trips IPv4 and always writes the prefix length', () => {
    fc.assert(
      fc.property(v4Int, fc.integer({ min: 0, max: 32 }), (n, len) => {
        const c = makeCidr(4, BigInt(n), len);
        const text = formatCidr(c);
        expect(text).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
        expect(parseCidr(text)).toEqual(c);
        expect(parseCidr(`${v4Text(n)}/${len}`)).toEqual(c);
        expect(parseCidr(`::ffff:${v4Text(n)}/${len + 96}`)).toEqual(c);
      }),
    );
  });

  it('agrees with normaliseIp on bare addresses, so blocks and log keys match', () => {
    const spellings = fc.oneof(
      v4Int.map(v4Text),
      v4Int.map((n) => `::ffff:${v4Text(n)}`),
      v6Groups.map((g) => new ipaddr.IPv6(g).toNormalizedString()),
      v6Groups.map((g) => new ipaddr.IPv6(g).toRFC5952String()),
    );
    fc.assert(
      fc.property(spellings, (text) => {
        const norm = normaliseIp(text);
        expect(norm).not.toBeNull();
        expect(canonicalCidr(text)).toBe(`${norm}/${norm!.includes(':') ? 128 : 32}`);
      }),
    );
  });

  it('never throws on arbitrary text, and what it accepts is stable', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-fA-F:./%\[\] ]{0,50}$/)), (s) => {
        const c = parseCidr(s);
        if (c !== null) expect(parseCidr(formatCidr(c))).toEqual(c);
      }),
      { numRuns: 500 },
    );
  });
});

describe('contains / overlaps', () => {
  it.each([
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '10.1.0.0/16', true],
    ['10.1.0.0/16', '10.0.0.0/8', false],
    ['0.0.0.0/0', '::/128', false], // families never contain each other
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['198.51.100.0/24', '::ffff:198.51.100.9', true],
  ])('contains(%s, %s) = %s', (outer, inner, expected) => {
    expect(contains(outer, inner)).toBe(expected);
  });

  it('match the address arithmetic of ipaddr.js', () => {
    const block = fc.record({ n: fc.integer({ min: 0, max: 0xffff_ffff }), len: fc.integer({ min: 0, max: 32 }) });
    fc.assert(
      fc.property(block, block, (a, b) => {
        const ca = makeCidr(4, BigInt(a.n), a.len);
        const cb = makeCidr(4, BigInt(b.n), b.len);
        const ra = ipaddr.parseCIDR(formatCidr(ca));
        const rb = ipaddr.parseCIDR(formatCidr(cb));
        const aHoldsB = ca.len <= cb.len && ipaddr.parse(formatCidr(cb).split('/')[0]).match(ra);
        const bHoldsA = cb.len <= ca.len && ipaddr.parse(formatCidr(ca).split('/')[0]).match(rb);
        expect(contains(ca, cb)).toBe(aHoldsB);
        expect(overlaps(ca, cb)).toBe(aHoldsB || bHoldsA);
        expect(overlaps(cb, ca)).toBe(overlaps(ca, cb));
      }),
    );
  });

  it('size, last address and order', () => {
    const c = toCidr('203.0.113.0/24');
    expect(cidrSize(c)).toBe(256n);
    expect(formatCidr(makeCidr(4, lastAddress(c), 32))).toBe('203.0.113.255/32');
    const sorted = ['2001:db8::/32', '10.0.0.0/24', '10.0.0.0/8', '9.0.0.0/8'].map(toCidr).sort(compareCidr).map(formatCidr);
    expect(sorted).toEqual(['9.0.0.0/8', '10.0.0.0/8', '10.0.0.0/24', '2001:db8::/32']);
  });
});
