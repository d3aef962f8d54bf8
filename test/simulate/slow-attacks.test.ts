import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { TrafficBuilder, principalKey, type SimEvent } from '../../src/simulate/builder.ts';
import { DEFAULT_START_MS } from '../../src/simulate/catalog.ts';
import {
  STALE_PATHS, heavySdkUsers, loginUsers, natGateway, staleLinkClients,
} from '../../src/simulate/population.ts';
import { SCENARIOS, SCENARIO_NAMES, ScenarioParamError } from '../../src/simulate/scenarios.ts';
import {
  TRAP_ROUTES, credentialStuffingCampaign, ipv6PrefixHopper, objectEnumeration, rampingFlood, slash16,
  slowCredentialStuffing, slowScanner, trapToucher,
} from '../../src/simulate/slow-attacks.ts';
import { generateTraffic, simulateEvents } from '../../src/simulate/traffic.ts';
import type { Scenario } from '../../src/simulate/labels.ts';

// Today's per-minute thresholds (src/config.ts defaults): the slow attacks must stay under them at their low rates.
const SCAN_DISTINCT_404 = 10;
const AUTH_FAILURES = 20;
const LOGIN_POSTS = 20;

/** A fresh builder holding only what the test puts in it, so every event belongs to the attack under test. */
function builder(seed: number, minutes: number): TrafficBuilder {
  return new TrafficBuilder(seed, minutes, DEFAULT_START_MS);
}

const minuteOf = (b: TrafficBuilder, t: number): number => Math.floor((t - b.t0) / 60000);

/** Events grouped by a key, e.g. the minute or the address. */
function groupBy<K>(events: readonly SimEvent[], key: (e: SimEvent) => K): Map<K, SimEvent[]> {
  const m = new Map<K, SimEvent[]>();
  for (const e of events) {
    const list = m.get(key(e));
    if (list) list.push(e);
    else m.set(key(e), [e]);
  }
  return m;
}

const ipsOf = (events: readonly SimEvent[]): string[] => [...new Set(events.map((e) => e.ip))].sort();

function inCidr(ip: string, cidr: string): boolean {
  const a = ipaddr.parse(ip);
  const range = ipaddr.parseCIDR(cidr);
  return a.kind() === range[0].kind() && a.match(range);
}

/** The /64 of an IPv6 address as its first four hextets. */
function slash64(ip: string): string {
  return ipaddr.IPv6.parse(ip).toNormalizedString().split(':').slice(0, 4).join(':');
}

describe('slow scanner', () => {
  it.each([[2, 1], [4, 2], [5, 3]])('at %i paths a minute (seed %i) stays under the per-minute scan threshold for most of an hour', (rate, seed) => {
    const b = builder(seed, 75);
    const ip = slowScanner(b, 9, 56, rate);
    const ev = b.events;
    expect(ipsOf(ev)).toEqual([ip]);
    expect(b.labels.attackers).toEqual([{ kind: 'slow-scanner', ips: [ip], principal: null, start: b.at(9), end: b.at(65) }]);
    const perMinute = groupBy(ev, (e) => minuteOf(b, e.t));
    expect(perMinute.size).toBe(56); // every minute of the attack, none outside it
    for (const [m, list] of perMinute) {
      expect(m).toBeGreaterThanOrEqual(9);
      expect(m).toBeLessThan(65);
      const distinct404 = new Set(list.filter((e) => e.status === 404).map((e) => e.path)).size;
      expect(list.length).toBeGreaterThanOrEqual(Math.max(1, rate - 1));
      expect(list.length).toBeLessThanOrEqual(rate + 1);
      expect(distinct404).toBeLessThan(SCAN_DISTINCT_404);
      if (rate <= 5) expect(distinct404).toBeLessThanOrEqual(6);
    }
    // Never the same path twice: over the hour the distinct 404s add up to far past any per-minute threshold.
    expect(new Set(ev.map((e) => e.path)).size).toBe(ev.length);
    const notFound = ev.filter((e) => e.status === 404);
    expect(notFound.length / ev.length).toBeGreaterThan(0.7);
    expect(notFound.length).toBeGreaterThan(56 * rate * 0.6);
    expect(ev.filter((e) => e.status !== 200).every((e) => e.resource === '/{proxy+}')).toBe(true);
  });
});

