import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { isIpv6, normaliseIp, prefixOf } from '../../src/net/ip.ts';

// An independent oracle for prefixes: the address as a BigInt, masked by hand, written back by ipaddr.js.
const v4Big = (dotted: string) => dotted.split('.').reduce((v, o) => (v << 8n) | BigInt(Number(o)), 0n);
const v4Text = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 255n)).join('.');
const v6Big = (text: string) => ipaddr.IPv6.parse(text).toByteArray().reduce((v, b) => (v << 8n) | BigInt(b), 0n);
const v6Text = (n: bigint) => {
  const bytes: number[] = [];
  for (let i = 15; i >= 0; i--) bytes.push(Number((n >> BigInt(i * 8)) & 255n));
  return new ipaddr.IPv6(Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1])).toRFC5952String();
};
const keep = (bits: number, len: number) => ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - len)) - 1n);
const oracleV4 = (ip: string, len: number) => `${v4Text(v4Big(ip) & keep(32, len))}/${len}`;
const oracleV6 = (ip: string, len: number) => `${v6Text(v6Big(ip) & keep(128, len))}/${len}`;

describe('normaliseIp', () => {
  it.each([
    ['0.0.0.0', '0.0.0.0'], // the shortest dotted quad
    ['255.255.255.255', '255.255.255.255'], // the longest
    ['10.0.0.1', '10.0.0.1'],
    ['100.200.10.0', '100.200.10.0'],
    ['[1.2.3.4]', '1.2.3.4'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['::1', '::1'],
    ['::', '::'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:0102:0304', '1.2.3.4'],
    ['::1.2.3.4', '1.2.3.4'], // deprecated IPv4-compatible form, read as mapped (as ipaddr.js does)
    ['fe80::1%eth0', 'fe80::1'],
    ['[fe80::1%eth0]', 'fe80::1'],
    ['fe80::1%' + 'a'.repeat(56), 'fe80::1'], // 64 characters: the longest text looked at
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'], // NAT64 is not IPv4-mapped
  ])('%s → %s', (raw, expected) => {
    expect(normaliseIp(raw)).toBe(expected);
    expect(normaliseIp(raw)).toBe(expected); // the second answer comes from the cache: the same
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.4.',
    '.1.2.3.4',
    '11.2.3.',
    '1..22.3',
    '1.22..3',
    '256.1.1.1',
    '1.2.3.256',
    '1.2.3.1000',
    '01.2.3.4',
    '1.2.3.04',
    '00.1.2.3',
    '010.1.2.3', // octal to some parsers
    '0x7f.1.2.3', // hex to some parsers
    '3232235777', // a 32-bit integer to some parsers
    '1.2.3.a',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3.-4',
    '1.2.3.4/8',
    '1.2.3:4',
    '[2001:db8::1',
    '2001:db8::1]',
    '[]',
    '%eth0',
    'fe80::1%' + 'a'.repeat(57), // 65 characters: too long to be an address
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    'g::1',
    'banana',
    // An embedded IPv4 in forms a bare one may not take (the allowlist's parser refuses them too).
    '::ffff:010.0.0.1',
    '::ffff:0x7f.0.0.1',
    '::ffff:00001.2.3.4',
  ])('rejects %j', (raw) => {
    expect(normaliseIp(raw)).toBeNull();
    expect(normaliseIp(raw)).toBeNull();
  });

  it('returns every canonical dotted quad as it is, and every other spelling of it as the canonical one', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 3 }), (octets, i) => {
        const canonical = octets.join('.');
        expect(normaliseIp(canonical)).toBe(canonical);
        expect(normaliseIp(`::ffff:${canonical}`)).toBe(canonical);
        expect(normaliseIp(`[${canonical}]`)).toBe(canonical);
        // A leading zero on any octet makes it unreadable (it would be octal to some parsers).
        const padded = octets.map((o, j) => (j === i ? `0${o}` : `${o}`)).join('.');
        expect(normaliseIp(padded)).toBeNull();
      }),
    );
  });

  it('writes any IPv6 address as RFC 5952 text', () => {
    const groups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(groups, (g) => {
        const a = new ipaddr.IPv6(g);
        const expected = a.isIPv4MappedAddress() ? a.toIPv4Address().toString() : a.toRFC5952String();
        expect(normaliseIp(a.toNormalizedString().toUpperCase())).toBe(expected);
      }),
    );
  });
});

describe('isIpv6', () => {
  it.each([
    ['::1', true],
    [':', true],
    ['2001:db8::1', true],
    ['1.2.3.4', false],
    ['', false],
  ])('%s → %s', (ip, expected) => {
    expect(isIpv6(ip)).toBe(expected);
  });
});

