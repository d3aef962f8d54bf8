import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { type CordonConfig, parseConfig, RULE_NAMES, type RuleName } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import type { AccessEvent } from '../../src/events.ts';
import { formatCidr, makeCidr, overlaps, parseCidr } from '../../src/net/cidr.ts';
import { CLOUDFRONT_RANGES } from '../../src/net/proxies.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import type { Labels, Scenario } from '../../src/simulate/labels.ts';
import { simulateEvents } from '../../src/simulate/traffic.ts';
import { coveredBy, hostsOf24, sampleAddresses } from '../helpers/coverage-oracle.ts';
import { type EnforcedReport, type EnforcedRules, type EnforcedState, enforcedViolations } from '../helpers/enforced-invariants.ts';
import { type ObservedRun, readEnforced, runObserved } from '../helpers/enforced.ts';
import { byTime, figures, mulberry32, removeDir, runLocal, steady, tempDir, toAccessEvent } from '../helpers/robustness-sim.ts';

/**
 * Safety invariants of containment, end to end through the local pipeline, over randomized scenarios, allowlists,
 * caps, blast-radius shares, dry runs and count-mode rules. Every run checks every decision and every state of the
 * WAF IP set and policy files the run wrote.
 */

const RUNS = Number(process.env.CORDON_INVARIANT_RUNS ?? (process.env.CORDON_FULL === '1' ? 40 : 10));
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function newDir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/** The /len block containing `ip`, canonical. */
function blockOf(ip: string, len: number): string {
  const c = parseCidr(ip);
  if (!c) throw new Error(`not an address: ${ip}`);
  return formatCidr(makeCidr(c.family, c.addr, Math.min(len, c.family === 4 ? 32 : 128)));
}

interface Allow {
  cidrs: string[];
  principals: string[];
}

/**
 * An allowlist drawn from the labels: the scenario's own allowlist, some attacker addresses and principals, random
 * CIDRs that overlap attackers (their /28, /24, /16, /48) and benign notables, each kept or not at random (a
 * seeded generator: fast-check's own doubles lean to the extremes, which would allowlist every attacker).
 */
function drawAllowlist(labels: Labels, allowSeed: number): Allow {
  const random = mulberry32(allowSeed);
  const pick = (p: number): boolean => random() < p;
  const at = (n: number): number => Math.floor(random() * n);
  const cidrs = new Set<string>(labels.allowlist);
  const principals = new Set<string>();
  for (const a of labels.attackers) {
    const ip = a.ips[at(a.ips.length)];
    if (ip === undefined) continue;
    if (pick(0.25)) cidrs.add(blockOf(ip, 128));
    if (pick(0.15)) cidrs.add(ip.includes(':') ? blockOf(ip, 48) : blockOf(ip, [28, 24, 16][at(3)]));
    if (a.prefix && pick(0.2)) cidrs.add(blockOf(a.prefix.split('/')[0], a.prefix.includes(':') ? 80 : 25));
    if (a.principal && pick(0.4)) principals.add(a.principal);
  }
  for (const n of labels.benign_notable) {
    if (pick(0.3)) cidrs.add(blockOf(n.ips[0], n.ips[0].includes(':') ? 64 : 24));
    if (typeof n.principal === 'string' && pick(0.3)) principals.add(n.principal);
  }
  return { cidrs: [...cidrs], principals: [...principals] };
}

/** Every state of the files a run wrote, with the ledger of its moment: one per alert batch, and the end. */
function statesOf(r: ObservedRun): EnforcedState[] {
  return [...r.snapshots, { ...r.end, active: r.activeAtEnd, decisions: [] }];
}

function rulesOf(cfg: CordonConfig, seed: number): EnforcedRules {
  const cloudfront = cfg.proxies.cloudfront ? [...CLOUDFRONT_RANGES.ipv4, ...CLOUDFRONT_RANGES.ipv6] : [];
  return { allowlist: cfg.allowlist, neverEnforced: [...cfg.proxies.cidrs, ...cloudfront], dryRun: cfg.dryRun, ipSetCapacity: cfg.caps.addressesPerIpSet * cfg.caps.maxIpSetsPerFamily,
    policyMaxChars: cfg.caps.policyMaxChars, seed };
}

/** The enforced-state invariants of test/helpers/enforced-invariants.ts over one run, asserted (every violation listed). */
function expectEnforcedSafe(r: ObservedRun, cfg: CordonConfig, seed = 1): EnforcedReport {
  const report = enforcedViolations(statesOf(r), rulesOf(cfg, seed));
  expect(report.violations).toEqual([]);
  return report;
}

