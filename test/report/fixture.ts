import type { Decision, Evidence } from '../../src/decision.ts';
import { horizonFinding } from '../../src/detect/rules/rule.ts';
import type { ReportData, TimelinePoint } from '../../src/report/report-data.ts';
import { mulberry32 as rng } from '../helpers/rng.ts';

/**
 * A realistic report input: six hours of one-minute windows of an API with a daily curve, a flood, a path
 * scan and a credential-stuffing run, and decisions of every action carrying hostile strings where a log can
 * put them (targets from principals, paths, user agents, unreadable excerpts).
 */

export const HOSTILE = {
  script: '<script>alert(1)</script>',
  img: '"><img src=x onerror=alert(1)>',
  slack: '<!channel> <https://evil.example|click> *bold* _it_ ~s~ `code`',
  ansi: '\u001b[2J\u001b]0;pwned\u0007\r\u202eevil',
};


export const T0 = Date.UTC(2026, 10, 21, 6, 0, 0);
const MIN = 60_000;

export function timeline(windows = 360, seed = 7): TimelinePoint[] {
  const r = rng(seed);
  const out: TimelinePoint[] = [];
  for (let i = 0; i < windows; i++) {
    const curve = 900 + 500 * Math.sin((i / windows) * Math.PI);
    let requests = Math.round(curve * (0.9 + 0.2 * r()));
    let errors = Math.round(requests * (0.03 + 0.02 * r()));
    let notFound = Math.round(errors * 0.5);
    let authFailures = Math.round(errors * 0.3);
    let uniqueIps = Math.round(requests / 9 + 10 * r());
    if (i >= 95 && i < 101) { // flood from one /24
      requests += 2600;
    }
    if (i >= 150 && i < 162) { // path scanner
      requests += 700; errors += 680; notFound += 670;
    }
    if (i >= 240 && i < 255) { // credential stuffing from many IPs
      requests += 900; errors += 850; authFailures += 840; uniqueIps += 300;
    }
    out.push({ start: T0 + i * MIN, requests, errors, notFound, authFailures, uniqueIps });
  }
  return out;
}

