import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  plainIntegerValue,
  type JsonAccessRecord,
  type JsonLayout,
  fastJsonFields,
  forgetJsonLayouts,
  learnJsonLayout,
  readJsonLayout,
} from '../../src/decode/json-fast.ts';
import { decodeJsonLine, decodeJsonLineSlow, eventFromJsonRecord } from '../../src/decode/json-line.ts';
import { ABSENT } from '../../src/decode/event.ts';
import { Reason } from '../../src/decode/reasons.ts';
import { formatEvents } from '../../src/simulate/formats.ts';
import { Rng } from '../../src/simulate/rng.ts';
import { simulateEvents } from '../../src/simulate/traffic.ts';
import { T, T_CLF, apigwLine } from './fixtures.ts';

/**
 * The fast JSON reader against the reference, decodeJsonLineSlow (JSON.parse and pick): for every line, a
 * layout either declines it or reads exactly what JSON.parse reads, so the event or reason is the same.
 */

const READ_KEYS = [
  'ip', 'sourceIp', 'requestTimeEpoch', 'requestTime', 'httpMethod', 'routeKey', 'resourcePath', 'path', 'status',
  'responseLength', 'responseLatency', 'userAgent', 'userArn', 'principalId', 'apiKeyId', 'caller', 'user',
] as const satisfies readonly (keyof JsonAccessRecord)[];

/** A line of API Gateway's recommended format as apitraffic.py writes it. */
const APITRAFFIC_LINE =
  '{"requestId":"b0290b37-602c-452b-1b73-58110dab2529","extendedRequestId":"uF+Q6Kl0=","ip":"125.51.240.127",' +
  '"requestTimeEpoch":1793577600096,"httpMethod":"GET","resourcePath":"/users/{id}","path":"/users/30440",' +
  '"status":200,"protocol":"HTTP/1.1","responseLength":883,"responseLatency":16,"integrationLatency":13,' +
  '"userAgent":"aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#20.18.0","caller":"-","user":"-",' +
  '"userArn":"-","principalId":"-","apiKeyId":"key00186652","wafResponseCode":"-","apiId":"a1b2c3d4e5",' +
  '"stage":"prod","domainName":"api.example.com"}';
/** The REST console JSON preset as apitraffic.py writes it (Python's `", "` and `": "` separators). */
const CONSOLE_REST_SPACED =
  '{"requestId": "b0290b37-602c-452b-1b73-58110dab2529", "ip": "125.51.240.127", "caller": "-", "user": "-", ' +
  `"requestTime": "${T_CLF}", "httpMethod": "GET", "resourcePath": "/users/{id}", "status": "200", ` +
  '"protocol": "HTTP/1.1", "responseLength": "883"}';
const CONSOLE_REST = JSON.stringify({
  requestId: '6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11', ip: '198.51.100.23', caller: 'AIDACKCEVSQ6C2EXAMPLE',
  user: 'AIDACKCEVSQ6C2EXAMPLE', requestTime: T_CLF, httpMethod: 'POST', resourcePath: '/orders', status: '201',
  protocol: 'HTTP/1.1', responseLength: '88',
});
const CONSOLE_HTTP = JSON.stringify({
  requestId: 'Vh2cXFkJIAMEb3Q=', ip: '198.51.100.23', requestTime: '21/Nov/2026:12:30:00 +0230', httpMethod: 'GET',
  routeKey: 'GET /items/{id}', status: '404', protocol: 'HTTP/1.1', responseLength: '-',
});

/** What JSON.parse gives for the keys read, absent keys as undefined (the fields a fast read must equal). */
function parsedReadKeys(line: string): Record<string, unknown> {
  const record = JSON.parse(line) as Record<string, unknown>;
  return Object.fromEntries(READ_KEYS.map((k) => [k, Object.hasOwn(record, k) ? record[k] : undefined]));
}

