import type { CordonConfig } from '../config.ts';
import { aggregate } from '../net/aggregate.ts';
import { proxySetFor } from '../net/proxies.ts';
import type { IpSetDesired, LedgerEntry, PolicyDeny } from '../ports.ts';
import { Allowlist } from './decide.ts';

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
  const addresses = active.filter((e) => e.targetKind !== 'principal').map((e) => e.target);
  // Never enforced, like the allowlist: proxy addresses (src/net/proxies.ts), also when configured after a block.
  const keepOut = [...cfg.allowlist.cidrs, ...proxySetFor(cfg.proxies).cidrTexts];
  // Exactly the ledger's targets (adjacent blocks merged, the allowlist cut out): widening hosts to their prefix
  // is decided, with its blast-radius guard, when blocks are decided, never here.
  const { v4, v6 } = aggregate(addresses, keepOut, EXACT);
  const byScore = [...active].sort((a, b) => b.score - a.score || a.target.localeCompare(b.target));
  const principals = [...new Set(byScore.filter((e) => e.targetKind === 'principal').map((e) => e.target))]
    .filter((p) => !cfg.allowlist.principals.includes(p));
  // decide() refuses CIDR blocks that touch the allowlist, but a range allowlisted after its block was decided is
  // cut out here, as in the IP sets: the policy never denies an allowlisted address either.
  const allowlist = new Allowlist(cfg.allowlist);
  const cut = (target: string): string[] => {
    if (!allowlist.touches(target, 'cidr') && !proxySetFor(cfg.proxies).touches(target, 'cidr')) return [target];
    const { v4, v6 } = aggregate([target], keepOut, EXACT);
    return [...v4, ...v6];
  };
  const cidrs = [...new Set(byScore.filter((e) => e.targetKind === 'cidr').flatMap((e) => cut(e.target)))].slice(0, POLICY_CIDRS);
  return { ipSets: { v4, v6 }, deny: { principals, cidrs } };
}
