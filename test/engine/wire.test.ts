import { brotliCompressSync, brotliDecompressSync, constants, crc32, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MemoryWindowStore } from '../../src/adapters/local/memory-window-store.ts';
import { COUNTER_NAMES, KeyWindow } from '../../src/features/key-window.ts';
import { cloudWatchSource, IngestStage, MAX_SUMMARY_RECORD_BYTES } from '../../src/engine/ingest.ts';
import { EncodedPartStore } from '../../src/engine/part-store.ts';
import { BadSummaryError, BROTLI_MAGIC, decodeChunk, decodeSummaryRecord, encodeChunk, NewerWireError, packSummaryRecords, packSummaryUnits, type ReadNotes, type SummaryPart, WIRE_LEVEL, WIRE_MINOR, writerOptions } from '../../src/engine/wire.ts';
import { parseConfig } from '../../src/config.ts';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { mulberry32 as rng } from '../helpers/rng.ts';
import { ev, MIN, spread, T0 } from '../helpers/events.ts';
import { cwlRecord, StageKit } from './stage-kit.ts';

/**
 * The reader of the first release (src/pipeline/stages.ts decodeSummary and KeyWindow.fromJSON of revision 1),
 * kept verbatim in spirit: a rolling deploy has old stages read what new ones write.
 */
function revision1Read(data: Buffer): SummaryPart[] {
  const doc = JSON.parse(gunzipSync(data).toString('utf8')) as { v?: number; parts?: SummaryPart[] };
  if (doc.v !== 1 || !Array.isArray(doc.parts)) throw new TypeError('not a cordon summary record');
  for (const p of doc.parts) {
    for (const [, w] of [...p.i, ...p.p, ...p.u]) {
      if (!Array.isArray(w.c) || w.c.length !== 12 || !Array.isArray(w.d) || w.d.length !== 5) throw new TypeError('malformed key window');
    }
  }
  return doc.parts;
}

/** The twelve counters of revision 2, in its order (what the previous release's COUNTER_NAMES held). */
const REVISION2_COUNTERS = ['requests', 'status4xx', 'status5xx', 'authFailures', 'notFound', 'throttled', 'bytes', 'latencySum',
  'latencyCount', 'loginPosts', 'attackPayloads', 'scannerAgentRequests'];

/**
 * The reader of revision 2 (the previous release's readDoc, kept verbatim in spirit): counters read by the names in the
 * document's header into its own twelve, those it does not know counted; then KeyWindow.fromJSON's check of twelve.
 */
function revision2Read(data: Buffer): { parts: SummaryPart[]; unknownCounters: number } {
  const doc = JSON.parse(gunzipSync(data).toString('utf8')) as { v?: number; counters?: string[]; parts?: SummaryPart[] };
  if (doc.v !== 1 || !Array.isArray(doc.parts)) throw new TypeError('not a cordon summary record');
  const names = doc.counters ?? REVISION2_COUNTERS;
  let unknownCounters = 0;
  for (const p of doc.parts) {
    for (const entry of [...p.i, ...p.p, ...p.u]) {
      const c = Array<number>(REVISION2_COUNTERS.length).fill(0);
      entry[1].c.forEach((v, i) => {
        const to = REVISION2_COUNTERS.indexOf(names[i]);
        if (to >= 0) c[to] = v;
        else if (v !== 0) unknownCounters++;
      });
      entry[1] = { ...entry[1], c };
      if (entry[1].c.length !== 12 || !Array.isArray(entry[1].d) || entry[1].d.length !== 5) throw new TypeError('malformed key window');
    }
  }
  return { parts: doc.parts, unknownCounters };
}

function partOf(id: string, requests: number, trapHits = 0): SummaryPart {
  const kw = new KeyWindow();
  for (let i = 0; i < requests; i++) {
    kw.add({ status: 404, bytes: 10, latencyMs: 5, method: 'GET', path: `/p${i}`, userAgent: 'ua', userAgentSample: 'ua', pathHash: i + 1,
      uaHash: 7, ipHash: 9, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false, trapHit: i < trapHits });
  }
  const s = kw.toJSON();
  return { id, w: T0, t: T0 + 1_000, n: requests, e5: 0, i: [['203.0.113.9', s]], p: [['203.0.113.0/24', s]], u: [] };
}

