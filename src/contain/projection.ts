import type { CordonConfig } from '../config.ts';
import { aggregate } from '../net/aggregate.ts';
import { type Cidr, contains, firstAddress, parseCidr } from '../net/cidr.ts';
import { proxySetFor } from '../net/proxies.ts';
import type { IpSetDesired, LedgerEntry, PolicyDeny } from '../ports.ts';
import { Allowlist } from './decide.ts';
import { isRouteScoped } from './route-scope.ts';

/** How many CIDRs the resource policy carries besides principals: the worst ones; WAF carries them all. */
const POLICY_CIDRS = 100;

/** Aggregation that widens nothing: no /24 is ever crowded enough, and every address stays its own block. */
const EXACT = { ipv4Offenders: Number.MAX_SAFE_INTEGER, ipv4Prefix: 32, ipv6Prefix: 128 } as const;

export interface Projection {
  ipSets: IpSetDesired;
  deny: PolicyDeny;
}

/**
 * What WAF and the resource policy should hold, computed from the ledger's active blocks alone, so that
 * applying it is idempotent and a drifted IP set or policy is put back.
 */
export function project(active: LedgerEntry[], cfg: CordonConfig): Projection {
  const addressBlocks = active.filter((e) => e.targetKind !== 'principal');
  const addresses = addressBlocks.filter((e) => !isRouteScoped(e)).map((e) => e.target);
  const allowlist = new Allowlist(cfg.allowlist);
  // Never enforced, like the allowlist: proxy addresses (src/net/proxies.ts), also when configured after a block.
  const keepOut = [...allowlist.cidrTexts, ...proxySetFor(cfg.proxies).cidrTexts];
  // Exactly the ledger's targets (adjacent blocks merged, the allowlist cut out): widening hosts to their prefix
  // is decided, with its blast-radius guard, when blocks are decided, never here.
  const { v4, v6 } = aggregate(addresses, keepOut, EXACT);
  // Blocks of the login route only go to their own sets, whatever the config says now (a block decided so stays so:
  // turning the option off never widens it; with no route sets deployed the adapter reports it as not held). One a
  // block everywhere already holds is left out.
  const routeTargets = addressBlocks.filter(isRouteScoped).map((e) => e.target);
  const route = routeTargets.length ? aggregate(routeTargets, keepOut, EXACT) : undefined;
  const routeSets = route && { v4: notWithin(route.v4, v4), v6: notWithin(route.v6, v6) };
  const byScore = [...active].sort((a, b) => b.score - a.score || a.target.localeCompare(b.target));
  // Also what the deny list and the API keys are given: a principal allowlisted after its block (or a session of an
  // allowlisted role) is held by no target.
  const principals = [...new Set(byScore.filter((e) => e.targetKind === 'principal').map((e) => e.target))]
    .filter((p) => !allowlist.allowsPrincipal(p));
  // decide() refuses CIDR blocks that touch the allowlist, but a range allowlisted after its block was decided is
  // cut out here, as in the IP sets: the policy never denies an allowlisted address either.
  const cut = (target: string): string[] => {
    if (!allowlist.touches(target, 'cidr') && !proxySetFor(cfg.proxies).touches(target, 'cidr')) return [target];
    const { v4, v6 } = aggregate([target], keepOut, EXACT);
    return [...v4, ...v6];
  };
  // A policy cannot name a path: a route-scoped block stays out of it (it would deny the whole API there).
  const cidrs = [...new Set(byScore.filter((e) => e.targetKind === 'cidr' && !isRouteScoped(e)).flatMap((e) => cut(e.target)))]
    .slice(0, POLICY_CIDRS);
  return { ipSets: { v4, v6, ...(routeSets ? { route: routeSets } : {}) }, deny: { principals, cidrs } };
}

/**
 * The pieces a single address block becomes in the IP sets: itself, with the allowlist and proxies cut out (what
 * {@link project} does to every block). Built once per run: the lists cut out are read once.
 */
export function piecesFor(cfg: CordonConfig): (target: string) => string[] {
  const allowlist = new Allowlist(cfg.allowlist);
  const proxies = proxySetFor(cfg.proxies);
  const keepOut = [...allowlist.cidrTexts, ...proxies.cidrTexts];
  return (target) => {
    if (!allowlist.touches(target, 'cidr') && !proxies.touches(target, 'cidr')) return [target];
    const { v4, v6 } = aggregate([target], keepOut, EXACT);
    return [...v4, ...v6];
  };
}

/**
 * Whether a block lies whole within one of `blocks` (aggregate()'s or the IP set plan's output: canonical and
 * disjoint), by a binary search over them, not a scan (the global sets can hold 100,000 blocks).
 */
export function withinAny(blocks: readonly string[]): (text: string) => boolean {
  // Per family, sorted by first address: the one block that could hold another is the last one starting at or before it.
  const byFamily = new Map<number, Cidr[]>();
  for (const c of blocks.map(parseCidr)) {
    if (c === null) continue;
    const list = byFamily.get(c.family) ?? [];
    list.push(c);
    byFamily.set(c.family, list);
  }
  for (const list of byFamily.values()) list.sort((a, b) => (firstAddress(a) < firstAddress(b) ? -1 : firstAddress(a) > firstAddress(b) ? 1 : 0));
  return (text) => {
    const c = parseCidr(text);
    const sorted = c === null ? undefined : byFamily.get(c.family);
    if (c === null || sorted === undefined) return false;
    const start = firstAddress(c);
    let lo = 0;
    let hi = sorted.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (firstAddress(sorted[mid]) <= start) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at >= 0 && contains(sorted[at], c);
  };
}

/** The blocks of `inner` no block of `outer` (aggregate()'s output) holds whole. */
function notWithin(inner: string[], outer: string[]): string[] {
  if (outer.length === 0) return inner;
  const within = withinAny(outer);
  return inner.filter((text) => !within(text));
}
