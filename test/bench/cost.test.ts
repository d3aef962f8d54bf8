import { describe, expect, it } from 'vitest';
import { costModel, measureUsage, replicate, type Usage } from '../../bench/cost.ts';
import { cwlRecordsOf, simulate } from '../../bench/inputs.ts';
import { prefixOf } from '../../src/net/ip.ts';
import { principalKey } from '../../src/simulate/builder.ts';

/** The cost model prices what the benchmark measures; these check the parts that could quietly skew it. */
describe('bench cost model', () => {
  const base = simulate(3, 7);

  it('replicate: k populations with the same shape, disjoint addresses and principals, in time order', () => {
    const k = 4;
    const r = replicate(base, k);
    expect(r.events.length).toBe(base.events.length * k);
    expect(r.events.every((e, i) => i === 0 || r.events[i - 1].t <= e.t)).toBe(true);
    const distinct = (events: typeof base.events, f: (e: (typeof events)[number]) => string | null) =>
      new Set(events.map(f).filter((x) => x !== null)).size;
    // Keys multiply with the copies (a collision of two moved addresses would merge clients and undercount).
    expect(distinct(r.events, (e) => e.ip)).toBe(distinct(base.events, (e) => e.ip) * k);
    expect(distinct(r.events, (e) => prefixOf(e.ip, 24, 64))).toBe(distinct(base.events, (e) => prefixOf(e.ip, 24, 64)) * k);
    expect(distinct(r.events, (e) => (e.id ? principalKey(e.id) : null))).toBe(distinct(base.events, (e) => (e.id ? principalKey(e.id) : null)) * k);
    // A copy does what its original did (time, route, status, agent) on items, sizes and latencies of its own.
    const shape = (e: (typeof base.events)[number]) => JSON.stringify({ ...e, ip: '', id: null, path: e.path.replace(/[0-9]/g, '#'), len: 0, lat: 0 });
    const originals = new Map(base.events.map((b) => [shape(b), b]));
    const own = new Set(base.events);
    const copies = r.events.filter((e) => !own.has(e));
    expect(copies).toHaveLength(base.events.length * (k - 1));
    let moved = 0;
    let numbered = 0;
    for (const e of copies.filter((_, i) => i % 97 === 0)) {
      const b = originals.get(shape(e));
      expect(b, e.path).toBeDefined();
      expect(e.len).toBeGreaterThanOrEqual(Math.floor(b!.len * 0.8));
      expect(e.len).toBeLessThanOrEqual(Math.ceil(b!.len * 1.2));
      if (/[0-9]/.test(e.path)) {
        numbered++;
        if (e.path !== b!.path) moved++;
      }
    }
    expect(numbered).toBeGreaterThan(20);
    expect(moved).toBeGreaterThan(numbered * 0.9);
  });

  it('measures the deployed wiring: S3 requests, DynamoDB units and summary records all counted, none for nothing', async () => {
    const u = await measureUsage(base, 1, cwlRecordsOf(base, 7), 550);
    expect(u.requests).toBe(base.events.length);
    expect(u.windowsClosed).toBeGreaterThan(0);
    expect(u.s3.puts).toBeGreaterThan(u.windowsClosed); // window chunks and baseline snapshots
    expect(u.s3.gets).toBeGreaterThanOrEqual(2 * u.windowsClosed); // base and delta, read at every close
    expect(u.dynamoByKind.base).toBeUndefined(); // baselines are not in DynamoDB
    expect(u.largestSnapshotBytes).toBeGreaterThan(0);
    expect(u.summaryRecords).toBeGreaterThan(0);
  }, 60_000);

  it('prices each rate from the nearest measurement, shard-hours at the rate itself', () => {
    const usage = (rate: number, perRequest: number): Usage => ({
      rate, copies: 1, requests: 1_000_000, seconds: 1_000_000 / rate, ingestInvocations: perRequest, ingestCpuMs: 1000,
      accessRecords: 5000, accessBytes: 1e8, accessPutUnits: 5000, summaryRecords: 10_000, summaryBytes: 1e7, summaryPutUnits: 10_000,
      detectInvocations: 0, detectCpuMs: 1000, windowsClosed: 0, decisions: 0, dynamoCalls: 0, dynamoWriteUnits: 0, dynamoReadUnits: 0,
      dynamoByKind: {}, s3: { puts: 0, lists: 0, deletes: 0, gets: 0, bytesPut: 0 }, largestSnapshotBytes: 0, cwlBytes: 5e8,
    });
    const m = costModel([usage(100, 4000), usage(1000, 400)], [200, 1000, 10_000]);
    expect(m.rates).toEqual([100, 200, 1000, 10_000]);
    expect(m.measuredAt).toEqual([100, 100, 1000, 1000]);
    const invocations = m.rows.find((r) => r.item === 'Lambda invocations')!;
    expect(invocations.perMillion).toEqual([4000, 4000, 400, 400]);
    const shardHours = m.rows.find((r) => r.item.startsWith('Kinesis shard-hours'))!;
    // Two one-shard streams: 2 shard-hours an hour, spread over rate × 3,600 requests.
    expect(shardHours.dollars[2]).toBeCloseTo((2 * 0.015 * 1e6) / (1000 * 3600), 10);
    expect(shardHours.dollars[3]).toBeCloseTo(shardHours.dollars[2] / 10, 10);
    expect(m.shareOfCwl[3]).toBeLessThan(m.shareOfCwl[2]);
  });
});