describe('wire: versions', () => {
  it('the previous release (revision 2) reads what this one writes: trap hits, a counter it does not know, dropped and counted', () => {
    const parts = [partOf('a', 12, 2), partOf('b', 3)];
    const [record] = packSummaryRecords(parts, MAX_SUMMARY_RECORD_BYTES);
    const old = revision2Read(record);
    expect(old.parts.map((p) => p.i[0][1].c)).toEqual([[12, 12, 0, 0, 12, 0, 120, 60, 12, 0, 0, 0], [3, 3, 0, 0, 3, 0, 30, 15, 3, 0, 0, 0]]);
    // Two parts (an IP and its prefix) of 'a' carried trap hits.
    expect(old.unknownCounters).toBe(2);
    // The first release's reader wants exactly twelve positional counters: it cannot read revision 3 (see src/engine/wire.ts).
    expect(() => revision1Read(record)).toThrow('malformed key window');
  });

  it('this release reads what the previous ones wrote: a revision-2 part (twelve named counters) has no trap hits', () => {
    const p = partOf('r2', 4);
    const twelve = (c: number[]) => c.slice(0, 12);
    const v2 = { v: 1, minor: 2, counters: REVISION2_COUNTERS,
      parts: [{ ...p, i: p.i.map(([k, w]) => [k, { ...w, c: twelve(w.c) }]), p: p.p.map(([k, w]) => [k, { ...w, c: twelve(w.c) }]) }] };
    const notes: ReadNotes = { foreignParts: 0, unknownCounters: 0 };
    for (const record of [gzipSync(JSON.stringify(v2)), Buffer.from(JSON.stringify(v2))]) {
      const [read] = decodeSummaryRecord(record, notes);
      expect(KeyWindow.fromJSON(read.i[0][1]).features()).toMatchObject({ requests: 4, notFound: 4, bytes: 40, trapHits: 0, failedLogins: 0 });
      expect(KeyWindow.fromJSON(read.p[0][1]).toJSON().c).toEqual([...p.p[0][1].c.slice(0, 12), 0, 0]);
    }
    // A stored chunk of the previous release, read back after the deploy.
    const [chunk] = decodeChunk(gzipSync(JSON.stringify(v2)).toString('base64'), notes);
    expect(KeyWindow.fromJSON(chunk.i[0][1]).features().trapHits).toBe(0);
    expect(notes).toEqual({ foreignParts: 3, unknownCounters: 0 });
  });

  it('this release reads what the first one wrote', () => {
    const twelve = (list: SummaryPart['i']): SummaryPart['i'] => list.map(([k, w]) => [k, { ...w, c: w.c.slice(0, 12) }]);
    const parts = [partOf('a', 12), partOf('b', 3)].map((p) => ({ ...p, i: twelve(p.i), p: twelve(p.p) }));
    // A revision-1 record: no minor, no counter names.
    const v1 = gzipSync(JSON.stringify({ v: 1, parts }));
    const notes: ReadNotes = { foreignParts: 0, unknownCounters: 0 };
    const read = decodeSummaryRecord(v1, notes);
    expect(read.map((p) => KeyWindow.fromJSON(p.i[0][1]).features().notFound)).toEqual([12, 3]);
    expect(notes.foreignParts).toBe(2);
  });

  it('the next revision (a new counter, new fields) is read: known counters kept by name, unknown ones counted', () => {
    const p = partOf('n', 5);
    const names = ['newCounter', ...COUNTER_NAMES];
    const reorder = (c: number[]) => [4, ...c];
    const next = { v: 1, minor: WIRE_MINOR + 1, counters: names, extra: { horizon: '10m' },
      parts: [{ ...p, x: 1, i: p.i.map(([k, w]) => [k, { ...w, c: reorder(w.c), h: [1, 2] }]), p: p.p.map(([k, w]) => [k, { ...w, c: reorder(w.c) }]) }] };
    const notes: ReadNotes = { foreignParts: 0, unknownCounters: 0 };
    const [read] = decodeSummaryRecord(gzipSync(JSON.stringify(next)), notes);
    expect(KeyWindow.fromJSON(read.i[0][1]).features()).toMatchObject({ requests: 5, notFound: 5, bytes: 50, distinctNotFoundPaths: 5 });
    expect(notes).toEqual({ foreignParts: 1, unknownCounters: 2 });
  });

  it('a newer compatibility level is not dropped: detect reports it failed (redelivered until a newer stage reads it)', async () => {
    const kit = new StageKit();
    await kit.ingestEvents(spread(50, T0, () => ({})));
    const [records] = [...kit.pending().values()];
    const newer = { sequenceNumber: '9'.repeat(30), shardId: records[0].shardId, data: gzipSync(JSON.stringify({ v: WIRE_LEVEL + 1, parts: [] })).toString('base64') };
    const r = await kit.detect.handle([...records, newer], T0 + MIN);
    expect(r.batchItemFailures).toEqual([{ itemIdentifier: newer.sequenceNumber }]);
    expect(() => decodeSummaryRecord(newer.data)).toThrow(NewerWireError);
  });

  it('stored chunks of every earlier form are read; a damaged one is counted, not thrown', async () => {
    const p = partOf('c', 2);
    expect(decodeChunk(encodeChunk([p]))[0].id).toBe('c');
    expect(decodeChunk(gzipSync(JSON.stringify([p])).toString('base64'))[0].id).toBe('c'); // the previous release's bare array
    expect(decodeChunk(JSON.stringify(p))[0].id).toBe('c'); // older still: one part as plain JSON
    const store = new EncodedPartStore(new MemoryWindowStore());
    await store.add('s', [{ windowStart: T0, chunkId: 'good', parts: [p] }]);
    await store.store.add('s', [{ windowStart: T0, partId: 'bad', body: 'H4sIAAAA-not-gzip' }]);
    const read = await store.read('s', T0);
    expect(read.chunks.map((c) => c.chunkId)).toEqual(['good']);
    expect(read.damaged).toBe(1);
  });
});

