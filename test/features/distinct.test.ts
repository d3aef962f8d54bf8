import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Distinct, WIRE_HASH_MASK, wireHash } from '../../src/features/distinct.ts';
import { hash32 } from '../../src/features/hash.ts';

// ---------------------------------------------------------------------------------------------------------------
// An independent HyperLogLog, in BigInt arithmetic: 2^8 registers, MurmurHash3's fmix32 to spread the input hash's
// low 16 bits (all a summary of wire level 4 carries), the register index from the top 8 bits, the rank from the
// leading zeros of the other 24; the estimate of the low-16-bit values seen turned into one of the values.

const M = 256;
const DOMAIN = 65_536;
const U32 = (1n << 32n) - 1n;
function fmix32(h: number): bigint {
  let x = BigInt(h >>> 0) & 0xffffn;
  x = ((x ^ (x >> 16n)) * 0x85ebca6bn) & U32;
  x = ((x ^ (x >> 13n)) * 0xc2b2ae35n) & U32;
  return x ^ (x >> 16n);
}

function oracleRegisters(hashes: Iterable<number>): number[] {
  const reg = new Array<number>(M).fill(0);
  for (const h of hashes) {
    const x = fmix32(h);
    const idx = Number(x >> 24n);
    let rank = 1;
    for (let bit = 23n; bit >= 0n && ((x >> bit) & 1n) === 0n; bit--) rank++;
    reg[idx] = Math.max(reg[idx], rank);
  }
  return reg;
}

function oracleEstimate(reg: number[]): number {
  const alpha = 0.7213 / (1 + 1.079 / M);
  const sum = reg.reduce((s, r) => s + 1 / 2 ** r, 0);
  const zeros = reg.filter((r) => r === 0).length;
  const raw = (alpha * M * M) / sum;
  const seen = raw <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : raw;
  // n values show DOMAIN·(1 − e^(−n/DOMAIN)) low-16-bit values, on average; past 1 − e⁻⁴ of the domain, capped.
  return Math.round(-DOMAIN * Math.log1p(-Math.min(seen / DOMAIN, 1 - Math.exp(-4))));
}

const registersOf = (d: Distinct): number[] => {
  const ser = d.toJSON();
  if (typeof ser !== 'string') throw new Error('not a sketch');
  return [...Buffer.from(ser, 'base64')];
};
const sketchOf = (reg: number[]) => Distinct.fromJSON(Buffer.from(reg).toString('base64'));
const of = (hashes: number[]) => {
  const d = new Distinct();
  for (const h of hashes) d.add(h);
  return d;
};
/** Distinct 32-bit values, spread over the whole range (some past 2^31). */
const values = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => (Math.imul(i + 1 + salt * 100_003, 0x9e3779b1) >>> 0));

describe('Distinct, exact', () => {
  it.each([
    [[], []],
    [[7], [7]],
    [[7, 7], [7]],
    [[7, 8], [7, 8]],
    [[7, 8, 7, 8], [7, 8]],
    [[7, 8, 9], [7, 8, 9]],
    [[7, 8, 9, 9, 8, 7, 10], [7, 8, 9, 10]],
    [[0, 0, 1], [0, 1]],
    [[0xffff_ffff, 0x8000_0000, 0xffff_ffff, 3, 0x8000_0000], [0xffff_ffff, 0x8000_0000, 3]],
  ])('%j holds %j, in insertion order', (input, held) => {
    const d = of(input);
    expect(d.size).toBe(held.length);
    expect(d.toJSON()).toEqual(held);
    expect(Distinct.fromJSON(d.toJSON()).toJSON()).toEqual(held);
  });

  it('stays exact up to 64 values, then becomes a sketch', () => {
    const v = values(65);
    const d = of(v.slice(0, 64));
    expect(d.size).toBe(64);
    expect(d.toJSON()).toEqual(v.slice(0, 64));
    d.add(v[0]);
    d.add(v[63]);
    expect(d.toJSON()).toEqual(v.slice(0, 64)); // values held already do not count
    d.add(v[64]);
    expect(typeof d.toJSON()).toBe('string');
    expect(registersOf(d)).toEqual(oracleRegisters(v));
    expect(d.size).toBe(oracleEstimate(oracleRegisters(v)));
  });

  it('reads leniently: non-numbers skipped, anything else empty; a sketch of the wrong size throws', () => {
    expect(Distinct.fromJSON([1, 'x', 2, null, 1, 0x1_0000_0003]).toJSON()).toEqual([1, 2, 3]);
    expect(Distinct.fromJSON(42).size).toBe(0);
    expect(Distinct.fromJSON(undefined).toJSON()).toEqual([]);
    expect(Distinct.fromJSON({ 0: 5 }).toJSON()).toEqual([]);
    const wrongSize = new TypeError('distinct sketch has the wrong size');
    expect(() => Distinct.fromJSON('AAAA')).toThrow(wrongSize);
    expect(() => Distinct.fromJSON(Buffer.alloc(M + 1).toString('base64'))).toThrow(wrongSize);
    expect(() => Distinct.fromJSON(Buffer.alloc(M - 1).toString('base64'))).toThrow(wrongSize);
    expect(Distinct.fromJSON(Buffer.alloc(M).toString('base64')).size).toBe(0);
  });

  it('matches a Set for any sequence of at most 64 distinct values', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(0x8000_0000, 0xffff_ffff)), { maxLength: 60 }), (list) => {
        const d = of(list);
        expect(d.toJSON()).toEqual([...new Set(list)]);
        expect(d.size).toBe(new Set(list).size);
      }),
    );
  });
});

