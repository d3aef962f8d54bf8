import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeHtml, escapeSlackControl, escapeSlackMrkdwn, safeText } from '../../src/render/escape.ts';

/**
 * Strings of arbitrary UTF-16 units (lone surrogates included), weighted towards the characters that matter.
 * (fast-check's own 'binary' unit costs ~3 s to initialise, so it is built here.)
 */
const nasty = fc.constantFrom('\u001b', '\r', '\n', '\u202e', '\u2066', '\u200b', '\ufeff', '\ud800', '\udc00', '😀',
  '<', '>', '&', '`', '*', '"', "'", '\u009b', '\u007f');
const unit = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  nasty,
);
const anyText = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit, maxLength });

/** Anything safeText must never let through as itself. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udfff]/u;

describe('escapeHtml', () => {
  it('escapes the five HTML-significant characters', () => {
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  it.each([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['"><img src=x onerror=alert(1)>', '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'],
    ["' autofocus onfocus='x", '&#39; autofocus onfocus=&#39;x'],
    ['&lt; already escaped', '&amp;lt; already escaped'],
    ['/v1/users?id=1', '/v1/users?id=1'],
  ])('%s', (input, out) => {
    expect(escapeHtml(input)).toBe(out);
  });

  it('leaves no raw markup characters for any input', () => {
    fc.assert(fc.property(anyText(100), (s) => {
      expect(escapeHtml(s)).not.toMatch(/[<>"']|&(?!amp;|lt;|gt;|quot;|#39;)/);
    }));
  });
});

describe('safeText', () => {
  it.each([
    ['ESC (terminal escape)', 'a\u001b[2Jb', 'a\\u001b[2Jb'],
    ['CR (overwrites the line)', 'ok\rEVIL', 'ok\\u000dEVIL'],
    ['LF and TAB', 'a\nb\tc', 'a\\u000ab\\u0009c'],
    ['NUL', 'a\u0000b', 'a\\u0000b'],
    ['DEL', 'a\u007fb', 'a\\u007fb'],
    ['C1 CSI', 'a\u009b31mb', 'a\\u009b31mb'],
    ['RLO bidi override', '/file\u202Egpj.exe', '/file\\u202egpj.exe'],
    ['bidi isolate', 'x\u2066y\u2069', 'x\\u2066y\\u2069'],
    ['zero-width space and joiner', 'ad\u200bmin\u200d', 'ad\\u200bmin\\u200d'],
    ['BOM', '\ufeffroot', '\\ufeffroot'],
    ['line separator', 'a\u2028b', 'a\\u2028b'],
    ['lone high surrogate', 'a\ud800b', 'a\\ud800b'],
    ['lone low surrogate', 'a\udc00b', 'a\\udc00b'],
    ['reversed pair', '\udc00\ud800', '\\udc00\\ud800'],
  ])('%s becomes a visible escape', (_name, input, out) => {
    expect(safeText(input)).toBe(out);
  });

  it('keeps ordinary Unicode, including astral characters', () => {
    expect(safeText('Grüße 😀 日本 /v1/ü')).toBe('Grüße 😀 日本 /v1/ü');
  });

  it('truncates to max with an ellipsis, defaulting to 200', () => {
    expect(safeText('x'.repeat(10_000))).toHaveLength(200);
    expect(safeText('x'.repeat(10_000)).endsWith('…')).toBe(true);
    expect(safeText('abcdef', 4)).toBe('abc…');
    expect(safeText('abcd', 4)).toBe('abcd');
  });

  it('never cuts an escape or a surrogate pair in half', () => {
    expect(safeText('ab\u001bcd', 6)).toBe('ab…');
    expect(safeText('a😀b', 3)).toBe('a…');
    expect(safeText('😀😀', 4)).toBe('😀😀');
  });

  it('output is bounded and clean for any input', () => {
    fc.assert(fc.property(anyText(400), fc.integer({ min: 1, max: 300 }), (s, max) => {
      const out = safeText(s, max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(out).not.toMatch(UNSAFE);
    }));
  });

  it('returns a clean string that fits unchanged', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 200 }), (s) => {
      const clean = s.replace(/[\u0000-\u001f\u007f]/g, '');
      expect(safeText(clean)).toBe(clean);
    }));
  });
});

describe('escapeSlackMrkdwn', () => {
  /** The mrkdwn text with inline-code spans removed: what Slack would format, link or mention. */
  const outsideCode = (s: string): string => s.replace(/`[^`]*`/g, '');

  it.each([
    ['<!channel>', '`&lt;!channel&gt;`'],
    ['<!here>', '`&lt;!here&gt;`'],
    ['<https://evil.example|click>', '`&lt;https://evil.example|click&gt;`'],
    ['*bold* _it_ ~s~', '`*bold* _it_ ~s~`'],
    ['@channel', '`@channel`'],
    ['a & b', '`a &amp; b`'],
    ['`code` ```block```', '`ˋcodeˋ ˋˋˋblockˋˋˋ`'],
  ])('%s', (input, out) => {
    expect(escapeSlackMrkdwn(input)).toBe(out);
  });

  it('makes control characters visible and keeps it on one line', () => {
    expect(escapeSlackMrkdwn('a\nb\u001b')).toBe('`a\\u000ab\\u001b`');
  });

  it('renders the empty string as a visible placeholder', () => {
    expect(escapeSlackMrkdwn('')).toBe('_(empty)_');
  });

  it('cuts before escaping, so an entity is never split', () => {
    const out = escapeSlackMrkdwn('&'.repeat(500), 10);
    expect(out).toBe('`' + '&amp;'.repeat(9) + '…`');
  });

  it('for any input: one code span, nothing outside it, no raw < > and bounded', () => {
    fc.assert(fc.property(anyText(300), (s) => {
      const out = escapeSlackMrkdwn(s, 100);
      if (out === '_(empty)_') return;
      expect(out.match(/`/g)).toHaveLength(2);
      expect(outsideCode(out)).toBe('');
      expect(out).not.toMatch(/[<>\n\r]/);
      expect(out).not.toMatch(/&(?!amp;|lt;|gt;)/);
      expect(out.length).toBeLessThanOrEqual(2 + 100 * 5);
    }));
  });
});

describe('escapeSlackControl', () => {
  it('escapes only &, < and > so cordon keeps its own formatting', () => {
    expect(escapeSlackControl('*a* <!here> & b')).toBe('*a* &lt;!here&gt; &amp; b');
  });
});
