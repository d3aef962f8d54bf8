/**
 * Escaping for every sink cordon writes attacker-controlled text to (paths, user agents, principals, sample
 * lines). Nothing from a log line reaches HTML, Slack, SNS or a terminal except through these functions.
 *
 * - {@link escapeHtml}: HTML text and attribute values.
 * - {@link safeText}: any sink that is not HTML (terminal, plain text, JSON for people): makes invisible and
 *   control characters visible and bounds the length.
 * - {@link escapeSlackMrkdwn}: Slack mrkdwn, rendered as inline code so nothing in it formats, links or mentions.
 */

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Escapes the five characters that matter in HTML text and in quoted attribute values.
 * @example escapeHtml('"><img src=x onerror=alert(1)>') // '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
 */
export function escapeHtml(s: string): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);
}

/**
 * Characters that must not reach a sink as themselves, one code point each (the `u` flag makes a lone surrogate
 * match on its own while a valid pair is consumed as one astral code point and left alone):
 * C0 controls and DEL (terminal escapes, carriage returns that overwrite a line), C1 controls (8-bit CSI),
 * bidi embeddings/overrides/isolates and marks (a reversed path that reads as something else), zero-width and
 * invisible formatting characters (a look-alike principal), line/paragraph separators, the BOM, and lone
 * surrogates (invalid UTF-16 that breaks JSON consumers and renders as garbage).
 */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udfff]/u;

/** `\u001b` as visible text: the reader sees that something was there and what it was. */
function visibleEscape(ch: string): string {
  return '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0');
}

/**
 * Makes a string safe to show in a non-HTML sink: every unsafe character (see above) becomes a visible
 * `\uXXXX` escape, and the result is at most `max` UTF-16 units long, ending in `…` when cut. The cut never
 * splits an escape or a surrogate pair. A backslash in the input is left as it is: the output is for people,
 * not meant to be unescaped.
 * @example safeText('GET /\u001b[2J') // 'GET /\\u001b[2J'
 * @example safeText('a'.repeat(10), 5) // 'aaaa…'
 */
export function safeText(s: string, max = 200): string {
  const str = String(s ?? '');
  const limit = Math.max(1, Math.floor(max));
  // Fast path: the common case is a short, clean string.
  if (str.length <= limit && !UNSAFE.test(str)) return str;
  let out = '';
  let i = 0;
  while (i < str.length) {
    // One code point: a valid surrogate pair is two units, a lone surrogate one.
    const unit = String.fromCodePoint(str.codePointAt(i)!);
    const piece = UNSAFE.test(unit) ? visibleEscape(unit) : unit;
    const isLast = i + unit.length === str.length;
    // Keep one unit free for the ellipsis unless this piece ends the input and fits as it is.
    if (out.length + piece.length > (isLast ? limit : limit - 1)) return out + '…';
    out += piece;
    i += unit.length;
  }
  return out;
}

/** Modifier letter grave accent: shows like a backtick but cannot close Slack's inline code. */
const BACKTICK_STANDIN = '\u02cb';

/**
 * Escapes text for Slack mrkdwn (section text, context elements, message `text`).
 *
 * Choice: the value is rendered as inline code. Slack does not apply `*bold*`, `_italic_`, `~strike~`,
 * auto-linking or `@channel`/`@here` inside inline code, so wrapping neutralises all formatting without
 * inserting zero-width characters (which would corrupt copy-paste of an IP or path). Backticks in the value are
 * replaced with U+02CB (looks the same, cannot end the code span). Slack still parses `&`, `<` and `>` inside
 * code (`<!channel>`, `<https://evil|click>`), so those become `&amp;`, `&lt;`, `&gt;` as Slack documents.
 * Control and invisible characters become visible escapes and the value is cut at `max` (before escaping, so
 * an entity is never cut). The empty string renders as `(empty)` in italics.
 * @example escapeSlackMrkdwn('<!channel> *hi*') // '`&lt;!channel&gt; *hi*`'
 */
export function escapeSlackMrkdwn(s: string, max = 200): string {
  const text = safeText(s, max).replaceAll('`', BACKTICK_STANDIN);
  if (text === '') return '_(empty)_';
  return '`' + escapeSlackControl(text) + '`';
}

/**
 * Escapes only Slack's three control characters, for cordon's own text that keeps its formatting
 * (rule details, labels). Not for attacker-controlled values: use {@link escapeSlackMrkdwn}.
 */
export function escapeSlackControl(s: string): string {
  return String(s ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}