describe('slow credential stuffing', () => {
  it.each([[2, 1], [4, 2], [6, 3]])('at %i attempts a minute (seed %i): one address, failed POST /login every minute of the scenario', (rate, seed) => {
    const b = builder(seed, 60);
    const ip = slowCredentialStuffing(b, 0, 60, rate);
    const ev = b.events;
    expect(ipsOf(ev)).toEqual([ip]);
    expect(b.labels.attackers).toEqual([
      { kind: 'slow-credential-stuffing', ips: [ip], principal: null, start: b.t0, end: b.end },
    ]);
    expect(ev.every((e) => e.method === 'POST' && e.path === '/login')).toBe(true);
    const perMinute = groupBy(ev, (e) => minuteOf(b, e.t));
    expect(perMinute.size).toBe(60);
    for (const list of perMinute.values()) {
      expect(list.length).toBeLessThanOrEqual(rate + 1);
      expect(list.length).toBeLessThan(LOGIN_POSTS);
      expect(list.filter((e) => e.status === 401 || e.status === 403).length).toBeLessThan(AUTH_FAILURES);
    }
    expect(ev.filter((e) => e.status === 401).length / ev.length).toBeGreaterThan(0.95);
    expect(ev.every((e) => e.status === 401 || e.status === 200)).toBe(true);
  });
});

describe('distributed credential-stuffing campaign', () => {
  it.each([[3, 40, 1], [2, 30, 2], [6, 60, 3]])('at %i attempts a minute by each of %i members (seed %i)', (rate, members, seed) => {
    const b = builder(seed, 60);
    const used = credentialStuffingCampaign(b, 20, 30, members, rate);
    const ev = b.events;
    expect(used).toHaveLength(members);
    expect(ipsOf(ev)).toEqual([...used].sort());
    const [label] = b.labels.attackers;
    expect(label).toEqual({ kind: 'credential-stuffing-campaign', ips: used, principal: null, start: b.at(20), end: b.at(50) });
    // Unrelated networks: each member in a /16 of its own.
    expect(new Set(used.map(slash16)).size).toBe(members);
    expect(new Set(used.map(slash16)).size).toBeGreaterThanOrEqual(20);
    expect(ev.every((e) => e.method === 'POST' && e.path === '/login')).toBe(true);
    expect(ev.filter((e) => e.status === 401).length / ev.length).toBeGreaterThan(0.95);
    for (const [ip, list] of groupBy(ev, (e) => e.ip)) {
      const perMinute = groupBy(list, (e) => minuteOf(b, e.t));
      expect(perMinute.size, ip).toBe(30); // every member, every minute of the campaign
      for (const l of perMinute.values()) {
        expect(l.length).toBeLessThan(Math.min(AUTH_FAILURES, LOGIN_POSTS));
        expect(l.length).toBeLessThanOrEqual(rate + 1);
        expect(l.length).toBeGreaterThanOrEqual(Math.max(1, rate - 1));
        if (rate >= 6) expect(l.length).toBeGreaterThanOrEqual(5); // the variant where each tries ≥ 5 a minute
      }
    }
    // All members are under way within the first minute, as a launched campaign is.
    const firsts = [...groupBy(ev, (e) => e.ip).values()].map((l) => Math.min(...l.map((e) => e.t)));
    expect(Math.max(...firsts)).toBeLessThan(b.at(21));
  });
});

