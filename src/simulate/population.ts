import { principalKey, type RateShape, type TrafficBuilder } from './builder.ts';
import { CRAWLER_UA, HEALTH_CHECK_UA, SDK_UAS } from './catalog.ts';

/**
 * A smooth daily swell (up to +30% mid-window) with an optional burst window: a flash crowd multiplies
 * everyone's rate at once, which a per-client detector must not mistake for an attack.
 */
export function diurnal(t0: number, burst?: { startMin: number; endMin: number; factor: number }): RateShape {
  const shape = (t: number): number => {
    const m = (t - t0) / 60000;
    let f = 1 + 0.3 * Math.sin((m / 60) * Math.PI);
    if (burst && burst.startMin <= m && m < burst.endMin) f *= burst.factor;
    return f;
  };
  return Object.assign(shape, { peak: 1.3 * (burst ? burst.factor : 1) });
}

export interface BenignOptions {
  clients: number;
  /** Median requests a minute while a client is active (log-normal across clients, capped at 60). */
  rateMedian?: number;
  v6Share?: number;
  anonShare?: number;
  shape?: RateShape;
  errScale?: number;
}

/** Ordinary clients: each comes and goes in sessions (~12 min active, ~25 min away) at its own rate. */
export function benign(b: TrafficBuilder, opts: BenignOptions): void {
  const { clients, rateMedian = 2, v6Share = 0.1, anonShare = 0.3, shape, errScale = 1 } = opts;
  const r = b.rng;
  let principals = 0;
  for (let i = 0; i < clients; i++) {
    const ip = r.random() < v6Share ? b.ipv6() : b.ipv4();
    const id = r.random() < anonShare ? null : b.principal();
    if (id) principals++;
    const ua = b.randomClientUa();
    const rate = Math.min(r.lognormvariate(Math.log(rateMedian), 1), 60);
    // Sessions may have started before the window opens, so the first minutes are not empty.
    let t = b.at(r.uniform(-30, b.minutes));
    while (t < b.end) {
      const duration = r.expovariate(1 / 12) * 60000;
      b.poisson(Math.max(t, b.t0), Math.min(t + duration, b.end), rate,
        (tt) => b.normalRequest(tt, ip, ua, id, errScale), shape);
      t += duration + r.expovariate(1 / 25) * 60000;
    }
  }
  b.labels.benign_ips += clients;
  b.labels.benign_principals += principals;
}

/** One IP carrying many authenticated users (corporate egress, carrier-grade NAT). */
export function natGateway(b: TrafficBuilder, users = 150, ratePerUser = 1.5): string {
  const ip = b.ipv4();
  for (let i = 0; i < users; i++) {
    const id = b.principal('cognito');
    const ua = b.randomClientUa();
    b.poisson(b.t0, b.end, ratePerUser, (t) => b.normalRequest(t, ip, ua, id));
  }
  b.labels.benign_notable.push({ kind: 'nat', ips: [ip], users });
  return ip;
}

/** A search-engine crawler from Googlebot's range: steady, many distinct paths, a few 404s. */
export function crawler(b: TrafficBuilder, rate = 30): string {
  const ip = b.ipv4('66.249.64.0/19');
  const r = b.rng;
  b.poisson(b.t0, b.end, rate, (t) => {
    const item = r.randrange(1, 200000);
    const status = r.random() < 0.06 ? 404 : 200;
    b.emit(t, ip, 'GET', `/items/${item}`, '/items/{id}', status, status === 200 ? 900 : 48, CRAWLER_UA);
  });
  b.labels.benign_notable.push({ kind: 'crawler', ips: [ip] });
  return ip;
}

/** Load-balancer health checks from an allowlisted private range: frequent, and must never be blocked. */
export function healthChecker(b: TrafficBuilder, cidr = '10.20.0.0/24', n = 3, rate = 60): string[] {
  const ips = Array.from({ length: n }, () => b.ipv4(cidr));
  for (const ip of ips) {
    b.poisson(b.t0, b.end, rate, (t) => b.emit(t, ip, 'GET', '/health', '/health', 200, 16, HEALTH_CHECK_UA));
  }
  b.labels.allowlist.push(cidr);
  b.labels.benign_notable.push({ kind: 'health-checker', ips, allowlisted: cidr });
  return ips;
}