describe('wire: encodings', () => {
  it('identity writes the document itself where it fits, gzip where only compressed it fits; every reader reads both', () => {
    const parts = [partOf('a', 12), partOf('b', 3)];
    const [gz] = packSummaryRecords(parts, MAX_SUMMARY_RECORD_BYTES);
    const [plain] = packSummaryRecords(parts, MAX_SUMMARY_RECORD_BYTES, 'identity');
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    expect(plain.toString('utf8')).toBe(gunzipSync(gz).toString('utf8')); // the same document, uncompressed
    expect(plain.toString('utf8')).toBe(`{"v":1,"minor":${WIRE_MINOR},"counters":${JSON.stringify(COUNTER_NAMES)},"parts":[${parts.map((p) => JSON.stringify(p)).join(',')}]}`);
    expect(decodeSummaryRecord(plain)).toEqual(decodeSummaryRecord(gz));
    expect(decodeSummaryRecord(plain.toString('base64'))).toEqual(parts);
    // Over the limit uncompressed, under it compressed: the same single record, gzip'd (no needless split).
    const limit = Math.floor((plain.length + gz.length) / 2);
    const [tight, ...more] = packSummaryRecords(parts, limit, 'identity');
    expect(more).toEqual([]);
    expect([tight[0], tight[1]]).toEqual([0x1f, 0x8b]);
    expect(decodeSummaryRecord(tight)).toEqual(parts);
  });

  it('identity records are sized by their bytes: a batch cut to fit is cut the same way gzip would cut it, or finer', () => {
    const parts = Array.from({ length: 40 }, (_, i) => partOf(`p${i}`, 60));
    const limit = 16 * 1024;
    const plain = packSummaryRecords(parts, limit, 'identity');
    for (const r of plain) expect(r.length).toBeLessThanOrEqual(limit);
    expect(plain.flatMap((r) => decodeSummaryRecord(r)).map((p) => p.id)).toEqual(parts.map((p) => p.id));
  });

  it('a twin that delivers bytes hands over what was put, counts the same bytes, and still makes the base64 when read', async () => {
    const put = [{ partitionKey: 'b0', data: Buffer.from('{"v":1,"parts":[]}') }, { partitionKey: 'b1', data: Buffer.from([0x1f, 0x8b, 1, 2]) }];
    const plain = new KinesisTwin({ shards: 1, throughput: false, clock: () => T0 });
    const direct = new KinesisTwin({ shards: 1, throughput: false, clock: () => T0, deliverBytes: true });
    await plain.put(put);
    await direct.put(put);
    const [a, b] = [plain, direct].map((t) => t.read(t.shardIds()[0], undefined, 10));
    expect(direct.stats()).toEqual(plain.stats());
    expect(a.map((r) => r.bytes)).toEqual([undefined, undefined]);
    expect(b.map((r) => Buffer.from(r.bytes!))).toEqual(put.map((r) => r.data));
    expect(b.map((r) => r.data)).toEqual(a.map((r) => r.data));
    expect(b.map((r) => ({ ...r }))).toEqual(a.map((r, i) => ({ ...r, bytes: b[i].bytes })));
  });

  it('brotli (level 3) carries the same document, smaller than gzip, behind its own first bytes; this release reads it', () => {
    const parts = Array.from({ length: 30 }, (_, i) => partOf(`s:1-2/${i}/0`, 40));
    const [gz] = packSummaryRecords(parts, MAX_SUMMARY_RECORD_BYTES);
    const [br] = packSummaryRecords(parts, MAX_SUMMARY_RECORD_BYTES, 'brotli');
    expect([br[0], br[1]]).toEqual([...BROTLI_MAGIC]);
    expect(brotliDecompressSync(br.subarray(6)).toString('utf8')).toBe(gunzipSync(gz).toString('utf8'));
    expect(br.length).toBeLessThan(gz.length);
    expect(decodeSummaryRecord(br.toString('base64'))).toEqual(parts);
    // What an earlier release makes of it: not gzip, not a document; so level 3 is written only when told.
    expect(() => revision2Read(br)).toThrow();
    expect(writerOptions(1)).toEqual({ derivePrefixes: false, summaryEncoding: 'gzip', shortHashes: false, roundedSums: false });
    expect(writerOptions(2)).toEqual({ derivePrefixes: true, summaryEncoding: 'gzip', shortHashes: false, roundedSums: false });
    expect(writerOptions(3)).toEqual({ derivePrefixes: true, summaryEncoding: 'brotli', shortHashes: false, roundedSums: false });
    expect(writerOptions(4)).toEqual({ derivePrefixes: true, summaryEncoding: 'brotli', shortHashes: true, roundedSums: true });
  });

  it('a brotli bomb is refused, not inflated; a flipped bit anywhere is refused as damaged, never read as other numbers', () => {
    const framed = (body: Buffer) => { const h = Buffer.alloc(6); BROTLI_MAGIC.copy(h); h.writeUInt32BE(crc32(body), 2); return Buffer.concat([h, body]); };
    // A valid document padded past the 64 MiB cap: read as an empty record if the cap did not hold.
    const doc = Buffer.concat([Buffer.from('{"v":2,"parts":[]'), Buffer.alloc(80 * 1024 * 1024, 0x20), Buffer.from('}')]);
    const bomb = framed(brotliCompressSync(doc, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } }));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(() => decodeSummaryRecord(bomb)).toThrow(BadSummaryError);
    expect(decodeSummaryRecord(framed(brotliCompressSync(Buffer.from('{"v":2,"parts":[]   }'))))).toEqual([]);
    const [br] = packSummaryRecords([partOf('a', 5)], MAX_SUMMARY_RECORD_BYTES, 'brotli');
    const original = JSON.stringify(decodeSummaryRecord(br));
    let refused = 0;
    for (let bit = 0; bit < br.length * 8; bit++) {
      const bad = Buffer.from(br);
      bad[bit >> 3] ^= 1 << (bit & 7);
      try {
        // A flip that still reads must read the same numbers (none does with the CRC, but that is the point).
        expect(JSON.stringify(decodeSummaryRecord(bad))).toBe(original);
      } catch (err) {
        if (!(err instanceof BadSummaryError || err instanceof NewerWireError)) throw err;
        refused++;
      }
    }
    expect(refused).toBe(br.length * 8);
    expect(() => decodeSummaryRecord(br.subarray(0, br.length - 4))).toThrow(BadSummaryError);
    expect(() => decodeSummaryRecord(Buffer.from([...BROTLI_MAGIC, 0, 0]))).toThrow(BadSummaryError);
  });

  it('a brotli framing of a later revision is refused as newer (redelivered until a stage reads it), never skipped', () => {
    const [br] = packSummaryRecords([partOf('a', 5)], MAX_SUMMARY_RECORD_BYTES, 'brotli');
    const later = Buffer.from(br);
    later[1] = BROTLI_MAGIC[1] + 1;
    expect(() => decodeSummaryRecord(later)).toThrow(NewerWireError);
  });

  it('neither gzip nor a JSON document is not a summary record', () => {
    expect(() => decodeSummaryRecord(Buffer.from('not a record'))).toThrow(BadSummaryError);
    expect(() => decodeSummaryRecord(Buffer.from('{"v":'))).toThrow(BadSummaryError);
    expect(() => decodeSummaryRecord(new Uint8Array())).toThrow(BadSummaryError);
  });
});