describe('object enumeration', () => {
  it.each([[3, 1], [5, 2], [10, 3]])('at %i ids a minute (seed %i): a signed-in user with a normal history walks one route it does not own', (rate, seed) => {
    const b = builder(seed, 60);
    const { ip, principal, resource } = objectEnumeration(b, 20, 25, rate);
    const ev = b.events;
    expect(ipsOf(ev)).toEqual([ip]);
    expect(principal.startsWith('arn:')).toBe(false); // a Cognito sub
    expect(ev.every((e) => e.id !== null && principalKey(e.id) === principal)).toBe(true);
    expect(b.labels.attackers).toEqual([{ kind: 'object-enumeration', ips: [ip], principal, start: b.at(20), end: b.at(45) }]);
    // Its own history all along: requests before, during and after the attack.
    expect(ev.some((e) => e.t < b.at(10))).toBe(true);
    expect(ev.some((e) => e.t >= b.at(50))).toBe(true);
    expect(['/orders/{id}', '/users/{id}']).toContain(resource);
    // The walk, with the few ordinary requests the user makes to the same route meanwhile.
    const walked = ev.filter((e) => e.t >= b.at(20) && e.t < b.at(45) && e.resource === resource);
    const failed = walked.filter((e) => e.status === 403 || e.status === 404);
    expect(failed.length / walked.length).toBeGreaterThan(0.75);
    expect(failed.length).toBeGreaterThan(25 * rate * 0.8);
    expect(new Set(failed.map((e) => e.path)).size).toBeGreaterThan(failed.length * 0.95); // ids, hardly ever twice
    expect(ev.filter((e) => e.t >= b.at(20) && e.t < b.at(45) && e.status >= 400 && e.resource !== resource).length)
      .toBeLessThan(5); // one route only
    const perMinute = groupBy(failed, (e) => minuteOf(b, e.t));
    const counts = [...perMinute.values()].map((l) => l.length);
    expect(perMinute.size).toBe(25);
    expect(Math.max(...counts)).toBeLessThanOrEqual(rate + 2); // the walk's rate + 1, and now and then an ordinary 404
    expect(Math.max(...counts)).toBeLessThan(AUTH_FAILURES);
  });
});

describe('IPv6 /64 hopper', () => {
  it.each([[20, 1], [40, 2], [60, 3]])('at %i probes a minute (seed %i): a fresh /64 every 30 s, all inside one /48', (rate, seed) => {
    const b = builder(seed, 60);
    const { prefix, ips } = ipv6PrefixHopper(b, 10, 40, rate);
    const ev = b.events;
    expect(prefix).toMatch(/^2a0d:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/);
    expect(ipsOf(ev)).toEqual(ips);
    expect(b.labels.attackers).toEqual([{ kind: 'ipv6-prefix-hopper', ips, principal: null, start: b.at(10), end: b.at(50), prefix }]);
    expect(ips.every((ip) => inCidr(ip, prefix))).toBe(true);
    const slots = groupBy(ev, (e) => Math.floor((e.t - b.at(10)) / 30000));
    expect(slots.size).toBe(80);
    const seen = new Set<string>();
    for (const list of slots.values()) {
      const nets = new Set(list.map((e) => slash64(e.ip)));
      expect(nets.size).toBe(1); // one /64 a slot ...
      const [net] = nets;
      expect(seen.has(net)).toBe(false); // ... never one used before
      seen.add(net);
    }
    // Several addresses in each /64 (some slots at 20/min hold too few probes to use them all).
    const perNet = [...groupBy(ev, (e) => slash64(e.ip)).values()].map((l) => ipsOf(l).length);
    expect(perNet.filter((n) => n >= 2).length / perNet.length).toBeGreaterThan(0.8);
    const perMinute = [...groupBy(ev, (e) => minuteOf(b, e.t)).values()].map((l) => l.length);
    expect(perMinute).toHaveLength(40);
    expect(Math.min(...perMinute)).toBeGreaterThanOrEqual(rate * 0.75);
    expect(Math.max(...perMinute)).toBeLessThanOrEqual(rate * 1.25);
    expect(ev.filter((e) => e.status === 404).length / ev.length).toBeGreaterThan(0.75);
  });
});

