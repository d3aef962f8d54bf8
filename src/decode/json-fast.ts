/**
 * A fast reader for the JSON lines API Gateway writes. A log's format is fixed (`{"requestId":"$context…",…}`),
 * so every line has the same keys, in the same order, with the same spacing and the same kind of value under each
 * key. The first line teaches that layout; it becomes one regular expression of the literal text between the
 * values, which reads each later line in one native pass and captures only the keys the decoder uses. JSON.parse
 * builds every value of a ~20-key record and hashes every key, which (with its garbage) was the largest single
 * cost of a replay of recommended JSON; with this, decodeJsonLine reads such lines about twice as fast.
 * (A scanner in JavaScript was no faster than JSON.parse: V8 reads a sliced string a character at a time slowly.)
 *
 * A layout's expression matches only what it reads exactly as JSON.parse does, and nothing else gets through: a
 * line that does not match (another layout, a backslash or control character in any string, a nested value, a bare
 * `-`, a read number that is not plain digits, any syntax error) gives null, for JSON.parse to decode. So the
 * layouts learnt change how fast a line is read, never what is read.
 */

/** The value of a key the decoder reads; undefined when the line does not have the key. */
export type JsonScalar = string | number | boolean | null | undefined;

/**
 * The keys of a JSON access-log record that decodeJsonLine reads (json-line.ts reads the record through this
 * type, so reading another key there fails to compile until it is added here and to READ_KEYS).
 */
export interface JsonAccessRecord {
  readonly ip?: unknown;
  readonly sourceIp?: unknown;
  readonly requestTimeEpoch?: unknown;
  readonly requestTime?: unknown;
  readonly httpMethod?: unknown;
  readonly routeKey?: unknown;
  readonly resourcePath?: unknown;
  readonly path?: unknown;
  readonly status?: unknown;
  readonly responseLength?: unknown;
  readonly responseLatency?: unknown;
  readonly userAgent?: unknown;
  readonly userArn?: unknown;
  readonly principalId?: unknown;
  readonly apiKeyId?: unknown;
  readonly caller?: unknown;
  readonly user?: unknown;
}

/**
 * What a fast read found, in one fixed shape (monomorphic for the engine). Strings are captures of the line:
 * like the CLF decoder's fields, those of 13 characters or more are views into the line (and the read chunk behind
 * it) for as long as the event that keeps them lives, one replay pass; whatever outlives the event is copied by
 * ownString.
 */
export type FlatJsonFields = { readonly [K in keyof Required<JsonAccessRecord>]: JsonScalar };

/** The keys read, in the order of FlatJsonFields; a layout says where in a match each one is. */
export const READ_KEYS = [
  'ip', 'sourceIp', 'requestTimeEpoch', 'requestTime', 'httpMethod', 'routeKey', 'resourcePath', 'path', 'status',
  'responseLength', 'responseLatency', 'userAgent', 'userArn', 'principalId', 'apiKeyId', 'caller', 'user',
] as const satisfies readonly (keyof JsonAccessRecord)[];
const READ_KEY_INDEX = new Map<string, number>(READ_KEYS.map((k, i) => [k, i]));

/** The kind of a value, fixed by the format (`"status":$context.status` writes a number on every line). */
const Kind = { string: 1, number: 2, literal: 3 } as const;
type ValueKind = (typeof Kind)[keyof typeof Kind];

/** A string without escapes or control characters: its text is its value. */
const STRING = '"[^"\\\\\\u0000-\\u001f]*"';
/** Plain digits, at most 15 (every such integer is exact, so Number() reads it as JSON.parse does). */
const PLAIN_INTEGER = '0|[1-9][0-9]{0,14}';
/** Any JSON number, under a key that is not read: only its syntax matters. */
const ANY_NUMBER = '-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?';
const LITERAL = 'true|false|null';
/** The expression of a value by its kind, captured under a key that is read. */
const READ_VALUE: Record<ValueKind, string> = {
  1: `"(${STRING.slice(1, -1)})"`,
  2: `(${PLAIN_INTEGER})`,
  3: `(${LITERAL})`,
};
const SKIPPED_VALUE: Record<ValueKind, string> = { 1: STRING, 2: ANY_NUMBER, 3: `(?:${LITERAL})` };

/** What is learnt of a log format: how to match its lines and where the values of the keys read are. */
export interface JsonLayout {
  /** The whole line: the text between values literally, each value by its kind. */
  readonly pattern: RegExp;
  /** For each key read (by index in READ_KEYS), its capture group; 0 when the layout lacks the key. */
  readonly group: Uint8Array;
  /** For each key read, the kind of its value. */
  readonly kind: Uint8Array;
}

