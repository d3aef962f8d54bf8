import { fmix32 } from '../features/hll.ts';
import type { Features } from '../features/key-window.ts';

/**
 * Evidence of one key at horizons longer than a window: what a scanner asking three paths a minute, or a password
 * guesser trying four times a minute, never shows in any one minute but piles up over ten or sixty.
 *
 * Counts are exponentially decayed sums (time constant = the horizon), so a key's evidence fades at the rate it came
 * and one number per counter suffices: no ring of past windows. Distinct missing paths over the long horizon are a
 * 64-bit linear-counting bitmap per half-horizon epoch (the current and the previous one), so a client polling one
 * broken link every minute counts one path, not sixty.
 *
 * Only keys that have shown a sign (401/403s, 404s) carry any: most keys never do, and memory per
 * key is the budget that bounds a long run. Requests are counted from the first sign on, so shares read "of what the
 * key sent since it started failing".
 */

/** The horizons, in windows. */
export const SHORT_HORIZON_WINDOWS = 10;
export const LONG_HORIZON_WINDOWS = 60;
export type HorizonName = '10m' | '1h';

/** Positions in the evidence array; the array is what every store keeps (a short list of numbers). */
const AT = 0; // start of the newest window counted, epoch ms
const S_REQ = 1;
const S_FAIL = 2;
const S_NF = 3;
const S_FLOGIN = 4; // failed logins (401/403 to login POSTs)
const S_DNF = 5; // short horizon: decayed sum of each window's distinct missing paths
const L_REQ = 6;
const L_FAIL = 7;
const L_NF = 8;
const L_FLOGIN = 9;
const EPOCH = 10; // long-horizon bitmap epoch number
/** No missing path seen yet (epochs of real times are positive). */
const NO_EPOCH = -1;
const CUR_LO = 11;
const CUR_HI = 12;
const PREV_LO = 13;
const PREV_HI = 14;
export const SLOW_EVIDENCE_LENGTH = 15;
/**
 * Which hashes the bitmaps hold, marked in the fraction of AT (a window start, whole ms otherwise): .5, 16-bit path
 * hashes mixed by bitOf's fmix32 (wire level 4's, which every reader of this release masks to). Whole, an earlier
 * release's: bits of 32-bit hashes placed otherwise. Read, such evidence keeps its counts and drops its bitmaps (a path
 * asked again would set a second bit for up to the hour they span, and the long horizon acts without a hold). The mark
 * is in a value an earlier release reads as it is (half a millisecond later): it keeps this release's evidence, and the
 * key's baseline with it, after a rollback (see EPOCH_SHIFT for its bitmaps).
 */
const SCHEME_MARK = 0.5;
/**
 * Marked evidence stores its bitmaps' epoch this much earlier than it is. An earlier release reads that as two epochs
 * ago, so after a rollback it counts none of this release's bits (it starts its own bitmaps, fewer paths for up to an
 * hour rather than some twice) while it keeps the key's counts and baseline.
 */
const EPOCH_SHIFT = 2;

/** The epoch of the bitmaps of (marked) evidence; NO_EPOCH when there are none. */
function epochIn(e: SlowEvidence): number {
  return e[EPOCH] === NO_EPOCH ? NO_EPOCH : e[EPOCH] + EPOCH_SHIFT;
}

/** The decayed counts of each horizon. */
const SHORT_COUNTS = [S_REQ, S_FAIL, S_NF, S_FLOGIN, S_DNF] as const;
const LONG_COUNTS = [L_REQ, L_FAIL, L_NF, L_FLOGIN] as const;

export type SlowEvidence = number[];

/** What a rule reads for one horizon. */
export interface HorizonEvidence {
  horizon: HorizonName;
  /** Requests (less 5xx) since the key's first sign, decayed over the horizon. */
  requests: number;
  authFailures: number;
  notFound: number;
  /** 401/403 answers to login POSTs. */
  failedLogins: number;
  /** Distinct missing paths within the horizon (estimated). */
  distinctNotFoundPaths: number;
}

/**
 * Below this every decayed count has faded: once a window of the key shows no sign, its slow evidence is dropped
 * (memory: a client that hit one stale link an hour ago need not carry it). A key still showing signs keeps it.
 */
