import type { AccessEvent } from '../events.ts';
import { parseClfTime } from './clf-time.ts';
import { ABSENT, buildEvent } from './event.ts';
import { unverifiedPrincipal } from './principal-key.ts';
import { parseDecimal } from './numbers.ts';
import { Reason, type ReasonText } from './reasons.ts';

/** Length of `dd/Mon/yyyy:HH:MM:SS +zzzz`. */
const CLF_TIME_CHARS = 26;

/**
 * Lines of the Common Log Format family, hand-parsed in one pass with indexOf (no regex, linear time):
 *
 * - combined: `host ident user [time] "request" status bytes ["referer" "agent" [one extra field]]`, i.e. Apache
 *   and nginx combined and common, including lines wrapped in one extra pair of quotes (a CSV-export artefact),
 *   CRLF endings, `-` sizes, absolute-URI, CONNECT and binary request lines. The principal is `%u`.
 * - API Gateway's CLF preset: `ip caller user [time] "method resourcePath protocol" status length requestId`,
 *   told apart by its unquoted tail (the request id). The principal is the caller (else the user), the resource is
 *   the logged resource path; for HTTP APIs the request holds the route key (`"GET GET /items/{id} HTTP/1.1"`).
 *
 * Request lines and agents are attacker text: Apache 2 escapes their quotes (`\"`), Apache 1.3 did not, so the
 * request ends at the first unescaped quote followed by ` NNN ` (a status), and an agent at the first unescaped
 * quote followed by a space or the end; when escapes do not fit, the scan is repeated ignoring them.
 */
export function decodeClfLine(line: string): AccessEvent | ReasonText {
  let start = 0;
  let end = line.length;
  while (end > start && isLineEndSpace(line.charCodeAt(end - 1))) end--;
  if (end > start && line.charCodeAt(start) === 34 /* " */) {
    start++;
    if (end > start && line.charCodeAt(end - 1) === 34) end--;
  }

  const hostEnd = line.indexOf(' ', start);
  if (hostEnd <= start || hostEnd >= end) return Reason.notClf;
  const identEnd = line.indexOf(' ', hostEnd + 1);
  const timeOpen = line.indexOf(' [', hostEnd);
  if (timeOpen < 0 || identEnd < 0 || identEnd >= timeOpen) return Reason.notClf;
  const timeStart = timeOpen + 2;
  const timeClose = timeStart + CLF_TIME_CHARS;
  if (timeClose >= end || line.charCodeAt(timeClose) !== 93 /* ] */) return Reason.missingTime;
  if (line.charCodeAt(timeClose + 1) !== 32 || line.charCodeAt(timeClose + 2) !== 34) return Reason.noRequestLine;

  const requestStart = timeClose + 3;
  let requestEnd = findRequestEnd(line, requestStart, end, true);
  if (requestEnd < 0) requestEnd = findRequestEnd(line, requestStart, end, false);
  if (requestEnd < 0) return Reason.noRequestLine;

  const status = threeDigits(line, requestEnd + 2);
  const bytesStart = requestEnd + 6;
  let bytesEnd = bytesStart > end ? bytesStart : line.indexOf(' ', bytesStart);
  if (bytesEnd < 0 || bytesEnd > end) bytesEnd = end;
  const bytes = bytesStart > end ? ABSENT : parseDecimal(line, bytesStart, bytesEnd);

  const isConsole = bytesEnd < end && line.charCodeAt(bytesEnd + 1) !== 34; // tail is a request id, not "referer"

  // The request is `METHOD target PROTOCOL`; `-` means none; without a space (binary junk) it is all target.
  let method = '';
  let targetStart = requestStart;
  let targetEnd = requestEnd;
  const space = line.indexOf(' ', requestStart);
  if (space >= 0 && space < requestEnd) {
    method = line.slice(requestStart, space);
    targetStart = space + 1;
    const lastSpace = line.lastIndexOf(' ', requestEnd - 1);
    if (lastSpace > space && line.startsWith('HTTP/', lastSpace + 1)) targetEnd = lastSpace;
    const afterMethod = targetStart + method.length;
    if (isConsole && afterMethod < targetEnd && line.charCodeAt(afterMethod) === 32 && line.startsWith(method, targetStart)) {
      targetStart = afterMethod + 1; // HTTP API preset: the route key repeats the method, `GET GET /items/{id}`
    }
  } else if (requestEnd - requestStart === 1 && line.charCodeAt(requestStart) === 45 /* - */) {
    targetEnd = targetStart;
  }
  const target = line.slice(targetStart, targetEnd);

  return buildEvent(
    parseClfTime(line, timeStart, timeClose),
    line.slice(start, hostEnd),
    method,
    target,
    isConsole ? target : '',
    status,
    bytes,
    ABSENT,
    bytesEnd < end && !isConsole ? userAgentOf(line, bytesEnd + 1, end) : '',
    // Never an IAM identity AWS vouches for: the console preset's caller and user are IAM ids, nginx's %u is what the
    // client sent for Basic auth. One that reads as an ARN is kept unverified (src/decode/principal-key.ts).
    unverifiedPrincipal(isConsole
      ? fieldOrEmpty(line, hostEnd + 1, identEnd) || fieldOrEmpty(line, identEnd + 1, timeOpen)
      : fieldOrEmpty(line, identEnd + 1, timeOpen)),
  );
}

