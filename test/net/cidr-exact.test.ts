import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalCidr,
  cidrSize,
  compareCidr,
  contains,
  familyBits,
  firstAddress,
  formatCidr,
  hostMask,
  InvalidCidrError,
  lastAddress,
  makeCidr,
  overlaps,
  parseCidr,
  toCidr,
} from '../../src/net/cidr.ts';
import { normaliseIp } from '../../src/net/ip.ts';

describe('block arithmetic', () => {
  it('sizes, masks and ends of blocks of both families', () => {
    expect(familyBits(4)).toBe(32);
    expect(familyBits(6)).toBe(128);
    expect(hostMask(4, 24)).toBe(255n);
    expect(hostMask(4, 32)).toBe(0n);
    expect(hostMask(4, 0)).toBe(0xffff_ffffn);
    expect(hostMask(6, 64)).toBe((1n << 64n) - 1n);
    expect(hostMask(6, 128)).toBe(0n);
    const v4 = toCidr('203.0.113.77/25');
    expect(v4).toEqual({ family: 4, addr: 0xcb00_7100n, len: 25 });
    expect([firstAddress(v4), lastAddress(v4), cidrSize(v4)]).toEqual([0xcb00_7100n, 0xcb00_717fn, 128n]);
    const v6 = toCidr('2001:db8::/127');
    expect([lastAddress(v6) - firstAddress(v6), cidrSize(v6)]).toEqual([1n, 2n]);
    expect(cidrSize(toCidr('::/0'))).toBe(1n << 128n);
    expect(cidrSize(toCidr('0.0.0.0/0'))).toBe(1n << 32n);
    expect(lastAddress(toCidr('::/0'))).toBe((1n << 128n) - 1n);
    expect(makeCidr(6, (1n << 128n) - 1n, 8)).toEqual({ family: 6, addr: 0xffn << 120n, len: 8 });
  });

  it('passes a parsed block through toCidr, and names what it cannot read', () => {
    const c = makeCidr(4, 1n, 32);
    expect(toCidr(c)).toBe(c);
    const err = (() => {
      try {
        toCidr('nope');
      } catch (e) {
        return e as InvalidCidrError;
      }
      throw new Error('did not throw');
    })();
    expect(err).toBeInstanceOf(InvalidCidrError);
    expect(err.name).toBe('InvalidCidrError');
    expect(err.input).toBe('nope');
    expect(err.message).toBe('not an IP address or CIDR block: "nope"');
    const long = 'x'.repeat(81);
    expect(new InvalidCidrError(long).message).toBe(`not an IP address or CIDR block: "${'x'.repeat(80)}…"`);
    expect(new InvalidCidrError('y'.repeat(80)).message).toBe(`not an IP address or CIDR block: "${'y'.repeat(80)}"`);
    expect(new InvalidCidrError(long).input).toBe(long);
  });
});

