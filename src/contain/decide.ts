import { type CordonConfig, ruleMode, type RuleName } from '../config.ts';
import type { Decision, Evidence, RouteScope, TargetKind } from '../decision.ts';
import type { KeyVerdict, WindowAssessment } from '../detect/detector.ts';
import { authorizerPrincipal } from '../decode/principal-key.ts';
import { type Cidr, formatCidr, overlaps, parseCidr } from '../net/cidr.ts';
import { isIpv6, prefixOf } from '../net/ip.ts';
import { PROXY_ADVICE, proxySetFor } from '../net/proxies.ts';
import type { LedgerEntry } from '../ports.ts';
import { blockDurationMs } from './expiry.ts';
import type { LedgerBook } from './ledger-book.ts';
import { isRouteScoped, LOGIN_ROUTE, routeScopeOf } from './route-scope.ts';

const iso = (t: number): string => new Date(t).toISOString();

/** Targets alerted recently, so a held-back offender alerts once per period rather than every window. */
export class AlertMemory {
  private readonly until = new Map<string, number>();
  /** Seeds the memory from held entries of a ledger (stateless runners, such as a Lambda). */
  remember(target: string, until: number): void {
    if ((this.until.get(target) ?? 0) < until) this.until.set(target, until);
  }
  shouldAlert(target: string, now: number, periodMs: number): boolean {
    const u = this.until.get(target);
    if (u !== undefined && u > now) return false;
    this.until.set(target, now + periodMs);
    if (this.until.size > 100_000) for (const [t, v] of this.until) if (v <= now) this.until.delete(t);
    return true;
  }
}

export interface WindowDecisions {
  decisions: Decision[];
  /** New ledger entries (blocks) to persist. */
  blocks: LedgerEntry[];
  /** Held-back alerts as ledger entries (status `held`), for runners that alert from the ledger. */
  held: LedgerEntry[];
  /** True when a guard held something back that a human should see now. */
  page: boolean;
}

interface Candidate {
  target: string;
  targetKind: TargetKind;
  verdict: KeyVerdict;
  reasons: RuleName[];
  /** Set when the block holds the login route only (config waf.routeScoped). */
  scope?: RouteScope;
  /** Every verdict this target stands for (the addresses of one IPv6 /64), the strongest being `verdict`. */
  all: KeyVerdict[];
}

