import { addToRegisters, estimate, fmix32 } from '../features/hll.ts';

/**
 * How many distinct keys a replay saw (summary.json `keysTracked`): a HyperLogLog of 4,096 registers (about 1.6%
 * standard error) over full 32-bit key hashes. Not features/distinct.ts's Distinct, whose sketch reads 16 bits (what
 * the summaries wire carries) and so tells at most some hundred thousand values apart; a long replay sees millions of
 * keys.
 */
const P = 12;

export class KeyCount {
  private readonly registers = new Uint8Array(1 << P);

  add(h: number): void {
    addToRegisters(this.registers, P, fmix32(h));
  }

  get size(): number {
    return Math.round(estimate(this.registers));
  }
}
