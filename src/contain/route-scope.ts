import type { CordonConfig } from '../config.ts';
import type { Finding, RouteScope, TargetKind } from '../decision.ts';
import { authFailures } from '../detect/rules/auth-failures.ts';
import { campaign } from '../detect/rules/campaign.ts';
import type { RuleName } from '../detect/rules/index.ts';
import { loginBruteforce } from '../detect/rules/login-bruteforce.ts';
import type { Features } from '../features/key-window.ts';

/**
 * Route-scoped blocks (config `waf.routeScoped`, DESIGN §5): where a client's evidence is confined to the login route,
 * WAF refuses its POSTs to login paths only and the rest of the API still answers it (a shared NAT or proxy whose
 * other users must keep the API while one of them guesses passwords).
 */

/** The rules whose evidence is failed or repeated logins: the only findings a login-route block answers. */
export const CREDENTIAL_RULES: ReadonlySet<RuleName> = new Set<RuleName>([loginBruteforce.name, authFailures.name, campaign.name]);

/** The one route cordon scopes blocks to. */
export const LOGIN_ROUTE: RouteScope = Object.freeze({ route: 'login' as const });

/**
 * The route a block of this target may be confined to, or undefined for a block everywhere. Only an address or a
 * prefix (a policy or an API key cannot name a route), only with the option on, only when every finding is a
 * credential rule's (a key that also scans, floods or probes is blocked in full: a narrower block must never let
 * misbehaviour elsewhere through), and only when at least `minShare` of its window's requests were login POSTs.
 */
export function routeScopeOf(
  c: { targetKind: TargetKind; findings: readonly Finding[]; features: Partial<Features> },
  cfg: CordonConfig,
): RouteScope | undefined {
  const o = cfg.waf.routeScoped;
  if (!o.enabled || c.targetKind === 'principal') return undefined;
  if (c.findings.length === 0 || !c.findings.every((f) => CREDENTIAL_RULES.has(f.rule))) return undefined;
  const requests = c.features.requests;
  const loginPosts = c.features.loginPosts;
  // Figures missing (an aggregation has no window of its own) or damaged: nothing shows the evidence is confined.
  if (typeof requests !== 'number' || typeof loginPosts !== 'number' || !(requests > 0) || !(loginPosts > 0)) return undefined;
  return loginPosts >= o.minShare * requests ? LOGIN_ROUTE : undefined;
}

/** Whether a ledger entry's block holds one route only (a damaged entry without evidence is a block everywhere). */
export function isRouteScoped(e: { evidence?: { scope?: RouteScope } }): boolean {
  return Boolean(e.evidence?.scope);
}
