import Database from 'better-sqlite3';
import { decodeSlowEvidence, encodeSlowEvidence, isPlausibleKeyState } from '../../detect/baseline.ts';
import { isOpenEntry, LEDGER_PENDING_LOOKBACK_MS, type BaselineStore, type KeyState, type LedgerEntry, type LedgerKey, type LedgerStore } from '../../ports.ts';

/** The schema this release writes. Older files are migrated in place; newer ones are refused, never guessed at. */
export const SCHEMA_VERSION = 5;

export class StateFileError extends Error {
  override name = 'StateFileError';
}

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE IF NOT EXISTS baselines (key TEXT PRIMARY KEY, req_mean REAL, req_var REAL, bytes_mean REAL,
      bytes_var REAL, ips_mean REAL, windows INTEGER, flags INTEGER, last_window INTEGER);
    CREATE TABLE IF NOT EXISTS ledger (target TEXT NOT NULL, created_at INTEGER NOT NULL, kind TEXT NOT NULL,
      expires_at INTEGER NOT NULL, status TEXT NOT NULL, ended_at INTEGER, reasons TEXT NOT NULL, score REAL NOT NULL,
      prior_blocks INTEGER NOT NULL, evidence TEXT NOT NULL, PRIMARY KEY (target, created_at));`,
  // v2: listing active blocks is the contain stage's hot query.
  2: `CREATE INDEX IF NOT EXISTS ledger_status ON ledger (status, expires_at);`,
  // v3: which statuses of an entry have been alerted (the contain stage's outbox marks).
  3: `ALTER TABLE ledger ADD COLUMN alerted TEXT NOT NULL DEFAULT '[]';`,
  // v4: when contain first enforced a block (its expiry counts from then).
  // Blocks of earlier files were enforced as they were decided (their expiry already counts from then) and announced
  // by the run that decided them (the local pipeline wrote no alert marks): contain must not announce them again.
  4: `ALTER TABLE ledger ADD COLUMN effective_at INTEGER; UPDATE ledger SET effective_at = created_at;
      UPDATE ledger SET alerted = json_array(status) WHERE alerted = '[]';`,
  // v5: a key's evidence at longer horizons (src/detect/horizons.ts), as its numbers; NULL for most keys.
  5: `ALTER TABLE baselines ADD COLUMN slow TEXT;`,
};

/**
 * cordon's local state in one SQLite file: key baselines and the block ledger. Synchronous (better-sqlite3), so
 * the local pipeline can persist inside its event loop; the async port methods wrap the same calls.
 */
export class SqliteState implements BaselineStore, LedgerStore {
  readonly db: Database.Database;
  private readonly stmts;

  constructor(path: string) {
    let opened: Database.Database | undefined;
    try {
      this.db = opened = new Database(path);
      // Versions first: a newer release's file is refused before anything (even the journal mode) is written to it.
      this.migrate();
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    } catch (err) {
      if (opened?.open) opened.close();
      if (err instanceof StateFileError) throw err;
      throw new StateFileError(`${path}: cannot open cordon state: ${(err as Error).message}`);
    }
    this.stmts = {
      getBaseline: this.db.prepare('SELECT * FROM baselines WHERE key = ?'),
      putBaseline: this.db.prepare(`INSERT OR REPLACE INTO baselines VALUES
        (@key, @reqMean, @reqVar, @bytesMean, @bytesVar, @ipsMean, @windows, @flags, @lastWindow, @slow)`),
      countBaselines: this.db.prepare('SELECT count(*) AS n FROM baselines'),
      putLedger: this.db.prepare(`INSERT OR REPLACE INTO ledger VALUES
        (@target, @createdAt, @targetKind, @expiresAt, @status, @endedAt, @reasons, @score, @priorBlocks, @evidence, @alerted, @effectiveAt)`),
      active: this.db.prepare("SELECT * FROM ledger WHERE status = 'active' AND expires_at > ? ORDER BY created_at DESC"),
      history: this.db.prepare('SELECT * FROM ledger WHERE target = ? ORDER BY created_at DESC'),
      all: this.db.prepare('SELECT * FROM ledger ORDER BY created_at DESC'),
      // Through the (status, expires_at) index: the active entries, and the others that ended lately and wait for
      // their alert (isOpenEntry has the last word).
      open: this.db.prepare(`SELECT * FROM ledger WHERE status = 'active'
        UNION ALL SELECT * FROM ledger WHERE status IN ('held', 'expired', 'released') AND (expires_at > @since OR ended_at > @since)
          AND NOT EXISTS (SELECT 1 FROM json_each(alerted) WHERE value = status)
        ORDER BY created_at DESC`),
      markAlerted: this.db.prepare('UPDATE ledger SET alerted = ? WHERE target = ? AND created_at = ?'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StateFileError(`state file has schema v${version}, newer than this cordon (v${SCHEMA_VERSION}): upgrade cordon or use another --state`);
    }
    for (let v = version + 1; v <= SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v}`);
      })();
    }
  }

  getBaselineSync(key: string): KeyState | undefined {
    const row = this.stmts.getBaseline.get(key) as (Record<string, number> & { slow: unknown }) | undefined;
    if (!row) return undefined;
    const state: KeyState = { reqMean: row.req_mean, reqVar: row.req_var, bytesMean: row.bytes_mean,
      bytesVar: row.bytes_var, ipsMean: row.ips_mean, windows: row.windows, flags: row.flags, lastWindow: row.last_window };
    // A damaged row must not make anyone look anomalous: treat it as never seen.
    if (!Object.values(state).every((x) => typeof x === 'number')) return undefined;
    if (row.slow !== null) {
      const slow = typeof row.slow === 'string' ? decodeSlowEvidence(row.slow) : null;
      if (!slow) return undefined;
      state.slow = slow;
    }
    return isPlausibleKeyState(state) ? state : undefined;
  }

  putBaselinesSync(states: Iterable<[string, KeyState]>): number {
    let n = 0;
    this.db.transaction(() => {
      for (const [key, s] of states) {
        this.stmts.putBaseline.run({ key, reqMean: s.reqMean, reqVar: s.reqVar, bytesMean: s.bytesMean, bytesVar: s.bytesVar,
          ipsMean: s.ipsMean, windows: s.windows, flags: s.flags, lastWindow: s.lastWindow,
          slow: s.slow ? encodeSlowEvidence(s.slow) : null });
        n++;
      }
    })();
    return n;
  }

  baselineCount(): number {
    return (this.stmts.countBaselines.get() as { n: number }).n;
  }

  putLedgerSync(entries: LedgerEntry[]): void {
    this.db.transaction(() => {
      for (const e of entries) {
        this.stmts.putLedger.run({ target: e.target, createdAt: e.createdAt, targetKind: e.targetKind,
          expiresAt: e.expiresAt, status: e.status, endedAt: e.endedAt ?? null, reasons: JSON.stringify(e.reasons),
          score: e.score, priorBlocks: e.priorBlocks, evidence: JSON.stringify(e.evidence),
          alerted: JSON.stringify(e.alerted ?? []), effectiveAt: e.effectiveAt ?? null });
      }
    })();
  }

  listAllSync(): LedgerEntry[] {
    return (this.stmts.all.all() as LedgerRow[]).flatMap(fromRow);
  }

  historySync(target: string): LedgerEntry[] {
    return (this.stmts.history.all(target) as LedgerRow[]).flatMap(fromRow);
  }

  listOpenSync(now: number): LedgerEntry[] {
    return (this.stmts.open.all({ since: now - LEDGER_PENDING_LOOKBACK_MS }) as LedgerRow[]).flatMap(fromRow).filter((e) => isOpenEntry(e, now));
  }

  listActiveSync(now: number): LedgerEntry[] {
    return (this.stmts.active.all(now) as LedgerRow[]).flatMap(fromRow);
  }

  close(): void {
    this.db.close();
  }

  // --- ports (async) ---
  async getMany(keys: readonly string[]): Promise<Map<string, KeyState>> {
    const out = new Map<string, KeyState>();
    for (const k of keys) {
      const s = this.getBaselineSync(k);
      if (s) out.set(k, s);
    }
    return out;
  }
  async putMany(states: ReadonlyMap<string, KeyState>): Promise<void> {
    this.putBaselinesSync(states);
  }
  async put(entry: LedgerEntry): Promise<void> {
    this.putLedgerSync([entry]);
  }
  async listActive(now: number): Promise<LedgerEntry[]> {
    return this.listActiveSync(now);
  }
  async history(target: string): Promise<LedgerEntry[]> {
    return this.historySync(target);
  }
  async listAll(): Promise<LedgerEntry[]> {
    return this.listAllSync();
  }
  /** One file, one writer: every read is consistent, so `written` adds nothing. */
  async listOpen(now: number, _written?: readonly LedgerKey[]): Promise<LedgerEntry[]> {
    return this.listOpenSync(now);
  }
  /** Only the marks, all in one transaction (see LedgerStore.markAlerted). */
  async markAlerted(entries: LedgerEntry[]): Promise<void> {
    this.db.transaction(() => {
      for (const e of entries) this.stmts.markAlerted.run(JSON.stringify(e.alerted ?? []), e.target, e.createdAt);
    })();
  }
}

interface LedgerRow {
  target: string;
  created_at: number;
  kind: string;
  expires_at: number;
  status: string;
  ended_at: number | null;
  reasons: string;
  score: number;
  prior_blocks: number;
  evidence: string;
  alerted: string;
  effective_at: number | null;
}

/** A corrupt row is skipped (and so never blocks anyone), not a crash of the whole listing. */
function fromRow(r: LedgerRow): LedgerEntry[] {
  try {
    if (!['ip', 'cidr', 'principal'].includes(r.kind) || !['active', 'released', 'expired', 'held'].includes(r.status)) return [];
    return [{ target: r.target, targetKind: r.kind as LedgerEntry['targetKind'], createdAt: r.created_at,
      expiresAt: r.expires_at, status: r.status as LedgerEntry['status'], endedAt: r.ended_at ?? undefined,
      reasons: JSON.parse(r.reasons), score: r.score, priorBlocks: r.prior_blocks, evidence: JSON.parse(r.evidence),
      ...(r.alerted && r.alerted !== '[]' ? { alerted: JSON.parse(r.alerted) } : {}),
      ...(typeof r.effective_at === 'number' ? { effectiveAt: r.effective_at } : {}) }];
  } catch {
    return [];
  }
}
