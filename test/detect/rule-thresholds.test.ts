import { describe, expect, it } from 'vitest';
import { type CordonConfig, defaultConfig } from '../../src/config.ts';
import { newKeyState, selfZRequests, typicalRequests } from '../../src/detect/baseline.ts';
import { robustZ } from '../../src/detect/robust-stats.ts';
import { RULE_NAMES, RULES, ruleByName, type RuleName } from '../../src/detect/rules/index.ts';
import { clientRequests, finding, type RuleContext } from '../../src/detect/rules/rule.ts';
import type { Features } from '../../src/features/key-window.ts';
import type { KeyState } from '../../src/ports.ts';

// Each rule at its thresholds: just below (silent) and at them (a finding), with every threshold also moved off its
// default to show the rule reads it from the config.

const t = defaultConfig().thresholds;
type Thresholds = CordonConfig['thresholds'];
/** A large quiet crowd: median key at 3 requests, scale 1 (on log1p). */
const crowd = { median: Math.log1p(3), scale: 1, count: 1000 };

function features(over: Partial<Features>): Features {
  return { requests: 0, status4xx: 0, status5xx: 0, authFailures: 0, notFound: 0, throttled: 0, bytes: 0, meanLatencyMs: 30,
    loginPosts: 0, attackPayloads: 0, scannerAgentRequests: 0, trapHits: 0, failedLogins: 0, distinctPaths: 1, distinctNotFoundPaths: 0,
    distinctUserAgents: 1, distinctPrincipals: 0, distinctIps: 1, ...over };
}

function ctx(f: Partial<Features>, over: Partial<Omit<RuleContext, 'thresholds'>> & { th?: Partial<Thresholds> } = {}): RuleContext {
  const { th, ...rest } = over;
  return { kind: 'ip', state: undefined, trusted: false, population: crowd, populationLift: 1, incident: false,
    thresholds: { ...t, ...th }, horizons: [], horizonThresholds: defaultConfig().horizons, features: features(f), ...rest };
}

/** A state whose typical requests (and bytes) per window are the numbers given. */
function usual(requests: number, bytes = 0, over: Partial<KeyState> = {}): KeyState {
  return { ...newKeyState(0), reqMean: Math.log1p(requests), bytesMean: Math.log1p(bytes), reqVar: 0.01, windows: 30, ...over };
}

const rule = (name: RuleName) => RULES.find((x) => x.name === name)!;
const run = (name: RuleName, c: RuleContext) => rule(name).evaluate(c);

describe('finding and clientRequests', () => {
  it('a finding rounds its score to two decimals and carries what it was given', () => {
    expect(finding('flood', 7 / 6, true, 'x')).toEqual({ rule: 'flood', score: 1.17, unmistakable: true, detail: 'x' });
    expect(finding('path-scan', 1.005 * 1000, false, 'y')).toEqual({ rule: 'path-scan', score: 1005, unmistakable: false, detail: 'y' });
  });
  it('a client answers for its requests less the 5xx', () => {
    expect(clientRequests(features({ requests: 70, status5xx: 20 }))).toBe(50);
  });
});

