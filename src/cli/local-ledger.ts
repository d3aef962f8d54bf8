import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AlertFile, IpSetFiles, PolicyFile } from '../adapters/local/files.ts';
import { SqliteState } from '../adapters/local/sqlite-state.ts';
import type { CordonConfig } from '../config.ts';
import { project } from '../contain/projection.ts';
import type { Decision } from '../decision.ts';
import type { LedgerEntry } from '../ports.ts';
import { UsageError } from './main.ts';

export interface LedgerLocation {
  out: string;
  state?: string;
}

/** Opens the local ledger of an output folder; a missing state file is the operator's mistake, said plainly. */
export function openLedger(o: LedgerLocation): { state: SqliteState; path: string } {
  const path = resolve(o.state ?? join(o.out, 'state.sqlite'));
  if (!existsSync(path)) throw new UsageError(`no cordon state at ${path}: run \`cordon replay ... --out ${o.out}\` first, or pass --state`);
  return { state: new SqliteState(path), path };
}

/**
 * "Now" for a local ledger: the end of the replayed log (its blocks live in log time), or the clock when there is
 * no replay summary.
 */
export function ledgerNow(out: string, at?: string): number {
  if (at) {
    const t = Date.parse(at);
    if (Number.isNaN(t)) throw new UsageError(`--at: not a time: ${at}`);
    return t;
  }
  try {
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { logEnd?: string | null };
    if (s.logEnd) return Date.parse(s.logEnd);
  } catch {
    // no summary: fall back to the clock
  }
  return Date.now();
}

/** The target's entries in force at `now`. */
export function activeEntries(entries: LedgerEntry[], now: number): LedgerEntry[] {
  return entries.filter((e) => e.status === 'active' && e.expiresAt > now);
}

/** After an operator change: the output folder's IP sets and policy follow the ledger, and the change is recorded. */
export function reprojectAndRecord(state: SqliteState, cfg: CordonConfig, out: string, now: number, decision: Decision): void {
  const p = project(state.listActiveSync(now), cfg);
  new IpSetFiles(out, { namePrefix: 'cordon', addressesPerSet: cfg.caps.addressesPerIpSet, maxSetsPerFamily: cfg.caps.maxIpSetsPerFamily,
    routeScoped: cfg.waf.routeScoped.enabled }).applySync(p.ipSets);
  new PolicyFile(out, null, { resource: 'execute-api:/*', maxChars: cfg.caps.policyMaxChars }).applySync(p.deny);
  appendFileSync(join(out, 'decisions.jsonl'), JSON.stringify(decision) + '\n');
  new AlertFile(join(out, 'alerts.jsonl'), { append: true }).publishSync({ id: `operator-${decision.target}-${Date.parse(decision.time)}`, time: decision.time, decisions: [decision], page: false });
}