describe('ramping flood', () => {
  it.each([[1.2, 1], [1.3, 2], [1.5, 3]])('grows by %f a minute (seed %i) from ~10 a minute to the cap', (factor, seed) => {
    const b = builder(seed, 90);
    const { ip, counts } = rampingFlood(b, 5, factor);
    const ev = b.events;
    expect(ipsOf(ev)).toEqual([ip]);
    const perMinute = groupBy(ev, (e) => minuteOf(b, e.t));
    const observed = counts.map((_, k) => perMinute.get(5 + k)?.length ?? 0);
    expect(observed).toEqual(counts);
    expect(perMinute.size).toBe(counts.length);
    expect(b.labels.attackers).toEqual([{ kind: 'ramping-flood', ips: [ip], principal: null, start: b.at(5), end: b.at(5 + counts.length) }]);
    expect(counts[0]).toBe(10);
    const capAt = counts.indexOf(3000);
    expect(capAt).toBeGreaterThan(0);
    for (let k = 1; k < capAt; k++) {
      // Exactly the factor, up to rounding to whole requests.
      expect(Math.abs(counts[k] - counts[k - 1] * factor)).toBeLessThanOrEqual(1 + factor);
    }
    expect(counts.slice(capAt)).toEqual(Array(5).fill(3000));
    expect(Math.max(...counts)).toBe(3000);
    expect(ev.filter((e) => e.status === 200).length / ev.length).toBeGreaterThan(0.97);
    expect(new Set(ev.map((e) => e.resource))).toEqual(new Set(['/items', '/items/{id}', '/search']));
    // The first minutes look like an ordinary client: far under the flood threshold.
    expect(counts.slice(0, 5).every((n) => n < 60)).toBe(true);
  });
});

describe('trap-route toucher', () => {
  it.each([1, 2])('touches a decoy %i time(s) among ordinary requests; the attack starts at the first touch', (touches) => {
    const b = builder(touches, 45);
    const { ip, touchedAt } = trapToucher(b, 20, TRAP_ROUTES[0], touches);
    const ev = b.events;
    expect(ipsOf(ev)).toEqual([ip]);
    const trap = ev.filter((e) => TRAP_ROUTES.includes(e.path));
    expect(trap).toHaveLength(touches);
    expect(trap.every((e) => e.path === '/admin-backup/')).toBe(true);
    expect(Math.min(...trap.map((e) => e.t))).toBe(touchedAt);
    const [label] = b.labels.attackers;
    expect(label.kind).toBe('trap-route');
    expect(label.ips).toEqual([ip]);
    expect(label.start).toBe(touchedAt);
    expect(ev.filter((e) => e.t < touchedAt).length).toBeGreaterThan(3); // ordinary before ...
    expect(ev.filter((e) => e.t > touchedAt && !TRAP_ROUTES.includes(e.path)).length).toBeGreaterThan(10); // ... and after
    expect(TRAP_ROUTES).toContain('/admin-backup/');
  });
});

