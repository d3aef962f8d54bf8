import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { CordonConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import type { AccessEvent } from '../../src/events.ts';
import { LocalRunner } from '../../src/engine/local-runner.ts';
import type { AlertBatch, LedgerEntry } from '../../src/ports.ts';
import { type PipelineRun, pushAll, readJsonl } from './robustness-sim.ts';

/**
 * What a local run enforces, read from the files it wrote (the UpdateIPSet payloads and the resource policy), with
 * the ledger as it stood when it wrote them. Parsed here from the files' own JSON, not through src/render.
 */

export interface PolicyStatementText {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action?: unknown;
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDoc {
  Version?: string;
  Statement: PolicyStatementText[];
}

export interface Enforced {
  /** Every address / CIDR of every IP set payload, v4 and v6. */
  ipSets: string[];
  /** The same, per family (every set of the family). */
  v4: string[];
  v6: string[];
  /** Length of the policy text as written (0 without a policy). */
  policyChars: number;
  /** The resource policy document as written; null when the file holds `null` (no policy). */
  policy: PolicyDoc | null;
  /** What the policy's Deny statements deny: principals (Principal.AWS) and CIDRs (IpAddress aws:SourceIp). */
  deny: { principals: string[]; cidrs: string[] };
}

const list = (v: unknown): string[] => (v === undefined ? [] : ([v].flat() as string[]));

function readFamily(dir: string, family: 4 | 6): string[] {
  const payloads = JSON.parse(readFileSync(join(dir, `waf-ipset-v${family}.json`), 'utf8')) as { IPAddressVersion: string; Addresses: string[] }[];
  for (const p of payloads) if (p.IPAddressVersion !== `IPV${family}`) throw new Error(`waf-ipset-v${family}.json holds a ${p.IPAddressVersion} set`);
  return payloads.flatMap((s) => s.Addresses);
}

export function readIpSets(dir: string): string[] {
  return [...readFamily(dir, 4), ...readFamily(dir, 6)];
}

/** The principals and CIDRs every Deny statement of a policy document names. */
export function denyOf(doc: PolicyDoc | null): { principals: string[]; cidrs: string[] } {
  const out = { principals: [] as string[], cidrs: [] as string[] };
  for (const s of doc?.Statement ?? []) {
    if (s.Effect !== 'Deny') continue;
    const p = s.Principal;
    if (typeof p === 'object' && p !== null && 'AWS' in p) out.principals.push(...list((p as { AWS: unknown }).AWS));
    out.cidrs.push(...list(s.Condition?.IpAddress?.['aws:SourceIp']));
  }
  return out;
}

export function readEnforced(dir: string): Enforced {
  const text = readFileSync(join(dir, 'resource-policy.json'), 'utf8').trim();
  const policy = JSON.parse(text) as PolicyDoc | null;
  const v4 = readFamily(dir, 4);
  const v6 = readFamily(dir, 6);
  return { ipSets: [...v4, ...v6], v4, v6, policyChars: policy === null ? 0 : text.length, policy, deny: denyOf(policy) };
}

/** The files right after one contain run that published an alert batch, with what that run had in hand. */
export interface Snapshot extends Enforced {
  /** Ledger entries with status `active` at that moment (what contain projected: it has just expired the due ones). */
  active: LedgerEntry[];
  /** The decisions of the batch that contain run published. */
  decisions: Decision[];
}

export interface ObservedRun extends PipelineRun {
  /** One per alert batch, in order. */
  snapshots: Snapshot[];
  /** Active ledger entries before the run (a state file carried over). */
  activeBefore: LedgerEntry[];
  /** The files at the end of the run, and the active ledger entries then. */
  end: Enforced;
  activeAtEnd: LedgerEntry[];
}

/**
 * `runLocal` (test/helpers/robustness-sim.ts) that also snapshots the files and the ledger at every alert batch:
 * contain writes the IP sets and the policy, then publishes the batch, so at a batch's first decision the files are
 * what that contain run enforced, and they do not change until the next one.
 */
export async function runObserved(
  events: Iterable<AccessEvent>,
  config: CordonConfig,
  outDir: string,
  statePath = join(outDir, 'state.sqlite'),
): Promise<ObservedRun> {
  const state = new SqliteState(statePath);
  try {
    const activeBefore = state.listAllSync().filter((e) => e.status === 'active');
    const snapshots: Snapshot[] = [];
    const alertsPath = join(outDir, 'alerts.jsonl');
    let alertsSize = -1;
    const onDecision = (d: Decision): void => {
      const size = statSync(alertsPath).size;
      if (size !== alertsSize) {
        alertsSize = size;
        snapshots.push({ ...readEnforced(outDir), active: state.listAllSync().filter((e) => e.status === 'active'),
          decisions: [] });
      }
      snapshots[snapshots.length - 1].decisions.push(d);
    };
    const runner = new LocalRunner(config, { outDir, state, onDecision });
    await pushAll(runner, events);
    await runner.finish();
    const activeAtEnd = state.listAllSync().filter((e) => e.status === 'active');
    return {
      decisions: readJsonl<Decision>(join(outDir, 'decisions.jsonl')),
      alerts: readJsonl<AlertBatch>(alertsPath),
      pipeline: runner,
      snapshots,
      activeBefore,
      end: readEnforced(outDir),
      activeAtEnd,
    };
  } finally {
    state.close();
  }
}