describe('prefixOf', () => {
  it('is the /24 and the /64 by default', () => {
    expect(prefixOf('203.0.113.77')).toBe('203.0.113.0/24');
    expect(prefixOf('2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff')).toBe('2001:db8:aaaa:bbbb::/64');
    expect(prefixOf('::1')).toBe('::/64');
  });

  it.each([
    [0, '0.0.0.0/0', '0.0.0.0/0'],
    [1, '128.0.0.0/1', '128.0.0.0/1'],
    [8, '203.0.0.0/8', '198.0.0.0/8'],
    [16, '203.0.0.0/16', '198.51.0.0/16'],
    [23, '203.0.112.0/23', '198.51.100.0/23'],
    [24, '203.0.113.0/24', '198.51.100.0/24'],
    [25, '203.0.113.0/25', '198.51.100.128/25'],
    [31, '203.0.113.76/31', '198.51.100.200/31'],
    [32, '203.0.113.77/32', '198.51.100.200/32'],
  ])('honours an IPv4 prefix of /%i', (bits, a, b) => {
    expect(prefixOf('203.0.113.77', bits)).toBe(a);
    expect(prefixOf('198.51.100.200', bits, 64)).toBe(b);
  });

  it('honours an IPv6 prefix other than /64, and a change of it between calls', () => {
    const ip = '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff';
    expect(prefixOf(ip, 24, 64)).toBe('2001:db8:aaaa:bbbb::/64');
    expect(prefixOf(ip, 24, 48)).toBe('2001:db8:aaaa::/48');
    expect(prefixOf(ip, 24, 48)).toBe('2001:db8:aaaa::/48');
    expect(prefixOf(ip, 24, 56)).toBe('2001:db8:aaaa:bb00::/56');
    expect(prefixOf(ip, 24, 64)).toBe('2001:db8:aaaa:bbbb::/64');
    expect(prefixOf(ip, 24, 64)).toBe('2001:db8:aaaa:bbbb::/64');
    expect(prefixOf(ip, 24, 48)).toBe('2001:db8:aaaa::/48');
    expect(prefixOf(ip, 24, 128)).toBe('2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128');
    expect(prefixOf(ip, 24, 1)).toBe('::/1');
    expect(prefixOf('8000::1', 24, 1)).toBe('8000::/1');
    expect(prefixOf(ip)).toBe('2001:db8:aaaa:bbbb::/64');
    // The IPv4 prefix length leaves IPv6 alone, and the IPv6 one leaves IPv4 alone.
    expect(prefixOf(ip, 8, 64)).toBe('2001:db8:aaaa:bbbb::/64');
    expect(prefixOf('203.0.113.77', 24, 48)).toBe('203.0.113.0/24');
  });

  it('agrees with masking by hand, for any address and prefix length, asked in any order', () => {
    const v4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((o) => o.join('.'));
    const v6 = fc
      .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
      .map((g) => new ipaddr.IPv6(g))
      .filter((a) => !a.isIPv4MappedAddress())
      .map((a) => a.toRFC5952String());
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(v4, v6, fc.constant('2001:db8::1')), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 128 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (asks) => {
          for (const [ip, b4, b6] of asks) {
            const expected = ip.includes(':') ? oracleV6(ip, b6) : oracleV4(ip, b4);
            expect(prefixOf(ip, b4, b6)).toBe(expected);
          }
        },
      ),
    );
  });
});

describe('normaliseIp: the canonical IPv4 fast path refuses what is not canonical', () => {
  it.each([
    ['256.1.1.1', null], ['1.2.3.300', null], ['999.999.999.999', null], ['1.2.3', null], ['1.2.3.4.5', null],
    ['1..2.3', null], ['.1.2.3', null], ['1.2.3.', null], ['1.2.3.4 ', null], ['1.2.3.a', null], ['1.2.3.-4', null],
  ] as const)('%s → %s', (text, want) => {
    expect(normaliseIp(text)).toBe(want);
  });

  it('reads leading zeros as their number, never as text kept as it is', () => {
    // Each is read by the general path, which canonicalises: a log key and a block must be the same text.
    for (const text of ['01.2.3.4', '1.02.3.4', '1.2.3.004', '010.1.1.1']) {
      const n = normaliseIp(text);
      if (n !== null) expect(n).toMatch(/^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/);
    }
  });

  it('keeps canonical addresses of every length as they are', () => {
    for (const text of ['0.0.0.0', '1.2.3.4', '10.20.30.40', '192.168.100.200', '255.255.255.255']) expect(normaliseIp(text)).toBe(text);
  });
});
