import { type CordonConfig, ruleMode } from '../config.ts';
import type { Finding } from '../decision.ts';
import type { Features, KeyWindow } from '../features/key-window.ts';
import { ipKey, type KeyKind, prefixKey, principalKey } from '../features/keys.ts';
import type { ClosedWindow } from '../features/windower.ts';
import { isIpv6, prefixOf } from '../net/ip.ts';
import type { KeyState } from '../ports.ts';
import { ageFlags, flaggedIn, learn, newKeyState, typicalRequests } from './baseline.ts';
import { addWindow, hasFaded, type HorizonEvidence, horizonsAt, showsSign } from './horizons.ts';
import { robustStats, type RobustStats } from './robust-stats.ts';
import { type Rule, RULES } from './rules/index.ts';
import type { CampaignSurge } from './rules/rule.ts';

/** Where the detector reads and writes what it learned per key (an in-memory map, or one preloaded from a store). */
export interface StateView {
  get(key: string): KeyState | undefined;
  set(key: string, state: KeyState): void;
}

/** One key's verdict for one window, when at least one rule found something. */
export interface KeyVerdict {
  kind: KeyKind;
  /** IP, CIDR or principal. */
  value: string;
  findings: Finding[];
  score: number;
  /** True when the finding is unmistakable or held for k of the last n windows: time to act. */
  act: boolean;
  /**
   * Set when the key would be judged on volume alone while cordon is still learning (see config `learning`): it
   * does not act, its window is learned, and the decision is an alert.
   */
  learning?: true;
  held: string;
  features: Features;
  baseline?: { meanRequests: number; windows: number };
  populationMedianRequests: number;
  samples: { paths: string[]; userAgents: string[] };
  /** Clients (principals behind an IP, IPs in a prefix) this key stands for. */
  clients: number;
  /**
   * Requests in this window from clients with an established, trusted history inside this key, counted up to
   * their usual rate: the legitimate traffic a block would cut (the blast-radius guard's measure). Clients that
   * appeared with the attack have no history and add nothing.
   */
  establishedRequests: number;
}

export interface TimelinePoint {
  /** Window start, epoch ms. */
  start: number;
  requests: number;
  /** 4xx and 5xx responses. */
  errors: number;
  notFound: number;
  authFailures: number;
  uniqueIps: number;
}

export interface WindowAssessment {
  start: number;
  end: number;
  closedAt: number;
  incident: boolean;
  /** Clients active in the window (each IP, or each principal behind a shared IP). */
  totalClients: number;
  keys: number;
  verdicts: KeyVerdict[];
  /**
   * For each IPv4 prefix holding a host that acts in this window: the established traffic of all its hosts (see
   * KeyVerdict.establishedRequests). Aggregating hosts into their prefix is held to the blast-radius guard with it.
   */
  establishedByPrefix: Map<string, number>;
  timeline: TimelinePoint;
  ruleErrors: number;
  /** The population has fewer windows of history than the learning period (config `learning.windows`). */
  learning: boolean;
}

const INCIDENT_MIN_REQUESTS = 100;
const INCIDENT_MIN_CLIENTS = 3;
/** Where the population's own history of a key kind is kept, among the key states. */
function populationKey(kind: KeyKind): string {
  return `~pop:${kind}`;
}

/** Where the usual count of failed logins across the API per window is kept (the campaign measure). */
const CAMPAIGN_STATE_KEY = '~pop:failed-logins';

/** The states the detector reads besides a window's own keys: a store must hand these over with every window. */
export const POPULATION_STATE_KEYS: readonly string[] = [...(['ip', 'prefix', 'principal'] as const).map(populationKey),
  CAMPAIGN_STATE_KEY];

/** Failed logins across the API in one window, from at least this many clients, before a surge can be a campaign. */
const CAMPAIGN_MIN_FAILURES = 30;
const CAMPAIGN_MIN_CONTRIBUTORS = 5;
/** Times their usual count, once the usual is known. */
const CAMPAIGN_FACTOR = 4;

interface AssessContext {
  incident: boolean;
  states: StateView;
  start: number;
  ruleErrors: number;
  learning: boolean;
  /** Windows the population (of IPs) has been learned over. */
  populationWindows: number;
  campaign: CampaignSurge | undefined;
}

