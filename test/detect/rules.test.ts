import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config.ts';
import { newKeyState, learn } from '../../src/detect/baseline.ts';
import { RULE_NAMES, RULES, type RuleName } from '../../src/detect/rules/index.ts';
import type { RuleContext } from '../../src/detect/rules/rule.ts';
import type { Features } from '../../src/features/key-window.ts';
import type { KeyState } from '../../src/ports.ts';

const t = defaultConfig().thresholds;
const crowd = { median: Math.log1p(3), scale: 1, count: 1000 };

function features(over: Partial<Features>): Features {
  return { requests: 0, status4xx: 0, status5xx: 0, authFailures: 0, notFound: 0, throttled: 0, bytes: 0, meanLatencyMs: 30,
    loginPosts: 0, attackPayloads: 0, scannerAgentRequests: 0, trapHits: 0, failedLogins: 0, distinctPaths: 1, distinctNotFoundPaths: 0,
    distinctUserAgents: 1, distinctPrincipals: 0, distinctIps: 1, ...over };
}

function ctx(over: Partial<RuleContext> & { f: Features }): RuleContext {
  return { kind: 'ip', state: undefined, trusted: false, population: crowd, populationLift: 1, incident: false, thresholds: t,
    horizons: [], horizonThresholds: defaultConfig().horizons, features: over.f, ...over };
}

function history(requests: number, windows = 30, ips = 1, bytes = requests * 1000): KeyState {
  const s = newKeyState(0);
  for (let i = 0; i < windows; i++) learn(s, requests, bytes, ips, 0.1);
  return s;
}

const rule = (name: RuleName) => {
  const r = RULES.find((x) => x.name === name);
  if (!r) throw new Error(name);
  return r;
};

describe('flood', () => {
  const flood = rule('flood');
  it('flags a client far above the crowd, unmistakably past the hard threshold', () => {
    const f = flood.evaluate(ctx({ f: features({ requests: 3000 }) }));
    expect(f).toMatchObject({ rule: 'flood', unmistakable: true });
    expect(f!.score).toBeCloseTo(5, 1);
  });
  it('leaves a shared egress alone when the rate per principal is ordinary (NAT gateway)', () => {
    expect(flood.evaluate(ctx({ f: features({ requests: 3000, distinctPrincipals: 400 }) }))).toBeNull();
  });
  it('does not blame a client for the server failing (5xx are not counted)', () => {
    expect(flood.evaluate(ctx({ f: features({ requests: 700, status5xx: 200 }) }))).toBeNull();
  });
  it('is silent during a server-side incident', () => {
    expect(flood.evaluate(ctx({ f: features({ requests: 5000 }), incident: true }))).toBeNull();
  });
  it('does not fire when the whole crowd is as busy (flash crowd)', () => {
    const busyCrowd = { median: Math.log1p(900), scale: 0.8, count: 1000 };
    expect(flood.evaluate(ctx({ f: features({ requests: 1200 }), population: busyCrowd }))).toBeNull();
  });
  it('a steady heavy client is normal for itself', () => {
    const s = history(1000);
    expect(flood.evaluate(ctx({ f: features({ requests: 1100 }), state: s, trusted: true }))).toBeNull();
    expect(flood.evaluate(ctx({ f: features({ requests: 9000 }), state: s, trusted: true }))).not.toBeNull();
  });
  it('with too few clients to compare with, absolute thresholds decide alone', () => {
    const tiny = { median: Math.log1p(2000), scale: 0.5, count: 2 };
    expect(flood.evaluate(ctx({ f: features({ requests: 2000 }), population: tiny }))?.unmistakable).toBe(true);
  });
});

describe('path-scan', () => {
  const scan = rule('path-scan');
  it('flags many distinct missing paths', () => {
    expect(scan.evaluate(ctx({ f: features({ requests: 40, notFound: 32, distinctNotFoundPaths: 28 }) }))).toMatchObject({ rule: 'path-scan', unmistakable: true });
  });
  it('ignores a crawler with a few 404s among many hits', () => {
    expect(scan.evaluate(ctx({ f: features({ requests: 60, notFound: 4, distinctNotFoundPaths: 4 }) }))).toBeNull();
  });
  it('uses the 404 count where only the resource template is logged (console presets)', () => {
    expect(scan.evaluate(ctx({ f: features({ requests: 120, notFound: 96, distinctNotFoundPaths: 1 }) }))).not.toBeNull();
  });
});

