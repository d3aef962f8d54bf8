/**
 * An oracle for "what is enforced", written apart from src/net: plain BigInt arithmetic on address strings.
 * Tests ask it whether an address falls inside any CIDR of an IP set or a policy, instead of comparing
 * with what the code under test computes.
 */

function v4ToBig(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = (n << 8n) | BigInt(Number(p));
  }
  return n;
}

function v6ToBig(text: string): bigint | null {
  let t = text.toLowerCase();
  // A dotted IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (dotted) {
    const v4 = v4ToBig(dotted[2]);
    if (v4 === null) return null;
    t = `${dotted[1]}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

interface Block { family: 4 | 6; start: bigint; end: bigint }

function block(cidr: string): Block {
  const [addr, bitsText] = cidr.includes('/') ? cidr.split('/') : [cidr, undefined];
  const family = addr.includes(':') ? 6 : 4;
  const width = family === 4 ? 32 : 128;
  const n = family === 4 ? v4ToBig(addr) : v6ToBig(addr);
  const bits = bitsText === undefined ? width : Number(bitsText);
  if (n === null || !Number.isInteger(bits) || bits < 0 || bits > width) throw new Error(`oracle: not a CIDR: ${cidr}`);
  const host = (1n << BigInt(width - bits)) - 1n;
  return { family, start: n & ~host, end: (n & ~host) | host };
}

/** True when `address` lies inside one of `cidrs` (IPv4 and IPv6 kept apart, as WAF keeps them). */
export function coveredBy(address: string, cidrs: readonly string[]): boolean {
  const a = block(address);
  return cidrs.some((c) => {
    const b = block(c);
    return b.family === a.family && b.start <= a.start && a.end <= b.end;
  });
}

/** How many addresses the CIDRs hold in all (overlaps counted once per CIDR: use on disjoint sets). */
export function addressCount(cidrs: readonly string[]): bigint {
  return cidrs.reduce((n, c) => { const b = block(c); return n + (b.end - b.start + 1n); }, 0n);
}

/** Every address of an IPv4 /24 given as "a.b.c" (for address-by-address checks). */
export function hostsOf24(prefix: string): string[] {
  return Array.from({ length: 256 }, (_, i) => `${prefix}.${i}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Sets of addresses, exactly: the same BigInt blocks, swept as intervals (still nothing from src/net).

function addressText(family: 4 | 6, n: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  return Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
}

/** The address `offset` places into `cidr` (0 = its first), as text the oracle reads back. */
export function addressAt(cidr: string, offset: bigint): string {
  const b = block(cidr);
  if (offset < 0n || b.start + offset > b.end) throw new Error(`oracle: offset ${offset} outside ${cidr}`);
  return addressText(b.family, b.start + offset);
}

/** How many addresses one CIDR holds. */
export function sizeOf(cidr: string): bigint {
  const b = block(cidr);
  return b.end - b.start + 1n;
}

/**
 * Addresses of `cidr` to test one by one: its first and last, and `n` more drawn with `random` (a [0, 1) generator)
 * from the whole block (for blocks of more than 2^53 addresses, from the top 53 bits and the low bits alike).
 */
export function sampleAddresses(cidr: string, random: () => number, n = 4): string[] {
  const size = sizeOf(cidr);
  const out = new Set<string>([addressAt(cidr, 0n), addressAt(cidr, size - 1n)]);
  for (let i = 0; i < n; i++) {
    const hi = BigInt(Math.floor(random() * 2 ** 26));
    const lo = BigInt(Math.floor(random() * 2 ** 26));
    const mid = BigInt(Math.floor(random() * 2 ** 26));
    out.add(addressAt(cidr, ((hi << 52n) | (mid << 26n) | lo) % size));
  }
  return [...out];
}

/** The CIDRs as inclusive [start, end] intervals of one family, merged and sorted. */
function intervals(family: 4 | 6, cidrs: readonly string[]): [bigint, bigint][] {
  const list = cidrs.map(block).filter((b) => b.family === family).sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const b of list) {
    const last = out[out.length - 1];
    if (last && b.start <= last[1] + 1n) {
      if (b.end > last[1]) last[1] = b.end;
    } else out.push([b.start, b.end]);
  }
  return out;
}

/**
 * A set of addresses given as CIDRs, swept once into merged intervals per family, for many questions about it.
 */
export class AddressSet {
  private readonly byFamily: Record<4 | 6, [bigint, bigint][]>;
  constructor(cidrs: readonly string[]) {
    this.byFamily = { 4: intervals(4, cidrs), 6: intervals(6, cidrs) };
  }

  /** Index of the first interval that ends at or after `n`. */
  private from(list: [bigint, bigint][], n: bigint): number {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid][1] < n) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(address: string): boolean {
    const b = block(address);
    const list = this.byFamily[b.family];
    const i = this.from(list, b.start);
    return i < list.length && list[i][0] <= b.start && b.end <= list[i][1];
  }

  /** The addresses of `cidr` outside this set, as inclusive ranges (first, last), at most `limit`. Empty: all inside. */
  missing(cidr: string, limit = 5): { first: string; last: string }[] {
    const b = block(cidr);
    const list = this.byFamily[b.family];
    const out: { first: string; last: string }[] = [];
    let next = b.start;
    for (let i = this.from(list, b.start); i < list.length && out.length < limit; i++) {
      const [s, e] = list[i];
      if (s > b.end) break;
      if (s > next) out.push({ first: addressText(b.family, next), last: addressText(b.family, s - 1n) });
      next = e + 1n;
      if (next > b.end) return out;
    }
    if (next <= b.end && out.length < limit) out.push({ first: addressText(b.family, next), last: addressText(b.family, b.end) });
    return out;
  }

  /** The first address of `cidr` that this set holds, or null when none. */
  firstIn(cidr: string): string | null {
    const b = block(cidr);
    const list = this.byFamily[b.family];
    const i = this.from(list, b.start);
    if (i >= list.length || list[i][0] > b.end) return null;
    return addressText(b.family, list[i][0] > b.start ? list[i][0] : b.start);
  }
}

/** The addresses of `cidr` that no CIDR of `cover` holds (see {@link AddressSet.missing}). */
export function uncovered(cidr: string, cover: readonly string[], limit = 5): { first: string; last: string }[] {
  return new AddressSet(cover).missing(cidr, limit);
}

/** The first address of `cidr` that one of `cidrs` also holds, or null when they share none. */
export function firstShared(cidr: string, cidrs: readonly string[]): string | null {
  return new AddressSet(cidrs).firstIn(cidr);
}
