import { normaliseIp } from '../net/ip.ts';
import { Reason, type ReasonText } from './reasons.ts';

/** Longest text that can be an address (a bracketed IPv6 with an embedded IPv4 is well below it). */
const MAX_ADDRESS_CHARS = 45;

/**
 * The most useful reason for a line no decoder recognised: raw HTTP (a request line or header, as in request
 * dumps such as CSIC 2010), a record with no IP anywhere (hashed client ids, as in the LP DAAC log), or neither.
 * One linear pass; addresses are only tried on short candidate runs.
 */
export function explainUnrecognised(line: string): ReasonText {
  if (looksLikeRawHttp(line)) return Reason.rawHttp;
  return containsIpAddress(line) ? Reason.unrecognised : Reason.noIpInLine;
}

/** `GET /x HTTP/1.1` or `Header-Name: value`. */
function looksLikeRawHttp(line: string): boolean {
  let i = 0;
  while (i < line.length && isTokenChar(line.charCodeAt(i))) i++;
  if (i === 0 || i >= line.length) return false;
  const c = line.charCodeAt(i);
  if (c === 58 /* : */) return line.charCodeAt(i + 1) === 32;
  if (c !== 32) return false;
  const protocol = line.lastIndexOf(' HTTP/');
  return protocol > i && isUpperCase(line, 0, i);
}

/** Tries the full parse only on runs of address characters with three dots (IPv4) or two colons (IPv6). */
function containsIpAddress(line: string): boolean {
  let runStart = -1;
  let dots = 0;
  let colons = 0;
  const n = line.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? line.charCodeAt(i) : 32;
    const hex = (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
    if (hex || c === 46 || c === 58) {
      if (runStart < 0) {
        runStart = i;
        dots = 0;
        colons = 0;
      }
      if (c === 46) dots++;
      else if (c === 58) colons++;
      continue;
    }
    if (runStart >= 0 && (dots === 3 || colons >= 2) && i - runStart <= MAX_ADDRESS_CHARS) {
      if (normaliseIp(line.slice(runStart, i)) !== null) return true;
    }
    runStart = -1;
  }
  return false;
}

function isTokenChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}

function isUpperCase(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 65 || c > 90) return false;
  }
  return true;
}
