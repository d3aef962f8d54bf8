import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/decision.ts';
import { MAX_CHART_POINTS } from '../../src/report/chart.ts';
import { MAX_DECISION_ROWS, renderReportHtml } from '../../src/report/html.ts';
import type { ReportData } from '../../src/report/report-data.ts';
import { HOSTILE, T0, decisions, horizonDecision, reportData, timeline } from './fixture.ts';
import { requirement } from '../helpers/requirements.ts';

/**
 * The fixture has 18 decisions that fall into 12 (minute, action) groups, hence 12 chart markers:
 * blocks — the four flood IPs (one minute), the /24, the scanner, five IPv6 stuffers (five minutes) = 8;
 * alerts — the principal, the blast-radius hold = 2; unblocks — the four flood IPs (one minute), the scanner = 2.
 */
const FIXTURE_DECISIONS = 18;
const FIXTURE_MARKERS = 12;

const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;
/** Every tag with its quoted attribute values blanked: what is left are element and attribute names. */
const tagSkeletons = (html: string): string[] => [...html.matchAll(/<[^>]*>/g)].map((m) => m[0].replace(/"[^"]*"/g, '""'));
const markerCounts = (html: string): number[] => [...html.matchAll(/class="marker [^"]*"[^>]*data-count="(\d+)"/g)].map((m) => Number(m[1]));

function emptyData(): ReportData {
  return {
    title: 'empty run', generatedAt: '2026-11-21T12:00:00.000Z', inputs: [], dryRun: false,
    summary: {
      linesRead: 0, linesUnreadable: 0, events: 0, keysTracked: 0, eventsPerSecond: 0, wallSeconds: 0, blocks: 0, alerts: 0,
      unblocks: 0, decisionsByReason: {}, logStart: null, logEnd: null,
    },
    timeline: [], decisions: [], topKeys: [], unreadableSamples: [], outputs: [],
  };
}

describe('renderReportHtml', () => {
  const data = reportData();
  const html = renderReportHtml(data);

  it('emits no script at all and forbids scripts and remote loads by CSP', () => {
    expect(count(html, /<script/gi)).toBe(0);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:`);
  });

  it('escapes every hostile string: no injected element or handler', () => {
    expect(html).not.toContain('<script>alert');
    expect(html).not.toMatch(/<img/i);
    // "onerror=" may appear only as text or inside a quoted value, never as an attribute.
    for (const tag of tagSkeletons(html)) expect(tag).not.toMatch(/\son\w+=/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    // Control and bidi characters are shown, not obeyed.
    expect(html).toContain('\\u001b[2J\\u001b]0;pwned\\u0007\\u000d\\u202eevil');
    expect(html).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u202e]/);
  });

  it('loads nothing from outside the file', () => {
    for (const tag of tagSkeletons(html)) expect(tag).not.toMatch(/\ssrc\s*=/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).not.toMatch(/@import/i);
    for (const m of html.matchAll(/href="([^"]*)"/g)) expect(m[1]).toMatch(/^[\w][\w.-]*$/);
  });

  it('shows the headline figures', () => {
    expect(html).toMatch(/Lines read<\/div><div class="kv">478,438</);
    expect(html).toMatch(/Blocks<\/div><div class="kv">11</);
    expect(html).toMatch(/Alerts<\/div><div class="kv">2</);
    expect(html).toMatch(/Unblocks<\/div><div class="kv">5</);
    expect(html).toContain('212,345<small>/s</small>');
    expect(html).toContain('1 need review');
    expect(html).not.toContain('banner dry');
  });

  it('draws the traffic chart with one marker per window and action', () => {
    expect(count(html, /<svg class="chart traffic"/g)).toBe(1);
    const markers = markerCounts(html);
    expect(markers).toHaveLength(FIXTURE_MARKERS);
    expect(markers.reduce((a, b) => a + b, 0)).toBe(FIXTURE_DECISIONS);
    expect(count(html, /class="marker m-block"/g)).toBe(8);
    expect(count(html, /class="marker m-alert"/g)).toBe(2);
    expect(count(html, /class="marker m-unblock"/g)).toBe(2);
    // 360 one-minute windows need no downsampling: one hover column each.
    expect(count(html, /<rect [^>]*><title>/g)).toBe(360);
    expect(html).toContain('4 blocks · 2026-11-21 07:37:00Z');
  });

  it('lists every decision with its evidence', () => {
    expect(count(html, /<details class="d d-/g)).toBe(FIXTURE_DECISIONS);
    expect(count(html, /<details class="d d-block/g)).toBe(11);
    expect(html).toContain('402 distinct 404 paths (97% of 690 requests are 404)');
    expect(html).toContain('2 req/window over 12 windows · now ×345');
    expect(html).toMatch(/<dt>distinct 404 paths<\/dt><dd>402<\/dd>/);
    expect(html).toContain('<code>/.env</code>');
    expect(html).toMatch(/<details class="d d-alert needs"[^>]*><summary>[^]*?blast-radius/);
  });

  it('lists top keys, unreadable samples and outputs', () => {
    expect(html).toMatch(/<td class="mono key"[^>]*>198\.51\.100\.0\/24<\/td>/);
    expect(html).toContain('98.6%');
    expect(html).toContain('prod-api-2026-11-21.jsonl.gz:20,331');
    expect(html).toContain('<a href="decisions.jsonl"><code>decisions.jsonl</code></a>');
  });

  it('puts up a dry-run banner when nothing was enforced', () => {
    const dry = renderReportHtml(reportData({ dryRun: true }));
    expect(dry).toContain('<div class="banner dry"><b>Dry run.</b>');
  });

  it('handles a run with no traffic and no decisions', () => {
    const out = renderReportHtml(emptyData());
    expect(out).toContain('No traffic and no decisions in this run.');
    expect(out).toContain('No decisions: nothing crossed a threshold');
    expect(out).toContain('Every line was read.');
    expect(out).not.toContain('<svg');
  });

  it("shows an aggregation's blocked hosts, as this release records them and as earlier releases did (in features)", () => {
    const agg = (evidence: Record<string, unknown>): Decision => JSON.parse(JSON.stringify({
      time: '2026-11-21T10:05:00.000Z', action: 'block', target: '192.0.2.0/24', targetKind: 'cidr', reasons: ['aggregation', 'flood'],
      score: 5, expiresAt: '2026-11-21T11:05:00.000Z',
      evidence: { key: '192.0.2.0/24', keyKind: 'prefix', windowStart: T0, windowEnd: T0 + 60_000, held: '3 blocked hosts', findings: [], ...evidence },
    }));
    const out = renderReportHtml({ ...emptyData(), decisions: [agg({ features: {}, blockedHosts: 3 }), agg({ features: { blockedHosts: 4 } })] });
    expect(out).toMatch(/<dt>blocked hosts<\/dt><dd>3<\/dd>/);
    expect(out).toMatch(/<dt>blocked hosts<\/dt><dd>4<\/dd>/);
  });

  it('names the horizon that decided a finding beside its rule, and not again in its detail', () => {
    const out = renderReportHtml({ ...emptyData(), decisions: [horizonDecision()] });
    const findings = /<ul class="findings">(.*?)<\/ul>/s.exec(out)![1];
    expect(findings.split('</li>').filter(Boolean)).toEqual([
      '<li><i class="chip">path-scan</i> <span class="hz">over the last hour</span> <b>1.6</b><p>24 distinct missing paths, 27 of 31 requests answered 404</p>',
      '<li><i class="chip">auth-failures</i> <span class="hz">over the last 10 minutes</span> <b>1.2</b><p>12 failed logins, 12 of 15 requests refused with 401/403</p>',
      '<li><i class="chip">scanner-agent</i> <b>1.0</b><p>1 of 4 requests sent with an attack tool&#39;s user agent</p>',
    ]);
    expect(count(out, /over the last hour/g)).toBe(1);
  });

  it('charts decisions even without a timeline', () => {
    const out = renderReportHtml({ ...emptyData(), decisions: decisions().slice(0, 3) });
    expect(markerCounts(out).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('stays fast and bounded for a day of windows and 5,000 decisions', () => {
    const base = decisions();
    const many: Decision[] = Array.from({ length: 5_000 }, (_, i) => ({
      ...base[i % base.length],
      time: new Date(T0 + ((i * 17_000) % 86_400_000)).toISOString(),
      target: `${base[i % base.length].target}-${i}`,
    }));
    const started = performance.now();
    const out = renderReportHtml(reportData({ timeline: timeline(1_440), decisions: many }));
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(3_000);
    expect(count(out, /<details class="d d-/g)).toBe(MAX_DECISION_ROWS);
    expect(out).toContain('Showing the first 500 of 5,000 decisions in time order');
    expect(markerCounts(out).reduce((a, b) => a + b, 0)).toBe(5_000);
    const points = /<polyline class="series s-requests"[^>]*points="([^"]*)"/.exec(out)![1].split(' ');
    expect(points.length).toBeLessThanOrEqual(MAX_CHART_POINTS);
    expect(out.length).toBeLessThan(3_000_000);
  });

  it('keeps a one-window flood visible when downsampling', () => {
    const tl = timeline(1_440).map((p) => ({ ...p, requests: 100 }));
    tl[777] = { ...tl[777], requests: 50_000 };
    const out = renderReportHtml(reportData({ timeline: tl, decisions: [] }));
    expect(out).toMatch(/50,000 requests/); // the hover title of the bucket holding it
    expect(out).toContain('busiest window');
  });
});

// --- Headless Chromium: the page really renders, and injected markup never becomes elements. ---

const CHROMIUM = '/usr/bin/chromium';
/** Skipped (visibly) without Chromium locally; a failure in CI. */
const chromiumInstalled = requirement('chromium', existsSync(CHROMIUM) ? [] : [CHROMIUM], 'apt-get install -y chromium');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs Chromium with a fresh profile; kills its whole process group on timeout. */
function chromium(args: string[], timeoutMs = 60_000): Promise<Run> {
  const profile = mkdtempSync(join(tmpdir(), 'cordon-chromium-'));
  const argv = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      reject(new Error(`chromium timed out after ${timeoutMs} ms\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

chromiumInstalled.describe('report in headless Chromium', () => {
  let dir: string;
  let file: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-report-'));
    file = join(dir, 'report.html');
    writeFileSync(file, renderReportHtml(reportData()));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('renders the chart with its decision markers and the decisions table', async () => {
    const run = await chromium(['--dump-dom', `file://${file}`]);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const dom = run.stdout;
    expect(dom).toContain('<svg class="chart traffic"');
    expect(markerCounts(dom)).toHaveLength(FIXTURE_MARKERS);
    expect(count(dom, /<details class="d d-/g)).toBe(FIXTURE_DECISIONS);
    expect(count(dom, /<polyline class="series/g)).toBe(5);
    // Hostile strings stayed text: the parsed DOM holds no element an attacker could have created.
    expect(count(dom, /<script/gi)).toBe(0);
    expect(count(dom, /<img/gi)).toBe(0);
    expect(dom).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('takes a non-trivial screenshot', async () => {
    const png = join(dir, 'report.png');
    const run = await chromium([`--screenshot=${png}`, '--window-size=1400,2000', `file://${file}`]);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(20 * 1024);
  });
});
