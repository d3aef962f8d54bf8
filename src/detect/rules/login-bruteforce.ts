import { finding, type Rule } from './rule.ts';

/** A run of POSTs to a login path (where failed logins answer 200, the status code says nothing). */
export const loginBruteforce: Rule<'login-bruteforce'> = {
  name: 'login-bruteforce',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, thresholds: t }) {
    const posts = f.loginPosts;
    if (posts < t.loginPosts || posts < 0.5 * f.requests) return null;
    const score = posts / t.loginPosts;
    return finding('login-bruteforce', score, score >= 3,
      `${posts} POSTs to login paths out of ${f.requests} requests`);
  },
};
