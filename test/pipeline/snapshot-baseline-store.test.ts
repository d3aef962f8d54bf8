import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/adapters/aws/s3.ts';
import { MemoryBlobStore } from '../../src/adapters/local/memory-blob-store.ts';
import { decodeKeyState, encodeKeyState } from '../../src/detect/baseline.ts';
import { SnapshotBaselineStore, SnapshotContentionError, baselineBudget, encodeSnapshot } from '../../src/pipeline/snapshot-baseline-store.ts';
import { BlobConflictError, type BlobStore } from '../../src/ports-blob.ts';
import type { KeyState } from '../../src/ports.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';
import { parseConfig } from '../../src/config.ts';
import { statePlaceOf } from '../../src/engine/ingest.ts';

const MIN = 60_000;
const state = (lastWindow: number, reqMean = 2, windows = 5): KeyState =>
  ({ reqMean, reqVar: 0.3, bytesMean: 7.5, bytesVar: 0.4, ipsMean: 1, windows, flags: 0, lastWindow });

/** Counts requests, as S3 bills them. */
class CountingBlobs extends MemoryBlobStore {
  gets = 0;
  lists = 0;
  puts = 0;
  bytesReturned = 0;
  override async get(key: string, ifNoneMatch?: string) {
    this.gets++;
    const got = await super.get(key, ifNoneMatch);
    if (got && got !== 'unchanged') this.bytesReturned += got.body.length;
    return got;
  }
  override async list(prefix: string) {
    this.lists++;
    return super.list(prefix);
  }
  override async put(...args: Parameters<MemoryBlobStore['put']>) {
    this.puts++;
    return super.put(...args);
  }
}