const isAggregation = (d: Decision): boolean => d.reasons.includes('aggregation');

/** Every invariant over one run's decisions and the files it left. Returns how many checks were made. */
function checkRun(decisions: Decision[], cfg: CordonConfig, outDir: string): number {
  let checks = 0;
  const allow = cfg.allowlist;
  const touchesAllowlist = (target: string, kind: string): boolean =>
    kind === 'principal' ? allow.principals.includes(target) : allow.cidrs.some((a) => overlaps(a, target));
  const ts = (iso: string | null): number => (iso === null ? NaN : Date.parse(iso));

  const blocksPerWindow = new Map<number, number>();
  const capHeldWindows = new Set<number>();
  for (const d of decisions) {
    checks++;
    if (d.evidence.heldBack !== undefined) expect(d.action, `held back ⇒ alert: ${d.target}`).toBe('alert');
    if (d.evidence.heldBack === 'blast-radius') {
      expect(d.evidence.trafficShare ?? 0).toBeGreaterThan(cfg.blastRadiusShare);
    }
    if (d.evidence.heldBack === 'cap') capHeldWindows.add(d.evidence.windowStart);
    if (d.action !== 'block') continue;
    // 1. never a block of anything allowlisted
    expect(touchesAllowlist(d.target, d.targetKind), `block ${d.target} touches the allowlist`).toBe(false);
    // 2. dry run blocks nothing
    expect(cfg.dryRun, `dry run blocked ${d.target}`).toBe(false);
    // 3. every block expires after it was decided; its time counts from when contain first enforced it, which in
    //    replay is within a minute of log time after the window closed: on data, or, after a lull, on the
    //    one-minute tick once the window's delivery allowance has passed (its decision is stamped at the window's end)
    const enforceBound = (cfg.windows.maxDeliveryDelaySeconds + 60) * 1000;
    expect(ts(d.expiresAt)).toBeGreaterThan(ts(d.time));
    const entry = ledgerAt(join(outDir, 'state.sqlite'), d.target).find((e) => e.createdAt === ts(d.time));
    const effectiveAt = entry?.effectiveAt ?? NaN;
    expect(effectiveAt - ts(d.time), `block ${d.target} enforced ${effectiveAt - ts(d.time)} ms after its decision`).toBeGreaterThanOrEqual(0);
    expect(effectiveAt - ts(d.time), `block ${d.target} enforced ${effectiveAt - ts(d.time)} ms after its decision`).toBeLessThanOrEqual(enforceBound);
    expect(ts(d.expiresAt)).toBeGreaterThan(effectiveAt);
    if (isAggregation(d)) {
      // An aggregate stands for at least `ipv4Offenders` hosts of its /24 blocked (and not yet unblocked) before it.
      const live = new Set<string>();
      for (const e of decisions) {
        if (e === d) break;
        if (e.targetKind === 'ip' && overlaps(d.target, e.target)) {
          if (e.action === 'block') live.add(e.target);
          else if (e.action === 'unblock') live.delete(e.target);
        }
      }
      expect(live.size, `aggregate ${d.target}`).toBeGreaterThanOrEqual(cfg.aggregation.ipv4Offenders);
      continue;
    }
    // 4. no block of a rule in count mode only, none above the blast radius
    expect(d.reasons.every((r) => cfg.rules[r as RuleName] === 'count'), `count-mode block ${d.target}`).toBe(false);
    expect(d.evidence.trafficShare ?? 0).toBeLessThanOrEqual(cfg.blastRadiusShare);
    blocksPerWindow.set(d.evidence.windowStart, (blocksPerWindow.get(d.evidence.windowStart) ?? 0) + 1);
  }
  // 5. the cap on new blocks per window (aggregation of already-blocked hosts into their /24 is not counted:
  //    it adds no new offender, see decide.ts aggregateIpv4), and a cap-held alert only in a window at the cap
  for (const [w, n] of blocksPerWindow) {
    checks++;
    expect(n, `window ${new Date(w).toISOString()}`).toBeLessThanOrEqual(cfg.caps.newBlocksPerWindow);
  }
  for (const w of capHeldWindows) expect(blocksPerWindow.get(w)).toBe(cfg.caps.newBlocksPerWindow);
  // 6. the WAF IP sets and the policy, at every state: see expectEnforcedSafe (the caller runs it)
  // 7. expiries: an unblock by expiry happens at the block's expiresAt
  const lastBlock = new Map<string, Decision>();
  for (const d of decisions) {
    if (d.action === 'block') lastBlock.set(d.target, d);
    if (d.action === 'unblock' && d.evidence.releasedBy === 'expiry') {
      checks++;
      expect(d.time).toBe(lastBlock.get(d.target)?.expiresAt);
    }
  }
  return checks;
}

