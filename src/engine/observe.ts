/**
 * What the stages tell the outside world: structured logs of counts and ids (never records) and metrics. The Lambda
 * entries bind these to Powertools Logger and Metrics; the local runner and `rehearse` count them in memory.
 */

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  /** A bug or an unexpected failure: always surfaced (the Lambda entry also counts StageErrors). */
  error(message: string, fields?: LogFields): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * Every metric a stage emits, in namespace `Cordon`. One list, so the Lambda adapter, the alarms and the dashboard
 * name the same things (infra imports it too).
 */
export const METRIC = {
  /** Access-log events decoded by ingest. */
  EventsIn: 'EventsIn',
  /** Access-log lines or records that could not be read (counted and skipped). */
  Unreadable: 'Unreadable',
  /** Summary records put on the summaries stream, and their compressed bytes. */
  SummaryRecords: 'SummaryRecords',
  SummaryBytes: 'SummaryBytes',
  /**
   * Summary records the summaries stream refused for its write throughput and ingest sent again (it keeps trying
   * until its Lambda's time is nearly out). Now and then: a burst. Every minute: the stream needs more shards.
   */
  SummariesThrottled: 'SummariesThrottled',
  /**
   * The summary wire level an ingest invocation wrote at (its Minimum over a period is the lowest written). Under
   * `summaryWireLevel: 'auto'`, the level agreed before for 15 minutes after detect announces a new one (1 on a fresh
   * stack or coming from a release that does not announce), and 1 while its notice is stale.
   */
  SummaryWireLevel: 'SummaryWireLevel',
  /**
   * The wire level notice could not be written (detect: it tries again a minute later) or read (ingest: it goes by the
   * last notice it read, never above the level last worked out, and writes level 1 once that is stale or with none read).
   */
  WireNoticeFailures: 'WireNoticeFailures',
  /** Summary parts of a wire version this stage does not write (read, or counted as unreadable). */
  ForeignVersionParts: 'ForeignVersionParts',
  /** Summary parts that arrived after their window closed: folded into the oldest open window, or dropped. */
  LateFolded: 'LateFolded',
  LateDropped: 'LateDropped',
  /** Parts of a closed window from a source batch already seen: taken for ingest's redelivery and not counted again. */
  RedeliveredParts: 'RedeliveredParts',
  /** Event times clamped to their CloudWatch Logs timestamp (a line stamped in the future). */
  ClockClamped: 'ClockClamped',
  /** Newest closed-window end behind wall clock, per partition (ms); the alarm watches its maximum. */
  WatermarkLagMs: 'WatermarkLagMs',
  WindowsClosed: 'WindowsClosed',
  /** Decisions by action (dimension `action`). */
  Decisions: 'Decisions',
  /** Decisions taken before their window closed, on unmistakable evidence (also counted in Decisions). */
  EarlyDecisions: 'EarlyDecisions',
  /** Scopes with windows due that a detect tick left to the next one, out of time (its Lambda's timeout near). */
  TickScopesDeferred: 'TickScopesDeferred',
  /** Scopes whose windows a detect tick left to their data, their stream delivering minutes behind (not silent). */
  TickScopesBehind: 'TickScopesBehind',
  /** Wall-clock time from a window's end to its decisions being written (ms). */
  DecisionDelayMs: 'DecisionDelayMs',
  /** Damaged stored state skipped (chunks, snapshots): data lost, counted. */
  StateDamaged: 'StateDamaged',
  /** Records reported failed to the event source mapping (will be redelivered). */
  RecordsFailed: 'RecordsFailed',
  /** A bug: an error that is neither bad input nor an unavailable dependency. */
  StageErrors: 'StageErrors',
  /** WAF IP set writes that failed, and containment targets that failed a run (dimension `target`). */
  WafWriteFailures: 'WafWriteFailures',
  TargetFailures: 'TargetFailures',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

export type MetricUnit = 'Count' | 'Milliseconds' | 'Bytes';

export interface Metrics {
  /** Adds `value` to the metric (dimensions: at most one, e.g. `{ action: 'block' }`). */
  add(name: MetricName, value: number, unit?: MetricUnit, dimensions?: Record<string, string>): void;
}

export const noMetrics: Metrics = { add() {} };

/** Metrics summed in memory (local runner, rehearse, tests): `name` or `name|dim=value`. */
export class CountingMetrics implements Metrics {
  readonly totals = new Map<string, number>();
  add(name: MetricName, value: number, _unit?: MetricUnit, dimensions?: Record<string, string>): void {
    const dim = dimensions ? Object.entries(dimensions).map(([k, v]) => `|${k}=${v}`).join('') : '';
    this.totals.set(name + dim, (this.totals.get(name + dim) ?? 0) + value);
  }
  get(name: string): number {
    return this.totals.get(name) ?? 0;
  }

  /** Adds totals counted elsewhere (another thread's, as `[...totals]`). */
  addTotals(totals: Iterable<[string, number]>): void {
    for (const [k, v] of totals) this.totals.set(k, (this.totals.get(k) ?? 0) + v);
  }
}