describe('benign clients easy to mistake for slow attacks', () => {
  it('heavy SDK users call at high, constant rates', () => {
    const b = builder(5, 60);
    const ips = heavySdkUsers(b, [90, 240]);
    for (const [i, ip] of ips.entries()) {
      const perMinute = [...groupBy(b.events.filter((e) => e.ip === ip), (e) => minuteOf(b, e.t)).values()].map((l) => l.length);
      expect(perMinute).toHaveLength(60);
      const rate = [90, 240][i];
      expect(Math.min(...perMinute)).toBeGreaterThan(rate * 0.6);
      expect(Math.max(...perMinute)).toBeLessThan(rate * 1.4);
    }
    expect(b.labels.benign_notable.map((n) => n.kind)).toEqual(['heavy-sdk', 'heavy-sdk']);
  });

  it('users mistype a password 1-3 times then sign in, several of them behind the NAT gateway', () => {
    const b = builder(6, 60);
    const nat = natGateway(b, 20);
    const failing = loginUsers(b, 150, 0.35, nat, 10);
    const logins = b.events.filter((e) => e.path === '/login');
    const label = b.labels.benign_notable.find((n) => n.kind === 'login-failures')!;
    expect(label.ips).toEqual(failing);
    expect(failing.length).toBeGreaterThan(25);
    expect(label.failuresBehindNat).toBeGreaterThanOrEqual(3);
    // Every run of failures ends in a 200 within a minute and a half, and none is longer than three.
    for (const ip of failing) {
      const mine = logins.filter((e) => e.ip === ip).sort((x, y) => x.t - y.t);
      let run = 0;
      for (const e of mine) {
        if (e.status === 401) run++;
        else run = 0;
        expect(run).toBeLessThanOrEqual(3);
      }
      expect(mine.at(-1)!.status).toBe(200);
    }
    const natFailures = logins.filter((e) => e.ip === nat && e.status === 401);
    expect(natFailures.length).toBe(label.failuresBehindNat);
  });

  it('stale-link clients hit one missing path a few times an hour', () => {
    const b = builder(7, 60);
    const ips = staleLinkClients(b, 8);
    for (const ip of ips) {
      const missing = b.events.filter((e) => e.ip === ip && e.resource === '/{proxy+}');
      expect(new Set(missing.map((e) => e.path)).size).toBeLessThanOrEqual(1);
      expect(missing.length).toBeLessThan(15);
      expect(missing.every((e) => e.status === 404 && STALE_PATHS.includes(e.path))).toBe(true);
    }
  });
});