const FADED = 1;

const decay = (gapWindows: number, horizon: number): number => Math.exp(-gapWindows / horizon);

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Linear counting over 64 bits: the number of distinct values that set `bits` of them. */
function linearCount(bitsSet: number): number {
  if (bitsSet === 0) return 0;
  const zeros = 64 - bitsSet;
  return zeros === 0 ? Math.round(64 * Math.log(64)) : Math.round(-64 * Math.log(zeros / 64));
}

/**
 * A path hash's bit in the 64-bit bitmap: the top bits of MurmurHash3's fmix32 of it. Detect's hashes are 16-bit (what
 * the summaries wire carries, features/distinct.ts WIRE_HASH_MASK), and FNV's low bits are weak: a full mix spreads
 * them as random ones, which is what linearCount assumes (a lighter mix set more bits for sequential paths).
 */
function bitOf(h: number): number {
  return fmix32(h) >>> 26;
}

/**
 * Whether a window of `f` starts slow evidence for a key that has none: two refusals (401/403, failed logins among
 * them) or two missing paths (most clients meet one now and then: a stale link, a mistyped password; a slow attacker
 * repeats). `anySign`, for a key that already has evidence or while a campaign runs, takes one.
 */
export function showsSign(f: Features, anySign = false): boolean {
  const need = anySign ? 1 : 2;
  return f.authFailures >= need || f.notFound >= need;
}

/**
 * Adds one window of a key to its slow evidence (creating it on the first sign) and returns the evidence, or
 * undefined when the key has none worth keeping. `missingPathHashes` calls back with each hash of a missing path of
 * the window. A window at or before the newest counted one is not added (a window closed again, or out of order:
 * detect folds late data into the oldest open window, so an older window arriving here is one counted already).
 */
export function addWindow(
  evidence: SlowEvidence | undefined,
  windowStart: number,
  windowMs: number,
  f: Features,
  forEachMissingPathHash: (fn: (h: number) => void) => void,
  startOnAnySign = false,
): SlowEvidence | undefined {
  if (!evidence && !showsSign(f, startOnAnySign)) return undefined;
  if (evidence && windowStart <= evidence[AT]) return evidence;
  const e = evidence ? [...evidence] : newEvidence(windowStart);
  if (evidence) {
    const gap = (windowStart - e[AT]) / windowMs;
    const ds = decay(gap, SHORT_HORIZON_WINDOWS);
    const dl = decay(gap, LONG_HORIZON_WINDOWS);
    for (const i of SHORT_COUNTS) e[i] *= ds;
    for (const i of LONG_COUNTS) e[i] *= dl;
    e[AT] = windowStart + SCHEME_MARK;
  }
  const requests = f.requests - f.status5xx;
  e[S_REQ] += requests;
  e[S_FAIL] += f.authFailures;
  e[S_NF] += f.notFound;
  e[S_FLOGIN] += f.failedLogins;
  e[S_DNF] += f.distinctNotFoundPaths;
  e[L_REQ] += requests;
  e[L_FAIL] += f.authFailures;
  e[L_NF] += f.notFound;
  e[L_FLOGIN] += f.failedLogins;
  if (f.notFound > 0) addMissingPaths(e, epochOf(windowStart, windowMs), forEachMissingPathHash);
  return e;
}

/** Half-horizon epochs: the bitmap of the current and the previous one together span 30 to 60 windows. */
function epochOf(windowStart: number, windowMs: number): number {
  return Math.floor(windowStart / (windowMs * (LONG_HORIZON_WINDOWS / 2)));
}

/** Sets the window's missing paths in the current epoch's bitmap (windows only ever come newer: see addWindow). */
function addMissingPaths(e: SlowEvidence, epoch: number, forEach: (fn: (h: number) => void) => void): void {
  const held = epochIn(e);
  if (epoch > held) {
    const adjacent = epoch === held + 1;
    e[PREV_LO] = adjacent ? e[CUR_LO] : 0;
    e[PREV_HI] = adjacent ? e[CUR_HI] : 0;
    e[CUR_LO] = 0;
    e[CUR_HI] = 0;
    e[EPOCH] = epoch - EPOCH_SHIFT;
  }
  forEach((h) => {
    const bit = bitOf(h);
    if (bit < 32) e[CUR_LO] = (e[CUR_LO] | (1 << bit)) >>> 0;
    else e[CUR_HI] = (e[CUR_HI] | (1 << (bit - 32))) >>> 0;
  });
}

