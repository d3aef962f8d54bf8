import type { InputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { mulberry32 as rng } from './rng.ts';

/**
 * Access-log lines in the recommended API Gateway JSON format (DESIGN §3.1) for the end-to-end test: a benign
 * population plus a handful of attackers, at event times just behind "now" (CloudWatch Logs accepts events from
 * the last 14 days and up to 2 hours ahead).
 */

export const API_ID = 'e2eapi0001';
export const ACCOUNT = '123456789012';

/** Attacker-controlled strings that must reach Slack escaped. */
export const HOSTILE_UA = 'sqlmap/1.7 <!channel> *pwned* `rm -rf` <https://evil.example|click> \u001b[2J\u202e';
export const HOSTILE_PATH_PREFIX = '/admin/<!here>';

export const ATTACKERS = {
  /** 3,000 requests in one minute. */
  flood: '203.0.113.66',
  /** 60 distinct paths answered 404 in one minute, with a hostile user agent. */
  scanner: '198.51.100.23',
  /** Three scanners of one /24: cordon blocks each, then the /24 (a CIDR of the resource policy's deny). */
  swarm: ['192.0.2.10', '192.0.2.11', '192.0.2.12'],
  swarmCidr: '192.0.2.0/24',
  /** A principal used from 25 addresses in one minute: stolen credentials (the policy's principal deny). */
  stolenPrincipal: `arn:aws:iam::${ACCOUNT}:user/mallory`,
} as const;

export interface Traffic {
  /** Sorted by timestamp. */
  events: InputLogEvent[];
  benignIps: string[];
  benignPrincipals: string[];
  stolenFromIps: string[];
  firstMinute: number;
  minutes: number;
}


interface Line {
  ip: string;
  t: number;
  method?: string;
  resourcePath?: string;
  path: string;
  status: number;
  ua?: string;
  userArn?: string;
}

let counter = 0;

function accessLogLine(l: Line): string {
  const n = ++counter;
  const hex = n.toString(16).padStart(12, '0');
  return JSON.stringify({
    requestId: `00000000-0000-4000-8000-${hex}`,
    extendedRequestId: `E2E${hex}=`,
    ip: l.ip,
    requestTimeEpoch: l.t,
    httpMethod: l.method ?? 'GET',
    resourcePath: l.resourcePath ?? l.path,
    path: l.path,
    status: l.status,
    protocol: 'HTTP/1.1',
    responseLength: l.status === 200 ? 512 + (n % 900) : 36,
    responseLatency: 20 + (n % 40),
    integrationLatency: 15 + (n % 40),
    userAgent: l.ua ?? 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
    caller: '-',
    user: '-',
    userArn: l.userArn ?? '-',
    principalId: '-',
    apiKeyId: '-',
    wafResponseCode: '-',
    apiId: API_ID,
    stage: 'prod',
    domainName: `${API_ID}.execute-api.us-east-1.amazonaws.com`,
  });
}

const BENIGN_PATHS: [string, string][] = [
  ['/orders', '/orders'],
  ['/orders/{id}', '/orders/1001'],
  ['/orders/{id}', '/orders/1002'],
  ['/products', '/products'],
  ['/products/{id}', '/products/77'],
  ['/cart', '/cart'],
  ['/health', '/health'],
  ['/profile', '/profile'],
];

/**
 * `minutes` minutes of traffic ending about two minutes before `now`: 40 benign clients (12 of them signed in
 * as their own principal) at 2–4 requests a minute, the flood in minute 3, the scanner in minute 4, the swarm and
 * the stolen credentials in minute 5.
 */
export function buildTraffic(now: number, minutes = 9, seed = 42): Traffic {
  const random = rng(seed);
  const firstMinute = Math.floor(now / 60_000) * 60_000 - (minutes + 2) * 60_000;
  const lines: Line[] = [];
  const benignIps = Array.from({ length: 40 }, (_, i) => `${52 + (i % 3)}.${20 + i}.${(i * 37) % 250}.${10 + i}`);
  const benignPrincipals = Array.from({ length: 12 }, (_, i) => `arn:aws:iam::${ACCOUNT}:user/app-user-${i}`);
  const inMinute = (m: number) => firstMinute + m * 60_000 + Math.floor(random() * 59_000);

  for (let m = 0; m < minutes; m++) {
    benignIps.forEach((ip, i) => {
      const n = 2 + Math.floor(random() * 3);
      for (let k = 0; k < n; k++) {
        const [resourcePath, path] = BENIGN_PATHS[Math.floor(random() * BENIGN_PATHS.length)];
        const status = random() < 0.03 ? 404 : 200;
        lines.push({ ip, t: inMinute(m), resourcePath, path, status, userArn: i < benignPrincipals.length ? benignPrincipals[i] : undefined });
      }
    });
  }

  // Flood: 3,000 requests in minute 3.
  for (let k = 0; k < 3_000; k++) {
    lines.push({ ip: ATTACKERS.flood, t: firstMinute + 3 * 60_000 + Math.floor((k * 59_000) / 3_000), path: '/orders', status: 200, ua: 'python-requests/2.32' });
  }
  // Scanner: 60 distinct missing paths in minute 4, some of them hostile, with a hostile user agent.
  for (let k = 0; k < 60; k++) {
    const path = k % 3 === 0 ? `${HOSTILE_PATH_PREFIX}/${k}` : `/wp-admin/probe-${k}.php`;
    lines.push({ ip: ATTACKERS.scanner, t: firstMinute + 4 * 60_000 + k * 900, path, resourcePath: '/{proxy+}', status: 404, ua: HOSTILE_UA });
  }
  // Swarm: three hosts of one /24, 30 distinct missing paths each, in minute 5.
  ATTACKERS.swarm.forEach((ip, h) => {
    for (let k = 0; k < 30; k++) {
      lines.push({ ip, t: firstMinute + 5 * 60_000 + k * 1_800 + h * 300, path: `/.git/objects/${h}/${k}`, resourcePath: '/{proxy+}', status: 404, ua: 'Go-http-client/1.1' });
    }
  });
  // Stolen credentials: one principal from 25 addresses (distinct /24s) in minute 5, two requests each.
  const stolenFromIps = Array.from({ length: 25 }, (_, i) => `45.33.${10 + i}.7`);
  stolenFromIps.forEach((ip, i) => {
    for (let k = 0; k < 2; k++) {
      lines.push({ ip, t: firstMinute + 5 * 60_000 + i * 2_000 + k * 500, path: '/orders', status: 200, userArn: ATTACKERS.stolenPrincipal });
    }
  });

  lines.sort((a, b) => a.t - b.t);
  const events = lines.map((l) => ({ timestamp: l.t, message: accessLogLine(l) }));
  return { events, benignIps, benignPrincipals, stolenFromIps, firstMinute, minutes };
}

/**
 * PutLogEvents batches as API Gateway's log writer sends them: a few seconds of log time each (`spanMs`), sorted,
 * within the limits (10,000 events, 1,048,576 bytes counting 26 bytes per event; kept well below them here).
 * moto turns each into one subscription record, as CloudWatch Logs delivers a few seconds of events per record.
 */
export function putLogEventsBatches(events: InputLogEvent[], spanMs = 5_000, maxEvents = 1_000, maxBytes = 800 * 1024): InputLogEvent[][] {
  const out: InputLogEvent[][] = [];
  let batch: InputLogEvent[] = [];
  let bytes = 0;
  let slot = -1;
  for (const e of events) {
    const size = Buffer.byteLength(e.message!, 'utf8') + 26;
    const m = Math.floor(e.timestamp! / spanMs);
    if (batch.length && (batch.length >= maxEvents || bytes + size > maxBytes || m !== slot)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(e);
    bytes += size;
    slot = m;
  }
  if (batch.length) out.push(batch);
  return out;
}
