import { Reason } from '../../src/decode/index.ts';
import { MAX_BYTES, MAX_FIELD_CHARS, MAX_LATENCY_MS, MAX_TIME_MS, MIN_TIME_MS } from '../../src/decode/limits.ts';
import type { AccessEvent } from '../../src/events.ts';
import { normaliseIp } from '../../src/net/ip.ts';

const REASONS = new Set<string>(Object.values(Reason));
const EVENT_KEYS = 'time,ip,method,path,resource,status,bytes,latencyMs,userAgent,principal';

/**
 * The contract of every decoder result, which the property and hostile-input tests check on whatever they feed:
 * a known reason, or an event whose every field is within the bounds the engine relies on. Throws with what is wrong.
 */
export function assertEventOrReason(r: AccessEvent | string): void {
  if (typeof r === 'string') {
    if (!REASONS.has(r)) throw new Error(`unknown reason: ${r}`);
    return;
  }
  const problems = [
    Object.keys(r).join(',') !== EVENT_KEYS && 'shape',
    normaliseIp(r.ip) !== r.ip && 'ip not normalised',
    !(Number.isInteger(r.status) && r.status >= 100 && r.status <= 599) && 'status',
    !(r.time >= MIN_TIME_MS && r.time < MAX_TIME_MS) && 'time',
    !(r.bytes >= 0 && r.bytes <= MAX_BYTES) && 'bytes',
    !(r.latencyMs === -1 || (r.latencyMs >= 0 && r.latencyMs <= MAX_LATENCY_MS)) && 'latency',
    [r.method, r.path, r.resource, r.userAgent, r.principal].some((s) => typeof s !== 'string' || s.length > MAX_FIELD_CHARS) && 'strings',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`event out of bounds (${problems.join(', ')})`);
}
