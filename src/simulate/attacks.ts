import { principalKey, type Identity, type TrafficBuilder } from './builder.ts';
import { BROWSER_UAS, PROBE_PATHS, ROUTES, SCANNER_UAS, SCANNER_WORDS, SDK_UAS } from './catalog.ts';

/** Attack window in epoch ms from minute offsets. */
function window(b: TrafficBuilder, startMin: number, durMin: number): [number, number] {
  return [b.at(startMin), b.at(startMin + durMin)];
}

/** One address hammering one route (cache-busting query strings), a tenth of it already throttled. */
export function flood(b: TrafficBuilder, startMin: number, durMin: number, rate = 3000, path = '/search'): void {
  const r = b.rng;
  const ip = b.ipv4();
  const [s, e] = window(b, startMin, durMin);
  const ua = r.choice(SCANNER_UAS.slice(4));
  b.poisson(s, e, rate, (t) => {
    b.emit(t, ip, 'GET', `${path}?q=${r.randrange(1_000_000)}`, path, r.random() < 0.9 ? 200 : 429, 3000, ua);
  });
  b.attacker('flood', [ip], s, e);
}

const SCANNER_STATUS_CUMULATIVE = [80, 90, 96, 100];
const SCANNER_STATUSES = [404, 403, 400, 200];

/** Path discovery: wordlist and random paths, mostly 404. */
export function scanner(b: TrafficBuilder, startMin: number, durMin: number, perMin = 120, v6 = false): void {
  const r = b.rng;
  const ip = v6 ? b.ipv6() : b.ipv4();
  const [s, e] = window(b, startMin, durMin);
  const ua = r.choice(SCANNER_UAS);
  b.poisson(s, e, perMin, (t) => {
    const path = r.random() < 0.8 ? r.choice(SCANNER_WORDS) : `/${r.randrange(1_000_000).toString(16)}`;
    const status = SCANNER_STATUSES[r.weightedIndex(SCANNER_STATUS_CUMULATIVE)];
    const method = r.choice(['GET', 'GET', 'POST', 'HEAD']);
    b.emit(t, ip, method, path, status !== 200 ? '/{proxy+}' : path, status, 48, ua);
  });
  b.attacker('scanner', [ip], s, e);
}

/** A scanner that takes a new address from its /64 for nearly every request: per-IP counts stay tiny. */
export function ipv6RotatingScanner(b: TrafficBuilder, startMin: number, durMin: number, perMin = 200): void {
  const r = b.rng;
  const prefix = `2a0b:${b.hextet()}:${b.hextet()}:${b.hextet()}`;
  const [s, e] = window(b, startMin, durMin);
  const ips = new Set<string>();
  const ua = r.choice(SCANNER_UAS);
  b.poisson(s, e, perMin, (t) => {
    const ip = b.ipv6(prefix);
    const path = r.choice(PROBE_PATHS);
    // Only addresses that really appear in the log are labelled.
    if (b.emit(t, ip, 'GET', path, '/{proxy+}', r.choice([404, 404, 403]), 48, ua)) ips.add(ip);
  });
  b.attacker('ipv6-rotating-scanner', [...ips].sort(), s, e, null, `${prefix}::/64`);
}

/** Password guessing against /login: almost every attempt fails. Several `ips` make it distributed. */
export function credentialStuffing(b: TrafficBuilder, startMin: number, durMin: number, rate = 400,
  ips?: string[], fail = 0.96): void {
  const r = b.rng;
  const sources = ips ?? [b.ipv4()];
  const [s, e] = window(b, startMin, durMin);
  const uas = [...BROWSER_UAS, SDK_UAS[2]];
  for (const ip of sources) {
    const ua = r.choice(uas);
    b.poisson(s, e, rate / sources.length, (t) => {
      const ok = r.random() > fail;
      b.emit(t, ip, 'POST', '/login', '/login', ok ? 200 : 401, ok ? 120 : 40, ua);
    });
  }
  b.attacker(sources.length === 1 ? 'credential-stuffing' : 'distributed-credential-stuffing', sources, s, e);
}

