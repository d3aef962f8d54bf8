import type { Decision } from '../decision.ts';
import { HELD_BACK_TEXT, decisionDuration, fmtScore, fmtTime } from '../report/format.ts';
import { safeText } from './escape.ts';

/**
 * Console output. Everything goes through {@link safeText}: a user agent with `\x1b]0;...` or `\r` in it must not
 * retitle the operator's terminal, move the cursor or overwrite the line it is printed on. No colours, so the
 * output reads the same piped into a file.
 */

const TARGET_WIDTH = 39; // a full IPv6 address
const CELL_MAX = 80;

/**
 * One line per decision as the replay runs:
 * `2026-11-21 10:01:00Z  BLOCK    203.0.113.7   flood,path-scan  score 12.3  until 2026-11-21 11:01:00Z (1h)`.
 */
export function formatDecisionLine(d: Decision): string {
  const ev = d.evidence;
  const action = safeText(String(d.action ?? '').toUpperCase(), 8).padEnd(7);
  const target = safeText(d.target, 120).padEnd(TARGET_WIDTH);
  const reasons = safeText((d.reasons ?? []).join(','), 80) || '-';
  const parts = [fmtTime(d.time), action, target, reasons, `score ${fmtScore(d.score)}`];
  if (d.action === 'unblock') {
    if (ev?.releasedBy) parts.push(`released by ${safeText(ev.releasedBy, 20)}`);
  } else if (d.expiresAt) {
    parts.push(`until ${fmtTime(d.expiresAt)} (${decisionDuration(d)})`);
  }
  if (ev?.heldBack) parts.push(`[held back: ${safeText(HELD_BACK_TEXT[ev.heldBack] ?? ev.heldBack, 60)}]`);
  if (ev?.scope) parts.push('[login route only]');
  return parts.join('  ');
}

/**
 * A plain-text table for `blocks list`: the first row is the header, columns are padded to their widest cell,
 * a dashed rule sits under the header, and the last column is not padded (no trailing spaces). Every cell goes
 * through {@link safeText} (cut at 80 characters). Widths count UTF-16 units, so a wide CJK cell can misalign
 * its row; the content is still correct.
 */
export function formatTable(rows: string[][]): string {
  if (!rows.length) return '';
  const cells = rows.map((r) => r.map((c) => safeText(String(c ?? ''), CELL_MAX)));
  const cols = Math.max(...cells.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, i) => Math.max(0, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    widths
      .map((w, i) => (i === cols - 1 ? (r[i] ?? '') : (r[i] ?? '').padEnd(w)))
      .join('  ')
      .trimEnd();
  const out = [line(cells[0]), widths.map((w) => '-'.repeat(Math.max(w, 1))).join('  ')];
  for (const r of cells.slice(1)) out.push(line(r));
  return out.join('\n');
}
