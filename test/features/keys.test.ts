import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash32 } from '../../src/features/hash.ts';
import { ipKey, ipKeyHash, prefixKey, prefixKeyHash, principalKey, principalKeyHash } from '../../src/features/keys.ts';

describe('key hashes', () => {
  it("are hash32 of the key itself, for any value (unicode and lone surrogates included)", () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), (v) => {
      expect(ipKeyHash(v)).toBe(hash32(ipKey(v)));
      expect(prefixKeyHash(v)).toBe(hash32(prefixKey(v)));
      expect(principalKeyHash(v)).toBe(hash32(principalKey(v)));
    }), { numRuns: 5_000 });
    // Tags matter: the same value under two kinds is two keys.
    expect(ipKeyHash('10.0.0.1')).not.toBe(prefixKeyHash('10.0.0.1'));
  });
});