describe('flood at its thresholds', () => {
  it('fires from floodMinRequests (600) client requests, not at 599; 5xx do not count', () => {
    expect(run('flood', ctx({ requests: 599 }))).toBeNull();
    expect(run('flood', ctx({ requests: 600 }))).toEqual({ rule: 'flood', score: 1, unmistakable: false,
      detail: `600 requests in the window, population z=${robustZ(Math.log1p(600), crowd).toFixed(1)}` });
    expect(run('flood', ctx({ requests: 700, status5xx: 100 }))?.score).toBe(1);
    expect(run('flood', ctx({ requests: 700, status5xx: 101 }))).toBeNull();
    expect(run('flood', ctx({ requests: 700 }))?.score).toBe(1.17);
  });

  it('reads floodMinRequests from the config', () => {
    const th = { floodMinRequests: 300 };
    expect(run('flood', ctx({ requests: 299 }, { th }))).toBeNull();
    expect(run('flood', ctx({ requests: 300 }, { th }))).toMatchObject({ score: 1, unmistakable: false });
    expect(run('flood', ctx({ requests: 900 }, { th }))?.score).toBe(3);
  });

  it('is unmistakable from floodUnmistakableRequests (1500), read from the config', () => {
    expect(run('flood', ctx({ requests: 1499 }))?.unmistakable).toBe(false);
    expect(run('flood', ctx({ requests: 1500 }))?.unmistakable).toBe(true);
    expect(run('flood', ctx({ requests: 1000 }, { th: { floodUnmistakableRequests: 1001 } }))?.unmistakable).toBe(false);
    expect(run('flood', ctx({ requests: 1000 }, { th: { floodUnmistakableRequests: 1000 } }))?.unmistakable).toBe(true);
  });

  it('behind a shared egress (natMinPrincipals or more principals on an IP or prefix) counts the rate per principal', () => {
    // 3,000 requests over 5 principals: 600 each, a flood at its threshold, not unmistakable.
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 5 }))).toEqual({ rule: 'flood', score: 1, unmistakable: false,
      detail: `600 requests in the window per principal (5 principals), population z=${robustZ(Math.log1p(600), crowd).toFixed(1)}` });
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 6 }))).toBeNull();
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 5 }, { kind: 'prefix' }))?.score).toBe(1);
    // Four principals are not a shared egress: the address's whole volume counts.
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 4 }))).toMatchObject({ score: 5, unmistakable: true });
    // A principal key is one client, whatever its features say.
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 6 }, { kind: 'principal' }))).toMatchObject({ score: 5, unmistakable: true });
    // natMinPrincipals from the config.
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 5 }, { th: { natMinPrincipals: 6 } }))).toMatchObject({ score: 5 });
    expect(run('flood', ctx({ requests: 3000, distinctPrincipals: 3 }, { th: { natMinPrincipals: 3 } }))).toMatchObject({ score: 1.67 });
  });

  it('must stand out from the crowd by populationZ, at the threshold exactly and from the config', () => {
    const z = robustZ(Math.log1p(800), crowd);
    expect(run('flood', ctx({ requests: 800 }, { th: { populationZ: z } }))).not.toBeNull();
    expect(run('flood', ctx({ requests: 800 }, { th: { populationZ: z + 1e-9 } }))).toBeNull();
    const busy = { median: Math.log1p(100), scale: 0.5, count: 50 };
    const zb = robustZ(Math.log1p(800), busy);
    expect(zb).toBeGreaterThan(4);
    expect(run('flood', ctx({ requests: 800 }, { population: busy }))?.detail).toBe(`800 requests in the window, population z=${zb.toFixed(1)}`);
    expect(run('flood', ctx({ requests: 800 }, { population: busy, th: { populationZ: zb + 0.01 } }))).toBeNull();
  });

  it('without a crowd of minPopulation keys, the absolute thresholds decide alone', () => {
    const flat = (count: number) => ({ median: Math.log1p(800), scale: 0.5, count });
    expect(run('flood', ctx({ requests: 800 }, { population: flat(10) }))).toBeNull();
    expect(run('flood', ctx({ requests: 800 }, { population: flat(9) }))).toEqual({ rule: 'flood', score: 1.33, unmistakable: false,
      detail: '800 requests in the window, too few clients to compare with' });
    expect(run('flood', ctx({ requests: 800 }, { population: flat(10), th: { minPopulation: 11 } }))).not.toBeNull();
    expect(run('flood', ctx({ requests: 800 }, { population: flat(0) }))).not.toBeNull();
  });

  it('a trusted key must reach 5x its usual volume, and 10x to be unmistakable', () => {
    const s = usual(200);
    expect(typicalRequests(s)).toBe(200);
    expect(run('flood', ctx({ requests: 999 }, { state: s, trusted: true }))).toBeNull();
    expect(run('flood', ctx({ requests: 1000 }, { state: s, trusted: true }))).toEqual({ rule: 'flood', score: 1.67, unmistakable: false,
      detail: `1000 requests in the window, population z=${robustZ(Math.log1p(1000), crowd).toFixed(1)}, 5x its usual 200` });
    expect(run('flood', ctx({ requests: 1999 }, { state: s, trusted: true }))?.unmistakable).toBe(false);
    expect(run('flood', ctx({ requests: 2000 }, { state: s, trusted: true }))?.unmistakable).toBe(true);
    // An untrusted history is not compared with: 1,000 requests flood, and 1,500 are unmistakable.
    expect(run('flood', ctx({ requests: 700 }, { state: s, trusted: false }))?.detail).not.toContain('usual');
    expect(run('flood', ctx({ requests: 1500 }, { state: s, trusted: false }))?.unmistakable).toBe(true);
    // A trusted key with no state to read is judged on the absolute thresholds.
    expect(run('flood', ctx({ requests: 1500 }, { state: undefined, trusted: true }))?.unmistakable).toBe(true);
  });

  it('a trusted key whose usual is under one request is compared with one', () => {
    const s = usual(0.5);
    expect(run('flood', ctx({ requests: 600 }, { state: s, trusted: true }))?.detail).toMatch(/, 600x its usual 1$/);
    expect(run('flood', ctx({ requests: 2000 }, { state: usual(0), trusted: true }))?.unmistakable).toBe(true);
  });

  it('says nothing during an incident', () => {
    expect(run('flood', ctx({ requests: 5000 }, { incident: true }))).toBeNull();
  });
});

