import { finding, type Rule } from './rule.ts';

/**
 * A run of POSTs to a login path (where failed logins answer 200, the status code says nothing). Judged per window
 * only: over an hour, a monitor that signs in every 30 seconds posts as often as a slow guesser, and nothing tells a
 * success from a failure here (where failures answer 401/403, auth-failures judges failed logins at every horizon).
 */
export const loginBruteforce: Rule<'login-bruteforce'> = {
  name: 'login-bruteforce',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, thresholds: t }) {
    const posts = f.loginPosts;
    if (posts >= t.loginPosts && posts >= 0.5 * f.requests) {
      const score = posts / t.loginPosts;
      return finding('login-bruteforce', score, score >= 3, `${posts} POSTs to login paths out of ${f.requests} requests`);
    }
    return null;
  },
};
