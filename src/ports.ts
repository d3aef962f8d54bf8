import type { SlowEvidence } from './detect/horizons.ts';
import type { Decision, Evidence, TargetKind } from './decision.ts';

/**
 * The ports: every piece of state or side effect the engine needs, as an interface. `src/adapters/local/`
 * implements them with SQLite and files, `src/adapters/aws/` with DynamoDB, Kinesis, WAFv2, API Gateway and SNS.
 * The engine only ever sees these.
 */

/** What cordon has learned about one key: its baseline and its recent verdicts (JSON-serialisable). */
export interface KeyState {
  /** EWMA mean and variance of log1p(requests) and log1p(bytes) per active window. */
  reqMean: number;
  reqVar: number;
  bytesMean: number;
  bytesVar: number;
  /** EWMA mean of distinct IPs per window (principal keys). */
  ipsMean: number;
  /** Active windows learned into the baseline. */
  windows: number;
  /** Bit i set = the key's window i windows ago was flagged (hysteresis, newest in bit 0). */
  flags: number;
  /** Start of the last window the key was seen in, epoch ms. */
  lastWindow: number;
  /** Evidence at longer horizons (src/detect/horizons.ts); only keys that showed a sign (401/403, 404, login POST). */
  slow?: SlowEvidence;
}

export interface BaselineStore {
  /**
   * `scope` is the partition of keys the caller owns (the detect stage's summaries shard): a store may keep each
   * scope's keys together; one that keeps all keys in one place ignores it.
   */
  /** Fresh objects each call: a caller may change them (detect judges open windows on them and throws them away). */
  getMany(keys: readonly string[], scope?: string): Promise<Map<string, KeyState>>;
  putMany(states: ReadonlyMap<string, KeyState>, scope?: string): Promise<void>;
  /** Running totals of what the store skipped or did on its own (damaged entries, compactions): logged by detect. */
  counters?(): Record<string, number>;
}

/** `held`: detected but held back by a guard (an alert, not enforced); kept so it alerts once per period. */
export type LedgerStatus = 'active' | 'released' | 'expired' | 'held';

/** One block in the ledger: the source of truth that WAF and the policy are projections of. */
export interface LedgerEntry {
  target: string;
  targetKind: TargetKind;
  /** Epoch ms (event time) the block was decided. Together with target, the entry's identity. */
  createdAt: number;
  /**
   * Epoch ms the block expires. Until contain enforces it, createdAt + its duration; when contain first enforces
   * it, the duration is counted again from that moment ({@link effectiveAt}), so a block decided late (a backlog, a
   * redelivery) still lasts its full time.
   */
  expiresAt: number;
  /** Epoch ms (contain's clock) the block was first enforced; absent until then. */
  effectiveAt?: number;
  status: LedgerStatus;
  /** Epoch ms of release or expiry, when no longer active. */
  endedAt?: number;
  reasons: string[];
  score: number;
  /** Earlier blocks of this target within the escalation lookback. */
  priorBlocks: number;
  evidence: Evidence;
  /** The statuses of this entry an alert has been published for (contain's outbox marks). */
  alerted?: LedgerStatus[];
}

/** A ledger entry's key: its target and createdAt. */
export interface LedgerKey {
  target: string;
  createdAt: number;
}

/**
 * How far back contain looks for entries that ended, or were held, without their alert having gone out (contain was
 * down, or crashed between its writes and its alert). Older ones are not alerted any more.
 */
export const LEDGER_PENDING_LOOKBACK_MS = 2 * 24 * 3600_000;

/** Whether contain must look at this entry (see {@link LedgerStore.listOpen}). */
export function isOpenEntry(e: LedgerEntry, now: number): boolean {
  if (e.status === 'active') return true;
  return !(e.alerted ?? []).includes(e.status) && Math.max(e.expiresAt, e.endedAt ?? 0) > now - LEDGER_PENDING_LOOKBACK_MS;
}

export interface LedgerStore {
  /** Insert or replace the entry with this target and createdAt. */
  put(entry: LedgerEntry): Promise<void>;
  /** Entries with status `active` and expiresAt > now (stores with lazy TTL must filter themselves). */
  listActive(now: number): Promise<LedgerEntry[]>;
  /** Every entry of a target, newest first. */
  history(target: string): Promise<LedgerEntry[]>;
  /**
   * The entries contain must look at, newest first: every `active` one (expired or not: contain ends them), and every
   * other one whose current status has not been alerted yet (an alert, an expiry, a release) and whose end
   * (the later of expiresAt and endedAt) lies within {@link LEDGER_PENDING_LOOKBACK_MS} before `now`. Read through an index, never by scanning the ledger. `written` names entries
   * the caller knows were just written (a ledger stream batch): they are read consistently, so an index that lags
   * a moment behind its table cannot delay their block.
   */
  listOpen(now: number, written?: readonly LedgerKey[]): Promise<LedgerEntry[]>;
  /** Every entry, newest first (operators' listing; it may scan). */
  listAll(): Promise<LedgerEntry[]>;
  /**
   * Writes the `alerted` marks of these entries (and nothing else of them) all at once: after a crash either every
   * mark of an alert batch is stored or none is, so the next contain run re-sends the very same batch (same id, same
   * decisions) instead of the unmarked part under a new id. Optional: without it, contain puts each entry.
   */
  markAlerted?(entries: LedgerEntry[]): Promise<void>;
}

/** The addresses cordon wants blocked, per family, already aggregated and never covering the allowlist. */
export interface IpSetDesired {
  v4: string[];
  v6: string[];
  /**
   * Addresses blocked on the login route only (config `waf.routeScoped`): separate IP sets, which a WAF rule refuses
   * only for POSTs to login paths, never the global ones. Absent: none (route sets that hold some are emptied).
   */
  route?: { v4: string[]; v6: string[] };
}

