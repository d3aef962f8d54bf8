import type { Action, Decision } from '../decision.ts';
import type { AlertBatch } from '../ports.ts';
import {
  HELD_BACK_TEXT, PAGE_REASONS, decisionDuration, featureFigures, findingDetail, findingHorizon, fmtInt, fmtNum, fmtScore,
  fmtTime,
} from '../report/format.ts';
import { escapeSlackControl, escapeSlackMrkdwn, safeText } from './escape.ts';

/**
 * Renders one alert batch as a Slack Block Kit message. Every value from a log (targets, paths, user agents)
 * goes through {@link escapeSlackMrkdwn}; cordon's own text goes through {@link escapeSlackControl}. The message
 * stays inside Slack's limits whatever the batch holds: Slack rejects an oversized message outright, and a
 * rejected alert is a lost alert.
 */

/** Slack's documented Block Kit limits (https://api.slack.com/reference/block-kit/blocks). */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  headerText: 150,
  contextElements: 10,
  contextText: 3000,
  /** Top-level `text` may be 40,000; a notification preview needs far less. */
  fallbackText: 300,
} as const;

const SAMPLE_PATHS = 5;
const SAMPLE_UAS = 3;
const SAMPLE_CHARS = 120;
const TARGET_CHARS = 200;

const ACTION_EMOJI: Record<Action, string> = { block: ':no_entry:', alert: ':warning:', unblock: ':unlock:' };

export interface SlackMessage {
  text: string;
  blocks: object[];
}

export function renderSlackMessage(batch: AlertBatch): SlackMessage {
  const decisions = prioritise(batch.decisions ?? []);
  const counts = countByAction(decisions);
  const summary = countsText(counts);
  const held = decisions.filter((d) => d.evidence?.heldBack && PAGE_REASONS.has(d.evidence.heldBack)).length;

  const head: object[] = [
    {
      type: 'header',
      text: plain(`${batch.page ? ':rotating_light: Needs a human — ' : ''}cordon: ${summary}`, SLACK_LIMITS.headerText),
    },
  ];
  const failures = batch.failures ?? [];
  const gaps = batch.gaps ?? [];
  if (batch.page) {
    const why = failures.length
      ? `${failures.length} containment ${plural(failures.length, 'target', 'targets')} failed: blocks there are not in effect.`
      : gaps.length
        ? `${gaps.length} ${plural(gaps.length, 'block has', 'blocks have')} no room in a target (IP sets full, policy size): decided, not enforced.`
        : held
          ? `${held} ${plural(held, 'decision was', 'decisions were')} held back by a safety guard (blast radius or new-block cap).`
          : 'A safety guard asked for a person to review this batch.';
    head.push(section(`:rotating_light: *Needs a human.* ${escapeSlackControl(why)} Review below, then enforce or release with \`cordon blocks\`.`));
  }
  for (const f of failures.slice(0, 5)) {
    head.push(section(`:x: *${escapeSlackMrkdwn(f.target, 120)}* failed: ${escapeSlackMrkdwn(f.error, 300)}`));
  }
  if (gaps.length) {
    const shownGaps = gaps.slice(0, 10).map((g) => `${escapeSlackMrkdwn(g.entry, 120)} (${g.reason})`).join(', ');
    head.push(section(`:warning: *Not enforced:* ${shownGaps}${gaps.length > 10 ? ` and ${gaps.length - 10} more` : ''}`));
  }
  head.push({
    type: 'context',
    elements: [mrkdwn(`Batch ${escapeSlackMrkdwn(batch.id, 80)} · ${escapeSlackControl(fmtTime(batch.time))}`)],
  });

  // Fill the block budget in priority order, always leaving room for the "and N more" section.
  const blocks = [...head];
  let shown = 0;
  for (const d of decisions) {
    const own = decisionBlocks(d);
    const remainingAfter = decisions.length - shown - 1;
    const reserve = remainingAfter > 0 ? 1 : 0;
    if (blocks.length + own.length + reserve > SLACK_LIMITS.blocksPerMessage) break;
    blocks.push(...own);
    shown++;
  }
  if (shown < decisions.length) blocks.push(moreSection(decisions.slice(shown)));

  const text = safeText(`cordon: ${summary}${batch.page ? ' — needs a human' : ''}`, SLACK_LIMITS.fallbackText);
  return { text: escapeSlackControl(text), blocks };
}