describe('path-scan at its thresholds', () => {
  it('needs scanDistinct404 (10) distinct missing paths and half the requests answered 404', () => {
    expect(run('path-scan', ctx({ requests: 36, notFound: 18, distinctNotFoundPaths: 10 }))).toEqual({ rule: 'path-scan', score: 1,
      unmistakable: false, detail: '10 distinct missing paths, 18 of 36 requests answered 404' });
    expect(run('path-scan', ctx({ requests: 36, notFound: 18, distinctNotFoundPaths: 9 }))).toBeNull();
    expect(run('path-scan', ctx({ requests: 37, notFound: 18, distinctNotFoundPaths: 10 }))).toBeNull();
  });

  it('half the 404s stand in for distinct paths where only the template is logged', () => {
    expect(run('path-scan', ctx({ requests: 20, notFound: 20, distinctNotFoundPaths: 1 }))?.score).toBe(1);
    expect(run('path-scan', ctx({ requests: 19, notFound: 19, distinctNotFoundPaths: 1 }))).toBeNull();
    expect(run('path-scan', ctx({ requests: 60, notFound: 60, distinctNotFoundPaths: 12 }))?.score).toBe(3);
  });

  it('is unmistakable from twice the threshold', () => {
    expect(run('path-scan', ctx({ requests: 40, notFound: 38, distinctNotFoundPaths: 19 }))?.unmistakable).toBe(false);
    expect(run('path-scan', ctx({ requests: 40, notFound: 38, distinctNotFoundPaths: 20 }))?.unmistakable).toBe(true);
  });

  it('reads scanDistinct404 and scanNotFoundShare from the config', () => {
    const th = { scanDistinct404: 5, scanNotFoundShare: 0.8 };
    expect(run('path-scan', ctx({ requests: 10, notFound: 8, distinctNotFoundPaths: 5 }, { th }))?.score).toBe(1);
    expect(run('path-scan', ctx({ requests: 10, notFound: 7, distinctNotFoundPaths: 7 }, { th }))).toBeNull();
    expect(run('path-scan', ctx({ requests: 10, notFound: 8, distinctNotFoundPaths: 4 }, { th }))).toBeNull();
  });
});

describe('auth-failures at its thresholds', () => {
  it('needs authFailures (20) refusals that are half the client requests', () => {
    expect(run('auth-failures', ctx({ requests: 40, authFailures: 20 }))).toEqual({ rule: 'auth-failures', score: 1, unmistakable: false,
      detail: '20 of 40 requests refused with 401/403' });
    expect(run('auth-failures', ctx({ requests: 38, authFailures: 19 }))).toBeNull();
    expect(run('auth-failures', ctx({ requests: 41, authFailures: 20 }))).toBeNull();
    // 5xx are the server's: 20 refusals of 50 requests with 10 failing are half of the 40 the client answers for.
    expect(run('auth-failures', ctx({ requests: 50, status5xx: 10, authFailures: 20 }))?.score).toBe(1);
    expect(run('auth-failures', ctx({ requests: 50, status5xx: 9, authFailures: 20 }))).toBeNull();
  });

  it('is unmistakable from three times the threshold', () => {
    expect(run('auth-failures', ctx({ requests: 60, authFailures: 59 }))?.unmistakable).toBe(false);
    expect(run('auth-failures', ctx({ requests: 60, authFailures: 60 }))?.unmistakable).toBe(true);
  });

  it('reads authFailures and authFailureShare from the config', () => {
    const th = { authFailures: 5, authFailureShare: 0.9 };
    expect(run('auth-failures', ctx({ requests: 10, authFailures: 9 }, { th }))?.score).toBe(1.8);
    expect(run('auth-failures', ctx({ requests: 10, authFailures: 8 }, { th }))).toBeNull();
    expect(run('auth-failures', ctx({ requests: 4, authFailures: 4 }, { th }))).toBeNull();
  });
});

