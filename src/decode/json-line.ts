import type { AccessEvent } from '../events.ts';
import { parseClfTime } from './clf-time.ts';
import { ABSENT, buildEvent } from './event.ts';
import { type JsonAccessRecord, READ_KEYS, fastJsonFields } from './json-fast.ts';
import { repairBareDashes } from './json-repair.ts';
import { numberField, textField } from './numbers.ts';
import { unverifiedPrincipal } from './principal-key.ts';
import { Reason, type ReasonText } from './reasons.ts';
import { routeKeyMethod, routeKeyResource } from './route-key.ts';

/** Epoch values below this are seconds, not ms: the accepted ranges (1995-2100) of the two cannot overlap. */
const EPOCH_SECONDS_BELOW = 1e11;

/**
 * One JSON access-log line: the recommended API Gateway format, the console JSON presets (REST and HTTP API),
 * and custom JSON formats that use the same `$context` names. A line in a layout seen before (API Gateway writes
 * every line of a log alike) is read by fastJsonFields (json-fast.ts) without building the record; any other
 * line goes to decodeJsonLineSlow.
 *
 * `fallbackTime` (epoch ms) serves formats without a time field, e.g. the CloudWatch Logs event timestamp.
 */
export function decodeJsonLine(line: string, fallbackTime = ABSENT): AccessEvent | ReasonText {
  const fields = fastJsonFields(line);
  if (fields !== null) return eventFromJsonRecord(fields, fallbackTime);
  return decodeJsonLineSlow(line, fallbackTime);
}

/**
 * decodeJsonLine by JSON.parse alone: the fallback of the fast reader, and the reference it is tested against
 * (test/decode/json-fast.test.ts), so both must give the same result for every line. One JSON.parse; the
 * bare-dash repair and a second parse only when the first fails.
 */
export function decodeJsonLineSlow(line: string, fallbackTime = ABSENT): AccessEvent | ReasonText {
  let record: unknown;
  let parsedText = line;
  try {
    record = JSON.parse(line);
  } catch {
    const repaired = repairBareDashes(line);
    if (repaired === null) return jsonFailure(line);
    try {
      record = JSON.parse(repaired);
      parsedText = repaired;
    } catch {
      return jsonFailure(line);
    }
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return Reason.jsonNotObject;
  // JSON.parse keeps the last of a key given twice: a user agent or path whose quotes API Gateway left unescaped could
  // otherwise name the client address (or the principal, the status) that cordon blocks. (Checked on the line parsed:
  // the repaired one when the first parse failed.)
  if (readsAKeyTwice(parsedText)) return Reason.duplicateKey;
  return eventFromJsonRecord(record as JsonAccessRecord, fallbackTime);
}

const READ_KEY_SET: ReadonlySet<string> = new Set(READ_KEYS);

/**
 * Whether a key that is read appears twice among the keys of the top-level object (a line JSON.parse has just read:
 * well formed). Keys are decoded as JSON decodes them (`"\u0069p"` is `ip`); keys of nested objects do not count.
 */
function readsAKeyTwice(line: string): boolean {
  const seen = new Set<string>();
  let depth = 0;
  let keyNext = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 34 /* " */) {
      let end = i + 1;
      while (end < line.length && line.charCodeAt(end) !== 34) end += line.charCodeAt(end) === 92 /* \ */ ? 2 : 1;
      if (depth === 1 && keyNext) {
        const raw = line.slice(i, end + 1);
        const key = raw.indexOf('\\') < 0 ? raw.slice(1, -1) : (JSON.parse(raw) as string);
        if (READ_KEY_SET.has(key)) {
          if (seen.has(key)) return true;
          seen.add(key);
        }
        keyNext = false;
      }
      i = end;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      keyNext = depth === 1;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 44 /* , */ && depth === 1) {
      keyNext = true;
    }
  }
  return false;
}

/** The event of a parsed or fast-read record: the one step both paths share (exported for their test). */
export function eventFromJsonRecord(r: JsonAccessRecord, fallbackTime: number): AccessEvent | ReasonText {
  const routeKey = textField(r.routeKey);
  const resource = textField(r.resourcePath) || routeKeyResource(routeKey);
  return buildEvent(
    jsonTime(r, fallbackTime),
    textField(r.ip !== undefined ? r.ip : r.sourceIp),
    textField(r.httpMethod) || routeKeyMethod(routeKey),
    textField(r.path) || resource,
    resource,
    numberField(r.status),
    numberField(r.responseLength),
    numberField(r.responseLatency),
    textField(r.userAgent),
    jsonPrincipal(r),
  );
}

/** requestTimeEpoch (ms, or s from custom formats), else the CLF requestTime, else the fallback. */
function jsonTime(r: JsonAccessRecord, fallbackTime: number): number {
  const epoch = numberField(r.requestTimeEpoch);
  if (epoch !== ABSENT) return epoch < EPOCH_SECONDS_BELOW ? epoch * 1000 : epoch;
  const text = r.requestTime;
  if (typeof text === 'string' && text !== '-' && text !== '') return parseClfTime(text);
  return fallbackTime;
}

/**
 * userArn, then principalId, apiKeyId, caller, and `user` as the last resort (the console presets' only ids). Only a
 * userArn is an IAM identity a resource policy may deny; an ARN-looking value of another field (a Lambda authorizer's
 * principalId) is marked unverified, and account ids and `:root` are never denied (see src/decode/principal-key.ts).
 */
function jsonPrincipal(r: JsonAccessRecord): string {
  const userArn = textField(r.userArn);
  if (userArn) return userArn;
  const principalId = textField(r.principalId);
  if (principalId) return unverifiedPrincipal(principalId);
  // API Gateway writes the id of the key the request used: the one field whose value may be taken for a key.
  const apiKeyId = textField(r.apiKeyId);
  if (apiKeyId) return apiKeyId;
  return unverifiedPrincipal(textField(r.caller) || textField(r.user));
}

function jsonFailure(line: string): ReasonText {
  let end = line.length - 1;
  while (end >= 0 && line.charCodeAt(end) <= 32) end--;
  return end >= 0 && line.charCodeAt(end) === 125 /* } */ ? Reason.invalidJson : Reason.truncatedJson;
}
