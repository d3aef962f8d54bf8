import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { MemoryWindowStore } from '../../src/adapters/local/memory-window-store.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig } from '../../src/config.ts';
import { dedupeParts, DetectStage, notePiece, partsToCompare, pruneSources, sourceOf, unseenPiece } from '../../src/engine/detect.ts';
import { bucketHashKey, bucketOfKey, cloudWatchSource, eventsSource, IngestStage, shardOfHashKey, summaryBucketsFor } from '../../src/engine/ingest.ts';
import { hash32 } from '../../src/features/hash.ts';
import { Windower } from '../../src/features/windower.ts';
import { EncodedPartStore } from '../../src/engine/part-store.ts';
import { chunkPartIds, decodeSummaryRecord, encodeChunk, packSummaryRecords, type SummaryPart } from '../../src/engine/wire.ts';
import type { StreamRecord } from '../../src/ports/stream.ts';
import { generateTraffic } from '../../src/simulate/traffic.ts';
import { T0 } from '../helpers/events.ts';

/**
 * Ingest pre-aggregates per invocation: one part per (source shard, bucket, window) for the whole batch, its id
 * naming the batch's span of sequence numbers. What Kinesis does on failure must still count every request once:
 * the identical batch again after a reported failure (some of its summary records had landed), and the two halves of
 * a bisected batch after a failed invocation (the whole had landed).
 */

const part = (id: string, n = 1): SummaryPart => ({ id, w: 0, t: 0, n, e5: 0, i: [], p: [], u: [] });

describe('dedupeParts: each request once, whatever Kinesis redelivered', () => {
  it('reads old and new ids', () => {
    expect(sourceOf('shardId-1:0042/7/60000')).toMatchObject({ shard: 'shardId-1', first: '0042', sequence: '0042', rest: '/7/60000' });
    expect(sourceOf('shardId-1:0042-0099/7/60000')).toMatchObject({ first: '0042', sequence: '0099' });
    expect(sourceOf('chunk-without-source')).toBeNull();
    expect(sourceOf('s:12-/7/0')).toBeNull();
  });

  it('keeps the whole over its halves, in any order; keeps disjoint spans, other buckets, windows and shards', () => {
    const whole = part('s:100-199/3/0', 10);
    const halves = [part('s:100-149/3/0', 5), part('s:150-199/3/0', 5)];
    for (const order of [[whole, ...halves], [...halves, whole], [halves[1], whole, halves[0]]]) {
      const { kept, duplicates } = dedupeParts(order);
      expect(kept.map((p) => p.id)).toEqual([whole.id]);
      expect(duplicates).toBe(2);
    }
    const others = [part('s:200-299/3/0'), part('s:100-199/4/0'), part('s:100-199/3/60000'), part('t:100-199/3/0')];
    expect(dedupeParts([whole, ...others]).kept).toHaveLength(5);
    // Only the halves landed (the whole's record for this bucket never did): both count.
    expect(dedupeParts(halves).kept).toHaveLength(2);
    // The same part twice, and a single record's part inside a batch's span.
    expect(dedupeParts([whole, whole, part('s:150/3/0')]).kept.map((p) => p.id)).toEqual([whole.id]);
    // Sequence numbers of any length compare as integers (Kinesis's are 56 digits).
    const big = '4959000000000000000000000000000000000000000000000000000';
    expect(dedupeParts([part(`s:${big}1-${big}9/0/0`), part(`s:${big}2-${big}3/0/0`), part(`s:${big}9-${big}99/0/0`)]).kept).toHaveLength(2);
  });
});

