import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { project } from '../../src/contain/projection.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { addressCount, coveredBy, hostsOf24 } from '../helpers/coverage-oracle.ts';

const T = 1_793_577_660_000;

function entry(target: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  const targetKind = target.startsWith('arn:') || target.startsWith('principal:') ? 'principal' : target.includes('/') ? 'cidr' : 'ip';
  return { target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['path-scan'], score: 2,
    priorBlocks: 0, evidence: { key: target, keyKind: 'ip', windowStart: T - 60_000, windowEnd: T, findings: [], features: {} }, ...over } as LedgerEntry;
}

describe('project: what WAF and the policy hold', () => {
  it('holds blocked hosts one by one: three hosts of a /24 never become the /24 here', () => {
    const blocked = ['198.51.100.7', '198.51.100.8', '198.51.100.200'];
    const { ipSets } = project(blocked.map((t) => entry(t)), parseConfig({}));
    for (const ip of hostsOf24('198.51.100')) expect(coveredBy(ip, ipSets.v4), ip).toBe(blocked.includes(ip));
    expect(addressCount(ipSets.v4)).toBe(3n);
  });

  it('an address allowlisted after its /24 was blocked is cut out of the IP set, and nothing else is', () => {
    const cfg = parseConfig({ allowlist: { cidrs: ['203.0.113.77'] } });
    const { ipSets } = project([entry('203.0.113.0/24')], cfg);
    for (const ip of hostsOf24('203.0.113')) expect(coveredBy(ip, ipSets.v4), ip).toBe(ip !== '203.0.113.77');
  });

  it('three blocked hosts beside an allowlisted neighbour: the three, never the /24', () => {
    const cfg = parseConfig({ allowlist: { cidrs: ['192.0.2.50'] } });
    const { ipSets } = project(['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((t) => entry(t)), cfg);
    expect(coveredBy('192.0.2.50', ipSets.v4)).toBe(false);
    expect(coveredBy('192.0.2.4', ipSets.v4)).toBe(false);
    expect(addressCount(ipSets.v4)).toBe(3n);
  });

  it('keeps IPv6 /64 blocks as they are and apart from IPv4', () => {
    const { ipSets } = project([entry('2001:db8:1:2::/64'), entry('192.0.2.9')], parseConfig({}));
    expect(coveredBy('2001:db8:1:2:ffff::1', ipSets.v6)).toBe(true);
    expect(coveredBy('2001:db8:1:3::1', ipSets.v6)).toBe(false);
    expect(ipSets.v4).toEqual(['192.0.2.9/32']);
  });

  it('denies principals by score, never an allowlisted one, and CIDRs strongest first up to the policy budget', () => {
    const cfg = parseConfig({ allowlist: { principals: ['arn:aws:iam::1:role/ops'] } });
    const cidrs = Array.from({ length: 120 }, (_, i) => entry(`10.${i}.0.0/24`, { score: i }));
    const { deny } = project([entry('arn:aws:iam::1:user/a', { score: 1 }), entry('arn:aws:iam::1:user/b', { score: 9 }),
      entry('arn:aws:iam::1:role/ops', { score: 50 }), ...cidrs], cfg);
    expect(deny.principals).toEqual(['arn:aws:iam::1:user/b', 'arn:aws:iam::1:user/a']);
    expect(deny.cidrs).toHaveLength(100);
    expect(deny.cidrs[0]).toBe('10.119.0.0/24');
    expect(deny.cidrs).not.toContain('10.19.0.0/24');
    expect(deny.cidrs).toContain('10.20.0.0/24');
  });

  it('holds nothing for nothing active', () => {
    expect(project([], parseConfig({}))).toEqual({ ipSets: { v4: [], v6: [] }, deny: { principals: [], cidrs: [] } });
  });
});

describe('project: what goes where', () => {
  it('a principal goes to the policy only, even one whose name reads as an address', () => {
    const { ipSets, deny } = project([entry('arn:aws:iam::1:user/a'), entry('10.1.2.3', { targetKind: 'principal' }),
      entry('2001:db8::5', { targetKind: 'principal' })], parseConfig({}));
    expect(ipSets).toEqual({ v4: [], v6: [] });
    expect(deny.principals).toEqual(['10.1.2.3', '2001:db8::5', 'arn:aws:iam::1:user/a']);
    expect(deny.cidrs).toEqual([]);
  });

  it('hosts go to WAF only; CIDR blocks of both families to WAF and the policy', () => {
    const { ipSets, deny } = project([entry('192.0.2.9', { score: 9 }), entry('198.51.100.0/24', { score: 3 }),
      entry('2001:db8:1:2::/64', { score: 5 })], parseConfig({}));
    expect(ipSets).toEqual({ v4: ['192.0.2.9/32', '198.51.100.0/24'], v6: ['2001:db8:1:2::/64'] });
    expect(deny).toEqual({ principals: [], cidrs: ['2001:db8:1:2::/64', '198.51.100.0/24'] });
  });

  it('equal scores are ordered by target, and a target listed twice is denied once', () => {
    const { deny } = project([
      entry('arn:aws:iam::1:user/c', { score: 4 }), entry('arn:aws:iam::1:user/a', { score: 4 }), entry('arn:aws:iam::1:user/b', { score: 4 }),
      entry('arn:aws:iam::1:user/a', { score: 4, createdAt: T - 1 }), entry('arn:aws:iam::1:user/z', { score: 5 }),
      entry('203.0.113.0/24', { score: 1 }), entry('198.51.100.0/24', { score: 1 }), entry('198.51.100.0/24', { score: 1, createdAt: T - 1 }),
    ], parseConfig({}));
    expect(deny.principals).toEqual(['arn:aws:iam::1:user/z', 'arn:aws:iam::1:user/a', 'arn:aws:iam::1:user/b', 'arn:aws:iam::1:user/c']);
    expect(deny.cidrs).toEqual(['198.51.100.0/24', '203.0.113.0/24']);
  });

  it('the order does not depend on the order of the ledger', () => {
    const entries = [entry('arn:aws:iam::1:user/b', { score: 2 }), entry('arn:aws:iam::1:user/a', { score: 2 }), entry('arn:aws:iam::1:user/c', { score: 7 }),
      entry('10.0.0.0/24', { score: 2 }), entry('10.0.1.0/24', { score: 2 }), entry('10.0.2.0/24', { score: 3 })];
    const want = project(entries, parseConfig({}));
    expect(project([...entries].reverse(), parseConfig({}))).toEqual(want);
    expect(want.deny).toEqual({ principals: ['arn:aws:iam::1:user/c', 'arn:aws:iam::1:user/a', 'arn:aws:iam::1:user/b'],
      cidrs: ['10.0.2.0/24', '10.0.0.0/24', '10.0.1.0/24'] });
  });
});

describe('project: the allowlist in the policy', () => {
  it('a CIDR block made before part of it was allowlisted is denied around the allowlisted part, never over it', () => {
    const cfg = parseConfig({ allowlist: { cidrs: ['203.0.113.77', '2001:db8:1:2:ffff::/80'] } });
    const { deny, ipSets } = project([entry('203.0.113.0/24', { score: 5 }), entry('198.51.100.0/24', { score: 4 }),
      entry('2001:db8:1:2::/64', { score: 3 })], cfg);
    for (const ip of hostsOf24('203.0.113')) expect(coveredBy(ip, deny.cidrs), ip).toBe(ip !== '203.0.113.77');
    for (const ip of hostsOf24('198.51.100')) expect(coveredBy(ip, deny.cidrs), ip).toBe(true);
    expect(coveredBy('2001:db8:1:2:ffff::1', deny.cidrs)).toBe(false);
    expect(coveredBy('2001:db8:1:2:fffe::1', deny.cidrs)).toBe(true);
    expect(coveredBy('2001:db8:1:2::', deny.cidrs)).toBe(true);
    // The blocks untouched by the allowlist keep their text and their place by score.
    expect(deny.cidrs.indexOf('198.51.100.0/24')).toBe(8);
    expect(deny.cidrs.slice(0, 8).every((c) => coveredBy(c.split('/')[0], ['203.0.113.0/24']))).toBe(true);
    // The IP sets and the policy agree on what is cut out.
    for (const ip of ['203.0.113.76', '203.0.113.77', '203.0.113.78']) expect(coveredBy(ip, deny.cidrs), ip).toBe(coveredBy(ip, ipSets.v4));
  });

  it('an allowlisted IPv4 address written in mapped form is in neither the IP sets nor the policy', () => {
    const { deny, ipSets } = project([entry('198.51.100.0/24')], parseConfig({ allowlist: { cidrs: ['::ffff:198.51.100.7'] } }));
    for (const ip of hostsOf24('198.51.100')) {
      expect(coveredBy(ip, ipSets.v4), ip).toBe(ip !== '198.51.100.7');
      expect(coveredBy(ip, deny.cidrs), ip).toBe(ip !== '198.51.100.7');
    }
  });

  it('the sessions of an allowlisted role are given to no target (policy, deny list, API keys)', () => {
    const monitoring = 'arn:aws:sts::123456789012:assumed-role/monitoring/i-0abc123';
    const deploy = 'arn:aws:sts::123456789012:assumed-role/deploy/i-0abc123';
    const { deny } = project([entry(monitoring, { score: 9 }), entry(deploy)],
      parseConfig({ allowlist: { principals: ['arn:aws:iam::123456789012:role/monitoring'] } }));
    expect(deny.principals).toEqual([deploy]);
  });

  it('a block wholly inside the allowlist is not denied at all', () => {
    const { deny, ipSets } = project([entry('10.1.2.0/24'), entry('198.51.100.0/24')], parseConfig({ allowlist: { cidrs: ['10.0.0.0/8'] } }));
    expect(deny.cidrs).toEqual(['198.51.100.0/24']);
    expect(ipSets.v4).toEqual(['198.51.100.0/24']);
  });
});
