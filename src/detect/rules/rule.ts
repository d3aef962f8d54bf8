import type { CordonConfig } from '../../config.ts';
import type { Finding } from '../../decision.ts';
import type { Features } from '../../features/key-window.ts';
import type { KeyKind } from '../../features/keys.ts';
import type { KeyState } from '../../ports.ts';
import type { HorizonEvidence, HorizonName } from '../horizons.ts';
import type { RobustStats } from '../robust-stats.ts';
import type { RuleName } from './index.ts';

/** Everything a rule may look at for one key's closed window. Rules are pure: same context, same finding. */
export interface RuleContext {
  kind: KeyKind;
  features: Features;
  /** The key's baseline before this window (undefined for a key never seen). */
  state: KeyState | undefined;
  /** The baseline has enough windows to be trusted. */
  trusted: boolean;
  /** log1p(requests) of all keys of this kind in this window. */
  population: RobustStats;
  /**
   * How much the typical key of this kind is busier now than usual (1 = as usual, 5 = a flash crowd lifting
   * everybody fivefold): comparisons with a key's own history divide it out.
   */
  populationLift: number;
  /** 5xx for everybody in this window: the server is failing, not the clients. */
  incident: boolean;
  thresholds: CordonConfig['thresholds'];
  /** The key's evidence at longer horizons, this window included (empty when it has none or horizons are off). */
  horizons: readonly HorizonEvidence[];
  horizonThresholds: CordonConfig['horizons'];
  /** Set when failed logins across the API surge in this window (a credential-stuffing campaign). */
  campaign?: CampaignSurge;
}

/** Failed logins across the API in one window against their usual count, and how many clients contribute. */
export interface CampaignSurge {
  failures: number;
  usual: number;
  contributors: number;
}

/**
 * A behaviour rule. Each rule declares its own name as a literal (`Rule<'flood'>`); the registry in `index.ts` lists
 * the rules, and {@link RuleName} is the union of the names it holds.
 */
export interface Rule<N extends string = RuleName> {
  readonly name: N;
  kinds: readonly KeyKind[];
  /**
   * What a finding rests on: `volume` (how much a key sends, judged against history and the population) or
   * `behaviour` (what it sends: missing paths, failed logins, payloads, tools). While cordon is still learning what
   * normal is, volume alone does not block a key that has no history yet.
   */
  basis: 'volume' | 'behaviour';
  evaluate(ctx: RuleContext): Finding | null;
}

export const finding = (rule: RuleName, score: number, unmistakable: boolean, detail: string): Finding => ({
  rule,
  score: Math.round(score * 100) / 100,
  unmistakable,
  detail,
});

/** A horizon for people: a horizon finding's detail opens with it, and the renderers show it beside the rule. */
export const HORIZON_TEXT: Readonly<Record<HorizonName, string>> = {
  '10m': 'over the last 10 minutes',
  '1h': 'over the last hour',
};

/**
 * A finding resting on a horizon's evidence: never unmistakable (no early decision rests on it); it acts without k of n
 * windows more, its evidence having held across windows already (see the detector).
 */
export const horizonFinding = (rule: RuleName, horizon: HorizonName, score: number, detail: string): Finding => ({
  ...finding(rule, score, false, `${HORIZON_TEXT[horizon]}: ${detail}`),
  horizon,
});

/**
 * The first horizon (shortest first) for which `judge` finds something. A horizon whose evidence is this window's
 * alone (a key's first window with a sign) is skipped: what one window shows, the window's own thresholds judge.
 */
export function firstHorizon(ctx: RuleContext, judge: (h: HorizonEvidence) => Finding | null): Finding | null {
  const windowRequests = clientRequests(ctx.features);
  for (const h of ctx.horizons) {
    if (h.requests <= windowRequests + 0.5) continue;
    const f = judge(h);
    if (f) return f;
  }
  return null;
}

/** Figures of a decayed count, for a detail line. */
export const approx = (x: number): string => String(Math.round(x));

/** Requests the client is answerable for: 5xx are the server's failures, never counted against a client. */
export const clientRequests = (f: Features): number => f.requests - f.status5xx;
