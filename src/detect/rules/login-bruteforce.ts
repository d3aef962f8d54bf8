import { approx, finding, firstHorizon, horizonFinding, type Rule } from './rule.ts';

/** A run of POSTs to a login path (where failed logins answer 200, the status code says nothing). */
export const loginBruteforce: Rule<'login-bruteforce'> = {
  name: 'login-bruteforce',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate(ctx) {
    const { features: f, thresholds: t, horizonThresholds: ht } = ctx;
    const posts = f.loginPosts;
    if (posts >= t.loginPosts && posts >= 0.5 * f.requests) {
      const score = posts / t.loginPosts;
      return finding('login-bruteforce', score, score >= 3, `${posts} POSTs to login paths out of ${f.requests} requests`);
    }
    return firstHorizon(ctx, (h) => {
      const need = ht[h.horizon].loginPosts;
      if (h.loginPosts < need || h.loginPosts < ht.minShare * h.requests) return null;
      return horizonFinding('login-bruteforce', h.horizon, h.loginPosts / need,
        `${approx(h.loginPosts)} POSTs to login paths out of ${approx(h.requests)} requests`);
    });
  },
};
