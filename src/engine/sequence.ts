/**
 * Kinesis sequence numbers are decimal strings, unique and increasing within a shard, and too long for a double:
 * compare them as integers of any length.
 */
export function compareSequence(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