describe('wire: no batch an attacker can sink', () => {
  it('a /24 sending long random paths and agents: every record under the limit, every request accounted for', async () => {
    const r = rng(17);
    const junk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(r() * 90))).join('');
    const events = Array.from({ length: 12_000 }, (_, i) => ev({ time: T0 + (i % 60_000), ip: `203.0.113.${i % 250}`, path: `/${junk(400)}`,
      userAgent: junk(300), status: 404 }));
    // A small limit makes the point with less data: the packing must hold whatever the limit.
    for (const summaryEncoding of ['gzip', 'brotli'] as const) {
      const twin = new KinesisTwin({ shards: 1, throughput: false });
      const ingest = new IngestStage({ putter: twin, config: parseConfig({}), buckets: 1, maxRecordBytes: 64 * 1024, summaryEncoding });
      const res = await ingest.handle([{ sequenceNumber: '1', shardId: 's', decode: (sink) => events.forEach((e) => sink.event(e)) }]);
      expect(res.batchItemFailures).toEqual([]);
      const records = twin.read(twin.shardIds()[0], undefined, 10_000);
      expect(records.length).toBeGreaterThan(1);
      let requests = 0;
      for (const rec of records) {
        expect(Buffer.from(rec.data, 'base64').length).toBeLessThanOrEqual(64 * 1024);
        for (const p of decodeSummaryRecord(rec.data)) requests += p.i.reduce((s, [, w]) => s + w.c[0], 0);
      }
      expect(requests, summaryEncoding).toBe(events.length);
    }
  });

  it('a line stamped in 2100 is clamped to its CloudWatch Logs timestamp; a poison record in the batch is skipped alone', async () => {
    const twin = new KinesisTwin({ shards: 1, throughput: false });
    const ingest = new IngestStage({ putter: twin, config: parseConfig({}) });
    const line = (t: number, ip: string) => JSON.stringify({ requestId: 'r', ip, requestTimeEpoch: t, httpMethod: 'GET', resourcePath: '/x',
      path: '/x', status: 200, protocol: 'HTTP/1.1', responseLength: 10 });
    const good = cwlRecord('1', [{ message: line(Date.UTC(2100, 0, 1), '192.0.2.1'), timestamp: T0 }, { message: line(T0 + 500, '192.0.2.2'), timestamp: T0 }]);
    const poison = { sequenceNumber: '2', shardId: 'shardId-000000000000', data: Buffer.from('not gzip at all').toString('base64') };
    const after = cwlRecord('3', [{ message: line(T0 + 1_000, '192.0.2.3'), timestamp: T0 + 1_000 }]);
    const res = await ingest.handle([good, poison, after].map(cloudWatchSource));
    expect(res).toMatchObject({ batchItemFailures: [], events: 3, unreadable: 1, clamped: 1 });
    const parts = twin.read(twin.shardIds()[0], undefined, 100).flatMap((rec) => decodeSummaryRecord(rec.data));
    expect(Math.max(...parts.map((p) => p.t))).toBeLessThanOrEqual(T0 + 1_000);
    expect(parts.map((p) => p.w).every((w) => w === T0 - (T0 % MIN))).toBe(true);
  });

  it('a line stamped long before its CloudWatch Logs timestamp keeps its time (detect counts it late): a re-put backlog never piles into one window', async () => {
    const twin = new KinesisTwin({ shards: 1, throughput: false });
    const ingest = new IngestStage({ putter: twin, config: parseConfig({}) });
    const line = (t: number, ip: string) => JSON.stringify({ requestId: 'r', ip, requestTimeEpoch: t, httpMethod: 'GET', resourcePath: '/x',
      path: '/x', status: 200, protocol: 'HTTP/1.1', responseLength: 10 });
    const at = T0 + 30 * MIN;
    const rec = cwlRecord('1', [{ message: line(at - 2 * 24 * 60 * MIN, '192.0.2.1'), timestamp: at }, { message: line(at - 10 * MIN, '192.0.2.2'), timestamp: at }]);
    const res = await ingest.handle([rec].map(cloudWatchSource));
    expect(res).toMatchObject({ batchItemFailures: [], events: 2, clamped: 0 });
    const windows = twin.read(twin.shardIds()[0], undefined, 100).flatMap((r) => decodeSummaryRecord(r.data))
      .flatMap((p) => p.i.map(([ip]) => [ip, p.w])).sort();
    const old = at - 2 * 24 * 60 * MIN;
    expect(windows).toEqual([['192.0.2.1', old - (old % MIN)], ['192.0.2.2', at - 10 * MIN - ((at - 10 * MIN) % MIN)]]);
  });
});

