import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { LedgerBook } from '../../src/contain/ledger-book.ts';
import { project } from '../../src/contain/projection.ts';
import { CREDENTIAL_RULES, LOGIN_ROUTE, routeScopeOf } from '../../src/contain/route-scope.ts';
import type { Finding } from '../../src/decision.ts';
import { RULE_NAMES } from '../../src/detect/rules/index.ts';
import { entry, features, HOUR, MIN, NOW, runner, T, verdict } from './fixtures.ts';

const ON = { waf: { routeScoped: { enabled: true } } };
const bruteforce9: Finding = { rule: 'login-bruteforce', score: 9, unmistakable: true, detail: 'failed logins' };
const pathScan2: Finding = { rule: 'path-scan', score: 2, unmistakable: true, detail: 'missing paths' };

const bruteforce: Finding = { rule: 'login-bruteforce', score: 4, unmistakable: true, detail: 'x' };
const authFailures: Finding = { rule: 'auth-failures', score: 3, unmistakable: true, detail: 'x' };
const pathScan: Finding = { rule: 'path-scan', score: 2, unmistakable: true, detail: 'x' };

/** A credential stuffer's window: every request a failed login POST. */
const stuffer = (ip: string, over: Parameters<typeof verdict>[1] = {}) => verdict(ip, {
  findings: [bruteforce, authFailures], features: features({ requests: 220, loginPosts: 220, failedLogins: 213, authFailures: 213 }), ...over,
});

describe('routeScopeOf: which blocks hold the login route only', () => {
  const cfg = parseConfig(ON);
  const of = (findings: Finding[], f: Parameters<typeof features>[0], targetKind: 'ip' | 'cidr' | 'principal' = 'ip') =>
    routeScopeOf({ targetKind, findings, features: features(f) }, cfg);

  it('the credential rules are names of the registry', () => {
    expect([...CREDENTIAL_RULES].sort()).toEqual(['auth-failures', 'campaign', 'login-bruteforce']);
    for (const r of CREDENTIAL_RULES) expect(RULE_NAMES).toContain(r);
  });

  it('credential findings on a window of login POSTs: the login route', () => {
    expect(of([bruteforce, authFailures], { requests: 100, loginPosts: 100 })).toEqual(LOGIN_ROUTE);
    expect(of([{ ...authFailures, rule: 'campaign' }], { requests: 4, loginPosts: 4 }), 'a campaign member').toEqual(LOGIN_ROUTE);
    expect(of([bruteforce], { requests: 100, loginPosts: 100 }, 'cidr'), 'a prefix').toEqual(LOGIN_ROUTE);
  });

  it('never for a principal, a key that also did anything else, a window mostly elsewhere, or with the option off', () => {
    expect(of([bruteforce], { requests: 100, loginPosts: 100 }, 'principal')).toBeUndefined();
    expect(of([bruteforce, pathScan], { requests: 100, loginPosts: 100 })).toBeUndefined();
    expect(of([bruteforce], { requests: 100, loginPosts: 89 }), 'below minShare 0.9').toBeUndefined();
    expect(of([bruteforce], { requests: 100, loginPosts: 90 })).toEqual(LOGIN_ROUTE);
    expect(of([], { requests: 100, loginPosts: 100 })).toBeUndefined();
    expect(routeScopeOf({ targetKind: 'ip', findings: [bruteforce], features: features({ requests: 10, loginPosts: 10 }) }, parseConfig({})))
      .toBeUndefined();
  });

  it('bad figures never make a block narrower: missing, zero, negative or not numbers', () => {
    const bad: Record<string, unknown>[] = [{}, { requests: 0, loginPosts: 0 }, { requests: 10 }, { requests: -1, loginPosts: -1 },
      { requests: Number.NaN, loginPosts: 5 }, { requests: '10', loginPosts: '10' }];
    for (const f of bad) expect(routeScopeOf({ targetKind: 'ip', findings: [bruteforce], features: f as never }, cfg), JSON.stringify(f)).toBeUndefined();
  });

  it('the config: off by default, a share in (0, 1], nothing unknown', () => {
    expect(parseConfig({}).waf.routeScoped).toEqual({ enabled: false, minShare: 0.9 });
    expect(() => parseConfig({ waf: { routeScoped: { enabled: true, minShare: 0 } } })).toThrow(/waf\.routeScoped\.minShare/);
    expect(() => parseConfig({ waf: { routeScoped: { enabled: true, routes: ['/login'] } } })).toThrow(/waf\.routeScoped/);
    // Not with the deny list, which cannot name a route (its APIs would hold the block nowhere).
    expect(() => parseConfig({ waf: { routeScoped: { enabled: true } }, denyList: { enabled: true } })).toThrow(/waf\.routeScoped\.enabled.*denyList/);
    expect(parseConfig({ waf: { routeScoped: { enabled: false } }, denyList: { enabled: true } }).denyList.enabled).toBe(true);
  });
});