/**
 * For each wide prefix of the window, how many of its next narrower prefixes (for the narrowest wide prefix, its
 * hosts' prefixes: /64s, /24s) show behaviour of their own in it: a wide prefix stands for what several of them do,
 * never for one offender among quiet neighbours.
 */
function misbehavingChildrenPerWidePrefix(keys: ClosedWindow['keys']): Map<KeyWindow, number> {
  const seen = new Map<KeyWindow, Set<KeyWindow>>();
  for (const entry of keys.byIp.values()) {
    const wides = entry.wides;
    if (wides === undefined) continue;
    for (let level = 0; level < wides.length; level++) {
      const child = level === 0 ? entry.prefix : wides[level - 1];
      if (!showsBehaviour(child)) continue;
      let set = seen.get(wides[level]);
      if (!set) seen.set(wides[level], (set = new Set()));
      set.add(child);
    }
  }
  return new Map([...seen].map(([kw, set]) => [kw, set.size]));
}

const showsBehaviour = (kw: KeyWindow): boolean => kw.notFound + kw.authFailures + kw.attackPayloads
  + kw.scannerAgentRequests + kw.trapHits > 0;

/** Narrower prefixes a wide IPv6 / IPv4 prefix must span in the window before it is judged (IPv4: stronger evidence). */
const MIN_CHILDREN_V6 = 2;
const MIN_CHILDREN_V4 = 3;

/** Windows of population history before its lift is trusted. */
const MIN_POPULATION_HISTORY = 5;

function establishedPart(trustedState: KeyState | undefined, requests: number): number {
  return trustedState ? Math.min(requests, typicalRequests(trustedState)) : 0;
}

/**
 * Scores every key of a closed window against its own baseline, the population of the same window, and the
 * behaviour rules; keeps each key's flag history for k-of-n hysteresis; learns only from windows that found
 * nothing (and never during a server-side incident).
 */
export class Detector {
  private readonly rules: Rule[];
  private readonly behaviourRules: Rule[];
  private readonly volumeRules: Set<string>;

  constructor(private readonly cfg: CordonConfig) {
    this.rules = RULES.filter((r) => ruleMode(cfg, r.name) !== 'off');
    this.behaviourRules = this.rules.filter((r) => r.basis === 'behaviour');
    this.volumeRules = new Set(RULES.filter((r) => r.basis === 'volume').map((r) => r.name));
  }