/**
 * Checks one line against one layout: where the layout reads the line, its fields are JSON.parse's and the event
 * or reason is the reference's. True when the layout read it (so a property can count the fast path's share).
 */
function checkLine(line: string, layout: JsonLayout | null, fallbackTime = ABSENT): boolean {
  const fields = layout === null ? null : readJsonLayout(line, layout);
  if (fields === null) return false;
  expect({ ...fields }).toStrictEqual(parsedReadKeys(line));
  expect(eventFromJsonRecord(fields, fallbackTime)).toEqual(decodeJsonLineSlow(line, fallbackTime));
  return true;
}

// ---- arbitrary lines ---------------------------------------------------------------------------------------

const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...READ_KEYS) },
  { weight: 2, arbitrary: fc.constantFrom('requestId', 'protocol', '__proto__', 'constructor', 'IP', 'ip ', 'paths', 'use', 'statusCode') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

/** Strings that need no escape in JSON, as most log values are. */
const plainText = fc.string({ unit: fc.constantFrom(...'aZ09 -/.:{}$#()é😀\u007f\u2028'), maxLength: 16 });

/** Strings of every kind: log-like text, quotes, backslashes, control characters, lone surrogates, astral. */
const text = fc.oneof(
  { weight: 1, arbitrary: plainText },
  fc.constantFrom(
    '-', '', '200', '0', '007', '1.5', '-3', '1e3', '203.0.113.7', '2001:db8::1', '::ffff:198.51.100.9', '/items/{id}',
    'GET /items/{id}', '$default', String(T), String(T / 1000), T_CLF, 'Mozilla/5.0 "quoted"', 'a\\b', '\u0000', '\t',
    'é', '😀', '\uD800', 'x":1,"ip":"1.2.3.4',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 20 }),
);
const anyText = fc.oneof({ weight: 4, arbitrary: plainText }, { weight: 1, arbitrary: text });

/** A value's JSON text: what JSON.stringify writes, and number spellings it never writes. */
const valueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 16, arbitrary: anyText.map((s) => JSON.stringify(s)) },
  { weight: 8, arbitrary: fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(T, T / 1000, 200, 404, 599, 0)).map(String) },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.maxSafeNat()).map((n) => JSON.stringify(n)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '1e2', '1E2', '2e+2', '200.0', '1.50', '-0', '-5', '0.5', '1234567890123456', '999999999999999', '12345678901234567890',
      '1793577600156', '0', '00', '01', '-', '', '+1', '.5', '1.', 'NaN', 'Infinity', '0x10',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null', 'tru', 'nul', 'True') },
  { weight: 1, arbitrary: fc.constantFrom('{}', '[]', '{"ip":"1.2.3.4"}', '[1,"a"]', '{"a":{"b":[null]}}') },
);

/** Whitespace where JSON allows it (and a BOM and a non-breaking space, which it does not). */
const space = fc.oneof(
  { weight: 20, arbitrary: fc.constant('') },
  { weight: 6, arbitrary: fc.constantFrom(' ', '  ', '\t', '\n', '\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\uFEFF', '\u00A0', '\u2028') },
);

/** Where a format puts whitespace: around the braces, the colons and the commas. */
const spacingOf = (sp: fc.Arbitrary<string>) => fc.record({
  lead: sp, afterOpen: sp, beforeColon: sp, afterColon: sp, beforeComma: sp, afterComma: sp, beforeClose: sp, trail: sp,
});
const spacing = spacingOf(space);
/** What a line may have in place of its format's spacing: other whitespace, none, or what JSON does not allow. */
const otherSpacing = spacingOf(fc.constantFrom('', ' ', '\t', '\n', ' \r\n', '\uFEFF', '\u00A0', ' \u2028', '\u000b'));
type Spacing = typeof spacing extends fc.Arbitrary<infer S> ? S : never;

