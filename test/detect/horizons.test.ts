import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { decodeKeyState, decodeSlowEvidence, encodeKeyState, newKeyState } from '../../src/detect/baseline.ts';
import { Detector, type StateView, type WindowAssessment } from '../../src/detect/detector.ts';
import { addWindow, horizonsAt, isPlausibleEvidence } from '../../src/detect/horizons.ts';
import type { AccessEvent } from '../../src/events.ts';
import type { Features } from '../../src/features/key-window.ts';
import { ipKey } from '../../src/features/keys.ts';
import { windowerFor } from '../../src/engine/ingest.ts';
import type { KeyState } from '../../src/ports.ts';
import { MIN, spread, T0 } from '../helpers/events.ts';

// Evidence at horizons longer than a window: attackers under every per-minute threshold, and the benign clients
// that look like them (a stale link polled every minute, a missing permission, a forgotten password, steady heavy
// users, a flash crowd).

type Traffic = (start: number, minute: number) => AccessEvent[];

function detector(over: Record<string, unknown> = {}) {
  const cfg = parseConfig({ learning: { windows: 0 }, ...over });
  const map = new Map<string, KeyState>();
  const states: StateView = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
  const d = new Detector(cfg);
  return {
    map,
    at(m: number, traffic: Traffic): WindowAssessment {
      const w = windowerFor(cfg);
      for (const e of traffic(T0 + m * MIN, m)) w.add(e);
      const closed = w.closeAll();
      return d.assess(closed[0], states);
    },
  };
}

/** 100 quiet clients, 3 requests a minute each: the crowd every window is judged against. */
const crowd: Traffic = (s) => Array.from({ length: 100 }, (_, i) => spread(3, s, () => ({ ip: `203.0.${i % 3}.${i + 1}` }))).flat();
const both = (...ts: Traffic[]): Traffic => (s, m) => ts.flatMap((t) => t(s, m));

/** The first minute at which `ip` acts, running `minutes` windows of `traffic`. */
function firstAct(traffic: Traffic, ip: string, minutes: number, over: Record<string, unknown> = {}) {
  const d = detector(over);
  for (let m = 0; m < minutes; m++) {
    const v = d.at(m, traffic).verdicts.find((x) => x.value === ip && x.act);
    if (v) return { minute: m, findings: v.findings };
  }
  return null;
}

const SCANNER = '198.51.100.9';
/** Three new missing paths a minute, and one page that exists: far under 10 distinct 404s a minute. */
const slowScanner: Traffic = (s, m) => spread(4, s, (i) => i === 3 ? { ip: SCANNER, path: '/' } : { ip: SCANNER, path: `/backup-${m}-${i}.zip`, status: 404 });

describe('a slow path scanner', () => {
  it('is contained from the longer horizon well within 15 minutes, the finding naming its horizon', () => {
    const hit = firstAct(both(crowd, slowScanner), SCANNER, 20);
    expect(hit).not.toBeNull();
    expect(hit!.minute).toBeLessThanOrEqual(8);
    const scan = hit!.findings.find((f) => f.rule === 'path-scan');
    expect(scan?.horizon).toBeDefined();
    expect(scan?.detail).toMatch(/over the last (10 minutes|hour): \d+ distinct missing paths/);
  });

  it('is not caught with horizons turned off (today\'s per-minute rules alone miss it)', () => {
    expect(firstAct(both(crowd, slowScanner), SCANNER, 20, { horizons: { enabled: false } })).toBeNull();
  });

  it('a client polling one missing path every minute for two hours is never a scan', () => {
    const poller: Traffic = (s) => spread(3, s, () => ({ ip: SCANNER, path: '/v1/items/42', status: 404 }));
    expect(firstAct(both(crowd, poller), SCANNER, 120)).toBeNull();
  });

  it('a busy client with a missing path now and then is never a scan', () => {
    const busy: Traffic = (s, m) => spread(30, s, (i) => (i === 0 ? { ip: SCANNER, path: `/old-${m}`, status: 404 } : { ip: SCANNER }));
    expect(firstAct(both(crowd, busy), SCANNER, 90)).toBeNull();
  });
});

const GUESSER = '192.0.2.77';
const failedLogins = (ip: string, n: number): Traffic => (s) => spread(n, s, () => ({ ip, method: 'POST', path: '/login', resource: '/login', status: 401 }));

