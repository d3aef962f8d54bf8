/**
 * How many distinct keys a replay saw (summary.json `keysTracked`): a HyperLogLog of 4,096 registers (about 1.6%
 * standard error) over full 32-bit key hashes. Not features/distinct.ts's Distinct, whose sketch reads 16 bits (what
 * the summaries wire carries) and so tells at most some hundred thousand values apart; a long replay sees millions of
 * keys.
 */
const P = 12;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);

export class KeyCount {
  private readonly registers = new Uint8Array(M);

  add(h: number): void {
    // MurmurHash3's fmix32: FNV's bits are not independent enough for the index and the rank.
    let x = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    x = (x ^ (x >>> 16)) >>> 0;
    const idx = x >>> (32 - P);
    const rest = (x << P) >>> 0;
    const rank = rest === 0 ? 32 - P + 1 : Math.clz32(rest) + 1;
    if (rank > this.registers[idx]) this.registers[idx] = rank;
  }

  get size(): number {
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      sum += 2 ** -this.registers[i];
      if (this.registers[i] === 0) zeros++;
    }
    const raw = (ALPHA * M * M) / sum;
    return Math.round(raw <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : raw);
  }
}
