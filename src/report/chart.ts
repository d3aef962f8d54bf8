import type { Action, Decision } from '../decision.ts';
import { escapeHtml as h, safeText } from '../render/escape.ts';
import { fmtClock, fmtDuration, fmtInt, fmtTime } from './format.ts';
import type { TimelinePoint } from './report-data.ts';

/**
 * Inline SVG charts for the report, built as strings (no libraries, no scripts). Tooltips are SVG <title>
 * elements, which browsers show on hover without JavaScript.
 */

/** At most this many points per series: more than the chart has pixels only costs bytes. */
export const MAX_CHART_POINTS = 600;

/** Timeline points merged into one chart step (`start` is the step's). */
export interface Bucket extends TimelinePoint {
  /** Windows that had data in this bucket. */
  windows: number;
}

export interface Buckets {
  buckets: Bucket[];
  /** Length of one window and of one bucket, ms. */
  stepMs: number;
  bucketMs: number;
  /** Windows folded into one bucket (1 = no downsampling). */
  factor: number;
}

/** Window length: given, or the smallest gap between consecutive windows, or a minute. */
export function inferStepMs(timeline: readonly TimelinePoint[], windowSeconds?: number): number {
  if (windowSeconds && windowSeconds > 0) return windowSeconds * 1000;
  let step = Infinity;
  for (let i = 1; i < timeline.length; i++) {
    const d = timeline[i].start - timeline[i - 1].start;
    if (d > 0 && d < step) step = d;
  }
  return Number.isFinite(step) ? step : 60_000;
}

/**
 * Puts the timeline on a regular grid covering `[from, to]`: gaps become zeros (no traffic, not a straight line
 * across), and when there are more windows than {@link MAX_CHART_POINTS}, consecutive windows fold into one
 * bucket keeping each series' peak, so a one-minute flood still shows in a day-long chart.
 */
export function bucketize(timeline: readonly TimelinePoint[], stepMs: number, from: number, to: number, maxPoints = MAX_CHART_POINTS): Buckets {
  const t0 = Math.floor(from / stepMs) * stepMs;
  const windows = Math.max(1, Math.floor((to - t0) / stepMs) + 1);
  const factor = Math.max(1, Math.ceil(windows / maxPoints));
  const bucketMs = stepMs * factor;
  const n = Math.ceil(windows / factor);
  const buckets: Bucket[] = Array.from({ length: n }, (_, i) => ({
    start: t0 + i * bucketMs, requests: 0, errors: 0, notFound: 0, authFailures: 0, uniqueIps: 0, windows: 0,
  }));
  for (const p of timeline) {
    const i = Math.floor((p.start - t0) / bucketMs);
    const b = buckets[i];
    if (!b) continue;
    b.requests = Math.max(b.requests, num(p.requests));
    b.errors = Math.max(b.errors, num(p.errors));
    b.notFound = Math.max(b.notFound, num(p.notFound));
    b.authFailures = Math.max(b.authFailures, num(p.authFailures));
    b.uniqueIps = Math.max(b.uniqueIps, num(p.uniqueIps));
    b.windows++;
  }
  return { buckets, stepMs, bucketMs, factor };
}