describe('slow password guessing', () => {
  it('three failed logins a minute are contained within 10 minutes (fail2ban\'s jail would too)', () => {
    const hit = firstAct(both(crowd, failedLogins(GUESSER, 3)), GUESSER, 20);
    expect(hit?.minute).toBeLessThanOrEqual(10);
    expect(hit!.findings.map((f) => f.rule)).toContain('auth-failures');
  });

  it('a user who forgets a password (five failures, then a success and an hour of browsing) is not', () => {
    const user: Traffic = (s, m) => m < 2 ? spread(3, s, (i) => ({ ip: GUESSER, method: 'POST', path: '/login', resource: '/login', status: m === 1 && i === 2 ? 200 : 401 }))
      : spread(8, s, () => ({ ip: GUESSER }));
    expect(firstAct(both(crowd, user), GUESSER, 60)).toBeNull();
  });

  it('a service refused one resource every minute (a missing permission) is a misconfiguration, not an attack', () => {
    const refused: Traffic = (s) => spread(4, s, () => ({ ip: GUESSER, path: '/admin/report', resource: '/admin/report', status: 403 }));
    expect(firstAct(both(crowd, refused), GUESSER, 60)).toBeNull();
  });

  it('a cron job that signs in every minute and is then refused twice elsewhere is not guessing passwords', () => {
    const cron: Traffic = (s) => spread(3, s, (i) => i === 0 ? { ip: GUESSER, method: 'POST', path: '/login', resource: '/login', status: 200 }
      : { ip: GUESSER, path: '/admin/report', resource: '/admin/report', status: 403 });
    expect(firstAct(both(crowd, cron), GUESSER, 90)).toBeNull();
  });

  it('a monitor that signs in successfully every 30 seconds for two hours is never blocked', () => {
    const monitor: Traffic = (s) => spread(2, s, () => ({ ip: GUESSER, method: 'POST', path: '/login', resource: '/login', status: 200 }));
    expect(firstAct(both(crowd, monitor), GUESSER, 120)).toBeNull();
  });
});

describe('object enumeration', () => {
  it('an app refreshing a list with seven deleted ids every five minutes is not walking ids', () => {
    const APP = '192.0.2.98';
    const refresh: Traffic = (s, m) => m % 5 === 0
      ? spread(10, s, (i) => i < 7 ? { ip: APP, path: `/orders/${900 + i}`, resource: '/orders/{id}', status: 404 } : { ip: APP })
      : spread(2, s, () => ({ ip: APP }));
    expect(firstAct(both(crowd, refresh), APP, 120)).toBeNull();
  });

  const WALKER = '192.0.2.99';
  it('a principal walking ids it does not own, mostly 403 and 404, is contained within 10 minutes', () => {
    let id = 1000;
    const walker: Traffic = (s) => spread(6, s, (i) => ({ ip: WALKER, principal: 'arn:aws:iam::123456789012:user/walker',
      path: `/orders/${id++}`, resource: '/orders/{id}', status: i % 2 === 0 ? 403 : i % 3 === 0 ? 200 : 404 }));
    const hit = firstAct(both(crowd, walker), WALKER, 15);
    expect(hit?.minute).toBeLessThanOrEqual(10);
    expect(hit!.findings.some((f) => f.horizon !== undefined)).toBe(true);
  });
});

describe('a ramping flood', () => {
  const RAMP = '198.51.100.200';
  it('growing 1.2x a minute from an ordinary rate is contained before it reaches a flood\'s 600 a minute, within 15 minutes', () => {
    const ramp: Traffic = (s, m) => spread(Math.round(10 * 1.2 ** m), s, () => ({ ip: RAMP }));
    const hit = firstAct(both(crowd, ramp), RAMP, 30);
    expect(hit?.minute).toBeLessThanOrEqual(15);
    expect(Math.round(10 * 1.2 ** hit!.minute)).toBeLessThan(600);
  });

  it('growing 1.5x a minute, it is contained within 15 minutes (once past a flood\'s floor, as a flood against its own bounded history)', () => {
    const ramp: Traffic = (s, m) => spread(Math.round(10 * 1.5 ** m), s, () => ({ ip: RAMP }));
    const hit = firstAct(both(crowd, ramp), RAMP, 30);
    expect(hit?.minute).toBeLessThanOrEqual(13);
  });

  it('a steady heavy SDK user (300 a minute for two hours) is never taken for one', () => {
    const heavy: Traffic = (s) => spread(300, s, () => ({ ip: RAMP }));
    expect(firstAct(both(crowd, heavy), RAMP, 120)).toBeNull();
  });

  it('a client whose first window was a partial minute reaches its real rate without being flagged', () => {
    const partial: Traffic = (s, m) => spread(m === 0 ? 3 : 150, s, () => ({ ip: RAMP }));
    expect(firstAct(both(crowd, partial), RAMP, 60)).toBeNull();
  });
});