export interface IpSetApplyResult {
  changed: boolean;
  /** Per set cordon owns: its name and how many addresses it now holds; `route` for a route-scoped set. */
  sets: { name: string; family: 'v4' | 'v6'; addresses: number; route?: boolean }[];
  /** Blocks that did not fit into the owned sets: decided, not enforced (contain alerts them as gaps). */
  overflow?: string[];
}

/** WAF IP sets (only the ones cordon owns). Full replace, converging on `desired`. */
export interface IpSetPort {
  read(): Promise<IpSetDesired>;
  apply(desired: IpSetDesired): Promise<IpSetApplyResult>;
}

/** A REST API stage, by its API id and stage name. */
export interface RestApiStage {
  restApiId: string;
  stageName: string;
}

/**
 * Whether a stage's web ACL enforces cordon's rule group: `referenced`; `count-only` (referenced with its action
 * overridden to Count); `absent` (no reference, or no web ACL at all).
 */
export type WebAclReference = 'referenced' | 'count-only' | 'absent';

/**
 * The stages that keep a web ACL of their own (not cordon's): their team must add a reference to cordon's rule group,
 * and this checks that they did. Throws when it cannot tell (access denied, throttled): never answers `referenced` then.
 */
export interface WebAclReferenceCheck {
  readonly stages: readonly RestApiStage[];
  check(stage: RestApiStage): Promise<WebAclReference>;
}

/** What goes into cordon's one Deny statement of the API's resource policy. */
export interface PolicyDeny {
  principals: string[];
  cidrs: string[];
}

export interface PolicyApplyResult {
  changed: boolean;
  /** Whether a stage deployment was created after the change. */
  deployed: boolean;
  /** Entries left out to stay under the size limit (lowest priority first), and those it can never hold. */
  dropped: string[];
  /** Of `dropped`: entries this API's policy cannot enforce at all (a principal on an API without IAM auth). */
  unenforceable?: string[];
  /** Entries no resource policy can name (not an IAM principal or account, not a CIDR): never held by any policy. */
  rejected?: string[];
  chars: number;
}

export interface PolicyPort {
  /** Which API (and stage) this policy belongs to, for alerts naming a failed target. */
  readonly name?: string;
  read(): Promise<PolicyDeny>;
  apply(deny: PolicyDeny): Promise<PolicyApplyResult>;
}

/** One alert message: a batch of decisions (one SNS message per batch, not per IP). */
export interface AlertBatch {
  /** Stable id of the batch (idempotency: the same batch is published once). */
  id: string;
  time: string;
  decisions: Decision[];
  /** True when a human should look now (blast-radius guard, caps, a containment target failing or full). */
  page: boolean;
  /** Containment targets that could not be brought to the ledger's state this run, and why. */
  failures?: TargetFailure[];
  /** Decided blocks a target holds no room for (IP sets full, policy size): announced as not enforced. */
  gaps?: ContainmentGap[];
}

export interface TargetFailure {
  /** `waf-ip-sets`, `waf <api>/<stage>` (its web ACL), `policy <api>/<stage>`, `deny-list`, or `api-keys`. */
  target: string;
  /** The error's name and message (never a stack). */
  error: string;
}

export interface ContainmentGap {
  /** The blocked address, CIDR or principal that is not enforced. */
  entry: string;
  target: string;
  reason: 'ip-set-overflow' | 'policy-size' | 'unenforceable';
}

export interface AlertPort {
  publish(batch: AlertBatch): Promise<void>;
}

/** What the deny list should hold: principals and address blocks (canonical CIDR text, e.g. `203.0.113.7/32`). */
export interface DenyListDesired {
  principals: string[];
  cidrs: string[];
}

/**
 * The deny list that Lambda authorizers consult (src/authorizer/deny-list.ts): the one target that reaches principals
 * a resource policy cannot name (Lambda-authorizer principalIds, Cognito subs, callers) and HTTP APIs, which have
 * neither WAF nor resource policies. Stored as one JSON document (src/authorizer/document.ts):
 *
 *     { "version": 1, "updatedAt": "<ISO time>", "principals": [...], "cidrs": [...] }
 *
 * both lists sorted and deduplicated (principals by string, CIDRs in address order, canonical text), so equal content
 * is an equal document but for `updatedAt`. `apply` converges on `desired` and writes only when the content changes.
 */
export interface DenyListPort {
  read(): Promise<DenyListDesired>;
  apply(desired: DenyListDesired): Promise<{ changed: boolean }>;
}

/** What {@link ApiKeyPort.apply} did and what holds. */
export interface ApiKeyApplyResult {
  /** Keys cordon disabled this run. */
  disabled: string[];
  /** Keys cordon re-enabled this run (it had disabled them, and they are no longer blocked). */
  enabled: string[];
  /** Blocked principals that are API keys and are disabled now (by cordon, or already by someone else). */
  held: string[];
  /** Keys left alone, and why (disabled by someone else: never re-enabled by cordon). */
  skipped: { key: string; why: string }[];
  /** Blocked principals shaped like a key id that are no key of this account and region. */
  notKeys: number;
}

/**
 * API Gateway API keys as a containment target (DESIGN §5): a blocked principal that is an API key of this account and
 * region is disabled while blocked (every caller with that key is refused; its usage plans are untouched), and
 * re-enabled once no longer blocked, but only a key cordon itself disabled. `desired` is every principal blocked
 * now; most are no key at all (IAM ARNs, Cognito subs, authorizer principalIds) and cost nothing.
 */
export interface ApiKeyPort {
  apply(desired: string[]): Promise<ApiKeyApplyResult>;
}
