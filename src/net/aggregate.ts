import { type Cidr, type Family, familyBits, formatCidr, hostMask, InvalidCidrError, parseCidr } from './cidr.ts';
import { type Range, cidrToRange, rangesToCidrs, subtractRanges, unionRanges } from './ranges.ts';

/**
 * Turns the set of offenders into the fewest CIDR blocks to block, without ever blocking an allowlisted address.
 *
 * The work is set algebra on address ranges, in this order:
 * 1. offenders minus the allowlist: an offender that is wholly allowlisted is gone before anything else looks at
 *    it (it neither widens to its /64 nor counts towards a /24);
 * 2. IPv4: every /ipv4Prefix holding at least `ipv4Offenders` of the remaining offending addresses is added whole.
 *    Addresses are counted, not entries, so the result does not depend on how the input was written (a /25
 *    offender is 128 offending addresses); IPv6: every remaining piece widens to its /ipv6Prefix (an address is
 *    cheap to change inside a /64, so blocking one IPv6 address blocks nothing);
 * 3. minus the allowlist again, so a widened block is split around what it must not cover;
 * 4. the exact result cut into the fewest canonical CIDRs: adjacent siblings merge only when both halves are
 *    really in the set, and `/0` is never produced. IPv6 output never includes the IPv4-mapped range.
 *
 * The output describes the same set when fed back in: aggregation is idempotent.
 */

export interface AggregateOptions {
  /** Offending IPv4 addresses in one /ipv4Prefix at which the whole prefix is blocked (≥ 1). */
  ipv4Offenders: number;
  /** 1..32. */
  ipv4Prefix: number;
  /** Every IPv6 offender becomes its /ipv6Prefix, 1..128. */
  ipv6Prefix: number;
}

export interface Aggregated {
  /** Canonical, disjoint, sorted by address. */
  v4: string[];
  v6: string[];
  /** Offender entries that are neither an address nor a CIDR block (skipped, for the caller to report). */
  rejected: string[];
}

export class AggregateOptionsError extends RangeError {
  override name = 'AggregateOptionsError';
}

function checkOptions(o: AggregateOptions): void {
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!intIn(o.ipv4Offenders, 1, Number.MAX_SAFE_INTEGER))
    throw new AggregateOptionsError(`ipv4Offenders must be an integer ≥ 1, got ${o.ipv4Offenders}`);
  if (!intIn(o.ipv4Prefix, 1, 32))
    throw new AggregateOptionsError(`ipv4Prefix must be an integer in 1..32, got ${o.ipv4Prefix}`);
  if (!intIn(o.ipv6Prefix, 1, 128))
    throw new AggregateOptionsError(`ipv6Prefix must be an integer in 1..128, got ${o.ipv6Prefix}`);
}

/**
 * Blocks of /prefix that hold at least `threshold` addresses of `set` without being wholly inside it (blocks
 * already wholly covered need nothing added, and skipping them keeps a /8 offender from visiting 65,536 blocks).
 */
export function crowdedBlocks(set: readonly Range[], family: Family, prefix: number, threshold: bigint): Range[] {
  const mask = hostMask(family, prefix);
  const counts = new Map<bigint, bigint>();
  const add = (blockStart: bigint, n: bigint) => counts.set(blockStart, (counts.get(blockStart) ?? 0n) + n);
  for (const r of set) {
    const headStart = r.start & ~mask;
    const headEnd = headStart | mask;
    if (r.end <= headEnd) {
      if (r.start !== headStart || r.end !== headEnd) add(headStart, r.end - r.start + 1n);
      continue;
    }
    if (r.start !== headStart) add(headStart, headEnd - r.start + 1n);
    const tailStart = r.end & ~mask;
    if ((r.end | mask) !== r.end) add(tailStart, r.end - tailStart + 1n);
  }
  const out: Range[] = [];
  for (const [start, n] of counts) if (n >= threshold) out.push({ start, end: start | mask });
  return out;
}

/** Each range stretched to the /prefix blocks at its ends. */
function widen(set: readonly Range[], family: Family, prefix: number): Range[] {
  const mask = hostMask(family, prefix);
  return set.map((r) => ({ start: r.start & ~mask, end: r.end | mask }));
}

/**
 * `::ffff:0:0/96`: IPv4-mapped addresses are IPv4 clients (cordon and WAF see them as IPv4), and a block written
 * inside it would read back as IPv4. IPv6 output leaves it out, as if allowlisted.
 */
const IPV4_MAPPED: Range = { start: 0xffffn << 32n, end: (0xffffn << 32n) | 0xffff_ffffn };

function aggregateFamily(family: Family, offenders: Range[], allow: Range[], o: AggregateOptions): string[] {
  const allowSet = unionRanges(family === 6 ? [...allow, IPV4_MAPPED] : allow);
  const offending = subtractRanges(unionRanges(offenders), allowSet);
  let decided: Range[];
  if (family === 4) {
    const crowded = crowdedBlocks(offending, 4, o.ipv4Prefix, BigInt(o.ipv4Offenders));
    decided = crowded.length ? unionRanges([...offending, ...crowded]) : offending;
  } else {
    decided = o.ipv6Prefix < familyBits(6) ? unionRanges(widen(offending, 6, o.ipv6Prefix)) : offending;
  }
  return rangesToCidrs(family, subtractRanges(decided, allowSet)).map(formatCidr);
}

/**
 * Aggregates offenders (addresses or CIDRs, any spelling) into canonical CIDR lists per family.
 * Unreadable offenders are skipped and returned in `rejected`; an unreadable allowlist entry throws
 * {@link InvalidCidrError}, because ignoring it could block what the operator meant to protect.
 *
 * @example
 * // Three offenders in one /24 block the /24, minus the allowlisted upper half:
 * aggregate(['203.0.113.1', '203.0.113.2', '203.0.113.3'], ['203.0.113.128/25'],
 *   { ipv4Offenders: 3, ipv4Prefix: 24, ipv6Prefix: 64 }).v4
 * // → ['203.0.113.0/25']
 */
export function aggregate(
  offenders: readonly string[],
  allowlist: readonly string[],
  opts: AggregateOptions,
): Aggregated {
  checkOptions(opts);
  const off: Record<Family, Range[]> = { 4: [], 6: [] };
  const allow: Record<Family, Range[]> = { 4: [], 6: [] };
  const rejected: string[] = [];
  for (const text of allowlist) {
    const c = parseCidr(text);
    if (c === null) throw new InvalidCidrError(text);
    allow[c.family].push(cidrToRange(c));
  }
  for (const text of offenders) {
    const c: Cidr | null = parseCidr(text);
    if (c === null) rejected.push(text);
    else off[c.family].push(cidrToRange(c));
  }
  return {
    v4: off[4].length ? aggregateFamily(4, off[4], allow[4], opts) : [],
    v6: off[6].length ? aggregateFamily(6, off[6], allow[6], opts) : [],
    rejected,
  };
}
