import { principalKey, type TrafficBuilder } from './builder.ts';
import { BROWSER_UAS, PROBE_PATHS, SCANNER_UAS, SCANNER_WORDS, SDK_UAS } from './catalog.ts';

/**
 * Attacks that no single minute shows (DESIGN §4, "Every time scale"): each stays under the per-minute thresholds
 * at its low rates and is only visible over ten minutes or an hour, across members of a campaign, against a key's
 * own longer history, or by touching a decoy. Each takes a rate so a test can run it below and above those
 * thresholds; each labels only the addresses that really appear in the log.
 */

/**
 * Decoy routes an operator configures as cordon's `trapRoutes`: nothing links to them, so no legitimate client
 * ever asks for them and the first touch is evidence enough.
 */
export const TRAP_ROUTES: readonly string[] = ['/admin-backup/', '/internal/users-export', '/v0/debug/'];

/** Whole minutes, so per-minute counts line up with cordon's tumbling windows (they start on the minute). */
function minuteRange(b: TrafficBuilder, startMin: number, durMin: number): [number, number] {
  const s = Math.max(0, Math.floor(startMin));
  return [s, Math.min(b.minutes, s + Math.max(1, Math.round(durMin)))];
}

/**
 * Calls `each(t)` a few times in every minute of [startMin, endMin): an integer count near `perMin` (within
 * ±1, at least 1), at random moments of the minute. A Poisson process would now and then put twice the rate in
 * one minute; a slow attacker paces itself, and the tests rely on the per-minute bound.
 */
function paced(b: TrafficBuilder, startMin: number, endMin: number, perMin: number, each: (t: number) => void): void {
  const r = b.rng;
  for (let m = startMin; m < endMin; m++) {
    const n = Math.max(1, Math.round(perMin + r.uniform(-1, 1)));
    const times = Array.from({ length: n }, () => b.at(m) + r.uniform(0, 60000)).sort((x, y) => x - y);
    for (const t of times) each(t);
  }
}

function checkRate(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`${name} must be a positive number, got ${value}`);
}

