import { finding, type Rule } from './rule.ts';

/** Mostly 401/403 answers: password guessing or credential stuffing. */
export const authFailures: Rule<'auth-failures'> = {
  name: 'auth-failures',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, thresholds: t }) {
    const failures = f.authFailures;
    if (failures < t.authFailures || failures < t.authFailureShare * (f.requests - f.status5xx)) return null;
    const score = failures / t.authFailures;
    return finding('auth-failures', score, score >= 3,
      `${failures} of ${f.requests} requests refused with 401/403`);
  },
};
