import type { SummaryWireLevel } from '../../src/engine/wire.ts';
import { describe, expect, it } from 'vitest';
import { replicate } from '../../bench/cost.ts';
import { simulate } from '../../bench/inputs.ts';
import { busiestShard, type DetectRun, ingestShard, keyChurn, monthKeys, ReplicatedStream, type ScaleRow, type ShardRecord, shardLayout, shardsToFit,
  SNAPSHOT_MAX_KEYS } from '../../bench/scale.ts';
import { parseConfig } from '../../src/config.ts';
import { bucketHashKey } from '../../src/engine/ingest.ts';

/** The scale section measures one detect Lambda on the records of its shard alone: these check it gets exactly those. */
describe('bench scale: one summaries shard', () => {
  const base = simulate(2, 5);
  const config = parseConfig({ allowlist: { cidrs: base.labels.allowlist } });

  it('streams replicate()\'s events in replicate()\'s order without building them', () => {
    const copies = 3;
    const expected = replicate(base, copies).events;
    const stream = new ReplicatedStream(base, copies);
    const got = [...stream.chunks(200)].flatMap(({ is, js }) => [...is].map((i, k) => stream.event(i, js[k])));
    expect(got.length).toBe(expected.length);
    expect(got.every((e, k) => JSON.stringify(e) === JSON.stringify(expected[k]))).toBe(true);
  });

  it('places partitions on shards as a uniformly split stream does, the same number on each', () => {
    const l = shardLayout(4);
    expect(l.buckets).toBe(64);
    expect([0, 1, 2, 3].map((s) => l.shardOfBucket.filter((x) => x === s).length)).toEqual([16, 16, 16, 16]);
    // Bucket b's explicit hash key is the middle of its slice, so the slices follow the shards in order.
    expect(l.shardOfBucket).toEqual([...l.shardOfBucket].sort((a, b) => a - b));
    expect(BigInt(bucketHashKey(0, 64))).toBeLessThan(1n << 126n);
    const odd = shardLayout(6);
    expect(odd.shardOfBucket.filter((s) => s === busiestShard(odd)).length).toBe(Math.max(...[0, 1, 2, 3, 4, 5].map((s) => odd.shardOfBucket.filter((x) => x === s).length)));
  });

  it('skipping the events that do not matter to a shard changes none of its records (real CloudWatch Logs records as reference)', async () => {
    const stream = new ReplicatedStream(base, 3);
    for (const [shards, shard, level2] of [[3, 1, false], [5, 4, true]] as const) {
      const plan = { config, accessShards: 2, layout: shardLayout(shards), shard, summaryLevel: (level2 ? 2 : 1) as SummaryWireLevel, seed: 5 };
      const full: ShardRecord[] = [];
      const skipped: ShardRecord[] = [];
      const a = await ingestShard(stream, plan, 'cwl', (r) => full.push(r));
      const b = await ingestShard(stream, plan, 'skip', (r) => skipped.push(r));
      expect(a.eventsIngested).toBe(stream.total);
      expect(b.eventsIngested).toBeLessThan(stream.total);
      expect(full.length).toBeGreaterThan(10);
      expect(skipped.length).toBe(full.length);
      for (let k = 0; k < full.length; k++) {
        expect(skipped[k].arrival).toBe(full[k].arrival);
        expect(Buffer.from(skipped[k].data).equals(Buffer.from(full[k].data))).toBe(true);
      }
    }
  }, 60_000);

  it('a month of the scenario\'s key churn fills a partition to the snapshot store\'s cap', () => {
    const churn = keyChurn(simulate(10, 5), config);
    expect(churn.firstWindowKeys).toBeGreaterThan(0);
    expect(churn.newKeysPerMinute).toBeGreaterThan(0);
    const one = monthKeys(churn, 1, 1);
    expect(one.seen).toBe(Math.round(churn.firstWindowKeys + churn.newKeysPerMinute * 30 * 24 * 60));
    expect(monthKeys(churn, 1000, 1 / 8).kept).toBe(SNAPSHOT_MAX_KEYS);
  });

  it('sizes the shards from a measured run: busy time and memory above the loaded snapshot fall as 1/shards', () => {
    const run = (peakRssMb: number, rssAfterLoadMb: number, outOfMemory = false) =>
      ({ peakRssMb, outOfMemory, rssAtStartMb: 100, snapshot: { rssAfterLoadMb } }) as unknown as DetectRun;
    const row = (shards: number, detectBusy: number, month: DetectRun, fresh = run(500, 0)) => ({ shards, detectBusy, month, fresh }) as unknown as ScaleRow;
    // 0.9 × 1,024 MB = 921.6 MB: (1,106 - 600) × 16 / 321.6 → 26 shards for memory; busy 1.48 × 16 / 0.8 → 30.
    expect(shardsToFit(row(16, 1.48, run(1106, 600)))).toBe(30);
    expect(shardsToFit(row(16, 0.5, run(1106, 600)))).toBe(26);
    expect(shardsToFit(row(16, 0.5, run(700, 600, true)))).toBe(16 + 1); // out of heap: at least one more
    expect(shardsToFit(row(2, 1.0, run(800, 600)))).toBe(3);
    expect(shardsToFit(row(2, 0.7, run(800, 600)))).toBeNull(); // keeps up, fits with room
    expect(shardsToFit(row(4, 0.5, run(950, 930)))).toBeNull(); // the baselines alone leave no room: more shards do not help
    // A month-old run out of heap counts although the fresh one peaked higher.
    expect(shardsToFit(row(4, 0.5, run(880, 600, true), run(900, 0)))).toBe(5);
    expect(shardsToFit(row(4, 0.5, run(700, 600), run(1000, 0)))).toBe(5); // the fresh partition over the mark
    expect(shardsToFit(row(4, Number.NaN, run(700, 600)))).toBeNull();
  });
});