type Overlay = 'none' | 'flood-crowd' | 'established-turns' | 'crowded-prefix';

/** A path scanner: `perMin` requests a minute, each for a different path that does not exist (404). */
function scanner(ip: string, from: number, to: number, perMin: number): AccessEvent[] {
  return steady(ip, from, to, perMin, { status: 404, resource: '/{proxy+}', bytes: 120 })
    .map((e, i) => ({ ...e, path: ['/.env', '/wp-admin/setup-config.php', '/.git/config', '/backup.zip', '/phpinfo.php'][i % 5] + `?v=${i}` }));
}

/** Forty established benign hosts of 198.18.200.0/24 at 12 requests a minute, from `from` to `to`. */
const establishedNeighbours = (from: number, to: number): AccessEvent[][] =>
  Array.from({ length: 40 }, (_, i) => steady(`198.18.200.${100 + i}`, from + i * 37, to, 12));

/**
 * Extra traffic over a scenario, so that the cap and the blast-radius guard have something to do: six flooders at
 * once (three of them in one /24, which aggregation turns into the /24), or a long-established busy client that
 * turns into a flood (its usual traffic is what a block would cut), or three new path scanners in a /24 of forty
 * established hosts (the /24 is what aggregation would widen them to, and the guard holds it when the neighbours'
 * share of the traffic is over the blast radius).
 */
// One run that always has the guard hold a /24 (CORDON_FC_SEED=101 drew it): the enforced-state invariants then check
// the /24's 253 unblocked addresses at every state, whatever the random runs draw. It is the first of the RUNS runs
// (not with CORDON_FC_SEED, so that a printed seed replays exactly its runs).
const HELD_24_EXAMPLE = { overlay: 'crowded-prefix', scenario: 'benign', seed: 574773, minutes: 20, allowSeed: 18, cap: 4, blast: 0.005,
  dryRun: false, countRules: [] } as const;

function overlay(kind: Overlay, labels: Labels, minutes: number): { events: AccessEvent[]; ips: string[] } {
  const at = (m: number): number => labels.start + Math.round(m * 60_000);
  if (kind === 'flood-crowd') {
    const ips = ['198.18.7.11', '198.18.7.12', '198.18.7.13', '198.18.41.5', '198.18.99.77', '198.19.3.200'];
    const from = at(minutes / 2);
    return { events: byTime(...ips.map((ip) => steady(ip, from, from + 3 * 60_000, 1800, { path: '/search?q=1', resource: '/search' }))), ips };
  }
  if (kind === 'established-turns') {
    const ip = '203.0.113.50';
    const turn = at(minutes * 0.6);
    return { events: byTime(steady(ip, labels.start, labels.end, 200), steady(ip, turn, turn + 3 * 60_000, 2500, { path: '/search?q=2', resource: '/search' })), ips: [ip] };
  }
  if (kind === 'crowded-prefix') {
    const ips = ['198.18.200.7', '198.18.200.8', '198.18.200.9'];
    const from = at(minutes * 0.6);
    // The neighbours from twelve minutes before the scenario: a trusted baseline by the time the scanners come.
    return { events: byTime(...establishedNeighbours(at(-12), labels.end), ...ips.map((ip) => scanner(ip, from, from + 3 * 60_000, 120))), ips };
  }
  return { events: [], ips: [] };
}

interface Params {
  overlay: Overlay;
  scenario: Scenario;
  seed: number;
  minutes: number;
  allowSeed: number;
  cap: number;
  blast: number;
  dryRun: boolean;
  countRules: RuleName[];
}

const params: fc.Arbitrary<Params> = fc.record({
  overlay: fc.constantFrom<Overlay>('none', 'flood-crowd', 'established-turns', 'crowded-prefix'),
  scenario: fc.constantFrom<Scenario>('mixed', 'stolen-credentials', 'flash-crowd', 'benign'),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  minutes: fc.integer({ min: 10, max: 20 }),
  allowSeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  cap: fc.integer({ min: 1, max: 4 }),
  blast: fc.constantFrom(0.005, 0.02, 0.1, 0.3),
  dryRun: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 3, arbitrary: fc.constant(false) }),
  countRules: fc.subarray([...RULE_NAMES], { maxLength: 3 }),
});

function configOf(p: Params, allow: Allow): CordonConfig {
  return parseConfig({
    allowlist: allow,
    caps: { newBlocksPerWindow: p.cap },
    blastRadiusShare: p.blast,
    dryRun: p.dryRun,
    rules: Object.fromEntries(p.countRules.map((r) => [r, 'count'])),
  });
}