describe('decide: route-scoped blocks', () => {
  it('option on: a credential stuffer that only POSTs to /login is blocked on the login route only', () => {
    const { decide } = runner(ON);
    const r = decide([stuffer('198.51.100.7')]);
    expect(r.blocks).toHaveLength(1);
    expect(r.decisions[0]).toMatchObject({ action: 'block', target: '198.51.100.7', evidence: { scope: { route: 'login' } } });
  });

  it('option off: the same stuffer is blocked everywhere, and nothing says otherwise', () => {
    const { decide } = runner();
    const r = decide([stuffer('198.51.100.7')]);
    expect(r.blocks).toHaveLength(1);
    expect(r.blocks[0].evidence.scope).toBeUndefined();
    expect('scope' in r.blocks[0].evidence).toBe(false);
  });

  it('a key that stuffs /login and also scans is blocked everywhere', () => {
    const { decide } = runner(ON);
    const r = decide([stuffer('198.51.100.7', { findings: [bruteforce, pathScan],
      features: features({ requests: 260, loginPosts: 220, notFound: 40, distinctNotFoundPaths: 40 }) })]);
    expect(r.blocks[0].evidence.scope).toBeUndefined();
  });

  it('IPv6: a /64 where one address stuffs logins and another scans is blocked everywhere, in this window and the next', () => {
    const { decide } = runner(ON);
    const stuffer = verdict('2001:db8:1:2::a', { findings: [bruteforce9], score: 9,
      features: features({ requests: 220, loginPosts: 220, failedLogins: 213 }) });
    const scanner = verdict('2001:db8:1:2::b', { findings: [pathScan2], score: 2,
      features: features({ requests: 400, notFound: 400, distinctNotFoundPaths: 400 }) });
    const r = decide([stuffer, scanner]);
    expect(r.blocks.map((b) => [b.target, b.evidence.scope])).toEqual([['2001:db8:1:2::/64', undefined]]);
    // The stuffer alone: its /64 stays blocked everywhere (nothing narrower is added beside it).
    const alone = runner(ON).decide([stuffer]);
    expect(alone.blocks.map((b) => b.evidence.scope)).toEqual([{ route: 'login' }]);
  });

  it('a stuffer that also sends a few other requests stays scoped; one that mostly does something else does not', () => {
    const { decide } = runner(ON);
    const mostly = decide([stuffer('198.51.100.7', { features: features({ requests: 105, loginPosts: 100 }) })]);
    expect(mostly.blocks[0].evidence.scope).toEqual(LOGIN_ROUTE);
    const half = decide([stuffer('198.51.100.8', { features: features({ requests: 200, loginPosts: 100 }) })]);
    expect(half.blocks[0].evidence.scope).toBeUndefined();
  });

  it('a route-scoped block active, the same key then scans: a block everywhere beside it (a narrow block never covers a wide one)', () => {
    const r = runner(ON);
    const first = r.decide([stuffer('198.51.100.7')]);
    expect(first.blocks[0].evidence.scope).toEqual(LOGIN_ROUTE);
    // Still stuffing a minute later: covered by its own route-scoped block, nothing new.
    const again = r.decide([stuffer('198.51.100.7')], { start: T, end: T + MIN, closedAt: NOW + MIN });
    expect(again.blocks).toEqual([]);
    // Now it scans as well: a new block, everywhere.
    const scans = r.decide([verdict('198.51.100.7', { findings: [pathScan], features: features({ requests: 50, notFound: 50 }) })],
      { start: T + MIN, end: T + 2 * MIN, closedAt: NOW + 2 * MIN });
    expect(scans.blocks).toHaveLength(1);
    expect(scans.blocks[0].evidence.scope).toBeUndefined();
    // And the projection holds it in the global set, no longer in the route set.
    const p = project(r.book.active(NOW + 2 * MIN), r.cfg);
    expect(p.ipSets.v4).toEqual(['198.51.100.7/32']);
    expect(p.ipSets.route).toEqual({ v4: [], v6: [] });
  });

  it('a block everywhere active: a route-scoped decision for the same key adds nothing', () => {
    const book = new LedgerBook([entry('198.51.100.7', { createdAt: T - MIN, expiresAt: T + HOUR })]);
    const r = runner(ON, book).decide([stuffer('198.51.100.7')]);
    expect(r.blocks).toEqual([]);
  });

  it('dry run: the alert says what would have been blocked, and on which route', () => {
    const r = runner({ ...ON, dryRun: true }).decide([stuffer('198.51.100.7')]);
    expect(r.decisions[0]).toMatchObject({ action: 'alert', evidence: { heldBack: 'dry-run', scope: LOGIN_ROUTE } });
  });

  it('three route-scoped hosts of one /24 make the /24 blocked on the login route, never everywhere', () => {
    const r = runner(ON);
    const hosts = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
    const out = r.decide(hosts.map((h) => stuffer(h)), { establishedByPrefix: new Map([['198.51.100.0/24', 0]]) });
    const agg = out.blocks.find((b) => b.target === '198.51.100.0/24');
    expect(agg?.evidence.scope).toEqual(LOGIN_ROUTE);
    const p = project(r.book.active(NOW), r.cfg);
    expect(p.ipSets.v4).toEqual([]);
    expect(p.ipSets.route?.v4).toEqual(['198.51.100.0/24']);
  });

  it('with three hosts blocked everywhere the /24 is blocked everywhere, whatever its route-scoped neighbours', () => {
    const r = runner(ON);
    const scanner = (h: string) => verdict(h, { findings: [pathScan], features: features({ requests: 50, notFound: 50 }) });
    const out = r.decide([scanner('198.51.100.1'), scanner('198.51.100.2'), scanner('198.51.100.3'), stuffer('198.51.100.4')],
      { establishedByPrefix: new Map([['198.51.100.0/24', 0]]) });
    const agg = out.blocks.find((b) => b.target === '198.51.100.0/24');
    expect(agg).toBeDefined();
    expect(agg?.evidence.scope).toBeUndefined();
  });
});