describe('parseCidr, exactly', () => {
  it.each([
    ['1.2.3.4/0', '0.0.0.0/0'],
    ['1.2.3.4/9', '1.0.0.0/9'],
    ['1.2.3.4/10', '1.0.0.0/10'],
    ['1.2.3.4/32', '1.2.3.4/32'],
    ['1.2.3.4/31', '1.2.3.4/31'],
    ['255.255.255.255/31', '255.255.255.254/31'],
    ['2001:db8::/100', '2001:db8::/100'],
    ['2001:db8::ffff:ffff/99', '2001:db8::e000:0/99'],
    ['2001:db8::1/128', '2001:db8::1/128'],
    ['::/5', '::/5'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8/128'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0/128'], // seven groups and `::`
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8/128'],
    ['1::8', '1::8/128'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304/128'], // a dotted quad as the last two groups
    ['1::1.2.3.4', '1::102:304/128'],
    ['::1:1.2.3.4', '::1:102:304/128'],
    ['::1.2.3.4', '1.2.3.4/32'], // deprecated IPv4-compatible: read as mapped
    ['::102:304', '::102:304/128'], // the same value in hex is not
    ['::ffff:1.2.3.4/127', '1.2.3.4/31'],
    ['::ffff:1.2.3.4/96', '0.0.0.0/0'],
    ['::fffe:1.2.3.4/96', '::fffe:0:0/96'],
    ['0000:0000:0000:0000:0000:ffff:255.255.255.255', '255.255.255.255/32'], // 45 characters: the longest spelling
    ['0000:0000:0000:0000:0000:0000:255.255.255.255', '::ffff:ffff/128'], // written out, the compatible form is not mapped
    ['[2001:db8::1]/64', '2001:db8::/64'],
    ['fe80::1%eth0/10', 'fe80::/10'],
    ['1.2.3.4%eth0', '1.2.3.4/32'],
    ['\t2001:db8::/32\n', '2001:db8::/32'],
  ])('%j → %s', (input, expected) => {
    expect(canonicalCidr(input)).toBe(expected);
  });

  it.each([
    '1.2.3.4/00',
    '1.2.3.4/0032',
    '1.2.3.4/+8',
    '1.2.3.4/8.0',
    '1.2.3.4/8/8',
    '1.2.3.4/1e1',
    '2001:db8::/1000',
    '2001:db8::/0128',
    '2001:db8::/a',
    ':',
    ':::',
    ':::1',
    '1:::2',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1:2:3:4:5:1.2.3.4',
    '1.2.3.4::1', // a dotted quad before `::`
    '1.2.3.4::',
    'a:b:1.2.3.4::',
    '::[1.2.3.4]', // brackets inside
    '::ffff:[1.2.3.4]',
    '::1.2.3.4:5',
    '::ffff:1.2.3.4.5',
    '::01.2.3.4',
    '::ffff:256.1.1.1',
    '00000::1',
    '0000:0000:0000:0000:0000:0000:0255.255.255.255', // 46 characters
    '[1.2.3.4',
  ])('rejects %j', (input) => {
    expect(parseCidr(input)).toBeNull();
    expect(canonicalCidr(input)).toBeNull();
  });

  it('rejects what is not text', () => {
    expect(parseCidr(5 as unknown as string)).toBeNull();
    expect(parseCidr(null as unknown as string)).toBeNull();
  });

  it('accepts no bare address that normaliseIp refuses, and reads every one it accepts as the same address', () => {
    const token = fc.constantFrom('0', '1', 'a', 'ff', 'ffff', '1.2.3.4', '255.255.255.255', '256.1.1.1', '01.2.3.4', ':', '::', '.', '[', ']', '0000', '12345');
    fc.assert(
      fc.property(fc.array(token, { maxLength: 10 }).map((t) => t.join('')), (text) => {
        const c = parseCidr(text);
        if (c === null) return;
        const n = normaliseIp(text);
        expect(n).not.toBeNull();
        expect(formatCidr(c)).toBe(`${n}/${n!.includes(':') ? 128 : 32}`);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('contains / overlaps / compareCidr, exactly', () => {
  it.each([
    ['2001:db8::/32', '2001:db8::/32', true, true],
    ['2001:db8::/32', '2001:db9::/32', false, false],
    ['2001:db8::/32', '2001:db8:8000::/33', true, true],
    ['2001:db8:8000::/33', '2001:db8::/32', false, true],
    ['2001:db8::/33', '2001:db8:8000::/33', false, false],
    ['::/0', '0.0.0.0/0', false, false],
    ['0.0.0.0/0', '::ffff:1.2.3.4', true, true],
    ['10.0.0.0/8', '10.0.0.0/8', true, true],
    ['10.0.0.0/9', '10.128.0.0/9', false, false],
    ['10.0.0.0/8', '10.128.0.0/9', true, true],
    ['10.128.0.0/9', '10.0.0.0/8', false, true],
  ])('%s and %s: contains %s, overlaps %s', (a, b, holds, meets) => {
    expect(contains(a, b)).toBe(holds);
    expect(overlaps(a, b)).toBe(meets);
    expect(overlaps(b, a)).toBe(meets);
    expect(contains(toCidr(a), toCidr(b))).toBe(holds);
  });

  it('throws on an unreadable block rather than answering', () => {
    expect(() => contains('10.0.0.0/8', 'x')).toThrow(InvalidCidrError);
    expect(() => overlaps('x', '10.0.0.0/8')).toThrow(InvalidCidrError);
  });

  it('orders IPv4 before IPv6, then by address, then the wider block first', () => {
    const c = (t: string) => toCidr(t);
    expect(compareCidr(c('255.255.255.255'), c('::'))).toBeLessThan(0);
    expect(compareCidr(c('::'), c('255.255.255.255'))).toBeGreaterThan(0);
    expect(compareCidr(c('10.0.0.1'), c('10.0.0.2'))).toBe(-1);
    expect(compareCidr(c('10.0.0.2'), c('10.0.0.1'))).toBe(1);
    expect(compareCidr(c('10.0.0.0/8'), c('10.0.0.0/24'))).toBeLessThan(0);
    expect(compareCidr(c('10.0.0.0/24'), c('10.0.0.0/8'))).toBeGreaterThan(0);
    expect(compareCidr(c('10.0.0.0/24'), c('10.0.0.0/24'))).toBe(0);
    expect(compareCidr(c('::1'), c('::2'))).toBe(-1);
    expect(compareCidr(c('::/1'), c('::/2'))).toBeLessThan(0);
  });
});