  assess(closed: ClosedWindow, states: StateView): WindowAssessment {
    const { keys, start, end } = closed;
    const cfg = this.cfg;
    const timeline: TimelinePoint = { start, requests: keys.requests, errors: 0, notFound: 0, authFailures: 0, uniqueIps: keys.byIp.size };
    let totalClients = 0;
    let clientsSeeing5xx = 0;
    const ipWindows: [string, KeyWindow][] = [];
    for (const [ip, entry] of keys.byIp) {
      const kw = entry.ip;
      if (kw.status5xx > 0) clientsSeeing5xx++;
      timeline.errors += kw.status4xx + kw.status5xx;
      timeline.notFound += kw.notFound;
      timeline.authFailures += kw.authFailures;
      // An IPv6 client rotates freely inside its /64: there it is the /64 that counts as one client. Stragglers of an
      // earlier minute are no client of this one (KeyWindow.foldedOnly).
      if (!isIpv6(ip) && !kw.foldedOnly) totalClients += Math.max(1, kw.principals.size);
      ipWindows.push([ip, kw]);
    }
    // An incident is the server failing for everybody: a high 5xx share spread over many clients, not one client
    // provoking errors on its own.
    const incident = keys.requests >= INCIDENT_MIN_REQUESTS && clientsSeeing5xx >= INCIDENT_MIN_CLIENTS
      && keys.status5xx >= cfg.thresholds.incident5xxShare * keys.requests;
    const prefixWindows = [...keys.byPrefix];
    for (const [cidr, kw] of prefixWindows) if (isIpv6(cidr) && !kw.foldedOnly) totalClients += Math.max(1, kw.principals.size);
    const principalWindows = [...keys.byPrincipal];
    const populationWindows = states.get(populationKey('ip'))?.windows ?? 0;
    const learning = populationWindows < cfg.learning.windows;
    const campaign = this.campaignSurge(ipWindows, incident, states, start);
    const ctx: AssessContext = { incident, states, start, ruleErrors: 0, learning, populationWindows, campaign };
    const verdicts: KeyVerdict[] = [];
    this.assessKind('ip', ipWindows, ctx, verdicts);
    // A prefix speaks for several hosts; with one host, its IP key already says everything.
    this.assessKind('prefix', prefixWindows, ctx, verdicts, (kw) => kw.ips.size >= 2);
    // A wide prefix (an IPv6 /56 or /48) is judged on behaviour alone (it can hold many unrelated hosts) and only when
    // its activity spans two or more of its next narrower prefixes: within one, the narrower prefix says it all.
    const children = misbehavingChildrenPerWidePrefix(keys);
    const wideWindows = [...keys.byWidePrefix];
    const v4Wide = new Set(wideWindows.filter(([cidr]) => !isIpv6(cidr)).map(([, kw]) => kw));
    this.assessKind('prefix', wideWindows, ctx, verdicts,
      (kw) => kw.ips.size >= 2 && (children.get(kw) ?? 0) >= (v4Wide.has(kw) ? MIN_CHILDREN_V4 : MIN_CHILDREN_V6), true);
    this.assessKind('principal', principalWindows, ctx, verdicts);
    this.discountPrefixesExplainedByTheirHosts(verdicts, keys);
    this.measurePrefixCollateral(verdicts, keys, states, learning);
    const establishedByPrefix = this.establishedAroundActingHosts(verdicts, keys, states, learning);
    return { start, end, closedAt: closed.closedAt, incident, totalClients, keys: keys.keyCount, verdicts,
      establishedByPrefix, timeline, ruleErrors: ctx.ruleErrors, learning };
  }

  private assessKind(
    kind: KeyKind,
    windows: [string, KeyWindow][],
    ctx: AssessContext,
    out: KeyVerdict[],
    evaluated: (kw: KeyWindow) => boolean = () => true,
    /** Wide prefixes: behaviour rules only, and no population of their own is learned (they are not a kind). */
    wide = false,
  ): void {
    if (windows.length === 0) return;
    // The population is the keys active in this window: one made only of stragglers folded in from an earlier window
    // would pull its median down (unless there is nothing else).
    const logs = new Float64Array(windows.length);
    let members = 0;
    for (const [, kw] of windows) if (!kw.foldedOnly) logs[members++] = Math.log1p(kw.requests - kw.status5xx);
    const stragglersOnly = members === 0;
    if (stragglersOnly) for (const [, kw] of windows) logs[members++] = Math.log1p(kw.requests - kw.status5xx);
    const population = robustStats(logs, members);
    const populationLift = wide ? 1 : this.populationLift(kind, population, ctx, stragglersOnly);
    const tag = kind === 'ip' ? ipKey : kind === 'prefix' ? prefixKey : principalKey;
    const rules = (wide ? this.behaviourRules : this.rules).filter((r) => r.kinds.includes(kind));
    const { alpha, minWindows } = this.cfg.baseline;
    const windowMs = this.cfg.windows.sizeSeconds * 1000;
    const { k, n } = this.cfg.hysteresis;
    for (const [value, kw] of windows) {
      if (!evaluated(kw)) continue;
      const key = tag(value);
      let state = ctx.states.get(key);
      const known = state !== undefined;
      if (!state) state = newKeyState(ctx.start);
      ageFlags(state, ctx.start, windowMs);
      const trusted = known && state.windows >= minWindows;
      const features = kw.features();
      const horizons = this.addToHorizons(state, kw, features, ctx.start, windowMs, ctx.campaign !== undefined);
      const findings = this.evaluate(rules, { kind, features, state: known ? state : undefined, trusted, population,
        populationLift, incident: ctx.incident, thresholds: this.cfg.thresholds, horizons,
        horizonThresholds: this.cfg.horizons, campaign: ctx.campaign }, ctx);
      const stillLearning = findings.length > 0 && ctx.learning && !trusted
        && this.restsOnVolumeAlone(findings, kind, known, ctx);
      if (findings.length === 0 || stillLearning) {
        // Stragglers alone are not a minute the key was active in: learning them as one would sink its usual volume
        // (a busy principal whose late parts trail each session learned a fifth of its real rate, then looked 7x
        // busier than usual in a normal minute).
        if (!kw.foldedOnly && !ctx.incident) learn(state, features.requests - features.status5xx, features.bytes, features.distinctIps, alpha);
        // Kept either way: the window's slow evidence (addToHorizons) is the key's, late or not.
        ctx.states.set(key, state);
        if (!stillLearning) continue;
      } else {
        state.flags |= 1;
        ctx.states.set(key, state);
      }
      const unmistakable = findings.some((f) => f.unmistakable);
      const heldWindows = flaggedIn(state, n);
      // Evidence over a horizon has held across windows by construction (a horizon resting on this window alone is
      // never judged): waiting k of n windows more would only let a slow attacker go on.
      const overHorizon = findings.find((f) => f.horizon !== undefined)?.horizon;
      out.push({
        kind,
        value,
        findings,
        score: Math.max(...findings.map((f) => f.score)),
        act: !stillLearning && (unmistakable || heldWindows >= k || overHorizon !== undefined),
        ...(stillLearning ? { learning: true as const } : {}),
        held: stillLearning ? `learning (${ctx.populationWindows}/${this.cfg.learning.windows} windows)`
          : unmistakable ? 'unmistakable' : heldWindows < k && overHorizon ? `over ${overHorizon}` : `${heldWindows}/${n}`,
        features,
        baseline: known ? { meanRequests: Math.round(typicalRequests(state) * 10) / 10, windows: state.windows } : undefined,
        populationMedianRequests: Math.round(Math.expm1(population.median) * 10) / 10,
        samples: { paths: kw.samplePaths, userAgents: kw.sampleUserAgents },
        establishedRequests: kind === 'prefix' ? 0 : establishedPart(trusted ? state : undefined, features.requests),
        clients: kind === 'principal' ? 1 : isIpv6(value) ? Math.max(1, features.distinctPrincipals)
          : kind === 'ip' ? Math.max(1, features.distinctPrincipals) : Math.max(features.distinctIps, features.distinctPrincipals),
      });
    }
  }