describe('project: route-scoped blocks in their own sets', () => {
  const scoped = (target: string, over = {}) => entry(target, { reasons: ['login-bruteforce'],
    evidence: { key: target, keyKind: 'ip', windowStart: T - MIN, windowEnd: T, findings: [], features: {}, held: '2/3', scope: LOGIN_ROUTE }, ...over });

  it('into the route sets, never the global ones, never the resource policy', () => {
    const p = project([scoped('198.51.100.7'), scoped('2001:db8:1:2::/64'), scoped('203.0.113.0/24'), entry('192.0.2.9')], parseConfig(ON));
    expect(p.ipSets.v4).toEqual(['192.0.2.9/32']);
    expect(p.ipSets.v6).toEqual([]);
    expect(p.ipSets.route).toEqual({ v4: ['198.51.100.7/32', '203.0.113.0/24'], v6: ['2001:db8:1:2::/64'] });
    // The policy cannot name a path: a route-scoped prefix would deny the whole API there.
    expect(p.deny.cidrs).toEqual([]);
  });

  it('a route-scoped block a global one already holds is left out of the route sets', () => {
    const p = project([scoped('198.51.100.7'), scoped('198.51.100.200'), entry('198.51.100.0/25'), scoped('10.0.0.1')], parseConfig(ON));
    expect(p.ipSets.v4).toEqual(['198.51.100.0/25']);
    expect(p.ipSets.route?.v4).toEqual(['10.0.0.1/32', '198.51.100.200/32']);
  });

  it('the allowlist and proxies are cut out of the route sets too', () => {
    const cfg = parseConfig({ ...ON, allowlist: { cidrs: ['203.0.113.77'] } });
    const p = project([scoped('203.0.113.0/24')], cfg);
    expect(p.ipSets.route?.v4).not.toContain('203.0.113.0/24');
    expect(p.ipSets.route?.v4.length).toBeGreaterThan(1);
  });

  it('stays in the route sets with the option turned off later: a decided block is never widened', () => {
    const p = project([scoped('198.51.100.7')], parseConfig({}));
    expect(p.ipSets.v4).toEqual([]);
    expect(p.ipSets.route?.v4).toEqual(['198.51.100.7/32']);
  });

  it('nothing route-scoped: no route member at all (as before the option)', () => {
    expect(project([entry('192.0.2.9')], parseConfig(ON)).ipSets).toEqual({ v4: ['192.0.2.9/32'], v6: [] });
  });
});
