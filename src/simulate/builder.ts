import ipaddr from 'ipaddr.js';
import { ACCOUNT, CLIENT_UAS, PUBLIC_FIRST_OCTETS, ROUTES } from './catalog.ts';
import type { AttackerLabel, Labels } from './labels.ts';
import { Rng, cumulativeWeights } from './rng.ts';

/** Who a request authenticated as; every field is optional, as in API Gateway's $context. */
export interface Identity {
  userArn?: string;
  caller?: string;
  user?: string;
  principalId?: string;
  apiKeyId?: string;
}

export type PrincipalKind = 'iam' | 'role' | 'cognito' | 'apikey';

/** One simulated request; kept small because a busy hour holds a few hundred thousand. */
export interface SimEvent {
  t: number;
  ip: string;
  method: string;
  path: string;
  resource: string;
  status: number;
  len: number;
  ua: string;
  lat: number;
  id: Identity | null;
}

/** A request rate multiplier over time; `peak` bounds it so Poisson thinning can sample it. */
export interface RateShape {
  (t: number): number;
  peak: number;
}

const ROUTE_CUMULATIVE = cumulativeWeights(ROUTES.map((r) => r.weight));

/** The key cordon ranks principals by (DESIGN §4): userArn, then principalId, then apiKeyId, then caller. */
export function principalKey(id: Identity): string | null {
  return id.userArn ?? id.principalId ?? id.apiKeyId ?? id.caller ?? null;
}

/** Collects events and labels for one scenario (the Python `Gen` minus output). */
export class TrafficBuilder {
  readonly rng: Rng;
  readonly t0: number;
  readonly end: number;
  readonly events: SimEvent[] = [];
  readonly labels: Labels;
  private readonly usedIps = new Set<string>();

  constructor(
    seed: number,
    readonly minutes: number,
    start: number,
  ) {
    this.rng = new Rng(seed);
    this.t0 = start;
    this.end = start + minutes * 60000;
    this.labels = {
      scenario: null, seed, start, end: this.end, attackers: [], benign_notable: [], allowlist: [],
      benign_ips: 0, benign_principals: 0,
    };
  }

  /** Epoch ms of a minute offset into the traffic window. */
  at(minute: number): number {
    return this.t0 + minute * 60000;
  }

  // --- addresses and identities --------------------------------------------------------------------------

  /** A fresh public IPv4 address, or one inside `prefix` (never the network or broadcast address). */
  ipv4(prefix?: string): string {
    for (;;) {
      const ip = prefix ? this.hostIn(prefix) : this.publicIpv4();
      if (!this.usedIps.has(ip)) {
        this.usedIps.add(ip);
        return ip;
      }
    }
  }

  private publicIpv4(): string {
    const r = this.rng;
    return `${r.choice(PUBLIC_FIRST_OCTETS)}.${r.randrange(256)}.${r.randrange(256)}.${r.randrange(1, 255)}`;
  }