describe('slow evidence in every store', () => {
  const f = (over: Partial<Features>): Features => ({ requests: 0, status4xx: 0, status5xx: 0, authFailures: 0, notFound: 0,
    throttled: 0, bytes: 0, meanLatencyMs: -1, loginPosts: 0, attackPayloads: 0, scannerAgentRequests: 0, trapHits: 0, failedLogins: 0,
    distinctPaths: 1, distinctNotFoundPaths: 0, distinctUserAgents: 1, distinctPrincipals: 0, distinctIps: 1, ...over });
  const paths = (...hs: number[]) => (fn: (h: number) => void) => hs.forEach(fn);

  it('is created only on a sign, and a redelivered window is not counted twice', () => {
    expect(addWindow(undefined, T0, MIN, f({ requests: 5 }), paths())).toBeUndefined();
    const once = addWindow(undefined, T0, MIN, f({ requests: 4, notFound: 3, distinctNotFoundPaths: 3 }), paths(1, 2, 3))!;
    const twice = addWindow(once, T0, MIN, f({ requests: 4, notFound: 3, distinctNotFoundPaths: 3 }), paths(1, 2, 3))!;
    expect(twice).toEqual(once);
    expect(horizonsAt(once, T0, MIN)[1]).toMatchObject({ horizon: '1h', requests: 4, notFound: 3, distinctNotFoundPaths: 3 });
  });

  it('an older window (closed again, or out of order) is not added; distinct missing paths count once across windows', () => {
    let e = addWindow(undefined, T0, MIN, f({ requests: 2, notFound: 2, distinctNotFoundPaths: 2 }), paths(11, 12))!;
    e = addWindow(e, T0 + 10 * MIN, MIN, f({ requests: 2, notFound: 2, distinctNotFoundPaths: 2 }), paths(11, 13))!;
    const again = addWindow(e, T0, MIN, f({ requests: 2, notFound: 2, distinctNotFoundPaths: 2 }), paths(11, 12))!;
    expect(again).toEqual(e);
    const [short, long] = horizonsAt(e, T0 + 10 * MIN, MIN);
    expect(short.notFound).toBeCloseTo(2 + 2 * Math.exp(-1), 5);
    expect(long.distinctNotFoundPaths).toBe(3);
  });

  it('round-trips through the snapshot encoding, and a damaged entry is refused, not trusted', () => {
    const s = { ...newKeyState(T0), windows: 3, slow: addWindow(undefined, T0, MIN, f({ requests: 3, authFailures: 3, loginPosts: 3 }), paths())! };
    const back = decodeKeyState(encodeKeyState(s));
    expect(back).toEqual(s);
    expect(decodeKeyState(encodeKeyState(newKeyState(T0)))).toEqual(newKeyState(T0));
    expect(decodeKeyState(`${encodeKeyState(newKeyState(T0))};1,2,x`)).toBeNull();
    expect(isPlausibleEvidence([...s.slow.slice(0, 14), -5])).toBe(false);
  });

  it('fades and is dropped after a quiet day', () => {
    const d = detector();
    d.at(0, both(crowd, slowScanner));
    expect(d.map.get(ipKey(SCANNER))?.slow).toBeDefined();
    d.at(24 * 60, both(crowd, (s) => spread(2, s, () => ({ ip: SCANNER }))));
    expect(d.map.get(ipKey(SCANNER))?.slow).toBeUndefined();
  });
});

