import { finding, type Rule } from './rule.ts';

/** One principal used from many addresses at once: its credentials are likely in other hands. */
export const principalManyIps: Rule<'principal-many-ips'> = {
  name: 'principal-many-ips',
  kinds: ['principal'],
  basis: 'behaviour',
  evaluate({ features: f, state, trusted, thresholds: t }) {
    const ips = f.distinctIps;
    if (ips < t.principalIps) return null;
    const usual = trusted && state ? state.ipsMean : 1;
    if (ips < 3 * Math.max(usual, 1)) return null;
    const score = ips / t.principalIps;
    return finding('principal-many-ips', score, score >= 2,
      `used from ${ips} addresses in one window (usually ${usual.toFixed(1)})`);
  },
};