/** Paging decisions first, then blocks, alerts, unblocks; higher scores first within each. Stable otherwise. */
function prioritise(ds: readonly Decision[]): Decision[] {
  const rank = (d: Decision): number =>
    d.evidence?.heldBack && PAGE_REASONS.has(d.evidence.heldBack) ? 0 : d.action === 'block' ? 1 : d.action === 'alert' ? 2 : 3;
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => rank(a.d) - rank(b.d) || (num(b.d.score) - num(a.d.score)) || a.i - b.i)
    .map((x) => x.d);
}

function num(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

function countByAction(ds: readonly Decision[]): Record<Action, number> {
  const c: Record<Action, number> = { block: 0, alert: 0, unblock: 0 };
  for (const d of ds) if (d.action in c) c[d.action]++;
  return c;
}

function countsText(c: Record<Action, number>): string {
  const parts = [
    `${fmtInt(c.block)} ${plural(c.block, 'block', 'blocks')}`,
    `${fmtInt(c.alert)} ${plural(c.alert, 'alert', 'alerts')}`,
    `${fmtInt(c.unblock)} ${plural(c.unblock, 'unblock', 'unblocks')}`,
  ];
  return parts.join(', ');
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

/** One section with the decision, plus a context block with its samples when it has any. */
function decisionBlocks(d: Decision): object[] {
  const out: object[] = [section(decisionText(d))];
  const samples = sampleElements(d);
  if (samples.length) out.push({ type: 'context', elements: samples });
  return out;
}

function decisionText(d: Decision): string {
  const ev = d.evidence;
  const action = (['block', 'alert', 'unblock'] as const).includes(d.action) ? d.action : 'alert';
  const lines: string[] = [];
  lines.push(
    `${ACTION_EMOJI[action]} *${action.toUpperCase()}* ${escapeSlackMrkdwn(d.target, TARGET_CHARS)} ` +
      `_${escapeSlackControl(safeText(d.targetKind, 20))}_ · score *${fmtScore(d.score)}*` +
      (ev?.held ? ` · held ${escapeSlackControl(safeText(ev.held, 30))}` : ''),
  );
  const reasons = (d.reasons ?? []).slice(0, 10).map((r) => escapeSlackMrkdwn(r, 40));
  if (reasons.length) lines.push(`*Reasons:* ${reasons.join(' ')}`);
  if (d.action === 'unblock') {
    lines.push(`*Released:* ${escapeSlackControl(fmtTime(d.time))}${ev?.releasedBy ? ` by ${escapeSlackControl(safeText(ev.releasedBy, 20))}` : ''}`);
  } else if (d.expiresAt) {
    const prior = ev?.priorBlocks ? ` · repeat offender (${fmtInt(ev.priorBlocks)} prior)` : '';
    lines.push(`*Expires:* ${escapeSlackControl(fmtTime(d.expiresAt))} (${decisionDuration(d)})${prior}`);
  }
  if (ev?.scope) lines.push('*Scope:* the login route only (POSTs to login paths); the rest of the API still answers it');
  if (ev?.heldBack) {
    const share = typeof ev.clientShare === 'number' ? ` · would cover ${fmtNum(ev.clientShare * 100)}% of clients` : '';
    lines.push(`:hand: *Held back:* ${escapeSlackControl(HELD_BACK_TEXT[ev.heldBack] ?? safeText(ev.heldBack, 30))}${share}`);
  }
  const figs = featureFigures(ev, 8).map((f) => `${f.label} *${f.value}*`);
  if (ev) {
    lines.push(`*Window:* ${escapeSlackControl(fmtTime(ev.windowStart))} → ${escapeSlackControl(fmtTime(ev.windowEnd))}` +
      (figs.length ? ` · ${escapeSlackControl(safeText(figs.join(' · '), 600))}` : ''));
    const base: string[] = [];
    if (ev.baseline) base.push(`own baseline ${fmtNum(ev.baseline.meanRequests)} req/window over ${fmtInt(ev.baseline.windows)} windows`);
    if (typeof ev.populationMedianRequests === 'number') base.push(`population median ${fmtNum(ev.populationMedianRequests)}`);
    if (base.length) lines.push(`*Compared with:* ${escapeSlackControl(base.join(' · '))}`);
  }
  for (const f of (ev?.findings ?? []).slice(0, 5)) {
    const mark = f.unmistakable ? ', unmistakable' : '';
    const horizon = findingHorizon(f);
    lines.push(`• ${escapeSlackMrkdwn(f.rule, 40)}${horizon ? ` ${horizon}` : ''} (${fmtScore(f.score)}${mark}): ` +
      escapeSlackControl(safeText(findingDetail(f), 300)));
  }
  return joinBounded(lines, '\n', SLACK_LIMITS.sectionText);
}

/** Context elements with the attacker-controlled samples, each value escaped and bounded. */
function sampleElements(d: Decision): object[] {
  const s = d.evidence?.samples;
  const els: object[] = [];
  const paths = (s?.paths ?? []).slice(0, SAMPLE_PATHS).map((p) => escapeSlackMrkdwn(p, SAMPLE_CHARS));
  const uas = (s?.userAgents ?? []).slice(0, SAMPLE_UAS).map((u) => escapeSlackMrkdwn(u, SAMPLE_CHARS));
  if (paths.length) els.push(mrkdwn(joinBounded(['*Paths:*', ...paths], ' ', SLACK_LIMITS.contextText)));
  if (uas.length) els.push(mrkdwn(joinBounded(['*User agents:*', ...uas], ' ', SLACK_LIMITS.contextText)));
  return els;
}

/** The decisions that did not fit: counts, the first targets, and where to see the rest. */
function moreSection(rest: readonly Decision[]): object {
  const c = countByAction(rest);
  const head = `…and *${fmtInt(rest.length)} more* ${plural(rest.length, 'decision', 'decisions')} (${countsText(c)}). ` +
    'Full list: `cordon blocks list` or `decisions.jsonl`.';
  const targets = rest.slice(0, 30).map((d) => escapeSlackMrkdwn(d.target, 60));
  return section(joinBounded([head, ...(targets.length ? ['Targets:', ...targets] : [])], ' ', SLACK_LIMITS.sectionText));
}

/**
 * Joins whole pieces until the next would overflow `max`, then ends with "…". Pieces are never cut, so an
 * entity or a code span is never broken. A single piece longer than `max` (the callers bound their pieces, so
 * this is a last resort) is cut and any code span it opened is closed again.
 */
export function joinBounded(pieces: readonly string[], sep: string, max: number): string {
  const kept: string[] = [];
  let len = 0;
  for (const p of pieces) {
    const add = (kept.length ? sep.length : 0) + p.length;
    if (len + add <= max) {
      kept.push(p);
      len += add;
      continue;
    }
    if (!kept.length) return cutPiece(p, max);
    // Make room for the ellipsis by dropping whole pieces.
    while (kept.length && len + sep.length + 1 > max) {
      const last = kept.pop()!;
      len -= last.length + (kept.length ? sep.length : 0);
    }
    return kept.length ? kept.join(sep) + sep + '…' : '…';
  }
  return kept.join(sep);
}

function cutPiece(p: string, max: number): string {
  const cut = p.slice(0, Math.max(0, max - 2));
  const ticks = (cut.match(/`/g) ?? []).length;
  return ticks % 2 ? cut + '`…' : cut + '…';
}

function plain(text: string, max: number): object {
  // plain_text is shown literally; bound it by code points so an emoji is never split.
  return { type: 'plain_text', text: safeText(text, max), emoji: true };
}

function mrkdwn(text: string): object {
  return { type: 'mrkdwn', text };
}

function section(text: string): object {
  return { type: 'section', text: mrkdwn(joinBounded([text], '', SLACK_LIMITS.sectionText)) };
}
