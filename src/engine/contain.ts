import { createHash } from 'node:crypto';
import type { CordonConfig } from '../config.ts';
import { unblockDecision } from '../contain/decide.ts';
import { piecesFor, project, withinAny } from '../contain/projection.ts';
import { isRouteScoped } from '../contain/route-scope.ts';
import type { Decision } from '../decision.ts';
import { AwsAdapterError } from '../adapters/aws/errors.ts';
import { authorizerPrincipal } from '../decode/principal-key.ts';
import { ApiAccessError, AuthorizationConflictError, PolicyBudgetError, PolicyParseError } from '../render/resource-policy.ts';
import type { AlertPort, ApiKeyApplyResult, ApiKeyPort, ContainmentGap, DenyListPort, IpSetApplyResult, IpSetPort, LedgerEntry, LedgerKey, LedgerStatus, LedgerStore,
  PolicyPort, TargetFailure, WebAclReferenceCheck } from '../ports.ts';
import { type Logger, METRIC, type Metrics, noMetrics, silentLogger } from './observe.ts';

export interface ContainDeps {
  ledger: LedgerStore;
  ipSets: IpSetPort;
  policies: PolicyPort[];
  /** The deny list authorizers consult; applied only with `config.denyList.enabled` (then it must be given). */
  denyList?: DenyListPort;
  /** API keys (disabled while blocked); applied only with `config.apiKeys.enabled` (then it must be given). */
  apiKeys?: ApiKeyPort;
  alerts: AlertPort;
  /**
   * The stages that keep a web ACL of their own (not cordon's), checked every run (the check caches) for a reference to
   * cordon's rule group: without one, WAF holds none of the address blocks there. None where there are no such stages.
   */
  webAcls?: WebAclReferenceCheck;
  config: CordonConfig;
  log?: Logger;
  metrics?: Metrics;
}

