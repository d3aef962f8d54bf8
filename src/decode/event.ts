import type { AccessEvent } from '../events.ts';
import { normaliseIp } from '../net/ip.ts';
import { MAX_BYTES, MAX_LATENCY_MS, MAX_TIME_MS, MIN_TIME_MS, capField } from './limits.ts';
import { Reason, type ReasonText } from './reasons.ts';

/** A numeric field the log marks as absent (`-`, empty, or not in the format). */
export const ABSENT = -1;

/**
 * Validates the fields every decoder extracted and builds the event, or says why the record is rejected.
 * The one place an AccessEvent is created, so every event has the same shape (monomorphic for the engine).
 *
 * Numbers arrive as NaN when present but unreadable, ABSENT when the log says nothing.
 */
export function buildEvent(
  time: number,
  rawIp: string,
  method: string,
  path: string,
  resource: string,
  status: number,
  bytes: number,
  latencyMs: number,
  userAgent: string,
  principal: string,
): AccessEvent | ReasonText {
  if (rawIp === '' || rawIp === '-') return Reason.missingClient;
  const ip = normaliseIp(rawIp);
  if (ip === null) return Reason.clientNotIp;
  if (status === ABSENT) return Reason.missingStatus;
  if (!(status >= 100 && status <= 599 && Number.isInteger(status))) return Reason.badStatus;
  if (Number.isNaN(time) || time === ABSENT) return Reason.missingTime;
  if (!(time >= MIN_TIME_MS && time < MAX_TIME_MS)) return Reason.timeOutOfRange;
  if (bytes === ABSENT) bytes = 0;
  else if (!(bytes >= 0 && bytes <= MAX_BYTES)) return Reason.badBytes;
  if (latencyMs !== ABSENT && !(latencyMs >= 0 && latencyMs <= MAX_LATENCY_MS)) return Reason.badLatency;
  return {
    time,
    ip,
    method: capField(method),
    path: capField(path),
    resource: capField(resource),
    status,
    bytes,
    latencyMs,
    userAgent: capField(userAgent),
    principal: capField(principal),
  };
}
