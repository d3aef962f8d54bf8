import { finding, type Rule } from './rule.ts';

/**
 * Requests to a configured trap route (config `trapRoutes`): a decoy no legitimate client requests, so the first touch
 * is unmistakable. Addresses and principals only: a prefix is not blocked because one of its hosts touched a trap
 * (several blocked hosts of one /24 still become the /24, as for every rule). Behind a shared egress (many principals
 * on one IP: NAT, a corporate proxy) the touch is some client's behind it, not the address's: the finding stays, but
 * it acts only if it holds for k of n windows, and the principal that touched the trap, if any, is judged on its own.
 * The detail names the count only; the paths are in the evidence's samples like any other.
 */
export const trapRoute: Rule<'trap-route'> = {
  name: 'trap-route',
  kinds: ['ip', 'principal'],
  basis: 'behaviour',
  evaluate({ kind, features: f, thresholds: t }) {
    const hits = f.trapHits;
    if (hits < 1) return null;
    const sharedEgress = kind === 'ip' && f.distinctPrincipals >= t.natMinPrincipals;
    const egress = sharedEgress ? ` (behind a shared egress of ${f.distinctPrincipals} principals)` : '';
    return finding('trap-route', hits, !sharedEgress, `${hits} of ${f.requests} requests to trap routes${egress}`);
  },
};