  /**
   * Failed logins (401/403 answers to login POSTs) across the API in this window against their usual count, kept
   * like the population's history: a surge is a credential-stuffing campaign, whose members the campaign rule finds
   * however few tries each makes. The usual count learns only from windows without a surge or an incident.
   */
  private campaignSurge(ipWindows: [string, KeyWindow][], incident: boolean, states: StateView, start: number): CampaignSurge | undefined {
    let failures = 0;
    let contributors = 0;
    for (const [, kw] of ipWindows) {
      const failed = kw.failedLogins;
      if (failed > 0) {
        failures += failed;
        contributors++;
      }
    }
    const state = states.get(CAMPAIGN_STATE_KEY) ?? newKeyState(start);
    const usual = state.windows >= MIN_POPULATION_HISTORY ? typicalRequests(state) : 0;
    const surge = failures >= CAMPAIGN_MIN_FAILURES && contributors >= CAMPAIGN_MIN_CONTRIBUTORS
      && failures >= CAMPAIGN_FACTOR * usual;
    if (!surge && !incident) learn(state, failures, 0, 0, this.cfg.baseline.alpha);
    state.lastWindow = start;
    states.set(CAMPAIGN_STATE_KEY, state);
    return surge ? { failures, usual: Math.round(usual * 10) / 10, contributors } : undefined;
  }

  /**
   * Adds the window to the key's slow evidence (kept in its state, so every store carries it) and returns the
   * evidence at each horizon, this window included. Evidence that has faded is dropped.
   */
  private addToHorizons(state: KeyState, kw: KeyWindow, features: Features, start: number, windowMs: number,
    campaign: boolean): HorizonEvidence[] {
    if (!this.cfg.horizons.enabled) {
      delete state.slow;
      return [];
    }
    // While a campaign runs, one failed try is worth remembering: its members may try once a minute each.
    const slow = addWindow(state.slow, start, windowMs, features, (fn) => {
      if (features.notFound > 0) kw.notFoundPaths.forEachValue(fn);
    }, campaign);
    if (!slow || !showsSign(features, true) && hasFaded(slow, start, windowMs)) {
      delete state.slow;
      return [];
    }
    state.slow = slow;
    return horizonsAt(slow, start, windowMs);
  }

