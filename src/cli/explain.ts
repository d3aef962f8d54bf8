import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { covers, parseTarget } from '../contain/ledger-book.ts';
import type { Decision } from '../decision.ts';
import { safeText } from '../render/escape.ts';
import { findingDetail, findingTitle } from '../report/format.ts';
import { formatDecisionLine } from '../render/terminal.ts';
import { DEFAULT_OUT, UsageError } from './main.ts';

/** `cordon explain TARGET`: the evidence behind every decision on a target (or on a block that covers it). */
export function explainCommand(): Command {
  return new Command('explain')
    .description('print the evidence behind the decisions on an IP, CIDR or principal')
    .argument('<target>', 'IP, CIDR or principal')
    .option('--out <dir>', 'output folder of the replay', DEFAULT_OUT)
    .action((target: string, o: { out: string }) => {
      const path = join(resolve(o.out), 'decisions.jsonl');
      if (!existsSync(path)) throw new UsageError(`no decisions at ${path}: run \`cordon replay ... --out ${o.out}\` first`);
      const decisions = readFileSync(path, 'utf8').split('\n').filter(Boolean).flatMap((l) => {
        try {
          return [JSON.parse(l) as Decision];
        } catch {
          return [];
        }
      });
      const matching = decisions.filter((d) => concerns(d, target));
      if (matching.length === 0) {
        process.stdout.write(`no decision concerns ${safeText(target)}\n`);
        return;
      }
      process.stdout.write(matching.map(explain).join('\n') + '\n');
    });
}

function concerns(d: Decision, target: string): boolean {
  if (d.target === target) return true;
  if (d.targetKind === 'principal') return false;
  const outer = parseTarget(d.target);
  const inner = parseTarget(target);
  return !!outer && !!inner && covers(outer, inner);
}

export function explain(d: Decision): string {
  const e = d.evidence;
  const lines = [formatDecisionLine(d)];
  lines.push(`  key ${safeText(e.key)} (${e.keyKind}), window ${new Date(e.windowStart).toISOString()} .. ${new Date(e.windowEnd).toISOString()}, held ${safeText(e.held)}`);
  // The horizon that decided a finding beside its rule, once: "- path-scan (over the last hour): score 1.2: 16 distinct …".
  for (const f of e.findings ?? []) {
    lines.push(`  - ${safeText(findingTitle(f), 80)}: score ${f.score}${f.unmistakable ? ' (unmistakable)' : ''}: ${safeText(findingDetail(f), 300)}`);
  }
  const features = Object.entries(e.features ?? {}).filter(([, v]) => v !== 0 && v !== -1).map(([k, v]) => `${k}=${v}`).join(' ');
  if (features) lines.push(`  features: ${features}`);
  if (e.blockedHosts) lines.push(`  blocked hosts: ${e.blockedHosts}`);
  if (e.scope) lines.push('  scope: the login route only (POSTs to login paths; the rest of the API still answers it)');
  if (e.baseline) lines.push(`  own baseline: ${e.baseline.meanRequests} requests per window over ${e.baseline.windows} windows`);
  if (e.populationMedianRequests !== undefined) lines.push(`  population median: ${e.populationMedianRequests} requests per window`);
  if (e.heldBack) lines.push(`  held back: ${e.heldBack}`);
  if (e.trafficShare !== undefined) lines.push(`  established traffic it would cut: ${(e.trafficShare * 100).toFixed(2)}% of the window`);
  if (e.priorBlocks) lines.push(`  earlier blocks: ${e.priorBlocks} (escalated expiry)`);
  if (e.releasedBy) lines.push(`  released by: ${e.releasedBy}`);
  for (const p of e.samples?.paths ?? []) lines.push(`  sample path: ${safeText(p, 120)}`);
  for (const u of e.samples?.userAgents ?? []) lines.push(`  sample user agent: ${safeText(u, 120)}`);
  return lines.join('\n');
}
