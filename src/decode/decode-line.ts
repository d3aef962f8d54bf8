import type { AccessEvent } from '../events.ts';
import { decodeClfLine } from './clf-line.ts';
import { decodeCsvLine } from './csv-line.ts';
import { ABSENT } from './event.ts';
import { decodeJsonLine } from './json-line.ts';
import { MAX_LINE_CHARS } from './limits.ts';
import { Reason } from './reasons.ts';
import type { LineFormat } from './types.ts';
import { explainUnrecognised } from './unrecognised.ts';
import { decodeXmlLine } from './xml-line.ts';

/**
 * One access-log line in a known format: the event, or why it cannot be read. The hot path: one switch, then
 * the format's hand-written decoder. Never throws.
 */
export function decodeLine(line: string, format: LineFormat): AccessEvent | string {
  if (line.length === 0) return Reason.emptyLine;
  if (line.length > MAX_LINE_CHARS) return Reason.lineTooLong;
  switch (format) {
    case 'apigw-json':
    case 'console-json':
      return decodeJsonLine(line);
    case 'combined':
    case 'console-clf':
      return decodeClfLine(line);
    case 'console-csv':
      return decodeCsvLine(line);
    case 'console-xml':
      return decodeXmlLine(line);
    default:
      return Reason.unrecognised;
  }
}

/**
 * One line in any format, chosen per line from its first character and shape: for CloudWatch Logs envelopes,
 * whose messages may come from stages with different formats. Never throws.
 */
export function decodeAnyLine(line: string): AccessEvent | string {
  return decodeAnyLineAt(line, ABSENT);
}

/** decodeAnyLine with a time (epoch ms) for JSON formats that log none, e.g. the CloudWatch Logs event timestamp. */
export function decodeAnyLineAt(line: string, fallbackTime: number): AccessEvent | string {
  if (line.length > MAX_LINE_CHARS) return Reason.lineTooLong;
  let i = 0;
  while (i < line.length && isLeadingSpace(line.charCodeAt(i))) i++;
  if (i === line.length) return Reason.emptyLine;
  const first = line.charCodeAt(i);
  if (first === 123 /* { */) return decodeJsonLine(line, fallbackTime);
  if (first === 60 /* < */) return decodeXmlLine(i === 0 ? line : line.slice(i));
  if (line.indexOf(' [') > 0) {
    const clf = decodeClfLine(line);
    if (clf !== Reason.notClf) return clf;
  }
  if (line.indexOf(',') > 0) {
    const csv = decodeCsvLine(line);
    if (csv !== Reason.badCsv) return csv;
  }
  return explainUnrecognised(line);
}

function isLeadingSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10 || c === 0xfeff;
}