function lineOf(keys: string[], s: Spacing, values: string[]): string {
  const pairs = keys.map((k, i) => `${JSON.stringify(k)}${s.beforeColon}:${s.afterColon}${values[i]}`);
  return `${s.lead}{${s.afterOpen}${pairs.join(`${s.beforeComma},${s.afterComma}`)}${s.beforeClose}}${s.trail}`;
}

/** A number the way a log writes it, or the way it does not (leading zeros, too many digits, sign, exponent). */
const numberText = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 99_999 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '00', '007', '1234567890123456', '999999999999999', '1e2', '-0', '-7', '1.50') },
);

/**
 * Two lines of one format (keys repeated or not, in any order): the first teaches the layout, the second is read
 * with it. The second mostly keeps the kind of each value (a new string for a string, a new number for a plain
 * number) and the spacing, as a log does; sometimes a value is anything at all or a space is another.
 */
const twoLinesOfAFormat = fc
  .record({
    keys: fc.array(key, { minLength: 0, maxLength: 10 }),
    spacing,
    otherSpacing,
    spacingChanged: fc.array(fc.nat({ max: 5 }).map((n) => n === 0), { minLength: 8, maxLength: 8 }),
    first: fc.array(valueText, { minLength: 10, maxLength: 10 }),
    replaced: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: valueText }), { minLength: 10, maxLength: 10 }),
    fresh: fc.array(fc.tuple(plainText, numberText), { minLength: 10, maxLength: 10 }),
  })
  .map(({ keys, spacing: s, otherSpacing, spacingChanged, first, replaced, fresh }) => {
    const names = Object.keys(s) as (keyof Spacing)[];
    const secondSpacing = { ...s };
    names.forEach((name, i) => {
      if (spacingChanged[i]) secondSpacing[name] = otherSpacing[name];
    });
    const second = first.map((v, i) =>
      replaced[i] ?? (v.startsWith('"') ? JSON.stringify(fresh[i][0]) : /^[0-9]+$/.test(v) ? fresh[i][1] : v));
    return { first: lineOf(keys, s, first), second: lineOf(keys, secondSpacing, second) };
  });

/** A record of the keys read plus others, serialised by JSON.stringify, compact or indented. */
const stringifiedRecord = fc
  .tuple(
    fc.dictionary(key, fc.oneof(anyText, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant({ a: [1] })), { maxKeys: 14 }),
    fc.constantFrom<undefined | number | string>(undefined, undefined, 1, '\t'),
  )
  .map(([record, indent]) => JSON.stringify(record, null, indent));

// ---- mutations of real-looking lines ---------------------------------------------------------------------------

const SEEDS = [
  APITRAFFIC_LINE,
  apigwLine(),
  apigwLine({ ip: null, sourceIp: '198.51.100.4', status: '200', responseLength: '512', requestTimeEpoch: String(T) }),
  apigwLine({ routeKey: 'GET /items/{id}', resourcePath: undefined, httpMethod: undefined, userArn: 'arn:aws:iam::123456789012:user/alice' }),
  CONSOLE_REST,
  CONSOLE_REST_SPACED,
  CONSOLE_HTTP,
];
const SPECIALS = ['"', '\\', ' ', ',', ':', '{', '}', '[', '-', '0', '9', '.', 'e', '\u0000', '\n', '\t', '\uFEFF', 'é', '\uD800', '😀', 'null'];