function newEvidence(windowStart: number): SlowEvidence {
  const e = new Array<number>(SLOW_EVIDENCE_LENGTH).fill(0);
  e[AT] = windowStart + SCHEME_MARK;
  e[EPOCH] = NO_EPOCH;
  return e;
}

/** The two horizons' evidence as of `windowStart` (decayed to it), for the rules. */
export function horizonsAt(e: SlowEvidence | undefined, windowStart: number, windowMs: number): HorizonEvidence[] {
  if (!e || e.length !== SLOW_EVIDENCE_LENGTH) return [];
  const gap = Math.max(0, (windowStart - e[AT]) / windowMs);
  const ds = decay(gap, SHORT_HORIZON_WINDOWS);
  const dl = decay(gap, LONG_HORIZON_WINDOWS);
  const epoch = epochOf(windowStart, windowMs);
  // Judged in the bitmap's own epoch (or an earlier one): both halves; one epoch on: the current half is now the
  // previous one; later still: nothing within the horizon.
  const held = epochIn(e);
  const bits = epoch <= held ? popcount32(e[CUR_LO] | e[PREV_LO]) + popcount32(e[CUR_HI] | e[PREV_HI])
    : epoch === held + 1 ? popcount32(e[CUR_LO]) + popcount32(e[CUR_HI]) : 0;
  const distinctLong = linearCount(bits);
  return [
    // Summing each window's distinct paths counts a path asked every minute once a minute: the long horizon's
    // bitmap bounds it.
    { horizon: '10m', requests: e[S_REQ] * ds, authFailures: e[S_FAIL] * ds, notFound: e[S_NF] * ds,
      failedLogins: e[S_FLOGIN] * ds, distinctNotFoundPaths: Math.min(e[S_DNF] * ds, distinctLong) },
    { horizon: '1h', requests: e[L_REQ] * dl, authFailures: e[L_FAIL] * dl, notFound: e[L_NF] * dl,
      failedLogins: e[L_FLOGIN] * dl, distinctNotFoundPaths: distinctLong },
  ];
}

/** Whether the evidence has faded everywhere by `windowStart` and a window without a sign may forget it. */
export function hasFaded(e: SlowEvidence, windowStart: number, windowMs: number): boolean {
  const [, long] = horizonsAt(e, windowStart, windowMs);
  // Requests alone are not worth keeping: they only give the signs a share.
  return long.authFailures < FADED && long.notFound < FADED
    && epochOf(windowStart, windowMs) > epochIn(e) + 1;
}

/** Whether `e` can have been written by {@link addWindow}: a damaged entry is dropped, never trusted. */
export function isPlausibleEvidence(e: unknown): e is SlowEvidence {
  if (!Array.isArray(e) || e.length !== SLOW_EVIDENCE_LENGTH) return false;
  for (let i = 0; i < e.length; i++) {
    const x = e[i];
    if (typeof x !== 'number') return false;
    if (i === EPOCH) {
      if (!Number.isSafeInteger(x) || x < NO_EPOCH) return false;
      continue;
    }
    if (!Number.isFinite(x) || x < 0) return false;
    if (i >= CUR_LO && (!Number.isInteger(x) || x > 0xffffffff)) return false;
  }
  return true;
}

/**
 * Stored evidence as this release keeps it: its own as it is; an earlier release's with its counts and without its
 * bitmaps (see SCHEME_MARK); null for anything implausible.
 */
export function upgradedEvidence(e: unknown): SlowEvidence | null {
  if (!isPlausibleEvidence(e)) return null;
  if (e[AT] - Math.floor(e[AT]) === SCHEME_MARK) return e;
  const up = [...e];
  up[AT] = Math.floor(e[AT]) + SCHEME_MARK;
  up[EPOCH] = NO_EPOCH;
  up[CUR_LO] = up[CUR_HI] = up[PREV_LO] = up[PREV_HI] = 0;
  return up;
}
