import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { robustStats } from '../src/detect/robust-stats.ts';
import { bestOf } from './timing.ts';

/**
 * The population statistics of one key kind in one window (src/detect/robust-stats.ts: median and MAD of log1p
 * requests, once per key kind per closed window) against simple-statistics doing the same, on the sizes a window
 * holds (1k, 10k, 100k keys). Each variant gets the same values, copied afresh for every call (the detector fills its
 * scratch array anew each window, and a sorted input would flatter a sort); the copy is timed in every variant alike.
 * Also counts the results that differ in any bit from the sort-based implementation robust-stats had before (the
 * reference its results must keep).
 */

export interface StatsVariantFigure {
  name: string;
  /** Microseconds of CPU per call. */
  us: number;
  /** Windows whose median or scale differ in any bit from the sort's, out of `samples`. */
  differ: number;
  samples: number;
}

export interface StatsFigure {
  keys: number;
  variants: StatsVariantFigure[];
}

type Stats = { median: number; scale: number };

/** A window's log1p(requests) per key: mostly 1–5 requests, a quarter up to 100, a few busy clients and floods. */
export function windowLogs(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = rnd();
    const requests = u < 0.7 ? 1 + Math.floor(rnd() * 5) : u < 0.95 ? 6 + Math.floor(rnd() * 95) : 100 + Math.floor(rnd() ** 3 * 5000);
    out[i] = Math.log1p(requests);
  }
  return out;
}

const MIN_SCALE = 0.5;
const scaleOf = (mad: number) => Math.max(1.4826 * mad, MIN_SCALE);

/** simple-statistics' median and medianAbsoluteDeviation as documented (the MAD computes the median again). */
function ssMedianMad(x: Float64Array): Stats {
  const xs = x as unknown as number[];
  return { median: median(xs), scale: scaleOf(medianAbsoluteDeviation(xs)) };
}

/** simple-statistics' median twice, deviations into a typed array of our own (no second median of the input). */
function ssMedianTwice(x: Float64Array): Stats {
  const m = median(x as unknown as number[]);
  const dev = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dev[i] = Math.abs(x[i] - m);
  return { median: m, scale: scaleOf(median(dev as unknown as number[])) };
}

/** What robust-stats did before: sort the values, sort the deviations, read the middle (the reference for exactness). */
export function sortedStats(x: Float64Array): Stats {
  const sorted = x.sort();
  const m = middle(sorted);
  const dev = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dev[i] = Math.abs(sorted[i] - m);
  return { median: m, scale: scaleOf(middle(dev.sort())) };
}

function middle(s: Float64Array): number {
  const n = s.length;
  const mid = n >> 1;
  return n % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const VARIANTS: [string, (x: Float64Array) => Stats][] = [
  ['cordon: simple-statistics quickselect, (a + b) / 2', (x) => robustStats(x, x.length)],
  ['typed-array sort, twice (cordon before)', sortedStats],
  ['simple-statistics median + medianAbsoluteDeviation', ssMedianMad],
  ['simple-statistics median, twice', ssMedianTwice],
];

const EXACTNESS_WINDOWS = 2_000;
const same = (a: Stats, b: Stats) => Object.is(a.median, b.median) && Object.is(a.scale, b.scale);

export function statsFigure(keys: number, repeat: number, seed = 1): StatsFigure {
  // Several windows of each size (odd and even counts), so a difference in the last bit has its chances to show.
  const windows = Array.from({ length: 8 }, (_, i) => windowLogs(keys + (i % 2), seed + i));
  const scratch = windows.map((w) => new Float64Array(w.length));
  const expected = windows.map((w) => sortedStats(Float64Array.from(w)));
  // Enough calls that one timed run is some 50 ms of work at ~30 ns a key.
  const calls = Math.max(8, Math.round(2_000_000 / keys));
  const variants = VARIANTS.map(([name, fn]) => {
    let differ = 0;
    for (let i = 0; i < windows.length; i++) {
      scratch[i].set(windows[i]);
      if (!same(fn(scratch[i]), expected[i])) differ++;
    }
    // And many small windows of even counts, where the middle pair is more often two different values.
    for (let i = 0; i < EXACTNESS_WINDOWS; i++) {
      const w = windowLogs(2 + 2 * (i % 25), seed * 7919 + i);
      if (!same(fn(Float64Array.from(w)), sortedStats(Float64Array.from(w)))) differ++;
    }
    const t = bestOf(repeat, () => {
      let sink = 0;
      for (let c = 0; c < calls; c++) {
        const i = c % windows.length;
        scratch[i].set(windows[i]);
        sink += fn(scratch[i]).scale;
      }
      return sink;
    });
    return { name, us: Math.round((t.cpuMs * 1000 * 100) / calls) / 100, differ, samples: windows.length + EXACTNESS_WINDOWS };
  });
  return { keys, variants };
}