describe('login-bruteforce at its thresholds', () => {
  it('needs loginPosts (20) POSTs to a login path that are half the requests', () => {
    expect(run('login-bruteforce', ctx({ requests: 40, loginPosts: 20 }))).toEqual({ rule: 'login-bruteforce', score: 1,
      unmistakable: false, detail: '20 POSTs to login paths out of 40 requests' });
    expect(run('login-bruteforce', ctx({ requests: 38, loginPosts: 19 }))).toBeNull();
    expect(run('login-bruteforce', ctx({ requests: 41, loginPosts: 20 }))).toBeNull();
  });
  it('is unmistakable from three times the threshold, and reads loginPosts from the config', () => {
    expect(run('login-bruteforce', ctx({ requests: 60, loginPosts: 59 }))?.unmistakable).toBe(false);
    expect(run('login-bruteforce', ctx({ requests: 60, loginPosts: 60 }))?.unmistakable).toBe(true);
    expect(run('login-bruteforce', ctx({ requests: 10, loginPosts: 5 }, { th: { loginPosts: 5 } }))?.score).toBe(1);
    expect(run('login-bruteforce', ctx({ requests: 10, loginPosts: 4 }, { th: { loginPosts: 5 } }))).toBeNull();
  });
});

describe('attack-payload and scanner-agent at their thresholds', () => {
  it('attack-payload: from attackPayloads (5), unmistakable from twice that, threshold from the config', () => {
    expect(run('attack-payload', ctx({ requests: 50, attackPayloads: 4 }))).toBeNull();
    expect(run('attack-payload', ctx({ requests: 50, attackPayloads: 5 }))).toEqual({ rule: 'attack-payload', score: 1,
      unmistakable: false, detail: '5 of 50 requests carry attack payloads in the path' });
    expect(run('attack-payload', ctx({ requests: 50, attackPayloads: 9 }))?.unmistakable).toBe(false);
    expect(run('attack-payload', ctx({ requests: 50, attackPayloads: 10 }))?.unmistakable).toBe(true);
    expect(run('attack-payload', ctx({ requests: 50, attackPayloads: 2 }, { th: { attackPayloads: 2 } }))?.score).toBe(1);
    expect(run('attack-payload', ctx({ requests: 50, attackPayloads: 1 }, { th: { attackPayloads: 2 } }))).toBeNull();
  });
  it('scanner-agent: from scannerAgentRequests (5), unmistakable from twice that, threshold from the config', () => {
    expect(run('scanner-agent', ctx({ requests: 50, scannerAgentRequests: 4 }))).toBeNull();
    expect(run('scanner-agent', ctx({ requests: 50, scannerAgentRequests: 5 }))).toEqual({ rule: 'scanner-agent', score: 1,
      unmistakable: false, detail: "5 of 50 requests sent with an attack tool's user agent" });
    expect(run('scanner-agent', ctx({ requests: 50, scannerAgentRequests: 9 }))?.unmistakable).toBe(false);
    expect(run('scanner-agent', ctx({ requests: 50, scannerAgentRequests: 10 }))?.unmistakable).toBe(true);
    expect(run('scanner-agent', ctx({ requests: 50, scannerAgentRequests: 2 }, { th: { scannerAgentRequests: 2 } }))?.score).toBe(1);
    expect(run('scanner-agent', ctx({ requests: 50, scannerAgentRequests: 1 }, { th: { scannerAgentRequests: 2 } }))).toBeNull();
  });
});

