import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MIN_SCALE, robustStats, robustZ } from '../../src/detect/robust-stats.ts';

const stats = (xs: number[], count = xs.length, minScale?: number) => robustStats(Float64Array.from(xs), count, minScale);

describe('robustStats', () => {
  it('an empty sample has median 0, the floor for scale, and count 0', () => {
    expect(stats([])).toEqual({ median: 0, scale: MIN_SCALE, count: 0 });
    expect(stats([], 0, 0.7)).toEqual({ median: 0, scale: 0.7, count: 0 });
    // Values past `count` are not part of the sample.
    expect(stats([9, 9, 9], 0, 0.7)).toEqual({ median: 0, scale: 0.7, count: 0 });
  });

  it('takes the median of unsorted data (odd count): the middle value once sorted', () => {
    // Unsorted, the middle element is 1; sorted, it is 5.
    expect(stats([9, 1, 5, 7, 2]).median).toBe(5);
    expect(stats([100, 3, 1]).median).toBe(3);
  });

  it('takes the median of unsorted data (even count): the mean of the two middle values once sorted', () => {
    // Sorted: 1 2 | 6 8  → (2 + 6) / 2 = 4. Unsorted middle pair (1, 6) would give 3.5.
    expect(stats([8, 1, 6, 2]).median).toBe(4);
    expect(stats([10, 2]).median).toBe(6);
  });

  it('the MAD is the median of the absolute deviations, sorted too, scaled by 1.4826', () => {
    // Median 5; deviations of the sorted values 1 2 5 7 9 are 4 3 0 2 4 → sorted 0 2 3 4 4 → MAD 3 (unsorted middle: 0).
    expect(stats([9, 1, 5, 7, 2], 5, 0).scale).toBeCloseTo(1.4826 * 3, 12);
    // Even: median 4; deviations of 1 2 6 8 are 3 2 2 4 → sorted 2 2 3 4 → MAD 2.5 (unsorted middle pair: 2).
    expect(stats([8, 1, 6, 2], 4, 0).scale).toBeCloseTo(1.4826 * 2.5, 12);
    // Median 3.5; deviations of 0 1 3 4 5 100 are 3.5 2.5 0.5 0.5 1.5 96.5 → sorted → MAD 2 (unsorted middle pair: 0.5).
    expect(stats([0, 4, 1, 100, 3, 5], 6, 0).scale).toBeCloseTo(1.4826 * 2, 12);
  });

  it('floors the scale at minScale (default MIN_SCALE), and keeps a larger scale as it is', () => {
    expect(MIN_SCALE).toBe(0.5);
    expect(stats([3, 3, 3, 3]).scale).toBe(0.5);
    expect(stats([3, 3, 3, 3], 4, 0.9).scale).toBe(0.9);
    expect(stats([0, 10, 20], 3, 0.9).scale).toBeCloseTo(14.826, 12);
    // At the floor exactly: 1.4826 × MAD equal to minScale.
    expect(stats([0, 1, 2], 3, 1.4826).scale).toBe(1.4826);
  });

  it('reads only the first `count` values and reports the count', () => {
    const s = stats([1, 2, 3, 1000, 1000, 1000, 1000], 3, 0);
    expect(s).toEqual({ median: 2, scale: 1.4826, count: 3 });
  });
});

describe('robustStats is the sort-based median and MAD, bit for bit', () => {
  /** The implementation robust-stats had before simple-statistics' selection: sort, read the middle, twice. */
  function bySorting(xs: number[], minScale = MIN_SCALE) {
    const sorted = Float64Array.from(xs).sort();
    const mid = (s: Float64Array) => (s.length % 2 ? s[s.length >> 1] : (s[(s.length >> 1) - 1] + s[s.length >> 1]) / 2);
    const median = mid(sorted);
    const mad = mid(Float64Array.from(sorted, (x) => Math.abs(x - median)).sort());
    return { median, scale: Math.max(1.4826 * mad, minScale), count: xs.length };
  }

  it('on any sample: doubles, ties, log1p of request counts, odd and even, large enough for the selection to recurse', () => {
    const requests = fc.integer({ min: 0, max: 100_000 }).map((n) => Math.log1p(n));
    const doubles = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    const small = fc.integer({ min: 0, max: 4 });
    fc.assert(fc.property(fc.oneof(fc.array(requests, { minLength: 1, maxLength: 1500 }), fc.array(doubles, { minLength: 1, maxLength: 40 }),
      fc.array(small, { minLength: 1, maxLength: 900 })), (xs) => {
      const got = robustStats(Float64Array.from(xs), xs.length, 0);
      const want = bySorting(xs, 0);
      expect(Object.is(got.median, want.median) && Object.is(got.scale, want.scale)).toBe(true);
    }), { numRuns: 300 });
  });

  it('where the midpoint of the middle pair is not a + (b − a) / 2 (what simple-statistics\' median computes)', () => {
    const [a, b] = [3.784189633918261, 8.294049640102028];
    expect(a + 0.5 * (b - a)).not.toBe((a + b) / 2);
    expect(robustStats(Float64Array.from([b, a]), 2).median).toBe((a + b) / 2);
  });
});

describe('robustZ', () => {
  it('is the distance from the median in units of the scale', () => {
    const s = { median: 2, scale: 0.5, count: 10 };
    expect(robustZ(4, s)).toBe(4);
    expect(robustZ(1, s)).toBe(-2);
    expect(robustZ(2, s)).toBe(0);
  });
});
