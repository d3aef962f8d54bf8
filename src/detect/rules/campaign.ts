import { approx, finding, type Rule } from './rule.ts';

/** Of a member's requests since its first sign, the share that must be refused. */
const MEMBER_SHARE = 0.8;
/** Failed logins in this window that make a member at once; fewer count over ten minutes. */
const MEMBER_WINDOW_FAILURES = 3;
const MEMBER_HORIZON_FAILURES = 5;

/**
 * One client of a credential-stuffing campaign: failed logins across the API surge against their own baseline
 * (see the detector's campaign measure) and this client contributes to them, however few tries it makes and however
 * unrelated its network. A member keeps failing (three in the window, or five in ten minutes), is refused nearly
 * everything it asks, and has not logged in successfully in ten minutes: a user who mistypes a password and then
 * gets in is not one.
 */
export const campaign: Rule<'campaign'> = {
  name: 'campaign',
  kinds: ['ip'],
  basis: 'behaviour',
  evaluate({ features: f, campaign: c, horizons, thresholds: t }) {
    if (!c || f.distinctPrincipals >= t.natMinPrincipals) return null;
    const windowFailures = f.failedLogins;
    if (windowFailures === 0) return null;
    const short = horizons.find((h) => h.horizon === '10m');
    const failed = short ? short.failedLogins : windowFailures;
    const requests = short ? short.requests : f.requests - f.status5xx;
    const refused = short ? short.authFailures : f.authFailures;
    // A login in this window that was not refused is a success (a member of a campaign almost never gets in; a user
    // who mistyped does); earlier successes lower the refused share below.
    if (f.loginPosts > f.failedLogins || refused < MEMBER_SHARE * requests) return null;
    if (windowFailures < MEMBER_WINDOW_FAILURES && failed < MEMBER_HORIZON_FAILURES) return null;
    return finding('campaign', Math.max(windowFailures / MEMBER_WINDOW_FAILURES, failed / MEMBER_HORIZON_FAILURES), false,
      `member of a credential-stuffing campaign: ${c.failures} failed logins across the API in this window (usually ${approx(c.usual)}) from ${c.contributors} clients; this one ${windowFailures} in the window, ${approx(failed)} in 10 minutes, no successful login`);
  },
};
