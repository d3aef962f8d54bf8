import { resolve } from 'node:path';
import { Command } from 'commander';
import { unblockDecision } from '../contain/decide.ts';
import type { Decision } from '../decision.ts';
import type { LedgerEntry, LedgerStore } from '../ports.ts';
import { authorizerPrincipal, unverifiedPrincipal } from '../decode/principal-key.ts';
import { contains, familyBits, formatCidr, parseCidr } from '../net/cidr.ts';
import { fmtTime } from '../report/format.ts';
import { formatDecisionLine, formatTable } from '../render/terminal.ts';
import { collect, DEFAULT_OUT, positiveInt, UsageError } from './main.ts';
import { activeEntries, ledgerNow, openLedger, reprojectAndRecord } from './local-ledger.ts';
import { buildConfig, type CommonRunOptions } from './options.ts';

interface BlocksOptions extends CommonRunOptions {
  out: string;
  state?: string;
  at?: string;
  ledgerTable?: string;
}

const withLedgerOptions = (c: Command): Command =>
  c.option('--out <dir>', 'output folder of the replay', DEFAULT_OUT)
    .option('--state <file>', 'SQLite state (default: OUT/state.sqlite)')
    .option('--ledger-table <name>', "the deployed ledger (DynamoDB table; AWS credentials and region from the environment)")
    .option('--at <time>', 'the time to judge expiry at (default: end of the replayed log; now for --ledger-table)')
    .option('--config <file>', 'cordon.config.json')
    .option('--allow <cidr>', 'allowlisted CIDR (repeatable)', collect, [])
    .option('--allow-principal <principal>', 'allowlisted principal (repeatable)', collect, []);

/**
 * The ledger an operator works on: the local one of a replay (its IP set and policy files follow each change), or
 * the deployed one in DynamoDB (the contain function follows each change within a minute, on the ledger stream).
 */
interface OpenLedger {
  store: LedgerStore;
  now: number;
  afterChange(decision: Decision): void;
  close(): void;
}

async function open(o: BlocksOptions): Promise<OpenLedger> {
  if (o.ledgerTable) {
    const now = o.at ? ledgerNow('', o.at) : Date.now();
    // Loaded here, not with the module: the AWS SDK's clients cost every other command a tenth of a second to load.
    const [{ dynamoClient }, { DynamoLedgerStore }] = await Promise.all([import('../adapters/aws/clients.ts'), import('../adapters/aws/dynamodb.ts')]);
    return { store: new DynamoLedgerStore(dynamoClient(), o.ledgerTable), now, afterChange: () => {}, close: () => {} };
  }
  const out = resolve(o.out);
  const { state } = openLedger(o);
  const cfg = buildConfig(o);
  const now = ledgerNow(out, o.at);
  return { store: state, now, afterChange: (d) => reprojectAndRecord(state, cfg, out, now, d), close: () => state.close() };
}

