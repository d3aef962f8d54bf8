import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CordonConfig } from '../config.ts';
import { AlertMemory, Allowlist, decideWindow, expireDue } from '../contain/decide.ts';
import { LedgerBook } from '../contain/ledger-book.ts';
import { project } from '../contain/projection.ts';
import type { Decision } from '../decision.ts';
import { Detector, type StateView, type TimelinePoint, type WindowAssessment } from '../detect/detector.ts';
import type { AccessEvent } from '../events.ts';
import type { ClosedWindow } from '../features/windower.ts';
import { Distinct } from '../features/distinct.ts';
import { hash32 } from '../features/hash.ts';
import { Windower } from '../features/windower.ts';
import type { KeyState, LedgerEntry } from '../ports.ts';
import type { PolicyDocument } from '../render/resource-policy.ts';
import { AlertFile, IpSetFiles, PolicyFile } from '../adapters/local/files.ts';
import type { SqliteState } from '../adapters/local/sqlite-state.ts';
import { KeyStateStore } from './key-state-store.ts';
import { TopKeys } from './top-keys.ts';

export interface LocalPipelineOptions {
  outDir: string;
  state: SqliteState;
  /** An existing resource policy to merge cordon's statements into (default: none). */
  basePolicy?: PolicyDocument | null;
  /** The API's resource for policy statements. */
  policyResource?: string;
  onDecision?(d: Decision): void;
}

export interface LocalPipelineStats {
  windows: number;
  lateEvents: number;
  keysTracked: number;
  peakOpenKeys: number;
  ruleErrors: number;
  incidents: number;
  blocks: number;
  alerts: number;
  unblocks: number;
  decisionsByReason: Record<string, number>;
  ipSetOverflow: number;
  policyDropped: number;
  logStart: number | null;
  logEnd: number | null;
}

/** How often idle keys are looked for (windows). */
const EVICT_EVERY = 10;

/**
 * The whole pipeline on one machine: events → windows → scores → decisions → ledger → WAF/policy files and
 * alerts. Synchronous inside the reader's loop (SQLite and files are local), so memory stays bounded however
 * long the replay: closed windows are decided and dropped as the watermark passes them.
 */
export class LocalPipeline {
  readonly cfg: CordonConfig;
  private readonly windower: Windower;
  private readonly detector: Detector;
  private readonly book: LedgerBook;
  private readonly allowlist: Allowlist;
  private readonly alertMemory = new AlertMemory();
  private readonly states = new KeyStateStore();
  private readonly stateView: StateView;
  private readonly ipSets: IpSetFiles;
  private readonly policy: PolicyFile;
  private readonly alertFile: AlertFile;
  private readonly decisionsPath: string;
  private readonly sizeMs: number;
  private nextCheck = Infinity;
  private batchSeq = 0;
  readonly timeline: TimelinePoint[] = [];
  readonly decisions: Decision[] = [];
  readonly topKeys = new TopKeys(50);
  readonly stats: LocalPipelineStats = {
    windows: 0, lateEvents: 0, keysTracked: 0, peakOpenKeys: 0, ruleErrors: 0, incidents: 0, blocks: 0, alerts: 0,
    unblocks: 0, decisionsByReason: {}, ipSetOverflow: 0, policyDropped: 0, logStart: null, logEnd: null,
  };
  /** Distinct keys ever tracked, counted in bounded memory. */
  private readonly seenKeys = new Distinct();
  private storeHasBaselines: boolean;

  constructor(cfg: CordonConfig, private readonly opts: LocalPipelineOptions) {
    this.cfg = cfg;
    this.sizeMs = cfg.windows.sizeSeconds * 1000;
    this.windower = new Windower({ sizeMs: this.sizeMs, latenessMs: cfg.windows.allowedLatenessSeconds * 1000,
      ipv4Prefix: cfg.aggregation.ipv4Prefix, ipv6Prefix: cfg.aggregation.ipv6Prefix });
    this.detector = new Detector(cfg);
    this.allowlist = new Allowlist(cfg.allowlist);
    this.book = new LedgerBook(opts.state.listAllSync());
    this.storeHasBaselines = opts.state.baselineCount() > 0;
    this.stateView = {
      get: (key) => {
        let s = this.states.get(key);
        if (s === undefined && this.storeHasBaselines) {
          s = opts.state.getBaselineSync(key);
          if (s) this.states.set(key, s);
        }
        return s;
      },
      set: (key, s) => {
        this.states.set(key, s);
        this.seenKeys.add(hash32(key));
      },
    };
    this.ipSets = new IpSetFiles(opts.outDir, { namePrefix: 'cordon', addressesPerSet: cfg.caps.addressesPerIpSet,
      maxSetsPerFamily: cfg.caps.maxIpSetsPerFamily });
    this.policy = new PolicyFile(opts.outDir, opts.basePolicy ?? null, { resource: opts.policyResource ?? 'execute-api:/*',
      maxChars: cfg.caps.policyMaxChars });
    this.alertFile = new AlertFile(join(opts.outDir, 'alerts.jsonl'));
    this.decisionsPath = join(opts.outDir, 'decisions.jsonl');
    writeFileSync(this.decisionsPath, '');
    // Blocks still active from an earlier run are projected straight away, so the files match the ledger.
    this.reproject(this.stats.logStart ?? 0, true);
  }

