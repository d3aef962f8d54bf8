import { finding, type Rule } from './rule.ts';

/** Many distinct paths that do not exist: a scanner walking a word list. */
export const pathScan: Rule = {
  name: 'path-scan',
  kinds: ['ip', 'prefix', 'principal'],
  evaluate({ features: f, thresholds: t }) {
    const distinct = f.distinctNotFoundPaths;
    if (distinct < t.scanDistinct404 || f.notFound < t.scanNotFoundShare * f.requests) return null;
    const score = distinct / t.scanDistinct404;
    return finding('path-scan', score, score >= 2,
      `${distinct} distinct missing paths, ${f.notFound} of ${f.requests} requests answered 404`);
  },
};