describe('wire: a shard\'s partitions packed together', () => {
  it('every record within the limit, every part once and in order, a partition cut across records only when it alone is over', () => {
    const r = rng(12);
    for (const encoding of ['gzip', 'brotli', 'identity'] as const) {
      for (const limit of [1500, 4000, 20_000]) {
        const units = Array.from({ length: 30 }, (_, u) => Array.from({ length: 1 + Math.floor(r() * 4) }, (_, k) => partOf(`s:1-2/${u}/${k}`, 1 + Math.floor(r() * 40))));
        const records = packSummaryUnits(units, limit, encoding);
        for (const rec of records) expect(rec.length).toBeLessThanOrEqual(limit);
        const read = records.map((rec) => decodeSummaryRecord(rec).map((p) => p.id));
        expect(read.flat()).toEqual(units.flat().map((p) => p.id));
        for (const [u, unit] of units.entries()) {
          const holding = read.filter((ids) => ids.some((id) => id.startsWith(`s:1-2/${u}/`))).length;
          const alone = packSummaryUnits([unit], Number.MAX_SAFE_INTEGER, encoding)[0].length;
          if (alone <= limit) expect(holding, `partition ${u} at ${limit} (${encoding})`).toBe(1);
        }
        if (limit === 20_000) expect(records.length).toBeLessThan(units.length / 2);
      }
    }
  });
});
