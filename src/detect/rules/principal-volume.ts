import { typicalBytes, typicalRequests } from '../baseline.ts';
import { clientRequests, finding, type Rule } from './rule.ts';

/** A known principal pulling far more requests or bytes than it ever does: bulk exfiltration. */
export const principalVolume: Rule = {
  name: 'principal-volume',
  kinds: ['principal'],
  evaluate({ features: f, state, trusted, incident, thresholds: t }) {
    if (!trusted || !state || incident) return null;
    const requests = clientRequests(f);
    const reqRatio = requests / Math.max(typicalRequests(state), 1);
    const bytesRatio = f.bytes / Math.max(typicalBytes(state), 1024);
    const ratio = Math.max(reqRatio, bytesRatio);
    if (ratio < t.principalVolumeFactor || requests < 50) return null;
    const score = ratio / t.principalVolumeFactor;
    return finding('principal-volume', score, score >= 3,
      `${requests} requests (${reqRatio.toFixed(1)}x usual) and ${f.bytes} bytes (${bytesRatio.toFixed(1)}x usual)`);
  },
};
