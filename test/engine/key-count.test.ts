import { describe, expect, it } from 'vitest';
import { hash32 } from '../../src/features/hash.ts';
import { KeyCount } from '../../src/engine/key-count.ts';

describe('KeyCount (keysTracked)', () => {
  it('counts keys within a few per cent from tens to a million, repeats counted once', () => {
    for (const n of [10, 1_000, 50_000, 1_000_000]) {
      const c = new KeyCount();
      for (let i = 0; i < n; i++) c.add(hash32(`ip:10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`));
      for (let i = 0; i < Math.min(n, 1000); i++) c.add(hash32(`ip:10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`));
      expect(Math.abs(c.size - n) / n, String(n)).toBeLessThan(0.05);
    }
  });
});