/** Lines longer than this teach no layout (API Gateway's are well under 4 KB; this bounds a compiled expression). */
const MAX_LEARN_CHARS = 16 * 1024;
/** Keys in a layout at most (and so capture groups, which fit a Uint8Array). */
const MAX_LAYOUT_KEYS = 64;
/** Layouts kept, the last matched first: more than one only when several APIs log into one stream. */
const MAX_LAYOUTS = 4;
/**
 * Lines between attempts to learn a layout. Compiling one costs ~0.3 ms, so at most one per 4096 lines however
 * the input keeps changing (hostile, or a test's random records): under 0.1 µs a line. After a file of one format,
 * the next format is learnt at once. An attempt that fails before compiling costs a scan of the line.
 */
const LINES_AFTER_COMPILE = 4096;
const LINES_AFTER_FAILED_SCAN = 64;

const layouts: JsonLayout[] = [];
let linesBeforeLearning = 0;

/**
 * The fields of a line in a layout seen before (or learnt from this line), or null: then JSON.parse must read it.
 */
export function fastJsonFields(line: string): FlatJsonFields | null {
  if (linesBeforeLearning > 0) linesBeforeLearning--;
  for (let i = 0; i < layouts.length; i++) {
    const layout = layouts[i];
    const match = layout.pattern.exec(line);
    if (match === null) continue;
    if (i > 0) {
      layouts.splice(i, 1);
      layouts.unshift(layout);
    }
    return fieldsOf(match, layout);
  }
  if (linesBeforeLearning > 0) return null;
  const layout = learnJsonLayout(line);
  linesBeforeLearning = layout === null ? LINES_AFTER_FAILED_SCAN : LINES_AFTER_COMPILE;
  const match = layout === null ? null : layout.pattern.exec(line);
  if (layout === null || match === null) return null;
  layouts.unshift(layout);
  if (layouts.length > MAX_LAYOUTS) layouts.pop();
  return fieldsOf(match, layout);
}

/** The fields of `line` read with `layout`, or null when the line does not match it. */
export function readJsonLayout(line: string, layout: JsonLayout): FlatJsonFields | null {
  const match = layout.pattern.exec(line);
  return match === null ? null : fieldsOf(match, layout);
}

/** Forgets every layout learnt (for tests that need the first line of a file to be the first one seen). */
export function forgetJsonLayouts(): void {
  layouts.length = 0;
  linesBeforeLearning = 0;
}

/**
 * The layout of a flat JSON object line: its keys, the text around them, and the kind of each value. Null when
 * the line is not one the layout would read (nested values, escapes or control characters, a read number that is
 * not plain digits, a syntax error), when a key is not printable ASCII, or when the line is too long or has too
 * many keys. The scan rejects what the expression would, so that an expression is compiled only to be used; the
 * expression is still tried on the line before the layout is returned.
 */
export function learnJsonLayout(line: string): JsonLayout | null {
  if (line.length > MAX_LEARN_CHARS || line.indexOf('\\') >= 0) return null;
  const group = new Uint8Array(READ_KEYS.length);
  const kind = new Uint8Array(READ_KEYS.length);
  let source = '^';
  let groups = 0;
  let literalFrom = 0;
  let i = skipWhitespace(line, 0);
  if (line.charCodeAt(i) !== OPEN_BRACE) return null;
  i = skipWhitespace(line, i + 1);
  for (let keys = 0; ; keys++) {
    if (keys === MAX_LAYOUT_KEYS || line.charCodeAt(i) !== QUOTE) return null;
    const keyEnd = line.indexOf('"', i + 1);
    if (keyEnd < 0 || !isPrintableAscii(line, i + 1, keyEnd)) return null;
    const read = READ_KEY_INDEX.get(line.slice(i + 1, keyEnd));
    i = skipWhitespace(line, keyEnd + 1);
    if (line.charCodeAt(i) !== COLON) return null;
    i = skipWhitespace(line, i + 1);
    source += literal(line.slice(literalFrom, i));
    const c = line.charCodeAt(i);
    let valueKind: ValueKind;
    let end: number;
    if (c === QUOTE) {
      valueKind = Kind.string;
      end = line.indexOf('"', i + 1) + 1;
      if (end === 0 || hasControlCharacter(line, i + 1, end - 1)) return null;
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      valueKind = Kind.number;
      end = numberEnd(line, i);
      if (end < 0 || (read !== undefined && !isPlainInteger(line, i, end))) return null;
    } else if (line.startsWith('true', i) || line.startsWith('null', i)) {
      valueKind = Kind.literal;
      end = i + 4;
    } else if (line.startsWith('false', i)) {
      valueKind = Kind.literal;
      end = i + 5;
    } else {
      return null;
    }
    if (read === undefined) {
      source += SKIPPED_VALUE[valueKind];
    } else {
      // A read key twice is a value that broke out of its quotes (decodeJsonLineSlow refuses such a line): no layout.
      if (group[read] !== 0) return null;
      source += READ_VALUE[valueKind];
      group[read] = ++groups;
      kind[read] = valueKind;
    }
    literalFrom = end;
    i = skipWhitespace(line, end);
    const next = line.charCodeAt(i);
    if (next === CLOSE_BRACE) {
      if (skipWhitespace(line, i + 1) !== line.length) return null;
      const pattern = new RegExp(source + literal(line.slice(literalFrom)) + '$');
      return pattern.test(line) ? { pattern, group, kind } : null;
    }
    if (next !== COMMA) return null;
    i = skipWhitespace(line, i + 1);
  }
}

