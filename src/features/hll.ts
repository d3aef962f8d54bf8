/**
 * The HyperLogLog pieces the distinct counters share (features/distinct.ts, engine/key-count.ts) and the hash mix the
 * long-horizon bitmaps use (detect/horizons.ts).
 */

/** MurmurHash3's 32-bit finaliser: every output bit depends on every input bit (FNV's own low bits are weak). */
export function fmix32(h: number): number {
  let x = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Counts a mixed hash `x` in registers of 2^p: the register its top p bits name keeps the longest run of zeros after. */
export function addToRegisters(registers: Uint8Array, p: number, x: number): void {
  const idx = x >>> (32 - p);
  const rest = (x << p) >>> 0;
  const rank = rest === 0 ? 32 - p + 1 : Math.clz32(rest) + 1;
  if (rank > registers[idx]) registers[idx] = rank;
}

/** The registers' estimate of distinct values, with linear counting for the small range. */
export function estimate(registers: Uint8Array): number {
  const m = registers.length;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    sum += 2 ** -registers[i];
    if (registers[i] === 0) zeros++;
  }
  const raw = ((0.7213 / (1 + 1.079 / m)) * m * m) / sum;
  return raw <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : raw;
}
