/**
 * A copy of `s` that does not keep the text it was cut from alive. V8 represents `line.slice(a, b)` (13 chars or
 * more) as a view into `line`, and the line itself may be a view into the reader's 1 MB chunk: a map key or a
 * sample cut from a log line would pin that whole chunk for as long as it is kept. Only for strings that outlive
 * the event (new map keys, cache entries, samples); the copy is made once per key, not per event.
 *
 * The JSON round trip is the copy that is exact for every string (lone surrogates included) and yields a plain
 * flat string; cheaper tricks (`(' ' + s).slice(1)`) leave a view object on top of the copy, ~30 bytes more per
 * kept key. Shorter strings are always copied by V8 already.
 */
const V8_MIN_SLICE = 13;

export function ownString(s: string): string {
  return s.length < V8_MIN_SLICE ? s : (JSON.parse(JSON.stringify(s)) as string);
}
