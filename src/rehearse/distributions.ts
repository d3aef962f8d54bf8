import { Rng } from '../simulate/rng.ts';

/**
 * Seeded delay distributions for `cordon rehearse`. Each sampler draws from its own PRNG stream, derived from the
 * run's seed and the sampler's name, so adding or drawing from one sampler never shifts another's draws.
 */

/** z of the 95th percentile of the standard normal. */
export const Z95 = 1.6448536269514722;

export type DelaySpec =
  | { kind: 'constant'; ms: number }
  | { kind: 'uniform'; minMs: number; maxMs: number }
  | { kind: 'exponential'; meanMs: number }
  | {
      kind: 'lognormal';
      /** The median of the lognormal core. */
      medianMs: number;
      /** Its 95th percentile (sets sigma). */
      p95Ms: number;
      /**
       * With this probability a draw comes from a uniform "lag" tail instead (the rare minute-long delays public
       * reports describe); the core's median shifts up slightly.
       */
      tail?: { probability: number; minMs: number; maxMs: number };
    };

export interface Bounds {
  minMs?: number;
  maxMs?: number;
}

export interface Sampler {
  readonly name: string;
  readonly spec: DelaySpec & Bounds;
  /** One draw, ms, clamped to the spec's bounds. */
  sample(): number;
}

/** 32-bit FNV-1a: a stable stream number from a name. */
export function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A PRNG for `name` under `seed`, independent of every other name's. */
export function rngFor(seed: number, name: string): Rng {
  return new Rng(seed, streamOf(name));
}

/** sigma of a lognormal with this median and 95th percentile. */
export function lognormalSigma(medianMs: number, p95Ms: number): number {
  if (!(medianMs > 0) || !(p95Ms >= medianMs)) throw new RangeError(`lognormal needs 0 < median <= p95 (got ${medianMs}, ${p95Ms})`);
  return Math.log(p95Ms / medianMs) / Z95;
}

export function makeSampler(name: string, spec: DelaySpec & Bounds, rng: Rng): Sampler {
  const lo = spec.minMs ?? 0;
  const hi = spec.maxMs ?? Infinity;
  const clamp = (x: number) => (x < lo ? lo : x > hi ? hi : x);
  let draw: () => number;
  switch (spec.kind) {
    case 'constant':
      draw = () => spec.ms;
      break;
    case 'uniform':
      draw = () => rng.uniform(spec.minMs, spec.maxMs);
      break;
    case 'exponential':
      draw = () => rng.expovariate(1 / spec.meanMs);
      break;
    case 'lognormal': {
      const mu = Math.log(spec.medianMs);
      const sigma = lognormalSigma(spec.medianMs, spec.p95Ms);
      const tail = spec.tail;
      draw = tail && tail.probability > 0
        ? () => (rng.random() < tail.probability ? rng.uniform(tail.minMs, tail.maxMs) : rng.lognormvariate(mu, sigma))
        : () => rng.lognormvariate(mu, sigma);
      break;
    }
  }
  return { name, spec, sample: () => clamp(draw()) };
}