describe('SnapshotBaselineStore', () => {
  it('encodes key states losslessly in a short string (what each snapshot entry holds)', () => {
    const s: KeyState = { reqMean: Math.log1p(17) / 3, reqVar: 0.1 + 17 / 7, bytesMean: Math.log1p(17_000), bytesVar: 1 / 3, ipsMean: 2,
      windows: 17, flags: 1, lastWindow: 1_700_001_020_000 };
    expect(decodeKeyState(encodeKeyState(s))).toEqual(s);
    expect(decodeKeyState('1,2,3')).toBeNull();
  });

  it('round-trips states per scope: a base and a delta object per scope', async () => {
    const blobs = new CountingBlobs();
    const store = new SnapshotBaselineStore(blobs);
    expect(await store.getMany(['i:198.51.100.7'], 'shardId-1')).toEqual(new Map());
    await store.putMany(new Map([['i:198.51.100.7', state(10 * MIN)], ['u:alice', state(10 * MIN, 3.25)]]), 'shardId-1');
    await store.putMany(new Map([['i:203.0.113.9', state(10 * MIN)]]), 'shardId-2');
    expect(await blobs.list('base/')).toEqual(['base/shardId-1', 'base/shardId-1.delta', 'base/shardId-2', 'base/shardId-2.delta']);

    // A fresh process (cold start) reads what was written; scopes do not see each other's keys.
    const cold = new SnapshotBaselineStore(blobs);
    const got = await cold.getMany(['i:198.51.100.7', 'u:alice', 'i:203.0.113.9'], 'shardId-1');
    expect(got.get('u:alice')).toEqual(state(10 * MIN, 3.25));
    expect(got.get('i:198.51.100.7')).toEqual(state(10 * MIN));
    expect(got.has('i:203.0.113.9')).toBe(false);
  });

  it('a window rewrites only the delta of changed keys; past compactAt of the base the two are merged', async () => {
    const blobs = new CountingBlobs();
    const store = new SnapshotBaselineStore(blobs, { compactAt: 0.1 });
    const population = new Map<string, KeyState>();
    for (let i = 0; i < 1000; i++) population.set(`i:10.0.${i >> 8}.${i & 255}`, state(MIN));
    await store.putMany(population, 's'); // a new scope: everything goes to the base
    expect(store.compactions).toBe(1);
    const baseTag = (await blobs.get('base/s')) as { etag: string };
    const putsBefore = blobs.puts;
    // Windows of 30 active keys each: deltas only, while at most 100 distinct keys (10% of the base) have changed.
    for (let w = 2; w <= 4; w++) {
      await store.putMany(new Map([...population.keys()].slice(w * 30, w * 30 + 30).map((k) => [k, state(w * MIN, w)])), 's');
    }
    expect(blobs.puts - putsBefore).toBe(3);
    expect(((await blobs.get('base/s')) as { etag: string }).etag).toBe(baseTag.etag);
    expect(store.compactions).toBe(1);
    const cold = await new SnapshotBaselineStore(blobs).getMany(['i:10.0.0.60', 'i:10.0.0.130', 'i:10.0.0.0'], 's');
    expect(cold.get('i:10.0.0.60')).toEqual(state(2 * MIN, 2)); // from the delta
    expect(cold.get('i:10.0.0.130')).toEqual(state(4 * MIN, 4));
    expect(cold.get('i:10.0.0.0')).toEqual(state(MIN)); // from the base

    await store.putMany(new Map([...population.keys()].slice(150, 161).map((k) => [k, state(5 * MIN, 5)])), 's');
    expect(store.compactions).toBe(2); // 101 changed keys, over 10% of 1,000: merged into a new base, the delta emptied
    const merged = await new SnapshotBaselineStore(blobs).getMany([...population.keys()], 's');
    expect(merged.size).toBe(1000);
    expect(merged.get('i:10.0.0.155')).toEqual(state(5 * MIN, 5));
    expect(merged.get('i:10.0.0.99')).toEqual(state(3 * MIN, 3));
  });

  it('a crash between writing the compacted base and emptying the delta loses nothing', async () => {
    const blobs = new MemoryBlobStore();
    const store = new SnapshotBaselineStore(blobs, { compactAt: 0 });
    await store.putMany(new Map([['u:alice', state(MIN, 1)], ['u:bob', state(MIN, 1)]]), 's');
    const put = blobs.put.bind(blobs);
    blobs.put = async (key, body, cond) => {
      if (key.endsWith('.delta')) throw new Error('Lambda timed out');
      return put(key, body, cond);
    };
    await expect(store.putMany(new Map([['u:alice', state(2 * MIN, 2)]]), 's')).rejects.toThrow('Lambda timed out');
    blobs.put = put;
    // The retry (Kinesis redelivers the batch) runs in a fresh process.
    const retry = new SnapshotBaselineStore(blobs, { compactAt: 0 });
    expect((await retry.getMany(['u:alice', 'u:bob'], 's')).get('u:alice')).toEqual(state(2 * MIN, 2));
    await retry.putMany(new Map([['u:bob', state(3 * MIN, 3)]]), 's');
    const got = await new SnapshotBaselineStore(blobs).getMany(['u:alice', 'u:bob'], 's');
    expect(got.get('u:alice')).toEqual(state(2 * MIN, 2));
    expect(got.get('u:bob')).toEqual(state(3 * MIN, 3));
  });

  it('after resharding, a new shard starts from its parents\' baselines and keeps them', async () => {
    const blobs = new CountingBlobs();
    const parent = new SnapshotBaselineStore(blobs, { compactAt: 0.5 });
    await parent.putMany(new Map([['u:alice', state(5 * MIN, 1)], ['u:bob', state(5 * MIN, 1)], ['u:carol', state(5 * MIN, 1)]]), 'shardId-000000000000');
    await parent.putMany(new Map([['u:alice', state(6 * MIN, 2)]]), 'shardId-000000000000'); // in the parent's delta
    const other = new SnapshotBaselineStore(blobs);
    await other.putMany(new Map([['u:dave', state(6 * MIN, 4)]]), 'shardId-000000000001');

    const child = new SnapshotBaselineStore(blobs);
    const got = await child.getMany(['u:alice', 'u:bob', 'u:dave', 'u:nobody'], 'shardId-000000000002');
    expect(got.get('u:alice')).toEqual(state(6 * MIN, 2)); // the parent's delta wins over its base
    expect(got.get('u:bob')).toEqual(state(5 * MIN, 1));
    expect(got.get('u:dave')).toEqual(state(6 * MIN, 4));
    expect(got.has('u:nobody')).toBe(false);
    expect(child.inheritedKeys).toBe(4);

    // The child's first write folds what it inherited into its own base: a cold start still has it.
    await child.putMany(new Map([['u:bob', state(7 * MIN, 3)]]), 'shardId-000000000002');
    const listsBefore = blobs.lists;
    const cold = new SnapshotBaselineStore(blobs);
    const again = await cold.getMany(['u:alice', 'u:bob', 'u:carol'], 'shardId-000000000002');
    expect(again.get('u:alice')).toEqual(state(6 * MIN, 2));
    expect(again.get('u:bob')).toEqual(state(7 * MIN, 3));
    expect(again.get('u:carol')).toEqual(state(5 * MIN, 1));
    expect(blobs.lists).toBe(listsBefore); // a scope with a base of its own inherits nothing more
    expect(cold.inheritedKeys).toBe(0);
  });

  it('a new shard inherits at most about maxKeys, the most recently seen, however many scopes there are', async () => {
    // Eight scopes of 2,000 keys each (parents and live shards alike), against a store that keeps 2,500 a scope.
    const blobs = new MemoryBlobStore();
    for (let p = 0; p < 8; p++) {
      const states = new Map<string, KeyState>();
      for (let k = 0; k < 2_000; k++) states.set(`i:10.${p}.${k >> 8}.${k & 255}`, state((p * 2_000 + k) * MIN));
      await blobs.put(`base/shardId-00000000000${p}`, encodeSnapshot([...states].map(([key, st]) => [key, encodeKeyState(st)])));
    }
    const child = new SnapshotBaselineStore(blobs, { maxKeys: 2_500 });
    const newest = 'i:10.7.7.207'; // the last key of the last scope: the most recently seen of all
    const oldest = 'i:10.0.0.0';
    const got = await child.getMany([newest, oldest, 'i:10.6.0.0'], 'shardId-000000000009');
    expect(got.get(newest)?.lastWindow).toBe((7 * 2_000 + 1_999) * MIN);
    expect(got.has(oldest)).toBe(false);
    expect(child.inheritedKeys).toBeLessThanOrEqual(2_500);
    expect(child.inheritedKeys).toBeGreaterThan(2_000);
    expect(child.cachedKeys()).toBeLessThanOrEqual(2_500);
    expect(child.evicted).toBe(0); // letting go of keys it never owned is not forgetting its own
  });

  it('with more to inherit than fits, a new shard keeps the keys of its own partitions first, however recent the others', async () => {
    // The parent held the keys of the lower half of the places (this child's), older; a live sibling the upper half,
    // all seen more recently. The child is first asked for keys of its own half.
    const placeOf = statePlaceOf(parseConfig({}));
    const own: string[] = [];
    const other: string[] = [];
    for (let i = 0; own.length < 2_000 || other.length < 2_000; i++) {
      const key = `u:user-${i}`;
      const list = placeOf(key)! < 2 ** 31 ? own : other;
      if (list.length < 2_000) list.push(key);
    }
    const blobs = new MemoryBlobStore();
    const write = (scope: string, keys: string[], t0: number) =>
      blobs.put(`base/${scope}`, encodeSnapshot(keys.map((k, i) => [k, encodeKeyState(state((t0 + i) * MIN))])));
    await write('shardId-000000000000', own, 0);
    await write('shardId-000000000001', other, 10_000);
    const asked = [...own.slice(0, 300), '~pop:ip'];
    const byPlace = new SnapshotBaselineStore(blobs, { maxKeys: 2_500, placeOf });
    const got = await byPlace.getMany(asked, 'shardId-000000000002');
    expect(got.size).toBe(300);
    // The keys of its own half the parent held, whatever the sibling's recency.
    const kept = (await byPlace.getMany(own, 'shardId-000000000002')).size;
    expect(kept).toBeGreaterThan(1_980);
    // A first window too thin to tell its range (a few keys, at night) does not narrow it to a sliver: recency decides.
    const thin = new SnapshotBaselineStore(blobs, { maxKeys: 2_500, placeOf });
    await thin.getMany(own.slice(0, 3), 'shardId-000000000004');
    expect((await thin.getMany(own, 'shardId-000000000004')).size).toBe(500);
    // Without places, recency decides: the sibling's newer keys push the parent's out.
    const byRecency = new SnapshotBaselineStore(blobs, { maxKeys: 2_500 });
    expect((await byRecency.getMany(own, 'shardId-000000000003')).size).toBeLessThan(1_000);
  });

  it('a warm process re-reads conditionally: nothing is transferred unless another process wrote meanwhile', async () => {
    const blobs = new CountingBlobs();
    const a = new SnapshotBaselineStore(blobs);
    await a.putMany(new Map([['u:alice', state(MIN)]]), 's');
    const before = blobs.bytesReturned;
    await a.getMany(['u:alice'], 's');
    await a.getMany(['u:alice'], 's');
    expect(blobs.bytesReturned).toBe(before); // 304s

    const b = new SnapshotBaselineStore(blobs);
    await b.putMany(new Map([['u:alice', state(2 * MIN, 4)]]), 's'); // another container took the shard for a while
    expect((await a.getMany(['u:alice'], 's')).get('u:alice')).toEqual(state(2 * MIN, 4));
    expect(blobs.bytesReturned).toBeGreaterThan(before);
  });

  it('two writers on one scope lose nothing: the later window of each key is kept', async () => {
    const blobs = new MemoryBlobStore();
    const a = new SnapshotBaselineStore(blobs);
    const b = new SnapshotBaselineStore(blobs);
    await a.getMany([], 's');
    await b.getMany([], 's');
    await a.putMany(new Map([['u:alice', state(5 * MIN, 1)], ['u:bob', state(9 * MIN, 1)]]), 's');
    // b read before a wrote: its write is refused, it reloads and merges.
    await b.putMany(new Map([['u:alice', state(6 * MIN, 2)], ['u:bob', state(8 * MIN, 2)], ['u:carol', state(7 * MIN, 2)]]), 's');
    const got = await new SnapshotBaselineStore(blobs).getMany(['u:alice', 'u:bob', 'u:carol'], 's');
    expect(got.get('u:alice')?.reqMean).toBe(2); // b's is later
    expect(got.get('u:bob')?.reqMean).toBe(1); // a's is later: b's older learning does not overwrite it
    expect(got.get('u:carol')?.reqMean).toBe(2);
    expect(b.conflicts).toBe(1);
  });

  it('gives up with a named error when every conditional write loses', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put = async (key: string) => {
      throw new BlobConflictError(key);
    };
    const store = new SnapshotBaselineStore(blobs, { maxConflictRetries: 2 });
    await expect(store.putMany(new Map([['u:alice', state(MIN)]]), 's')).rejects.toBeInstanceOf(SnapshotContentionError);
    expect(store.conflicts).toBe(3);
  });

  it('other failures of the blob store surface (the detect batch is retried), never swallowed', async () => {
    const blobs: BlobStore = new MemoryBlobStore();
    blobs.get = async () => {
      throw new Error('S3 unavailable');
    };
    await expect(new SnapshotBaselineStore(blobs).getMany(['u:alice'], 's')).rejects.toThrow('S3 unavailable');
  });

  it('a damaged snapshot or entry reads as never seen, and is counted', async () => {
    const blobs = new MemoryBlobStore();
    await blobs.put('base/garbage', Uint8Array.from([1, 2, 3]));
    const store = new SnapshotBaselineStore(blobs);
    expect(await store.getMany(['u:alice'], 'garbage')).toEqual(new Map());
    expect(store.corrupt).toBe(1);
    // Sound and damaged states, then lines no snapshot writer produces: no tab, an empty key, a broken quoted key.
    const lines = ['cordon-baselines 2', `u:alice\t${encodeKeyState(state(MIN))}`, 'u:bob\t1,2,nope', 'u:carol\t-30,0,0,0,0,1,0,60000',
      'no tab here', '\t1,2,3', '"u:dave\t1,2', ''];
    await blobs.put('base/s', gzipSync(lines.join('\n')));
    const mixed = new SnapshotBaselineStore(blobs);
    const got = await mixed.getMany(['u:alice', 'u:bob', 'u:carol', 'u:dave'], 's');
    expect([...got.keys()]).toEqual(['u:alice']);
    expect(mixed.corrupt).toBe(5); // three lines when read, two states when asked for
    // A header this release does not know (e.g. the JSON snapshots of earlier builds) is a damaged snapshot too.
    await blobs.put('base/old', gzipSync(JSON.stringify({ v: 1, entries: [['u:alice', encodeKeyState(state(MIN))]] })));
    const old = new SnapshotBaselineStore(blobs);
    expect(await old.getMany(['u:alice'], 'old')).toEqual(new Map());
    expect(old.corrupt).toBe(1);
  });

  it('reads a snapshot of several MB as it gunzips it, lines cut between chunks included; a truncated one is damaged', async () => {
    const blobs = new MemoryBlobStore();
    // Keys of multi-byte characters and varied lengths, so lines fall across the reader's 1 MB chunks at odd places.
    const entries = Array.from({ length: 40_000 }, (_, i) => [`u:ñandú-${'€'.repeat(i % 37)}-${i}`, encodeKeyState(state(MIN + i))] as [string, string]);
    const body = encodeSnapshot(entries);
    await blobs.put('base/big', body);
    const store = new SnapshotBaselineStore(blobs);
    const want = entries.map(([k]) => k);
    const got = await store.getMany(want, 'big');
    expect(got.size).toBe(want.length);
    for (const [k, enc] of entries) expect(got.get(k)).toEqual(decodeKeyState(enc));
    expect(store.corrupt).toBe(0);
    await blobs.put('base/cut', body.subarray(0, Math.floor(body.length / 2)));
    const cut = new SnapshotBaselineStore(blobs);
    expect(await cut.getMany(want, 'cut')).toEqual(new Map());
    expect(cut.corrupt).toBe(1);
    // Damaged lines, then a gzip error further on: one damaged object, counted once, as when it was read whole.
    await blobs.put('base/both', Buffer.concat([gzipSync('cordon-baselines 2\nno tab\nnor here\n'), body.subarray(0, Math.floor(body.length / 2))]));
    const both = new SnapshotBaselineStore(blobs);
    expect(await both.getMany(want.slice(0, 3), 'both')).toEqual(new Map());
    expect(both.corrupt).toBe(1);
    // A last line without its line break is still read.
    await blobs.put('base/open', gzipSync(`cordon-baselines 2\nu:alice\t${encodeKeyState(state(MIN))}`));
    expect((await new SnapshotBaselineStore(blobs).getMany(['u:alice'], 'open')).get('u:alice')).toEqual(state(MIN));
  });

  it('forgets idle keys and, past maxKeys, the least recently seen', async () => {
    const blobs = new MemoryBlobStore();
    const store = new SnapshotBaselineStore(blobs, { maxKeys: 3, maxIdleMs: 60 * MIN });
    await store.putMany(new Map([['k:old', state(0)], ['k:a', state(100 * MIN)], ['k:b', state(101 * MIN)]]), 's');
    expect(store.evicted).toBe(1); // k:old is 100 minutes older than the newest
    await store.putMany(new Map([['k:c', state(102 * MIN)], ['k:d', state(103 * MIN)]]), 's');
    const got = await new SnapshotBaselineStore(blobs).getMany(['k:old', 'k:a', 'k:b', 'k:c', 'k:d'], 's');
    expect([...got.keys()].sort()).toEqual(['k:b', 'k:c', 'k:d']);
    expect(store.evicted).toBe(2);
  });

  it('a warm process bounds its cache in keys over every scope it met: the least recently loaded leave, the one in use stays', async () => {
    const blobs = new CountingBlobs();
    // Stored directly: a scope first written through the store would inherit the others' keys (resharding).
    for (const scope of ['a', 'b', 'c']) {
      await blobs.put(`base/${scope}`, encodeSnapshot(Array.from({ length: 40 }, (_, i) => [`u:${scope}-${i}`, encodeKeyState(state(MIN))])));
    }
    const warm = new SnapshotBaselineStore(blobs, { maxKeys: 50, maxCachedKeys: 100 });
    const transferred = async (scope: string) => {
      const before = blobs.bytesReturned;
      expect((await warm.getMany([`u:${scope}-7`], scope)).size).toBe(1);
      return blobs.bytesReturned - before;
    };
    expect(await transferred('a')).toBeGreaterThan(0);
    expect(await transferred('b')).toBeGreaterThan(0);
    expect(warm.cachedKeys()).toBe(80);
    expect(await transferred('c')).toBeGreaterThan(0); // 120 keys: a, the least recently loaded, leaves
    expect(warm.cachedKeys()).toBe(80);
    expect(await transferred('b')).toBe(0); // still cached: re-read conditionally, nothing transferred
    expect(await transferred('a')).toBeGreaterThan(0); // read again
    expect(warm.cachedKeys()).toBe(80);
    // A window's write grows the scope in use (here its delta): the others make way then too, not only at the next read.
    const writer = new SnapshotBaselineStore(blobs, { maxKeys: 60, maxCachedKeys: 100, compactAt: 1 });
    await writer.getMany(['u:a-1'], 'a');
    await writer.getMany(['u:b-1'], 'b');
    expect(writer.cachedKeys()).toBe(80);
    await writer.putMany(new Map(Array.from({ length: 30 }, (_, i) => [`u:b-new-${i}`, state(2 * MIN)] as const)), 'b');
    expect(writer.cachedKeys()).toBe(70);
    // A scope not cached may bring maxKeys: the others leave before it is read, so the cache never holds both.
    const cold = new SnapshotBaselineStore(blobs, { maxKeys: 40, maxCachedKeys: 60 });
    await cold.getMany(['u:b-1'], 'b');
    const heldWhileReading: number[] = [];
    const get = blobs.get.bind(blobs);
    blobs.get = async (key, ifNoneMatch) => {
      heldWhileReading.push(cold.cachedKeys());
      return get(key, ifNoneMatch);
    };
    await cold.getMany(['u:c-1'], 'c');
    expect(heldWhileReading).toEqual([0, 0]); // b (70 keys) left before c's two objects were read
    expect(cold.cachedKeys()).toBe(40);
    blobs.get = get;
    // One scope over the budget on its own stays cached while in use; every other scope leaves.
    const small = new SnapshotBaselineStore(blobs, { maxCachedKeys: 10 });
    await small.getMany(['u:a-1'], 'a');
    await small.getMany(['u:c-1'], 'c');
    expect(small.cachedKeys()).toBe(40);
    const before = blobs.bytesReturned;
    await small.getMany(['u:c-2'], 'c');
    expect(blobs.bytesReturned).toBe(before);
  });

  it('sizes its bounds to the function\'s memory: a million keys a scope at 1,024 MB, the cache 30% of the memory', () => {
    expect(baselineBudget(1024)).toEqual({ maxKeys: 1_000_000, maxCachedKeys: 1_258_291 });
    expect(baselineBudget(2048)).toEqual({ maxKeys: 1_000_000, maxCachedKeys: 2_516_582 });
    expect(baselineBudget(512).maxKeys).toBe(629_145); // never a scope bigger than the cache
  });

  it('past maxKeys, of keys last seen at the same time the earliest stored go first', async () => {
    const blobs = new MemoryBlobStore();
    const store = new SnapshotBaselineStore(blobs, { maxKeys: 3, maxIdleMs: 600 * MIN });
    await store.putMany(new Map([['k:1', state(100 * MIN)], ['k:2', state(100 * MIN)], ['k:3', state(100 * MIN)],
      ['k:4', state(100 * MIN)], ['k:5', state(99 * MIN)]]), 's');
    const got = await new SnapshotBaselineStore(blobs).getMany(['k:1', 'k:2', 'k:3', 'k:4', 'k:5'], 's');
    expect([...got.keys()]).toEqual(['k:2', 'k:3', 'k:4']);
    expect(store.evicted).toBe(2);
  });

  it('a compaction whose write fails leaves the store and the warm cache as they were: the next window compacts again', async () => {
    const blobs = new MemoryBlobStore();
    const store = new SnapshotBaselineStore(blobs, { compactAt: 0.5 });
    await store.putMany(new Map([['k:a', state(MIN)], ['k:b', state(MIN)], ['k:c', state(MIN)], ['k:d', state(MIN)]]), 's');
    await store.putMany(new Map([['k:a', state(2 * MIN)]]), 's'); // a delta of one key
    const put = blobs.put.bind(blobs);
    let failing = true;
    blobs.put = async (key, body, cond) => {
      if (failing && key === 'base/s') throw new Error('S3 unavailable');
      return put(key, body, cond);
    };
    const update = new Map([['k:b', state(3 * MIN)], ['k:e', state(3 * MIN)]]); // the delta would pass half the base
    await expect(store.putMany(update, 's')).rejects.toThrow('S3 unavailable');
    expect(store.compactions).toBe(1);
    // The warm store reads what is stored (the failed window's states were never written), as a cold one does.
    const keys = ['k:a', 'k:b', 'k:c', 'k:d', 'k:e'];
    expect(await store.getMany(keys, 's')).toEqual(await new SnapshotBaselineStore(blobs).getMany(keys, 's'));
    expect((await store.getMany(['k:a', 'k:b'], 's')).get('k:a')).toEqual(state(2 * MIN));
    expect((await store.getMany(['k:b'], 's')).get('k:b')).toEqual(state(MIN));
    failing = false;
    await store.putMany(update, 's');
    expect(store.compactions).toBe(2);
    const after = await new SnapshotBaselineStore(blobs).getMany(keys, 's');
    expect(after.get('k:a')).toEqual(state(2 * MIN));
    expect(after.get('k:b')).toEqual(state(3 * MIN));
    expect(after.size).toBe(5);
  });

  it('a read in flight while a compaction starts does not take the map being compacted back as the stored base', async () => {
    const blobs = new MemoryBlobStore();
    const store = new SnapshotBaselineStore(blobs, { compactAt: 0.5 });
    await store.putMany(new Map([['k:a', state(MIN)], ['k:b', state(MIN)], ['k:c', state(MIN)], ['k:d', state(MIN)]]), 's');
    const put = blobs.put.bind(blobs);
    let failing = true;
    blobs.put = async (key, body, cond) => {
      if (failing && key === 'base/s') throw new Error('S3 unavailable');
      return put(key, body, cond);
    };
    const reading = store.getMany(['k:b'], 's');
    const writing = store.putMany(new Map([['k:b', state(3 * MIN)], ['k:e', state(3 * MIN)], ['k:f', state(3 * MIN)]]), 's').catch((e: Error) => e.message);
    expect(await writing).toBe('S3 unavailable');
    await reading;
    failing = false;
    const keys = ['k:a', 'k:b', 'k:e'];
    expect(await store.getMany(keys, 's')).toEqual(await new SnapshotBaselineStore(blobs).getMany(keys, 's'));
    expect((await store.getMany(['k:b'], 's')).get('k:b')).toEqual(state(MIN));
  });

  it('keeps a keyed scope with characters JSON must escape intact', async () => {
    const blobs = new MemoryBlobStore();
    const key = 'u:arn:aws:iam::123456789012:user/"odd"\n\tname\u2028😀';
    await new SnapshotBaselineStore(blobs).putMany(new Map([[key, state(MIN)]]), 's');
    expect((await new SnapshotBaselineStore(blobs).getMany([key], 's')).get(key)).toEqual(state(MIN));
  });
});

