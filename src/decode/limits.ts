/** Bounds on what a real access log can say; anything outside is a corrupt or hostile record. */

/** 1995-01-01T00:00:00Z: before the web had access logs worth replaying. */
export const MIN_TIME_MS = Date.UTC(1995, 0, 1);
/** 2101-01-01T00:00:00Z (exclusive): years up to 2100 are accepted. */
export const MAX_TIME_MS = Date.UTC(2101, 0, 1);
/** A terabyte in one response is a corrupt field, not a download. */
export const MAX_BYTES = 1e12;
/** API Gateway gives up after 29 s (or a few minutes on request); a day is certainly corrupt. */
export const MAX_LATENCY_MS = 86_400_000;
/** Attacker-controlled strings (path, user agent, principal) are kept raw but no longer than this. */
export const MAX_FIELD_CHARS = 2048;
/** Longer lines are dropped unread so a file without newlines cannot exhaust memory (a Kinesis record line is < 2 MB). */
export const MAX_LINE_CHARS = 8 * 1024 * 1024;
/** One CloudWatch Logs batch is at most 1 MiB of events; the envelope adds JSON escaping. */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

/** `s` cut to MAX_FIELD_CHARS without splitting a surrogate pair. */
export function capField(s: string): string {
  if (s.length <= MAX_FIELD_CHARS) return s;
  let end = MAX_FIELD_CHARS;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return s.slice(0, end);
}
