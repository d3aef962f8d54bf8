import { addToRegisters, estimate, fmix32 } from './hll.ts';

/**
 * The bits of a hash that the sketch below reads, and that a writer of summary wire level 4 sends for paths, missing
 * paths, user agents and a principal's addresses: its low 16 (src/engine/wire.ts; principals behind an address keep
 * 24, PRINCIPAL_HASH_MASK, and addresses behind an address all 32). Every reader of this release masks the exact values
 * of every other level alike, and the sketch is a function of the low 16 bits alone, so values of any writer count
 * alike when merged.
 *
 * Why 16 bits cost nothing detection cares about: two values that share their low 16 bits count once. Among n
 * distinct values about n²/131072 pairs collide, so a count comes out short by about n/131072 of itself: 0.05% at the
 * 64 values held exactly, and under the sketch's own standard error (~6.5%) up to about 8,000 values. Past 64 the
 * count is a HyperLogLog estimate anyway (and Distinct.size takes the collisions it expects back out, so only their
 * noise is left); rules read distinct counts against thresholds of tens to hundreds.
 */
export const WIRE_HASH_MASK = 0xffff;

/** `h` as wire level 4 carries it (its low 16 bits, see WIRE_HASH_MASK). A sentinel for "none" (0) is the caller's. */
export function wireHash(h: number): number {
  return h & WIRE_HASH_MASK;
}

/**
 * The bits kept of a principal's hash among the principals seen behind an address or prefix: 24. Few of them decide
 * much there (five principals make a shared egress, which the volume rules then spare), and two principals whose hashes
 * collide collide in every window: at 16 bits a NAT of exactly five would lose that protection about once in 6,500, at
 * 24 once in 1.7 million. Addresses behind an address or prefix keep all 32 bits (level 2 and up never send them: the
 * reader restores a host's own address from its key), and a principal's own principal likewise.
 */
export const PRINCIPAL_HASH_MASK = 0xffffff;

/** A principal's hash as counted behind an address at wire level 4 (never 0, which means none). */
export function principalWireHash(h: number): number {
  return (h & PRINCIPAL_HASH_MASK) || 1;
}

/**
 * A distinct counter that stays bounded: exact (a set of hashes: as a windower gives them, masked per counter on read)
 * up to `EXACT_CAP` values, then a HyperLogLog with 2^P registers (~1 KB less than a set of thousands, about 6.5%
 * standard error) of the values' low 16 bits (WIRE_HASH_MASK). Mergeable and serialisable, so stage 1 can
 * pre-aggregate and stage 2 can combine partials from many shards.
 *
 * Most counters of a key-window hold one or two values (one user agent, one IP, a path or two), so the first two
 * values live in fields of the object itself and only a third value allocates an array: a Set per counter made
 * the windows of a busy minute several times larger and kept the garbage collector busy. The exact values stay
 * in insertion order, as the Set kept them, so the serialised form is unchanged.
 */
const EXACT_CAP = 64;
const P = 8;
const M = 1 << P;
/** How many values the sketch tells apart: those of distinct low 16 bits. */
const DOMAIN = WIRE_HASH_MASK + 1;
/**
 * The largest share of the domain an estimate is inverted from (1 − e⁻⁴, so at most 4·DOMAIN, 262,144): past it the
 * estimate says little more than "the whole domain".
 */
const MAX_FILL = 1 - Math.exp(-4);

export class Distinct {
  /** Values held exactly; the first two are `a` and `b` (as int32, so they stay small integers), then `more`. */
  private n = 0;
  private a = 0;
  private b = 0;
  private more: number[] | null = null;
  private registers: Uint8Array | null = null;

  add(h: number): void {
    if (this.registers !== null) {
      this.addToSketch(h);
      return;
    }
    const v = h | 0;
    const n = this.n;
    if (n === 0) {
      this.a = v;
      this.n = 1;
    } else if (this.a !== v) {
      if (n === 1) {
        this.b = v;
        this.n = 2;
      } else if (this.b !== v) {
        this.addMore(v);
      }
    }
  }

  get size(): number {
    if (!this.registers) return this.n;
    const seen = estimate(this.registers);
    // That estimates the low-16-bit values seen: n distinct values show about DOMAIN·(1 − e^(−n/DOMAIN)) of them. Inverted,
    // a count is not short by the collisions (n/131072 of itself: under 1% below 1,000, 14% at 20,000); only their
    // noise remains, e^(n/DOMAIN) times the sketch's (about 1.1 times up to 8,000).
    return Math.round(-DOMAIN * Math.log1p(-Math.min(seen / DOMAIN, MAX_FILL)));
  }

  merge(other: Distinct): void {
    if (other.registers) {
      if (!this.registers) this.toSketch();
      for (let i = 0; i < M; i++) if (other.registers[i] > this.registers![i]) this.registers![i] = other.registers[i];
    } else {
      other.forEachExact((h) => this.add(h));
    }
  }

  toJSON(): number[] | string {
    if (this.registers) return Buffer.from(this.registers).toString('base64');
    // Written out rather than through forEachExact: stage 1 serialises every key-window of every record.
    const n = this.n;
    if (n === 0) return [];
    if (n === 1) return [this.a >>> 0];
    const out = [this.a >>> 0, this.b >>> 0];
    if (this.more !== null) for (const v of this.more) out.push(v >>> 0);
    return out;
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

  /**
   * Calls `fn` with a hash per distinct value: the exact values while they are held, else one stand-in per filled
   * sketch register (as many as the sketch can tell apart, which is what a caller counting distinct values needs).
   */
  forEachValue(fn: (h: number) => void): void {
    if (this.registers === null) {
      this.forEachExact(fn);
      return;
    }
    for (let i = 0; i < M; i++) if (this.registers[i] !== 0) fn(Math.imul(i + 1, 0x9e3779b1) >>> 0);
  }

  /** The exact values as unsigned 32-bit hashes, in insertion order. */
  private forEachExact(fn: (h: number) => void): void {
    const n = this.n;
    if (n > 0) fn(this.a >>> 0);
    if (n > 1) fn(this.b >>> 0);
    if (this.more !== null) for (const v of this.more) fn(v >>> 0);
  }

  /** Third and later values: a linear scan is cheaper than hashing for the at most EXACT_CAP values held. */
  private addMore(v: number): void {
    const more = this.more;
    if (more === null) {
      this.more = [v];
    } else {
      for (let i = 0; i < more.length; i++) if (more[i] === v) return;
      more.push(v);
    }
    if (++this.n > EXACT_CAP) this.toSketch();
  }

  private toSketch(): void {
    const registers = new Uint8Array(M);
    this.registers = registers;
    this.forEachExact((h) => this.addToSketch(h));
    this.n = 0;
    this.more = null;
  }

  private addToSketch(h: number): void {
    // Only the low 16 bits (WIRE_HASH_MASK): a 32-bit value and the same value as a level-4 writer sends it set the
    // same register, so sketches of any writer, and exact values masked on read, merge as one. (Sketches written by an
    // earlier release re-mixed all 32 bits: merged with this release's for the same window, a value may count twice.)
    // Re-mixed (MurmurHash3's fmix32, whose first step h ^ h >>> 16 is the identity here) so that the register index
    // and the rank use independent bits.
    addToRegisters(this.registers!, P, fmix32(h & WIRE_HASH_MASK));
  }
}
