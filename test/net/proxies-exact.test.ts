import { describe, expect, it } from 'vitest';
import {
  type CloudFrontRanges,
  cloudfrontRangesFrom,
  IpRangesFormatError,
  isProxy,
  ProxyConfigError,
  ProxySet,
  proxySetFor,
} from '../../src/net/proxies.ts';

/** A CloudFront list of documentation addresses, so answers do not depend on the shipped copy. */
const CF: CloudFrontRanges = {
  source: 'test', services: ['CLOUDFRONT'], createDate: '2026-01-01-00-00-00', syncToken: '1', complete: true,
  ipv4: ['198.51.100.0/24'], ipv6: ['2001:db8:cf::/48'],
};

describe('ProxySet, exactly', () => {
  it('takes CloudFront ranges of both families only when asked, after the configured ones', () => {
    const off = new ProxySet({ cidrs: ['192.0.2.1'], cloudfront: false }, CF);
    expect(off.cidrTexts).toEqual(['192.0.2.1/32']);
    expect(off.kindOf('198.51.100.7')).toBeNull();
    const on = new ProxySet({ cidrs: ['192.0.2.1', '2001:DB8::/64'], cloudfront: true }, CF);
    expect(on.cidrTexts).toEqual(['192.0.2.1/32', '2001:db8::/64', '198.51.100.0/24', '2001:db8:cf::/48']);
    expect(on.size).toBe(4);
    expect(on.kindOf('198.51.100.7')).toBe('cloudfront');
    expect(on.kindOf('2001:db8:cf:1::9')).toBe('cloudfront');
    expect(on.kindOf('2001:db8::9')).toBe('configured');
    expect(on.kindOf('192.0.2.1')).toBe('configured');
    expect(on.kindOf('192.0.2.2')).toBeNull();
    expect(on.kindOf('garbage')).toBeNull();
    expect(new ProxySet({ cidrs: [], cloudfront: false }, CF).size).toBe(0);
  });

  it('answers for single addresses only: /32 and /128, not wider blocks', () => {
    const set = new ProxySet({ cidrs: ['10.0.0.0/8', '2001:db8::/32'], cloudfront: false }, CF);
    expect(set.isProxy('10.1.2.3')).toBe(true);
    expect(set.isProxy('10.1.2.3/32')).toBe(true);
    expect(set.isProxy('10.1.2.2/31')).toBe(false);
    expect(set.isProxy('2001:db8::1')).toBe(true);
    expect(set.isProxy('2001:db8::1/128')).toBe(true);
    expect(set.isProxy('2001:db8::/127')).toBe(false);
    expect(set.isProxy('2001:db8::/32')).toBe(false);
    expect(set.isProxy('::ffff:10.1.2.3')).toBe(true); // IPv4-mapped is the IPv4 address
    expect(set.isProxy('11.0.0.1')).toBe(false);
    expect(set.isProxy('2001:db9::1')).toBe(false);
    expect(set.isProxy('x')).toBe(false);
  });

  it('a block touches a proxy when it overlaps one; garbage and principals never do', () => {
    const set = new ProxySet({ cidrs: ['192.0.2.128/25'], cloudfront: false }, CF);
    expect(set.touches('192.0.2.0/24', 'cidr')).toBe(true);
    expect(set.touches('192.0.2.0/25', 'cidr')).toBe(false);
    expect(set.touches('192.0.2.128', 'ip')).toBe(true);
    expect(set.touches('192.0.2.127', 'ip')).toBe(false);
    expect(set.touches('garbage', 'ip')).toBe(false);
    expect(set.touches('192.0.2.128', 'principal')).toBe(false);
  });

  it('names what it refuses, with its kind', () => {
    const refuse = (cfg: { cidrs: string[]; cloudfront: boolean }, cf: CloudFrontRanges = CF) => {
      try {
        new ProxySet(cfg, cf);
      } catch (e) {
        expect(e).toBeInstanceOf(ProxyConfigError);
        expect((e as Error).name).toBe('ProxyConfigError');
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refuse({ cidrs: ['10.0.0.0/8', 'nope'], cloudfront: false })).toBe('proxies: not an address or CIDR (configured): "nope"');
    expect(refuse({ cidrs: ['0.0.0.0/0'], cloudfront: false })).toBe('proxies: "0.0.0.0/0" would make every address a proxy');
    expect(refuse({ cidrs: ['::/0'], cloudfront: false })).toBe('proxies: "::/0" would make every address a proxy');
    expect(refuse({ cidrs: [], cloudfront: true }, { ...CF, ipv6: ['zzz'] })).toBe('proxies: not an address or CIDR (cloudfront): "zzz"');
    expect(new ProxySet({ cidrs: ['0.0.0.0/1'], cloudfront: false }, CF).size).toBe(1);
  });
});

describe('proxySetFor and isProxy', () => {
  it('builds one set per config block, and an empty one for none', () => {
    const a = { cidrs: ['10.0.0.0/8'], cloudfront: false };
    const b = { cidrs: ['10.0.0.0/8'], cloudfront: false };
    expect(proxySetFor(a)).toBe(proxySetFor(a));
    expect(proxySetFor(a)).not.toBe(proxySetFor(b));
    expect(proxySetFor(b).cidrTexts).toEqual(['10.0.0.0/8']);
    expect(proxySetFor(undefined)).toBe(proxySetFor(undefined));
    expect(proxySetFor(undefined).size).toBe(0);
    expect(proxySetFor(undefined).isProxy('13.32.0.1')).toBe(false);
  });

  it('uses CloudFront\'s ranges by default, and only the config\'s when given one', () => {
    expect(isProxy('13.32.0.1')).toBe(true);
    expect(isProxy('13.32.0.1', { cidrs: [], cloudfront: false })).toBe(false);
    expect(isProxy('10.9.9.9', { cidrs: ['10.0.0.0/8'], cloudfront: false })).toBe(true);
    expect(isProxy('10.9.9.9')).toBe(false);
  });
});

/** ip-ranges.json of the smallest valid shape. */
const doc = (over: Record<string, unknown> = {}) => ({
  syncToken: '7',
  createDate: '2026-10-01-12-00-00',
  prefixes: [{ ip_prefix: '198.51.100.0/24', service: 'CLOUDFRONT' }],
  ipv6_prefixes: [{ ipv6_prefix: '2001:db8::/32', service: 'CLOUDFRONT_ORIGIN_FACING' }],
  ...over,
});

describe('cloudfrontRangesFrom, exactly', () => {
  it('takes the source given, sorts by address, and drops duplicates of any spelling', () => {
    const r = cloudfrontRangesFrom(
      doc({
        prefixes: [
          { ip_prefix: '198.51.100.0/24', service: 'CLOUDFRONT' },
          { ip_prefix: '10.0.0.0/8', service: 'CLOUDFRONT_ORIGIN_FACING' },
          { ip_prefix: '198.51.100.9/24', service: 'CLOUDFRONT' },
          { ip_prefix: '10.0.0.0/16', service: 'CLOUDFRONT' },
          { ip_prefix: 'not read', service: 'EC2' },
        ],
      }),
      'file:///copy.json',
    );
    expect(r.source).toBe('file:///copy.json');
    expect(r.ipv4).toEqual(['10.0.0.0/8', '10.0.0.0/16', '198.51.100.0/24']);
    expect(r.ipv6).toEqual(['2001:db8::/32']);
    expect(r.complete).toBe(true);
    expect(r.services).toEqual(['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING']);
    expect(r.createDate).toBe('2026-10-01-12-00-00');
    expect(r.syncToken).toBe('7');
  });

  const refusal = (d: unknown) => {
    try {
      cloudfrontRangesFrom(d);
    } catch (e) {
      expect(e).toBeInstanceOf(IpRangesFormatError);
      expect((e as Error).name).toBe('IpRangesFormatError');
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it.each([
    ['null', null, 'the document is not an object'],
    ['a list', [], 'the document is not an object'],
    ['text', 'x', 'the document is not an object'],
    ['a createDate that is not text', doc({ createDate: 20261001 }), 'createDate is missing'],
    ['an empty createDate', doc({ createDate: '' }), 'createDate is missing'],
    ['a createDate with a suffix', doc({ createDate: '2026-10-01-12-00-00Z' }), 'createDate "2026-10-01-12-00-00Z" is not YYYY-MM-DD-hh-mm-ss'],
    ['a createDate with a prefix', doc({ createDate: 'x2026-10-01-12-00-00' }), 'createDate "x2026-10-01-12-00-00" is not YYYY-MM-DD-hh-mm-ss'],
    ['a createDate with short fields', doc({ createDate: '2026-1-01-12-00-00' }), 'createDate "2026-1-01-12-00-00" is not YYYY-MM-DD-hh-mm-ss'],
    ['a createDate with letters', doc({ createDate: '2026-10-01-12-00-0a' }), 'createDate "2026-10-01-12-00-0a" is not YYYY-MM-DD-hh-mm-ss'],
    ['no syncToken', doc({ syncToken: undefined }), 'syncToken is missing'],
    ['no prefixes', doc({ prefixes: undefined }), 'prefixes is not a list'],
    ['no ipv6_prefixes', doc({ ipv6_prefixes: 'x' }), 'ipv6_prefixes is not a list'],
    ['an entry that is not an object', doc({ prefixes: [{ ip_prefix: '198.51.100.0/24', service: 'CLOUDFRONT' }, null] }), 'ip_prefix entry 1 is not an object'],
    ['an entry that is a list', doc({ ipv6_prefixes: [[]] }), 'ipv6_prefix entry 0 is not an object'],
    ['a CloudFront entry without its prefix', doc({ prefixes: [{ service: 'CLOUDFRONT' }] }), 'ip_prefix of entry 0 is missing'],
    ['an IPv4 prefix among the IPv6 ones', doc({ ipv6_prefixes: [{ ipv6_prefix: '10.0.0.0/8', service: 'CLOUDFRONT' }] }), 'entry 0: "10.0.0.0/8" is not an IPv6 prefix'],
    ['a /0', doc({ prefixes: [{ ip_prefix: '0.0.0.0/0', service: 'CLOUDFRONT' }] }), 'entry 0: "0.0.0.0/0" is not an IPv4 prefix'],
    ['no CloudFront IPv4 prefix', doc({ prefixes: [{ ip_prefix: '10.0.0.0/8', service: 'EC2' }] }), 'no CloudFront IPv4 prefix in the document'],
    ['no IPv6 prefix at all', doc({ ipv6_prefixes: [] }), 'no CloudFront IPv6 prefix in the document'],
  ])('refuses %s', (_label, d, message) => {
    expect(refusal(d)).toBe(message);
  });

  it('accepts a prefix with a service of another case only when spelled as AWS does', () => {
    expect(refusal(doc({ prefixes: [{ ip_prefix: '10.0.0.0/8', service: 'cloudfront' }] }))).toBe('no CloudFront IPv4 prefix in the document');
  });
});
