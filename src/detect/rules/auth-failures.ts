import { approx, finding, firstHorizon, horizonFinding, type Rule } from './rule.ts';

/**
 * Mostly 401/403 answers: password guessing or credential stuffing. At the longer horizons only failures on login
 * POSTs count (a guesser a few tries a minute): a client refused one resource every minute (a missing permission)
 * is a misconfiguration, not an attack.
 */
export const authFailures: Rule<'auth-failures'> = {
  name: 'auth-failures',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate(ctx) {
    const { features: f, thresholds: t, horizonThresholds: ht } = ctx;
    const failures = f.authFailures;
    if (failures >= t.authFailures && failures >= t.authFailureShare * (f.requests - f.status5xx)) {
      const score = failures / t.authFailures;
      return finding('auth-failures', score, score >= 3, `${failures} of ${f.requests} requests refused with 401/403`);
    }
    return firstHorizon(ctx, (h) => {
      const need = ht[h.horizon].failedLogins;
      const failedLogins = h.failedLogins;
      if (failedLogins < need || h.authFailures < ht.minShare * h.requests) return null;
      return horizonFinding('auth-failures', h.horizon, failedLogins / need,
        `${approx(failedLogins)} failed logins, ${approx(h.authFailures)} of ${approx(h.requests)} requests refused with 401/403`);
    });
  },
};
