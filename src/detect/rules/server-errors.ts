import { finding, type Rule } from './rule.ts';

/**
 * A client that makes the server fail (injection payloads in bodies show up only as 5xx) while everyone else is
 * served fine. Never during a server-side incident, and only across several endpoints: a bug in one endpoint that
 * one client happens to use is the server's fault, not the client's.
 */
export const serverErrors: Rule<'server-errors'> = {
  name: 'server-errors',
  kinds: ['ip', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, incident, thresholds: t }) {
    if (incident) return null;
    const errors = f.status5xx;
    if (errors < t.serverErrors || errors < t.serverErrorShare * f.requests || f.distinctPaths < 5) return null;
    const score = errors / t.serverErrors;
    return finding('server-errors', score, false, `${errors} of ${f.requests} requests made the server fail (5xx) over ${f.distinctPaths} paths`);
  },
};
