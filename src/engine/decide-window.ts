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
  const states = await deps.baselines.getMany(stateKeysOf(closed), scope);
  // A key whose stored state already holds this window learned it when the window was closed before (a retry after
  // a failed drop, a tick and a batch closing it at once): it is not learned twice. (Not the population's keys: in a
  // store shared by every partition, the local one, each partition's close of a window adds to them.)
  const learnedBefore = new Set<string>();
  for (const [k, s] of states) if (s.lastWindow >= closed.start && !POPULATION_STATE_KEYS.includes(k)) learnedBefore.add(k);
  const touched = new Map<string, KeyState>();
  const view: StateView = { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); touched.set(k, s); } };
  const assessment = new Detector(deps.config).assess(closed, view);
  const decided = await decideAssessment(assessment, deps);
  // Only keys that learned something are written back: one-off visitors cost no write. Slow evidence is something
  // (a key seen only in windows folded in late learns no baseline, but its evidence over the horizons counts).
  const learned = new Map([...touched].filter(([k, s]) => !learnedBefore.has(k) && (s.windows > 0 || s.flags !== 0 || s.slow !== undefined)));
  if (learned.size) await deps.baselines.putMany(learned, scope);
  return { assessment, decided };
}

/**
 * Early decisions (DESIGN §1): a window still open, as detect holds it at `now`, judged by the same detector against
 * the same stored state, read only (nothing is learned from part of a window, no hysteresis bit is set). Only verdicts
 * that act on unmistakable evidence are kept, and they go through the same guards (allowlist, proxies, learning, dry
 * run, count mode, blast radius, cap) as at the close; aggregating hosts into their prefix waits for the close, which
 * measures a prefix's established traffic over the whole window. The window's close then skips what is already
 * blocked. Decisions are stamped `now`: the moment the evidence was held.
 */
export async function decideOpenWindow(open: ClosedWindow, scope: string, deps: DecideDeps, now: number): Promise<WindowOutcome> {
  // getMany hands out objects of its own (the port's contract): what the detector ages and learns here stays in this
  // map, and the map is thrown away.
  const states = await deps.baselines.getMany(stateKeysOf(open), scope);
  const view: StateView = { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); } };
  const full = new Detector(deps.config).assess({ ...open, closedAt: now }, view);
  const seconds = Math.max(0, Math.round((now - open.start) / 1000));
  const verdicts = full.verdicts
    .filter((v) => v.act && !v.learning && v.findings.some((f) => f.unmistakable))
    .map((v) => ({ ...v, held: `unmistakable, ${seconds} s into the window` }));
  // An IPv6 host's /64 keeps its measure (the guard of its block); IPv4 /24 aggregation waits for the close.
  const establishedByPrefix = new Map([...full.establishedByPrefix].filter(([cidr]) => isIpv6(cidr)));
  const assessment = { ...full, closedAt: now, verdicts, establishedByPrefix };
  const decided = verdicts.length ? await decideAssessment(assessment, deps) : { decisions: [], blocks: [], held: [], page: false };
  return { assessment, decided };
}

/** Every state the detector reads for a window: the population's and each key's. */
function stateKeysOf(w: ClosedWindow): string[] {
  return [
    // The population's own history (the detector keeps it like a key's, under `~pop:<kind>`): without it every
    // window would look like the first, and a flash crowd that lifts everyone would look like each one's anomaly.
    ...POPULATION_STATE_KEYS,
    ...[...w.keys.byIp.keys()].map(ipKey),
    ...[...w.keys.byPrefix.keys()].map(prefixKey),
    ...[...w.keys.byWidePrefix.keys()].map(prefixKey),
    ...[...w.keys.byPrincipal.keys()].map(principalKey),
  ];
}

/** Verdicts → decisions against the ledger (with each target's history, for escalation and alert memory) → new rows. */
async function decideAssessment(assessment: WindowAssessment, deps: DecideDeps): Promise<WindowDecisions> {
  const cfg = deps.config;
  const now = assessment.closedAt;
  // Held-for-learning verdicts too: one already blocked (or alerted this period) must be found in the book.
  const acting = assessment.verdicts.filter((v) => v.act || v.learning);
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
  return decided;
}