  /** The hot path: one decoded event. */
  push(e: AccessEvent): void {
    this.windower.add(e);
    if (this.windower.watermark >= this.nextCheck) this.closeReady();
    else if (this.nextCheck === Infinity) this.nextCheck = this.windower.windowStartOf(e.time) + this.sizeMs;
  }

  /** End of input: close every open window, persist what was learned. */
  finish(): void {
    for (const w of this.windower.closeAll()) this.process(w);
    this.persistStates(this.states.entries());
    this.stats.keysTracked = this.seenKeys.size;
    this.stats.lateEvents = this.windower.late;
  }

  get events(): number {
    return this.windower.events;
  }

  activeBlocks(now: number): LedgerEntry[] {
    return this.book.active(now);
  }

  private closeReady(): void {
    const open = this.windower.openKeys;
    if (open > this.stats.peakOpenKeys) this.stats.peakOpenKeys = open;
    for (const w of this.windower.closeReady()) this.process(w);
    this.nextCheck = this.windower.windowStartOf(this.windower.watermark) + this.sizeMs;
  }

  private process(w: ClosedWindow): void {
    this.stats.windows++;
    if (this.stats.logStart === null) this.stats.logStart = w.start;
    this.stats.logEnd = w.end;
    const a = this.detector.assess(w, this.stateView);
    this.stats.ruleErrors += a.ruleErrors;
    if (a.incident) this.stats.incidents++;
    this.timeline.push(a.timeline);
    this.topKeys.addWindow(w.keys);
    const expired = expireDue(this.book, a.closedAt);
    const decided = decideWindow(a, this.book, this.cfg, this.allowlist, this.alertMemory);
    const decisions = [...expired.decisions, ...decided.decisions];
    const changedEntries = [...expired.ended, ...decided.blocks];
    if (changedEntries.length) this.opts.state.putLedgerSync(changedEntries);
    if (decisions.length) this.record(decisions, a, decided.page);
    if (changedEntries.length) this.reproject(a.closedAt, false);
    if (this.stats.windows % EVICT_EVERY === 0) this.evictIdle(w.start);
  }

  private record(decisions: Decision[], a: WindowAssessment, page: boolean): void {
    appendFileSync(this.decisionsPath, decisions.map((d) => JSON.stringify(d)).join('\n') + '\n');
    for (const d of decisions) {
      this.decisions.push(d);
      if (d.action === 'block') this.stats.blocks++;
      else if (d.action === 'alert') this.stats.alerts++;
      else this.stats.unblocks++;
      if (d.action !== 'unblock') for (const r of d.reasons) this.stats.decisionsByReason[r] = (this.stats.decisionsByReason[r] ?? 0) + 1;
      this.opts.onDecision?.(d);
    }
    this.alertFile.publishSync({ id: `local-${a.start}-${this.batchSeq++}`, time: new Date(a.closedAt).toISOString(),
      decisions, page });
  }

  /** The IP set and policy files follow the ledger's active blocks (what contain does in AWS). */
  private reproject(now: number, initial: boolean): void {
    const p = project(this.book.active(now), this.cfg);
    this.ipSets.applySync(p.ipSets);
    const policy = this.policy.applySync(p.deny);
    if (!initial) {
      this.stats.ipSetOverflow = this.ipSets.overflow.length;
      this.stats.policyDropped = policy.dropped.length;
    }
  }

  /** Keys idle past the configured time leave memory; their baselines stay in SQLite. */
  private evictIdle(now: number): void {
    const cutoff = now - this.cfg.windows.idleEvictMinutes * 60_000;
    const idle: string[] = [];
    for (const k of this.states.keys()) if ((this.states.lastWindow(k) ?? 0) < cutoff) idle.push(k);
    if (idle.length === 0) return;
    this.persistStates(idle.map((k) => [k, this.states.get(k)!] as [string, KeyState]));
    for (const k of idle) this.states.delete(k);
  }

  private persistStates(states: Iterable<[string, KeyState]>): void {
    // Only keys with a learned window are worth a row: a one-off visitor teaches nothing.
    const worth = [...states].filter(([, s]) => s.windows > 0 || s.flags !== 0);
    this.opts.state.putBaselinesSync(worth);
    this.storeHasBaselines ||= worth.length > 0;
  }
}
