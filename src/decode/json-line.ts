import type { AccessEvent } from '../events.ts';
import { parseClfTime } from './clf-time.ts';
import { ABSENT, buildEvent } from './event.ts';
import { repairBareDashes } from './json-repair.ts';
import { numberField, textField } from './numbers.ts';
import { Reason, type ReasonText } from './reasons.ts';
import { routeKeyMethod, routeKeyResource } from './route-key.ts';

/** Epoch values below this are seconds, not ms: the accepted ranges (1995-2100) of the two cannot overlap. */
const EPOCH_SECONDS_BELOW = 1e11;

/**
 * One JSON access-log line: the recommended API Gateway format, the console JSON presets (REST and HTTP API),
 * and custom JSON formats that use the same `$context` names. One JSON.parse on the fast path; the bare-dash
 * repair and a second parse only when the first fails.
 *
 * `fallbackTime` (epoch ms) serves formats without a time field, e.g. the CloudWatch Logs event timestamp.
 */
export function decodeJsonLine(line: string, fallbackTime = ABSENT): AccessEvent | ReasonText {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    const repaired = repairBareDashes(line);
    if (repaired === null) return jsonFailure(line);
    try {
      record = JSON.parse(repaired);
    } catch {
      return jsonFailure(line);
    }
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return Reason.jsonNotObject;
  return eventFromJsonRecord(record as Record<string, unknown>, fallbackTime);
}

function eventFromJsonRecord(r: Record<string, unknown>, fallbackTime: number): AccessEvent | ReasonText {
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
function jsonTime(r: Record<string, unknown>, fallbackTime: number): number {
  const epoch = numberField(r.requestTimeEpoch);
  if (epoch !== ABSENT) return epoch < EPOCH_SECONDS_BELOW ? epoch * 1000 : epoch;
  const text = r.requestTime;
  if (typeof text === 'string' && text !== '-' && text !== '') return parseClfTime(text);
  return fallbackTime;
}

/** userArn, then principalId, apiKeyId, caller, and `user` as the last resort (the console presets' only ids). */
function jsonPrincipal(r: Record<string, unknown>): string {
  return (
    textField(r.userArn) || textField(r.principalId) || textField(r.apiKeyId) || textField(r.caller) ||
    textField(r.user)
  );
}

function jsonFailure(line: string): ReasonText {
  let end = line.length - 1;
  while (end >= 0 && line.charCodeAt(end) <= 32) end--;
  return end >= 0 && line.charCodeAt(end) === 125 /* } */ ? Reason.invalidJson : Reason.truncatedJson;
}