  /**
   * While learning, whether a key's findings are volume alone and not enough to act on without its own history:
   * an IP (or principal) needs an unmistakable finding; a prefix (many hosts, each perhaps modest) needs one and must
   * also have appeared after the population was watched for a baseline's worth of windows, because a partner's
   * busy subnet present from the first minute looks, by volume, like a subnet flood.
   */
  private restsOnVolumeAlone(findings: Finding[], kind: KeyKind, known: boolean, ctx: AssessContext): boolean {
    if (!findings.every((f) => this.volumeRules.has(f.rule))) return false;
    const unmistakable = findings.some((f) => f.unmistakable);
    if (kind !== 'prefix') return !unmistakable;
    const arrivedLater = !known && ctx.populationWindows >= this.cfg.baseline.minWindows;
    return !(unmistakable && arrivedLater);
  }

  /**
   * The population's own history: an EWMA of the median key's requests per window, kept like a key's baseline
   * (under `~pop:<kind>`, so every state store persists it). Returns how much busier the median key is now.
   */
  private populationLift(kind: KeyKind, population: RobustStats, ctx: { incident: boolean; states: StateView; start: number },
    stragglersOnly: boolean): number {
    const key = populationKey(kind);
    const state = ctx.states.get(key) ?? newKeyState(ctx.start);
    const lift = state.windows >= MIN_POPULATION_HISTORY ? Math.exp(population.median - state.reqMean) : 1;
    // A population of stragglers alone (every key of the kind folded in late) is no minute's population to learn.
    if (!ctx.incident && population.count > 0 && !stragglersOnly) learn(state, Math.expm1(population.median), 0, 0, this.cfg.baseline.alpha);
    state.lastWindow = ctx.start;
    ctx.states.set(key, state);
    return lift;
  }

  /** For acting prefix verdicts: the established traffic of the hosts inside them. */
  private measurePrefixCollateral(verdicts: KeyVerdict[], keys: ClosedWindow['keys'], states: StateView, learning: boolean): void {
    const byPrefixWindow = new Map<KeyWindow, KeyVerdict>();
    for (const v of verdicts) {
      if (v.kind !== 'prefix' || !v.act) continue;
      const kw = keys.byPrefix.get(v.value) ?? keys.byWidePrefix.get(v.value);
      if (kw) byPrefixWindow.set(kw, v);
    }
    if (byPrefixWindow.size === 0) return;
    const minWindows = this.cfg.baseline.minWindows;
    const flagged = learning ? new Set(verdicts.filter((v) => v.kind === 'ip' && !v.learning).map((v) => v.value)) : new Set<string>();
    for (const [ip, entry] of keys.byIp) {
      for (const kw of entry.wides ? [entry.prefix, ...entry.wides] : [entry.prefix]) {
        const v = byPrefixWindow.get(kw);
        if (!v) continue;
        const s = states.get(ipKey(ip));
        const trusted = s && s.windows >= minWindows ? s : undefined;
        // While learning, a neighbour seen in an earlier window (learned before this one) counts with all its
        // requests: nobody is trusted yet, but hosts that arrived with the attack (a subnet flood) are new and still
        // count nothing.
        const seenBefore = !trusted && learning && !flagged.has(ip) && s !== undefined && s.windows >= 2;
        v.establishedRequests += seenBefore ? entry.ip.requests : establishedPart(trusted, entry.ip.requests);
      }
    }
  }