describe('ingest over a batch, and Kinesis redelivering it', () => {
  let records: StreamRecord[];
  const cfg = parseConfig({});
  beforeAll(() => {
    const kin = generateTraffic({ scenario: 'mixed', minutes: 6, seed: 3, format: 'cwl-kinesis' });
    records = [...kin.lines].map((l) => {
      const r = JSON.parse(l) as { kinesis: { sequenceNumber: string; data: string } };
      return { sequenceNumber: r.kinesis.sequenceNumber, data: r.kinesis.data, shardId: 'shardId-000000000000' };
    });
  });

  /** Requests per window as detect counts them once every window has closed. */
  async function counted(summaries: StreamRecord[], detectBatch = 50): Promise<Map<number, number>> {
    const state = new SqliteState(':memory:');
    const perWindow = new Map<number, number>();
    const detect = new DetectStage({ windows: new EncodedPartStore(new MemoryWindowStore()), baselines: state, ledger: state, config: cfg,
      onWindow: (closed) => {
        let n = 0;
        for (const e of closed.keys.byIp.values()) n += e.ip.requests;
        perWindow.set(closed.start, (perWindow.get(closed.start) ?? 0) + n);
      } });
    const end = Date.parse('2100-01-01');
    // As the mapping delivers them: per summaries shard, in order, in batches.
    for (const shard of new Set(summaries.map((x) => x.shardId))) {
      const mine = summaries.filter((x) => x.shardId === shard);
      for (let i = 0; i < mine.length; i += detectBatch) expect((await detect.handle(mine.slice(i, i + detectBatch), end)).batchItemFailures).toEqual([]);
    }
    await detect.tick(end);
    state.close();
    return perWindow;
  }

  const total = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);

  /** Every closed window's keys and their features, detect reading its stored windows a chunk at a time or whole. */
  async function closedWindows(summaries: StreamRecord[], lazily: boolean): Promise<Record<string, unknown>> {
    const state = new SqliteState(':memory:');
    const out: Record<string, unknown> = {};
    const store = new EncodedPartStore(new MemoryWindowStore());
    if (!lazily) Object.defineProperty(store, 'readLazily', { value: undefined });
    const detect = new DetectStage({ windows: store, baselines: state, ledger: state, config: cfg,
      onWindow: (closed) => {
        // Key order (which sets the order of verdicts, and so ties at the block cap) and samples (evidence) too.
        const keys: Record<string, unknown> = { total: closed.keys.requests, order: [...closed.keys.byIp.keys(), ...closed.keys.byPrincipal.keys()] };
        for (const [k, e] of closed.keys.byIp) keys[`i ${k}`] = { ...e.ip.features(), sp: e.ip.samplePaths, su: e.ip.sampleUserAgents };
        for (const [k, w] of closed.keys.byPrefix) keys[`p ${k}`] = { ...w.features(), sp: w.samplePaths };
        for (const [k, w] of closed.keys.byPrincipal) keys[`u ${k}`] = { ...w.features(), su: w.sampleUserAgents };
        out[`${closed.start} ${Object.keys(out).length}`] = keys;
      } });
    const end = Date.parse('2100-01-01');
    for (const shard of new Set(summaries.map((x) => x.shardId))) {
      const mine = summaries.filter((x) => x.shardId === shard);
      for (let i = 0; i < mine.length; i += 7) expect((await detect.handle(mine.slice(i, i + 7), end)).batchItemFailures).toEqual([]);
    }
    await detect.tick(end);
    state.close();
    return out;
  }

  it('a window merged a chunk at a time holds what it holds read whole: redelivered, bisected and cut batches alike', async () => {
    const batch = records.slice(0, 30);
    const stream = new KinesisTwin({ shards: 2, throughput: false });
    const ingest = new IngestStage({ putter: stream, config: cfg, maxRecordBytes: 1_500, summaryEncoding: 'identity' });
    await ingest.handle(batch.map(cloudWatchSource));
    await ingest.handle(batch.map(cloudWatchSource)); // the identical batch again
    await ingest.handle(batch.slice(0, 15).map(cloudWatchSource)); // bisected
    await ingest.handle(batch.slice(15).map(cloudWatchSource));
    await ingest.handle(records.slice(30, 45).map(cloudWatchSource)); // a later batch, disjoint
    const all = stream.shardIds().flatMap((sh) => stream.read(sh, undefined, 100_000));
    expect(all.flatMap((x) => decodeSummaryRecord(x.data)).some((p) => /\.\d$/.test(p.id))).toBe(true); // some parts were cut
    const lazy = await closedWindows(all, true);
    expect(Object.keys(lazy).length).toBeGreaterThan(2);
    expect(lazy).toEqual(await closedWindows(all, false));
  });

  it('a chunk whose ids cannot be read from its text (an id written with escapes) is read whole, and counts the same', async () => {
    const stream = new KinesisTwin({ shards: 1, throughput: false });
    const r = await new IngestStage({ putter: stream, config: cfg, summaryEncoding: 'identity' }).handle(records.slice(0, 20).map(cloudWatchSource));
    const parts = stream.read(stream.shardIds()[0], undefined, 100_000).flatMap((x) => decodeSummaryRecord(x.data));
    const odd = parts.map((p, i) => (i === 0 ? { ...p, id: `${p.id}"quoted\\` } : p));
    expect(chunkPartIds(encodeChunk(odd))).toHaveLength(parts.length - 1);
    const summaries: StreamRecord[] = packSummaryRecords(odd, 900 * 1024, 'identity')
      .map((data, i) => ({ sequenceNumber: String(i + 1).padStart(20, '0'), data: Buffer.from(data).toString('base64'), shardId: 'shardId-s' }));
    const lazy = await closedWindows(summaries, true);
    expect(lazy).toEqual(await closedWindows(summaries, false));
    expect(Object.values(lazy).reduce((n: number, w) => n + (w as { total: number }).total, 0)).toBe(r.events);
  });

  it('a damaged stored chunk (not gzip, or not JSON) is counted once and dropped with its window, read lazily or whole', async () => {
    const W = T0 - (T0 % 60_000);
    for (const body of ['H4sIAAAA-not-gzip', gzipSync('{"v":2,"parts":[{"id":"s:1/0/0",').toString('base64')]) {
      for (const lazily of [true, false]) {
        const ws = new MemoryWindowStore();
        const store = new EncodedPartStore(ws);
        if (!lazily) Object.defineProperty(store, 'readLazily', { value: undefined });
        await ws.registerScope('s');
        await ws.add('s', [{ windowStart: W, partId: 'c', body }]);
        const state = new SqliteState(':memory:');
        const detect = new DetectStage({ windows: store, baselines: state, ledger: state, config: cfg });
        const damaged: number[] = [];
        for (let k = 1; k <= 3; k++) damaged.push((await detect.tick(W + k * 3_600_000)).damaged);
        expect(damaged, `${body.slice(0, 8)} lazily ${lazily}`).toEqual([1, 0, 0]);
        expect(await ws.openWindows('s')).toEqual([]);
        state.close();
      }
    }
  });

  it('only parts whose spans overlap in their source shard and bucket wait to be compared; the rest count by id alone', () => {
    expect([...partsToCompare(['s:1-9/3/0', 's:10-19/3/0', 's:20/3/0', 's:20/3/0', 'x', 't:1-9/3/0'])]).toEqual([]);
    // A whole and its half; pieces of one span; the same span under another id: their whole group waits.
    expect([...partsToCompare(['s:1-9/3/0', 's:1-4/3/0', 's:10-19/3/0', 's:1-9/4/0'])].sort()).toEqual(['s:10-19/3/0', 's:1-4/3/0', 's:1-9/3/0'].sort());
    expect([...partsToCompare(['s:5/3/0.0', 's:5/3/0.1', 's:6/3/0'])].sort()).toEqual(['s:5/3/0.0', 's:5/3/0.1', 's:6/3/0'].sort());
    expect([...partsToCompare(['s:10-19/3/0', 's:15-25/3/0'])].sort()).toEqual(['s:10-19/3/0', 's:15-25/3/0'].sort());
  });

  it('one batch makes far fewer and smaller summaries than its records one by one, and counts the same', async () => {
    const batch = records.slice(0, 40);
    const one = new KinesisTwin({ shards: 2, throughput: false });
    const each = new KinesisTwin({ shards: 2, throughput: false });
    const r = await new IngestStage({ putter: one, config: cfg, summaryEncoding: 'identity' }).handle(batch.map(cloudWatchSource));
    for (const rec of batch) await new IngestStage({ putter: each, config: cfg, summaryEncoding: 'identity' }).handle([cloudWatchSource(rec)]);
    const read = (t: KinesisTwin) => t.shardIds().flatMap((s) => t.read(s, undefined, 100_000));
    const bytes = (t: KinesisTwin) => read(t).reduce((n, x) => n + Buffer.from(x.data, 'base64').length, 0);
    expect(bytes(one)).toBeLessThan(bytes(each) / 2);
    // The same requests; which window a late one folds into depends on delivery, as in AWS.
    expect(total(await counted(read(one)))).toBe(r.events);
    expect(total(await counted(read(each)))).toBe(r.events);
  });

  it('buckets spread evenly over the summaries shards (explicit hash keys): 64 buckets on 16 shards, 4 each, in order', async () => {
    const stream = new KinesisTwin({ shards: 16, throughput: false });
    await new IngestStage({ putter: stream, config: cfg }).handle(records.slice(0, 40).map(cloudWatchSource));
    for (const [i, shard] of stream.shardIds().entries()) {
      const buckets = new Set(stream.read(shard, undefined, 100_000).flatMap((x) => decodeSummaryRecord(x.data)).map((p) => Number(p.id.split('/')[1])));
      expect([...buckets].sort((a, b) => a - b)).toEqual([4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);
    }
  });

  it('past 16 shards, partitions grow with the stream: 40 shards take 160 partitions, every shard 4 of them; on-demand 256', async () => {
    expect(summaryBucketsFor(1)).toBe(64);
    expect(summaryBucketsFor(16)).toBe(64);
    expect(summaryBucketsFor(40)).toBe(160);
    expect(summaryBucketsFor('on-demand')).toBe(256);
    const stream = new KinesisTwin({ shards: 40, throughput: false });
    // Enough distinct /24s that every one of 160 partitions gets some.
    const many = Array.from({ length: 20_000 }, (_, i) => ({ time: T0 + (i % 50_000), ip: `10.${i % 250}.${Math.floor(i / 250) % 80}.${1 + (i % 7)}`,
      method: 'GET', path: '/x', resource: '/x', status: 200, bytes: 10, latencyMs: 5, userAgent: 'ua', principal: '' }));
    await new IngestStage({ putter: stream, config: cfg, buckets: summaryBucketsFor(40) }).handle([eventsSource('access-0', '1', many)]);
    const perShard = stream.shardIds().map((shard) =>
      new Set(stream.read(shard, undefined, 100_000).flatMap((x) => decodeSummaryRecord(x.data)).map((p) => parseInt(p.id.split('/')[1], 10))));
    expect(perShard).toHaveLength(40);
    // Named with their count, so a batch retried across a change of the count never reuses an id for other keys.
    expect(stream.read(stream.shardIds()[0], undefined, 1).flatMap((x) => decodeSummaryRecord(x.data))[0].id).toMatch(/\/[0-3]of160\//);
    for (const [i, buckets] of perShard.entries()) expect([...buckets].sort((a, b) => a - b)).toEqual([4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);
  });

  it('with the summaries shards known, a batch\'s partitions bound for one shard share its records: the same parts on the same shards, one record each, fewer bytes', async () => {
    const batch = records.slice(0, 40);
    const grouped = new KinesisTwin({ shards: 2, throughput: false });
    const apart = new KinesisTwin({ shards: 2, throughput: false });
    await new IngestStage({ putter: grouped, config: cfg, summaryShards: 2 }).handle(batch.map(cloudWatchSource));
    await new IngestStage({ putter: apart, config: cfg }).handle(batch.map(cloudWatchSource));
    const recordsOn = (t: KinesisTwin, shard: string) => t.read(shard, undefined, 100_000);
    const partsOn = (t: KinesisTwin, shard: string) => recordsOn(t, shard).flatMap((x) => decodeSummaryRecord(x.data))
      .sort((a, b) => a.id.localeCompare(b.id));
    const bytes = (t: KinesisTwin) => t.shardIds().flatMap((sh) => recordsOn(t, sh)).reduce((n, x) => n + Buffer.from(x.data, 'base64').length, 0);
    let partitions = 0;
    for (const shard of grouped.shardIds()) {
      expect(recordsOn(grouped, shard)).toHaveLength(1);
      expect(partsOn(grouped, shard)).toEqual(partsOn(apart, shard));
      partitions += new Set(partsOn(apart, shard).map((p) => p.id.split('/')[1])).size;
      expect(recordsOn(apart, shard).length).toBeGreaterThan(1);
    }
    expect(partitions).toBe(64);
    // Compressed together, the shard's partitions share what they repeat (agents, paths, the document's own frame).
    expect(bytes(grouped)).toBeLessThan(bytes(apart) * 0.95);
  });

  // Small records: a shard's share of the batch spans many of them (grouped), or one partition's JSON is over the limit
  // though its gzip is not (one partition, as on demand).
  it.each([
    ['grouped on one shard, small records', { summaryShards: 1, maxRecordBytes: 3000 }, 5],
    ['one partition, its JSON over the limit', { buckets: 1, maxRecordBytes: 12_000 }, 0],
    ['one partition over the limit even gzip\'d, cut into pieces', { buckets: 1, maxRecordBytes: 1_500 }, 2],
  ] as const)('a lagging batch across a window boundary, records read one at a time (%s): every part counted once, a batch ingest delivers again not at all', async (_, deps, moreRecordsThan) => {
    const at = T0 + 900_000;
    const stream = new KinesisTwin({ shards: 1, throughput: false, clock: () => at });
    const stage = () => new IngestStage({ putter: stream, config: cfg, ...deps });
    const request = (ip: string, time: number) => ({ time, ip, method: 'GET', path: '/x', resource: '/x', status: 200, bytes: 10, latencyMs: 5,
      userAgent: 'ua', principal: '' });
    // Another access-log shard is ten minutes ahead; the lagging one's batch straddles the minute at T0 + 60 s.
    await stage().handle([eventsSource('shardId-A', '100', [request('192.0.2.1', T0 + 600_000)])]);
    const lagging = Array.from({ length: 400 }, (_, i) => request(`198.51.${i % 50}.${1 + (i % 200)}`, T0 + 50_000 + i * 50));
    const laggingBatch = () => [eventsSource('shardId-L', '200', lagging.slice(0, 200)), eventsSource('shardId-L', '201', lagging.slice(200))];
    await stage().handle(laggingBatch());
    const summaries = stream.read(stream.shardIds()[0], undefined, 100_000);
    expect(summaries.length).toBeGreaterThan(moreRecordsThan);
    const state = new SqliteState(':memory:');
    let counted = 0;
    const windows = new MemoryWindowStore();
    const detect = new DetectStage({ windows: new EncodedPartStore(windows), baselines: state, ledger: state, config: cfg,
      onWindow: (closed) => { for (const e of closed.keys.byIp.values()) counted += e.ip.requests; } });
    let redelivered = 0;
    let read = summaries.at(-1)!.sequenceNumber;
    const deliverNew = async () => {
      const fresh = stream.read(stream.shardIds()[0], read, 100_000);
      if (fresh.length) read = fresh.at(-1)!.sequenceNumber;
      for (const r of fresh) redelivered += (await detect.handle([r], at)).redeliveredParts;
    };
    for (const r of summaries) redelivered += (await detect.handle([r], at)).redeliveredParts;
    expect(redelivered).toBe(0);
    // The other shard moves on a minute, so what folds from here folds into another window than the first copies did
    // (where their ids would have caught a second copy).
    const other = async (seq: string, time: number) => { await stage().handle([eventsSource('shardId-A', seq, [request('192.0.2.1', time)])]); await deliverNew(); };
    await other('101', T0 + 720_000);
    // Ingest's batch failed after its put and came again: the same parts, under new records, none counted twice.
    await stage().handle(laggingBatch());
    await deliverNew();
    expect(redelivered).toBeGreaterThan(0);
    // Kinesis bisected it: its second half ends where the whole did, and is not counted again either.
    await other('102', T0 + 780_000);
    const before = redelivered;
    await stage().handle(laggingBatch().slice(1));
    await deliverNew();
    expect(redelivered).toBeGreaterThan(before);
    // Progress an earlier release wrote (no pieces): a piece at the mark is taken for a redelivery, as it was then.
    await other('103', T0 + 840_000);
    const scope = stream.shardIds()[0];
    const progress = (await windows.progress(scope))!;
    await windows.setProgress(scope, { sequence: progress.sequence, sources: progress.sources, seenAt: progress.seenAt });
    await stage().handle(laggingBatch());
    await deliverNew();
    await detect.tick(T0 + 3_600_000);
    expect(counted).toBe(404);
  });

  it('a bisected half of a cut batch ends where the whole did: its pieces are not counted again, however it was cut', async () => {
    const at = T0 + 900_000;
    const stream = new KinesisTwin({ shards: 1, throughput: false, clock: () => at });
    const stage = new IngestStage({ putter: stream, config: cfg, buckets: 1, maxRecordBytes: 1_500 });
    const request = (ip: string, time: number) => ({ time, ip, method: 'GET', path: '/x', resource: '/x', status: 200, bytes: 10, latencyMs: 5,
      userAgent: 'ua', principal: '' });
    await stage.handle([eventsSource('shardId-A', '100', [request('192.0.2.1', T0 + 600_000)])]);
    await stage.handle([eventsSource('shardId-L', '200', Array.from({ length: 300 }, (_, i) => request(`198.51.${i % 50}.${1 + (i % 200)}`, T0 + 50_000 + i * 20)))]);
    const scope = stream.shardIds()[0];
    const whole = stream.read(scope, undefined, 100_000);
    const pieces = whole.slice(1).flatMap((r) => decodeSummaryRecord(r.data));
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.every((p) => p.sp === 1)).toBe(true);
    const state = new SqliteState(':memory:');
    let counted = 0;
    const detect = new DetectStage({ windows: new EncodedPartStore(new MemoryWindowStore()), baselines: state, ledger: state, config: cfg,
      onWindow: (closed) => { for (const e of closed.keys.byIp.values()) counted += e.ip.requests; } });
    for (const r of whole) await detect.handle([r], at);
    // The half: the same last source record, another first, and pieces cut otherwise (tails the whole never had).
    const half = pieces.slice(1).map((p) => ({ ...p, id: p.id.replace('shardId-L:200/', 'shardId-L:199-200/') + '.9' }));
    const [record] = packSummaryRecords(half, 1_000_000);
    const r = await detect.handle([{ sequenceNumber: '9'.repeat(30), shardId: scope, data: Buffer.from(record).toString('base64') }], at);
    expect(r.redeliveredParts).toBe(half.length);
    await detect.tick(T0 + 3_600_000);
    expect(counted).toBe(301);
  });

  it('pieces remembered per source entry: a newer span starts afresh, another span is left alone, and past 32 only that there were too many', () => {
    const pieces: Record<string, string[]> = {};
    notePiece(pieces, 'k', true, '200', '/w.0');
    notePiece(pieces, 'k', false, '200', '/w.1');
    notePiece(pieces, 'k', false, '199', '/w.2'); // a bisected half's: not this span's
    expect(pieces.k).toEqual(['200', '/w.0', '/w.1']);
    expect([unseenPiece(pieces.k, '200', '/w.1'), unseenPiece(pieces.k, '200', '/w.2'), unseenPiece(pieces.k, '199', '/w.2'), unseenPiece(undefined, '200', '/w.2')])
      .toEqual([false, true, false, false]);
    for (let i = 2; i < 40; i++) notePiece(pieces, 'k', false, '200', `/w.${i}`);
    expect(pieces.k).toEqual(['200', '*']);
    expect(unseenPiece(pieces.k, '200', '/w.99')).toBe(false);
    notePiece(pieces, 'k', true, '300', '/v.0');
    expect(pieces.k).toEqual(['300', '/v.0']);
  });

  it('grouped, every partition lands on the shard its own key does, for counts that do not divide (9 on 6, 64 on 3, 160 on 40, 256 on 7)', () => {
    for (const [buckets, shards] of [[9, 6], [64, 3], [160, 40], [256, 7], [64, 1]]) {
      const stream = new KinesisTwin({ shards, throughput: false });
      const ranges = stream.shardIds().map((id) => stream.hashKeyRange(id)).map((r) => [BigInt(r.startingHashKey), BigInt(r.endingHashKey)]);
      for (let b = 0; b < buckets; b++) {
        const key = BigInt(bucketHashKey(b, buckets));
        expect(shardOfHashKey(bucketHashKey(b, buckets), shards), `${b} of ${buckets} on ${shards}`).toBe(ranges.findIndex(([lo, hi]) => key >= lo && key <= hi));
      }
    }
  });

  it('on a stream laid out other than ingest was told (resharded by hand), each partition still always lands on one shard', async () => {
    const stream = new KinesisTwin({ shards: 5, throughput: false });
    const stage = new IngestStage({ putter: stream, config: cfg, summaryShards: 2 });
    for (let k = 0; k < 4; k++) await stage.handle(records.slice(k * 20, k * 20 + 20).map(cloudWatchSource));
    const shardsOf = new Map<string, Set<string>>();
    for (const shard of stream.shardIds()) {
      for (const p of stream.read(shard, undefined, 100_000).flatMap((x) => decodeSummaryRecord(x.data))) {
        const partition = p.id.split('/')[1];
        if (!shardsOf.has(partition)) shardsOf.set(partition, new Set());
        shardsOf.get(partition)!.add(shard);
      }
    }
    expect(shardsOf.size).toBe(64);
    for (const [partition, on] of shardsOf) expect(on.size, partition).toBe(1);
  });

  it('a batch retried across a switch of the wire level (1 -> 2): every request counted once, in its host and in its /24', async () => {
    const events = Array.from({ length: 400 }, (_, i) => ({ time: T0 + i * 100, ip: `198.51.100.${1 + (i % 200)}`, method: 'GET',
      path: `/p${i}`, resource: '/p', status: 200, bytes: 10, latencyMs: 5, userAgent: 'ua', principal: '' }));
    // Four source records, cut into pieces of ~1 KB so that only some land on the first try.
    const batch = () => [1, 2, 3, 4].map((k) => eventsSource('shardId-0', String(k).padStart(20, '0'), events.slice((k - 1) * 100, k * 100).map((e) => ({ ...e }))));
    const ingest = async (derivePrefixes: boolean, records = batch()) => {
      const taken: { data: Uint8Array }[] = [];
      await new IngestStage({ putter: { put: async (r) => { taken.push(...r); } }, config: cfg, buckets: 1, maxRecordBytes: 1024, derivePrefixes }).handle(records);
      return taken.flatMap((r) => decodeSummaryRecord(r.data));
    };
    const count = (parts: SummaryPart[]) => {
      const w = new Windower({ sizeMs: 60_000, latenessMs: 5_000, ipv4Prefix: 24, ipv6Prefix: 64 });
      const d = dedupeParts(parts);
      for (const p of d.kept) w.addPartial(p, d.noDerive.get(p));
      const [c] = w.closeAll();
      return { total: c.keys.requests, hosts: [...c.keys.byIp.values()].reduce((n, e) => n + e.ip.requests, 0), prefix: c.keys.byPrefix.get('198.51.100.0/24')?.requests };
    };
    const first = await ingest(false);
    expect(first.length).toBeGreaterThan(4);
    const landed = first.slice(0, 1);
    const truth = { total: 400, hosts: 400, prefix: 400 };
    // The identical batch retried after ingest moved to level 2, and the same batch bisected into halves at level 2.
    expect(count([...landed, ...await ingest(true)])).toEqual(truth);
    expect(count([...landed, ...await ingest(true, batch().slice(0, 2)), ...await ingest(true, batch().slice(2))])).toEqual(truth);
    // Either level alone, pieces landing in any order.
    for (const level2 of [false, true]) {
      const whole = await ingest(level2);
      expect(count([...whole.filter((_, i) => i % 3 === 0), ...await ingest(level2, batch().slice(0, 2)), ...await ingest(level2, batch().slice(2))])).toEqual(truth);
    }
  });

  it('a scope\'s progress forgets access-log shards not seen for longer than a record can be redelivered (bounded item)', async () => {
    const store = new MemoryWindowStore();
    const state = new SqliteState(':memory:');
    const detect = new DetectStage({ windows: new EncodedPartStore(store), baselines: state, ledger: state, config: cfg });
    const HOUR = 3_600_000;
    let seq = 0;
    // Every two hours the access-log stream has a new shard (an on-demand stream resharding), for two days.
    for (let h = 0; h <= 48; h += 2) {
      const events = Array.from({ length: 20 }, (_, i) => ({ time: T0 + h * HOUR + i, ip: `198.51.100.${1 + i}`, method: 'GET', path: '/x',
        resource: '/x', status: 200, bytes: 10, latencyMs: 5, userAgent: 'ua', principal: '' }));
      const taken: { data: Uint8Array }[] = [];
      await new IngestStage({ putter: { put: async (r) => { taken.push(...r); } }, config: cfg }).handle([eventsSource(`shardId-${h}`, '7', events)]);
      const records = taken.map((r) => ({ sequenceNumber: String(++seq).padStart(20, '0'), shardId: 's', data: Buffer.from(r.data).toString('base64') }));
      expect((await detect.handle(records, T0 + h * HOUR + 1000)).batchItemFailures).toEqual([]);
    }
    const progress = (await store.progress('s'))!;
    const shards = new Set(Object.keys(progress.sources).map((k) => k.split('/')[0]));
    // The shards of the last 25 hours only (48 h back to 24 h: 13 of the 25 seen), each with its time.
    expect([...shards].sort()).toEqual(Array.from({ length: 13 }, (_, i) => `shardId-${24 + 2 * i}`).sort());
    expect(Object.keys(progress.seenAt!).sort()).toEqual(Object.keys(progress.sources).sort());
    // An entry an earlier release stored (no time) is given one, not dropped at once.
    const sources = { 'old/1': '5' };
    const seenAt: Record<string, number> = {};
    pruneSources(sources, seenAt, T0);
    expect(seenAt).toEqual({ 'old/1': T0 });
    const pieces = { 'old/1': ['5', '/1793577600000.0'] };
    pruneSources(sources, seenAt, T0 + 26 * HOUR, pieces);
    expect(sources).toEqual({});
    // Pieces go with their entry.
    expect(pieces).toEqual({});
  });

  it('a change of the partition count (64 -> 256, a switch to on-demand) keeps every key on its shard, and 64 is hash % 64 as before', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `198.${i % 256}.${Math.floor(i / 256)}.0/24`);
    for (const k of keys) expect(bucketOfKey(k, 64)).toBe(hash32(k) % 64);
    // The shard of a bucket: where its explicit hash key falls in a uniformly split stream of `shards`.
    const shardOf = (b: number, buckets: number, shards: number) => Number((BigInt(bucketHashKey(b, buckets)) * BigInt(shards)) >> 128n);
    for (const shards of [2, 4, 8, 16]) {
      const moved = keys.filter((k) => shardOf(bucketOfKey(k, 64), 64, shards) !== shardOf(bucketOfKey(k, 256), 256, shards));
      expect(moved, `${shards} shards`).toEqual([]);
    }
    // Past 16 shards: 160 partitions on 40 shards, then on demand (256): every bucket of 160 stays inside its shard.
    const spread = new Set(keys.map((k) => bucketOfKey(k, 160)));
    expect(spread.size).toBe(160);
  });

  it('a batch whose summaries landed in part, retried whole: every request counted once', async () => {
    const batch = records.slice(0, 30);
    // The first try: every summary record for one bucket fails until the putter gives up; the others land.
    let failing = true;
    const stream = new KinesisTwin({ shards: 2, throughput: false, putter: { maxAttempts: 2, sleep: async () => {} },
      failNext: (rec) => (failing && rec.partitionKey === 'b7' ? 'InternalFailure' : undefined) });
    const ingest = new IngestStage({ putter: stream, config: cfg });
    const first = await ingest.handle(batch.map(cloudWatchSource));
    // Kinesis retries the identical batch: ingest reports the first record (every record) failed.
    expect(first.batchItemFailures[0].itemIdentifier).toBe(batch[0].sequenceNumber);
    const landedFirst = stream.shardIds().reduce((n, s) => n + stream.read(s, undefined, 100_000).length, 0);
    expect(landedFirst).toBeGreaterThan(0);
    failing = false;
    const retry = await ingest.handle(batch.map(cloudWatchSource));
    expect(retry.batchItemFailures).toEqual([]);
    const all = stream.shardIds().flatMap((s) => stream.read(s, undefined, 100_000));
    const b7 = all.flatMap((x) => decodeSummaryRecord(x.data)).filter((p) => p.id.split('/')[1] === '7');
    expect(b7.length).toBeGreaterThan(0);
    // Stored twice over (the landed records again beside the retried ones), counted once.
    expect(total(await counted(all))).toBe(retry.events);
  });

  it.each([1_200, 2_000])('parts cut into pieces (records of %i B): the whole landed, then its halves; or only some pieces of the whole, then its halves: each request once', async (maxRecordBytes) => {
    const batch = records.slice(0, 30);
    for (const lose of [0, 3]) {
      // `lose`: every third summary record of the whole never lands (its invocation died while putting).
      let n = 0;
      const stream = new KinesisTwin({ shards: 2, throughput: false, putter: { maxAttempts: 1, sleep: async () => {} },
        failNext: () => (lose && ++n % lose === 0 ? 'InternalFailure' : undefined) });
      const ingest = new IngestStage({ putter: stream, config: cfg, maxRecordBytes, summaryEncoding: 'identity' });
      const whole = await ingest.handle(batch.map(cloudWatchSource));
      stream.clearFailures();
      await ingest.handle(batch.slice(0, 15).map(cloudWatchSource));
      await ingest.handle(batch.slice(15).map(cloudWatchSource));
      const all = stream.shardIds().flatMap((sh) => stream.read(sh, undefined, 100_000));
      const ids = all.flatMap((x) => decodeSummaryRecord(x.data)).map((p) => p.id);
      expect(ids.some((id) => /\.\d$/.test(id))).toBe(true); // some parts were cut
      // The halves follow the whole within seconds (the mapping retries at once), before any of its windows closes.
      expect(total(await counted(all, all.length))).toBe(whole.events);
    }
  });

  it('a batch that landed whole, then bisected into halves after a failed invocation: every request counted once', async () => {
    const batch = records.slice(0, 30);
    const stream = new KinesisTwin({ shards: 2, throughput: false });
    const ingest = new IngestStage({ putter: stream, config: cfg });
    const whole = await ingest.handle(batch.map(cloudWatchSource));
    await ingest.handle(batch.slice(0, 15).map(cloudWatchSource));
    await ingest.handle(batch.slice(15).map(cloudWatchSource));
    await ingest.handle(batch.slice(0, 8).map(cloudWatchSource)); // bisected again
    const all = stream.shardIds().flatMap((s) => stream.read(s, undefined, 100_000));
    expect(total(await counted(all))).toBe(whole.events);
  });
});
