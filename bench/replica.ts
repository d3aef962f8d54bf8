import ipaddr from 'ipaddr.js';
import { hash32 } from '../src/features/hash.ts';
import type { SimEvent } from '../src/simulate/builder.ts';

/**
 * Copies of the simulated population, so the bench can run it at many times its rate: copy j is another population of
 * the same shape (its own addresses, principals, NATs, /24s and attacks). Copy 0 is the original.
 */

/** Copy j of an address: IPv4 second octet XOR j (first octet moved past 255 copies), IPv6 second group XOR j. */
export function moveIp(ip: string, j: number): string {
  if (j === 0) return ip;
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') {
    const o = (a as ipaddr.IPv4).octets.slice();
    o[1] ^= j & 255;
    o[0] = (o[0] + (j >> 8)) % 224 || 1;
    return o.join('.');
  }
  const p = (a as ipaddr.IPv6).parts.slice();
  p[1] ^= j & 0xffff;
  return new ipaddr.IPv6(p).toString();
}

/** moveIp remembered per address and copy: a population repeats its addresses in nearly every event. */
export function cachedMoveIp(): (ip: string, j: number) => string {
  const moved = new Map<string, string>();
  return (ip, j) => {
    const key = `${j}|${ip}`;
    let out = moved.get(key);
    if (out === undefined) moved.set(key, (out = moveIp(ip, j)));
    return out;
  };
}

/**
 * Copy j of an event: the address moved, every principal field suffixed `~j`, and what differs between two clients
 * doing the same thing: the numbers in the path (another item, another id), the response's size (±20%) and its latency
 * (±30%). Without that a copy would be its original byte for byte but for the key, and a summary record holding many
 * copies would compress as no real traffic does. Deterministic (a hash of the event and j): every run, and every path
 * that streams copies, makes the same copy.
 */
export function replicaOf(e: SimEvent, j: number, move: (ip: string, j: number) => string = moveIp): SimEvent {
  if (j === 0) return e;
  const id = e.id && Object.fromEntries(Object.entries(e.id).map(([k, v]) => [k, typeof v === 'string' ? `${v}~${j}` : v]));
  let h = hash32(`${j}|${e.t}|${e.ip}|${e.path}`) >>> 0;
  const next = (): number => {
    h = (Math.imul(h ^ (h >>> 16), 0x45d9f3b) + 0x9e3779b9) >>> 0;
    return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
  };
  const path = e.path.replace(/[0-9]+/g, (d) => String(Math.floor(next() * 10 ** Math.min(d.length, 15))).padStart(d.length, '0'));
  const len = Math.round(e.len * (0.8 + 0.4 * next()));
  const lat = e.lat <= 0 ? e.lat : Math.max(1, Math.round(e.lat * (0.7 + 0.6 * next())));
  return { ...e, ip: move(e.ip, j), id, path, len, lat };
}