describeMoto('SnapshotBaselineStore on S3 (moto)', () => {
  const moto = useMoto();
  let s3: S3Client;
  beforeAll(async () => {
    s3 = new S3Client({ ...moto.clientConfig(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'cordon-baselines' }));
  });
  afterAll(() => s3?.destroy());

  it('50,000 keys round-trip through the base object; concurrent writers converge through If-Match', async () => {
    const blobs = new S3BlobStore(s3, 'cordon-baselines');
    const states = new Map<string, KeyState>();
    for (let i = 0; i < 50_000; i++) states.set(`i:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, state(MIN + (i % 7) * MIN, (i % 100) / 10));
    await new SnapshotBaselineStore(blobs).putMany(states, 'shardId-000000000000');
    const got = await new SnapshotBaselineStore(blobs).getMany([...states.keys()], 'shardId-000000000000');
    expect(got.size).toBe(50_000);
    expect(got.get('i:10.0.1.44')).toEqual(states.get('i:10.0.1.44'));

    const writers = [0, 1, 2, 3].map(() => new SnapshotBaselineStore(blobs));
    await Promise.all(writers.map((w) => w.getMany([], 'race')));
    await Promise.all(writers.map((w, i) => w.putMany(new Map([[`u:writer-${i}`, state(MIN)]]), 'race')));
    const merged = await new SnapshotBaselineStore(blobs).getMany(['u:writer-0', 'u:writer-1', 'u:writer-2', 'u:writer-3'], 'race');
    expect(merged.size).toBe(4);
  }, 60_000);
});
