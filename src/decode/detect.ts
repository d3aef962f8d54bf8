import { clfFlavourOf, decodeClfLine } from './clf-line.ts';
import { decodeCsvLine } from './csv-line.ts';
import { decodeJsonLine } from './json-line.ts';
import { repairBareDashes } from './json-repair.ts';
import type { FileFormat } from './types.ts';
import { decodeXmlLine } from './xml-line.ts';

/** Lines looked at; the vote makes one odd or corrupt first line harmless. */
export const DETECT_SAMPLE_LINES = 20;

/**
 * The format of a file from its first non-empty lines: each line votes for the format that reads it, the
 * majority wins, null when no line is readable in any format.
 */
export function detectLineFormat(sampleLines: string[]): FileFormat | null {
  const votes = new Map<FileFormat, number>();
  let seen = 0;
  for (const line of sampleLines) {
    if (isBlank(line)) continue;
    if (++seen > DETECT_SAMPLE_LINES) break;
    const format = classifyLine(line);
    if (format !== null) votes.set(format, (votes.get(format) ?? 0) + 1);
  }
  let best: FileFormat | null = null;
  let bestVotes = 0;
  for (const [format, n] of votes) {
    if (n > bestVotes) {
      best = format;
      bestVotes = n;
    }
  }
  return best;
}

/** The format that reads this one line into an event (or, for JSON, the shape it has), else null. */
export function classifyLine(line: string): FileFormat | null {
  const first = firstNonSpace(line);
  if (first === 123 /* { */) return classifyJson(line);
  if (first === 60 /* < */) return typeof decodeXmlLine(line.trim()) === 'string' ? null : 'console-xml';
  if (line.indexOf(' [') > 0) return typeof decodeClfLine(line) === 'string' ? null : clfFlavourOf(unwrap(line));
  if (line.indexOf(',') > 0) return typeof decodeCsvLine(line) === 'string' ? null : 'console-csv';
  return null;
}

function classifyJson(line: string): FileFormat | null {
  const record = parseLenient(line);
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return null;
  const r = record as Record<string, unknown>;
  if (isKinesisShaped(r)) return 'kinesis-records';
  if (typeof decodeJsonLine(line) === 'string') return null;
  return r.requestTimeEpoch !== undefined || r.requestTime === undefined ? 'apigw-json' : 'console-json';
}

/** A Kinesis record (`data`, Lambda's `kinesis.data`, `Data` from the CLI), a Lambda event, or a CWL envelope. */
export function isKinesisShaped(r: Record<string, unknown>): boolean {
  return (
    (typeof r.kinesis === 'object' && r.kinesis !== null) ||
    typeof r.data === 'string' ||
    typeof r.Data === 'string' ||
    Array.isArray(r.Records) ||
    Array.isArray(r.logEvents)
  );
}

function parseLenient(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    const repaired = repairBareDashes(line);
    if (repaired === null) return undefined;
    try {
      return JSON.parse(repaired);
    } catch {
      return undefined;
    }
  }
}

/** The line without the one extra pair of quotes some exports wrap around CLF lines. */
function unwrap(line: string): string {
  const trimmed = line.trimEnd();
  return trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1) : trimmed;
}

function firstNonSpace(line: string): number {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 0xfeff) return c;
  }
  return -1;
}

function isBlank(line: string): boolean {
  return line.trim() === '';
}
