import { describe, expect, it } from 'vitest';
import { formatDecisionLine, formatTable } from '../../src/render/terminal.ts';
import { HOSTILE, decisions } from './fixture.ts';

// The console renderer lives in src/render/terminal.ts; its tests sit with the report's (same owner).

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('formatDecisionLine', () => {
  const ds = decisions();

  it('shows time, action, target, reasons, score and expiry on one line', () => {
    const scan = ds.find((d) => d.target === '203.0.113.66' && d.action === 'block')!;
    expect(formatDecisionLine(scan)).toBe(
      '2026-11-21 08:33:00Z  BLOCK    203.0.113.66                             path-scan  score 7.3  until 2026-11-21 09:33:00Z (1h)',
    );
  });

  it('says why an alert was held back and who released an unblock', () => {
    const held = ds.find((d) => d.evidence.heldBack === 'blast-radius')!;
    expect(formatDecisionLine(held)).toMatch(/ALERT .* \[held back: would block too large a share of traffic\]$/);
    const released = ds.find((d) => d.action === 'unblock' && d.evidence.releasedBy === 'operator')!;
    expect(formatDecisionLine(released)).toMatch(/UNBLOCK .* released by operator$/);
  });

  it('never passes terminal control sequences through', () => {
    const d = { ...ds[0], target: HOSTILE.ansi, reasons: ['flood\r\u001b[1A'] };
    const line = formatDecisionLine(d);
    expect(line).not.toMatch(CONTROL);
    expect(line).toContain('\\u001b[2J');
    expect(line).not.toContain('\n');
  });
});

describe('formatTable', () => {
  it('pads columns under a header rule without trailing spaces', () => {
    const out = formatTable([
      ['TARGET', 'KIND', 'EXPIRES'],
      ['198.51.100.0/24', 'cidr', '2026-11-21 11:38:00Z'],
      ['2001:db8::1', 'ip', '-'],
    ]);
    expect(out.split('\n')).toEqual([
      'TARGET           KIND  EXPIRES',
      '---------------  ----  --------------------',
      '198.51.100.0/24  cidr  2026-11-21 11:38:00Z',
      '2001:db8::1      ip    -',
    ]);
  });

  it('escapes and bounds hostile cells, and copes with ragged rows', () => {
    const out = formatTable([['A', 'B'], [HOSTILE.ansi + 'x'.repeat(500)], ['', 'z']]);
    const lines = out.split('\n');
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).not.toMatch(CONTROL);
      expect(line.length).toBeLessThanOrEqual(80 + 2 + 1);
    }
    expect(formatTable([])).toBe('');
  });
});
