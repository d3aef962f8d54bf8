import { resolve } from 'node:path';
import { Command } from 'commander';
import { unblockDecision } from '../contain/decide.ts';
import type { LedgerEntry } from '../ports.ts';
import { fmtTime } from '../report/format.ts';
import { formatDecisionLine, formatTable } from '../render/terminal.ts';
import { collect, DEFAULT_OUT, positiveInt, UsageError } from './main.ts';
import { activeEntry, ledgerNow, openLedger, reprojectAndRecord } from './local-ledger.ts';
import { buildConfig, type CommonRunOptions } from './options.ts';

interface BlocksOptions extends CommonRunOptions {
  out: string;
  state?: string;
  at?: string;
}

const withLedgerOptions = (c: Command): Command =>
  c.option('--out <dir>', 'output folder of the replay', DEFAULT_OUT)
    .option('--state <file>', 'SQLite state (default: OUT/state.sqlite)')
    .option('--at <time>', 'the time to judge expiry at (default: end of the replayed log)')
    .option('--config <file>', 'cordon.config.json')
    .option('--allow <cidr>', 'allowlisted CIDR (repeatable)', collect, [])
    .option('--allow-principal <principal>', 'allowlisted principal (repeatable)', collect, []);

export function blocksCommand(): Command {
  const blocks = new Command('blocks').description('list, release or extend blocks in the local ledger');
  blocks.addCommand(withLedgerOptions(new Command('list'))
    .description('list active blocks (--all: every ledger entry)')
    .option('--all', 'include released and expired entries')
    .action((o: BlocksOptions & { all?: boolean }) => {
      const { state } = openLedger(o);
      try {
        const now = ledgerNow(resolve(o.out), o.at);
        const entries = o.all ? state.listAllSync() : state.listActiveSync(now);
        process.stdout.write(`${entries.length} ${o.all ? 'ledger entries' : 'active blocks'} as of ${fmtTime(now)}\n`);
        if (entries.length) process.stdout.write(formatTable([
          ['target', 'kind', 'status', 'since', 'until', 'reasons', 'score', 'prior'],
          ...entries.map((e) => [e.target, e.targetKind, statusAt(e, now), fmtTime(e.createdAt), fmtTime(e.expiresAt),
            e.reasons.join(','), String(e.score), String(e.priorBlocks)]),
        ]) + '\n');
      } finally {
        state.close();
      }
    }));
  blocks.addCommand(withLedgerOptions(new Command('release'))
    .description('release an active block now (the IP sets and policy in OUT follow)')
    .argument('<target>', 'IP, CIDR or principal')
    .action((target: string, o: BlocksOptions) => change(target, o, (e, now) => ({ ...e, status: 'released' as const, endedAt: now }), 'released')));
  blocks.addCommand(withLedgerOptions(new Command('extend'))
    .description('extend an active block')
    .argument('<target>', 'IP, CIDR or principal')
    .option('--minutes <n>', 'how much longer', positiveInt, 60)
    .action((target: string, o: BlocksOptions & { minutes: number }) =>
      change(target, o, (e) => ({ ...e, expiresAt: e.expiresAt + o.minutes * 60_000 }), `extended by ${o.minutes} minutes`)));
  return blocks;
}

function statusAt(e: LedgerEntry, now: number): string {
  return e.status === 'active' && e.expiresAt <= now ? 'expired' : e.status;
}

function change(target: string, o: BlocksOptions, edit: (e: LedgerEntry, now: number) => LedgerEntry, verb: string): void {
  const cfg = buildConfig(o);
  const out = resolve(o.out);
  const { state } = openLedger(o);
  try {
    const now = ledgerNow(out, o.at);
    const entry = activeEntry(state.historySync(target), now);
    if (!entry) throw new UsageError(`${target}: no active block as of ${fmtTime(now)} (cordon blocks list shows them)`);
    const updated = edit(entry, now);
    state.putLedgerSync([updated]);
    const decision = updated.status === 'released'
      ? unblockDecision(updated, now, 'operator')
      : { ...unblockDecision(updated, now, 'operator'), action: 'block' as const, expiresAt: new Date(updated.expiresAt).toISOString() };
    reprojectAndRecord(state, cfg, out, now, decision);
    process.stdout.write(`${target}: ${verb}\n${formatDecisionLine(decision)}\n`);
  } finally {
    state.close();
  }
}
