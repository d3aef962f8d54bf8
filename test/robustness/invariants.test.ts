import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { type CordonConfig, parseConfig, RULE_NAMES, type RuleName } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import type { AccessEvent } from '../../src/events.ts';
import { formatCidr, makeCidr, overlaps, parseCidr } from '../../src/net/cidr.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import type { IpSetPayload } from '../../src/render/waf-ipset.ts';
import type { Labels, Scenario } from '../../src/simulate/labels.ts';
import { simulateEvents } from '../../src/simulate/traffic.ts';
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

function readIpSets(dir: string): string[] {
  const sets = [
    ...(JSON.parse(readFileSync(join(dir, 'waf-ipset-v4.json'), 'utf8')) as IpSetPayload[]),
    ...(JSON.parse(readFileSync(join(dir, 'waf-ipset-v6.json'), 'utf8')) as IpSetPayload[]),
  ];
  return sets.flatMap((s) => s.Addresses);
}

interface PolicyDoc {
  Statement: { Sid?: string; Effect: string; Principal?: unknown; Condition?: Record<string, Record<string, unknown>> }[];
}

/** The principals and CIDRs of cordon's deny statements in resource-policy.json. */
function readPolicyDeny(dir: string): { principals: string[]; cidrs: string[] } {
  const doc = JSON.parse(readFileSync(join(dir, 'resource-policy.json'), 'utf8')) as PolicyDoc | null;
  const out = { principals: [] as string[], cidrs: [] as string[] };
  for (const s of doc?.Statement ?? []) {
    if (s.Effect !== 'Deny') continue;
    const aws = (s.Principal as { AWS?: string | string[] } | undefined)?.AWS;
    if (aws !== undefined) out.principals.push(...[aws].flat());
    const ips = s.Condition?.IpAddress?.['aws:SourceIp'];
    if (ips !== undefined) out.cidrs.push(...([ips].flat() as string[]));
  }
  return out;
}

const isAggregation = (d: Decision): boolean => d.reasons.includes('aggregation');

