// Shared builders for the contain tests: ledger entries, verdicts and window assessments with plain defaults.
import { parseConfig, type CordonConfig } from '../../src/config.ts';
import { AlertMemory, Allowlist, decideWindow } from '../../src/contain/decide.ts';
import { LedgerBook } from '../../src/contain/ledger-book.ts';
import type { KeyVerdict, WindowAssessment } from '../../src/detect/detector.ts';
import { type Features, KeyWindow } from '../../src/features/key-window.ts';
import type { LedgerEntry } from '../../src/ports.ts';

export const T = 1_793_577_660_000;
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
/** When the default window of the builders below closes: decisions are taken at this time. */
export const NOW = T + 5000;

export const features = (over: Partial<Features>): Features => ({ ...new KeyWindow().features(), ...over });

export function kindOf(target: string): LedgerEntry['targetKind'] {
  return target.startsWith('arn:') ? 'principal' : target.includes('/') ? 'cidr' : 'ip';
}

/** A ledger entry; its evidence is of the window that closed when it was decided (createdAt). */
export function entry(target: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  const at = over.createdAt ?? T;
  const windowEnd = at - (((at - T) % MIN) + MIN) % MIN;
  return { target, targetKind: kindOf(target), createdAt: T, expiresAt: T + HOUR, status: 'active', reasons: ['flood'], score: 2,
    priorBlocks: 0, evidence: { key: target, keyKind: 'ip', windowStart: windowEnd - MIN, windowEnd, findings: [], features: {}, held: 'unmistakable' },
    ...over };
}

export function verdict(value: string, over: Partial<KeyVerdict> = {}): KeyVerdict {
  return { kind: value.startsWith('arn:') ? 'principal' : value.includes('/') ? 'prefix' : 'ip', value,
    findings: [{ rule: 'flood', score: 5, unmistakable: true, detail: 'x' }], score: 5, act: true, held: 'unmistakable',
    features: features({ requests: 3000 }), populationMedianRequests: 2, samples: { paths: [], userAgents: [] }, clients: 1,
    establishedRequests: 0, ...over };
}

export function window(verdicts: KeyVerdict[], over: Partial<WindowAssessment> = {}): WindowAssessment {
  return { start: T - MIN, end: T, closedAt: NOW, incident: false, totalClients: 1000, keys: 2000, verdicts, establishedByPrefix: new Map(),
    timeline: { start: T - MIN, requests: 10_000, errors: 0, notFound: 0, authFailures: 0, uniqueIps: 1000 }, ruleErrors: 0, learning: false,
    ...over };
}

export interface Run {
  book: LedgerBook;
  cfg: CordonConfig;
  alerts: AlertMemory;
  allowlist: Allowlist;
}

/** A decider that keeps its ledger book and alert memory from window to window, as one runner does. */
export function runner(config: Record<string, unknown> = {}, book = new LedgerBook()): Run & {
  decide: (verdicts: KeyVerdict[], over?: Partial<WindowAssessment>) => ReturnType<typeof decideWindow>;
} {
  const cfg = parseConfig(config);
  const run: Run = { book, cfg, alerts: new AlertMemory(), allowlist: new Allowlist(cfg.allowlist) };
  return { ...run, decide: (verdicts, over = {}) => decideWindow(window(verdicts, over), run.book, run.cfg, run.allowlist, run.alerts) };
}