export function blocksCommand(): Command {
  const blocks = new Command('blocks').description('list, release or extend blocks in the local or the deployed ledger');
  blocks.addCommand(withLedgerOptions(new Command('list'))
    .description('list active blocks (--all: every ledger entry)')
    .option('--all', 'include released, expired and held entries')
    .action(async (o: BlocksOptions & { all?: boolean }) => {
      const l = await open(o);
      try {
        const entries = o.all ? await l.store.listAll() : await l.store.listActive(l.now);
        process.stdout.write(`${entries.length} ${o.all ? 'ledger entries' : 'active blocks'} as of ${fmtTime(l.now)}\n`);
        if (entries.length) process.stdout.write(formatTable([
          ['target', 'kind', 'status', 'since', 'until', 'reasons', 'score', 'prior'],
          ...entries.map((e) => [e.target, e.targetKind, statusAt(e, l.now), fmtTime(e.createdAt), fmtTime(e.expiresAt),
            e.reasons.join(','), String(e.score), String(e.priorBlocks)]),
        ]) + '\n');
      } finally {
        l.close();
      }
    }));
  blocks.addCommand(withLedgerOptions(new Command('release'))
    .description('release every active block of the target now (WAF and the policy follow)')
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

async function change(typed: string, o: BlocksOptions, edit: (e: LedgerEntry, now: number) => LedgerEntry, verb: string): Promise<void> {
  const l = await open(o);
  try {
    // Every active entry of the target (a block of the whole API and one of its login route are two; an ARN may be
    // keyed as read from userArn or, unverified, from another field): releasing one alone would leave the target
    // blocked while saying it was released.
    const entries: LedgerEntry[] = [];
    for (const key of ledgerTargets(typed)) entries.push(...activeEntries(await l.store.history(key), l.now));
    const target = entries[0]?.target ?? typed.trim();
    if (entries.length === 0) {
      // An address a wider block holds (an IPv6 client's /64, a neighbour inside a /24 aggregate) has no entry of its
      // own: name what does hold it, so the operator can act on that block.
      const key = ledgerTargets(typed)[0] ?? typed.trim();
      const covering = coveringBlocks(await l.store.listActive(l.now), key);
      const held = covering.map((e) => `${e.target} (until ${fmtTime(e.expiresAt)})`).join(', ');
      throw new UsageError(covering.length > 0
        ? `${typed}: no block of its own, but blocked by ${held}${verb === 'released' ? ': release that block to let it through' : ''}`
        : `${typed}: no active block as of ${fmtTime(l.now)} (cordon blocks list shows them)`);
    }
    for (const entry of entries) {
      // A release is a new status, so the contain stage alerts it like any other change.
      const updated = edit(entry, l.now);
      await l.store.put(updated);
      const decision = updated.status === 'released'
        ? unblockDecision(updated, l.now, 'operator')
        : { ...unblockDecision(updated, l.now, 'operator'), action: 'block' as const, expiresAt: new Date(updated.expiresAt).toISOString() };
      l.afterChange(decision);
      process.stdout.write(`${entry.target}: ${verb}\n${formatDecisionLine(decision)}\n`);
    }
    if (verb !== 'released') return;
    const active = await l.store.listActive(l.now);
    // An address inside a blocked network stays blocked by it: said plainly, not left for the operator to find out.
    for (const outer of coveringBlocks(active, target)) {
      process.stdout.write(`${target}: still blocked by ${outer.target} until ${fmtTime(outer.expiresAt)} (release that block too to let it through)\n`);
    }
    // And a network released keeps its narrower blocks (its hosts blocked one by one): they stay in force.
    for (const inner of coveredBlocks(active, target)) {
      process.stdout.write(`${target}: ${inner.target} inside it stays blocked until ${fmtTime(inner.expiresAt)} (a block of its own)\n`);
    }
  } finally {
    l.close();
  }
}

/**
 * The keys the ledger may hold the target under: an address or block in canonical form (a single address, typed with
 * or without /32 or /128, as the bare address); an ARN as typed and as a principal read from another field than userArn.
 */
function ledgerTargets(typed: string): string[] {
  const text = typed.trim();
  const cidr = parseCidr(text);
  if (cidr !== null) {
    const canonical = formatCidr(cidr);
    return [cidr.len === familyBits(cidr.family) ? canonical.slice(0, canonical.indexOf('/')) : canonical];
  }
  // As read from userArn or apiKeyId (the text itself), or from another field (then unverified if it reads as an ARN, an
  // address or a key id).
  const principal = authorizerPrincipal(text);
  const unverified = unverifiedPrincipal(principal);
  return unverified === principal ? [text] : [principal, unverified];
}

/** Active blocks of addresses or narrower networks inside the network `target` (none for a principal or an address). */
function coveredBlocks(active: readonly LedgerEntry[], target: string): LedgerEntry[] {
  if (parseCidr(target) === null) return [];
  return active.filter((e) => e.target !== target && e.targetKind !== 'principal' && parseCidr(e.target) !== null && contains(target, e.target));
}

/** Active blocks of other, wider networks that hold `target` (none for a principal). */
function coveringBlocks(active: readonly LedgerEntry[], target: string): LedgerEntry[] {
  if (parseCidr(target) === null) return [];
  return active.filter((e) => e.target !== target && e.targetKind === 'cidr' && parseCidr(e.target) !== null && contains(e.target, target));
}
