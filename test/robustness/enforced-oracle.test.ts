import { describe, expect, it } from 'vitest';
import type { Decision, Evidence } from '../../src/decision.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { AddressSet, addressAt, coveredBy, hostsOf24, sampleAddresses, sizeOf } from '../helpers/coverage-oracle.ts';
import { type EnforcedRules, type EnforcedState, enforcedViolations, nameableByPolicy } from '../helpers/enforced-invariants.ts';
import { mulberry32 } from '../helpers/rng.ts';

/**
 * The oracle and the enforced-state invariants checked themselves: the interval sweep against address-by-address
 * enumeration, and every invariant shown to fire on a state that breaks it (and only there).
 */

describe('coverage oracle: address sets', () => {
  it('AddressSet agrees with coveredBy address by address (random CIDRs inside one /24, and IPv6)', () => {
    const random = mulberry32(7);
    for (let round = 0; round < 60; round++) {
      const cidrs = Array.from({ length: 1 + Math.floor(random() * 5) }, () => {
        const len = 24 + Math.floor(random() * 9);
        return `10.1.2.${Math.floor(random() * 256)}/${len}`;
      });
      const set = new AddressSet(cidrs);
      const hosts = hostsOf24('10.1.2');
      for (const a of hosts) expect(set.has(a), `${a} in ${cidrs.join(' ')}`).toBe(coveredBy(a, cidrs));
      // missing(): exactly the addresses of the probe that no CIDR holds, as ranges.
      const probeLen = 24 + Math.floor(random() * 9);
      const probe = `10.1.2.${Math.floor(random() * 256)}/${probeLen}`;
      const want = hosts.filter((a) => coveredBy(a, [probe]) && !coveredBy(a, cidrs));
      const ranges = set.missing(probe, 1000);
      expect(hosts.filter((a) => ranges.some((r) => inRange(a, r.first, r.last)))).toEqual(want);
      const shared = hosts.find((a) => coveredBy(a, [probe]) && coveredBy(a, cidrs)) ?? null;
      expect(set.firstIn(probe)).toBe(shared);
    }
    const v6 = new AddressSet(['2001:db8:1:2::/64', '2001:db8:1:3::/64']);
    expect(v6.missing('2001:db8:1:2::/63')).toEqual([]);
    expect(v6.missing('2001:db8:1::/62')).toEqual([
      { first: '2001:db8:1:0:0:0:0:0', last: '2001:db8:1:1:ffff:ffff:ffff:ffff' }]);
    expect(v6.has('2001:db8:1:3:ffff::1')).toBe(true);
    expect(v6.has('10.0.0.1')).toBe(false);
    expect(new AddressSet(['10.0.0.0/8']).has('::ffff:10.0.0.1')).toBe(false); // families apart, as WAF keeps them
  });

  it('sampleAddresses: first, last and draws inside, for /32 to /0 and IPv6', () => {
    const random = mulberry32(3);
    for (const c of ['192.0.2.7/32', '192.0.2.0/24', '10.0.0.0/8', '0.0.0.0/0', '2001:db8::/32', '2001:db8:1:2::/64', '::/0']) {
      const s = sampleAddresses(c, random, 8);
      expect(s[0]).toBe(addressAt(c, 0n));
      expect(s[1] ?? s[0]).toBe(addressAt(c, sizeOf(c) - 1n));
      for (const a of s) expect(coveredBy(a, [c]), `${a} in ${c}`).toBe(true);
    }
    expect(sampleAddresses('192.0.2.7/32', random)).toEqual(['192.0.2.7']);
  });

  it('nameableByPolicy: account ids and IAM/STS ARNs, not API keys or Cognito subs', () => {
    expect(['123456789012', 'arn:aws:iam::123456789012:user/a', 'arn:aws:sts::123456789012:assumed-role/r/s'].every(nameableByPolicy)).toBe(true);
    expect(['key00123734', '000ef5fa-8908-459f-a8fa-15f1281a94fa', '*', 'arn:aws:iam::1234:user/a'].some(nameableByPolicy)).toBe(false);
  });
});

function inRange(a: string, first: string, last: string): boolean {
  const n = (x: string): number => x.split('.').reduce((v, o) => v * 256 + Number(o), 0);
  return n(first) <= n(a) && n(a) <= n(last);
}

