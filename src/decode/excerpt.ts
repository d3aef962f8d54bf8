/**
 * A short, printable excerpt of an unreadable record for the operator. Control characters (C0, DEL, C1),
 * lone surrogates and bidi overrides (which can make a terminal show text in a misleading order) become
 * U+FFFD; the excerpt is cut to `max` characters with a trailing ellipsis. HTML escaping is left to renderers.
 */
export function sanitiseExcerpt(s: string, max = 120): string {
  const cut = s.length > max;
  const head = cut ? s.slice(0, max) : s;
  let out = '';
  let from = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head.charCodeAt(i);
    let bad = c < 0x20 || (c >= 0x7f && c <= 0x9f) || isBidiControl(c);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < head.length ? head.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      bad = true;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      bad = true;
    }
    if (bad) {
      out += head.slice(from, i) + '\uFFFD';
      from = i + 1;
    }
  }
  out += head.slice(from);
  return cut ? out + '…' : out;
}

function isBidiControl(c: number): boolean {
  return c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}
