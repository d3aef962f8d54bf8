import { finding, type Rule } from './rule.ts';

/** Requests whose target carries an attack (traversal, injection, secret probes): no legitimate client sends these. */
export const attackPayload: Rule<'attack-payload'> = {
  name: 'attack-payload',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, thresholds: t }) {
    const hits = f.attackPayloads;
    if (hits < t.attackPayloads) return null;
    const score = hits / t.attackPayloads;
    return finding('attack-payload', score, score >= 2, `${hits} of ${f.requests} requests carry attack payloads in the path`);
  },
};
