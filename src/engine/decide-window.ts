import type { CordonConfig } from '../config.ts';
import { AlertMemory, Allowlist, decideWindow, type WindowDecisions } from '../contain/decide.ts';
import { LedgerBook } from '../contain/ledger-book.ts';
import { Detector, POPULATION_STATE_KEYS, type StateView, type WindowAssessment } from '../detect/detector.ts';
import { ipKey, prefixKey, principalKey } from '../features/keys.ts';
import type { ClosedWindow } from '../features/windower.ts';
import { isIpv6, prefixOf } from '../net/ip.ts';
import type { BaselineStore, KeyState, LedgerStore } from '../ports.ts';

export interface DecideDeps {
  baselines: BaselineStore;
  ledger: LedgerStore;
  config: CordonConfig;
}

export interface WindowOutcome {
  assessment: WindowAssessment;
  decided: WindowDecisions;
}

/**
 * The one core (DESIGN §1): a closed window → scores against the keys' baselines and the population → decisions
 * (with the guards, escalation and aggregation of decideWindow) → new ledger entries and learned baselines. The
 * detect stage calls it in Lambda, in `replay` and in `rehearse` alike.
 *
 * Deterministic for a given window and stored state: two closers of the same window (a redelivered batch and the
 * clock tick) write the same ledger entries (target and createdAt are their identity) and the same baselines.
 */
export async function decideClosedWindow(closed: ClosedWindow, scope: string, deps: DecideDeps): Promise<WindowOutcome> {
  const cfg = deps.config;
  const keys = [
    // The population's own history (the detector keeps it like a key's, under `~pop:<kind>`): without it every
    // window would look like the first, and a flash crowd that lifts everyone would look like each one's anomaly.
    ...POPULATION_STATE_KEYS,
    ...[...closed.keys.byIp.keys()].map(ipKey),
    ...[...closed.keys.byPrefix.keys()].map(prefixKey),
    ...[...closed.keys.byPrincipal.keys()].map(principalKey),
  ];
  const states = await deps.baselines.getMany(keys, scope);
  const touched = new Map<string, KeyState>();
  const view: StateView = { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); touched.set(k, s); } };
  const assessment = new Detector(cfg).assess(closed, view);
  const now = closed.closedAt;
  const acting = assessment.verdicts.filter((v) => v.act);
  const book = new LedgerBook(acting.length ? await deps.ledger.listActive(now) : []);
  const memory = new AlertMemory();
  // Every target a decision could name: the key itself, an IPv6 address's /64 (what decide blocks, whatever the
  // configured IPv6 prefix), an IPv4 host's aggregation prefix.
  const targets = new Set<string>();
  for (const v of acting) {
    targets.add(v.value);
    if (v.kind !== 'ip') continue;
    targets.add(prefixOf(v.value, cfg.aggregation.ipv4Prefix, cfg.aggregation.ipv6Prefix));
    if (isIpv6(v.value)) targets.add(prefixOf(v.value));
  }
  for (const target of targets) {
    for (const e of await deps.ledger.history(target)) {
      book.record(e);
      if (e.status === 'held') memory.remember(e.target, e.expiresAt);
    }
  }
  const decided = decideWindow(assessment, book, cfg, new Allowlist(cfg.allowlist), memory);
  for (const e of [...decided.blocks, ...decided.held]) await deps.ledger.put(e);
  // Only keys that learned something are written back: one-off visitors cost no write.
  const learned = new Map([...touched].filter(([, s]) => s.windows > 0 || s.flags !== 0));
  if (learned.size) await deps.baselines.putMany(learned, scope);
  return { assessment, decided };
}
