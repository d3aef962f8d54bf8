import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Reason, decodeCloudWatchData } from '../../src/decode/index.ts';
import { CollectingSink, T, T_CLF, apigwLine, cwlEnvelope, cwlRecordBytes, cwlRecordData } from './fixtures.ts';

function decode(data: string | Uint8Array): CollectingSink {
  const sink = new CollectingSink();
  decodeCloudWatchData(data, sink, { source: 'shard-0001', line: 0 });
  return sink;
}

describe('decodeCloudWatchData', () => {
  it('decodes base64 of gzip of a DATA_MESSAGE into one event per log event', () => {
    const sink = decode(cwlRecordData(cwlEnvelope([apigwLine(), apigwLine({ ip: '198.51.100.1', status: 429 })])));
    expect(sink.rejects).toEqual([]);
    expect(sink.events.map((e) => [e.ip, e.status, e.time])).toEqual([
      ['203.0.113.7', 200, T],
      ['198.51.100.1', 429, T],
    ]);
  });

  it('decodes raw record bytes (a Uint8Array view into a larger buffer) the same way', () => {
    const bytes = cwlRecordBytes(cwlEnvelope([apigwLine()]));
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    expect(decode(padded.subarray(5, 5 + bytes.length)).events).toHaveLength(1);
  });

  it('skips a CONTROL_MESSAGE without an event or an unreadable', () => {
    const control = cwlEnvelope(['CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.'], 'CONTROL_MESSAGE');
    const sink = decode(cwlRecordData({ ...control, logGroup: '', logStream: '', subscriptionFilters: [] }));
    expect(sink.events).toEqual([]);
    expect(sink.rejects).toEqual([]);
  });

  it('decodes each message in its own format (stages with different formats share a stream)', () => {
    const messages = [
      apigwLine(),
      `198.51.100.23 - - [${T_CLF}] "GET /items/{id} HTTP/1.1" 200 512 6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`,
      `198.51.100.23,-,-,${T_CLF},GET,/health,HTTP/1.1,200,2,6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`,
      `<request id="x"> <ip>198.51.100.23</ip> <requestTime>${T_CLF}</requestTime> <httpMethod>GET</httpMethod> <routeKey>GET /a</routeKey> <status>200</status> <responseLength>1</responseLength> </request>`,
    ];
    const sink = decode(cwlRecordData(cwlEnvelope(messages)));
    expect(sink.rejects).toEqual([]);
    expect(sink.events.map((e) => e.time)).toEqual([T, T, T, T]);
  });

  it('keeps the good events of a batch with one bad message, and counts the bad one with a sanitised excerpt', () => {
    const bad = '{"ip":"203.0.113.7","status":200,\u0000\u001b[31m';
    const sink = decode(cwlRecordData(cwlEnvelope([apigwLine(), bad, apigwLine()])));
    expect(sink.events).toHaveLength(2);
    expect(sink.rejects).toHaveLength(1);
    expect(sink.rejects[0]).toMatchObject({ reason: Reason.truncatedJson, source: 'shard-0001', line: 0 });
    expect(sink.rejects[0].excerpt).not.toMatch(/[\u0000-\u001f]/);
  });

  it('accepts event ids sent as numbers (emulators) and uses the event timestamp when a format has no time', () => {
    const envelope = cwlEnvelope([]);
    envelope.logEvents = [{ id: 37000000000000000000, timestamp: T + 5, message: '{"ip":"203.0.113.7","status":200}' }];
    const sink = decode(cwlRecordData(envelope));
    expect(sink.events.map((e) => e.time)).toEqual([T + 5]);
  });

  it('decodes the data as UTF-8, not ASCII', () => {
    const sink = decode(cwlRecordData(cwlEnvelope([apigwLine({ path: '/prod/items/café/日本', userAgent: 'Bot 🤖' })])));
    expect(sink.events[0].path).toBe('/prod/items/café/日本');
    expect(sink.events[0].userAgent).toBe('Bot 🤖');
  });

  it.each([
    ['text that is not base64 gzip', 'bm90IGd6aXA=', Reason.recordNotGzip],
    ['an empty record', '', Reason.recordNotGzip],
    ['gzip cut in half', cwlRecordBytes(cwlEnvelope([apigwLine()])).subarray(0, 30).toString('base64'), Reason.recordCorruptGzip],
    ['gzip of something that is not JSON', gzipSync(Buffer.from('hello')).toString('base64'), Reason.envelopeNotJson],
    ['an envelope without logEvents', cwlRecordData({ messageType: 'DATA_MESSAGE' }), Reason.envelopeNoEvents],
    ['an unknown messageType', cwlRecordData({ messageType: 'SURPRISE', logEvents: [] }), Reason.envelopeUnknownType],
    ['a messageType that is an object', cwlRecordData({ messageType: { toString: 1, valueOf: 1 }, logEvents: [] }), Reason.envelopeUnknownType],
    ['a gzip bomb', gzipSync(Buffer.alloc(40 * 1024 * 1024, 32)).toString('base64'), Reason.recordTooLarge],
  ])('counts %s as one unreadable record', (_name, data, reason) => {
    const sink = decode(data);
    expect(sink.events).toEqual([]);
    expect(sink.rejects.map((r) => r.reason)).toEqual([reason]);
  });

  it('counts a log event without a message, keeping the others', () => {
    const envelope = cwlEnvelope([apigwLine()]);
    (envelope.logEvents as unknown[]).push({ id: '1', timestamp: T }, null, 7);
    const sink = decode(cwlRecordData(envelope));
    expect(sink.events).toHaveLength(1);
    expect(sink.rejects.map((r) => r.reason)).toEqual([Reason.logEventNoMessage, Reason.logEventNoMessage, Reason.logEventNoMessage]);
  });
});
