import type { KeyState } from '../ports.ts';
import { isPlausibleEvidence, type SlowEvidence, upgradedEvidence } from './horizons.ts';

/**
 * A key's own normal: exponentially weighted mean and variance of log-scaled features over the windows it was
 * active in. Log scale because request counts are heavy-tailed; anomalous windows are not learned, so an
 * attacker who ramps up slowly cannot teach cordon that the attack is normal.
 */

/** Variance given to a key after its first window: wide, so one window of history proves little. */
const PRIOR_VARIANCE = 0.5;
/** Floor on the standard deviation used for z-scores (a perfectly steady key must not make Infinity). */
const MIN_STD = 0.35;

export function newKeyState(windowStart: number): KeyState {
  return { reqMean: 0, reqVar: PRIOR_VARIANCE, bytesMean: 0, bytesVar: PRIOR_VARIANCE, ipsMean: 0, windows: 0, flags: 0,
    lastWindow: windowStart };
}

/**
 * Whether a stored state can have been written by {@link learn}: finite, log-scale means and variances not below
 * zero, whole non-negative counts. A damaged row (bit rot, a bad hand edit) fails this and is treated as never seen:
 * a reqMean of -30 would otherwise make a client's every request look like a huge multiple of its history.
 */
export function isPlausibleKeyState(s: KeyState): boolean {
  return [s.reqMean, s.reqVar, s.bytesMean, s.bytesVar, s.ipsMean].every((x) => Number.isFinite(x) && x >= 0) &&
    Number.isSafeInteger(s.windows) && s.windows >= 0 && Number.isInteger(s.flags) && s.flags >= 0 && s.flags <= 0x7fffffff &&
    Number.isFinite(s.lastWindow) && (s.slow === undefined || isPlausibleEvidence(s.slow));
}

const STATE_FIELDS = ['reqMean', 'reqVar', 'bytesMean', 'bytesVar', 'ipsMean', 'windows', 'flags', 'lastWindow'] as const;

/**
 * A key's state as one short string: the eight numbers, comma-separated, in shortest round-trip form (lossless),
 * then, for a key with slow evidence, `;` and its numbers.
 */
export function encodeKeyState(s: KeyState): string {
  const base = STATE_FIELDS.map((f) => String(s[f])).join(',');
  return s.slow ? `${base};${encodeSlowEvidence(s.slow)}` : base;
}

export function decodeKeyState(text: string): KeyState | null {
  const cut = text.indexOf(';');
  const parts = (cut < 0 ? text : text.slice(0, cut)).split(',');
  if (parts.length !== STATE_FIELDS.length) return null;
  const out = {} as KeyState;
  for (let i = 0; i < STATE_FIELDS.length; i++) {
    const n = Number(parts[i]);
    if (parts[i] === '' || !Number.isFinite(n)) return null;
    out[STATE_FIELDS[i]] = n;
  }
  if (cut >= 0) {
    const slow = decodeSlowEvidence(text.slice(cut + 1));
    if (!slow) return null;
    out.slow = slow;
  }
  return isPlausibleKeyState(out) ? out : null;
}

/** Slow evidence as its numbers, comma-separated (shortest round-trip form). */
export const encodeSlowEvidence = (e: SlowEvidence): string => e.join(',');

/** Stored slow evidence, an earlier release's upgraded (its bitmaps dropped: horizons.ts upgradedEvidence). */
export function decodeSlowEvidence(text: string): SlowEvidence | null {
  return upgradedEvidence(text.split(',').map((x) => (x === '' ? NaN : Number(x))));
}

/**
 * Windows a key learns freely, as a plain running mean (an EWMA's warm-up), before its baseline may rise only by
 * {@link RISE_CAP} a window: so a client whose first window was a partial minute has its real rate by then.
 */
const FREE_WINDOWS = 10;
/**
 * The most one window may pull a baseline up (on log scale, before the EWMA weight): a ramp that grows its rate by a
 * constant factor every minute would otherwise teach the baseline its growth, mean and variance alike, and never
 * look anomalous against it.
 */
const RISE_CAP = Math.log(1.5);

export function learn(state: KeyState, requests: number, bytes: number, ips: number, alpha: number): void {
  const capped = state.windows >= FREE_WINDOWS;
  const r = capped ? Math.min(Math.log1p(requests), state.reqMean + RISE_CAP) : Math.log1p(requests);
  const b = capped ? Math.min(Math.log1p(bytes), state.bytesMean + RISE_CAP) : Math.log1p(bytes);
  if (state.windows === 0) {
    state.reqMean = r;
    state.bytesMean = b;
    state.ipsMean = ips;
    state.reqVar = PRIOR_VARIANCE;
    state.bytesVar = PRIOR_VARIANCE;
  } else {
    const w = capped ? alpha : Math.max(alpha, 1 / (state.windows + 1));
    const dr = r - state.reqMean;
    state.reqMean += w * dr;
    state.reqVar = (1 - w) * (state.reqVar + w * dr * dr);
    const db = b - state.bytesMean;
    state.bytesMean += w * db;
    state.bytesVar = (1 - w) * (state.bytesVar + w * db * db);
    state.ipsMean += w * (ips - state.ipsMean);
  }
  state.windows++;
}

export function selfZRequests(state: KeyState, requests: number): number {
  return (Math.log1p(requests) - state.reqMean) / Math.max(Math.sqrt(state.reqVar), MIN_STD);
}

/** The key's typical requests per active window (back from log scale). */
export const typicalRequests = (state: KeyState): number => Math.expm1(state.reqMean);
export const typicalBytes = (state: KeyState): number => Math.expm1(state.bytesMean);

/** Shifts the flag history to `windowStart` (windows the key was not seen in count as unflagged). */
export function ageFlags(state: KeyState, windowStart: number, windowMs: number): void {
  const gap = Math.round((windowStart - state.lastWindow) / windowMs);
  state.flags = gap >= 31 ? 0 : gap > 0 ? (state.flags << gap) & 0x7fffffff : state.flags;
  state.lastWindow = windowStart;
}

export function flaggedIn(state: KeyState, n: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) if (state.flags & (1 << i)) count++;
  return count;
}
