import { describe, expect, it } from 'vitest';
import { DELAYS, DeliveryModel, describeDelays, type DelayName } from '../../src/rehearse/delivery-model.ts';
import { Z95, lognormalSigma, makeSampler, rngFor, type Bounds, type DelaySpec } from '../../src/rehearse/distributions.ts';

const NAMES = Object.keys(DELAYS) as DelayName[];

function draws(model: DeliveryModel, name: DelayName, n: number): number[] {
  return Array.from({ length: n }, () => model.sample(name));
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Inverse standard normal CDF (Acklam's rational approximation; |error| < 1.2e-9). */
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** The median a spec's draws should have: the lognormal core's, shifted by the tail's share (tails sit above it). */
function expectedMedian(name: DelayName): number {
  const spec = DELAYS[name].spec;
  if (spec.kind !== 'lognormal') throw new Error('lognormal only');
  const p = 'tail' in spec && spec.tail ? spec.tail.probability : 0;
  const sigma = lognormalSigma(spec.medianMs, spec.p95Ms);
  return spec.medianMs * Math.exp(sigma * probit(0.5 / (1 - p)));
}

describe('delivery model', () => {
  it('every delay says where its figure comes from', () => {
    for (const name of NAMES) expect(DELAYS[name].source.length, name).toBeGreaterThan(10);
    expect(describeDelays().map((d) => d.name)).toEqual(NAMES);
  });

  it('is seeded: the same seed gives the same draws, another seed other draws', () => {
    for (const name of NAMES) {
      const a = draws(new DeliveryModel(42), name, 50);
      const b = draws(new DeliveryModel(42), name, 50);
      const c = draws(new DeliveryModel(43), name, 50);
      expect(a, name).toEqual(b);
      expect(a, name).not.toEqual(c);
    }
  });

  it('gives each distribution its own stream: drawing from one never shifts another', () => {
    const quiet = new DeliveryModel(7);
    const busy = new DeliveryModel(7);
    draws(busy, 'apigwToCloudWatchLogs', 1_000);
    busy.rng('something else').random();
    expect(draws(busy, 'wafPropagation', 20)).toEqual(draws(quiet, 'wafPropagation', 20));
  });

  it.each(NAMES)('%s has the documented median (and 95th percentile where there is no tail)', (name) => {
    const spec: DelaySpec & Bounds = DELAYS[name].spec;
    if (spec.kind !== 'lognormal') throw new Error('every delay is lognormal');
    const sorted = draws(new DeliveryModel(2026), name, 40_000).sort((x, y) => x - y);
    const median = quantile(sorted, 0.5);
    expect(median).toBeGreaterThan(expectedMedian(name) * 0.95);
    expect(median).toBeLessThan(expectedMedian(name) * 1.05);
    expect(Math.abs(median - spec.medianMs) / spec.medianMs).toBeLessThan(0.06);
    if (!('tail' in spec)) {
      const p95 = quantile(sorted, 0.95);
      expect(p95, 'p95').toBeGreaterThan(spec.p95Ms * 0.92);
      expect(p95, 'p95').toBeLessThan(spec.p95Ms * 1.08);
    }
    if (spec.minMs !== undefined) expect(sorted[0]).toBeGreaterThanOrEqual(spec.minMs);
    if (spec.maxMs !== undefined) expect(sorted[sorted.length - 1]).toBeLessThanOrEqual(spec.maxMs);
  });

  it('draws the lag tail at its probability and within its range', () => {
    const spec = DELAYS.apigwToCloudWatchLogs.spec;
    const xs = draws(new DeliveryModel(5), 'apigwToCloudWatchLogs', 50_000);
    // Almost nothing of the lognormal core (median 5 s, p95 20 s) reaches a minute; the tail is 1–3 minutes.
    const inTail = xs.filter((x) => x >= spec.tail.minMs).length / xs.length;
    expect(inTail).toBeGreaterThan(spec.tail.probability * 0.9);
    expect(inTail).toBeLessThan(spec.tail.probability * 1.35);
    expect(Math.max(...xs)).toBeLessThanOrEqual(spec.maxMs);
  });

  it('offers uniform, exponential and constant distributions, seeded', () => {
    const u = makeSampler('u', { kind: 'uniform', minMs: 10, maxMs: 20 }, rngFor(1, 'u'));
    const e = makeSampler('e', { kind: 'exponential', meanMs: 100 }, rngFor(1, 'e'));
    const c = makeSampler('c', { kind: 'constant', ms: 3 }, rngFor(1, 'c'));
    const us = Array.from({ length: 20_000 }, () => u.sample());
    const es = Array.from({ length: 20_000 }, () => e.sample()).sort((a, b) => a - b);
    expect(Math.min(...us)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...us)).toBeLessThan(20);
    expect(quantile(es, 0.5)).toBeGreaterThan(100 * Math.LN2 * 0.95);
    expect(quantile(es, 0.5)).toBeLessThan(100 * Math.LN2 * 1.05);
    expect(c.sample()).toBe(3);
    const u2 = makeSampler('u', { kind: 'uniform', minMs: 10, maxMs: 20 }, rngFor(1, 'u'));
    expect(u2.sample()).toBe(us[0]);
  });

  it('derives sigma from the median and the 95th percentile', () => {
    expect(lognormalSigma(1_000, 1_000 * Math.exp(Z95))).toBeCloseTo(1, 10);
    expect(() => lognormalSigma(10, 5)).toThrow(RangeError);
  });

  it('takes overrides, and names them in the description', () => {
    const m = new DeliveryModel(1, { overrides: { wafPropagation: { kind: 'constant', ms: 1_000 } } });
    expect(m.sample('wafPropagation')).toBe(1_000);
    expect(describeDelays(m).find((d) => d.name === 'wafPropagation')?.source).toMatch(/override/);
  });

  it('lags one shard by --lagging-shard: the named one, else the first in order', () => {
    const ids = ['shardId-000000000002', 'shardId-000000000000', 'shardId-000000000001'];
    const none = new DeliveryModel(1);
    expect(ids.map((id) => none.shardLagMs(id, ids))).toEqual([0, 0, 0]);
    const first = new DeliveryModel(1, { laggingShardMs: 90_000 });
    expect(ids.map((id) => first.shardLagMs(id, ids))).toEqual([0, 90_000, 0]);
    const named = new DeliveryModel(1, { laggingShardMs: 30_000, laggingShardId: 'shardId-000000000002' });
    expect(ids.map((id) => named.shardLagMs(id, ids))).toEqual([30_000, 0, 0]);
  });
});
