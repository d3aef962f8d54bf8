import { finding, type Rule } from './rule.ts';

/** Requests that announce an attack tool in their user agent. */
export const scannerAgent: Rule<'scanner-agent'> = {
  name: 'scanner-agent',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, thresholds: t }) {
    const hits = f.scannerAgentRequests;
    if (hits < t.scannerAgentRequests) return null;
    const score = hits / t.scannerAgentRequests;
    return finding('scanner-agent', score, score >= 2, `${hits} of ${f.requests} requests sent with an attack tool's user agent`);
  },
};
