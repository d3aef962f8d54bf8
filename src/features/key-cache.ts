import { principalWireHash } from './distinct.ts';
import { hash32 } from './hash.ts';
import { ownString } from './own-string.ts';

/**
 * What the windower works out per principal and per long address, remembered across events and windows: hashing
 * a 60-character ARN for every event, and copying keys for every window they appear in (stage 1 builds a windower
 * for each 200-event source record), cost more than one lookup. The lookup is cheap: V8 hashes the event's string
 * once, and that hash serves this map and the window's.
 *
 * Bounded like the other caches of the hot path: cleared when full. (Short addresses need no cache: V8 copies
 * strings under 13 characters anyway, and their prefix text and hash are cheap to make.)
 */
const MAX_ENTRIES = 20_000;

export interface PrincipalInfo {
  /** The principal, as a key of its own (not a view into a log line). */
  key: string;
  /** Never 0 (0 means anonymous). */
  hash: number;
  /** The hash as a windower of short hashes counts it behind an address (wire level 4: principalWireHash); never 0. */
  shortHash: number;
}

const principals = new Map<string, PrincipalInfo>();

export function principalInfo(principal: string): PrincipalInfo {
  let info = principals.get(principal);
  if (info === undefined) {
    if (principals.size >= MAX_ENTRIES) principals.clear();
    const own = ownString(principal);
    const h = hash32(own);
    info = { key: own, hash: h || 1, shortHash: principalWireHash(h) };
    principals.set(own, info);
  }
  return info;
}

const addresses = new Map<string, string>();

/** An address as a key of its own (see ownString), the same copy for every window. */
export function ownedAddress(ip: string): string {
  if (ip.length < 13) return ip;
  let own = addresses.get(ip);
  if (own === undefined) {
    if (addresses.size >= MAX_ENTRIES) addresses.clear();
    own = ownString(ip);
    addresses.set(own, own);
  }
  return own;
}