/** Releases `entry` in the SQLite file as `cordon blocks release` does (status released, endedAt = now). */
function release(statePath: string, entry: LedgerEntry, now: number): void {
  const state = new SqliteState(statePath);
  try {
    state.putLedgerSync([{ ...entry, status: 'released', endedAt: now }]);
  } finally {
    state.close();
  }
}

/** The released target is in neither the IP sets nor the policy (address by address), unless another active block covers it. */
function expectNotProjected(dir: string, statePath: string, victim: LedgerEntry, now: number): void {
  const files = readEnforced(dir);
  if (victim.targetKind === 'principal') {
    expect(files.deny.principals).not.toContain(victim.target);
    return;
  }
  const state = new SqliteState(statePath);
  const others = state.listActiveSync(now).filter((e) => e.targetKind !== 'principal' && e.target !== victim.target).map((e) => e.target);
  state.close();
  const enforced = [...files.ipSets, ...files.deny.cidrs];
  const stillEnforced = sampleAddresses(victim.target, mulberry32(victim.createdAt), 8)
    .filter((a) => !coveredBy(a, others) && coveredBy(a, enforced));
  expect(stillEnforced, `released ${victim.target} still enforced`).toEqual([]);
}

function ledgerAt(statePath: string, target: string): LedgerEntry[] {
  const state = new SqliteState(statePath);
  try {
    return state.historySync(target);
  } finally {
    state.close();
  }
}

/**
 * A released block stays released on a second replay of the same traffic (the evidence it was decided on is the
 * evidence the operator overruled): the released ledger row is never overwritten, and a re-block, if the attacker's
 * traffic makes one, carries a new decision time. On traffic without the attacker it is not blocked at all.
 */
async function checkRelease(events: AccessEvent[], cfg: CordonConfig, statePath: string, logEnd: number, labels: Labels): Promise<{ released: string; reblocked: boolean } | null> {
  const state = new SqliteState(statePath);
  const victim = state.listActiveSync(logEnd).find((e) => !e.reasons.includes('aggregation'));
  state.close();
  if (!victim) return null;
  release(statePath, victim, logEnd);
  const copy = `${statePath}.copy`;
  copyFileSync(statePath, copy);

  // Same traffic again.
  const again = newDir('inv-again');
  const r = await runObserved(events, cfg, again, statePath);
  expectEnforcedSafe(r, cfg, victim.createdAt);
  const sameTime = r.decisions.filter((d) => d.target === victim.target && d.action === 'block' && Date.parse(d.time) === victim.createdAt);
  expect(sameTime, `released ${victim.target} re-blocked on the evidence the operator overruled`).toEqual([]);
  const row = ledgerAt(statePath, victim.target).find((e) => e.createdAt === victim.createdAt);
  expect(row?.status, `ledger row of released ${victim.target}`).toBe('released');
  const reblocked = r.decisions.some((d) => d.target === victim.target && d.action === 'block');
  if (!reblocked) expectNotProjected(again, statePath, victim, r.pipeline.stats.logEnd ?? logEnd);

  // Benign traffic after the log: no new evidence, so no block of the released target.
  const later = simulateEvents({ scenario: 'benign', minutes: 10, seed: labels.seed + 1, start: labels.end + 60_000 }).events.map(toAccessEvent);
  const quiet = newDir('inv-quiet');
  const q = await runObserved(later, cfg, quiet, copy);
  expectEnforcedSafe(q, cfg, victim.createdAt);
  expect(q.decisions.filter((d) => d.target === victim.target && d.action === 'block')).toEqual([]);
  expectNotProjected(quiet, copy, victim, q.pipeline.stats.logEnd ?? logEnd);
  return { released: victim.target, reblocked };
}

/** Orders dotted quads by value. */
const byAddress = (a: string, b: string): number => {
  const n = (x: string): number => x.split('.').reduce((v, o) => v * 256 + Number(o), 0);
  return n(a) - n(b);
};

