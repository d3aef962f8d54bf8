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
