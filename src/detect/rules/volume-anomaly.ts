import { selfZRequests, typicalRequests } from '../baseline.ts';
import { robustZ } from '../robust-stats.ts';
import { clientRequests, finding, type Rule } from './rule.ts';

/**
 * Well above both the key's own history and the population, without being an outright flood. Never acts at
 * once: it must hold for k of n windows, which a one-off burst does not.
 */
export const volumeAnomaly: Rule<'volume-anomaly'> = {
  name: 'volume-anomaly',
  kinds: ['ip', 'principal'],
  basis: 'volume',
  evaluate({ kind, features: f, state, trusted, population, incident, thresholds: t }) {
    if (!trusted || !state || incident) return null;
    const requests = clientRequests(f);
    if (requests < t.floodMinRequests / 4) return null;
    if (kind === 'ip' && f.distinctPrincipals >= t.natMinPrincipals) return null;
    const self = selfZRequests(state, requests);
    const pop = robustZ(Math.log1p(requests), population);
    if (self < t.selfZ || pop < t.populationZ) return null;
    return finding('volume-anomaly', Math.min(self / t.selfZ, pop / t.populationZ), false,
      `${requests} requests against a usual ${Math.round(typicalRequests(state))}: self z=${self.toFixed(1)}, population z=${pop.toFixed(1)}`);
  },
};
