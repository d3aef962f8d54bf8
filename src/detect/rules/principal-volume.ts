import { typicalBytes, typicalRequests } from '../baseline.ts';
import { clientRequests, finding, type Rule } from './rule.ts';

/**
 * A known principal pulling far more requests or bytes than it ever does: bulk exfiltration. The rise is measured
 * net of the population's own lift, so a flash crowd that makes every principal five times busier is not theft.
 */
export const principalVolume: Rule<'principal-volume'> = {
  name: 'principal-volume',
  kinds: ['principal'],
  basis: 'volume',
  evaluate({ features: f, state, trusted, populationLift, incident, thresholds: t }) {
    if (!trusted || !state || incident) return null;
    const requests = clientRequests(f);
    const reqRatio = requests / Math.max(typicalRequests(state), 1);
    const bytesRatio = f.bytes / Math.max(typicalBytes(state), 1024);
    const ratio = Math.max(reqRatio, bytesRatio) / Math.max(populationLift, 1);
    if (ratio < t.principalVolumeFactor || requests < 50) return null;
    const score = ratio / t.principalVolumeFactor;
    return finding('principal-volume', score, score >= 3,
      `${requests} requests (${reqRatio.toFixed(1)}x usual) and ${f.bytes} bytes (${bytesRatio.toFixed(1)}x usual)` +
      (populationLift > 1.5 ? `, while everyone is ${populationLift.toFixed(1)}x busier` : ''));
  },
};
