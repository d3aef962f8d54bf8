import { finding, type Rule } from './rule.ts';

/**
 * Mostly answers of 404 over many paths that do not exist: a scanner walking a word list. Where the log carries
 * only the resource template (the console presets log `/{proxy+}`, not the path), distinct paths cannot be seen,
 * so half the count of 404s stands in for them.
 */
export const pathScan: Rule<'path-scan'> = {
  name: 'path-scan',
  kinds: ['ip', 'prefix', 'principal'],
  basis: 'behaviour',
  evaluate({ features: f, thresholds: t }) {
    if (f.notFound < t.scanNotFoundShare * f.requests) return null;
    const distinct = f.distinctNotFoundPaths;
    const breadth = Math.max(distinct, f.notFound / 2);
    if (breadth < t.scanDistinct404) return null;
    const score = breadth / t.scanDistinct404;
    return finding('path-scan', score, score >= 2,
      `${distinct} distinct missing paths, ${f.notFound} of ${f.requests} requests answered 404`);
  },
};
