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
});