describe('server-errors at its thresholds', () => {
  const base = { requests: 200, status5xx: 20, distinctPaths: 5 };
  it('needs serverErrors (20) 5xx, a tenth of the requests, over five paths; never unmistakable', () => {
    expect(run('server-errors', ctx(base))).toEqual({ rule: 'server-errors', score: 1, unmistakable: false,
      detail: '20 of 200 requests made the server fail (5xx) over 5 paths' });
    expect(run('server-errors', ctx({ ...base, status5xx: 19 }))).toBeNull();
    expect(run('server-errors', ctx({ ...base, requests: 201 }))).toBeNull();
    expect(run('server-errors', ctx({ ...base, distinctPaths: 4 }))).toBeNull();
    expect(run('server-errors', ctx({ ...base, status5xx: 200 }))).toMatchObject({ score: 10, unmistakable: false });
  });
  it('is silent during an incident, and reads serverErrors and serverErrorShare from the config', () => {
    expect(run('server-errors', ctx(base, { incident: true }))).toBeNull();
    const th = { serverErrors: 8, serverErrorShare: 0.5 };
    expect(run('server-errors', ctx({ requests: 16, status5xx: 8, distinctPaths: 5 }, { th }))?.score).toBe(1);
    expect(run('server-errors', ctx({ requests: 17, status5xx: 8, distinctPaths: 5 }, { th }))).toBeNull();
    expect(run('server-errors', ctx({ requests: 14, status5xx: 7, distinctPaths: 5 }, { th }))).toBeNull();
  });
});

describe('principal-many-ips at its thresholds', () => {
  const p = { kind: 'principal' as const };
  it('needs principalIps (10) addresses, and three times the usual for a trusted principal', () => {
    expect(run('principal-many-ips', ctx({ distinctIps: 9 }, p))).toBeNull();
    expect(run('principal-many-ips', ctx({ distinctIps: 10 }, p))).toEqual({ rule: 'principal-many-ips', score: 1, unmistakable: false,
      detail: 'used from 10 addresses in one window (usually 1.0)' });
    const s = usual(10, 0, { ipsMean: 4 });
    expect(run('principal-many-ips', ctx({ distinctIps: 11 }, { ...p, state: s, trusted: true }))).toBeNull();
    expect(run('principal-many-ips', ctx({ distinctIps: 12 }, { ...p, state: s, trusted: true }))?.detail)
      .toBe('used from 12 addresses in one window (usually 4.0)');
    // An untrusted history, or none, counts as one address.
    expect(run('principal-many-ips', ctx({ distinctIps: 10 }, { ...p, state: s, trusted: false }))?.detail).toContain('(usually 1.0)');
    expect(run('principal-many-ips', ctx({ distinctIps: 10 }, { ...p, state: undefined, trusted: true }))).not.toBeNull();
    // A usual under one address is taken as one.
    expect(run('principal-many-ips', ctx({ distinctIps: 10 }, { ...p, state: usual(10, 0, { ipsMean: 0.5 }), trusted: true }))?.detail)
      .toBe('used from 10 addresses in one window (usually 0.5)');
  });
  it('is unmistakable from twice the threshold, which comes from the config', () => {
    expect(run('principal-many-ips', ctx({ distinctIps: 19 }, p))?.unmistakable).toBe(false);
    expect(run('principal-many-ips', ctx({ distinctIps: 20 }, p))?.unmistakable).toBe(true);
    expect(run('principal-many-ips', ctx({ distinctIps: 4 }, { ...p, th: { principalIps: 4 } }))?.score).toBe(1);
    expect(run('principal-many-ips', ctx({ distinctIps: 3 }, { ...p, th: { principalIps: 3 } }))?.score).toBe(1);
    expect(run('principal-many-ips', ctx({ distinctIps: 3 }, { ...p, th: { principalIps: 4 } }))).toBeNull();
  });
});

