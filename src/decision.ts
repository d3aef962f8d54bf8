import type { HorizonName } from './detect/horizons.ts';
import type { RuleName } from './detect/rules/index.ts';
import type { Features } from './features/key-window.ts';

export type TargetKind = 'ip' | 'cidr' | 'principal';

/** The route a route-scoped block holds: `login`, POSTs to the login paths cordon recognises (src/features/login-path.ts). */
export interface RouteScope {
  route: 'login';
}
export type Action = 'block' | 'alert' | 'unblock';

/** One rule's verdict on one key's window, with the numbers that explain it. */
export interface Finding {
  rule: RuleName;
  /** >= 1 is suspicious; >= the rule's unmistakable level acts at once. */
  score: number;
  unmistakable: boolean;
  /** Plain-language reason with the figures, for people (no attacker-controlled text in here). */
  detail: string;
  /** The horizon whose evidence decided, when longer than the window (src/detect/horizons.ts). */
  horizon?: HorizonName;
}

export interface Evidence {
  key: string;
  keyKind: 'ip' | 'prefix' | 'principal';
  /** Window start and end, epoch ms. */
  windowStart: number;
  windowEnd: number;
  findings: Finding[];
  /**
   * The window's features (counts) for this key, as KeyWindow.features gave them. Partial: an aggregation has no
   * window of its own (`{}`), and evidence stored by earlier releases may lack figures added since (or, from an
   * aggregation, hold `blockedHosts`, now {@link Evidence.blockedHosts}).
   */
  features: Partial<Features>;
  /** For an aggregation into a prefix: how many of its hosts were blocked. */
  blockedHosts?: number;
  /**
   * Set on an address or prefix blocked on one route only (config `waf.routeScoped`, src/contain/route-scope.ts): its
   * evidence was confined to that route, so WAF refuses it there and nowhere else. Absent: blocked everywhere.
   */
  scope?: RouteScope;
  /** The key's own baseline at decision time (mean requests per window, windows learned), if any. */
  baseline?: { meanRequests: number; windows: number };
  /** Population median requests per window for keys of this kind. */
  populationMedianRequests?: number;
  /** k-of-n windows that held, e.g. "2/3" or "unmistakable". */
  held: string;
  /** A few attacker-controlled samples (paths, user agents), already sanitised; escape again where rendered. */
  samples?: { paths?: string[]; userAgents?: string[] };
  /** Why a would-be block became an alert, when it did. */
  heldBack?: 'dry-run' | 'count-mode' | 'cap' | 'blast-radius' | 'allowlist' | 'learning' | 'proxy';
  /** What an operator can do about it (a proxy: log the real client address). */
  advice?: string;
  /**
   * Set on a block that no containment target held when it was alerted (a target failed or is full): decided, not
   * in effect yet. contain retries it every run; its expiry counts from when it first takes effect.
   */
  notEnforced?: string;
  /** Share of the window's clients the block covers. */
  clientShare?: number;
  /**
   * Share of the window's requests that came from clients with an established history inside the target (up to
   * their usual rate): the legitimate traffic the block would cut. Above the blast-radius share, it is held.
   */
  trafficShare?: number;
  /** Prior blocks of this target within the lookback (escalation). */
  priorBlocks?: number;
  /** For unblock: why. */
  releasedBy?: 'expiry' | 'operator';
}

/** A line of decisions.jsonl (DESIGN §7). */
export interface Decision {
  /** ISO 8601, event time at which the decision was taken. */
  time: string;
  action: Action;
  target: string;
  targetKind: TargetKind;
  reasons: string[];
  score: number;
  /** ISO 8601 for blocks (and alerts that would have blocked); null for unblock. */
  expiresAt: string | null;
  evidence: Evidence;
}
