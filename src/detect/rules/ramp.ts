import { selfZRequests, typicalRequests } from '../baseline.ts';
import { robustZ } from '../robust-stats.ts';
import { clientRequests, finding, type Rule } from './rule.ts';

/** Requests in a window before a ramp is looked at: a sixth of a flood's floor. */
const RAMP_MIN_SHARE_OF_FLOOD = 1 / 6;
/** Times the key's own (rise-bounded) baseline, with everybody's lift divided out. */
const RAMP_FACTOR = 4;

/**
 * A rate grown well past the key's own history. The baseline may rise only so fast (see `learn`), so a flood that
 * grows by a constant factor every minute outruns it and shows here long before it reaches a flood's absolute
 * threshold. Acts only when held k of n windows (a one-off burst does not), never during an incident or for a shared
 * egress, and a lift of the whole population (a flash crowd) is divided out.
 */
export const ramp: Rule<'ramp'> = {
  name: 'ramp',
  kinds: ['ip', 'principal'],
  basis: 'volume',
  evaluate({ kind, features: f, state, trusted, population, populationLift, incident, thresholds: t }) {
    if (!trusted || !state || incident) return null;
    const requests = clientRequests(f);
    // From a flood's floor up, the flood and volume rules speak.
    if (requests < t.floodMinRequests * RAMP_MIN_SHARE_OF_FLOOD || requests >= t.floodMinRequests) return null;
    if (kind === 'ip' && f.distinctPrincipals >= t.natMinPrincipals) return null;
    const lifted = requests / Math.max(populationLift, 1);
    const typical = typicalRequests(state);
    const ratio = lifted / Math.max(typical, 1);
    if (ratio < RAMP_FACTOR) return null;
    const self = selfZRequests(state, lifted);
    const pop = population.count >= t.minPopulation ? robustZ(Math.log1p(requests), population) : Infinity;
    if (self < t.selfZ / 3 || pop < t.populationZ) return null;
    return finding('ramp', ratio / RAMP_FACTOR, false,
      `${requests} requests against a usual ${Math.round(typical)} (${ratio.toFixed(1)}x, self z=${self.toFixed(1)}), grown past what its history allows`);
  },
};