/** Every invariant over one run's decisions and the files it left. Returns how many checks were made. */
function checkRun(decisions: Decision[], cfg: CordonConfig, outDir: string, fileSnapshots: { ipSets: string[]; deny: { principals: string[]; cidrs: string[] } }[]): number {
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
  // 6. the WAF IP sets and the policy, at every decision and at the end, never cover the allowlist
  const end = { ipSets: readIpSets(outDir), deny: readPolicyDeny(outDir) };
  for (const snap of [...fileSnapshots, end]) {
    for (const a of snap.ipSets) {
      checks++;
      expect(touchesAllowlist(a, 'cidr'), `IP set holds ${a}`).toBe(false);
    }
    for (const c of snap.deny.cidrs) expect(touchesAllowlist(c, 'cidr'), `policy denies ${c}`).toBe(false);
    for (const p of snap.deny.principals) expect(allow.principals.includes(p), `policy denies ${p}`).toBe(false);
    if (cfg.dryRun) expect(snap.ipSets.length + snap.deny.cidrs.length + snap.deny.principals.length).toBe(0);
  }
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

type Overlay = 'none' | 'flood-crowd' | 'established-turns';

/**
 * Extra traffic over a scenario, so that the cap and the blast-radius guard have something to do: six flooders at
 * once (three of them in one /24, which aggregation turns into the /24), or a long-established busy client that
 * turns into a flood (its usual traffic is what a block would cut).
 */
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
  overlay: fc.constantFrom<Overlay>('none', 'flood-crowd', 'established-turns'),
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

/** The released target is in neither the IP sets nor the policy, unless another active block covers it. */
function expectNotProjected(dir: string, statePath: string, victim: LedgerEntry, now: number): void {
  if (victim.targetKind === 'principal') {
    expect(readPolicyDeny(dir).principals).not.toContain(victim.target);
    return;
  }
  const state = new SqliteState(statePath);
  const others = state.listActiveSync(now).filter((e) => e.targetKind !== 'principal' && e.target !== victim.target);
  state.close();
  if (others.some((e) => overlaps(e.target, victim.target))) return;
  expect(readIpSets(dir).filter((a) => overlaps(a, victim.target)), `released ${victim.target} still in the IP sets`).toEqual([]);
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
  const r = await runLocal(events, cfg, again, statePath);
  const sameTime = r.decisions.filter((d) => d.target === victim.target && d.action === 'block' && Date.parse(d.time) === victim.createdAt);
  expect(sameTime, `released ${victim.target} re-blocked on the evidence the operator overruled`).toEqual([]);
  const row = ledgerAt(statePath, victim.target).find((e) => e.createdAt === victim.createdAt);
  expect(row?.status, `ledger row of released ${victim.target}`).toBe('released');
  const reblocked = r.decisions.some((d) => d.target === victim.target && d.action === 'block');
  if (!reblocked) expectNotProjected(again, statePath, victim, r.pipeline.stats.logEnd ?? logEnd);

  // Benign traffic after the log: no new evidence, so no block of the released target.
  const later = simulateEvents({ scenario: 'benign', minutes: 10, seed: labels.seed + 1, start: labels.end + 60_000 }).events.map(toAccessEvent);
  const quiet = newDir('inv-quiet');
  const q = await runLocal(later, cfg, quiet, copy);
  expect(q.decisions.filter((d) => d.target === victim.target && d.action === 'block')).toEqual([]);
  expectNotProjected(quiet, copy, victim, q.pipeline.stats.logEnd ?? logEnd);
  return { released: victim.target, reblocked };
}

/** Long synchronous runs starve vitest's worker RPC: let its timers run between runs. */
const yieldToVitest = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('containment safety invariants over randomized scenarios', () => {
  it('hold for every decision and every IP set / policy file state', async () => {
    const totals = { runs: 0, events: 0, decisions: 0, blocks: 0, checks: 0, heldBack: {} as Record<string, number>, releases: 0, reblocked: 0 };
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
        const snapshots: { ipSets: string[]; deny: { principals: string[]; cidrs: string[] } }[] = [];
        // Contain applies the IP sets and the policy, then publishes the decisions: read the files as each arrives.
        const r = await runLocal(events, cfg, out, undefined, () => snapshots.push({ ipSets: readIpSets(out), deny: readPolicyDeny(out) }));
        totals.checks += checkRun(r.decisions, cfg, out, snapshots);
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
      { numRuns: RUNS, endOnFailure: true, seed: process.env.CORDON_FC_SEED ? Number(process.env.CORDON_FC_SEED) : undefined },
    );
    figures('invariants', {
      runs: totals.runs, events: totals.events, decisions: totals.decisions, blocks: totals.blocks,
      invariantsChecked: totals.checks, heldBack: JSON.stringify(totals.heldBack), releases: totals.releases,
      reblockedWithNewTime: totals.reblocked,
    });
    expect(totals.runs).toBe(RUNS);
  }, 240_000);
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
    const first = await runLocal(byTime(...background(T0, T0 + 15 * MIN), ...flooders(T0 + 12 * MIN, T0 + 15 * MIN)),
      parseConfig({ aggregation: { ipv4Offenders: 4 } }), out1);
    const hostBlocks = first.decisions.filter((d) => d.action === 'block').map((d) => d.target);
    expect(hostBlocks).toEqual(['198.51.100.7', '198.51.100.8', '198.51.100.9']);
    // Run 2, a dry run with aggregation from 3 hosts, on the next quarter hour while those blocks are still active.
    const out2 = newDir('dry2');
    const second = await runLocal(byTime(...background(T0 + 15 * MIN, T0 + 30 * MIN)),
      parseConfig({ dryRun: true, aggregation: { ipv4Offenders: 3 } }), out2, join(out1, 'state.sqlite'));
    const blocks = second.decisions.filter((d) => d.action === 'block');
    figures('dry run over aggregating state', { priorBlocks: hostBlocks.length, decisions: second.decisions.length, blocks: blocks.length });
    expect(blocks.map((d) => d.target)).toEqual([]);
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

  /** Aggregating three blocked hosts into their /24 must not cut 40 established neighbours (~8% of traffic, 3% guard). */
  it('aggregation into a /24 respects the blast-radius guard', async () => {
    const established = Array.from({ length: 40 }, (_, i) => steady(`198.51.100.${100 + i}`, T0 + i * 37, T0 + 20 * MIN, 12));
    const events = byTime(...established, ...background(T0, T0 + 20 * MIN), ...flooders(T0 + 12 * MIN, T0 + 15 * MIN));
    const out = newDir('agg');
    const r = await runLocal(events, parseConfig({ blastRadiusShare: 0.03 }), out);
    const covering = r.decisions.filter((d) => d.action === 'block' && overlaps(d.target, '198.51.100.100'));
    figures('aggregation vs blast radius', { events: events.length, decisions: r.decisions.length, blocksCoveringEstablished: covering.length });
    expect(covering.map((d) => d.target)).toEqual([]);
  });
});