/** `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`: what an operator allowlists for a role. */
const ROLE_ARN = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;
/** `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION`: how API Gateway logs (userArn) a caller using that role. */
const ROLE_SESSION_ARN = /^arn:([a-z-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

/** Partition, account and role name; IAM role names are unique ignoring case, so the name is compared so. */
const roleKey = (m: RegExpExecArray): string => `${m[1]}:${m[2]}:${m[3].toLowerCase()}`;

export class Allowlist {
  // One parser for config validation, the allowlist, WAF and the policy (src/net/cidr.ts): `::ffff:a.b.c.d` is IPv4.
  private readonly cidrs: Cidr[];
  private readonly principals: Set<string>;
  /** Allowlisted roles (see {@link roleKey}): they protect every session of the role, whatever its path. */
  private readonly roles: Set<string>;
  constructor(cfg: CordonConfig['allowlist']) {
    this.cidrs = cfg.cidrs.map((c) => {
      const p = parseCidr(c);
      if (!p) throw new Error(`allowlist: not an address or CIDR: ${JSON.stringify(c)}`);
      return p;
    });
    this.principals = new Set(cfg.principals);
    this.roles = new Set(cfg.principals.flatMap((p) => {
      const m = ROLE_ARN.exec(p);
      return m ? [roleKey(m)] : [];
    }));
  }

  /** True when blocking `target` would touch an allowlisted address or principal. */
  touches(target: string, kind: TargetKind): boolean {
    if (kind === 'principal') return this.allowsPrincipal(target);
    const t = parseCidr(target);
    if (!t) return false;
    return this.cidrs.some((a) => overlaps(a, t));
  }

  /**
   * An allowlisted principal exactly, or a session of an allowlisted role; a key read from another field than userArn
   * (`unverified:ARN`) is the principal it names, as the operator wrote it.
   */
  allowsPrincipal(key: string): boolean {
    const principal = authorizerPrincipal(key);
    if (this.principals.has(principal) || this.principals.has(key)) return true;
    const session = ROLE_SESSION_ARN.exec(principal);
    return session !== null && this.roles.has(roleKey(session));
  }

  get cidrTexts(): string[] {
    return this.cidrs.map(formatCidr);
  }
}

/**
 * Turns a window's verdicts into decisions: picks each offender's block target, applies the safety guards
 * (allowlist, the learning period, dry run, count mode, blast radius, the cap on new blocks), escalates repeat offenders, and
 * aggregates several offenders of one IPv4 /24 into the /24.
 */
export function decideWindow(
  a: WindowAssessment,
  book: LedgerBook,
  cfg: CordonConfig,
  allowlist: Allowlist,
  alerts: AlertMemory,
): WindowDecisions {
  const now = a.closedAt;
  const out: WindowDecisions = { decisions: [], blocks: [], held: [], page: false };
  const candidates = pickTargets(a.verdicts.filter((v) => v.act || v.learning));
  candidates.sort((x, y) => y.verdict.score - x.verdict.score);
  // Blocks this window already made before it closed (early decisions) count against its cap; aggregates do not.
  let newBlocks = book.active(now).filter((e) => e.evidence.windowStart === a.start && !e.reasons.includes('aggregation')).length;
  const alertPeriod = cfg.expiry.baseMinutes * 60_000;

  const emit = (c: Candidate, heldBack: Evidence['heldBack'], extra: Partial<Evidence> = {}): void => {
    const prior = book.priorBlocks(c.target, now - cfg.expiry.lookbackDays * 86_400_000);
    const expiresAt = now + blockDurationMs(prior, cfg.expiry);
    const evidence = evidenceOf(c, a, { scope: c.scope, ...extra, priorBlocks: prior, heldBack });
    const decision: Decision = {
      time: iso(now),
      action: heldBack ? 'alert' : 'block',
      target: c.target,
      targetKind: c.targetKind,
      reasons: c.reasons,
      score: c.verdict.score,
      expiresAt: iso(expiresAt),
      evidence,
    };
    if (heldBack) {
      if (!alerts.shouldAlert(c.target, now, alertPeriod)) return;
      if (heldBack === 'blast-radius' || heldBack === 'cap') out.page = true;
      out.decisions.push(decision);
      out.held.push({ target: c.target, targetKind: c.targetKind, createdAt: now, expiresAt: now + alertPeriod, status: 'held',
        reasons: c.reasons, score: c.verdict.score, priorBlocks: prior, evidence });
      return;
    }
    const entry: LedgerEntry = { target: c.target, targetKind: c.targetKind, createdAt: now, expiresAt, status: 'active',
      reasons: c.reasons, score: c.verdict.score, priorBlocks: prior, evidence };
    book.record(entry);
    out.blocks.push(entry);
    out.decisions.push(decision);
    newBlocks++;
  };

  for (const c of candidates) {
    // On the login route only if everything the target stands for is confined to it: one address of a /64 stuffing
    // logins while another scans blocks the /64 everywhere.
    const scopes = c.all.map((v) => routeScopeOf({ targetKind: c.targetKind, findings: v.findings, features: v.features }, cfg));
    const scope = scopes.every((x) => x !== undefined) ? scopes[0] : undefined;
    if (scope) c.scope = scope;
    // A block on the login route only covers nothing the target needs blocked everywhere (it also scans, floods…):
    // that is a new block in full beside it.
    if (book.activeCovering(c.target, c.targetKind, now, { everywhere: scope === undefined })) continue;
    // Decided at this very time before and since ended (a replay of the same log, a redelivered window), or released
    // earlier in this same window (an early decision): an operator's release stands and the ledger row is not
    // overwritten; only a later window can block again.
    if (book.hasEnded(c.target, now, a.start, { everywhere: scope === undefined })) continue;
    if (allowlist.touches(c.target, c.targetKind)) {
      emit(c, 'allowlist');
      continue;
    }
    if (proxySetFor(cfg.proxies).touches(c.target, c.targetKind)) { // proxies (src/net/proxies.ts): never blocked, alerted
      emit(c, 'proxy', { advice: PROXY_ADVICE });
      continue;
    }
    if (c.verdict.learning) {
      emit(c, 'learning');
      continue;
    }
    if (cfg.dryRun) {
      emit(c, 'dry-run');
      continue;
    }
    if (c.reasons.every((r) => ruleMode(cfg, r) === 'count')) {
      emit(c, 'count-mode');
      continue;
    }
    // A key folded in late is not in the window's client count (Detector.assess): count it in its own share's.
    const clientShare = c.verdict.clients > 0 ? c.verdict.clients / Math.max(a.totalClients, c.verdict.clients) : 0;
    // An IPv6 host is blocked with its /64: what that cuts is the /64's established traffic, its neighbours' too.
    const widened = c.targetKind === 'cidr' && c.verdict.kind === 'ip' ? (a.establishedByPrefix.get(c.target) ?? 0) : 0;
    const trafficShare = a.timeline.requests > 0 ? Math.max(c.verdict.establishedRequests, widened) / a.timeline.requests : 0;
    if (trafficShare > cfg.blastRadiusShare) {
      emit(c, 'blast-radius', { clientShare, trafficShare });
      continue;
    }
    if (newBlocks >= cfg.caps.newBlocksPerWindow) {
      emit(c, 'cap');
      continue;
    }
    emit(c, undefined, { clientShare, trafficShare });
  }
  aggregateIpv4(a, book, cfg, allowlist, alerts, out, now);
  return out;
}

const actionable = (v: KeyVerdict): boolean => v.act && !v.learning;

/** The target a verdict blocks: an IP (IPv4), the /64 of an IPv6 address, a prefix, or a principal. */
function pickTargets(verdicts: KeyVerdict[]): Candidate[] {
  const byTarget = new Map<string, Candidate>();
  for (const v of verdicts) {
    // A verdict held while learning is an alert about everything it found.
    const enforced = v.findings.filter((f) => f.unmistakable || v.act || v.learning).map((f) => f.rule);
    let target = v.value;
    let targetKind: TargetKind = v.kind === 'principal' ? 'principal' : v.kind === 'prefix' ? 'cidr' : 'ip';
    if (v.kind === 'ip' && isIpv6(v.value)) {
      // IPv6 clients get a /64 each and rotate inside it: blocking one address would stop nothing.
      target = prefixOf(v.value);
      targetKind = 'cidr';
    }
    const existing = byTarget.get(target);
    if (!existing) byTarget.set(target, { target, targetKind, verdict: v, reasons: [...new Set(enforced)], all: [v] });
    else {
      existing.all.push(v);
      // A verdict that acts outside learning decides for the target (an IPv6 host's unmistakable flood beside its /64
      // prefix, still learning, is blocked as an IPv4 host beside its /24 would be); between two alike, the higher score.
      const better = actionable(v) !== actionable(existing.verdict) ? actionable(v) : existing.verdict.score < v.score;
      if (better) Object.assign(existing, { verdict: v, reasons: [...new Set(enforced)] });
    }
  }
  return [...byTarget.values()];
}

function evidenceOf(c: Candidate, a: WindowAssessment, extra: Partial<Evidence>): Evidence {
  const v = c.verdict;
  return {
    key: v.value,
    keyKind: v.kind,
    windowStart: a.start,
    windowEnd: a.end,
    findings: v.findings,
    features: v.features,
    baseline: v.baseline,
    populationMedianRequests: v.populationMedianRequests,
    held: v.held,
    samples: v.samples,
    ...Object.fromEntries(Object.entries(extra).filter(([, x]) => x !== undefined)),
  };
}

/** Several blocked hosts of one IPv4 /24 become the /24 (never when the /24 touches the allowlist). */
function aggregateIpv4(a: WindowAssessment, book: LedgerBook, cfg: CordonConfig, allowlist: Allowlist,
  alerts: AlertMemory, out: WindowDecisions, now: number): void {
  if (cfg.dryRun) return; // a dry run enforces nothing new, even over blocks an earlier run left in the ledger
  const { ipv4Offenders, ipv4Prefix } = cfg.aggregation;
  const groups = new Map<string, LedgerEntry[]>();
  for (const e of book.active(now)) {
    if (e.targetKind !== 'ip' || isIpv6(e.target)) continue;
    const cidr = prefixOf(e.target, ipv4Prefix);
    const g = groups.get(cidr) ?? [];
    g.push(e);
    groups.set(cidr, g);
  }
  for (const [cidr, members] of groups) {
    // Never wider than its members: hosts blocked everywhere make the prefix blocked everywhere; with fewer of them,
    // hosts blocked on the login route only make it blocked on that route (never, with the option off, everywhere).
    // A prefix an operator released comes back only on hosts blocked since: the members it covered then (still
    // blocked one by one, and still seen acting, since WAF's blocked requests are logged too) are no new evidence,
    // neither for whether it comes back nor for how widely.
    const released = book.releasedAt(cidr);
    const since = released === undefined ? members : members.filter((m) => m.createdAt > released);
    // Hosts, not entries: one host may hold a login-route block and a later block everywhere.
    const hosts = (list: LedgerEntry[]) => [...new Set(list.map((m) => m.target))];
    const sinceHosts = hosts(since);
    const everywhere = hosts(since.filter((m) => !isRouteScoped(m))).length >= ipv4Offenders;
    const scope = everywhere ? undefined : LOGIN_ROUTE;
    if (!everywhere && !cfg.waf.routeScoped.enabled) continue;
    if (sinceHosts.length < ipv4Offenders || book.activeCovering(cidr, 'cidr', now, { everywhere })
      || book.hasEnded(cidr, now, a.start, { everywhere })
      || allowlist.touches(cidr, 'cidr') || proxySetFor(cfg.proxies).touches(cidr, 'cidr')) continue;
    // Only while a member host acts: then the prefix's established traffic was measured for the guard below.
    if (!a.establishedByPrefix.has(cidr)) continue;
    const prior = book.priorBlocks(cidr, now - cfg.expiry.lookbackDays * 86_400_000);
    // As long as its longest member still has to run, within the cap like any block: each member's own duration (from
    // when it took effect, contain's clock) less the time since it was decided (this clock). Never a member's expiry
    // time itself, which mixes contain's clock with this decision's.
    const memberMs = since.map((m) => m.expiresAt - (m.effectiveAt ?? m.createdAt) - Math.max(0, now - m.createdAt));
    const expiresAt = now + Math.min(cfg.expiry.maxMinutes * 60_000, Math.max(blockDurationMs(prior, cfg.expiry), ...memberMs));
    const reasons = [...new Set(['aggregation', ...since.flatMap((m) => m.reasons)])];
    const score = Math.max(...since.map((m) => m.score));
    const trafficShare = a.timeline.requests > 0 ? (a.establishedByPrefix.get(cidr) ?? 0) / a.timeline.requests : 0;
    const evidence: Evidence = {
      key: cidr, keyKind: 'prefix', windowStart: a.start, windowEnd: a.end, held: `${sinceHosts.length} blocked hosts`,
      findings: [{ rule: since[0].reasons[0] as RuleName, score, unmistakable: false,
        detail: `${sinceHosts.length} hosts of ${cidr} are blocked (threshold ${ipv4Offenders}): ${sinceHosts.slice(0, 10).join(', ')}` }],
      features: {}, blockedHosts: sinceHosts.length, priorBlocks: prior, trafficShare, ...(scope ? { scope } : {}),
    };
    if (trafficShare > cfg.blastRadiusShare) {
      // The hosts stay blocked one by one; widening to their neighbours would cut established traffic.
      if (alerts.shouldAlert(cidr, now, cfg.expiry.baseMinutes * 60_000)) {
        out.page = true;
        const held: Evidence = { ...evidence, heldBack: 'blast-radius' };
        out.decisions.push({ time: iso(now), action: 'alert', target: cidr, targetKind: 'cidr', reasons, score, expiresAt: iso(expiresAt), evidence: held });
        out.held.push({ target: cidr, targetKind: 'cidr', createdAt: now, expiresAt: now + cfg.expiry.baseMinutes * 60_000, status: 'held', reasons,
          score, priorBlocks: prior, evidence: held });
      }
      continue;
    }
    const entry: LedgerEntry = { target: cidr, targetKind: 'cidr', createdAt: now, expiresAt, status: 'active', reasons,
      score, priorBlocks: prior, evidence };
    book.record(entry);
    out.blocks.push(entry);
    out.decisions.push({ time: iso(now), action: 'block', target: cidr, targetKind: 'cidr', reasons, score,
      expiresAt: iso(expiresAt), evidence });
  }
}

/** Unblock decisions for blocks whose time is up; marks them expired in the book. */
export function expireDue(book: LedgerBook, now: number): { decisions: Decision[]; ended: LedgerEntry[] } {
  const decisions: Decision[] = [];
  const ended: LedgerEntry[] = [];
  for (const e of book.due(now)) {
    const done: LedgerEntry = { ...e, status: 'expired', endedAt: e.expiresAt };
    book.record(done);
    ended.push(done);
    decisions.push(unblockDecision(done, e.expiresAt, 'expiry'));
  }
  return { decisions, ended };
}

export function unblockDecision(e: LedgerEntry, at: number, by: 'expiry' | 'operator'): Decision {
  return {
    time: iso(at), action: 'unblock', target: e.target, targetKind: e.targetKind, reasons: e.reasons, score: e.score,
    expiresAt: null, evidence: { ...e.evidence, releasedBy: by },
  };
}