/** Where the quoted request ends: a quote followed by ` NNN ` (or ` NNN` at the end), or -1. */
function findRequestEnd(s: string, from: number, end: number, honourEscapes: boolean): number {
  // Up to the first backslash nothing is escaped: jump from quote to quote (indexOf is native and far faster
  // than a loop over every character); from there on, the character loop that honours escapes.
  const slowFrom = honourEscapes ? firstBackslash(s, from, end) : end;
  for (let q = s.indexOf('"', from); q >= 0 && q < slowFrom && q + 4 < end; q = s.indexOf('"', q + 1)) {
    if (isStatusAfter(s, q, end)) return q;
  }
  for (let i = slowFrom; i + 4 < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 /* \ */ && honourEscapes) {
      i++;
    } else if (c === 34 && isStatusAfter(s, i, end)) {
      return i;
    }
  }
  return -1;
}

/** The quote at `q` is followed by ` NNN ` (or ` NNN` at the end). */
function isStatusAfter(s: string, q: number, end: number): boolean {
  return (
    s.charCodeAt(q + 1) === 32 &&
    isDigit(s.charCodeAt(q + 2)) &&
    isDigit(s.charCodeAt(q + 3)) &&
    isDigit(s.charCodeAt(q + 4)) &&
    (q + 5 === end || s.charCodeAt(q + 5) === 32)
  );
}

/** The first backslash in `s[from, end)`, or `end`. */
function firstBackslash(s: string, from: number, end: number): number {
  const b = s.indexOf('\\', from);
  return b >= 0 && b < end ? b : end;
}

/** The agent of `"referer" "agent"` starting at `from`; '' for common format, `-`, or a bare-token tail. */
function userAgentOf(s: string, from: number, end: number): string {
  if (s.charCodeAt(from) !== 34) return ''; // common format or console-clf's requestId: no agent
  const refererEnd = quotedEnd(s, from, end);
  const agentOpen = refererEnd + 2;
  if (agentOpen >= end || s.charCodeAt(refererEnd + 1) !== 32 || s.charCodeAt(agentOpen) !== 34) return '';
  const agent = s.slice(agentOpen + 1, quotedEnd(s, agentOpen, end));
  return agent === '-' ? '' : agent;
}

/** The closing quote of the field opened at `open`: one followed by a space or the end; `end` if unterminated. */
function quotedEnd(s: string, open: number, end: number): number {
  let at = scanQuoted(s, open, end, true);
  if (at < 0) at = scanQuoted(s, open, end, false);
  return at < 0 ? end : at;
}

function scanQuoted(s: string, open: number, end: number, honourEscapes: boolean): number {
  // As in findRequestEnd: quote to quote up to the first backslash, then character by character.
  const slowFrom = honourEscapes ? firstBackslash(s, open + 1, end) : end;
  for (let q = s.indexOf('"', open + 1); q >= 0 && q < slowFrom; q = s.indexOf('"', q + 1)) {
    if (q + 1 === end || s.charCodeAt(q + 1) === 32) return q;
  }
  for (let i = slowFrom; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 && honourEscapes) i++;
    else if (c === 34 && (i + 1 === end || s.charCodeAt(i + 1) === 32)) return i;
  }
  return -1;
}

function threeDigits(s: string, at: number): number {
  return (s.charCodeAt(at) - 48) * 100 + (s.charCodeAt(at + 1) - 48) * 10 + (s.charCodeAt(at + 2) - 48);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isLineEndSpace(c: number): boolean {
  return c === 13 || c === 10 || c === 32 || c === 9;
}

/** `s[from, to)`, or '' for the `-` a log writes for nothing. */
function fieldOrEmpty(s: string, from: number, to: number): string {
  return to - from === 1 && s.charCodeAt(from) === 45 ? '' : s.slice(from, to);
}

/**
 * Which member of the family a line is, for format detection: `console-clf` when the status and length are
 * followed by an unquoted token (API Gateway's request id), else `combined`; null when it is not CLF at all.
 */
export function clfFlavourOf(line: string): 'combined' | 'console-clf' | null {
  let end = line.length;
  while (end > 0 && isLineEndSpace(line.charCodeAt(end - 1))) end--;
  const timeOpen = line.indexOf(' [');
  if (timeOpen < 0) return null;
  const requestStart = timeOpen + 2 + CLF_TIME_CHARS + 3;
  let requestEnd = findRequestEnd(line, requestStart, end, true);
  if (requestEnd < 0) requestEnd = findRequestEnd(line, requestStart, end, false);
  if (requestEnd < 0) return null;
  const bytesEnd = line.indexOf(' ', requestEnd + 6);
  if (bytesEnd < 0 || bytesEnd >= end) return 'combined';
  return line.charCodeAt(bytesEnd + 1) === 34 ? 'combined' : 'console-clf';
}
