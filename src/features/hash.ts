/** FNV-1a, 32-bit: cheap and good enough to tell paths, user agents and principals apart in a window. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** FNV-1a's running state after `prefix`, for hash32From. */
export function fnvState(prefix: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < prefix.length; i++) {
    h ^= prefix.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
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