describe('slow-attack scenarios', () => {
  const cases = [
    ['low-and-slow', { rate: 2 }, 60, ['slow-credential-stuffing', 'slow-scanner', 'object-enumeration', 'ipv6-prefix-hopper']],
    ['campaign', { rate: 6, members: 30 }, 50, ['credential-stuffing-campaign']],
    ['ramp', { rate: 1.5 }, 50, ['ramping-flood']],
    ['trap', { rate: 2 }, 40, ['trap-route', 'trap-route', 'trap-route']],
  ] as const;

  it.each(cases)('%s %o: labels name exactly the attack addresses, none of them benign', (base, params, minutes, kinds) => {
    const { events, labels } = simulateEvents({ scenario: base, params, minutes, seed: 4 });
    expect(labels.scenario).toBe(base);
    expect(labels.params).toEqual({ ...Object.fromEntries(Object.entries(SCENARIOS[base].params!).map(([k, p]) => [k, p.default])), ...params });
    expect(labels.attackers.map((a) => a.kind)).toEqual(kinds);
    const present = new Set(events.map((e) => e.ip));
    const attackerIps = new Set(labels.attackers.flatMap((a) => a.ips));
    for (const at of labels.attackers) {
      expect(at.ips.length, at.kind).toBeGreaterThan(0);
      expect(at.ips.every((ip) => present.has(ip)), at.kind).toBe(true);
    }
    // No benign client is labelled an attacker, nor an attacker benign.
    const notable = labels.benign_notable.flatMap((n) => n.ips);
    expect(notable.filter((ip) => attackerIps.has(ip))).toEqual([]);
    expect(labels.allowlist).toEqual(['10.20.0.0/24']);
    for (const kind of ['nat', 'crawler', 'health-checker', 'heavy-sdk', 'login-failures', 'stale-link']) {
      expect(labels.benign_notable.some((n) => n.kind === kind), kind).toBe(true);
    }
    // Attack addresses send nothing outside what the attack explains: the slow attackers only in their window;
    // enumeration and trap clients have their own ordinary history.
    for (const at of labels.attackers.filter((a) => !['object-enumeration', 'trap-route'].includes(a.kind))) {
      const outside = events.filter((e) => at.ips.includes(e.ip) && (e.t < at.start || e.t >= at.end));
      expect(outside, at.kind).toEqual([]);
    }
    // Only the trap clients ever ask for a decoy.
    const trapHits = new Set(events.filter((e) => TRAP_ROUTES.includes(e.path)).map((e) => e.ip));
    const trapIps = new Set(labels.attackers.filter((a) => a.kind === 'trap-route').flatMap((a) => a.ips));
    expect(trapHits).toEqual(trapIps);
    if (base === 'trap') {
      for (const at of labels.attackers) {
        const touches = events.filter((e) => e.ip === at.ips[0] && TRAP_ROUTES.includes(e.path));
        expect(touches).toHaveLength(2);
        expect(Math.min(...touches.map((e) => e.t))).toBe(at.start);
      }
    }
  });

  it('is deterministic for a seed, and the default parameters are the plain scenario', () => {
    const a = simulateEvents({ scenario: 'low-and-slow', minutes: 20, seed: 9 });
    const b = simulateEvents({ scenario: 'low-and-slow', params: { rate: 4 }, minutes: 20, seed: 9 });
    expect(b.events).toEqual(a.events);
    expect(b.labels.attackers).toEqual(a.labels.attackers);
    expect(a.labels.params).toEqual({ rate: 4 });
  });

  it('takes parameters beside the scenario name, and refuses those a scenario does not take or cannot run at', () => {
    const ramp = simulateEvents({ scenario: 'ramp', params: { rate: 1.2 }, minutes: 10, seed: 1 });
    expect(ramp.labels.scenario).toBe('ramp');
    expect(ramp.labels.params).toEqual({ rate: 1.2 });
    expect(SCENARIO_NAMES).toEqual(['mixed', 'benign', 'flash-crowd', 'stolen-credentials', 'lookalikes', 'low-and-slow', 'campaign', 'ramp', 'trap']);
    expect(() => simulateEvents({ scenario: 'ramp', params: { members: 3 }, minutes: 5, seed: 1 })).toThrow(/takes no parameter members/);
    expect(() => simulateEvents({ scenario: 'mixed', params: { rate: 2 }, minutes: 5, seed: 1 }))
      .toThrow(/scenario mixed takes no parameter rate \(only low-and-slow, campaign, ramp, trap take it\)/);
    expect(() => simulateEvents({ scenario: 'campaign', params: { rate: -1 }, minutes: 5, seed: 1 })).toThrow(/rate must be a positive number/);
    expect(() => simulateEvents({ scenario: 'ramp', params: { rate: 1 }, minutes: 5, seed: 1 })).toThrow(/rate of scenario ramp must be above 1, got 1/);
    expect(() => simulateEvents({ scenario: 'trap', params: { rate: 1.5 }, minutes: 5, seed: 1 })).toThrow(/rate of scenario trap must be a whole number/);
    expect(() => simulateEvents({ scenario: 'campaign', params: { members: 2.5 }, minutes: 5, seed: 1 })).toThrow(ScenarioParamError);
    // Parameters left undefined are not given: the plain scenario.
    expect(simulateEvents({ scenario: 'mixed', params: { rate: undefined }, minutes: 2, seed: 1 }).labels.params).toBeUndefined();
    expect(() => rampingFlood(builder(1, 10), 0, 1)).toThrow(/factor must be above 1/);
  });

  it('leaves the existing scenarios exactly as they were (same lines and labels for a seed)', () => {
    // Digests of the output before the slow-attack scenarios were added: other tests are calibrated on these.
    const expected: Record<string, string> = {
      mixed: '9de08513a658c273', benign: 'be50d930e6dfb140', 'flash-crowd': 'ca4b4ed8380c93f8',
      'stolen-credentials': '1e159c0996e2814d',
    };
    for (const [scenario, digest] of Object.entries(expected)) {
      const { lines, labels } = generateTraffic({ scenario: scenario as Scenario, minutes: 3, seed: 11, format: 'apigw-json' });
      const h = createHash('sha256');
      for (const l of lines) h.update(l).update('\n');
      h.update(JSON.stringify(labels));
      expect(h.digest('hex').slice(0, 16), scenario).toBe(digest);
    }
  });
});
