/** Summary partitions: a prefix and all its hosts share one, so detect sees a /24 with its addresses. */
export const DEFAULT_BUCKETS = 64;
/** Partitions of an on-demand summaries stream: it grows to 200 shards (200 MB/s of writes), and each needs one. */
const ON_DEMAND_BUCKETS = 256;

/**
 * Summary partitions for a summaries stream of `shards` shards: at least 64, and 4 a shard past 16, so every shard
 * has work (a partition is never split across shards: its records go to one explicit hash key, its own or, grouped,
 * its shard's first partition's). On a provisioned
 * stream ingest writes the partitions bound for one shard in the same records (IngestDeps.summaryShards); on demand
 * a partition's records are its own, so more partitions than the shards need would only cut records smaller.
 */
export function summaryBucketsFor(shards: number | 'on-demand'): number {
  return shards === 'on-demand' ? ON_DEMAND_BUCKETS : Math.max(DEFAULT_BUCKETS, 4 * shards);
}

/**
 * The shard of a stream of `shards` shards with equal hash ranges that holds `hashKey`. As CreateStream lays them out
 * (and the Kinesis twin): shard i starts at i·⌊2¹²⁸/shards⌋, the last one taking the remainder.
 */
export function shardOfHashKey(hashKey: string, shards: number): number {
  const step = (1n << 128n) / BigInt(shards);
  return Math.min(shards - 1, Number(BigInt(hashKey) / step));
}