type Edit = { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; text: string } | { kind: 'delete'; at: number; length: number };
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...SPECIALS), fc.string({ unit: 'binary', maxLength: 6 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
);

function applyEdit(line: string, e: Edit): string {
  const at = e.at % (line.length + 1);
  if (e.kind === 'truncate') return line.slice(0, at);
  if (e.kind === 'insert') return line.slice(0, at) + e.text + line.slice(at);
  return line.slice(0, at) + line.slice(at + e.length);
}

const mutated = fc
  .record({ seed: fc.constantFrom(...SEEDS), edits: fc.array(edit, { minLength: 1, maxLength: 3 }) })
  .map(({ seed, edits }) => ({ seed, line: edits.reduce(applyEdit, seed) }));

// ---- the properties -----------------------------------------------------------------------------------------

describe('fast JSON reader: the same result as JSON.parse on every line', () => {
  beforeEach(() => forgetJsonLayouts());

  it('reads a line of a format learnt from another line of it exactly as JSON.parse does', () => {
    let read = 0;
    let runs = 0;
    fc.assert(
      fc.property(twoLinesOfAFormat, fc.constantFrom(ABSENT, T), ({ first, second }, fallbackTime) => {
        runs++;
        const layout = learnJsonLayout(first);
        if (checkLine(first, layout, fallbackTime)) read++;
        if (checkLine(second, layout, fallbackTime)) read++;
      }),
      { numRuns: 1000 },
    );
    // Not vacuous: a good share of the random lines take the fast path (about a tenth; a format whose keys repeat a
    // read key learns no layout, and both readers refuse its lines).
    expect(read / (2 * runs)).toBeGreaterThan(0.05);
  });

  it('reads JSON.stringify output of arbitrary records as JSON.parse does', () => {
    let read = 0;
    fc.assert(
      fc.property(stringifiedRecord, (line) => {
        if (checkLine(line, learnJsonLayout(line))) read++;
      }),
      { numRuns: 400 },
    );
    // Not vacuous: about one in ten random records takes the fast path (some 40 of 400); a bound far below that, so a
    // run of fast-check's random seed never fails it by chance.
    expect(read).toBeGreaterThan(10);
  });

  it('reads mutated real-looking lines with the unmutated line\'s layout as JSON.parse does', () => {
    const layouts = new Map(SEEDS.map((s) => [s, learnJsonLayout(s)]));
    let read = 0;
    fc.assert(
      fc.property(mutated, ({ seed, line }) => {
        if (checkLine(line, layouts.get(seed) ?? null, T)) read++;
        checkLine(line, learnJsonLayout(line));
      }),
      { numRuns: 1500 },
    );
    expect(read).toBeGreaterThan(50);
  });

  it('decodeJsonLine, layouts learnt along the way, gives the reference result for any mix of lines', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(mutated.map((m) => m.line), fc.constantFrom(...SEEDS), stringifiedRecord), { maxLength: 8 }), (lines) => {
        forgetJsonLayouts();
        for (const line of lines) expect(decodeJsonLine(line, T)).toEqual(decodeJsonLineSlow(line, T));
      }),
      { numRuns: 200 },
    );
  });
});

