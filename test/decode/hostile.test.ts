import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../src/events.ts';
import { Reason, decodeAnyLine, decodeCloudWatchData, decodeLine, sanitiseExcerpt, type LineFormat } from '../../src/decode/index.ts';
import { repairBareDashes } from '../../src/decode/json-repair.ts';
import { MAX_FIELD_CHARS } from '../../src/decode/limits.ts';
import { CollectingSink, T_CLF, apigwLine, asEvent, cwlEnvelope, cwlRecordData } from './fixtures.ts';

const FORMATS: LineFormat[] = ['apigw-json', 'console-json', 'console-clf', 'console-csv', 'console-xml', 'combined'];
const N = 100_000;
const CLF_HEAD = `203.0.113.9 - - [${T_CLF}] "`;

/** Inputs built to make a backtracking or quadratic parser take seconds. */
const HOSTILE: Array<[string, string]> = [
  ['quotes', '"'.repeat(N)],
  ['spaces', ' '.repeat(N)],
  ['quotes and spaces', '" '.repeat(N / 2)],
  ['brackets', ' ['.repeat(N / 2)],
  ['backslashes in a request', CLF_HEAD + '\\'.repeat(N)],
  ['near-miss statuses in a request', CLF_HEAD + '" 2'.repeat(N / 3)],
  ['near-miss statuses after a request', CLF_HEAD + 'GET / HTTP/1.1" 200 1 "' + '" "'.repeat(N / 3)],
  ['unterminated JSON of bare dashes', '{"a":' + '-'.repeat(N)],
  ['JSON with many bare dashes', '{' + '"a":-,'.repeat(N / 6) + '"b":-}'],
  ['deep JSON', '['.repeat(N)],
  ['XML openers', '<request' + '<ip>'.repeat(N / 4)],
  ['commas', ','.repeat(N)],
  ['dotted runs', '1.1.1.1.'.repeat(N / 8)],
  ['colons', ':'.repeat(N)],
  ['hex', 'a'.repeat(N)],
  ['NUL bytes', '\u0000'.repeat(N)],
];

function isEventOrReason(r: AccessEvent | string): boolean {
  return typeof r === 'string' ? r.length > 0 : typeof r.ip === 'string' && r.status >= 100;
}

describe('hostile input', () => {
  it.each(HOSTILE)('decodes %s (100k chars) in bounded time', (_name, input) => {
    const started = performance.now();
    for (const format of FORMATS) expect(isEventOrReason(decodeLine(input, format))).toBe(true);
    expect(isEventOrReason(decodeAnyLine(input))).toBe(true);
    repairBareDashes(input);
    // Linear work on 100k chars takes about a millisecond per pass; a quadratic one would take seconds.
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('keeps control characters and markup in the user agent raw, and bounded', () => {
    const agent = '<script>alert(1)</script>\u0007\u001b[31m' + 'A'.repeat(10_000);
    const e = asEvent(decodeLine(apigwLine({ userAgent: agent, path: '/prod/' + 'p'.repeat(50_000), principalId: 'x'.repeat(5000) }), 'apigw-json'));
    expect(e.userAgent.startsWith('<script>alert(1)</script>\u0007\u001b[31m')).toBe(true);
    expect(e.userAgent).toHaveLength(MAX_FIELD_CHARS);
    expect(e.path).toHaveLength(MAX_FIELD_CHARS);
    expect(e.principal).toHaveLength(MAX_FIELD_CHARS);
  });

  it('bounds fields without splitting a surrogate pair', () => {
    const e = asEvent(decodeLine(apigwLine({ userAgent: 'a'.repeat(MAX_FIELD_CHARS - 1) + '😀😀' }), 'apigw-json'));
    expect(e.userAgent).toBe('a'.repeat(MAX_FIELD_CHARS - 1));
  });

  it('bounds a combined line with a huge request and agent', () => {
    const line = `${CLF_HEAD}GET /${'a'.repeat(100_000)} HTTP/1.1" 200 5 "-" "${'<b>'.repeat(10_000)}"`;
    const e = asEvent(decodeLine(line, 'combined'));
    expect([e.path.length, e.userAgent.length, e.status]).toEqual([MAX_FIELD_CHARS, MAX_FIELD_CHARS, 200]);
  });

  it('counts absurd values instead of passing them on', () => {
    expect(decodeLine(apigwLine({ responseLength: 1e300 }), 'apigw-json')).toBe(Reason.badBytes);
    expect(decodeLine(apigwLine({ responseLatency: 1e9 }), 'apigw-json')).toBe(Reason.badLatency);
    expect(decodeLine(apigwLine({ status: 200.5 }), 'apigw-json')).toBe(Reason.badStatus);
    expect(decodeLine(apigwLine({ requestTimeEpoch: 1e20 }), 'apigw-json')).toBe(Reason.timeOutOfRange);
    expect(decodeLine(apigwLine({ ip: '999.1.1.1' }), 'apigw-json')).toBe(Reason.clientNotIp);
  });

  it('never throws for a CloudWatch record of hostile messages', () => {
    const sink = new CollectingSink();
    const messages = HOSTILE.map(([, input]) => input.slice(0, 5000));
    decodeCloudWatchData(cwlRecordData(cwlEnvelope(messages)), sink);
    expect(sink.events.length + sink.rejects.length).toBe(messages.length);
    expect(sink.rejects.length).toBeGreaterThanOrEqual(messages.length - 1);
    expect(sink.rejects.every((r) => r.excerpt.length <= 121)).toBe(true);
  });
});

describe('sanitiseExcerpt', () => {
  it('replaces control characters, C1, DEL, bidi overrides and lone surrogates with U+FFFD', () => {
    expect(sanitiseExcerpt('a\u0000b\u001bc\u007fd\u0085e\u202Ef\uD800g\uDC00')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg\uFFFD');
  });

  it('keeps printable text, markup and surrogate pairs as they are (escaping is the renderer’s job)', () => {
    expect(sanitiseExcerpt('<script>"café" 😀</script>')).toBe('<script>"café" 😀</script>');
  });

  it('truncates to max characters with an ellipsis', () => {
    expect(sanitiseExcerpt('x'.repeat(500))).toBe('x'.repeat(120) + '…');
    expect(sanitiseExcerpt('abcdef', 3)).toBe('abc…');
    expect(sanitiseExcerpt('abc', 3)).toBe('abc');
  });
});
