import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reason, decodeAnyLine, decodeCloudWatchData, decodeLine, type LineFormat } from '../../src/decode/index.ts';
import { assertEventOrReason } from '../helpers/event-bounds.ts';
import { CollectingSink, T_CLF, apigwLine, cwlEnvelope, cwlRecordData } from './fixtures.ts';

const FORMATS: LineFormat[] = ['apigw-json', 'console-json', 'console-clf', 'console-csv', 'console-xml', 'combined'];
const REASONS = new Set<string>(Object.values(Reason));

/** Valid lines of every format, as seeds for mutation. */
const SEEDS = [
  apigwLine(),
  apigwLine({ ip: '2001:db8::1', userArn: 'arn:aws:iam::123456789012:user/alice' }).replace('"responseLength":512', '"responseLength":-'),
  JSON.stringify({ requestId: 'r', ip: '198.51.100.23', caller: '-', user: '-', requestTime: T_CLF, httpMethod: 'GET', resourcePath: '/', status: '200', protocol: 'HTTP/1.1', responseLength: '1' }),
  `198.51.100.23 AIDAEXAMPLE - [${T_CLF}] "GET /items/{id} HTTP/1.1" 200 512 6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`,
  `198.51.100.23 - - [${T_CLF}] "GET GET /items/{id} HTTP/1.1" 404 12 Vh2cXFkJIAMEb3Q=`,
  `"192.168.4.25 - - [${T_CLF}] "GET /fi?page='\\"()<ScRiPt>x</ScRiPt> HTTP/1.1" 301 736 "http://192.168.4.161/DVWA" "Mozilla/5.0""\r`,
  `68.49.152.86 - - [${T_CLF}] "GET" /hostadmin/?page=' HTTP/1.0" 501 345 "-" "Mozilla/4.75 (Nikto/1.32 )" "-"`,
  `198.51.100.23,AIDAEXAMPLE,-,${T_CLF},GET,/items/{id},HTTP/1.1,200,5,6d4c6b7e`,
  `198.51.100.23,${T_CLF},POST,POST /orders,HTTP/1.1,201,88,Vh2cXFkJIAMEb3Q=`,
  `<request id="x"> <ip>198.51.100.23</ip> <caller>-</caller> <user>-</user> <requestTime>${T_CLF}</requestTime> <httpMethod>GET</httpMethod> <resourcePath>/</resourcePath> <status>200</status> <protocol>HTTP/1.1</protocol> <responseLength>1</responseLength> </request>`,
];

const SPECIALS = ['"', ' ', '-', '\\', '[', ']', ',', '<', '>', ':', '{', '}', '\u0000', '\n', '\r', '9', '.', 'é', '\uD800', '😀'];

type Edit =
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'replace'; at: number; text: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; length: number; times: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...SPECIALS)) }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), text: fc.constantFrom(...SPECIALS) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }), times: fc.integer({ min: 2, max: 50 }) }),
);

function applyEdit(line: string, e: Edit): string {
  const at = line.length === 0 ? 0 : e.at % line.length;
  switch (e.kind) {
    case 'delete':
      return line.slice(0, at) + line.slice(at + e.length);
    case 'insert':
      return line.slice(0, at) + e.text + line.slice(at);
    case 'replace':
      return line.slice(0, at) + e.text + line.slice(at + 1);
    case 'truncate':
      return line.slice(0, at);
    case 'repeat':
      return line.slice(0, at) + line.slice(at, at + e.length).repeat(e.times) + line.slice(at + e.length);
  }
}

const mutatedLine = fc
  .record({ seed: fc.constantFrom(...SEEDS), edits: fc.array(edit, { minLength: 1, maxLength: 4 }) })
  .map(({ seed, edits }) => edits.reduce(applyEdit, seed));

const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme-ascii', maxLength: 300 }), mutatedLine);

describe('decoders never throw and always return an event or a reason', () => {
  it('the seeds themselves decode into events', () => {
    for (const seed of SEEDS) expect(typeof decodeAnyLine(seed), seed.slice(0, 40)).toBe('object');
  });

  it('decodeLine, for every format, on arbitrary and mutated lines', () => {
    fc.assert(
      fc.property(anyText, (line) => {
        for (const format of FORMATS) assertEventOrReason(decodeLine(line, format));
      }),
      { numRuns: 400 },
    );
  });

  it('decodeAnyLine on arbitrary and mutated lines', () => {
    fc.assert(fc.property(anyText, (line) => assertEventOrReason(decodeAnyLine(line))), { numRuns: 600 });
  });

  it('decodeCloudWatchData on arbitrary bytes, text and gzip of arbitrary JSON', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue().map((v) => gzipSync(Buffer.from(JSON.stringify(v) ?? 'null')).toString('base64')),
      fc.jsonValue().map((v) => cwlRecordData({ messageType: 'DATA_MESSAGE', logEvents: [v] })),
    );
    fc.assert(
      fc.property(input, (data) => {
        const sink = new CollectingSink();
        decodeCloudWatchData(data, sink);
        sink.events.forEach(assertEventOrReason);
        for (const u of sink.rejects) {
          if (!REASONS.has(u.reason) || u.excerpt.length > 121) throw new Error('bad unreadable');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decodeCloudWatchData accounts for every message of an envelope of mutated lines', () => {
    fc.assert(
      fc.property(fc.array(mutatedLine, { maxLength: 20 }), (messages) => {
        const sink = new CollectingSink();
        decodeCloudWatchData(cwlRecordData(cwlEnvelope(messages)), sink);
        sink.events.forEach(assertEventOrReason);
        expect(sink.events.length + sink.rejects.length).toBe(messages.length);
      }),
      { numRuns: 150 },
    );
  });
});
