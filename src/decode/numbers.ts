import { ABSENT } from './event.ts';

/**
 * A decimal number written by a log at `s[from, to)`: ABSENT for API Gateway's `-` or an empty field, NaN for
 * anything that is not plain digits with an optional fraction (no sign, exponent, hex or spaces: a log never
 * writes those, a forger might).
 */
export function parseDecimal(s: string, from = 0, to = s.length): number {
  const n = to - from;
  if (n === 0 || (n === 1 && s.charCodeAt(from) === 45 /* - */)) return ABSENT;
  if (n > 20) return NaN;
  let value = 0;
  let scale = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (scale === 0) value = value * 10 + (c - 48);
      else {
        value += (c - 48) / scale;
        scale *= 10;
      }
    } else if (c === 46 /* . */ && scale === 0 && i > from && i < to - 1) {
      scale = 10;
    } else {
      return NaN;
    }
  }
  return value;
}

/** A JSON field as a number: ABSENT when missing, null, `-` or ''; NaN when negative or not a number. */
export function numberField(v: unknown): number {
  if (typeof v === 'number') return v >= 0 && v < Infinity ? v : NaN;
  if (typeof v === 'string') return parseDecimal(v);
  if (v === undefined || v === null) return ABSENT;
  return NaN;
}

/** A JSON field as text: '' when missing, null, `-`, or not a string or number. */
export function textField(v: unknown): string {
  if (typeof v === 'string') return v === '-' ? '' : v;
  if (typeof v === 'number') return String(v);
  return '';
}