/** Long synchronous runs starve vitest's worker RPC: let its timers run between runs. */
const yieldToVitest = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('containment safety invariants over randomized scenarios', () => {
  it('hold for every decision and every IP set / policy file state', async () => {
    const totals = { runs: 0, events: 0, decisions: 0, blocks: 0, checks: 0, heldBack: {} as Record<string, number>, releases: 0, reblocked: 0,
      states: 0, allowlistAddresses: 0, heldNeighbours: 0, enforcedBlocks: 0, unenforceable: 0, checkMs: 0 };
    await fc.assert(
      fc.asyncProperty(params, async (p) => {
        await yieldToVitest();
        const { events: sim, labels } = simulateEvents({ scenario: p.scenario, minutes: p.minutes, seed: p.seed });
        const extra = overlay(p.overlay, labels, p.minutes);
        labels.attackers.push({ kind: p.overlay, ips: extra.ips, principal: null, start: labels.start, end: labels.end });
        const events = extra.events.length ? byTime(sim.map(toAccessEvent), extra.events) : sim.map(toAccessEvent);
        const allow = drawAllowlist(labels, p.allowSeed);
        const cfg = configOf(p, allow);
        const out = newDir('inv');
        // Contain applies the IP sets and the policy, then publishes the decisions: the files are read at each batch.
        const r = await runObserved(events, cfg, out);
        totals.checks += checkRun(r.decisions, cfg, out);
        const checkStarted = performance.now();
        const enforced = expectEnforcedSafe(r, cfg, p.allowSeed);
        totals.checkMs += performance.now() - checkStarted;
        totals.checks += enforced.checks;
        totals.states += r.snapshots.length + 1;
        totals.allowlistAddresses += enforced.allowlistAddresses;
        totals.heldNeighbours += enforced.heldNeighbours;
        totals.enforcedBlocks += enforced.enforcedBlocks;
        totals.unenforceable += enforced.unenforceable.length;
        if (process.env.CORDON_DEBUG) {
          console.log(`[robustness] run ${JSON.stringify(p)} allowlist=${allow.cidrs.length}+${allow.principals.length}: ` +
            r.decisions.map((d) => `${d.action}:${d.target}:${d.evidence.heldBack ?? ''}`).join(' '));
        }
        totals.runs++;
        totals.events += events.length;
        totals.decisions += r.decisions.length;
        totals.blocks += r.decisions.filter((d) => d.action === 'block').length;
        for (const d of r.decisions) if (d.evidence.heldBack) totals.heldBack[d.evidence.heldBack] = (totals.heldBack[d.evidence.heldBack] ?? 0) + 1;
        if (!cfg.dryRun && r.pipeline.stats.logEnd !== null) {
          const rel = await checkRelease(events, cfg, join(out, 'state.sqlite'), r.pipeline.stats.logEnd, labels);
          if (rel) {
            totals.releases++;
            if (rel.reblocked) totals.reblocked++;
          }
        }
      }),
      // No shrinking: one counterexample is a whole simulated scenario, and its parameters are printed.
      { numRuns: RUNS, endOnFailure: true, seed: process.env.CORDON_FC_SEED ? Number(process.env.CORDON_FC_SEED) : undefined,
        examples: process.env.CORDON_FC_SEED ? [] : [[{ ...HELD_24_EXAMPLE, countRules: [] }]] },
    );
    figures('invariants', {
      runs: totals.runs, events: totals.events, decisions: totals.decisions, blocks: totals.blocks,
      invariantsChecked: totals.checks, heldBack: JSON.stringify(totals.heldBack), releases: totals.releases,
      reblockedWithNewTime: totals.reblocked, fileStates: totals.states, allowlistAddressesChecked: totals.allowlistAddresses,
      heldNeighboursChecked: totals.heldNeighbours, blocksSeenEnforced: totals.enforcedBlocks,
      principalBlocksNoPolicyCanName: totals.unenforceable, enforcedCheckSeconds: totals.checkMs / 1000,
    });
    expect(totals.runs).toBe(RUNS);
  }, 600_000);
});