describe('a credential-stuffing campaign from unrelated networks', () => {
  const members = Array.from({ length: 40 }, (_, i) => `${11 + i}.${(i * 37) % 256}.${(i * 11) % 256}.${1 + i}`);
  const stuffing = (perMinute: number): Traffic => (s) => members.flatMap((ip) => failedLogins(ip, perMinute)(s, 0));
  /** A user who mistypes twice, then gets in, in the middle of it. */
  const USER = '203.0.113.5';
  const forgetful: Traffic = (s, m) => m === 3 ? spread(3, s, (i) => ({ ip: USER, method: 'POST', path: '/login', resource: '/login', status: i < 2 ? 401 : 200 }))
    : spread(3, s, () => ({ ip: USER }));
  /** Benign failed logins now and then: a few users a minute fail once. */
  const occasional: Traffic = (s, m) => [0, 1].map((i) => ({ ...failedLogins(`203.0.1.${(m * 2 + i) % 250}`, 1)(s, m)[0] }));

  it('members trying five times a minute each are contained within 5 minutes, with the campaign named in the evidence', () => {
    const d = detector();
    for (let m = 0; m < 10; m++) d.at(m, both(crowd, occasional, forgetful));
    const acted = new Map<string, number>();
    for (let m = 10; m < 16; m++) {
      const a = d.at(m, both(crowd, occasional, forgetful, stuffing(5)));
      for (const v of a.verdicts) if (v.act && !acted.has(v.value)) acted.set(v.value, m - 10);
      const member = a.verdicts.find((v) => v.value === members[0]);
      if (member) expect(member.findings.find((f) => f.rule === 'campaign')?.detail).toMatch(/campaign: \d+ failed logins across the API.* from 4\d clients/);
    }
    for (const ip of members) expect(acted.get(ip), ip).toBeLessThanOrEqual(4);
    expect(acted.has(USER)).toBe(false);
    expect([...acted.keys()].filter((ip) => ip.startsWith('203.'))).toEqual([]);
  });

  it('members trying once a minute each are contained within 15 minutes; without the campaign and the horizons none is', () => {
    const d = detector();
    for (let m = 0; m < 10; m++) d.at(m, both(crowd, occasional));
    const acted = new Map<string, number>();
    for (let m = 10; m < 26; m++) {
      for (const v of d.at(m, both(crowd, occasional, stuffing(1))).verdicts) if (v.act && !acted.has(v.value)) acted.set(v.value, m - 10);
    }
    for (const ip of members) expect(acted.get(ip), ip).toBeLessThanOrEqual(15);
    const off = detector({ rules: { campaign: 'off' }, horizons: { enabled: false } });
    for (let m = 0; m < 26; m++) expect(off.at(m, both(crowd, occasional, m >= 10 ? stuffing(1) : () => [])).verdicts.filter((v) => v.act)).toEqual([]);
  });

  it('benign failed logins alone, a few a minute for two hours, make no campaign and no member', () => {
    const d = detector();
    for (let m = 0; m < 120; m++) {
      const a = d.at(m, both(crowd, occasional, forgetful));
      expect(a.verdicts.filter((v) => v.findings.some((f) => f.rule === 'campaign'))).toEqual([]);
    }
  });
});

describe('a scanner hopping to a fresh /64 every half minute (IPv6), or across /24s (IPv4)', () => {
  const P48 = '2001:db8:77';
  /**
   * Ten probes a half minute, each /64 used once, from three of its addresses: never ten missing paths in one /64.
   * `spread` hextet steps of 1 stay inside one /56; steps of 256 move to a new /56 each time.
   */
  const hopper = (step: number): Traffic => (s, m) => [0, 1].flatMap((half) => spread(10, s, (i) => ({
    ip: `${P48}:${((m * 2 + half) * step).toString(16)}::${1 + (i % 3)}`, path: `/probe-${m}-${half}-${i}.php`, status: 404,
    time: s + half * 30_000 + i * 2000 })));
  const v6crowd: Traffic = (s) => Array.from({ length: 30 }, (_, i) => spread(3, s, () => ({ ip: `2001:db8:${100 + i}::1` }))).flat();

  function firstWideAct(traffic: Traffic, over: Record<string, unknown> = {}) {
    const d = detector(over);
    for (let m = 0; m < 25; m++) {
      const v = d.at(m, traffic).verdicts.find((x) => x.kind === 'prefix' && x.act && !x.value.endsWith('/64') && !x.value.endsWith('/24'));
      if (v) return { minute: m, value: v.value, rules: v.findings.map((f) => f.rule) };
    }
    return null;
  }

  it('inside one /56, the /56 is contained (the narrowest prefix that holds it), on behaviour, within 15 minutes', () => {
    const hit = firstWideAct(both(crowd, v6crowd, hopper(1)));
    expect(hit).toMatchObject({ value: `${P48}::/56` });
    expect(hit!.minute).toBeLessThanOrEqual(14);
    expect(hit!.rules).toContain('path-scan');
  });

  it('across /56s, its /48 is contained; with wide prefixes off, nothing is', () => {
    expect(firstWideAct(both(crowd, v6crowd, hopper(256)))).toMatchObject({ value: `${P48}::/48` });
    const off = detector({ aggregation: { ipv6WidePrefixes: [] } });
    for (let m = 0; m < 15; m++) expect(off.at(m, both(crowd, v6crowd, hopper(256))).verdicts.filter((x) => x.act)).toEqual([]);
  });

  it('a busy /48 of many ordinary hosts is never judged on volume, and a /48 active in one /64 is left to that /64', () => {
    const office: Traffic = (s) => Array.from({ length: 40 }, (_, i) => spread(60, s, () => ({ ip: `2001:db8:99:${(i * 256).toString(16)}::${i + 1}` }))).flat();
    const single: Traffic = (s, m) => spread(12, s, (i) => ({ ip: `2001:db8:98:1::${1 + (i % 4)}`, path: `/x-${m}-${i}`, status: 404 }));
    const d = detector();
    for (let m = 0; m < 30; m++) {
      const a = d.at(m, both(crowd, v6crowd, office, single));
      expect(a.verdicts.filter((v) => v.kind === 'prefix' && /^2001:db8:9[89]::\/(48|56)$/.test(v.value))).toEqual([]);
    }
  });

  it('one scanner in a /64 with ordinary customers in other /64s of its /48 blocks neither the /56 nor the /48', () => {
    const scanner: Traffic = (s, m) => spread(30, s, (i) => ({ ip: '2001:db8:5:1::9', path: `/wp-${m}-${i}`, status: 404 }));
    const customers: Traffic = (s) => [2, 3, 0x100].flatMap((n) => spread(15, s, () => ({ ip: `2001:db8:5:${n.toString(16)}::7` })));
    const d = detector();
    let hostBlocked = false;
    for (let m = 0; m < 20; m++) {
      const a = d.at(m, both(crowd, v6crowd, scanner, customers));
      hostBlocked ||= a.verdicts.some((v) => v.act && (v.value === '2001:db8:5:1::9' || v.value === '2001:db8:5:1::/64'));
      expect(a.verdicts.filter((v) => v.act && /^2001:db8:5::\/(48|56)$/.test(v.value)).map((v) => v.value)).toEqual([]);
    }
    expect(hostBlocked).toBe(true);
  });

  it('IPv4 /16 (opt-in, ipv4WidePrefixes [16]): slow scanners in four /24s of one /16 are contained as the /16; off by default', () => {
    // Each host asks two missing paths a minute, a different host every minute, in four /24s of 198.18.0.0/16.
    const spreadScan: Traffic = (s, m) => [0, 1, 2, 3].flatMap((net) => spread(2, s, (i) => ({
      ip: `198.18.${net * 7}.${1 + m}`, path: `/scan-${m}-${net}-${i}`, status: 404 })));
    const on = firstWideAct(both(crowd, spreadScan), { aggregation: { ipv4WidePrefixes: [16] } });
    expect(on).toMatchObject({ value: '198.18.0.0/16' });
    expect(on!.minute).toBeLessThanOrEqual(14);
    expect(firstWideAct(both(crowd, spreadScan))).toBeNull();
  });
});

