import type { Decision, Evidence, Finding } from '../decision.ts';
import { HORIZON_TEXT } from '../detect/rules/rule.ts';
import type { FeatureName } from '../features/key-window.ts';
import { PROXY_ADVICE } from '../net/proxies.ts';

/**
 * Number, time and feature formatting shared by the report, Slack and the terminal, so the three say the same
 * thing the same way. Output here is cordon's own text (no attacker-controlled strings), but callers still escape
 * it for their sink.
 */

const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ONE = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** 12345 → "12,345"; non-finite → "—" (a missing figure is not a zero). */
export function fmtInt(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? INT.format(n) : '—';
}

/** 1.234 → "1.2"; non-finite → "—". */
export function fmtNum(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? ONE.format(n) : '—';
}

/** Scores read best with one decimal. */
export function fmtScore(n: number): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(1) : '—';
}

/** 1536 → "1.5 KB" (base 1024, as AWS reports bytes). */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${INT.format(v)} B` : `${ONE.format(v)} ${units[i]}`;
}

/** Epoch ms or ISO → Date, or null when it does not parse. */
function toDate(t: number | string | null | undefined): Date | null {
  if (t === null || t === undefined || t === '') return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "2026-11-21 10:05:00Z": sortable, unambiguous, UTC like the logs. Unparseable → "—". */
export function fmtTime(t: number | string | null | undefined): string {
  const d = toDate(t);
  return d ? d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z') : '—';
}

/** "10:05" (UTC) for chart axes and short spans. */
export function fmtClock(t: number, withSeconds = false): string {
  const iso = new Date(t).toISOString();
  return withSeconds ? iso.slice(11, 19) : iso.slice(11, 16);
}

/** 5400000 → "1h 30m"; 45000 → "45s"; negative or non-finite → "—". */
export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** How long a decision holds, from its own time: "1h" or "—" for unblocks and bad data. */
export function decisionDuration(d: Pick<Decision, 'time' | 'expiresAt'>): string {
  const from = toDate(d.time);
  const to = toDate(d.expiresAt);
  return from && to ? fmtDuration(to.getTime() - from.getTime()) : '—';
}

/** Labels for the window features of {@link KeyWindow.features}, in the order a reader wants them. */
export const FEATURE_LABELS: readonly (readonly [FeatureName, string])[] = [
  ['requests', 'requests'],
  ['status4xx', '4xx'],
  ['notFound', '404'],
  ['authFailures', '401/403'],
  ['throttled', '429'],
  ['status5xx', '5xx'],
  ['distinctPaths', 'distinct paths'],
  ['distinctNotFoundPaths', 'distinct 404 paths'],
  ['distinctIps', 'distinct IPs'],
  ['distinctPrincipals', 'principals'],
  ['distinctUserAgents', 'user agents'],
  ['loginPosts', 'login POSTs'],
  ['bytes', 'bytes out'],
  ['meanLatencyMs', 'mean latency'],
];

/** Labels for the figures evidence carries besides the window's features (shown after them). */
const EVIDENCE_LABELS: readonly (readonly ['blockedHosts', string])[] = [['blockedHosts', 'blocked hosts']];

// By plain string: stored evidence is read from JSON and may hold names this release does not know.
const LABEL = new Map<string, string>([...FEATURE_LABELS, ...EVIDENCE_LABELS]);
const ORDER = new Map<string, number>(FEATURE_LABELS.map(([k], i) => [k, i]));

/** Formats one feature value by its name (bytes, latency, counts). */
export function fmtFeature(name: string, v: number): string {
  if (/bytes/i.test(name)) return fmtBytes(v);
  if (/latency/i.test(name)) return v < 0 ? '—' : `${fmtInt(v)} ms`;
  return fmtNum(v);
}

/**
 * The figures of an evidence worth showing, labelled and formatted: its window features, known ones first in
 * reading order, then any others by name (an aggregation's blocked hosts among them). Zeros are dropped (they say
 * nothing) except requests; `limit` bounds the list for small sinks.
 */
export function featureFigures(ev: Pick<Evidence, 'features' | 'blockedHosts'> | undefined, limit = Infinity): { name: string; label: string; value: string }[] {
  if (!ev) return [];
  const figures: [string, unknown][] = Object.entries(ev.features ?? {});
  if (ev.blockedHosts !== undefined) figures.push(['blockedHosts', ev.blockedHosts]);
  return figures
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .filter(([k, v]) => (v !== 0 || k === 'requests') && !(k === 'meanLatencyMs' && v < 0))
    .sort(([a], [b]) => (ORDER.get(a) ?? 1e9) - (ORDER.get(b) ?? 1e9) || a.localeCompare(b))
    .slice(0, limit)
    .map(([k, v]) => ({ name: k, label: LABEL.get(k) ?? k, value: fmtFeature(k, v) }));
}

/** What a held-back reason means, for people. */
export const HELD_BACK_TEXT: Record<NonNullable<Evidence['heldBack']>, string> & Record<string, string> = {
  'dry-run': 'dry run: recorded, not enforced',
  'count-mode': 'rule in count mode: not enforced',
  cap: 'new-block cap reached this window',
  'blast-radius': 'would block too large a share of traffic',
  allowlist: 'target is allowlisted',
  learning: 'still learning what normal is: volume alone blocks no key without history yet',
  proxy: PROXY_ADVICE,
};

/** Held-back reasons that mean a person should look now. */
export const PAGE_REASONS = new Set(['blast-radius', 'cap']);

/**
 * The horizon that decided a finding, for people ("over the last hour"), or undefined for a finding on its window
 * alone. Stored findings are read from JSON: a horizon this release does not know is not shown (its detail still
 * names it).
 */
export function findingHorizon(f: Pick<Finding, 'horizon'>): string | undefined {
  const h = f.horizon;
  return typeof h === 'string' && Object.hasOwn(HORIZON_TEXT, h) ? HORIZON_TEXT[h] : undefined;
}

/** A finding's rule with the horizon that decided it: "path-scan (over the last hour)", or "path-scan". */
export function findingTitle(f: Pick<Finding, 'rule' | 'horizon'>): string {
  const horizon = findingHorizon(f);
  return horizon ? `${f.rule} (${horizon})` : String(f.rule);
}

/**
 * A finding's detail without the horizon it opens with ("over the last hour: 16 distinct missing paths, …" becomes
 * "16 distinct missing paths, …"), for a sink that shows the horizon beside the rule ({@link findingHorizon}).
 */
export function findingDetail(f: Pick<Finding, 'detail' | 'horizon'>): string {
  const detail = String(f.detail ?? '');
  const horizon = findingHorizon(f);
  return horizon && detail.startsWith(`${horizon}: `) ? detail.slice(horizon.length + 2) : detail;
}
