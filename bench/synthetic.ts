import type { AccessEvent } from '../src/events.ts';

/**
 * A window with as many distinct clients as asked, for the figures that need more keys than a simulated hour
 * has: IPv4 clients four to a /24 (so their prefixes are scored too), one in five authenticated as its own IAM
 * user, three requests each with the usual share of 404s. Deterministic.
 */
export const SYNTHETIC_MIX = 'IPv4 clients, 4 per /24, 1 in 5 with its own IAM principal, 3 requests each';

const UAS = ['Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0', 'okhttp/4.12.0',
  'python-requests/2.32.3', 'aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#20.18.0'];

export function clientIp(i: number): string {
  const p = i >> 2; // four hosts per /24
  return `${11 + ((p >> 16) % 200)}.${(p >> 8) & 255}.${p & 255}.${(i & 3) + 1}`;
}

/** Calls `each` with the events of clients [from, to) in the window starting at `windowStart`. */
export function syntheticEvents(from: number, to: number, windowStart: number, each: (e: AccessEvent) => void): void {
  for (let i = from; i < to; i++) {
    const ip = clientIp(i);
    const principal = i % 5 === 0 ? `arn:aws:iam::123456789012:user/client-${i}` : '';
    for (let j = 0; j < 3; j++) {
      const item = (i * 7 + j * 13) % 50_000;
      const status = (i + j) % 67 === 0 ? 404 : 200;
      each({
        time: windowStart + ((i * 37 + j * 1_000) % 55_000),
        ip, method: 'GET', path: `/items/${item}`, resource: '/items/{id}', status,
        bytes: status === 200 ? 800 + (item % 400) : 48, latencyMs: 20 + (item % 30),
        userAgent: UAS[i % UAS.length], principal,
      });
    }
  }
}
