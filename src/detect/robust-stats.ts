/**
 * Median and median absolute deviation of a sample, and the robust z-score built on them. A flash crowd lifts
 * the median with everyone, so a key is only an outlier if it stands out from the crowd of the same window.
 */
export interface RobustStats {
  median: number;
  /** 1.4826 × MAD (a normal-consistent scale), floored so a flat population never yields infinite scores. */
  scale: number;
  count: number;
}

/** Scale floor on log1p(requests): below it, every small difference would look extreme. */
export const MIN_SCALE = 0.5;

export function robustStats(values: Float64Array, count: number, minScale = MIN_SCALE): RobustStats {
  if (count === 0) return { median: 0, scale: minScale, count: 0 };
  const sorted = values.subarray(0, count).sort();
  const median = medianOfSorted(sorted);
  const deviations = new Float64Array(count);
  for (let i = 0; i < count; i++) deviations[i] = Math.abs(sorted[i] - median);
  deviations.sort();
  const mad = medianOfSorted(deviations);
  return { median, scale: Math.max(1.4826 * mad, minScale), count };
}

function medianOfSorted(s: Float64Array): number {
  const n = s.length;
  const mid = n >> 1;
  return n % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function robustZ(x: number, stats: RobustStats): number {
  return (x - stats.median) / stats.scale;
}