  private hostIn(prefix: string): string {
    const [base, bitsText] = prefix.split('/');
    const size = 2 ** (32 - Number(bitsText));
    const o = base.split('.').map(Number);
    const n = ((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3] + this.rng.randrange(1, size - 1);
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }

  /** A random IPv6 address, within the given /64 (four hextets) or a random one in 2a01..2a08::/16. */
  ipv6(prefix64?: string): string {
    const r = this.rng;
    const net = prefix64 ?? `2a0${r.randrange(1, 9)}:${this.hextet()}:${this.hextet()}:${this.hextet()}`;
    const host = [this.hextet(), this.hextet(), this.hextet(), this.hextet()].join(':');
    return ipaddr.IPv6.parse(`${net}:${host}`).toRFC5952String();
  }

  hextet(): string {
    return this.rng.randrange(65536).toString(16);
  }

  /** A caller identity of the given kind (default: iam, cognito twice as often, or an API key). */
  principal(kind?: PrincipalKind): Identity {
    const r = this.rng;
    const k = kind ?? r.choice(['iam', 'cognito', 'cognito', 'apikey'] as const);
    const n = r.randrange(1_000_000);
    const padded = String(n).padStart(16, '0');
    if (k === 'iam') return { userArn: `arn:aws:iam::${ACCOUNT}:user/svc-${n}`, caller: `AIDA${padded}`, user: `AIDA${padded}` };
    if (k === 'role') return { userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/app-${n}/session`, caller: `AROA${padded}:session` };
    if (k === 'apikey') return { apiKeyId: `key${String(n).padStart(8, '0')}` };
    const hex = (v: number, width: number) => v.toString(16).padStart(width, '0');
    return {
      principalId: `${hex(n, 8)}-${hex(r.randrange(1 << 16), 4)}-4${hex(r.randrange(1 << 12), 3)}-a${hex(r.randrange(1 << 12), 3)}-${r.hex(12)}`,
    };
  }

  // --- emitting requests ---------------------------------------------------------------------------------

  /** Records one request; returns false (and records nothing) when it falls outside the traffic window. */
  emit(t: number, ip: string, method: string, path: string, resource: string, status: number, len: number,
    ua: string, id: Identity | null = null, latency?: number): boolean {
    if (t < this.t0 || t >= this.end) return false;
    const lat = latency ?? Math.trunc(this.rng.lognormvariate(3.3, 0.6));
    this.events.push({ t: Math.trunc(t), ip, method, path, resource, status, len, ua, lat, id });
    return true;
  }

  /** A request to the API as a well-behaved client makes it, with the usual small share of errors. */
  normalRequest(t: number, ip: string, ua: string, id: Identity | null, errScale = 1): boolean {
    const r = this.rng;
    const route = ROUTES[r.weightedIndex(ROUTE_CUMULATIVE)];
    const hasId = route.resource.includes('{id}');
    const path = hasId ? route.resource.replace('{id}', String(r.randrange(1, 50000))) : route.resource;
    let status = route.method === 'POST' ? 201 : 200;
    const u = r.random();
    if (hasId && u < 0.015 * errScale) status = 404;
    else if (u < 0.02 * errScale) status = r.choice([400, 403, 429]);
    else if (u < 0.021) status = 500;
    // Anonymous calls to per-user resources are refused half the time (expired or missing tokens).
    if (!id && (route.resource.startsWith('/users') || route.resource.startsWith('/orders')) && r.random() < 0.5) {
      status = 401;
    }
    const len = status < 300 ? Math.trunc(route.bytes * r.uniform(0.5, 1.6)) : r.choice([32, 48, 64]);
    return this.emit(t, ip, route.method, path, route.resource, status, len, ua, id);
  }

  /**
   * Calls `each(t)` at the times of a Poisson process with mean `perMin` requests a minute over [start, end);
   * `shape(t)` multiplies the rate (sampled by thinning against shape.peak).
   */
  poisson(start: number, end: number, perMin: number, each: (t: number) => void, shape?: RateShape): void {
    const peak = perMin * (shape ? shape.peak : 1);
    if (!(peak > 0)) return;
    const lambda = peak / 60000;
    const r = this.rng;
    const stop = Math.min(end, this.end); // requests after the window would be dropped anyway
    for (let t = start + r.expovariate(lambda); t < stop; t += r.expovariate(lambda)) {
      if (!shape || r.random() < shape(t) / shape.peak) each(t);
    }
  }

  randomClientUa(): string {
    return this.rng.choice(CLIENT_UAS);
  }

  // --- labels --------------------------------------------------------------------------------------------

  attacker(kind: string, ips: string[], start: number, end: number, principal: string | null = null,
    prefix?: string): void {
    const label: AttackerLabel = { kind, ips, principal, start: Math.trunc(start), end: Math.trunc(end) };
    if (prefix !== undefined) label.prefix = prefix;
    this.labels.attackers.push(label);
  }
}