  /**
   * The established traffic of each prefix holding an acting host: what a block of the prefix would cut (an IPv4 /24
   * aggregate, an IPv6 host's /64). While learning, nobody has history yet: every host of the prefix that is not
   * itself flagged counts with all its requests, so hosts are widened to their prefix only where neighbours carry
   * little traffic.
   */
  private establishedAroundActingHosts(verdicts: KeyVerdict[], keys: ClosedWindow['keys'], states: StateView,
    learning: boolean): Map<string, number> {
    const out = new Map<string, number>();
    const prefixes = new Set<KeyWindow>();
    // An acting IPv6 host is blocked with its /64 (src/contain/decide.ts), whatever aggregation.ipv6Prefix says.
    const v6Blocks = new Set<string>();
    for (const v of verdicts) {
      if (v.kind !== 'ip' || !v.act) continue;
      if (isIpv6(v.value)) {
        v6Blocks.add(prefixOf(v.value));
        continue;
      }
      const entry = keys.byIp.get(v.value);
      if (entry) prefixes.add(entry.prefix);
    }
    if (prefixes.size === 0 && v6Blocks.size === 0) return out;
    const cidrOf = new Map<KeyWindow, string>();
    for (const [cidr, kw] of keys.byPrefix) if (prefixes.has(kw)) cidrOf.set(kw, cidr);
    const minWindows = this.cfg.baseline.minWindows;
    const flagged = learning ? new Set(verdicts.filter((v) => v.kind === 'ip' && !v.learning).map((v) => v.value)) : new Set<string>();
    for (const [ip, entry] of keys.byIp) {
      const v6 = isIpv6(ip);
      const cidr = v6 ? (v6Blocks.size > 0 ? prefixOf(ip) : undefined) : cidrOf.get(entry.prefix);
      if (cidr === undefined || (v6 && !v6Blocks.has(cidr))) continue;
      const s = states.get(ipKey(ip));
      const trusted = s && s.windows >= minWindows ? s : undefined;
      // While learning, an unflagged IPv4 neighbour counts in full (the /24 only widens blocks its hosts already have).
      // An IPv6 client rotates its addresses inside its /64, and the /64 is the only block: there, as for a prefix's
      // own collateral, only a neighbour seen in earlier windows counts in full.
      const untrustedCounts = learning && !flagged.has(ip) && (!v6 || (s !== undefined && s.windows >= 2));
      const part = !trusted && untrustedCounts ? entry.ip.requests : establishedPart(trusted, entry.ip.requests);
      out.set(cidr, (out.get(cidr) ?? 0) + part);
    }
    return out;
  }

  /** A rule that throws is counted and skipped; it never hides what the other rules found. */
  private evaluate(rules: Rule[], rc: Parameters<Rule['evaluate']>[0], ctx: { ruleErrors: number }): Finding[] {
    const findings: Finding[] = [];
    for (const rule of rules) {
      try {
        const f = rule.evaluate(rc);
        if (f) findings.push(f);
      } catch {
        ctx.ruleErrors++;
      }
    }
    return findings;
  }

  /**
   * A prefix flagged only because one or two of its hosts misbehave must not take its neighbours down with it:
   * IPv4 prefix verdicts act only when hosts that are not flagged on their own carry most of the traffic and
   * there are at least `aggregation.ipv4Offenders` of them (a spread attack such as a subnet flood).
   */
  private discountPrefixesExplainedByTheirHosts(verdicts: KeyVerdict[], keys: ClosedWindow['keys']): void {
    const prefixVerdicts = verdicts.filter((v) => v.kind === 'prefix' && v.act && !isIpv6(v.value));
    if (prefixVerdicts.length === 0) return;
    const flaggedIps = new Set(verdicts.filter((v) => v.kind === 'ip').map((v) => v.value));
    const byPrefixWindow = new Map<KeyWindow, KeyVerdict>();
    for (const v of prefixVerdicts) {
      const kw = keys.byPrefix.get(v.value);
      if (kw) byPrefixWindow.set(kw, v);
    }
    const flaggedShare = new Map<KeyVerdict, number>();
    for (const [ip, entry] of keys.byIp) {
      const v = byPrefixWindow.get(entry.prefix);
      if (v && flaggedIps.has(ip)) flaggedShare.set(v, (flaggedShare.get(v) ?? 0) + entry.ip.requests);
    }
    for (const v of prefixVerdicts) {
      const explained = (flaggedShare.get(v) ?? 0) / Math.max(v.features.requests, 1);
      if (explained >= 0.5 || v.features.distinctIps < this.cfg.aggregation.ipv4Offenders) {
        v.act = false;
        v.held = `explained by ${Math.round(explained * 100)}% flagged hosts`;
      }
    }
  }
}
