import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/decision.ts';
import type { AlertBatch } from '../../src/ports.ts';
import { SLACK_LIMITS, joinBounded, renderSlackMessage } from '../../src/render/slack.ts';
import { HOSTILE, decisions as fixtureDecisions, horizonDecision } from '../report/fixture.ts';

type Text = { type: string; text: string };
type Block = { type: string; text?: Text; elements?: Text[] };

function batch(decisions: Decision[], page = false): AlertBatch {
  return { id: 'batch-2026-11-21T10:05:00Z-1', time: '2026-11-21T10:05:00.000Z', decisions, page };
}

/** Every mrkdwn/plain text object in the message. */
function texts(blocks: object[]): Text[] {
  const out: Text[] = [];
  for (const b of blocks as Block[]) {
    if (b.text) out.push(b.text);
    for (const e of b.elements ?? []) out.push(e);
  }
  return out;
}

/** What Slack would format, link or mention: the mrkdwn with inline-code spans removed. */
const outsideCode = (s: string): string => s.replace(/`[^`\n]*`/g, '');

const hostileDecision = (over: Partial<Decision> = {}): Decision => ({
  time: '2026-11-21T10:05:00.000Z',
  action: 'block',
  target: '<!channel>',
  targetKind: 'principal',
  reasons: ['flood', '<!here>'],
  score: 9.87,
  expiresAt: '2026-11-21T11:05:00.000Z',
  evidence: {
    key: '<!channel>',
    keyKind: 'principal',
    windowStart: Date.parse('2026-11-21T10:04:00Z'),
    windowEnd: Date.parse('2026-11-21T10:05:00Z'),
    findings: [{ rule: 'flood', score: 9.87, unmistakable: true, detail: '1,840 requests in 60 s' }],
    features: { requests: 1840, status4xx: 20, bytes: 5_000_000 },
    held: 'unmistakable',
    samples: {
      paths: ['<https://evil.example|click here>', '*bold* _x_ ~y~ @channel', `/a\u001b[2J\r\u202eb`, HOSTILE.script],
      userAgents: ['Mozilla/5.0 ' + 'A\u0007'.repeat(5_000), '`rm -rf /`'],
    },
  },
  ...over,
});

describe('renderSlackMessage', () => {
  it('escapes hostile targets, reasons, paths and user agents', () => {
    const msg = renderSlackMessage(batch([hostileDecision()]));
    const all = texts(msg.blocks);
    for (const t of all.filter((x) => x.type === 'mrkdwn')) {
      // Slack control sequences need a raw '<': none may survive anywhere.
      expect(t.text).not.toMatch(/[<>]/);
      // Outside code spans only cordon's own words remain: no attacker text can format, link or mention.
      const free = outsideCode(t.text);
      expect(free).not.toMatch(/evil|channel|here>|bold|rm -rf|script/);
      // No control characters (bell, ESC, CR) reach Slack.
      expect(t.text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
    }
    const json = JSON.stringify(msg);
    expect(json).toContain('`&lt;!channel&gt;`');
    expect(json).toContain('&lt;https://evil.example|click here&gt;');
    expect(json).toContain('\\\\u001b[2J');
    expect(json).not.toContain('<!channel>');
    expect(json).not.toContain('<https://');
  });

  it('bounds a 10,000-character user agent', () => {
    const msg = renderSlackMessage(batch([hostileDecision()]));
    const ua = texts(msg.blocks).find((t) => t.text.startsWith('*User agents:*'))!;
    expect(ua).toBeDefined();
    expect(ua.text.length).toBeLessThan(1000);
    expect(ua.text).toContain('…`');
  });

  it('respects Block Kit limits for 500 decisions and counts the rest', () => {
    const many = Array.from({ length: 500 }, (_, i) => hostileDecision({ target: `203.0.113.${i % 256}/${i}`, score: i % 17 }));
    const msg = renderSlackMessage(batch(many, true));
    expect(msg.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
    expect(msg.blocks.length).toBeGreaterThan(40); // the budget is used, not wasted
    const shown = (msg.blocks as Block[]).filter((b) => b.type === 'section' && /^:(no_entry|warning|unlock):/.test(b.text!.text)).length;
    const last = (msg.blocks as Block[]).at(-1)!;
    const more = Number(/and \*(\d[\d,]*) more\*/.exec(last.text!.text)![1].replace(/,/g, ''));
    expect(shown + more).toBe(500);
    expect(last.text!.text).toContain(`(${more} blocks, 0 alerts, 0 unblocks)`);
    expect((msg.blocks[0] as Block).text!.text).toContain('500 blocks');
    assertLimits(msg.blocks);
  });

  it('keeps every text within its limit even with maximal evidence', () => {
    const huge = hostileDecision({
      target: '&'.repeat(5_000),
      reasons: Array.from({ length: 50 }, () => '<'.repeat(100)),
    });
    huge.evidence.findings = Array.from({ length: 20 }, () => ({ rule: 'flood' as const, score: 1, unmistakable: false, detail: '&'.repeat(2_000) }));
    huge.evidence.samples = { paths: Array.from({ length: 20 }, () => '>'.repeat(500)), userAgents: Array.from({ length: 20 }, () => '&'.repeat(500)) };
    const msg = renderSlackMessage(batch(Array.from({ length: 60 }, () => huge)));
    assertLimits(msg.blocks);
  });

  it('produces valid JSON that round-trips, with no lone surrogates', () => {
    const d = hostileDecision({ target: 'x\ud800y' });
    d.evidence.samples = { paths: ['/\udc00'], userAgents: ['😀 ok'] };
    const msg = renderSlackMessage(batch([d]));
    const json = JSON.stringify(msg);
    expect(JSON.parse(json)).toEqual(msg);
    // With the u flag a valid pair is one code point, so this matches lone surrogates only.
    expect(json).not.toMatch(/[\ud800-\udfff]/u);
    expect(json).toContain('`x\\\\ud800y`'); // shown as visible text instead
    expect(json).toContain('😀 ok');
  });

  it('says plainly when a human is needed, and only then', () => {
    const paging = renderSlackMessage(batch([hostileDecision({ action: 'alert' })], true));
    const header = (paging.blocks[0] as Block).text!.text;
    expect(header).toMatch(/Needs a human/);
    expect(header).toContain('0 blocks, 1 alert, 0 unblocks');
    expect(paging.text).toMatch(/needs a human/);
    const calm = renderSlackMessage(batch([hostileDecision()]));
    expect(JSON.stringify(calm)).not.toMatch(/needs a human/i);
    expect((calm.blocks[0] as Block).text!.text).toBe('cordon: 1 block, 0 alerts, 0 unblocks');
  });

  it('shows action, target, reasons, score, expiry, figures and held-back reason', () => {
    const ds = fixtureDecisions();
    const msg = renderSlackMessage(batch(ds, true));
    const sections = (msg.blocks as Block[]).filter((b) => b.type === 'section').map((b) => b.text!.text);
    // The blast-radius alert pages, so it comes first.
    const first = sections.find((s) => /^:(no_entry|warning|unlock):/.test(s))!;
    expect(first).toMatch(/^:warning: \*ALERT\* `2001:db8:6::26`/);
    expect(first).toContain('*Held back:* would block too large a share of traffic · would cover 41% of clients');
    expect(first).toContain('*Reasons:* `auth-failures` `login-bruteforce`');
    expect(first).toContain('score *6.0*');
    expect(first).toContain('*Expires:* 2026-11-21 11:12:00Z (1h)');
    expect(first).toContain('401/403 *65*');
    const unblock = sections.find((s) => s.startsWith(':unlock:') && s.includes('operator'))!;
    expect(unblock).toContain('*Released:* 2026-11-21 11:30:00Z by operator');
  });

  it('names the horizon that decided a finding beside its rule, once', () => {
    const msg = renderSlackMessage(batch([horizonDecision()]));
    const text = (msg.blocks as Block[]).find((b) => b.type === 'section' && b.text!.text.startsWith(':no_entry:'))!.text!.text;
    const bullets = text.split('\n').filter((l) => l.startsWith('• '));
    expect(bullets).toEqual([
      '• `path-scan` over the last hour (1.6): 24 distinct missing paths, 27 of 31 requests answered 404',
      '• `auth-failures` over the last 10 minutes (1.2): 12 failed logins, 12 of 15 requests refused with 401/403',
      "• `scanner-agent` (1.0): 1 of 4 requests sent with an attack tool's user agent",
    ]);
    expect(text.match(/over the last hour/g)).toHaveLength(1);
  });

  it('renders an empty batch without failing', () => {
    const msg = renderSlackMessage(batch([]));
    expect((msg.blocks[0] as Block).text!.text).toBe('cordon: 0 blocks, 0 alerts, 0 unblocks');
    expect(msg.blocks).toHaveLength(2);
  });
});

describe('joinBounded', () => {
  it('keeps whole pieces and ends with an ellipsis', () => {
    expect(joinBounded(['`aaa`', '`bbb`', '`ccc`'], ' ', 13)).toBe('`aaa` `bbb` …');
    expect(joinBounded(['`aaa`', '`bbb`'], ' ', 11)).toBe('`aaa` `bbb`');
  });

  it('closes a code span it has to cut', () => {
    const out = joinBounded(['`' + 'x'.repeat(50) + '`'], ' ', 10);
    expect(out).toBe('`xxxxxxx`…');
    expect(out.length).toBeLessThanOrEqual(10);
  });
});

function assertLimits(blocks: object[]): void {
  expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
  for (const b of blocks as Block[]) {
    if (b.type === 'header') expect(b.text!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    if (b.type === 'section') expect(b.text!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    if (b.type === 'context') {
      expect(b.elements!.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
      for (const e of b.elements!) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextText);
    }
  }
}
