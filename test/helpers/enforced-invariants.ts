import type { Decision } from '../../src/decision.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { AddressSet, hostsOf24, sampleAddresses } from './coverage-oracle.ts';
import type { Enforced } from './enforced.ts';
import { mulberry32 } from './rng.ts';

/**
 * Safety invariants on what a run ENFORCES (the IP set payloads and the resource policy it wrote), each state taken
 * with the ledger of its moment, judged address by address with test/helpers/coverage-oracle.ts (BigInt arithmetic,
 * nothing from src/net, src/contain or src/render). Returns the violations as text, so a test lists them all at once.
 */

export interface EnforcedState extends Enforced {
  /** Active ledger entries when the files were written. */
  active: LedgerEntry[];
  /** Decisions published right after these files were written (empty for the end state). */
  decisions: Decision[];
}

export interface EnforcedRules {
  allowlist: { cidrs: string[]; principals: string[] };
  /** Other ranges never enforced, like the allowlist (proxies in front of the API). */
  neverEnforced?: string[];
  dryRun: boolean;
  /** Addresses one family's IP sets hold at most (addressesPerIpSet × maxIpSetsPerFamily): at it, overflow may drop. */
  ipSetCapacity: number;
  /** The policy's size limit: near it, entries may be dropped. */
  policyMaxChars: number;
  /** Seed of the addresses sampled inside allowlisted and held CIDRs. */
  seed?: number;
}

export interface EnforcedReport {
  violations: string[];
  checks: number;
  /** Allowlisted addresses tested one by one. */
  allowlistAddresses: number;
  /** Neighbours of blocked hosts in a /24 held by the blast-radius guard, tested one by one. */
  heldNeighbours: number;
  /** Block decisions whose target was found enforced at the state written for them. */
  enforcedBlocks: number;
  /**
   * Principal blocks that no resource policy can name (an API key id, a Cognito sub: IAM takes only account ids and
   * IAM/STS ARNs in `Principal.AWS`), active and enforced nowhere. DESIGN §5 says such a block is said in the alert and
   * counted, never announced as a block: today it is announced (a known bug, see the test that pins it), so these are
   * listed here and asserted by that test, not mixed with the violations.
   */
  unenforceable: string[];
}

/** The principals a resource policy's `Principal.AWS` can name: an account id, or an IAM or STS ARN of one. */
export const nameableByPolicy = (p: string): boolean => /^(?:\d{12}|arn:aws[a-z-]*:(?:iam|sts)::\d{12}:[^\s]+)$/.test(p);

const isAddressKind = (e: { targetKind: string }): boolean => e.targetKind !== 'principal';
const range = (r: { first: string; last: string }[]): string => r.map((x) => (x.first === x.last ? x.first : `${x.first}..${x.last}`)).join(', ');

