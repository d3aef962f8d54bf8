const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a, 32-bit: cheap and good enough to tell paths, user agents and principals apart in a window. */
export function hash32(s: string): number {
  return hash32From(FNV_OFFSET, s);
}

/** FNV-1a's state after `prefix`, for hash32From. */
export function fnvState(prefix: string): number {
  return hash32From(FNV_OFFSET, prefix);
}

/** hash32(prefix + s) from fnvState(prefix), without building the joined string (and flattening it to read it). */
export function hash32From(state: number, s: string): number {
  let h = state;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
