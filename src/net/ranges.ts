import { type Cidr, type Family, familyBits, firstAddress, lastAddress } from './cidr.ts';

/**
 * Sets of addresses of one family as sorted, disjoint, non-adjacent inclusive ranges. Set algebra on ranges is
 * exact and independent of how the set was written as CIDRs, which is what lets aggregation merge, subtract and
 * re-cut without ever widening.
 */

export interface Range {
  readonly start: bigint;
  /** Inclusive. */
  readonly end: bigint;
}

export function cidrToRange(c: Cidr): Range {
  return { start: firstAddress(c), end: lastAddress(c) };
}

/** Normalises any ranges into sorted, disjoint ranges, joining overlapping and adjacent ones. */
export function unionRanges(ranges: readonly Range[]): Range[] {
  if (ranges.length === 0) return [];
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Range[] = [];
  let cur = sorted[0];
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i];
    if (r.start <= cur.end + 1n) {
      if (r.end > cur.end) cur = { start: cur.start, end: r.end };
    } else {
      out.push(cur);
      cur = r;
    }
  }
  out.push(cur);
  return out;
}

/** `a` minus `b`; both must be normalised (see {@link unionRanges}). */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let j = 0;
  for (const r of a) {
    let start = r.start;
    while (j < b.length && b[j].end < start) j++;
    let k = j;
    while (start <= r.end && k < b.length && b[k].start <= r.end) {
      if (b[k].start > start) out.push({ start, end: b[k].start - 1n });
      if (b[k].end >= start) start = b[k].end + 1n;
      k++;
    }
    if (start <= r.end) out.push({ start, end: r.end });
  }
  return out;
}

/**
 * The fewest CIDR blocks that cover exactly the range, in address order. The whole address space is returned as
 * its two halves: WAF rejects `/0`.
 */
export function rangeToCidrs(family: Family, r: Range): Cidr[] {
  const bits = familyBits(family);
  const out: Cidr[] = [];
  let s = r.start;
  while (s <= r.end) {
    // The largest block that starts aligned at s and ends inside the range; never wider than /1.
    const align = s === 0n ? bits : bitLength(s & -s) - 1;
    const fit = bitLength(r.end - s + 1n) - 1;
    const hostBits = Math.min(align, fit, bits - 1);
    out.push({ family, addr: s, len: bits - hostBits });
    s += 1n << BigInt(hostBits);
  }
  return out;
}

/** Bits needed to write a positive bigint (1n → 1, 8n → 4). */
function bitLength(x: bigint): number {
  let n = 0;
  while (x > 0xffff_ffffn) {
    x >>= 32n;
    n += 32;
  }
  return n + 32 - Math.clz32(Number(x));
}

export function rangesToCidrs(family: Family, ranges: readonly Range[]): Cidr[] {
  const out: Cidr[] = [];
  for (const r of ranges) for (const c of rangeToCidrs(family, r)) out.push(c);
  return out;
}

/** Number of addresses in normalised ranges. */
export function rangesSize(ranges: readonly Range[]): bigint {
  let n = 0n;
  for (const r of ranges) n += r.end - r.start + 1n;
  return n;
}
