import { describe, expect, it } from 'vitest';
import {
  ageFlags, decodeKeyState, encodeKeyState, flaggedIn, isPlausibleKeyState, learn, newKeyState, selfZRequests, typicalBytes,
  typicalRequests,
} from '../../src/detect/baseline.ts';
import type { KeyState } from '../../src/ports.ts';

const state = (over: Partial<KeyState> = {}): KeyState => ({ ...newKeyState(1000), ...over });

describe('newKeyState', () => {
  it('starts with no history: zero means, the wide prior variance, no flags, seen at the window given', () => {
    expect(newKeyState(1234)).toEqual({ reqMean: 0, reqVar: 0.5, bytesMean: 0, bytesVar: 0.5, ipsMean: 0, windows: 0, flags: 0,
      lastWindow: 1234 });
  });
});

describe('learn', () => {
  it('the first window sets the means outright and the prior variance, whatever the state held', () => {
    const s = state({ reqMean: 4, reqVar: 3, bytesMean: 5, bytesVar: 2, ipsMean: 9 });
    learn(s, 99, 9999, 3, 0.1);
    expect(s.reqMean).toBe(Math.log1p(99));
    expect(s.bytesMean).toBe(Math.log1p(9999));
    expect(s.ipsMean).toBe(3);
    expect(s.reqVar).toBe(0.5);
    expect(s.bytesVar).toBe(0.5);
    expect(s.windows).toBe(1);
  });

  it('later windows move means and variances by the EWMA with weight alpha, after a running-mean warm-up', () => {
    const s = state();
    for (let i = 0; i < 10; i++) learn(s, 99, 99, 2, 0.25);
    learn(s, 9, 120, 6, 0.25);
    const dr = Math.log1p(9) - Math.log1p(99);
    const db = Math.log1p(120) - Math.log1p(99);
    const settled = 0.5 * 0.5 * (2 / 3) * 0.75 ** 7; // the prior variance through the warm-up weights 1/2, 1/3, 1/4, then alpha
    expect(s.reqMean).toBeCloseTo(Math.log1p(99) + 0.25 * dr, 12);
    expect(s.reqVar).toBeCloseTo(0.75 * (settled + 0.25 * dr * dr), 12);
    expect(s.bytesMean).toBeCloseTo(Math.log1p(99) + 0.25 * db, 12);
    expect(s.bytesVar).toBeCloseTo(0.75 * (settled + 0.25 * db * db), 12);
    expect(s.ipsMean).toBeCloseTo(2 + 0.25 * 4, 12);
    expect(s.windows).toBe(11);
    // In the warm-up a window weighs 1/(windows seen + 1): the first windows' plain mean.
    const warm = state();
    learn(warm, 9, 9, 1, 0.1);
    learn(warm, 99, 99, 1, 0.1);
    expect(warm.reqMean).toBeCloseTo((Math.log1p(9) + Math.log1p(99)) / 2, 12);
  });

  it('past the warm-up, one window pulls a baseline up by at most a factor of 1.5 (a ramp cannot drag it), down freely', () => {
    const s = state();
    for (let i = 0; i < 10; i++) learn(s, 99, 99, 1, 0.1);
    learn(s, 9999, 9999, 1, 0.1);
    expect(s.reqMean).toBeCloseTo(Math.log1p(99) + 0.1 * Math.log(1.5), 12);
    expect(s.bytesMean).toBeCloseTo(Math.log1p(99) + 0.1 * Math.log(1.5), 12);
    const fall = state();
    for (let i = 0; i < 10; i++) learn(fall, 99, 99, 1, 0.1);
    learn(fall, 0, 0, 1, 0.1);
    expect(fall.reqMean).toBeCloseTo(0.9 * Math.log1p(99), 12);
    // A steady key's variance shrinks window after window.
    const steady = state();
    for (let i = 0; i < 5; i++) learn(steady, 10, 10, 1, 0.5);
    expect(steady.reqMean).toBeCloseTo(Math.log1p(10), 12);
    expect(steady.reqVar).toBeCloseTo(0.5 * 0.5 ** 4, 12);
    expect(steady.windows).toBe(5);
  });
});

describe('selfZRequests, typicalRequests, typicalBytes', () => {
  it('z-score on the log scale against the own mean, with the standard deviation floored at 0.35', () => {
    const wide = state({ reqMean: Math.log1p(10), reqVar: 4 });
    expect(selfZRequests(wide, 10)).toBe(0);
    expect(selfZRequests(wide, 100)).toBeCloseTo((Math.log1p(100) - Math.log1p(10)) / 2, 12);
    const steady = state({ reqMean: Math.log1p(10), reqVar: 0.01 });
    expect(selfZRequests(steady, 100)).toBeCloseTo((Math.log1p(100) - Math.log1p(10)) / 0.35, 12);
    expect(selfZRequests(steady, 1)).toBeCloseTo((Math.log1p(1) - Math.log1p(10)) / 0.35, 12);
  });

  it('typical requests and bytes come back from the log scale', () => {
    const s = state({ reqMean: Math.log1p(200), bytesMean: Math.log1p(5000) });
    expect(typicalRequests(s)).toBeCloseTo(200, 9);
    expect(typicalBytes(s)).toBeCloseTo(5000, 9);
  });
});

