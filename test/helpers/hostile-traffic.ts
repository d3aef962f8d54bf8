import { readFileSync, writeFileSync } from 'node:fs';
import { generate } from './apitraffic.ts';
import { mulberry32 } from './rng.ts';

/** The /24 that sends long random paths and agents (they compress about 1.5:1). */
export const JUNK_PREFIX = '203.0.113';

/**
 * apitraffic `mixed` traffic with what an attacker (or a broken clock) controls mixed in: one line stamped decades
 * ahead, one stamped in 2001, and a /24 whose hosts scan with paths and user agents of hundreds of random
 * characters. The /24 is added to the labels as an attacker, so score.py judges it like the others.
 */
export function hostileTraffic(seed: number, minutes = 30): { traffic: string; labels: string; dir: string; absurdLines: number } {
  const g = generate('mixed', seed, 'apigw-json', minutes);
  const labels = JSON.parse(readFileSync(g.labels, 'utf8')) as { start: number; attackers: { kind: string; ips: string[]; principal: null; start: number; end: number }[] };
  const lines = readFileSync(g.traffic, 'utf8').trim().split('\n');
  const r = mulberry32(seed);
  const junk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(r() * 90))).join('').replace(/["\\]/g, 'x');
  const start = labels.start + 8 * 60_000;
  const end = start + 6 * 60_000;
  const hosts = Array.from({ length: 20 }, (_, i) => `${JUNK_PREFIX}.${10 + i}`);
  const extra: { t: number; line: string }[] = [];
  const line = (t: number, ip: string, path: string, ua: string, status: number) => JSON.stringify({ requestId: `j${extra.length}`,
    ip, requestTimeEpoch: t, httpMethod: 'GET', resourcePath: '/{proxy+}', path, status, protocol: 'HTTP/1.1', responseLength: 40,
    responseLatency: 5, userAgent: ua, caller: '-', user: '-', userArn: '-', principalId: '-', apiKeyId: '-' });
  for (let t = start; t < end; t += 1_500) {
    for (const ip of hosts) extra.push({ t: t + Math.floor(r() * 1_500), line: line(t, ip, `/${junk(300)}`, junk(250), 404) });
  }
  labels.attackers.push({ kind: 'junk-subnet', ips: hosts, principal: null, start, end });
  // A broken clock (or a forged line): one decades ahead, one in 2001, both from an ordinary-looking client.
  const mid = labels.start + Math.floor(minutes / 2) * 60_000;
  extra.push({ t: mid, line: line(Date.UTC(2100, 0, 1), '192.0.2.200', '/items/1', 'Mozilla/5.0', 200) });
  extra.push({ t: mid + 1, line: line(Date.UTC(2001, 0, 1), '192.0.2.201', '/items/2', 'Mozilla/5.0', 200) });
  const timed = lines.map((l) => ({ t: (JSON.parse(l) as { requestTimeEpoch: number }).requestTimeEpoch, line: l }));
  const all = [...timed, ...extra].sort((a, b) => a.t - b.t);
  writeFileSync(g.traffic, all.map((x) => x.line).join('\n') + '\n');
  writeFileSync(g.labels, JSON.stringify(labels));
  return { ...g, absurdLines: 2 };
}
