import { mostlyNew } from './enumeration.ts';
import { approx, finding, firstHorizon, horizonFinding, type Rule } from './rule.ts';

/**
 * Mostly answers of 404 over many paths that do not exist: a scanner walking a word list. Where the log carries
 * only the resource template (the console presets log `/{proxy+}`, not the path), distinct paths cannot be seen,
 * so half the count of 404s stands in for them. A scanner asking a few paths a minute shows at the longer horizons:
 * distinct missing paths over ten minutes or an hour, most of what it sent answered 404.
 */
export const pathScan: Rule<'path-scan'> = {
  name: 'path-scan',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate(ctx) {
    const { features: f, thresholds: t, horizonThresholds: ht } = ctx;
    if (f.notFound >= t.scanNotFoundShare * f.requests) {
      const distinct = f.distinctNotFoundPaths;
      const breadth = Math.max(distinct, f.notFound / 2);
      if (breadth >= t.scanDistinct404) {
        const score = breadth / t.scanDistinct404;
        return finding('path-scan', score, score >= 2,
          `${distinct} distinct missing paths, ${f.notFound} of ${f.requests} requests answered 404`);
      }
    }
    return firstHorizon(ctx, (h) => {
      const need = ht[h.horizon].scanDistinct404;
      if (h.distinctNotFoundPaths < need || h.notFound < ht.minShare * h.requests || !mostlyNew(h)) return null;
      return horizonFinding('path-scan', h.horizon, h.distinctNotFoundPaths / need,
        `${approx(h.distinctNotFoundPaths)} distinct missing paths, ${approx(h.notFound)} of ${approx(h.requests)} requests answered 404`);
    });
  },
};
