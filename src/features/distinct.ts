/**
 * A distinct counter that stays bounded: exact (a set of 32-bit hashes) up to `EXACT_CAP` values, then a
 * HyperLogLog with 2^P registers (~1 KB less than a set of thousands, about 6.5% standard error). Mergeable and
 * serialisable, so stage 1 can pre-aggregate and stage 2 can combine partials from many shards.
 */
const EXACT_CAP = 64;
const P = 8;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);

export class Distinct {
  private exact: Set<number> | null = null;
  private registers: Uint8Array | null = null;

  add(h: number): void {
    if (this.registers) return this.addToSketch(h);
    if (this.exact === null) this.exact = new Set();
    this.exact.add(h);
    if (this.exact.size > EXACT_CAP) this.toSketch();
  }

  get size(): number {
    if (!this.registers) return this.exact ? this.exact.size : 0;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      sum += 2 ** -this.registers[i];
      if (this.registers[i] === 0) zeros++;
    }
    const raw = (ALPHA * M * M) / sum;
    // Small-range correction (linear counting) keeps the estimate honest just past the exact cap.
    return Math.round(raw <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : raw);
  }

  merge(other: Distinct): void {
    if (other.registers) {
      if (!this.registers) this.toSketch();
      for (let i = 0; i < M; i++) if (other.registers[i] > this.registers![i]) this.registers![i] = other.registers[i];
    } else if (other.exact) {
      for (const h of other.exact) this.add(h);
    }
  }

  toJSON(): number[] | string {
    if (this.registers) return Buffer.from(this.registers).toString('base64');
    return this.exact ? [...this.exact] : [];
  }

  static fromJSON(v: unknown): Distinct {
    const d = new Distinct();
    if (typeof v === 'string') {
      const bytes = Buffer.from(v, 'base64');
      if (bytes.length !== M) throw new TypeError('distinct sketch has the wrong size');
      d.registers = new Uint8Array(bytes);
    } else if (Array.isArray(v)) {
      for (const h of v) if (typeof h === 'number') d.add(h >>> 0);
    }
    return d;
  }

  private toSketch(): void {
    this.registers = new Uint8Array(M);
    const values = this.exact;
    this.exact = null;
    if (values) for (const h of values) this.addToSketch(h);
  }

  private addToSketch(h: number): void {
    // Re-mix so that the register index and the rank use independent bits of the FNV hash.
    let x = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    x = (x ^ (x >>> 16)) >>> 0;
    const idx = x >>> (32 - P);
    const rest = (x << P) >>> 0;
    const rank = rest === 0 ? 32 - P + 1 : Math.clz32(rest) + 1;
    if (rank > this.registers![idx]) this.registers![idx] = rank;
  }
}
