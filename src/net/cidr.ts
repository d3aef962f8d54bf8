import { normaliseIp } from './ip.ts';

/**
 * CIDR blocks as numbers. Both families use one representation, the network address as a bigint plus the prefix
 * length, so that every algorithm (containment, ranges, aggregation) has a single code path; 100k blocks parse,
 * sort and aggregate in well under a second.
 *
 * Canonical text is what WAF accepts and what cordon writes everywhere: IPv4 always with its prefix
 * (`203.0.113.7/32`), IPv6 compressed lower-case (RFC 5952) with its prefix (`2001:db8::/64`). An IPv4-mapped
 * IPv6 block (`::ffff:203.0.113.0/120`) is the IPv4 block it carries (`203.0.113.0/24`).
 */

export type Family = 4 | 6;

export interface Cidr {
  readonly family: Family;
  /** Network address: host bits are always zero. */
  readonly addr: bigint;
  /** Prefix length, 0..32 or 0..128. */
  readonly len: number;
}

export class InvalidCidrError extends Error {
  override name = 'InvalidCidrError';
  constructor(readonly input: string) {
    super(`not an IP address or CIDR block: ${JSON.stringify(input.length > 80 ? input.slice(0, 80) + '…' : input)}`);
  }
}

export function familyBits(family: Family): 32 | 128 {
  return family === 4 ? 32 : 128;
}

/** Mask of the host bits of a /len block (all ones below the prefix). */
export function hostMask(family: Family, len: number): bigint {
  return (1n << BigInt(familyBits(family) - len)) - 1n;
}

/** Builds a block, clearing host bits (so `10.0.0.5/24` means `10.0.0.0/24`). */
export function makeCidr(family: Family, addr: bigint, len: number): Cidr {
  return { family, addr: addr & ~hostMask(family, len), len };
}

export function firstAddress(c: Cidr): bigint {
  return c.addr;
}

export function lastAddress(c: Cidr): bigint {
  return c.addr | hostMask(c.family, c.len);
}

/** Number of addresses in the block. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.len);
}

const MAPPED_V4_PREFIX = 0xffffn << 32n;
const V4_MASK = 0xffff_ffffn;

/** A decimal prefix length without sign, spaces or leading zeros. */
function parsePrefixLength(s: string, max: number): number | null {
  if (!/^(0|[1-9]\d{0,2})$/.test(s)) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

function v4ToBigint(dotted: string): bigint {
  const p = dotted.split('.');
  return BigInt(((+p[0] << 24) >>> 0) + (+p[1] << 16) + (+p[2] << 8) + +p[3]);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Groups of one side of `::` (a trailing dotted quad counts as two, on the last side only), or false if malformed.
 */
function v6Groups(side: string, out: number[], last: boolean): boolean {
  if (side === '') return true;
  const parts = side.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (last && i === parts.length - 1 && p.includes('.')) {
      const v4 = normaliseIp(p);
      if (v4 !== p) return false; // a plain dotted quad only (not bracketed)
      const n = Number(v4ToBigint(v4));
      out.push(n >>> 16, n & 0xffff);
    } else if (HEX_GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else {
      return false;
    }
  }
  return true;
}

/**
 * An IPv6 address as a bigint, or null. Hand-written because it is on the hot path (ipaddr.js is ten times
 * slower); it accepts what {@link normaliseIp} accepts, brackets and zone index included, and like it (and
 * ipaddr.js) reads the deprecated `::a.b.c.d` as the IPv4-mapped `::ffff:a.b.c.d`.
 */
function parseV6(raw: string): bigint | null {
  let s = raw;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length < 2 || s.length > 45) return null;
  const dbl = s.indexOf('::');
  const head: number[] = [];
  const tail: number[] = [];
  if (dbl < 0) {
    if (!v6Groups(s, head, true) || head.length !== 8) return null;
  } else {
    if (s.indexOf('::', dbl + 1) >= 0) return null;
    if (!v6Groups(s.slice(0, dbl), head, false) || !v6Groups(s.slice(dbl + 2), tail, true)) return null;
    if (head.length + tail.length > 7) return null;
    if (head.length === 0 && tail.length === 2 && s.includes('.')) tail.unshift(0xffff);
  }
  let v = 0n;
  for (const g of head) v = (v << 16n) | BigInt(g);
  for (let i = head.length + tail.length; i < 8; i++) v <<= 16n;
  for (const g of tail) v = (v << 16n) | BigInt(g);
  return v;
}

/**
 * Parses an address or CIDR block. A bare address is a /32 or /128; an IPv4-mapped IPv6 block of /96 or longer
 * becomes IPv4; host bits are cleared. Surrounding whitespace is ignored. Returns null for anything else.
 */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== 'string') return null;
  const s = text.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  if (!addrText.includes(':')) {
    const v4 = normaliseIp(addrText);
    if (v4 === null || v4.includes(':')) return null;
    const len = slash < 0 ? 32 : parsePrefixLength(s.slice(slash + 1), 32);
    return len === null ? null : makeCidr(4, v4ToBigint(v4), len);
  }
  const v6 = parseV6(addrText);
  if (v6 === null) return null;
  const len = slash < 0 ? 128 : parsePrefixLength(s.slice(slash + 1), 128);
  if (len === null) return null;
  if (len >= 96 && v6 >> 32n === 0xffffn) return makeCidr(4, v6 & V4_MASK, len - 96);
  return makeCidr(6, v6, len);
}

/** Parses a block or throws {@link InvalidCidrError}; passes a parsed one through. */
export function toCidr(x: Cidr | string): Cidr {
  if (typeof x !== 'string') return x;
  const c = parseCidr(x);
  if (c === null) throw new InvalidCidrError(x);
  return c;
}

function formatV4(addr: bigint): string {
  const n = Number(addr & V4_MASK);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run (first on ties) of two or more zero groups as `::`. */
function formatV6(addr: bigint): string {
  const groups: number[] = new Array(8);
  for (let i = 7, v = addr; i >= 0; i--, v >>= 16n) groups[i] = Number(v & 0xffffn);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/**
 * Canonical text of a block, always with its prefix length. An IPv6 block of /96 or longer inside
 * `::ffff:0:0/96` reads back as the IPv4 block it maps (by design: those addresses are IPv4 clients).
 */
export function formatCidr(c: Cidr): string {
  return `${c.family === 4 ? formatV4(c.addr) : formatV6(c.addr)}/${c.len}`;
}

/** Canonical text of an address or block, or null if it is neither. */
export function canonicalCidr(text: string): string | null {
  const c = parseCidr(text);
  return c === null ? null : formatCidr(c);
}

/** True when `inner` (an address or block) lies wholly inside `outer`. Families never contain each other. */
export function contains(outer: Cidr | string, inner: Cidr | string): boolean {
  const o = toCidr(outer);
  const i = toCidr(inner);
  return o.family === i.family && o.len <= i.len && (i.addr & ~hostMask(o.family, o.len)) === o.addr;
}

/** True when the two blocks share at least one address (for CIDRs: one contains the other). */
export function overlaps(a: Cidr | string, b: Cidr | string): boolean {
  const x = toCidr(a);
  const y = toCidr(b);
  if (x.family !== y.family) return false;
  const len = Math.min(x.len, y.len);
  const keep = ~hostMask(x.family, len);
  return (x.addr & keep) === (y.addr & keep);
}

/** Total order: IPv4 before IPv6, then by address, then wider blocks first. */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.addr !== b.addr) return a.addr < b.addr ? -1 : 1;
  return a.len - b.len;
}