function num(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

/** A "nice" axis maximum and tick step (1, 2, 2.5, 5 × 10^k) with about `ticks` ticks. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { max: Math.ceil(max / step) * step, step };
}

/** 1234 → "1.2k", 2500000 → "2.5M": axis labels must stay narrow. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(2)}`;
}

const TIME_STEPS = [
  60_000, 2 * 60_000, 5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000,
  3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000, 86_400_000, 2 * 86_400_000, 7 * 86_400_000,
];

/** Round-time ticks (UTC) across `[from, to]`, at most `max` of them. */
export function timeTicks(from: number, to: number, max = 9): number[] {
  const span = Math.max(1, to - from);
  const step = TIME_STEPS.find((s) => span / s <= max) ?? Math.ceil(span / max / 86_400_000) * 86_400_000;
  const out: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
  return out;
}

/** Marker groups above which only the lane dots are drawn (see renderTrafficChart). */
export const DENSE_MARKERS = 150;

export const ACTION_COLOURS: Record<Action, string> = { block: '#dc2626', alert: '#d97706', unblock: '#16a34a' };
export const SERIES = [
  { key: 'requests', label: 'requests', colour: '#2563eb' },
  { key: 'errors', label: '4xx/5xx', colour: '#7c3aed' },
  { key: 'notFound', label: '404', colour: '#0891b2' },
  { key: 'authFailures', label: '401/403', colour: '#db2777' },
] as const;

interface Frame {
  w: number;
  h: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const f1 = (n: number): string => (Math.round(n * 10) / 10).toString();

export interface MarkerGroup {
  action: Action;
  /** Bucket index on the grid. */
  index: number;
  decisions: Decision[];
}

/** Decisions grouped by (bucket, action): one marker each, so 5,000 decisions stay a readable, light chart. */
export function groupMarkers(decisions: readonly Decision[], t0: number, bucketMs: number, n: number): MarkerGroup[] {
  const groups = new Map<string, MarkerGroup>();
  for (const d of decisions) {
    const t = Date.parse(d.time);
    if (!Number.isFinite(t) || !(d.action in ACTION_COLOURS)) continue;
    const index = Math.min(n - 1, Math.max(0, Math.floor((t - t0) / bucketMs)));
    const k = `${index}:${d.action}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { action: d.action, index, decisions: [] }));
    g.decisions.push(d);
  }
  const order: Record<Action, number> = { unblock: 0, alert: 1, block: 2 };
  // Blocks drawn last, so they sit on top where markers overlap.
  return [...groups.values()].sort((a, b) => order[a.action] - order[b.action] || a.index - b.index);
}

export interface TrafficChart {
  svg: string;
  markers: number;
  grid: Buckets;
}

/**
 * The traffic chart: requests per window as an area, 4xx+5xx/404/401-403 as lines, and one vertical marker per
 * (window, action) for the decisions, in a lane above the plot with its own row per action.
 */
export function renderTrafficChart(points: readonly TimelinePoint[], decisions: readonly Decision[], windowSeconds?: number): TrafficChart | null {
  const timeline = points.filter((p) => Number.isFinite(p?.start)).sort((a, b) => a.start - b.start);
  const times = timeline.map((p) => p.start).filter(Number.isFinite);
  const dTimes = decisions.map((d) => Date.parse(d.time)).filter(Number.isFinite);
  if (!times.length && !dTimes.length) return null;
  const stepMs = inferStepMs(timeline, windowSeconds);
  const from = Math.min(...minMax(times), ...minMax(dTimes));
  const to = Math.max(...minMax(times), ...minMax(dTimes));
  const grid = bucketize(timeline, stepMs, from, to);
  const { buckets, bucketMs } = grid;
  const fr: Frame = { w: 1200, h: 360, left: 64, right: 16, top: 66, bottom: 34 };
  const t0 = buckets[0].start;
  const t1 = t0 + buckets.length * bucketMs;
  const pw = fr.w - fr.left - fr.right;
  const ph = fr.h - fr.top - fr.bottom;
  const x = (t: number): number => fr.left + ((t - t0) / (t1 - t0)) * pw;
  const cx = (i: number): number => x(buckets[i].start + bucketMs / 2);
  const yMax = Math.max(1, ...buckets.map((b) => b.requests));
  const scale = niceScale(yMax);
  const y = (v: number): number => fr.top + ph - (v / scale.max) * ph;
  const base = fr.top + ph;

  const parts: string[] = [];
  parts.push(`<svg class="chart traffic" viewBox="0 0 ${fr.w} ${fr.h}" role="img" aria-label="Requests per window with decisions marked" xmlns="http://www.w3.org/2000/svg">`);

  // Y grid and labels.
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    const yy = f1(y(v));
    parts.push(`<line class="grid" x1="${fr.left}" x2="${fr.w - fr.right}" y1="${yy}" y2="${yy}"/>`);
    parts.push(`<text class="ylab" x="${fr.left - 8}" y="${yy}" dy="4" text-anchor="end">${compact(v)}</text>`);
  }
  // X ticks.
  for (const t of timeTicks(t0, t1)) {
    const xx = f1(x(t));
    const label = tickLabel(t, t0, t1);
    parts.push(`<line class="tick" x1="${xx}" x2="${xx}" y1="${base}" y2="${base + 5}"/>`);
    parts.push(`<text class="xlab" x="${xx}" y="${base + 20}" text-anchor="middle">${label}</text>`);
  }

  // Series: requests as an area, the others as lines.
  const pts = (key: keyof Bucket): string => buckets.map((b, i) => `${f1(cx(i))},${f1(y(b[key]))}`).join(' ');
  parts.push(`<polygon class="area" points="${f1(cx(0))},${base} ${pts('requests')} ${f1(cx(buckets.length - 1))},${base}"/>`);
  for (const s of SERIES) {
    parts.push(`<polyline class="series s-${s.key}" fill="none" stroke="${s.colour}" points="${pts(s.key)}"/>`);
  }
  parts.push(`<line class="axis" x1="${fr.left}" x2="${fr.w - fr.right}" y1="${base}" y2="${base}"/>`);

  // Hover targets: one transparent column per bucket with its figures.
  const colW = f1(pw / buckets.length);
  const span = grid.factor > 1 ? ` (busiest of ${grid.factor} windows)` : '';
  parts.push('<g class="cols">');
  buckets.forEach((b, i) => {
    const tip = `${fmtTime(b.start)}${span}\n${fmtInt(b.requests)} requests · ${fmtInt(b.errors)} 4xx/5xx · ${fmtInt(b.notFound)} 404 · ${fmtInt(b.authFailures)} 401/403 · ${fmtInt(b.uniqueIps)} IPs`;
    parts.push(`<rect x="${f1(x(b.start))}" y="${fr.top}" width="${colW}" height="${ph}"><title>${h(tip)}</title></rect>`);
  });
  parts.push('</g>');

  // Decision lane and markers.
  const lanes: Action[] = ['block', 'alert', 'unblock'];
  const laneY = (a: Action): number => 10 + lanes.indexOf(a) * 14;
  for (const a of lanes) {
    parts.push(`<text class="lane" x="${fr.left - 8}" y="${laneY(a) + 4}" text-anchor="end" fill="${ACTION_COLOURS[a]}">${a}</text>`);
    parts.push(`<line class="laneline" x1="${fr.left}" x2="${fr.w - fr.right}" y1="${laneY(a)}" y2="${laneY(a)}"/>`);
  }
  const groups = groupMarkers(decisions, t0, bucketMs, buckets.length);
  // Past this many markers the vertical lines would veil the traffic: keep only the lane dots then.
  const dense = groups.length > DENSE_MARKERS;
  for (const g of groups) {
    const xx = f1(cx(g.index));
    const ly = laneY(g.action);
    const n = g.decisions.length;
    const r = f1(dense ? Math.min(4, 2.5 + Math.log2(n) / 2) : Math.min(7, 3.5 + Math.log2(n)));
    const colour = ACTION_COLOURS[g.action];
    parts.push(
      `<g class="marker m-${g.action}" data-action="${g.action}" data-count="${n}">` +
        `<title>${h(markerTip(g, bucketMs))}</title>` +
        (dense ? '' : `<line class="mline" x1="${xx}" x2="${xx}" y1="${ly}" y2="${base}" stroke="${colour}"/>`) +
        `<circle cx="${xx}" cy="${ly}" r="${r}" fill="${colour}"/>` +
        `<line class="hit" x1="${xx}" x2="${xx}" y1="${ly - 6}" y2="${dense ? ly + 6 : base}"/>` +
        `</g>`,
    );
  }
  parts.push('</svg>');
  return { svg: parts.join(''), markers: groups.length, grid };
}

/** "10:05", or the date ("11-22") at midnight when the chart spans more than one day. */
function tickLabel(t: number, t0: number, t1: number): string {
  const multiDay = new Date(t0).getUTCDate() !== new Date(t1 - 1).getUTCDate() || t1 - t0 > 86_400_000;
  return multiDay && t % 86_400_000 === 0 ? new Date(t).toISOString().slice(5, 10) : fmtClock(t);
}

function minMax(xs: number[]): number[] {
  if (!xs.length) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of xs) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** "3 blocks, 10:05–10:06Z" plus the first targets with their reasons (targets are attacker-influenced). */
function markerTip(g: MarkerGroup, bucketMs: number): string {
  const n = g.decisions.length;
  const first = Date.parse(g.decisions[0].time);
  const head = `${n} ${g.action}${n === 1 ? '' : 's'} · ${fmtTime(first)}${bucketMs > 60_000 ? ` (${fmtDuration(bucketMs)} bucket)` : ''}`;
  const lines = g.decisions.slice(0, 8).map((d) => `${safeText(d.target, 60)} — ${safeText((d.reasons ?? []).join(', '), 60)} (score ${Number.isFinite(d.score) ? d.score.toFixed(1) : '—'})`);
  if (n > 8) lines.push(`… and ${n - 8} more`);
  return [head, ...lines].join('\n');
}

/** A small line chart of distinct client IPs per window, on the same time grid as the traffic chart. */
export function renderIpsChart(grid: Buckets): string {
  const { buckets, bucketMs } = grid;
  const fr: Frame = { w: 1200, h: 120, left: 64, right: 16, top: 12, bottom: 26 };
  const t0 = buckets[0].start;
  const t1 = t0 + buckets.length * bucketMs;
  const pw = fr.w - fr.left - fr.right;
  const ph = fr.h - fr.top - fr.bottom;
  const x = (t: number): number => fr.left + ((t - t0) / (t1 - t0)) * pw;
  const scale = niceScale(Math.max(1, ...buckets.map((b) => b.uniqueIps)), 2);
  const y = (v: number): number => fr.top + ph - (v / scale.max) * ph;
  const base = fr.top + ph;
  const parts: string[] = [`<svg class="chart ips" viewBox="0 0 ${fr.w} ${fr.h}" role="img" aria-label="Distinct client IPs per window" xmlns="http://www.w3.org/2000/svg">`];
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    const yy = f1(y(v));
    parts.push(`<line class="grid" x1="${fr.left}" x2="${fr.w - fr.right}" y1="${yy}" y2="${yy}"/>`);
    parts.push(`<text class="ylab" x="${fr.left - 8}" y="${yy}" dy="4" text-anchor="end">${compact(v)}</text>`);
  }
  for (const t of timeTicks(t0, t1)) {
    const xx = f1(x(t));
    parts.push(`<text class="xlab" x="${xx}" y="${base + 18}" text-anchor="middle">${tickLabel(t, t0, t1)}</text>`);
  }
  const pts = buckets.map((b) => `${f1(x(b.start + bucketMs / 2))},${f1(y(b.uniqueIps))}`).join(' ');
  parts.push(`<polyline class="series s-ips" fill="none" points="${pts}"/>`);
  parts.push(`<line class="axis" x1="${fr.left}" x2="${fr.w - fr.right}" y1="${base}" y2="${base}"/>`);
  parts.push('</svg>');
  return parts.join('');
}
