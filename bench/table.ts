/** Markdown tables for the terminal and the README (the lead pastes them as printed). */

export function mdTable(header: string[], rows: (string | number)[][], align?: ('l' | 'r')[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const a = align ?? header.map((_, c) => (c === 0 ? 'l' : 'r'));
  const line = (r: string[]) => '| ' + r.map((v, c) => (a[c] === 'r' ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join(' | ') + ' |';
  const rule = '| ' + widths.map((w, c) => (a[c] === 'r' ? '-'.repeat(Math.max(w - 1, 1)) + ':' : '-'.repeat(w))).join(' | ') + ' |';
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/** 1234567 → "1,234,567". */
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Dollars with enough digits to tell small items apart. */
export function usd(n: number): string {
  if (n === 0) return '$0';
  if (n >= 1) return '$' + n.toFixed(2);
  const digits = Math.max(2, -Math.floor(Math.log10(n)) + 1);
  return '$' + n.toFixed(Math.min(digits, 8));
}

export const pct = (x: number): string => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;

/** A quantity with 3 significant digits. */
export const qty = (n: number): string => (Number.isFinite(n) ? (n >= 1000 ? int(n) : Number(n.toPrecision(3)).toString()) : '–');
