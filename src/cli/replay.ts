import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Decision } from '../decision.ts';
import { runReplay, type ReplaySummary } from '../pipeline/replay.ts';
import { parseApiGatewayPolicy } from '../render/resource-policy.ts';
import { formatDecisionLine } from '../render/terminal.ts';
import { collect, DEFAULT_OUT, UsageError } from './main.ts';
import { buildConfig, type CommonRunOptions } from './options.ts';
import { ProgressBar } from './progress.ts';

/** The options `replay` and `rehearse` share: input files, output folder, configuration, allowlist, dry run. */
export function withRunOptions(cmd: Command): Command {
  return cmd
    .argument('<files...>', 'access-log files')
    .option('--out <dir>', 'output folder', DEFAULT_OUT)
    .option('--config <file>', 'cordon.config.json (defaults apply without one)')
    .option('--allow <cidr>', 'never block this address or CIDR (repeatable)', collect, [])
    .option('--allow-principal <principal>', 'never block this principal (repeatable)', collect, [])
    .option('--dry-run', 'decide, but hold every block as an alert')
    .option('--policy <file>', "the API's existing resource policy, to merge cordon's statements into")
    .option('--quiet', 'print only the summary');
}

export function replayCommand(): Command {
  return withRunOptions(new Command('replay')
    .description('replay access-log files (any supported format, .gz too) through the pipeline and write what it would have done'))
    .option('--state <file>', 'SQLite state to learn from and keep across replays (default: a fresh OUT/state.sqlite)')
    .addOption(new Option('--threads <n>', 'threads: 1 runs everything on one; 2 reads, decodes and ingests on a second '
      + '(same decisions); default 2 for input of 32 MB or more on two cores or more').choices(['1', '2']))
    .action(async (files: string[], o: ReplayCliOptions) => {
      const summary = await replay(files, o);
      printSummary(summary, o.out);
    });
}

type ReplayCliOptions = CommonRunOptions & { out: string; state?: string; policy?: string; quiet?: boolean; threads?: '1' | '2' };

export async function replay(files: string[], o: ReplayCliOptions): Promise<ReplaySummary> {
  const config = buildConfig(o);
  const basePolicy = o.policy ? readPolicy(o.policy) : null;
  const bar = new ProgressBar();
  const summary = await runReplay({
    files: files.map((f) => resolve(f)),
    outDir: resolve(o.out),
    statePath: o.state ? resolve(o.state) : undefined,
    config,
    basePolicy,
    threads: o.threads === undefined ? undefined : o.threads === '2' ? 2 : 1,
    onProgress: (done, total) => bar.update(done, total),
    onDecision: o.quiet ? undefined : (d: Decision) => {
      bar.clear();
      process.stdout.write(formatDecisionLine(d) + '\n');
    },
  });
  bar.clear();
  return summary;
}

export function readPolicy(path: string) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${path}: cannot read policy: ${(err as Error).message}`);
  }
  const policy = parseApiGatewayPolicy(text);
  if (!policy) throw new UsageError(`${path}: not a resource policy document`);
  return policy;
}

export function printSummary(s: ReplaySummary, out: string): void {
  const lines = [
    '',
    `read ${s.linesRead.toLocaleString('en')} lines (${s.linesUnreadable.toLocaleString('en')} unreadable), ${s.events.toLocaleString('en')} events, ${s.keysTracked.toLocaleString('en')} keys, ${s.windows} windows, ${s.eventsPerSecond.toLocaleString('en')} events/s`,
    `decided ${s.blocks} blocks, ${s.alerts} alerts, ${s.unblocks} unblocks${s.dryRun ? ' (dry run: nothing enforced)' : ''}; ${s.activeBlocksAtEnd} blocks active at the end of the log`,
  ];
  if (Object.keys(s.decisionsByReason).length) {
    lines.push('by reason: ' + Object.entries(s.decisionsByReason).map(([r, n]) => `${r} ${n}`).join(', '));
  }
  if (s.linesUnreadable) lines.push('unreadable: ' + Object.entries(s.unreadableByReason).map(([r, n]) => `${r} ${n}`).join(', '));
  const route = s.outputs['waf-route-rule.json'] ? ', waf-ipset-route-v4.json, waf-ipset-route-v6.json, waf-route-rule.json' : '';
  lines.push(`report:  ${s.outputs['report.html']}`, `outputs: ${resolve(out)}/ (decisions.jsonl, waf-ipset-v4.json, waf-ipset-v6.json${route}, resource-policy.json, alerts.jsonl, summary.json)`);
  process.stdout.write(lines.join('\n') + '\n');
}
