import { type Cidr, compareCidr, formatCidr, parseCidr } from '../net/cidr.ts';
import type { IpSetDesired } from '../ports.ts';

/**
 * Renders the desired blocks as WAF IP set contents: the body of `UpdateIPSet` for every set cordon owns, minus
 * `Id` and `LockToken`, which the AWS adapter adds after its `GetIPSet`.
 *
 * Deterministic: addresses are canonicalised, deduplicated and sorted by address, and set i holds the i-th
 * contiguous slice, so the same desired state always yields byte-identical payloads and an unchanged set is
 * never rewritten (WAF allows one write per second per account and region).
 *
 * When the sets cannot hold everything, wider prefixes are kept first (then lower addresses, only to be
 * deterministic): a wider block stops more of the attack per slot, and the narrow ones left out are typically
 * single addresses whose neighbours are already blocked or that will soon be aggregated into a prefix anyway.
 * What does not fit goes to `overflow` for the caller to alert on; it is never silently lost.
 */

/** AWS's fixed limit of addresses (CIDRs) in one IP set. */
export const WAF_MAX_ADDRESSES_PER_SET = 10_000;

export interface IpSetPayload {
  Name: string;
  Scope: 'REGIONAL';
  IPAddressVersion: 'IPV4' | 'IPV6';
  Addresses: string[];
}

export interface IpSetPlanOptions {
  /** Prefix of the names of cordon's sets: letters, digits, `_` and `-` (WAF's name rule). */
  namePrefix: string;
  /** 1..10,000. */
  addressesPerSet: number;
  /** At least 1. */
  maxSetsPerFamily: number;
}

export interface IpSetPlan {
  /** Set 0 is always present (possibly empty), so every owned set and local file exists. */
  v4: IpSetPayload[];
  v6: IpSetPayload[];
  /** Canonical blocks left out for want of room, sorted by address. */
  overflow: string[];
  /** Entries that are not addresses/CIDRs, or are `/0` (WAF rejects both and would fail the whole update). */
  rejected: string[];
}

export class IpSetPlanError extends RangeError {
  override name = 'IpSetPlanError';
}

type FamilyName = 'v4' | 'v6';

export function ipSetName(namePrefix: string, family: FamilyName, index: number): string {
  return `${namePrefix}-${family}-${index}`;
}

function checkOptions(o: IpSetPlanOptions): void {
  // WAF names: 1-128 of [A-Za-z0-9_-]; keep room for the `-v4-NN` suffix.
  if (!/^[A-Za-z0-9_-]{1,120}$/.test(o.namePrefix))
    throw new IpSetPlanError(`namePrefix must be 1-120 letters, digits, '_' or '-', got ${JSON.stringify(o.namePrefix)}`);
  if (!Number.isInteger(o.addressesPerSet) || o.addressesPerSet < 1 || o.addressesPerSet > WAF_MAX_ADDRESSES_PER_SET)
    throw new IpSetPlanError(`addressesPerSet must be an integer in 1..${WAF_MAX_ADDRESSES_PER_SET}, got ${o.addressesPerSet}`);
  if (!Number.isInteger(o.maxSetsPerFamily) || o.maxSetsPerFamily < 1)
    throw new IpSetPlanError(`maxSetsPerFamily must be an integer ≥ 1, got ${o.maxSetsPerFamily}`);
}

/** Wider prefixes first, then by address. */
function keepOrder(a: Cidr, b: Cidr): number {
  return a.len - b.len || compareCidr(a, b);
}

function shard(family: FamilyName, kept: Cidr[], o: IpSetPlanOptions): IpSetPayload[] {
  const addresses = kept.sort(compareCidr).map(formatCidr);
  const sets: IpSetPayload[] = [];
  for (let i = 0; i === 0 || i * o.addressesPerSet < addresses.length; i++) {
    sets.push({
      Name: ipSetName(o.namePrefix, family, i),
      Scope: 'REGIONAL',
      IPAddressVersion: family === 'v4' ? 'IPV4' : 'IPV6',
      Addresses: addresses.slice(i * o.addressesPerSet, (i + 1) * o.addressesPerSet),
    });
  }
  return sets;
}

export function planIpSets(desired: IpSetDesired, opts: IpSetPlanOptions): IpSetPlan {
  checkOptions(opts);
  const byFamily: Record<FamilyName, Map<string, Cidr>> = { v4: new Map(), v6: new Map() };
  const rejected: string[] = [];
  // Each entry goes by what it is, not by the list it came in (a mapped IPv6 address is IPv4).
  for (const text of [...desired.v4, ...desired.v6]) {
    const c = parseCidr(text);
    if (c === null || c.len === 0) {
      rejected.push(text);
      continue;
    }
    byFamily[c.family === 4 ? 'v4' : 'v6'].set(formatCidr(c), c);
  }
  const capacity = opts.addressesPerSet * opts.maxSetsPerFamily;
  const overflow: Cidr[] = [];
  const plan = (family: FamilyName): IpSetPayload[] => {
    const all = [...byFamily[family].values()];
    if (all.length <= capacity) return shard(family, all, opts);
    all.sort(keepOrder);
    overflow.push(...all.slice(capacity));
    return shard(family, all.slice(0, capacity), opts);
  };
  const v4 = plan('v4');
  const v6 = plan('v6');
  return { v4, v6, overflow: overflow.sort(compareCidr).map(formatCidr), rejected };
}