describe('principal-volume at its thresholds', () => {
  const p = { kind: 'principal' as const, trusted: true };
  // Usuals whose log1p round trip is exact, so the factor is met exactly.
  const s = usual(20, 16384);
  it('needs principalVolumeFactor (10) times the usual requests, and at least 50 requests', () => {
    expect(typicalRequests(s)).toBe(20);
    expect(run('principal-volume', ctx({ requests: 199 }, { ...p, state: s }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 200 }, { ...p, state: s }))).toEqual({ rule: 'principal-volume', score: 1,
      unmistakable: false, detail: '200 requests (10.0x usual) and 0 bytes (0.0x usual)' });
    // 5xx are not the client's.
    expect(run('principal-volume', ctx({ requests: 220, status5xx: 21 }, { ...p, state: s }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 220, status5xx: 20 }, { ...p, state: s }))?.score).toBe(1);
    // Below 50 requests, nothing, however large the ratio.
    const tiny = usual(1);
    expect(run('principal-volume', ctx({ requests: 49 }, { ...p, state: tiny }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 50 }, { ...p, state: tiny }))?.score).toBe(5);
  });

  it('counts bytes too, against a usual of at least 1 KiB', () => {
    const busy = usual(200, 16384);
    expect(run('principal-volume', ctx({ requests: 50, bytes: 163_839 }, { ...p, state: busy }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 50, bytes: 163_840 }, { ...p, state: busy }))?.detail)
      .toBe('50 requests (0.3x usual) and 163840 bytes (10.0x usual)');
    const small = usual(200, 500);
    expect(run('principal-volume', ctx({ requests: 50, bytes: 10_239 }, { ...p, state: small }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 50, bytes: 10_240 }, { ...p, state: small }))?.score).toBe(1);
    // A usual under one request is taken as one.
    expect(run('principal-volume', ctx({ requests: 50 }, { ...p, state: usual(0.5, 16384) }))?.score).toBe(5);
  });

  it('divides out the population lift (a lift under one counts as one)', () => {
    expect(run('principal-volume', ctx({ requests: 400 }, { ...p, state: s, populationLift: 2 }))).toEqual({ rule: 'principal-volume',
      score: 1, unmistakable: false, detail: '400 requests (20.0x usual) and 0 bytes (0.0x usual), while everyone is 2.0x busier' });
    expect(run('principal-volume', ctx({ requests: 400 }, { ...p, state: s, populationLift: 2.01 }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 400 }, { ...p, state: s, populationLift: 1.5 }))?.detail)
      .toBe('400 requests (20.0x usual) and 0 bytes (0.0x usual)');
    expect(run('principal-volume', ctx({ requests: 400 }, { ...p, state: s, populationLift: 0.5 }))?.score).toBe(2);
  });

  it('is unmistakable from three times the factor, which comes from the config', () => {
    expect(run('principal-volume', ctx({ requests: 599 }, { ...p, state: s }))?.unmistakable).toBe(false);
    expect(run('principal-volume', ctx({ requests: 600 }, { ...p, state: s }))?.unmistakable).toBe(true);
    expect(run('principal-volume', ctx({ requests: 140 }, { ...p, state: s, th: { principalVolumeFactor: 7 } }))?.score).toBe(1);
    expect(run('principal-volume', ctx({ requests: 139 }, { ...p, state: s, th: { principalVolumeFactor: 7 } }))).toBeNull();
  });

  it('needs a trusted history and no incident', () => {
    expect(run('principal-volume', ctx({ requests: 1000 }, { ...p, state: s, trusted: false }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 1000 }, { ...p, state: undefined }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 1000 }, { ...p, state: s, incident: true }))).toBeNull();
    expect(run('principal-volume', ctx({ requests: 1000 }, { ...p, state: s }))).not.toBeNull();
  });
});