describe('ageFlags and flaggedIn (hysteresis history)', () => {
  const MS = 60_000;
  it('shifts the history by the windows elapsed (rounded), newest in bit 0', () => {
    const s = state({ flags: 0b101, lastWindow: 0 });
    ageFlags(s, MS, MS);
    expect(s.flags).toBe(0b1010);
    expect(s.lastWindow).toBe(MS);
    ageFlags(s, 3 * MS, MS);
    expect(s.flags).toBe(0b101000);
    // 1.4 windows is one, 1.6 is two.
    const a = state({ flags: 1, lastWindow: 0 });
    ageFlags(a, 1.4 * MS, MS);
    expect(a.flags).toBe(0b10);
    const b = state({ flags: 1, lastWindow: 0 });
    ageFlags(b, 1.6 * MS, MS);
    expect(b.flags).toBe(0b100);
  });

  it('keeps the history in the same window and for a window older than the last one', () => {
    const same = state({ flags: 0b11, lastWindow: 5 * MS });
    ageFlags(same, 5 * MS, MS);
    expect(same.flags).toBe(0b11);
    const older = state({ flags: 0b11, lastWindow: 5 * MS });
    ageFlags(older, 4 * MS, MS);
    expect(older.flags).toBe(0b11);
    expect(older.lastWindow).toBe(4 * MS);
  });

  it('keeps 31 bits: what shifts past bit 30 is gone, and a gap of 31 windows or more clears the history', () => {
    const top = state({ flags: 0x40000001, lastWindow: 0 });
    ageFlags(top, MS, MS);
    expect(top.flags).toBe(2);
    const thirty = state({ flags: 3, lastWindow: 0 });
    ageFlags(thirty, 30 * MS, MS);
    expect(thirty.flags).toBe(0x40000000);
    for (const gap of [31, 32, 33, 64, 1000]) {
      const s = state({ flags: 0x7fffffff, lastWindow: 0 });
      ageFlags(s, gap * MS, MS);
      expect(s.flags, `gap ${gap}`).toBe(0);
    }
  });

  it('counts the flagged windows among the last n', () => {
    const s = state({ flags: 0b1011 });
    expect(flaggedIn(s, 0)).toBe(0);
    expect(flaggedIn(s, 1)).toBe(1);
    expect(flaggedIn(s, 2)).toBe(2);
    expect(flaggedIn(s, 3)).toBe(2);
    expect(flaggedIn(s, 4)).toBe(3);
    expect(flaggedIn(s, 31)).toBe(3);
  });
});

describe('isPlausibleKeyState', () => {
  it('accepts what learn writes, zeros included', () => {
    const s = state();
    expect(isPlausibleKeyState(s)).toBe(true);
    learn(s, 10, 1000, 1, 0.1);
    expect(isPlausibleKeyState(s)).toBe(true);
    expect(isPlausibleKeyState(state({ reqMean: 0, reqVar: 0, bytesMean: 0, bytesVar: 0, ipsMean: 0, windows: 0, flags: 0,
      lastWindow: -5 }))).toBe(true);
    expect(isPlausibleKeyState(state({ flags: 0x7fffffff, windows: Number.MAX_SAFE_INTEGER }))).toBe(true);
  });

  it('rejects a negative or non-finite mean or variance, field by field', () => {
    for (const f of ['reqMean', 'reqVar', 'bytesMean', 'bytesVar', 'ipsMean'] as const) {
      for (const bad of [-0.001, -30, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(isPlausibleKeyState(state({ [f]: bad })), `${f}=${bad}`).toBe(false);
      }
    }
  });

  it('rejects counts that are not whole, negative, or out of range', () => {
    for (const windows of [-1, 1.5, 2 ** 53, Number.NaN]) expect(isPlausibleKeyState(state({ windows })), `windows=${windows}`).toBe(false);
    for (const flags of [-1, 1.5, 0x80000000, Number.NaN]) expect(isPlausibleKeyState(state({ flags })), `flags=${flags}`).toBe(false);
    for (const lastWindow of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(isPlausibleKeyState(state({ lastWindow })), `lastWindow=${lastWindow}`).toBe(false);
    }
  });
});

describe('encodeKeyState and decodeKeyState', () => {
  it('writes the eight fields in order, comma-separated, and reads them back losslessly', () => {
    const s: KeyState = { reqMean: 1.5, reqVar: 0.25, bytesMean: 7.125, bytesVar: 0.5, ipsMean: 2, windows: 12, flags: 5, lastWindow: 1_793_577_600_000 };
    expect(encodeKeyState(s)).toBe('1.5,0.25,7.125,0.5,2,12,5,1793577600000');
    expect(decodeKeyState(encodeKeyState(s))).toEqual(s);
    const odd = state({ reqMean: Math.log1p(7), reqVar: 1 / 3 });
    expect(decodeKeyState(encodeKeyState(odd))).toEqual(odd);
  });

  it('refuses a row with the wrong number of fields, an empty or non-numeric field, or an implausible state', () => {
    expect(decodeKeyState('1,0.5,1,0.5,0,1,0')).toBeNull();
    expect(decodeKeyState('1,0.5,1,0.5,0,1,0,0,0')).toBeNull();
    expect(decodeKeyState('')).toBeNull();
    expect(decodeKeyState('1,0.5,1,0.5,0,1,,0')).toBeNull();
    expect(decodeKeyState('1,0.5,1,0.5,0,1,0,')).toBeNull();
    expect(decodeKeyState('1,0.5,x,0.5,0,1,0,0')).toBeNull();
    expect(decodeKeyState('1,0.5,Infinity,0.5,0,1,0,0')).toBeNull();
    expect(decodeKeyState('-30,0.5,1,0.5,0,1,0,0')).toBeNull();
    expect(decodeKeyState('1,0.5,1,0.5,0,1.5,0,0')).toBeNull();
    expect(decodeKeyState('1,0.5,1,0.5,0,1,0,0')).toEqual({ reqMean: 1, reqVar: 0.5, bytesMean: 1, bytesVar: 0.5, ipsMean: 0, windows: 1,
      flags: 0, lastWindow: 0 });
  });
});
