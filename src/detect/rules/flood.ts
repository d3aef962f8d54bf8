import { typicalRequests } from '../baseline.ts';
import { robustZ } from '../robust-stats.ts';
import { clientRequests, finding, type Rule } from './rule.ts';

/**
 * Far more requests than the rest of the population and than the key's own history. Behind a shared egress
 * (many principals on one IP: NAT, CGNAT, a corporate proxy) the rate per principal is what counts.
 */
export const flood: Rule<'flood'> = {
  name: 'flood',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'volume',
  evaluate({ kind, features: f, state, trusted, population, incident, thresholds: t }) {
    if (incident) return null;
    let volume = clientRequests(f);
    if (volume < t.floodMinRequests) return null;
    const sharedEgress = kind !== 'principal' && f.distinctPrincipals >= t.natMinPrincipals;
    if (sharedEgress) volume = volume / f.distinctPrincipals;
    if (volume < t.floodMinRequests) return null;
    // Without a crowd to compare with (a log of one or two clients), the absolute thresholds decide alone.
    const crowd = population.count >= t.minPopulation;
    const z = crowd ? robustZ(Math.log1p(volume), population) : Infinity;
    if (z < t.populationZ) return null;
    const typical = trusted && state ? typicalRequests(state) : 0;
    if (trusted && volume < 5 * typical) return null;
    const unmistakable = volume >= t.floodUnmistakableRequests && (!trusted || volume >= 10 * typical);
    const perPrincipal = sharedEgress ? ` per principal (${f.distinctPrincipals} principals)` : '';
    const history = trusted ? `, ${Math.round(volume / Math.max(typical, 1))}x its usual ${Math.round(typical)}` : '';
    return finding('flood', volume / t.floodMinRequests, unmistakable,
      `${Math.round(volume)} requests in the window${perPrincipal}, ${crowd ? `population z=${z.toFixed(1)}` : 'too few clients to compare with'}${history}`);
  },
};