describe('volume-anomaly at its thresholds', () => {
  const flat = { median: 0, scale: 1, count: 100 };
  const s = usual(5);
  const c = (requests: number, over: Parameters<typeof ctx>[1] = {}) =>
    ctx({ requests }, { state: s, trusted: true, population: flat, ...over });

  it('looks from a quarter of floodMinRequests (150), read from the config', () => {
    expect(run('volume-anomaly', c(149))).toBeNull();
    const self = selfZRequests(s, 150);
    const pop = robustZ(Math.log1p(150), flat);
    expect(run('volume-anomaly', c(150))).toEqual({ rule: 'volume-anomaly', score: Math.round(Math.min(self / 6, pop / 4) * 100) / 100,
      unmistakable: false, detail: `150 requests against a usual 5: self z=${self.toFixed(1)}, population z=${pop.toFixed(1)}` });
    expect(Math.min(self / 6, pop / 4)).not.toBeCloseTo(Math.max(self / 6, pop / 4), 1);
    expect(run('volume-anomaly', c(100, { th: { floodMinRequests: 400 } }))).not.toBeNull();
    expect(run('volume-anomaly', c(99, { th: { floodMinRequests: 400 } }))).toBeNull();
  });

  it('must reach selfZ against its own history and populationZ against the crowd, exactly at the thresholds', () => {
    const self = selfZRequests(s, 300);
    const pop = robustZ(Math.log1p(300), flat);
    expect(run('volume-anomaly', c(300, { th: { selfZ: self } }))?.score).toBe(1);
    expect(run('volume-anomaly', c(300, { th: { selfZ: self + 1e-9 } }))).toBeNull();
    expect(run('volume-anomaly', c(300, { th: { populationZ: pop } }))?.score).toBe(1);
    expect(run('volume-anomaly', c(300, { th: { populationZ: pop + 1e-9 } }))).toBeNull();
  });

  it('leaves a shared egress IP alone, not a principal', () => {
    expect(run('volume-anomaly', c(300, { features: features({ requests: 300, distinctPrincipals: 5 }) }))).toBeNull();
    expect(run('volume-anomaly', c(300, { features: features({ requests: 300, distinctPrincipals: 4 }) }))).not.toBeNull();
    expect(run('volume-anomaly', c(300, { kind: 'principal', features: features({ requests: 300, distinctPrincipals: 5 }) }))).not.toBeNull();
    expect(run('volume-anomaly', c(300, { features: features({ requests: 300, distinctPrincipals: 5 }), th: { natMinPrincipals: 6 } })))
      .not.toBeNull();
  });

  it('needs a trusted history and no incident; 5xx do not count', () => {
    expect(run('volume-anomaly', c(300, { trusted: false }))).toBeNull();
    expect(run('volume-anomaly', c(300, { state: undefined }))).toBeNull();
    expect(run('volume-anomaly', c(300, { incident: true }))).toBeNull();
    expect(run('volume-anomaly', c(300, { features: features({ requests: 300, status5xx: 151 }) }))).toBeNull();
    expect(run('volume-anomaly', c(300, { features: features({ requests: 300, status5xx: 150 }) }))?.detail)
      .toMatch(/^150 requests against a usual 5/);
  });
});

describe('the registry declares what each rule looks at and what it rests on', () => {
  it('finds each rule by its name, and nothing by another', () => {
    for (const name of RULE_NAMES) expect(ruleByName(name)?.name).toBe(name);
    expect(ruleByName('flood')).toBe(RULES[0]);
    for (const r of RULES) expect(ruleByName(r.name)).toBe(r);
    expect(ruleByName('nope' as RuleName)).toBeUndefined();
  });

  it('kinds and basis of every rule', () => {
    expect(Object.fromEntries(RULES.map((r) => [r.name, { kinds: [...r.kinds], basis: r.basis }]))).toEqual({
      'flood': { kinds: ['ip', 'prefix', 'principal'], basis: 'volume' },
      'path-scan': { kinds: ['ip', 'prefix', 'principal'], basis: 'behaviour' },
      'auth-failures': { kinds: ['ip', 'prefix', 'principal'], basis: 'behaviour' },
      'login-bruteforce': { kinds: ['ip', 'prefix', 'principal'], basis: 'behaviour' },
      'principal-many-ips': { kinds: ['principal'], basis: 'behaviour' },
      'principal-volume': { kinds: ['principal'], basis: 'volume' },
      'volume-anomaly': { kinds: ['ip', 'principal'], basis: 'volume' },
      'attack-payload': { kinds: ['ip', 'prefix', 'principal'], basis: 'behaviour' },
      'server-errors': { kinds: ['ip', 'principal'], basis: 'behaviour' },
      'scanner-agent': { kinds: ['ip', 'prefix', 'principal'], basis: 'behaviour' },
      'trap-route': { kinds: ['ip', 'principal'], basis: 'behaviour' },
      'enumeration': { kinds: ['ip', 'principal'], basis: 'behaviour' },
      'ramp': { kinds: ['ip', 'principal'], basis: 'volume' },
      'campaign': { kinds: ['ip'], basis: 'behaviour' },
    });
  });
});