describe('enforced-state invariants fire on the state that breaks them', () => {
  const T = Date.UTC(2026, 10, 2, 0, 13);
  const iso = new Date(T).toISOString();
  const evidence = (extra: Partial<Evidence> = {}): Evidence => ({ key: 'k', keyKind: 'ip', windowStart: T - 60_000, windowEnd: T,
    findings: [], features: {}, held: '', ...extra });
  const active = (target: string, targetKind: LedgerEntry['targetKind'] = target.includes('/') ? 'cidr' : 'ip'): LedgerEntry => ({
    target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['flood'], score: 5, priorBlocks: 0, evidence: evidence(),
  });
  const decision = (e: Pick<LedgerEntry, 'target' | 'targetKind'>, action: Decision['action'] = 'block', extra: Partial<Evidence> = {}): Decision => ({
    time: iso, action, target: e.target, targetKind: e.targetKind, reasons: ['flood'], score: 5, expiresAt: iso, evidence: evidence(extra),
  });
  const hosts = ['198.51.100.7', '198.51.100.8', '198.51.100.9'].map((h) => active(h));
  const heldPrefix = decision({ target: '198.51.100.0/24', targetKind: 'cidr' }, 'alert', { heldBack: 'blast-radius' });
  const rules: EnforcedRules = { allowlist: { cidrs: ['10.0.0.0/8', '203.0.113.200/32'], principals: ['arn:aws:iam::123456789012:user/ops'] },
    dryRun: false, ipSetCapacity: 10_000, policyMaxChars: 8192 };
  const state = (over: Partial<EnforcedState>): EnforcedState => {
    const ipSets = over.ipSets ?? ['198.51.100.7/32', '198.51.100.8/31'];
    return { v4: ipSets.filter((a) => !a.includes(':')), v6: ipSets.filter((a) => a.includes(':')), policyChars: 0, policy: null,
      deny: { principals: [], cidrs: [] }, active: hosts, decisions: [...hosts.map((h) => decision(h)), heldPrefix], ...over, ipSets };
  };
  const check = (over: Partial<EnforcedState>, r: Partial<EnforcedRules> = {}) => enforcedViolations([state(over)], { ...rules, ...r }).violations;

  it('holds on the state that enforces exactly the three hosts', () => {
    const report = enforcedViolations([state({})], rules);
    expect(report.violations).toEqual([]);
    expect([report.heldNeighbours, report.enforcedBlocks]).toEqual([253, 3]);
  });

  it('(b) the held /24 written whole (the bug fixed in src/contain/projection.ts) is caught', () => {
    const v = check({ ipSets: ['198.51.100.0/24'] });
    expect(v).toEqual([
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): IP set entry 198.51.100.0/24 covers 198.51.100.0..198.51.100.6, 198.51.100.10..198.51.100.255, which no active block holds',
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): 253 of the 253 unblocked addresses of 198.51.100.0/24, held by the blast-radius guard, are enforced: 198.51.100.0, 198.51.100.1, 198.51.100.2, 198.51.100.3, …',
    ]);
    // One neighbour is enough; so is a policy CIDR.
    expect(check({ ipSets: ['198.51.100.7/32', '198.51.100.8/31', '198.51.100.10/32'] })).toHaveLength(2);
    expect(check({ deny: { principals: [], cidrs: ['198.51.100.0/25'] } })).toHaveLength(2);
  });

  it('(a) an allowlisted address or principal enforced is caught, however it is written', () => {
    // An active block of an address allowlisted since, written anyway: in an IP set (sampled address), enforced (exact).
    const withAllowed = [...hosts, active('203.0.113.200')];
    expect(check({ ipSets: ['198.51.100.7/32', '198.51.100.8/31', '203.0.113.200/32'], active: withAllowed })).toEqual([
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): allowlisted 203.0.113.200 (of 203.0.113.200/32) is in an IP set',
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): allowlisted 203.0.113.200 (of 203.0.113.200/32) is enforced',
    ]);
    // Or by the policy's CIDRs.
    expect(check({ active: withAllowed, deny: { principals: [], cidrs: ['203.0.113.200/32'] } })).toHaveLength(2);
    expect(check({ ipSets: ['198.51.100.7/32', '198.51.100.8/31', '10.20.0.0/16'], active: [...hosts, active('10.20.0.0/16')] }).length).toBeGreaterThan(0);
    const ops = active('arn:aws:iam::123456789012:user/ops', 'principal');
    expect(check({ active: [...hosts, ops], deny: { principals: [ops.target], cidrs: [] } })).toEqual([
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): allowlisted principal arn:aws:iam::123456789012:user/ops is denied']);
    // A proxy range is never enforced either.
    expect(check({ ipSets: ['198.51.100.7/32', '198.51.100.8/31'] }, { neverEnforced: ['198.51.100.8/32'] })).toEqual([
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): allowlisted 198.51.100.8 (of 198.51.100.8/32) is in an IP set',
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): allowlisted 198.51.100.8 (of 198.51.100.8/32) is enforced',
    ]);
  });

  it('(b) a principal denied without an active block is caught', () => {
    expect(check({ deny: { principals: ['arn:aws:iam::123456789012:user/eve'], cidrs: [] } })).toHaveLength(1);
  });

  it('(c) a dry run that writes anything is caught', () => {
    expect(check({}, { dryRun: true })).toHaveLength(1);
    expect(check({ ipSets: [], policy: { Statement: [] } }, { dryRun: true })).toHaveLength(1);
    expect(check({ ipSets: [] }, { dryRun: true })).toEqual([]);
  });

  it('(d) a block announced but not enforced is caught, unless the family is full', () => {
    expect(check({ ipSets: ['198.51.100.7/32', '198.51.100.8/32'] })).toEqual([
      'state 1/1 (batch of 2026-11-02T00:13:00.000Z): block decision 198.51.100.9: 198.51.100.9 in no IP set']);
    expect(check({ ipSets: ['198.51.100.7/32', '198.51.100.8/32'] }, { ipSetCapacity: 2 })).toEqual([]);
    const mallory = active('arn:aws:iam::123456789012:user/mallory', 'principal');
    expect(check({ active: [...hosts, mallory], decisions: [decision(mallory)] })).toHaveLength(1);
    // A block published with no active entry behind it.
    expect(check({ decisions: [decision(active('198.51.100.99'))] })).toHaveLength(1);
    // A principal no policy can name is listed apart, not as a violation.
    const key = active('key00123734', 'principal');
    const r = enforcedViolations([state({ active: [...hosts, key], decisions: [decision(key)] })], rules);
    expect([r.violations, r.unenforceable]).toEqual([[], ['key00123734']]);
  });
});