describe('Distinct, sketch', () => {
  it.each([65, 100, 300, 1_000, 5_000])('%i values: the registers and the estimate of an independent HyperLogLog', (n) => {
    const v = values(n);
    const d = of(v);
    const reg = oracleRegisters(v);
    expect(registersOf(d)).toEqual(reg);
    expect(d.size).toBe(oracleEstimate(reg));
    expect(Math.abs(d.size - n) / n).toBeLessThan(0.2);
    // Adding values already seen changes nothing.
    for (const h of v.slice(0, 50)) d.add(h);
    expect(registersOf(d)).toEqual(reg);
  });

  it('estimates from registers alone: both the linear-counting range and the raw one', () => {
    // No register empty: the raw estimate, even though it is small.
    expect(sketchOf(new Array(M).fill(1)).size).toBe(oracleEstimate(new Array(M).fill(1)));
    expect(sketchOf(new Array(M).fill(1)).size).toBe(369); // 368.4 values of 16 bits seen: 369.5 values
    // Half empty: linear counting, M·ln 2 (177.4 values of 16 bits seen: 177.7 values).
    const half = Array.from({ length: M }, (_, i) => (i % 2 ? 1 : 0));
    expect(sketchOf(half).size).toBe(178);
    expect(sketchOf(half).size).toBe(oracleEstimate(half));
    // Large registers: past 2.5·M, the raw estimate although some registers are empty.
    const big = Array.from({ length: M }, (_, i) => (i === 0 ? 0 : 12));
    expect(sketchOf(big).size).toBe(oracleEstimate(big));
    expect(sketchOf(big).size).toBeGreaterThan(2.5 * M);
    // The largest rank a 24-bit remainder can give is 25 (all zero).
    const ranks = Array.from({ length: M }, (_, i) => i % 26);
    expect(sketchOf(ranks).size).toBe(oracleEstimate(ranks));
  });

  it('ranks a remainder of all zeros as 25', () => {
    // fmix32(0) = 0: register 0, and no one bit in the 24-bit remainder.
    expect(fmix32(0)).toBe(0n);
    const d = of([...values(100), 0]);
    expect(registersOf(d)[0]).toBe(25);
    expect(registersOf(d)).toEqual(oracleRegisters([...values(100), 0]));
  });

  it('merges: exact into exact, exact into sketch, sketch into exact, sketch into sketch', () => {
    const a = values(40, 1);
    const b = values(40, 2);
    const big1 = values(200, 3);
    const big2 = values(300, 4);

    const ee = of(a);
    ee.merge(of(b));
    expect(typeof ee.toJSON()).toBe('string'); // 80 values: past the cap
    expect(registersOf(ee)).toEqual(oracleRegisters([...a, ...b]));
    const small = of(a.slice(0, 10));
    small.merge(of(a.slice(5, 20)));
    expect(small.toJSON()).toEqual(a.slice(0, 20));

    const es = of(big1);
    es.merge(of(a));
    expect(registersOf(es)).toEqual(oracleRegisters([...big1, ...a]));

    const se = of(a);
    se.merge(of(big1));
    expect(registersOf(se)).toEqual(oracleRegisters([...a, ...big1]));
    expect(se.size).toBe(oracleEstimate(oracleRegisters([...a, ...big1])));

    const ss = of(big1);
    ss.merge(of(big2));
    expect(registersOf(ss)).toEqual(oracleRegisters([...big1, ...big2]));
    const ss2 = of(big2);
    ss2.merge(of(big1));
    expect(registersOf(ss2)).toEqual(registersOf(ss));
  });

  it('merging an empty counter, or one or two values, adds exactly those', () => {
    const d = of([5]);
    d.merge(new Distinct());
    expect(d.toJSON()).toEqual([5]);
    const e = new Distinct();
    e.merge(new Distinct());
    expect(e.toJSON()).toEqual([]);
    e.merge(of([9]));
    expect(e.toJSON()).toEqual([9]);
    e.merge(of([9, 10]));
    expect(e.toJSON()).toEqual([9, 10]);
    e.merge(of([11, 12, 13]));
    expect(e.toJSON()).toEqual([9, 10, 11, 12, 13]);
    // An empty counter merged into a sketch changes no register.
    const s = of(values(100));
    s.merge(new Distinct());
    s.merge(of([]));
    expect(registersOf(s)).toEqual(oracleRegisters(values(100)));
    // A sketch read back merges like the one written.
    const t = of(values(10, 9));
    t.merge(Distinct.fromJSON(of(values(100)).toJSON()));
    expect(registersOf(t)).toEqual(oracleRegisters([...values(10, 9), ...values(100)]));
  });

  it('merge is a union: any split of the values gives the registers of the whole', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 65, maxLength: 200 }), fc.nat(200), (list, cut) => {
        const x = of(list.slice(0, cut));
        x.merge(of(list.slice(cut)));
        const whole = of(list);
        const reg = oracleRegisters(list);
        if (new Set(list).size > 64) {
          expect(registersOf(x)).toEqual(reg);
          expect(registersOf(whole)).toEqual(reg);
          expect(x.size).toBe(whole.size);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('Distinct, 16-bit values (summary wire level 4)', () => {
  /** 32-bit values, some sharing their low 16 bits with others (what a 16-bit writer would send as one). */
  const wide = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 1, 0x1234, 0xffff)), fc.integer({ min: 0, max: 0xffff }))
    .map(([low, high]) => ((high << 16) | low) >>> 0);
  const masked = (list: number[]) => list.map((v) => v & 0xffff);
  const distinctLow = (list: number[]) => new Set(masked(list)).size;

  it('one mask, the low 16 bits', () => {
    expect(WIRE_HASH_MASK).toBe(0xffff);
    expect(wireHash(0x1234_5678)).toBe(0x5678);
    expect(wireHash(0xffff_0000)).toBe(0);
    expect(wireHash(0xffff)).toBe(0xffff);
  });

  it('a sketch is a function of the low 16 bits: values and the same values masked give the same registers and size', () => {
    fc.assert(fc.property(fc.array(wide, { minLength: 65, maxLength: 400 }), (list) => {
      fc.pre(distinctLow(list) > 64);
      const full = of(list);
      const short = of(masked(list));
      expect(registersOf(full)).toEqual(registersOf(short));
      expect(registersOf(full)).toEqual(oracleRegisters(masked(list)));
      expect(full.size).toBe(short.size);
    }), { numRuns: 200 });
  });

  it('values and the same values masked, merged with each other either way, count as the masked values alone', () => {
    fc.assert(fc.property(fc.array(wide, { minLength: 65, maxLength: 300 }), fc.array(wide, { maxLength: 300 }), (a, b) => {
      // A part of a 32-bit writer past the exact cap (so a sketch: exact values are masked by the reader, not here),
      // and a part of a 16-bit writer: any size, exact or a sketch, overlapping it or not.
      fc.pre(new Set(a).size > 64);
      const whole = of(masked([...a, ...b]));
      const x = of(a);
      x.merge(of(masked(b)));
      const y = of(masked(b));
      y.merge(of(a));
      // The 16-bit values merged with the 32-bit ones they stand for: nothing counted twice.
      const z = of(a);
      z.merge(of(masked(a)));
      expect(registersOf(z)).toEqual(registersOf(of(a)));
      expect(z.size).toBe(of(a).size);
      if (typeof whole.toJSON() !== 'string') return; // the masked union within the exact cap: nothing to compare
      expect(registersOf(x)).toEqual(registersOf(whole));
      expect(registersOf(y)).toEqual(registersOf(whole));
      expect(x.size).toBe(whole.size);
      expect(y.size).toBe(whole.size);
    }), { numRuns: 200 });
  });

  it('a sketch read back from another writer merges the same way (serialised registers carry no bits but the low 16)', () => {
    const v = values(500, 7).map((h) => (h | 0x8000_0000) >>> 0);
    const from32 = Distinct.fromJSON(of(v).toJSON());
    const from16 = Distinct.fromJSON(of(masked(v)).toJSON());
    expect(from32.toJSON()).toBe(from16.toJSON());
    from32.merge(from16);
    expect(registersOf(from32)).toEqual(registersOf(from16));
  });

  it('a large count is not short by the values that share their low 16 bits (the estimate takes the expected collisions out)', () => {
    // 20,000 paths' FNV hashes show about 17,230 low-16-bit values: inverted, the estimate is of the 20,000.
    const v = Array.from({ length: 20_000 }, (_, i) => hash32(`/static/${i}.js`));
    expect(distinctLow(v)).toBeLessThan(17_500);
    const d = of(v);
    expect(Math.abs(d.size / 20_000 - 1)).toBeLessThan(0.15);
    expect(d.size).toBe(oracleEstimate(oracleRegisters(v)));
    // A sketch whose every register is at its largest reads as the cap (4·65,536), not as infinity.
    expect(sketchOf(new Array(M).fill(25)).size).toBe(4 * DOMAIN);
  });
});
