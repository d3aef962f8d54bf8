import { createHash } from 'node:crypto';
import type { CordonConfig } from '../config.ts';
import { unblockDecision } from '../contain/decide.ts';
import { project } from '../contain/projection.ts';
import type { Decision } from '../decision.ts';
import type { AlertPort, IpSetApplyResult, IpSetPort, LedgerEntry, LedgerStatus, LedgerStore, PolicyPort } from '../ports.ts';
import { type Logger, METRIC, type Metrics, noMetrics, silentLogger } from './observe.ts';

export interface ContainDeps {
  ledger: LedgerStore;
  ipSets: IpSetPort;
  policies: PolicyPort[];
  alerts: AlertPort;
  config: CordonConfig;
  log?: Logger;
  metrics?: Metrics;
}

export interface ContainResult {
  changedIpSets: boolean;
  changedPolicies: number;
  alerted: number;
  expired: number;
  /** Blocks enforced for the first time by this run (their expiry now counts from this run). */
  enforced: LedgerEntry[];
  /** Entries that ended this run (expired). */
  ended: LedgerEntry[];
  /** The decisions alerted by this run, in the order published. */
  decisions: Decision[];
  ipSets?: IpSetApplyResult;
}

/**
 * Stage 3 (DESIGN §1): reconciles WAF and the resource policies with the ledger, then alerts every ledger change not
 * yet alerted, in one message. The one reconcile: the desired state of every target is a projection of the ledger's
 * active blocks (contain/projection.ts), so a run is idempotent and a drifted IP set is put back.
 *
 * Expiry counts from enforcement: a block is stamped `effectiveAt` by the first run that applied it, and its
 * `expiresAt` moved to that moment plus its duration, so a block decided late still lasts its full time, and the
 * alert says when it really ends. The alert marks are written after the publish, all at once where the store can,
 * so a crash between the two re-sends the very same batch (same id, same decisions) rather than losing or splitting it.
 */
export async function runContain(deps: ContainDeps, now: number): Promise<ContainResult> {
  const log = deps.log ?? silentLogger;
  const metrics = deps.metrics ?? noMetrics;
  const all = await deps.ledger.listAll();
  const ended: LedgerEntry[] = [];
  for (const e of all) {
    // Only an enforced block runs down its time; one never enforced (contain down since) still gets its full time.
    if (e.status === 'active' && e.effectiveAt !== undefined && e.expiresAt <= now) {
      Object.assign(e, { status: 'expired' as const, endedAt: e.expiresAt });
      await deps.ledger.put(e);
      ended.push(e);
    }
  }
  if (deps.config.dryRun) {
    // A dry run enforces nothing, and a block it never enforced must not wait in the ledger to be enforced when the
    // dry run ends (a detect stage that missed the switch wrote it): it becomes the alert it should have been.
    for (const e of all) {
      if (e.status !== 'active' || e.effectiveAt !== undefined) continue;
      Object.assign(e, { status: 'held' as const, evidence: { ...e.evidence, heldBack: 'dry-run' as const } });
      await deps.ledger.put(e);
    }
  }
  const active = all.filter((e) => e.status === 'active' && (e.effectiveAt === undefined || e.expiresAt > now));
  const fresh = active.filter((e) => e.effectiveAt === undefined);
  const p = project(deps.config.dryRun ? [] : active, deps.config);
  const ip = await deps.ipSets.apply(p.ipSets);
  let changedPolicies = 0;
  for (const policy of deps.policies) if ((await policy.apply(p.deny)).changed) changedPolicies++;
  for (const e of fresh) {
    Object.assign(e, { effectiveAt: now, expiresAt: now + Math.max(0, e.expiresAt - e.createdAt) });
    await deps.ledger.put(e);
  }
  const pending = all.filter((e) => !(e.alerted ?? []).includes(e.status));
  let decisions: Decision[] = [];
  if (pending.length) {
    decisions = pending.map((e) => asDecision(e)).sort((a, b) => a.time.localeCompare(b.time));
    const id = createHash('sha256').update(pending.map((e) => `${e.target}#${e.createdAt}#${e.status}`).sort().join('\n')).digest('hex').slice(0, 32);
    await deps.alerts.publish({ id, time: new Date(now).toISOString(), decisions,
      page: pending.some((e) => e.status === 'held' && (e.evidence.heldBack === 'blast-radius' || e.evidence.heldBack === 'cap')) });
    const marked = pending.map((e) => ({ ...e, alerted: [...new Set<LedgerStatus>([...(e.alerted ?? []), e.status])] }));
    // All marks at once where the store can: marks written one by one and cut short by a crash would leave part of
    // the batch pending, and the next run would alert that part again under a different batch id.
    if (deps.ledger.markAlerted) await deps.ledger.markAlerted(marked);
    else for (const e of marked) await deps.ledger.put(e);
  }
  // Blocks and alerts are counted where they are decided (detect); expiries and releases here.
  for (const d of decisions) if (d.action === 'unblock') metrics.add(METRIC.Decisions, 1, 'Count', { action: d.action });
  log.info('contained', { active: active.length, enforcedNow: fresh.length, expired: ended.length, ipSetsChanged: ip.changed,
    changedPolicies, alerted: pending.length });
  return { changedIpSets: ip.changed, changedPolicies, alerted: pending.length, expired: ended.length, enforced: fresh, ended,
    decisions, ipSets: ip };
}

/** The contain stage as an object, like the others: one run per schedule tick or ledger-stream batch. */
export class ContainStage {
  constructor(private readonly deps: ContainDeps) {}
  run(now: number): Promise<ContainResult> {
    return runContain(this.deps, now);
  }
}

function asDecision(e: LedgerEntry): Decision {
  if (e.status === 'expired' || e.status === 'released') {
    return unblockDecision(e, e.endedAt ?? e.expiresAt, e.status === 'released' ? 'operator' : 'expiry');
  }
  return { time: new Date(e.createdAt).toISOString(), action: e.status === 'held' ? 'alert' : 'block', target: e.target,
    targetKind: e.targetKind, reasons: e.reasons, score: e.score, expiresAt: new Date(e.expiresAt).toISOString(), evidence: e.evidence };
}
