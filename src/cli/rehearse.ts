import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Decision } from '../decision.ts';
import type { SummaryWireLevel } from '../engine/wire.ts';
import { DEFAULT_INGEST_BATCHING_WINDOW_SECONDS, isIngestBatchingWindow, MAX_INGEST_BATCHING_WINDOW_SECONDS } from '../engine/ingest-batching.ts';
import { formatDecisionLine } from '../render/terminal.ts';
import { runRehearse, type RehearseSummary } from '../rehearse/rehearse.ts';
import { positiveInt, UsageError } from './main.ts';
import { buildConfig, type CommonRunOptions } from './options.ts';
import { ProgressBar } from './progress.ts';
import { readPolicy, withRunOptions } from './replay.ts';

interface RehearseCliOptions extends CommonRunOptions {
  out: string;
  policy?: string;
  quiet?: boolean;
  shards: number;
  laggingShard: number;
  seed: number;
  summaryWireLevel: 'auto' | '1' | '2' | '3' | '4';
  ingestBatchingWindow: number;
}

function batchingWindow(v: string): number {
  const n = Number(v);
  if (!isIngestBatchingWindow(n)) {
    throw new UsageError(`--ingest-batching-window must be a whole number of seconds from 1 to ${MAX_INGEST_BATCHING_WINDOW_SECONDS}, got '${v}'`);
  }
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError(`--lagging-shard: seconds from 0 to 3600, got ${JSON.stringify(v)}`);
  return n;
}

export function rehearseCommand(): Command {
  return withRunOptions(new Command('rehearse')
    .description('run access-log files through the deployed stages under a simulated AWS clock: what your deployment would do, and when'))
    .option('--shards <n>', 'shards of the access-log and summaries streams', positiveInt, 2)
    .option('--lagging-shard <seconds>', 'one access-log shard delivers this far behind the others', seconds, 0)
    .option('--seed <n>', 'seed of the simulated delays', positiveInt, 1)
    .addOption(new Option('--summary-wire-level <n>', 'the summaries stream\'s wire level, as the construct prop summaryWireLevel '
      + 'sets it: auto, what detect announces it reads (4 in this release); 1 what every release reads; 2 sends hosts only and detect '
      + 'derives their prefixes; 3 sends those in brotli records; 4 those with short distinct hashes and rounded sums')
      .choices(['auto', '1', '2', '3', '4']).default('auto'))
    .option('--ingest-batching-window <seconds>', 'how long ingest\'s event source mapping gathers records, as the construct prop '
      + `ingestBatchingWindowSeconds sets it (1-${MAX_INGEST_BATCHING_WINDOW_SECONDS})`, batchingWindow, DEFAULT_INGEST_BATCHING_WINDOW_SECONDS)
    .action(async (files: string[], o: RehearseCliOptions) => {
      const bar = new ProgressBar();
      const config = buildConfig(o);
      const s = await runRehearse({
        files: files.map((f) => resolve(f)), outDir: resolve(o.out), config,
        basePolicy: o.policy ? readPolicy(o.policy) : null, shards: o.shards, laggingShardSeconds: o.laggingShard, seed: o.seed,
        summaryWireLevel: o.summaryWireLevel === 'auto' ? 'auto' : Number(o.summaryWireLevel) as SummaryWireLevel, ingestBatchingWindowSeconds: o.ingestBatchingWindow,
        onProgress: (done, total) => bar.update(done, total),
        onDecision: o.quiet ? undefined : (d: Decision) => process.stdout.write(formatDecisionLine(d) + '\n'),
      });
      bar.clear();
      printRehearsal(s, o.out, config.waf.routeScoped.enabled);
    });
}

/** `routeScoped`: config waf.routeScoped, whose route sets and rule are written too. */
export function printRehearsal(s: RehearseSummary, out: string, routeScoped = false): void {
  const t = s.timeToContainSeconds;
  const lines = [
    '',
    `rehearsed ${s.events.toLocaleString('en')} requests (${s.linesUnreadable} unreadable lines) on ${s.shards} shards, seed ${s.seed}` +
      (s.laggingShardSeconds ? `, one shard ${s.laggingShardSeconds} s behind` : '') + `, in ${s.wallSeconds} s`,
    `decided ${s.blocks} blocks, ${s.alerts} alerts, ${s.unblocks} unblocks${s.dryRun ? ' (dry run: nothing enforced)' : ''}`,
    `time from a target's first request to its block in effect: median ${t.p50 ?? '-'} s, p95 ${t.p95 ?? '-'} s, worst ${t.worst ?? '-'} s (${t.blocks} targets)`,
    `  of which cordon's (to its write accepted, before WAF or API Gateway propagate it): median ${s.timeToApplySeconds.p50 ?? '-'} s, p95 ${s.timeToApplySeconds.p95 ?? '-'} s`,
    `late: ${s.late.folded} parts folded, ${s.late.dropped} dropped, ${s.late.clamped} times clamped; delivery: ${s.delivery.retried} retries, ` +
      `${s.delivery.bisected} bisections, ${s.delivery.toFailureQueue} records to the failure queue, ${s.delivery.coldStarts} cold starts`,
    `streams: ${Object.entries(s.streams).map(([n, x]) => `${n} ${x.records.toLocaleString('en')} records, ${(x.bytes / 1e6).toFixed(1)} MB`).join('; ')}`,
    `outputs: ${resolve(out)}/ (decisions.jsonl with wall-clock times, waf-ipset-v4.json, waf-ipset-v6.json` +
      `${routeScoped ? ', waf-ipset-route-v4.json, waf-ipset-route-v6.json, waf-route-rule.json' : ''}` +
      ', resource-policy.json, alerts.jsonl, summary.json)',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