describe('fast JSON reader: explicit cases', () => {
  beforeEach(() => forgetJsonLayouts());

  /** The line through decodeJsonLine after `teacher` taught its layout: the reference result, and whether it was read fast. */
  function afterLearning(teacher: string, line: string): boolean {
    forgetJsonLayouts();
    expect(fastJsonFields(teacher)).not.toBeNull();
    const fast = fastJsonFields(line) !== null;
    expect(decodeJsonLine(line, T)).toEqual(decodeJsonLineSlow(line, T));
    return fast;
  }

  it.each([
    ['the apitraffic recommended-JSON line', APITRAFFIC_LINE],
    ['the REST console preset', CONSOLE_REST],
    ['the REST console preset with spaces', CONSOLE_REST_SPACED],
    ['the HTTP API console preset', CONSOLE_HTTP],
    ['a fixture line', apigwLine()],
  ])('reads %s fast, with the same event', (_name, line) => {
    expect(afterLearning(line, line)).toBe(true);
    expect(typeof decodeJsonLine(line, T)).toBe('object');
  });

  it('reads the apitraffic line to the expected event', () => {
    expect(decodeJsonLine(APITRAFFIC_LINE)).toEqual({
      time: 1793577600096, ip: '125.51.240.127', method: 'GET', path: '/users/30440', resource: '/users/{id}',
      status: 200, bytes: 883, latencyMs: 16, userAgent: 'aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#20.18.0',
      principal: 'key00186652',
    });
  });

  it('takes a present "ip": null over sourceIp, as JSON.parse and pick do', () => {
    const line = apigwLine({ ip: null, sourceIp: '198.51.100.4' });
    expect(afterLearning(line, line)).toBe(true);
    expect(decodeJsonLine(line)).toBe(Reason.missingClient);
    const withoutIp = apigwLine({ ip: undefined, sourceIp: '198.51.100.4' });
    expect(afterLearning(withoutIp, withoutIp)).toBe(true);
    expect(decodeJsonLine(withoutIp)).toMatchObject({ ip: '198.51.100.4' });
  });

  it('a read key given twice learns no layout: the line is refused (JSON.parse would keep the last, an injected value)', () => {
    const line = apigwLine().replace(/}$/, ',"ip":"198.51.100.99","status":404}');
    expect(learnJsonLayout(line)).toBeNull();
    expect(decodeJsonLine(line)).toBe(Reason.duplicateKey);
    // An unread key given twice is no threat: learnt and read.
    const unread = apigwLine().replace(/}$/, ',"stage":"a","stage":"b"}');
    expect(afterLearning(unread, unread)).toBe(true);
  });

  it.each([
    ['a \\u escape', apigwLine().replace('"GET"', '"\\u0047ET"')],
    ['an escaped key', apigwLine().replace('"ip"', '"\\u0069p"')],
    ['\\" inside the user agent', apigwLine({ userAgent: 'Mozilla/5.0 "quoted" x' })],
    ['a backslash in an unread value', apigwLine({ stage: 'a\\b' })],
    ['a raw control character', apigwLine().replace('Firefox', 'Fire\u0007fox')],
    ['a raw tab inside a string', apigwLine().replace('Firefox', 'Fire\tfox')],
    ['a BOM', '\uFEFF' + apigwLine()],
    ['a trailing comma', apigwLine().replace(/}$/, ',}')],
    ['text after the object', apigwLine() + 'x'],
    ['a second object', apigwLine() + apigwLine()],
    ['a bare dash', apigwLine().replace('"responseLength":512', '"responseLength":-')],
    ['an empty value', apigwLine().replace('"responseLatency":23', '"responseLatency":')],
    ['a status as 2e2', apigwLine().replace('"status":200', '"status":2e2')],
    ['a status as 200.0', apigwLine().replace('"status":200', '"status":200.0')],
    ['a negative zero length', apigwLine().replace('"responseLength":512', '"responseLength":-0')],
    ['a leading zero', apigwLine().replace('"responseLength":512', '"responseLength":0512')],
    ['a 16-digit epoch', apigwLine().replace(`"requestTimeEpoch":${T}`, `"requestTimeEpoch":${T}000`)],
    ['a nested object', apigwLine({ stage: { name: 'prod' } })],
    ['the status as a string', apigwLine({ status: '200' })],
    ['keys in another order', apigwLine().replace('"ip":"203.0.113.7",', '').replace(/}$/, ',"ip":"203.0.113.7"}')],
    ['a missing key', apigwLine({ userAgent: undefined })],
    ['a space after a colon', apigwLine().replace('"status":', '"status": ')],
    ['a BOM, a no-break space or a vertical tab for a space', CONSOLE_REST_SPACED.replace('"ip": ', '"ip":\uFEFF').replace(', "user"', ',\u00A0"user"').replace('"status": ', '"status":\u000b')],
    ['truncation', apigwLine().slice(0, -1)],
  ])('hands %s to JSON.parse, with the same result', (_name, line) => {
    expect(afterLearning(line.startsWith('{"requestId": ') ? CONSOLE_REST_SPACED : apigwLine(), line)).toBe(false);
  });

  it('reads a 15-digit number exactly and leaves a longer one to JSON.parse', () => {
    const teacher = apigwLine({ responseLength: 1 });
    expect(afterLearning(teacher, apigwLine({ responseLength: 999_999_999_999_999 }))).toBe(true);
    expect(afterLearning(teacher, apigwLine({ responseLength: 1_000_000_000_000_000 }))).toBe(false);
  });

  it('reads a line of a megabyte without trouble', () => {
    const line = apigwLine({ userAgent: 'A'.repeat(1 << 20), path: '/' + 'p'.repeat(1 << 20) });
    expect(afterLearning(apigwLine(), line)).toBe(true);
  });

  it('reads hostile lines in linear time with learnt layouts (no backtracking blow-up)', () => {
    const n = 100_000;
    const layouts = ['{"a":1,"b":2}', '{"status":200,"ip":"1.2.3.4"}', '{"a":-1.5e3,"b":"x"}', '{"a": "x", "b": 1}', APITRAFFIC_LINE]
      .map((t) => learnJsonLayout(t)!);
    const hostile = [
      '{"a":' + '1'.repeat(n), '{"status":' + '9'.repeat(n) + ',"ip":"1"}', '{"a":-' + '1'.repeat(n) + '.' + '2'.repeat(n) + 'e' + '3'.repeat(n),
      '{"a":' + ' '.repeat(n) + '"x"', '{"a":"x","b":"' + '"'.repeat(n), APITRAFFIC_LINE.slice(0, -1) + ' '.repeat(n), '{"a":"' + '\\'.repeat(n),
    ];
    const started = performance.now();
    for (const line of hostile) {
      for (const layout of layouts) expect(readJsonLayout(line, layout)).toBeNull();
      expect(learnJsonLayout(line)).toBeNull();
    }
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('learns no layout from a line it cannot read, and never throws on junk', () => {
    const junk = ['', ' ', '{}', '[]', '"x"', '{"a":{}}', '{"a":1,}', '{"a":-}', '{"a":01}', '{"a":1.}', '{"a":"\\n"}', '{"a":"\t"}', '{"é":1}', '{"a":1}}', '{"status":-1}', '{"status":1e2}'];
    for (const line of junk) {
      expect(learnJsonLayout(line)).toBeNull();
      forgetJsonLayouts();
      expect(decodeJsonLine(line)).toEqual(decodeJsonLineSlow(line));
    }
    expect(learnJsonLayout('{"a":-1.5e+3,"b":01}')).toBeNull();
    expect(learnJsonLayout('{"a":-1.5e+3,"b":1}')).not.toBeNull();
  });
});

describe('fast JSON reader: share of simulated traffic read fast', () => {
  beforeEach(() => forgetJsonLayouts());

  it.each(['apigw-json', 'console-json'] as const)('reads every %s line after the first fast, with the reference result', (f) => {
    const { events } = simulateEvents({ scenario: 'mixed', minutes: 1, seed: 7 });
    const lines = [...formatEvents(events, f, new Rng(7, 1))];
    expect(lines.length).toBeGreaterThan(1000);
    let fast = 0;
    for (const line of lines) {
      if (fastJsonFields(line) !== null) fast++;
      expect(decodeJsonLine(line)).toEqual(decodeJsonLineSlow(line));
    }
    expect(fast).toBe(lines.length);
  });
});

describe('plainIntegerValue', () => {
  it('reads every plain integer of 1 to 15 digits as Number() does', () => {
    const plain = fc.oneof(fc.constant('0'), fc.tuple(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 14 }))
      .map(([first, rest]) => `${first}${rest.join('')}`));
    fc.assert(fc.property(plain, (s) => {
      expect(plainIntegerValue(s)).toBe(Number(s));
    }), { numRuns: 20_000 });
    expect(plainIntegerValue('999999999999999')).toBe(999_999_999_999_999);
  });
});