function evidence(over: Partial<Evidence> & Pick<Evidence, 'key' | 'windowStart'>): Evidence {
  return {
    keyKind: 'ip',
    windowEnd: over.windowStart + MIN,
    findings: [],
    features: {},
    held: '2/3',
    ...over,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Decisions across the run: blocks, alerts (dry-run, blast-radius), unblocks, with hostile strings. */
export function decisions(): Decision[] {
  const ds: Decision[] = [];
  const flood = T0 + 96 * MIN;
  for (let k = 0; k < 4; k++) {
    const ip = `198.51.100.${10 + k}`;
    ds.push({
      time: iso(flood + MIN + k * 1000), action: 'block', target: ip, targetKind: 'ip', reasons: ['flood'], score: 9.5 + k,
      expiresAt: iso(flood + MIN + 60 * MIN), evidence: evidence({
        key: ip, windowStart: flood, held: 'unmistakable',
        findings: [{ rule: 'flood', score: 9.5 + k, unmistakable: true, detail: `${650 + k * 10} requests in 60 s, population median 6` }],
        features: { requests: 650 + k * 10, status4xx: 3, distinctPaths: 4, distinctUserAgents: 1, bytes: 1_200_000, meanLatencyMs: 41, distinctIps: 1 },
        baseline: { meanRequests: 5.5, windows: 42 }, populationMedianRequests: 6,
        samples: { paths: ['/v1/search?q=a', HOSTILE.script], userAgents: ['python-requests/2.31.0', HOSTILE.img] },
      }),
    });
  }
  ds.push({
    time: iso(flood + 2 * MIN), action: 'block', target: '198.51.100.0/24', targetKind: 'cidr', reasons: ['flood'], score: 12.1,
    expiresAt: iso(flood + 2 * MIN + 240 * MIN), evidence: evidence({
      key: '198.51.100.0/24', keyKind: 'prefix', windowStart: flood + MIN, held: 'unmistakable', priorBlocks: 1,
      findings: [{ rule: 'flood', score: 12.1, unmistakable: true, detail: '4 offending addresses in one /24 (2,640 requests in 60 s)' }],
      features: { requests: 2640, status4xx: 12, distinctIps: 4, distinctPaths: 9 },
      populationMedianRequests: 6,
    }),
  });
  const scan = T0 + 152 * MIN;
  ds.push({
    time: iso(scan + MIN), action: 'block', target: '203.0.113.66', targetKind: 'ip', reasons: ['path-scan'], score: 7.3,
    expiresAt: iso(scan + 61 * MIN), evidence: evidence({
      key: '203.0.113.66', windowStart: scan, held: '2/3',
      findings: [{ rule: 'path-scan', score: 7.3, unmistakable: false, detail: '402 distinct 404 paths (97% of 690 requests are 404)' }],
      features: { requests: 690, status4xx: 680, notFound: 670, distinctPaths: 410, distinctNotFoundPaths: 402, distinctUserAgents: 1, bytes: 88_000 },
      baseline: { meanRequests: 2, windows: 12 }, populationMedianRequests: 6,
      samples: {
        paths: ['/.env', '/wp-admin/setup-config.php', `/${HOSTILE.img}`, '/cgi-bin/../../etc/passwd', '/a'.repeat(400)],
        userAgents: [`Mozilla/5.0 ${HOSTILE.script}`, HOSTILE.ansi],
      },
    }),
  });
  // The path scanner comes back under a principal with a hostile name: a dry-run alert.
  ds.push({
    time: iso(scan + 4 * MIN), action: 'alert', target: `arn:aws:iam::123456789012:user/${HOSTILE.script}`, targetKind: 'principal',
    reasons: ['principal-many-ips', 'principal-volume'], score: 5.2, expiresAt: iso(scan + 64 * MIN),
    evidence: evidence({
      key: `arn:aws:iam::123456789012:user/${HOSTILE.script}`, keyKind: 'principal', windowStart: scan + 3 * MIN, heldBack: 'dry-run',
      findings: [
        { rule: 'principal-many-ips', score: 5.2, unmistakable: false, detail: 'used from 37 IPs in 60 s (usual 1.2)' },
        { rule: 'principal-volume', score: 3.1, unmistakable: false, detail: '1,450 requests, 31× its mean' },
      ],
      features: { requests: 1450, distinctIps: 37, bytes: 52_000_000, status4xx: 4 },
      baseline: { meanRequests: 46.8, windows: 300 },
      samples: { paths: ['/v1/export?all=1'], userAgents: [HOSTILE.slack] },
    }),
  });
  const stuffing = T0 + 242 * MIN;
  for (let k = 0; k < 6; k++) {
    const ip = `2001:db8:${(k + 1).toString(16)}::${(k * 7 + 3).toString(16)}`;
    ds.push({
      time: iso(stuffing + k * 2 * MIN), action: k === 5 ? 'alert' : 'block', target: ip, targetKind: 'ip',
      reasons: ['auth-failures', ...(k % 2 ? ['login-bruteforce'] : [])], score: 4 + k * 0.4, expiresAt: iso(stuffing + k * 2 * MIN + 60 * MIN),
      evidence: evidence({
        key: ip, windowStart: stuffing + (k * 2 - 1) * MIN, clientShare: k === 5 ? 0.41 : undefined,
        heldBack: k === 5 ? 'blast-radius' : undefined,
        findings: [{ rule: 'auth-failures', score: 4 + k * 0.4, unmistakable: false, detail: `${60 + k} 401/403 of ${66 + k} requests` }],
        features: { requests: 66 + k, status4xx: 61 + k, authFailures: 60 + k, loginPosts: 64 + k, distinctPrincipals: 48 },
        populationMedianRequests: 6,
        samples: { paths: ['/v1/login'], userAgents: ['okhttp/4.9.2'] },
      }),
    });
  }
  for (let k = 0; k < 4; k++) {
    const ip = `198.51.100.${10 + k}`;
    ds.push({
      time: iso(flood + 61 * MIN + k * 1000), action: 'unblock', target: ip, targetKind: 'ip', reasons: ['flood'], score: 0,
      expiresAt: null, evidence: evidence({ key: ip, windowStart: flood, held: 'unmistakable', releasedBy: 'expiry' }),
    });
  }
  ds.push({
    time: iso(T0 + 330 * MIN), action: 'unblock', target: '203.0.113.66', targetKind: 'ip', reasons: ['path-scan'], score: 0,
    expiresAt: null, evidence: evidence({ key: '203.0.113.66', windowStart: scan, releasedBy: 'operator' }),
  });
  return ds;
}

/**
 * A slow scanner blocked on evidence at the longer horizons, as the rules write it (horizonFinding: the detail opens
 * with its horizon): path-scan over the last hour, auth-failures over the last 10 minutes, and a finding on the
 * window alone beside them. Not among {@link decisions} (whose counts the report tests rely on).
 */
export function horizonDecision(): Decision {
  const start = T0 + 300 * MIN;
  return {
    time: iso(start + MIN), action: 'block', target: '203.0.113.9', targetKind: 'ip', reasons: ['path-scan', 'auth-failures', 'scanner-agent'],
    score: 1.6, expiresAt: iso(start + 61 * MIN), evidence: evidence({
      key: '203.0.113.9', windowStart: start, held: '2/3',
      findings: [
        horizonFinding('path-scan', '1h', 1.6, '24 distinct missing paths, 27 of 31 requests answered 404'),
        horizonFinding('auth-failures', '10m', 1.2, '12 failed logins, 12 of 15 requests refused with 401/403'),
        { rule: 'scanner-agent', score: 1, unmistakable: false, detail: "1 of 4 requests sent with an attack tool's user agent" },
      ],
      features: { requests: 4, status4xx: 3, notFound: 3, distinctPaths: 4, distinctNotFoundPaths: 3, distinctUserAgents: 1 },
      baseline: { meanRequests: 3.2, windows: 40 }, populationMedianRequests: 6,
    }),
  };
}

export function reportData(over: Partial<ReportData> = {}): ReportData {
  const tl = timeline();
  const ds = decisions();
  const count = (a: string): number => ds.filter((d) => d.action === a).length;
  const byReason: Record<string, number> = {};
  for (const d of ds) for (const r of d.reasons) byReason[r] = (byReason[r] ?? 0) + 1;
  const events = tl.reduce((s, p) => s + p.requests, 0);
  return {
    title: 'cordon replay: prod-api access logs',
    generatedAt: '2026-11-21T12:05:13.000Z',
    inputs: ['prod-api-2026-11-21.jsonl.gz', `weird-${HOSTILE.img}.log`],
    dryRun: false,
    summary: {
      linesRead: events + 37, linesUnreadable: 37, events, keysTracked: 18_422, eventsPerSecond: 212_345, wallSeconds: 2.9,
      blocks: count('block'), alerts: count('alert'), unblocks: count('unblock'), decisionsByReason: byReason,
      logStart: tl[0].start, logEnd: tl[tl.length - 1].start + MIN - 1,
    },
    timeline: tl,
    decisions: ds,
    topKeys: [
      { key: '198.51.100.0/24', kind: 'prefix', requests: 15_840, errors: 72, decided: 'block' },
      { key: `arn:aws:iam::123456789012:user/${HOSTILE.script}`, kind: 'principal', requests: 9_800, errors: 40, decided: 'alert' },
      { key: '203.0.113.66', kind: 'ip', requests: 8_280, errors: 8_160, decided: 'block' },
      { key: '2001:db8:1::3', kind: 'ip', requests: 990, errors: 915, decided: 'block' },
      { key: '192.0.2.44', kind: 'ip', requests: 610, errors: 3 },
      { key: `${HOSTILE.img}`, kind: 'principal', requests: 420, errors: 0 },
      { key: '192.0.2.45', kind: 'ip', requests: 380, errors: 12 },
    ],
    unreadableSamples: [
      { reason: 'not JSON and no known text format', excerpt: HOSTILE.script, line: 1042, source: 'prod-api-2026-11-21.jsonl.gz' },
      { reason: 'truncated JSON', excerpt: `{"requestId":"a1","ip":"203.0.113.9","userAgent":"${HOSTILE.img}`, line: 20_331, source: 'prod-api-2026-11-21.jsonl.gz' },
      { reason: 'gzip: unexpected end of file', excerpt: HOSTILE.ansi, line: 0, source: 'kinesis-records.jsonl' },
    ],
    outputs: [
      { name: 'decisions.jsonl', description: 'every decision with its evidence, one JSON object a line' },
      { name: 'waf-ipset-v4.json', description: 'what would be in the IPv4 WAF IP sets' },
      { name: 'waf-ipset-v6.json', description: 'what would be in the IPv6 WAF IP sets' },
      { name: 'resource-policy.json', description: 'the API resource policy with cordon\'s deny statement' },
      { name: 'alerts.jsonl', description: 'alert batches as SNS would receive them' },
      { name: 'summary.json', description: 'the run summary' },
    ],
    windowSeconds: 60,
    ...over,
  };
}