/** A Fisher–Yates shuffle with the builder's rng (reproducible for a seed). */
function shuffled<T>(b: TrafficBuilder, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = b.rng.randrange(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const SCAN_STATUS_CUMULATIVE = [80, 90, 96, 100];
const SCAN_STATUSES = [404, 403, 400, 200];

/**
 * Path discovery at a crawl: `perMin` paths a minute (±1) from one IPv4 address, walking a shuffled wordlist with
 * random names between, never asking a path twice; mostly 404 on `/{proxy+}` as `scanner`. It sends a browser's
 * user agent: a patient scanner hides its tool.
 */
export function slowScanner(b: TrafficBuilder, startMin: number, durMin: number, perMin = 4): string {
  checkRate('perMin', perMin);
  const r = b.rng;
  const ip = b.ipv4();
  const ua = r.choice(BROWSER_UAS);
  const words = shuffled(b, [...new Set(SCANNER_WORDS)]); // the wordlist repeats a few probe paths
  const asked = new Set<string>();
  const [m0, m1] = minuteRange(b, startMin, durMin);
  let seen = false;
  paced(b, m0, m1, perMin, (t) => {
    let path = words.length > 0 && r.random() < 0.8 ? words.pop()! : '';
    while (path === '' || asked.has(path)) path = `/${r.randrange(1 << 24).toString(16)}`;
    asked.add(path);
    const status = SCAN_STATUSES[r.weightedIndex(SCAN_STATUS_CUMULATIVE)];
    const method = r.random() < 0.85 ? 'GET' : 'HEAD';
    seen = b.emit(t, ip, method, path, status !== 200 ? '/{proxy+}' : path, status, 48, ua) || seen;
  });
  if (seen) b.attacker('slow-scanner', [ip], b.at(m0), b.at(m1));
  return ip;
}

/** Password guessing by one address at `perMin` failed POST /login a minute (±1): 401, a rare 200. */
export function slowCredentialStuffing(b: TrafficBuilder, startMin: number, durMin: number, perMin = 4): string {
  checkRate('perMin', perMin);
  const r = b.rng;
  const ip = b.ipv4();
  const ua = r.choice([...BROWSER_UAS, SDK_UAS[2]]);
  const [m0, m1] = minuteRange(b, startMin, durMin);
  let seen = false;
  paced(b, m0, m1, perMin, (t) => {
    const ok = r.random() < 0.01;
    seen = b.emit(t, ip, 'POST', '/login', '/login', ok ? 200 : 401, ok ? 120 : 40, ua) || seen;
  });
  if (seen) b.attacker('slow-credential-stuffing', [ip], b.at(m0), b.at(m1));
  return ip;
}

/** The /16 an IPv4 address is in, as text (`a.b`). */
export function slash16(ip: string): string {
  return ip.split('.', 2).join('.');
}

/**
 * Credential stuffing spread over `members` addresses, each in a /16 of its own (rented proxies, a botnet), each
 * trying `perMin` passwords a minute (±1) on /login: no member is anywhere near a per-minute threshold, but the
 * route's failures surge. All members start within the campaign's first minute, as a campaign is launched.
 */
export function credentialStuffingCampaign(b: TrafficBuilder, startMin: number, durMin: number, members = 40,
  perMin = 3): string[] {
  checkRate('perMin', perMin);
  if (!(Number.isInteger(members) && members >= 1)) throw new Error(`members must be a positive integer, got ${members}`);
  const r = b.rng;
  const nets = new Set<string>();
  const ips: string[] = [];
  while (ips.length < members) {
    const ip = b.ipv4();
    if (nets.has(slash16(ip))) continue; // unrelated networks: no two members share a /16
    nets.add(slash16(ip));
    ips.push(ip);
  }
  const [m0, m1] = minuteRange(b, startMin, durMin);
  const uas = [...BROWSER_UAS, SDK_UAS[2], SDK_UAS[1]];
  const used: string[] = [];
  for (const ip of ips) {
    const ua = r.choice(uas);
    let seen = false;
    paced(b, m0, m1, perMin, (t) => {
      const ok = r.random() < 0.01;
      seen = b.emit(t, ip, 'POST', '/login', '/login', ok ? 200 : 401, ok ? 120 : 40, ua) || seen;
    });
    if (seen) used.push(ip);
  }
  if (used.length > 0) b.attacker('credential-stuffing-campaign', used, b.at(m0), b.at(m1));
  return used;
}

/**
 * Object enumeration (IDOR probing): a Cognito user with its own ordinary history all along (one address, a few
 * requests a minute) that, from `startMin`, walks ids on a route of other users' objects at `perMin` a minute (±1),
 * sequentially or at random; mostly answered 403 (someone else's) or 404 (no such id).
 */
export function objectEnumeration(b: TrafficBuilder, startMin: number, durMin: number, perMin = 5,
  normalRate = 3): { ip: string; principal: string; resource: string } {
  checkRate('perMin', perMin);
  const r = b.rng;
  const id = b.principal('cognito');
  const ip = b.ipv4();
  const ua = r.choice(BROWSER_UAS);
  b.poisson(b.t0, b.end, normalRate, (t) => b.normalRequest(t, ip, ua, id));
  const [resource, bytes] = r.random() < 0.5 ? ['/orders/{id}', 700] as const : ['/users/{id}', 600] as const;
  const sequential = r.random() < 0.6;
  let cursor = r.randrange(1000, 40000);
  const [m0, m1] = minuteRange(b, startMin, durMin);
  let walked = false;
  paced(b, m0, m1, perMin, (t) => {
    const target = sequential ? cursor++ : r.randrange(1, 1_000_000);
    const u = r.random();
    const status = u < 0.62 ? 403 : u < 0.95 ? 404 : 200;
    walked = b.emit(t, ip, 'GET', resource.replace('{id}', String(target)), resource, status,
      status === 200 ? bytes : 48, ua, id) || walked;
  });
  const principal = principalKey(id)!;
  if (walked) b.attacker('object-enumeration', [ip], b.at(m0), b.at(m1), principal);
  return { ip, principal, resource };
}

/**
 * A scanner that hops to a fresh /64 inside one /48 every `hopSeconds`, using a few addresses in each: a per-/64
 * block is always one step behind, only the /48 holds it. About `perMin` probes a minute overall, mostly 404.
 */
export function ipv6PrefixHopper(b: TrafficBuilder, startMin: number, durMin: number, perMin = 40,
  hopSeconds = 30): { prefix: string; ips: string[] } {
  checkRate('perMin', perMin);
  const r = b.rng;
  const p48 = `2a0d:${b.hextet()}:${b.hextet()}`;
  const ua = r.choice(SCANNER_UAS);
  const [m0, m1] = minuteRange(b, startMin, durMin);
  const s = b.at(m0);
  const e = b.at(m1);
  const slot = hopSeconds * 1000;
  const subnets = new Set<string>();
  const used = new Set<string>();
  for (let t0 = s; t0 < e; t0 += slot) {
    let sub: string;
    do sub = b.hextet(); while (subnets.has(sub));
    subnets.add(sub);
    const addresses = Array.from({ length: r.randrange(2, 5) }, () => b.ipv6(`${p48}:${sub}`));
    const n = Math.max(1, Math.round((perMin * slot) / 60000 * r.uniform(0.8, 1.2)));
    for (let i = 0; i < n; i++) {
      const t = t0 + r.uniform(0, Math.min(slot, e - t0));
      const ip = r.choice(addresses);
      const path = r.random() < 0.5 ? r.choice(PROBE_PATHS) : r.choice(SCANNER_WORDS);
      const u = r.random();
      const status = u < 0.85 ? 404 : u < 0.95 ? 403 : 200;
      if (b.emit(t, ip, 'GET', path, status === 200 ? path : '/{proxy+}', status, 48, ua)) used.add(ip);
    }
  }
  const prefix = `${p48}::/48`;
  if (used.size > 0) b.attacker('ipv6-prefix-hopper', [...used].sort(), s, e, null, prefix);
  return { prefix, ips: [...used].sort() };
}

const RAMP_ROUTES = [
  { resource: '/items', weight: 0.35, bytes: 4200 },
  { resource: '/items/{id}', weight: 0.45, bytes: 900 },
  { resource: '/search', weight: 0.2, bytes: 3000 },
] as const;

/**
 * One address that starts as an ordinary client (`initial` requests a minute) and grows by `factor` every minute up to
 * `cap`, then holds the cap for `holdMin` minutes: each minute looks like a modest step up from the last, so a
 * baseline that follows the key learns the flood. Ordinary public routes, mostly 200. Minute k (from the start)
 * carries exactly min(cap, round(initial * factor^k)) requests.
 */
export function rampingFlood(b: TrafficBuilder, startMin: number, factor = 1.3, initial = 10, cap = 3000,
  holdMin = 5): { ip: string; counts: number[] } {
  if (!(Number.isFinite(factor) && factor > 1)) throw new Error(`factor must be above 1, got ${factor}`);
  checkRate('initial', initial);
  const r = b.rng;
  const ip = b.ipv4();
  const ua = SDK_UAS[2];
  const counts: number[] = [];
  for (let k = 0, held = 0; held < holdMin; k++) {
    const n = Math.min(cap, Math.round(initial * factor ** k));
    counts.push(n);
    if (n >= cap) held++;
  }
  const [m0, m1] = minuteRange(b, startMin, counts.length);
  for (let m = m0; m < m1; m++) {
    for (let i = 0; i < counts[m - m0]; i++) {
      const t = b.at(m) + r.uniform(0, 60000);
      const u = r.random();
      const route = u < 0.35 ? RAMP_ROUTES[0] : u < 0.8 ? RAMP_ROUTES[1] : RAMP_ROUTES[2];
      const path = route.resource === '/items/{id}' ? `/items/${r.randrange(1, 50000)}`
        : route.resource === '/search' ? `/search?q=${r.randrange(100000)}` : `/items?page=${r.randrange(1, 500)}`;
      const status = r.random() < 0.01 ? 404 : 200;
      b.emit(t, ip, 'GET', path, route.resource, status, status === 200 ? Math.trunc(route.bytes * r.uniform(0.5, 1.6)) : 48, ua);
    }
  }
  if (m1 > m0) b.attacker('ramping-flood', [ip], b.at(m0), b.at(m1));
  return { ip, counts: counts.slice(0, m1 - m0) };
}

/**
 * An ordinary-looking client (a session of everyday requests) that asks for a decoy route `touches` times (the
 * second a few seconds later), then carries on for a while. The attack starts at the first touch.
 */
export function trapToucher(b: TrafficBuilder, startMin: number, trap: string, touches = 1, rate = 3,
  sessionMin = 20): { ip: string; touchedAt: number } {
  if (!(Number.isInteger(touches) && touches >= 1)) throw new Error(`touches must be a positive integer, got ${touches}`);
  const r = b.rng;
  const ip = b.ipv4();
  const ua = b.randomClientUa();
  const id = r.random() < 0.5 ? null : b.principal();
  const sessionStart = b.at(Math.max(0, startMin - r.uniform(3, 8)));
  const sessionEnd = Math.min(b.end, b.at(startMin) + sessionMin * 60000);
  b.poisson(sessionStart, sessionEnd, rate, (t) => b.normalRequest(t, ip, ua, id));
  const touchedAt = Math.trunc(b.at(startMin) + r.uniform(0, 30000));
  let t = touchedAt;
  let touched = false;
  for (let i = 0; i < touches; i++) {
    touched = b.emit(t, ip, 'GET', trap, '/{proxy+}', 404, 48, ua, id) || touched;
    t += r.uniform(3000, 40000);
  }
  if (touched) b.attacker('trap-route', [ip], touchedAt, sessionEnd, id ? principalKey(id) : null);
  return { ip, touchedAt };
}
