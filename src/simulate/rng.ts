/**
 * A small seeded PRNG (sfc32) with the handful of distributions the traffic generator needs, named after
 * Python's `random` so the port from apitraffic.py reads line for line. Not cryptographic; reproducible.
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** splitmix32: spreads a small seed over the whole state, so seeds 1 and 2 give unrelated streams. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private spareNormal: number | null = null;

  /** `stream` picks an independent sequence for the same seed (events vs. output formatting). */
  constructor(seed: number, stream = 0) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    let s = lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(stream + 1, 0x165667b1);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(s);
      s = next;
      words.push(out);
    }
    [this.a, this.b, this.c, this.d] = words;
    for (let i = 0; i < 12; i++) this.uint32(); // warm up: the first outputs of sfc32 are weakly mixed
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits, like Python's random(). */
  random(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Integer in [0, n) for n up to 2^53, or in [start, stop) with two arguments. */
  randrange(startOrStop: number, stop?: number): number {
    const [lo, hi] = stop === undefined ? [0, startOrStop] : [startOrStop, stop];
    return lo + Math.floor(this.random() * (hi - lo));
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.random();
  }

  choice<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  /** Index drawn with the given cumulative weights (Python's choices(k=1) with cum_weights). */
  weightedIndex(cumulative: readonly number[]): number {
    const x = this.random() * cumulative[cumulative.length - 1];
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (x < cumulative[mid]) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Exponential with rate `lambda` (mean 1/lambda). */
  expovariate(lambda: number): number {
    return -Math.log(1 - this.random()) / lambda;
  }

  /** Gaussian by Box–Muller; the second value of each pair is kept for the next call. */
  normalvariate(mu: number, sigma: number): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mu + sigma * z;
    }
    const u = 1 - this.random(); // (0, 1]: log(0) must not happen
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mu + sigma * r * Math.cos(2 * Math.PI * v);
  }

  lognormvariate(mu: number, sigma: number): number {
    return Math.exp(this.normalvariate(mu, sigma));
  }

  /** `digits` random lower-case hex digits, zero-padded (Python's "%0Nx" % randrange(1 << 4N)). */
  hex(digits: number): string {
    let out = '';
    for (let left = digits; left > 0; left -= 8) {
      const word = this.uint32();
      out += BYTE_HEX[word >>> 24] + BYTE_HEX[(word >>> 16) & 255] + BYTE_HEX[(word >>> 8) & 255] + BYTE_HEX[word & 255];
    }
    return out.length === digits ? out : out.slice(0, digits);
  }

  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buf[i] = this.uint32() & 0xff;
    return buf;
  }
}

/** Running sums of weights, for Rng.weightedIndex. */
export function cumulativeWeights(weights: readonly number[]): number[] {
  let sum = 0;
  return weights.map((w) => (sum += w));
}
