import type { RateShape, TrafficBuilder } from './builder.ts';
import { CRAWLER_UA, HEALTH_CHECK_UA } from './catalog.ts';

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