describe('auth-failures and login-bruteforce', () => {
  it('flags credential stuffing by 401/403 share', () => {
    expect(rule('auth-failures').evaluate(ctx({ f: features({ requests: 400, authFailures: 384 }) }))?.unmistakable).toBe(true);
    expect(rule('auth-failures').evaluate(ctx({ f: features({ requests: 400, authFailures: 30 }) }))).toBeNull();
  });
  it('flags POST runs to a login path even when failures answer 200', () => {
    expect(rule('login-bruteforce').evaluate(ctx({ f: features({ requests: 251, loginPosts: 250 }) }))?.unmistakable).toBe(true);
    expect(rule('login-bruteforce').evaluate(ctx({ f: features({ requests: 100, loginPosts: 10 }) }))).toBeNull();
  });
});

describe('principal rules', () => {
  it('principal-many-ips: credentials used from many addresses', () => {
    const r = rule('principal-many-ips');
    expect(r.evaluate(ctx({ kind: 'principal', f: features({ requests: 200, distinctIps: 36 }) }))).not.toBeNull();
    expect(r.evaluate(ctx({ kind: 'principal', f: features({ requests: 200, distinctIps: 36 }), state: history(200, 30, 30), trusted: true }))).toBeNull();
    expect(r.evaluate(ctx({ kind: 'principal', f: features({ requests: 20, distinctIps: 2 }) }))).toBeNull();
  });
  it('principal-volume: far above its own history, and only with a trusted history', () => {
    const r = rule('principal-volume');
    const s = history(4);
    expect(r.evaluate(ctx({ kind: 'principal', f: features({ requests: 80, bytes: 80_000 }), state: s, trusted: true }))).not.toBeNull();
    expect(r.evaluate(ctx({ kind: 'principal', f: features({ requests: 8, bytes: 8_000 }), state: s, trusted: true }))).toBeNull();
    expect(r.evaluate(ctx({ kind: 'principal', f: features({ requests: 80, bytes: 80_000 }), state: s, trusted: false }))).toBeNull();
  });
  it('principal-volume: a flash crowd that lifts every principal is not theft', () => {
    const r = rule('principal-volume');
    const f = features({ requests: 90, bytes: 90_000 });
    expect(r.evaluate(ctx({ kind: 'principal', f, state: history(6), trusted: true, populationLift: 5 }))).toBeNull();
    expect(r.evaluate(ctx({ kind: 'principal', f, state: history(6), trusted: true, populationLift: 1 }))).not.toBeNull();
  });
  it('volume-anomaly: above self and population, never unmistakable', () => {
    const r = rule('volume-anomaly');
    const f = r.evaluate(ctx({ f: features({ requests: 400 }), state: history(5), trusted: true }));
    expect(f).toMatchObject({ rule: 'volume-anomaly', unmistakable: false });
    expect(r.evaluate(ctx({ f: features({ requests: 400 }), state: history(300), trusted: true }))).toBeNull();
  });
});

describe('attack-payload, server-errors, scanner-agent', () => {
  it('attack payloads in paths', () => {
    expect(rule('attack-payload').evaluate(ctx({ f: features({ requests: 20, attackPayloads: 12 }) }))?.unmistakable).toBe(true);
    expect(rule('attack-payload').evaluate(ctx({ f: features({ requests: 20, attackPayloads: 2 }) }))).toBeNull();
  });
  it('server errors provoked across many paths, not during an incident, not on one broken endpoint', () => {
    const r = rule('server-errors');
    expect(r.evaluate(ctx({ f: features({ requests: 200, status5xx: 40, distinctPaths: 30 }) }))).not.toBeNull();
    expect(r.evaluate(ctx({ f: features({ requests: 200, status5xx: 40, distinctPaths: 30 }), incident: true }))).toBeNull();
    expect(r.evaluate(ctx({ f: features({ requests: 200, status5xx: 40, distinctPaths: 1 }) }))).toBeNull();
  });
  it('attack-tool user agents', () => {
    expect(rule('scanner-agent').evaluate(ctx({ f: features({ requests: 30, scannerAgentRequests: 30 }) }))?.unmistakable).toBe(true);
  });
});

describe('typed features and rule names', () => {
  it('a misspelt feature or rule name does not compile (tsc runs over this file)', () => {
    const f = features({ requests: 3 });
    // @ts-expect-error: there is no feature `requestz`
    expect(f.requestz).toBeUndefined();
    // @ts-expect-error: nor can a window be made up with one
    expect(features({ requestz: 3 }).requests).toBe(0);
    // @ts-expect-error: there is no rule `flod`
    expect(() => rule('flod')).toThrow();
    // @ts-expect-error: a finding names a rule of the registry
    const misnamed: RuleName = 'flod';
    expect(RULE_NAMES).not.toContain(misnamed);
  });

  it('the registry names each rule once, and those are the rule names', () => {
    const names = RULES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...RULE_NAMES]).toEqual(names);
  });
});
