import type { Unreadable } from '../events.ts';
import { decodeAnyLine, decodeLine } from './decode-line.ts';
import { DETECT_SAMPLE_LINES, detectLineFormat } from './detect.ts';
import { sanitiseExcerpt } from './excerpt.ts';
import { decodeKinesisRecordLine } from './kinesis-records.ts';
import { Reason, type ReasonText } from './reasons.ts';
import type { Sampler } from './sampler.ts';
import type { DecodeSink, FileFormat, ReadStats } from './types.ts';

/** Reasons that mean "not this format at all", as opposed to a bad value in a line of the right format. */
const SHAPE_MISMATCH: ReadonlySet<string> = new Set([
  Reason.notClf,
  Reason.noRequestLine,
  Reason.invalidJson,
  Reason.truncatedJson,
  Reason.jsonNotObject,
  Reason.badXml,
  Reason.badCsv,
]);

/** Stop buffering for detection early when lines are huge (Kinesis record files hold ~1 MB lines). */
const DETECT_MAX_CHARS = 1 << 20;

/**
 * Decodes the lines of one file: buffers the first few to detect the format, then decodes line by line,
 * counting into the shared stats. Files no format fits, and lines of another shape than their file's, are
 * decoded with per-line detection, so readable lines still count and every other line gets its own reason.
 */
export class FileDecoder {
  /** undefined while detecting, null when no format fitted the first lines. */
  private format: FileFormat | null | undefined = undefined;
  private pending: string[] = [];
  private pendingLineNumbers: number[] = [];
  private pendingChars = 0;
  private readonly counting: DecodeSink;

  constructor(
    private readonly path: string,
    private readonly sink: DecodeSink,
    private readonly stats: ReadStats,
    private readonly sampler: Sampler,
  ) {
    this.counting = {
      event: (e) => {
        stats.events++;
        sink.event(e);
      },
      unreadable: (u) => this.record(u),
    };
  }

  line(text: string, lineNumber: number): void {
    if (isBlank(text)) return;
    if (lineNumber === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    this.stats.lines++;
    if (this.format !== undefined) {
      this.decode(text, lineNumber);
      return;
    }
    this.pending.push(text);
    this.pendingLineNumbers.push(lineNumber);
    this.pendingChars += text.length;
    if (this.pending.length >= DETECT_SAMPLE_LINES || this.pendingChars >= DETECT_MAX_CHARS) this.detect();
  }

  /** Decodes what is still buffered (short files). */
  finish(): void {
    if (this.format === undefined) this.detect();
  }

  reject(reason: ReasonText, text: string, lineNumber: number): void {
    this.record({ reason, excerpt: sanitiseExcerpt(text), line: lineNumber, source: this.path });
  }

  private detect(): void {
    const lines = this.pending;
    const numbers = this.pendingLineNumbers;
    this.format = detectLineFormat(lines);
    this.stats.formats[this.path] = this.format ?? (lines.length === 0 ? 'empty' : 'unrecognised');
    this.pending = [];
    this.pendingLineNumbers = [];
    this.pendingChars = 0;
    for (let i = 0; i < lines.length; i++) this.decode(lines[i], numbers[i]);
  }

  private decode(text: string, lineNumber: number): void {
    const format = this.format;
    if (format === 'kinesis-records') {
      decodeKinesisRecordLine(text, this.counting, { source: this.path, line: lineNumber });
      return;
    }
    let decoded = format === null || format === undefined ? decodeAnyLine(text) : decodeLine(text, format);
    // A line of another shape than the file's (concatenated logs): a second chance with per-line detection.
    if (typeof decoded === 'string' && format && SHAPE_MISMATCH.has(decoded)) decoded = decodeAnyLine(text);
    if (typeof decoded === 'string') {
      this.reject(decoded as ReasonText, text, lineNumber);
    } else {
      this.stats.events++;
      this.sink.event(decoded);
    }
  }

  private record(u: Unreadable): void {
    this.stats.unreadable++;
    this.stats.byReason[u.reason] = (this.stats.byReason[u.reason] ?? 0) + 1;
    this.sampler.offer(u);
    this.sink.unreadable(u);
  }
}

function isBlank(text: string): boolean {
  return text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '');
}