// --- clients easy to mistake for slow attacks ---------------------------------------------------------------

/**
 * Service accounts that call all hour at high but constant rates (`rates`, requests a minute, one principal and one
 * address each): more volume than a ramp shows in its first minutes, but no growth and no failures to speak of.
 */
export function heavySdkUsers(b: TrafficBuilder, rates: readonly number[] = [90, 160, 240]): string[] {
  const r = b.rng;
  const ips: string[] = [];
  for (const rate of rates) {
    const ip = b.ipv4();
    const id = b.principal(r.choice(['iam', 'role', 'apikey'] as const));
    const ua = r.choice([SDK_UAS[0], SDK_UAS[1], SDK_UAS[2]]);
    b.poisson(b.t0, b.end, rate, (t) => b.normalRequest(t, ip, ua, id));
    b.labels.benign_notable.push({ kind: 'heavy-sdk', ips: [ip], principal: principalKey(id), perMin: rate });
    ips.push(ip);
  }
  return ips;
}

/**
 * Users signing in: each once or twice in the window, a `failShare` of those sign-ins after 1–3 mistyped passwords
 * (401s a few seconds apart), then a 200 and a few minutes of ordinary requests. `natIp` carries the first `natUsers`
 * of them, so a shared egress shows several users' failures at once. Gives /login its own baseline of failures.
 */
export function loginUsers(b: TrafficBuilder, users = 150, failShare = 0.35, natIp?: string, natUsers = 10): string[] {
  const r = b.rng;
  const failing = new Set<string>();
  let behindNat = 0;
  for (let i = 0; i < users; i++) {
    const nat = natIp !== undefined && i < natUsers;
    const ip = nat ? natIp : r.random() < 0.1 ? b.ipv6() : b.ipv4();
    const ua = b.randomClientUa();
    const id = b.principal('cognito');
    const logins = r.random() < 0.3 ? 2 : 1;
    for (let j = 0; j < logins; j++) {
      let t = b.at(r.uniform(0, b.minutes));
      if (r.random() < failShare) {
        const failures = r.randrange(1, 4);
        for (let k = 0; k < failures; k++) {
          if (b.emit(t, ip, 'POST', '/login', '/login', 401, 40, ua)) {
            if (nat) behindNat++;
            else failing.add(ip);
          }
          t += r.uniform(4000, 25000);
        }
      }
      b.emit(t, ip, 'POST', '/login', '/login', 200, 120, ua);
      b.poisson(t + 1000, t + r.uniform(2, 10) * 60000, 3, (tt) => b.normalRequest(tt, ip, ua, id));
    }
  }
  b.labels.benign_notable.push({ kind: 'login-failures', ips: [...failing].sort(), users, failuresBehindNat: behindNat });
  return [...failing].sort();
}

/** Paths that no longer exist but are still linked from somewhere (bookmarks, an old page, a cached app screen). */
export const STALE_PATHS: readonly string[] = [
  '/promo/black-friday-2025', '/docs/v1/getting-started', '/img/logo-2023.png', '/catalog.pdf', '/app/v3/config',
  '/feeds/legacy.xml',
];

/**
 * Ordinary clients that now and then follow a stale link: a few 404s an hour on the same missing path, among their
 * everyday requests. One missing path again and again, not many different ones.
 */
export function staleLinkClients(b: TrafficBuilder, n = 8): string[] {
  const r = b.rng;
  const ips: string[] = [];
  for (let i = 0; i < n; i++) {
    const ip = b.ipv4();
    const ua = b.randomClientUa();
    const id = r.random() < 0.5 ? null : b.principal();
    const path = STALE_PATHS[i % STALE_PATHS.length];
    b.poisson(b.t0, b.end, r.uniform(1, 4), (t) => b.normalRequest(t, ip, ua, id));
    // A few hits an hour, sometimes a reload right after.
    b.poisson(b.t0, b.end, r.uniform(2, 5) / 60, (t) => {
      b.emit(t, ip, 'GET', path, '/{proxy+}', 404, 48, ua, id);
      if (r.random() < 0.3) b.emit(t + r.uniform(1000, 5000), ip, 'GET', path, '/{proxy+}', 404, 48, ua, id);
    });
    b.labels.benign_notable.push({ kind: 'stale-link', ips: [ip], path });
    ips.push(ip);
  }
  return ips;
}