describe('slow evidence across releases', () => {
  const old = [1_793_577_600_000, 3, 1, 9, 0, 4.5, 3, 1, 9, 0, 996_432, 0xdeadbeef, 0x12345678, 0xffff, 1];

  it("an earlier release's keeps its counts and drops its bitmaps (bits of 32-bit hashes), and is marked as this release's", () => {
    const up = decodeSlowEvidence(old.join(','))!;
    expect(up).toHaveLength(15);
    expect(up[0]).toBe(old[0] + 0.5);
    expect(up.slice(1, 10)).toEqual(old.slice(1, 10));
    expect(up.slice(10, 15)).toEqual([-1, 0, 0, 0, 0]);
    // Its long horizon counts no distinct missing path until new ones come; its decayed counts still read.
    const [, long] = horizonsAt(up, old[0], 60_000);
    expect(long.distinctNotFoundPaths).toBe(0);
    expect(long.notFound).toBeCloseTo(9);
    expect(decodeSlowEvidence(up.join(','))).toEqual(up);
    expect(decodeSlowEvidence([...old.slice(0, 14), -3].join(','))).toBeNull();
  });

  it("this release's, read by an earlier one after a rollback: plausible (the baseline stays), its bitmaps two epochs old (counted by none)", () => {
    const f = { requests: 10, status5xx: 0, authFailures: 0, notFound: 10, failedLogins: 0, distinctNotFoundPaths: 10 } as Features;
    const ws = old[0];
    const e = addWindow(undefined, ws, 60_000, f, (fn) => { for (let i = 0; i < 10; i++) fn(i * 7919); })!;
    expect(isPlausibleEvidence(e)).toBe(true);
    expect(horizonsAt(e, ws, 60_000)[1].distinctNotFoundPaths).toBeGreaterThanOrEqual(8);
    // The earlier release's reading (8c912e2's horizonsAt): the bitmap epoch it sees is e[10]; now is epochOf(ws).
    const epochNow = Math.floor(ws / (60_000 * 30));
    expect(e[10]).toBe(epochNow - 2);
    expect(epochNow > e[10] + 1).toBe(true);
  });
});