export function enforcedViolations(states: EnforcedState[], rules: EnforcedRules): EnforcedReport {
  const report: EnforcedReport = { violations: [], checks: 0, allowlistAddresses: 0, heldNeighbours: 0, enforcedBlocks: 0, unenforceable: [] };
  const random = mulberry32(rules.seed ?? 1);
  const keptOut = [...rules.allowlist.cidrs, ...(rules.neverEnforced ?? [])];
  const allowSamples = keptOut.map((c) => ({ cidr: c, addresses: sampleAddresses(c, random, 4) }));
  const held: Decision[] = [];
  const fail = (what: string): void => {
    report.violations.push(what);
  };
  const ok = (cond: boolean, what: () => string): void => {
    report.checks++;
    if (!cond) fail(what());
  };

  states.forEach((s, i) => {
    const at = `state ${i + 1}/${states.length}${s.decisions.length ? ` (batch of ${s.decisions[0].time})` : ' (end)'}`;
    const inIpSets = new AddressSet(s.ipSets);
    const inPolicy = new AddressSet(s.deny.cidrs);
    const enforced = new AddressSet([...s.ipSets, ...s.deny.cidrs]);
    const decided = new AddressSet(s.active.filter(isAddressKind).map((e) => e.target));
    const activePrincipals = new Set(s.active.filter((e) => e.targetKind === 'principal').map((e) => e.target));

    // (a) nothing allowlisted (nor a proxy) is enforced: sampled addresses one by one, then the whole CIDR exactly.
    for (const { cidr, addresses } of allowSamples) {
      for (const a of addresses) {
        report.allowlistAddresses++;
        ok(!inIpSets.has(a), () => `${at}: allowlisted ${a} (of ${cidr}) is in an IP set`);
        ok(!inPolicy.has(a), () => `${at}: allowlisted ${a} (of ${cidr}) is denied by the policy`);
      }
      const shared = enforced.firstIn(cidr);
      ok(shared === null, () => `${at}: allowlisted ${shared} (of ${cidr}) is enforced`);
    }
    for (const p of s.deny.principals) ok(!rules.allowlist.principals.includes(p), () => `${at}: allowlisted principal ${p} is denied`);

    // (b) nothing is enforced beyond the ledger's active blocks of that moment.
    for (const c of s.ipSets) {
      const beyond = decided.missing(c);
      ok(beyond.length === 0, () => `${at}: IP set entry ${c} covers ${range(beyond)}, which no active block holds`);
    }
    for (const c of s.deny.cidrs) {
      const beyond = decided.missing(c);
      ok(beyond.length === 0, () => `${at}: policy CIDR ${c} covers ${range(beyond)}, which no active block holds`);
    }
    for (const p of s.deny.principals) ok(activePrincipals.has(p), () => `${at}: policy denies ${p}, which no active block names`);

    // (b) a prefix the blast-radius guard held is never enforced beyond its blocked hosts: every address of it that no
    // active block holds is in no IP set and no policy CIDR (a /24: all 256 addresses; wider: sampled).
    held.push(...s.decisions.filter((d) => d.action === 'alert' && d.evidence.heldBack === 'blast-radius' && isAddressKind(d)));
    for (const h of held) {
      const whole24 = !h.target.includes(':') && h.target.endsWith('/24');
      const addresses = whole24 ? hostsOf24(h.target.split('.').slice(0, 3).join('.')) : sampleAddresses(h.target, random, 16);
      const neighbours = addresses.filter((a) => !decided.has(a));
      report.heldNeighbours += neighbours.length;
      const cut = neighbours.filter((a) => enforced.has(a));
      ok(cut.length === 0, () => `${at}: ${cut.length} of the ${neighbours.length} unblocked addresses of ${h.target}, held by the blast-radius guard, ` +
        `are enforced: ${cut.slice(0, 4).join(', ')}${cut.length > 4 ? ', …' : ''}`);
    }

    // (c) a dry run enforces nothing: no address in any IP set, no policy at all (the runs start without one).
    if (rules.dryRun) {
      ok(s.ipSets.length === 0, () => `${at}: dry run, yet the IP sets hold ${s.ipSets.slice(0, 5).join(', ')}`);
      ok(s.policy === null, () => `${at}: dry run, yet a policy was written: ${JSON.stringify(s.policy).slice(0, 300)}`);
      return;
    }

    // (d) everything active is enforced: its addresses (less the allowlist) in the IP sets, its principal in the
    // policy; in particular each block published with this state. Unless a family's sets are full (overflow) or the
    // policy is near its size limit (entries dropped by priority).
    const full = (family: string[]): boolean => family.length >= rules.ipSetCapacity;
    const inIpSetsOrAllowed = new AddressSet([...s.ipSets, ...keptOut]);
    const published = new Set(s.decisions.filter((d) => d.action === 'block').map((d) => `${d.target}#${d.time}`));
    for (const e of s.active) {
      const isNew = published.has(`${e.target}#${new Date(e.createdAt).toISOString()}`);
      if (e.targetKind === 'principal') {
        if (rules.allowlist.principals.includes(e.target) || s.policyChars + e.target.length + 8 > rules.policyMaxChars) continue;
        if (!nameableByPolicy(e.target)) {
          if (!report.unenforceable.includes(e.target)) report.unenforceable.push(e.target);
          ok(!s.deny.principals.includes(e.target), () => `${at}: the policy names ${e.target}, which IAM does not take`);
          continue;
        }
        ok(s.deny.principals.includes(e.target), () => `${at}: ${isNew ? 'block decision' : 'active block'} of principal ${e.target} is not in the policy`);
        if (isNew && s.deny.principals.includes(e.target)) report.enforcedBlocks++;
        continue;
      }
      if (full(e.target.includes(':') ? s.v6 : s.v4)) continue;
      const missing = inIpSetsOrAllowed.missing(e.target);
      ok(missing.length === 0, () => `${at}: ${isNew ? 'block decision' : 'active block'} ${e.target}: ${range(missing)} in no IP set`);
      if (isNew && missing.length === 0) report.enforcedBlocks++;
    }
    // Every block published with this state is one of its active entries (announced ⇒ in hand when enforcing).
    for (const d of s.decisions) {
      if (d.action !== 'block') continue;
      ok(s.active.some((e) => e.target === d.target && new Date(e.createdAt).toISOString() === d.time),
        () => `${at}: block ${d.target} at ${d.time} published, but no active ledger entry when its state was written`);
    }
  });
  return report;
}

