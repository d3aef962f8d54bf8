import type { HorizonEvidence } from '../horizons.ts';
import { approx, firstHorizon, horizonFinding, type Rule } from './rule.ts';

/**
 * Walking object ids a client does not own: answered 403 where the object exists and 404 where it does not, a few
 * a minute, on ids that differ. Only the longer horizons show it. Distinct missing paths are required, so a client
 * refused the same resource over and over (a missing permission, a stale link) is never taken for one.
 */
/**
 * Whether the key's missing paths are mostly new ones: a walker asks each id once, while an app refreshing a list
 * with a few deleted ids asks the same missing paths over and over.
 */
export const mostlyNew = (h: HorizonEvidence): boolean => h.distinctNotFoundPaths >= REPEAT_SHARE * h.notFound;
/** Distinct missing paths per 404 below which a key is asking the same ones again. */
const REPEAT_SHARE = 0.5;

export const enumeration: Rule<'enumeration'> = {
  name: 'enumeration',
  kinds: ['ip', 'principal'],
  basis: 'behaviour',
  evaluate(ctx) {
    const ht = ctx.horizonThresholds;
    return firstHorizon(ctx, (h) => {
      const t = ht[h.horizon];
      const failures = h.authFailures + h.notFound;
      if (failures < t.enumerationFailures || h.distinctNotFoundPaths < t.enumerationDistinct404) return null;
      if (failures < ht.enumerationShare * h.requests || !mostlyNew(h)) return null;
      return horizonFinding('enumeration', h.horizon, failures / t.enumerationFailures,
        `${approx(failures)} of ${approx(h.requests)} requests answered 403/404, over ${approx(h.distinctNotFoundPaths)} distinct missing paths`);
    });
  },
};
