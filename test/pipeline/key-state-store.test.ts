import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newKeyState } from '../../src/detect/baseline.ts';
import { SLOW_EVIDENCE_LENGTH } from '../../src/detect/horizons.ts';
import { KeyStateStore } from '../../src/pipeline/key-state-store.ts';
import type { KeyState } from '../../src/ports.ts';

const slowOf = (seed: number): number[] => Array.from({ length: SLOW_EVIDENCE_LENGTH }, (_, i) => seed * 100 + i + 0.5);

describe('KeyStateStore: packed states with sparse slow evidence', () => {
  it('hands back what was set, slow evidence included, as fresh copies; a state without it has none', () => {
    const store = new KeyStateStore();
    const a: KeyState = { ...newKeyState(1000), reqMean: 2.5, windows: 7, slow: slowOf(1) };
    store.set('a', a);
    store.set('b', newKeyState(2000));
    const got = store.get('a')!;
    expect(got).toEqual(a);
    got.slow![0] = -1;
    expect(store.get('a')!.slow).toEqual(slowOf(1));
    expect(store.get('b')).toEqual(newKeyState(2000));
    expect(store.get('b')!.slow).toBeUndefined();
  });

  it('drops evidence set away, and reuses slots of deleted keys without leaking evidence into them', () => {
    const store = new KeyStateStore();
    for (let k = 0; k < 600; k++) store.set(`k${k}`, { ...newKeyState(k), slow: slowOf(k) });
    store.set('k5', newKeyState(5));
    expect(store.get('k5')!.slow).toBeUndefined();
    store.delete('k7');
    store.set('fresh', newKeyState(9));
    expect(store.get('fresh')!.slow).toBeUndefined();
    store.set('again', { ...newKeyState(9), slow: slowOf(42) });
    expect(store.get('again')!.slow).toEqual(slowOf(42));
    for (let k = 0; k < 600; k++) if (k !== 5 && k !== 7) expect(store.get(`k${k}`)!.slow, `k${k}`).toEqual(slowOf(k));
    expect([...store.entries()].filter(([, s]) => s.slow).length).toBe(599);
  });

  it('holds what a Map of the same states would, through any sets, deletes and growth', () => {
    // Keys spread over 3,000 (fast-check favours small integers, which would never grow the store past its first slots).
    const key = fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((n) => n % 3000);
    const op = fc.oneof(
      { arbitrary: fc.record({ set: key, slow: fc.boolean(), seed: fc.integer({ min: 0, max: 1e6 }) }), weight: 4 },
      { arbitrary: fc.record({ del: key }), weight: 1 },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 1500, maxLength: 4000 }), (ops) => {
      const store = new KeyStateStore();
      const model = new Map<string, KeyState>();
      for (const o of ops) {
        if ('set' in o) {
          const s: KeyState = { ...newKeyState(o.seed), reqMean: o.seed / 7, ...(o.slow ? { slow: slowOf(o.seed) } : {}) };
          store.set(`k${o.set}`, s);
          model.set(`k${o.set}`, s);
        } else {
          store.delete(`k${o.del}`);
          model.delete(`k${o.del}`);
        }
      }
      expect(store.size).toBe(model.size);
      for (const [k, s] of model) expect(store.get(k)).toEqual(s);
      expect(new Map(store.entries())).toEqual(model);
      // Idle eviction's scan of the slots finds exactly the keys whose last window is before the cutoff.
      const cutoff = 500_000;
      expect(store.keysIdleBefore(cutoff).sort()).toEqual([...model].filter(([, s]) => s.lastWindow < cutoff).map(([k]) => k).sort());
    }), { numRuns: 40, endOnFailure: true });
  });
});