export interface ContainResult {
  changedIpSets: boolean;
  changedPolicies: number;
  /** Whether the deny list was rewritten (false when it is off). */
  changedDenyList: boolean;
  alerted: number;
  expired: number;
  /** Blocks enforced for the first time by this run (their expiry now counts from this run). */
  enforced: LedgerEntry[];
  /** Entries that ended this run (expired). */
  ended: LedgerEntry[];
  /** The decisions alerted by this run, in the order published. */
  decisions: Decision[];
  ipSets?: IpSetApplyResult;
  /** What the API-key target did (absent when it is off or failed). */
  apiKeys?: ApiKeyApplyResult;
  /** Targets that failed this run (the run still alerted). */
  failures: TargetFailure[];
  gaps: ContainmentGap[];
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
export async function runContain(deps: ContainDeps, now: number, memo: ContainMemo = {},
  written: readonly LedgerKey[] = []): Promise<ContainResult> {
  const log = deps.log ?? silentLogger;
  const metrics = deps.metrics ?? noMetrics;
  const denyList = deps.config.denyList.enabled ? deps.denyList : undefined;
  // Checked before anything is touched: a list the config promises but nobody wired would silently enforce nothing.
  if (deps.config.denyList.enabled && !denyList) throw new Error('config.denyList.enabled, but contain was given no deny list');
  const apiKeys = deps.config.apiKeys.enabled ? deps.apiKeys : undefined;
  if (deps.config.apiKeys.enabled && !apiKeys) throw new Error('config.apiKeys.enabled, but contain was given no API-key target');
  // Only what contain acts on (the active entries, and those whose alert is due), never the whole ledger.
  const all = await deps.ledger.listOpen(now, written);
  const ended: LedgerEntry[] = [];
  for (const e of all) {
    // Only an enforced block runs down its time; one never enforced (contain down since) still gets its full time,
    // unless no target has held it for a day after it ended (a principal no policy can name): it must not stay
    // active, and re-tried, for ever.
    const ranDown = e.effectiveAt !== undefined || now - e.expiresAt >= NEVER_ENFORCED_GRACE_MS;
    if (e.status === 'active' && ranDown && e.expiresAt <= now) {
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

  // Each target is reconciled on its own: a deleted API, a full policy or WAF's limits stop only that target, and
  // the alerts below still go out, naming it.
  const failures: TargetFailure[] = [];
  const gaps: ContainmentGap[] = [];
  // Whatever a target throws is that target's failure: a bug in one (an error that is no AWS answer nor a known limit
  // of the target) is surfaced as the stage's error too, but never stops the other targets, the alert or the stamping.
  const targetFailed = (target: string, err: unknown, what = ''): void => {
    failures.push({ target, error: what + describe(err) });
    if (isTargetFailure(err)) return;
    metrics.add(METRIC.StageErrors, 1);
    log.error('containment target failed unexpectedly', { target, error: describe(err), stack: (err as Error | null)?.stack?.slice(0, 2000) });
  };
  let ip: IpSetApplyResult | undefined;
  try {
    ip = await deps.ipSets.apply(p.ipSets);
    for (const cidr of ip.overflow ?? []) gaps.push({ entry: cidr, target: WAF_TARGET, reason: 'ip-set-overflow' });
  } catch (err) {
    targetFailed(WAF_TARGET, err);
  }
  // A stage keeping its own web ACL enforces the IP sets only if that web ACL references cordon's rule group, which
  // its team adds, not cordon: one that does not (or cannot be checked) is that stage's WAF failure, and no address
  // block claims to be in effect there (its policy may still hold some CIDRs). `api/stage` → why not.
  const wafMissing = new Map<string, string>();
  for (const stage of deps.webAcls?.stages ?? []) {
    const name = `${stage.restApiId}/${stage.stageName}`;
    const target = `waf ${name}`;
    try {
      const r = await deps.webAcls!.check(stage);
      if (r === 'referenced') continue;
      wafMissing.set(name, r === 'absent' ? WEB_ACL_ABSENT : WEB_ACL_COUNT_ONLY);
      failures.push({ target, error: `${r === 'absent' ? WEB_ACL_ABSENT : WEB_ACL_COUNT_ONLY}: address blocks are not enforced there` });
    } catch (err) {
      wafMissing.set(name, WEB_ACL_UNCHECKED);
      targetFailed(target, err, `${WEB_ACL_UNCHECKED}: `);
    }
  }
  let changedPolicies = 0;
  const principalsHeld = new Set<string>();
  // Principals every policy applied this run said it can never name (rejected, or unenforceable on that API).
  let neverNamed: Set<string> | null = null;
  let policyApplied = false;
  // Per policy (by name, `api/stage`): the CIDRs it holds, for the stages whose web ACL holds no address block.
  const policyCidrs = new Map<string, Set<string>>();
  for (const [i, policy] of deps.policies.entries()) {
    const target = `policy ${policy.name ?? i + 1}`;
    try {
      const r = await policy.apply(p.deny);
      policyApplied = true;
      if (r.changed) changedPolicies++;
      const dropped = new Set(r.dropped);
      if (policy.name) policyCidrs.set(policy.name, new Set(p.deny.cidrs.filter((c) => !dropped.has(c))));
      const never = new Set(r.unenforceable ?? []);
      // Not an IAM principal at all (a Cognito sub, an authorizer's principalId, an API key): no policy names it.
      const rejected = new Set(r.rejected ?? []);
      for (const entry of r.dropped) gaps.push({ entry, target, reason: never.has(entry) ? 'unenforceable' : 'policy-size' });
      for (const entry of rejected) if (!dropped.has(entry)) gaps.push({ entry, target, reason: 'unenforceable' });
      for (const principal of p.deny.principals) if (!dropped.has(principal) && !rejected.has(principal)) principalsHeld.add(principal);
      const cannot = new Set([...rejected, ...never]);
      neverNamed = new Set([...(neverNamed ?? cannot)].filter((x) => cannot.has(x)));
    } catch (err) {
      targetFailed(target, err);
    }
  }
  // Last: the deny list holds every principal and address block, so it reaches what WAF and the policies cannot
  // (authorizer principals, HTTP APIs). Its principals count as enforced only once it is written.
  let changedDenyList = false;
  let denyListFailed = false;
  if (denyList) {
    try {
      // Authorizers match their own principalId: an unverified ARN-looking key goes on the list as they see it.
      const r = await denyList.apply({ principals: p.deny.principals.map(authorizerPrincipal), cidrs: [...p.ipSets.v4, ...p.ipSets.v6] });
      changedDenyList = r.changed;
      for (const principal of p.deny.principals) principalsHeld.add(principal);
      // A principal no policy could ever name is no gap once the list holds it: that is what the list is for.
      dropUnenforceableGaps(gaps, new Set(p.deny.principals));
    } catch (err) {
      denyListFailed = true;
      targetFailed(DENY_LIST_TARGET, err);
    }
  }
  // Then API keys: a blocked principal that is a key is disabled, and counts as held once it is; a key cordon disabled
  // that is no longer blocked is enabled again (so a dry run, which blocks nothing, re-enables them too).
  let keys: ApiKeyApplyResult | undefined;
  let apiKeysFailed = false;
  if (apiKeys) {
    try {
      keys = await apiKeys.apply(p.deny.principals);
      const held = new Set(keys.held);
      for (const k of held) principalsHeld.add(k);
      dropUnenforceableGaps(gaps, held);
    } catch (err) {
      apiKeysFailed = true;
      targetFailed(API_KEYS_TARGET, err);
    }
  }
  for (const f of failures) {
    metrics.add(METRIC.TargetFailures, 1, 'Count', { target: metricTarget(f.target) });
    log.error('containment target failed', { target: f.target, error: f.error });
  }

  // Only a block some target really holds is enforced: its expiry starts now. The others are retried next run.
  const outside = (ip?.overflow ?? []);
  // A block is held by WAF when some piece of it is (an allowlisted address cut out of it splits it; the sets may hold
  // some pieces and not others): judged against the overflow of its own scope, the route sets' for a login-route block
  // (and the global sets', which may hold it instead), the global sets' for one everywhere.
  const routePieces = new Set([...(p.ipSets.route?.v4 ?? []), ...(p.ipSets.route?.v6 ?? [])]);
  // Per scope, the overflow is disjoint (one plan's output): a piece lies within at most one block of it.
  const inGlobalOverflow = withinAny(outside.filter((o) => !routePieces.has(o)));
  const inRouteOverflow = withinAny(outside.filter((o) => routePieces.has(o)));
  const pieces = piecesFor(deps.config);
  const heldByWaf = (e: LedgerEntry): boolean => {
    const own = pieces(e.target);
    if (own.length === 0) return false; // all of it allowlisted or a proxy since it was decided: nothing to hold
    if (outside.length === 0) return true;
    return own.some((piece) => !inGlobalOverflow(piece) && !(isRouteScoped(e) && inRouteOverflow(piece)));
  };
  // The checked stages where an address block is held by neither WAF nor the stage's policy.
  const missingOn = (e: LedgerEntry): string[] => e.targetKind === 'principal' ? []
    : [...wafMissing.keys()].filter((name) => isRouteScoped(e) || !policyCidrs.get(name)?.has(e.target));
  const enforcedNow = (e: LedgerEntry): boolean => {
    if (deps.config.dryRun) return false;
    if (e.targetKind === 'principal') return principalsHeld.has(e.target);
    if (ip === undefined) return false;
    // Held on no protected stage at all (each keeps a web ACL without cordon's rule group): not in effect anywhere.
    const missing = missingOn(e);
    if (missing.length > 0 && missing.length >= Math.max(1, deps.policies.length)) return false;
    return heldByWaf(e);
  };
  const enforced: LedgerEntry[] = [];
  for (const e of fresh) {
    if (!enforcedNow(e)) continue;
    Object.assign(e, { effectiveAt: now, expiresAt: now + Math.max(0, e.expiresAt - e.createdAt) });
    await deps.ledger.put(e);
    enforced.push(e);
  }
  const unenforced = new Map<string, NotEnforced>();
  for (const e of fresh) {
    if (e.effectiveAt !== undefined || deps.config.dryRun) continue;
    const policyWhy = policyApplied ? 'no resource policy could hold it' : 'every resource policy failed';
    const failedToo = [denyListFailed && 'the deny list', apiKeysFailed && 'the API keys'].filter(Boolean).join(' and ');
    const why = e.targetKind === 'principal'
      ? (failedToo ? `${failedToo} failed and ${policyWhy}` : policyWhy)
      : ip === undefined ? 'the WAF IP sets failed'
        // A block of the login route only needs the route sets (config waf.routeScoped), which may not be deployed.
        : isRouteScoped(e) && !ip.sets.some((s) => s.route) ? 'no route-scoped WAF IP set is deployed'
          : !heldByWaf(e) ? 'the WAF IP sets are full' : notInEffectOn(missingOn(e), wafMissing) ?? 'the WAF IP sets are full';
    // Nothing this deployment has can ever hold it (no deny list, and the policies took it and could not name it):
    // announced as an alert, never as a block. A target that failed is retried: that block stays a block.
    const policyFailed = failures.some((f) => f.target.startsWith('policy'));
    const never = e.targetKind === 'principal' && !denyList && !policyFailed && !apiKeysFailed && (neverNamed?.has(e.target) ?? false);
    unenforced.set(e.target, { why, never });
  }

  const pending = all.filter((e) => !(e.alerted ?? []).includes(e.status));
  let decisions: Decision[] = [];
  // A failing or full target is announced when that changes, not every minute it lasts (a warm instance remembers).
  const problems = [...failures.map((f) => `!${f.target}#${f.error}`), ...gaps.map((g) => `~${g.target}#${g.entry}#${g.reason}`)].sort().join('\n');
  const newProblems = problems !== '' && problems !== memo.lastProblems;
  if (pending.length || newProblems) {
    // A block in effect, but not on some stage (its web ACL lacks cordon's rule group), says where it is not.
    const partly = (e: LedgerEntry): NotEnforced | undefined => {
      if (e.status !== 'active' || deps.config.dryRun) return undefined;
      const why = notInEffectOn(missingOn(e), wafMissing);
      return why === undefined ? undefined : { why, never: false };
    };
    decisions = pending.map((e) => asDecision(e, unenforced.get(e.target) ?? partly(e))).sort((a, b) => a.time.localeCompare(b.time));
    const id = createHash('sha256').update([...pending.map((e) => `${e.target}#${e.createdAt}#${e.status}`).sort(),
      ...failures.map((f) => `!${f.target}#${f.error}`), ...gaps.map((g) => `~${g.target}#${g.entry}`)].join('\n')).digest('hex').slice(0, 32);
    const page = failures.length > 0 || gaps.length > 0
      || pending.some((e) => e.status === 'held' && (e.evidence.heldBack === 'blast-radius' || e.evidence.heldBack === 'cap'));
    await deps.alerts.publish({ id, time: new Date(now).toISOString(), decisions, page,
      ...(failures.length ? { failures } : {}), ...(gaps.length ? { gaps } : {}) });
    if (pending.length) {
      const marked = pending.map((e) => ({ ...e, alerted: [...new Set<LedgerStatus>([...(e.alerted ?? []), e.status])] }));
      // All marks at once where the store can: marks written one by one and cut short by a crash would leave part of
      // the batch pending, and the next run would alert that part again under a different batch id.
      if (deps.ledger.markAlerted) await deps.ledger.markAlerted(marked);
      else for (const e of marked) await deps.ledger.put(e);
    }
  }
  // Remembered only once announced: a publish that failed leaves the problems new, so the next run alerts them.
  memo.lastProblems = problems;
  // Blocks and alerts are counted where they are decided (detect); expiries and releases here.
  for (const d of decisions) if (d.action === 'unblock') metrics.add(METRIC.Decisions, 1, 'Count', { action: d.action });
  log.info('contained', { active: active.length, enforcedNow: enforced.length, notEnforced: unenforced.size, expired: ended.length,
    ipSetsChanged: ip?.changed ?? false, changedPolicies, denyListChanged: changedDenyList,
    ...(keys ? { apiKeysDisabled: keys.disabled.length, apiKeysEnabled: keys.enabled.length } : {}), alerted: pending.length, targetsFailed: failures.length, gaps: gaps.length });
  return { changedIpSets: ip?.changed ?? false, changedPolicies, changedDenyList, alerted: pending.length, expired: ended.length, enforced, ended,
    decisions, ipSets: ip, ...(keys ? { apiKeys: keys } : {}), failures, gaps };
}

/** What a contain stage remembers between runs: the target failures and gaps it last announced. */
export interface ContainMemo {
  lastProblems?: string;
}

/** The contain stage as an object, like the others: one run per schedule tick or ledger-stream batch. */
export class ContainStage {
  private readonly memo: ContainMemo = {};
  constructor(private readonly deps: ContainDeps) {}
  /** `written`: entries a ledger stream batch says were just written (read from the table, not a lagging index). */
  run(now: number, written: readonly LedgerKey[] = []): Promise<ContainResult> {
    return runContain(this.deps, now, this.memo, written);
  }
}

interface NotEnforced {
  why: string;
  /** No target of this deployment can ever hold it. */
  never: boolean;
}

function asDecision(e: LedgerEntry, notEnforced?: NotEnforced): Decision {
  if (e.status === 'expired' || e.status === 'released') {
    return unblockDecision(e, e.endedAt ?? e.expiresAt, e.status === 'released' ? 'operator' : 'expiry');
  }
  return { time: new Date(e.createdAt).toISOString(), action: e.status === 'held' || notEnforced?.never ? 'alert' : 'block', target: e.target,
    targetKind: e.targetKind, reasons: e.reasons, score: e.score, expiresAt: new Date(e.expiresAt).toISOString(),
    evidence: notEnforced ? { ...e.evidence, notEnforced: notEnforced.why } : e.evidence };
}

/** Principals a later target holds are no `unenforceable` gap any more (the policies could not name them). */
function dropUnenforceableGaps(gaps: ContainmentGap[], held: ReadonlySet<string>): void {
  const kept = gaps.filter((g) => !(g.reason === 'unenforceable' && held.has(g.entry)));
  gaps.splice(0, gaps.length, ...kept);
}

const WAF_TARGET = 'waf-ip-sets';
const WEB_ACL_ABSENT = "its web ACL does not use cordon's rule group";
const WEB_ACL_COUNT_ONLY = "its web ACL uses cordon's rule group in count mode only";
const WEB_ACL_UNCHECKED = "whether its web ACL uses cordon's rule group could not be checked";

/** `not in effect on a/prod (its web ACL …); b/prod (…)`, or undefined when it is in effect on every stage. */
function notInEffectOn(stages: string[], why: ReadonlyMap<string, string>): string | undefined {
  if (stages.length === 0) return undefined;
  return `not in effect on ${stages.map((s) => `${s} (${why.get(s)})`).join('; ')}`;
}
const DENY_LIST_TARGET = 'deny-list';
const API_KEYS_TARGET = 'api-keys';

/** The `target` dimension of TargetFailures: a small fixed set (functions/metrics.ts), not one value per API. */
function metricTarget(target: string): 'waf' | 'policy' | 'deny-list' | 'api-keys' {
  if (target === DENY_LIST_TARGET) return 'deny-list';
  if (target === API_KEYS_TARGET) return 'api-keys';
  return target.startsWith('policy') ? 'policy' : 'waf';
}
/** How long past its end a block no target ever held is kept trying before it is let go. */
const NEVER_ENFORCED_GRACE_MS = 86_400_000;

/**
 * An expected failure of one target: AWS answered (an API deleted, a limit, a refusal, retries spent) or the target
 * cannot take what cordon would write (a policy over its size without cordon's statements, one cordon cannot read, an
 * API whose methods cannot be read or given a safe Allow). Anything else is a bug: still that target's failure only,
 * but also counted as a stage error.
 */
function isTargetFailure(err: unknown): boolean {
  if (err instanceof AwsAdapterError || err instanceof PolicyBudgetError || err instanceof PolicyParseError
    || err instanceof ApiAccessError || err instanceof AuthorizationConflictError) return true;
  // An AWS answer carries its HTTP status ($metadata alone is not enough: the SDK's retry layer stamps any error).
  const e = err as { $metadata?: { httpStatusCode?: number }; $fault?: unknown; name?: string } | null;
  return !!e && typeof e === 'object'
    && (e.$metadata?.httpStatusCode !== undefined || e.$fault !== undefined || e.name === 'AuthorizationConflictError');
}

/** An error as an alert may carry it: its name and message, no stack, bounded. */
function describe(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err)}`.slice(0, 300);
}