/** Many hosts of one /24, each at a rate that looks human on its own: only the prefix stands out. */
export function subnetFlood(b: TrafficBuilder, startMin: number, durMin: number, hosts = 120, rateEach = 45): void {
  const r = b.rng;
  const net = `${r.choice([45, 91, 185, 193])}.${r.randrange(256)}.${r.randrange(256)}.0/24`;
  const ips = Array.from({ length: hosts }, () => b.ipv4(net));
  const [s, e] = window(b, startMin, durMin);
  for (const ip of ips) {
    const ua = r.choice(BROWSER_UAS);
    b.poisson(s, e, rateEach, (t) => {
      const route = ROUTES[r.randrange(2)];
      const path = route.resource.replace('{id}', String(r.randrange(1, 50000)));
      b.emit(t, ip, route.method, path, route.resource, 200, route.bytes, ua);
    });
  }
  b.attacker('subnet-flood', ips, s, e, null, net);
}

// --- attacks on credentials (not in apitraffic.py) ----------------------------------------------------------

/**
 * Leaked IAM keys: the owner keeps calling from its one address all along, and within minutes the same
 * principal shows up from `addresses` new ones around the world. Blocking the principal contains it; blocking
 * the owner's address is a false positive (labelled benign_notable "credential-owner").
 */
export function stolenCredentials(b: TrafficBuilder, startMin: number, durMin: number, addresses = 36,
  perIpPerMin = 6, ownerRate = 3): void {
  const r = b.rng;
  const id = b.principal('iam');
  const ownerIp = b.ipv4();
  const ownerUa = SDK_UAS[0];
  b.poisson(b.t0, b.end, ownerRate, (t) => b.normalRequest(t, ownerIp, ownerUa, id));
  const [s, e] = window(b, startMin, durMin);
  const used: string[] = [];
  const thiefUas = [SDK_UAS[0], SDK_UAS[2], ...SCANNER_UAS.slice(4)];
  for (let i = 0; i < addresses; i++) {
    const ip = b.ipv4();
    const ua = r.choice(thiefUas);
    // Every address is used at least once, spread over the first half of the window, then keeps calling.
    const first = r.uniform(s, s + (e - s) / 2);
    if (b.normalRequest(first, ip, ua, id)) used.push(ip);
    b.poisson(first, e, perIpPerMin, (t) => b.normalRequest(t, ip, ua, id));
  }
  b.attacker('stolen-credentials', used, s, e, principalKey(id));
  b.labels.benign_notable.push({ kind: 'credential-owner', ips: [ownerIp], principal: principalKey(id) });
}

/** Read-heavy pages a bulk export walks through, with their typical sizes. */
function bulkRead(b: TrafficBuilder, t: number, ip: string, ua: string, id: Identity, cursor: number): void {
  const r = b.rng;
  const u = r.random();
  const [path, resource, bytes] =
    u < 0.5 ? [`/items?page=${cursor}`, '/items', 4200]
      : u < 0.75 ? [`/users/${cursor}`, '/users/{id}', 600]
        : [`/orders/${cursor}`, '/orders/{id}', 700];
  b.emit(t, ip, 'GET', path, resource, 200, Math.trunc(bytes * r.uniform(0.5, 1.6)), ua, id);
}

/**
 * Bulk exfiltration: a principal with a steady, normal history that, from `startMin`, walks the API
 * sequentially at `factor` times its usual rate (about as many times its usual bytes).
 */
export function exfiltration(b: TrafficBuilder, startMin: number, durMin: number, normalRate = 4, factor = 20): void {
  const r = b.rng;
  const id = b.principal('cognito');
  const ip = b.ipv4();
  const ua = r.choice(BROWSER_UAS);
  b.poisson(b.t0, b.end, normalRate, (t) => b.normalRequest(t, ip, ua, id));
  const [s, e] = window(b, startMin, durMin);
  let cursor = r.randrange(1, 1000);
  b.poisson(s, e, normalRate * (factor - 1), (t) => bulkRead(b, t, ip, ua, id, cursor++));
  b.attacker('exfiltration', [ip], s, e, principalKey(id));
}