/** The values of the keys read, created in one go, always in the same shape. */
function fieldsOf(match: RegExpExecArray, layout: JsonLayout): FlatJsonFields {
  return {
    ip: valueOf(match, layout, 0),
    sourceIp: valueOf(match, layout, 1),
    requestTimeEpoch: valueOf(match, layout, 2),
    requestTime: valueOf(match, layout, 3),
    httpMethod: valueOf(match, layout, 4),
    routeKey: valueOf(match, layout, 5),
    resourcePath: valueOf(match, layout, 6),
    path: valueOf(match, layout, 7),
    status: valueOf(match, layout, 8),
    responseLength: valueOf(match, layout, 9),
    responseLatency: valueOf(match, layout, 10),
    userAgent: valueOf(match, layout, 11),
    userArn: valueOf(match, layout, 12),
    principalId: valueOf(match, layout, 13),
    apiKeyId: valueOf(match, layout, 14),
    caller: valueOf(match, layout, 15),
    user: valueOf(match, layout, 16),
  };
}

function valueOf(match: RegExpExecArray, layout: JsonLayout, read: number): JsonScalar {
  const group = layout.group[read];
  if (group === 0) return undefined;
  const text = match[group];
  const kind = layout.kind[read];
  if (kind === Kind.string) return text;
  if (kind === Kind.number) return plainIntegerValue(text);
  return text === 'true' ? true : text === 'false' ? false : null;
}

/**
 * The value of a PLAIN_INTEGER capture (1 to 15 digits, so every step is exact): what Number() gives, without its
 * general parser, which took a sixth of a fast read.
 */
export function plainIntegerValue(digits: string): number {
  let v = 0;
  for (let i = 0; i < digits.length; i++) v = v * 10 + (digits.charCodeAt(i) - DIGIT_0);
  return v;
}

const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const COLON = 58;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** JSON's whitespace: space, tab, LF, CR. */
function skipWhitespace(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return i;
    i++;
  }
}

/** Keys the expression can spell simply: printable ASCII, no quote (a backslash is ruled out already). */
function isPrintableAscii(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126) return false;
  }
  return true;
}

function hasControlCharacter(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) < 32) return true;
  return false;
}

/** The end of a number of JSON's grammar `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?` at `from`, or -1. */
function numberEnd(s: string, from: number): number {
  let i = from;
  if (s.charCodeAt(i) === MINUS) i++;
  if (s.charCodeAt(i) === DIGIT_0) i++;
  else if (isDigit(s.charCodeAt(i))) i = digitsEnd(s, i);
  else return -1;
  if (s.charCodeAt(i) === 46 /* . */) {
    if (!isDigit(s.charCodeAt(i + 1))) return -1;
    i = digitsEnd(s, i + 1);
  }
  const e = s.charCodeAt(i);
  if (e === 101 /* e */ || e === 69 /* E */) {
    i++;
    const sign = s.charCodeAt(i);
    if (sign === 43 /* + */ || sign === MINUS) i++;
    if (!isDigit(s.charCodeAt(i))) return -1;
    i = digitsEnd(s, i);
  }
  return i;
}

/** What PLAIN_INTEGER matches: digits only (the grammar has ruled out leading zeros), at most 15. */
function isPlainInteger(s: string, from: number, to: number): boolean {
  return to - from <= 15 && digitsEnd(s, from) === to;
}

/** charCodeAt past the end is NaN, which is no digit. */
function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

function digitsEnd(s: string, i: number): number {
  while (isDigit(s.charCodeAt(i))) i++;
  return i;
}

/** Text between values (whitespace, braces, commas, colons, quoted keys) as an expression matching it exactly. */
function literal(text: string): string {
  const escaped = text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  return escaped.replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}