describe('containment safety: targeted cases', () => {
  const T0 = Date.UTC(2026, 10, 2);
  const MIN = 60_000;
  /** 100 ordinary clients at 10 requests a minute: a population to compare with. */
  const background = (from: number, to: number): AccessEvent[][] =>
    Array.from({ length: 100 }, (_, i) => steady(`203.0.${Math.floor(i / 50)}.${10 + (i % 50)}`, from + i * 13, to, 10));
  const flooders = (from: number, to: number): AccessEvent[][] =>
    [7, 8, 9].map((h) => steady(`198.51.100.${h}`, from + h, to, 1500, { path: '/search?q=x', resource: '/search' }));

  it('a dry run blocks nothing, even where blocks left in the state by an earlier run would aggregate', async () => {
    const out1 = newDir('dry1');
    // Run 1 (enforcing, aggregation from 4 hosts): three flooders of one /24 are blocked one by one.
    const firstCfg = parseConfig({ aggregation: { ipv4Offenders: 4 } });
    const first = await runObserved(byTime(...background(T0, T0 + 15 * MIN), ...flooders(T0 + 12 * MIN, T0 + 15 * MIN)), firstCfg, out1);
    const hostBlocks = first.decisions.filter((d) => d.action === 'block').map((d) => d.target);
    expect(hostBlocks).toEqual(['198.51.100.7', '198.51.100.8', '198.51.100.9']);
    expectEnforcedSafe(first, firstCfg);
    expect(first.end.ipSets).toEqual(['198.51.100.7/32', '198.51.100.8/31']);
    // Run 2, a dry run with aggregation from 3 hosts, on the next quarter hour while those blocks are still active.
    const out2 = newDir('dry2');
    const dryCfg = parseConfig({ dryRun: true, aggregation: { ipv4Offenders: 3 } });
    const second = await runObserved(byTime(...background(T0 + 15 * MIN, T0 + 30 * MIN)), dryCfg, out2, join(out1, 'state.sqlite'));
    const blocks = second.decisions.filter((d) => d.action === 'block');
    figures('dry run over aggregating state', { priorBlocks: hostBlocks.length, decisions: second.decisions.length, blocks: blocks.length });
    expect(blocks.map((d) => d.target)).toEqual([]);
    // What it enforces: nothing, though the ledger it ran on holds the three active blocks.
    expect(second.activeBefore.map((e) => e.target).sort()).toEqual(hostBlocks);
    expectEnforcedSafe(second, dryCfg);
    expect([second.end.ipSets, second.end.policy]).toEqual([[], null]);
  });

  it('a released block is not overwritten by a replay of the same log (regression: it was re-blocked at the same time)', async () => {
    const { events: sim, labels } = simulateEvents({ scenario: 'mixed', minutes: 20, seed: 3 });
    const events = sim.map(toAccessEvent);
    const cfg = parseConfig({ allowlist: { cidrs: labels.allowlist } });
    const out = newDir('rel');
    const first = await runLocal(events, cfg, out);
    const rel = await checkRelease(events, cfg, join(out, 'state.sqlite'), first.pipeline.stats.logEnd!, labels);
    figures('release survives a replay', { events: events.length, blocks: first.decisions.filter((d) => d.action === 'block').length,
      released: rel?.released ?? '-', reblockedWithNewTime: rel?.reblocked ?? false });
    expect(rel).not.toBeNull();
  });

  /** The addresses of `prefix`.0/24 the IP sets and the policy CIDRs hold (address by address, with the oracle). */
  const enforcedIn24 = (e: { ipSets: string[]; deny: { cidrs: string[] } }, prefix: string): string[] =>
    hostsOf24(prefix).filter((a) => coveredBy(a, [...e.ipSets, ...e.deny.cidrs]));

  /**
   * Aggregating three blocked hosts into their /24 must not cut 40 established neighbours (~8% of traffic, 3% guard):
   * in the decisions (no block covers a neighbour) and in what is enforced (no neighbour in any IP set, at any state).
   */
  it('aggregation into a /24 respects the blast-radius guard', async () => {
    const established = Array.from({ length: 40 }, (_, i) => steady(`198.51.100.${100 + i}`, T0 + i * 37, T0 + 20 * MIN, 12));
    const events = byTime(...established, ...background(T0, T0 + 20 * MIN), ...flooders(T0 + 12 * MIN, T0 + 15 * MIN));
    const out = newDir('agg');
    const cfg = parseConfig({ blastRadiusShare: 0.03 });
    const r = await runObserved(events, cfg, out);
    const covering = r.decisions.filter((d) => d.action === 'block' && overlaps(d.target, '198.51.100.100'));
    const report = expectEnforcedSafe(r, cfg);
    const flooderIps = ['198.51.100.7', '198.51.100.8', '198.51.100.9'];
    figures('aggregation vs blast radius', { events: events.length, decisions: r.decisions.length, blocksCoveringEstablished: covering.length,
      fileStates: r.snapshots.length + 1, heldNeighboursChecked: report.heldNeighbours });
    expect(covering.map((d) => d.target)).toEqual([]);
    expect(r.decisions.filter((d) => d.action === 'block').map((d) => d.target).sort()).toEqual(flooderIps);
    expect(r.decisions.filter((d) => d.targetKind === 'cidr').map((d) => `${d.action}:${d.target}:${d.evidence.heldBack}`))
      .toEqual(['alert:198.51.100.0/24:blast-radius']);
    // What WAF holds of the /24, at every state: the flooders once blocked, and not one neighbour.
    for (const st of statesOf(r)) expect(enforcedIn24(st, '198.51.100').filter((a) => !flooderIps.includes(a))).toEqual([]);
    expect(enforcedIn24(r.end, '198.51.100')).toEqual(flooderIps);
    expect(report.heldNeighbours).toBeGreaterThanOrEqual(253);
  });

  const scanners = ['198.18.200.7', '198.18.200.8', '198.18.200.9'];
  /**
   * Forty hosts of 198.18.200.0/24 present and steady from the start, the usual background, and from minute `from`
   * for four minutes three new hosts of the same /24 walking a word list (distinct 404 paths); ten minutes more.
   */
  const scannersAmongEstablished = (from: number): AccessEvent[] => byTime(...establishedNeighbours(T0, T0 + (from + 10) * MIN),
    ...background(T0, T0 + (from + 10) * MIN), ...scanners.map((ip) => scanner(ip, T0 + from * MIN + 500, T0 + (from + 4) * MIN, 120)));

  it('acceptance: three new path scanners in a /24 of forty established hosts are contained, the /24 is held, no neighbour enforced', async () => {
    // Scanners from minute 20: the forty have had a trusted baseline since their tenth window.
    const events = scannersAmongEstablished(20);
    const cfg = parseConfig({});
    const out = newDir('acc-scan');
    const r = await runObserved(events, cfg, out);
    const report = expectEnforcedSafe(r, cfg);
    const blocks = r.decisions.filter((d) => d.action === 'block');
    const aggregate = r.decisions.filter((d) => d.targetKind === 'cidr');
    figures('acceptance: scanners in an established /24', { events: events.length, decisions: r.decisions.length, blocks: blocks.length,
      aggregate: aggregate.map((d) => `${d.action}:${d.evidence.heldBack ?? ''}`).join(',') || 'none', fileStates: r.snapshots.length + 1,
      heldNeighboursChecked: report.heldNeighbours });
    // The scanners contained, for path scanning; nothing else blocked.
    expect(blocks.map((d) => d.target).sort()).toEqual(scanners);
    for (const d of blocks) expect(d.reasons).toContain('path-scan');
    // The /24 held by the blast-radius guard (an alert that pages), or no aggregate at all; never a block.
    expect(aggregate.every((d) => d.action === 'alert' && d.evidence.heldBack === 'blast-radius' && d.target === '198.18.200.0/24'),
      JSON.stringify(aggregate.map((d) => [d.action, d.target, d.evidence.heldBack]))).toBe(true);
    // Enforced, address by address over the /24: at every state nothing but the scanners, at the end exactly them.
    for (const st of statesOf(r)) expect(enforcedIn24(st, '198.18.200').filter((a) => !scanners.includes(a))).toEqual([]);
    expect(enforcedIn24(r.end, '198.18.200')).toEqual(scanners);
    expect(r.end.deny.cidrs).toEqual([]);
  });

  // Known bug (src/detect/detector.ts, not this file's to fix): the same traffic with the scanners from minute 7, while
  // every client is still short of the ten windows a trusted baseline takes. The /24's own verdict (flood and attack
  // payloads of its three scanners) blocks the whole /24, its blast radius measured as 0: measurePrefixCollateral
  // counts only trusted hosts, whereas the widening of blocked hosts (establishedAroundActingHosts) counts every
  // unflagged neighbour with all its requests while learning. The forty neighbours (30% of clients, 26% of requests,
  // present since minute 0) are cut, under a 10% guard. From minute 12 on (the case above) the /24 is held.
  // Marked `fails`: when it is fixed this fails; then make it a plain `it` with the assertions of the case above.
  it('while learning, a /24 verdict of three new scanners among forty steady neighbours is held by the blast-radius guard', async () => {
    const r = await runObserved(scannersAmongEstablished(7), parseConfig({}), newDir('acc-scan-learning'));
    expect(enforcedIn24(r.end, '198.18.200')).toEqual(scanners);
  });

  it('acceptance: an allowlisted host inside a /24 with three blocked neighbours is never enforced, nor is the /24', async () => {
    // Four hosts of 198.51.100.0/24 flood; .8 is allowlisted (a partner's health checker gone wild). Without the
    // allowlist the three others would become the /24 (control run below); with it WAF holds the three hosts (or the
    // /24 split around .8), never the whole /24.
    const floodIps = ['198.51.100.7', '198.51.100.8', '198.51.100.9', '198.51.100.10'];
    const events = byTime(...background(T0, T0 + 20 * MIN),
      ...floodIps.map((ip, i) => steady(ip, T0 + 12 * MIN + i, T0 + 15 * MIN, 1500, { path: '/search?q=x', resource: '/search' })));
    const blocked = ['198.51.100.10', '198.51.100.7', '198.51.100.9'];

    const cfg = parseConfig({ allowlist: { cidrs: ['198.51.100.8/32'] } });
    const r = await runObserved(events, cfg, newDir('acc-allow'));
    const report = expectEnforcedSafe(r, cfg);
    expect(r.decisions.filter((d) => d.action === 'block').map((d) => d.target).sort()).toEqual(blocked);
    expect(r.decisions.filter((d) => d.target === '198.51.100.8').map((d) => `${d.action}:${d.evidence.heldBack}`)).toEqual(['alert:allowlist']);
    const splitAround8 = hostsOf24('198.51.100').filter((a) => a !== '198.51.100.8');
    for (const st of statesOf(r)) {
      const held = enforcedIn24(st, '198.51.100');
      expect(held).not.toContain('198.51.100.8');
      expect(held.length === 0 || isDeepStrictEqual(held, [...blocked].sort(byAddress)) || isDeepStrictEqual(held, splitAround8),
        `enforced in the /24: ${held.length > 8 ? `${held.length} addresses` : held.join(' ')}`).toBe(true);
    }
    expect(enforcedIn24(r.end, '198.51.100')).toEqual([...blocked].sort(byAddress));

    // Control: the same traffic without the allowlist widens to the /24 (so the case above did exercise aggregation).
    const control = await runObserved(events, parseConfig({}), newDir('acc-allow-ctl'));
    expectEnforcedSafe(control, parseConfig({}));
    expect(control.decisions.filter((d) => d.action === 'block' && d.targetKind === 'cidr').map((d) => d.target)).toEqual(['198.51.100.0/24']);
    expect(enforcedIn24(control.end, '198.51.100')).toHaveLength(256);
    figures('acceptance: allowlisted host among blocked neighbours', { events: events.length, decisions: r.decisions.length,
      allowlistAddressesChecked: report.allowlistAddresses, controlAggregated: true });
  });

  // Known bug (decide/contain, not this file's to fix): a principal no resource policy can name (an API key id,
  // a Cognito sub) is decided a `block`, alerted as one and kept active, yet no target enforces it: the policy file
  // rejects it (IAM takes only account ids and IAM/STS ARNs) and there is no API key or authorizer deny-list target.
  // DESIGN §5: "What cannot be enforced is said in the alert and counted, never announced as a block." Here the
  // exfiltration attacker of `stolen-credentials` seed 18 (principal 000ef5fa-…) is announced blocked and runs free.
  let principalRun: Promise<{ r: ObservedRun; report: EnforcedReport; exfiltrator: string }> | undefined;
  const principalCase = () => (principalRun ??= (async () => {
    const { events, labels } = simulateEvents({ scenario: 'stolen-credentials', minutes: 20, seed: 18 });
    const cfg = parseConfig({ allowlist: { cidrs: labels.allowlist } });
    const r = await runObserved(events.map(toAccessEvent), cfg, newDir('principal'));
    const exfiltrator = labels.attackers.find((a) => a.kind === 'exfiltration')?.principal ?? '';
    return { r, report: enforcedViolations(statesOf(r), rulesOf(cfg, 1)), exfiltrator };
  })());
  const announcedPrincipals = (r: ObservedRun): string[] => r.decisions.filter((d) => d.action === 'block' && d.targetKind === 'principal').map((d) => d.target);

  it('principal blocks: every other invariant holds, the IAM one is in the policy, the Cognito one alerted', async () => {
    const { r, report, exfiltrator } = await principalCase();
    figures('principal blocks enforced', { announced: announcedPrincipals(r).length, inPolicy: r.end.deny.principals.length,
      noPolicyCanName: report.unenforceable.join(',') || 'none' });
    expect(report.violations).toEqual([]);
    expect(exfiltrator).toBe('000ef5fa-8908-459f-a8fa-15f1281a94fa');
    expect(announcedPrincipals(r)).toContain('arn:aws:iam::123456789012:user/svc-57125');
    expect(r.end.deny.principals).toEqual(['arn:aws:iam::123456789012:user/svc-57125']);
    // The exfiltrator (a Cognito sub: no policy can name it) is alerted, saying why it is not enforced; never in the policy.
    const onExfiltrator = r.decisions.filter((d) => d.target === exfiltrator);
    expect(onExfiltrator.map((d) => [d.action, d.evidence.notEnforced])).toEqual([['alert', 'no resource policy could hold it']]);
  }, 60_000);

  // Was a known bug: a Cognito sub "blocked" by a policy that cannot name it (the policy adapters report it rejected).
  it('a principal announced blocked is enforced somewhere (a non-IAM principal is alerted instead)', async () => {
    const { r } = await principalCase();
    expect(announcedPrincipals(r).filter((p) => !r.end.deny.principals.includes(p)), 'announced blocked, enforced nowhere').toEqual([]);
  }, 60_000);
});
