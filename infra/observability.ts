import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../functions/metrics.ts';
import type { CordonConfig } from '../src/config.ts';
import { batchingExtraMs } from '../src/engine/ingest-batching.ts';
import { METRIC, type MetricName } from '../src/engine/observe.ts';
import { serviceNameOf, type CordonFunction } from './cordon-function.ts';
import type { ResolvedCordonProps } from './props.ts';
import { ITERATOR_AGE_ALARM_MS, type OnFailureQueue } from './stream-defaults.ts';

/** The stages that write `Cordon` metrics (notify-slack writes none). */
export type Stage = 'ingest' | 'detect' | 'contain';
export const STAGES: readonly Stage[] = ['ingest', 'detect', 'contain'];

/**
 * Which stage writes each metric of `METRIC`, i.e. which `service` dimension (`cordon-<stage>`) an alarm or a graph
 * must name: CloudWatch matches a metric by namespace, name and every dimension.
 */
export const METRIC_SOURCES: Record<MetricName, readonly Stage[]> = {
  [METRIC.EventsIn]: ['ingest'],
  [METRIC.Unreadable]: ['ingest', 'detect'],
  [METRIC.SummaryRecords]: ['ingest'],
  [METRIC.SummaryBytes]: ['ingest'],
  [METRIC.SummariesThrottled]: ['ingest'],
  [METRIC.SummaryWireLevel]: ['ingest'],
  [METRIC.WireNoticeFailures]: ['ingest', 'detect'],
  [METRIC.ForeignVersionParts]: ['detect'],
  [METRIC.LateFolded]: ['detect'],
  [METRIC.LateDropped]: ['detect'],
  [METRIC.RedeliveredParts]: ['detect'],
  [METRIC.ClockClamped]: ['ingest', 'detect'],
  [METRIC.WatermarkLagMs]: ['detect'],
  [METRIC.WindowsClosed]: ['detect'],
  // detect decides; contain reports what it enforced, released and alerted (unblocks are contain's).
  [METRIC.Decisions]: ['detect', 'contain'],
  [METRIC.EarlyDecisions]: ['detect'],
  [METRIC.DecisionDelayMs]: ['detect'],
  [METRIC.TickScopesDeferred]: ['detect'],
  [METRIC.TickScopesBehind]: ['detect'],
  [METRIC.StateDamaged]: ['detect'],
  [METRIC.RecordsFailed]: ['ingest', 'detect'],
  [METRIC.StageErrors]: ['ingest', 'detect', 'contain'],
  [METRIC.WafWriteFailures]: ['contain'],
  [METRIC.TargetFailures]: ['contain'],
};

/** Values of the `action` dimension of `Decisions` (src/decision.ts `Action`). */
export const DECISION_ACTIONS = ['block', 'alert', 'unblock'] as const;

/** The custom metric `contain` writes when a WAF IP set write fails (functions/metrics.ts). */
export const WAF_WRITE_FAILURES_METRIC = {
  namespace: METRICS_NAMESPACE,
  metricName: METRIC.WafWriteFailures,
  dimensionsMap: { service: serviceNameOf('contain') },
} as const;

/** Default of `noDataAlarmMinutes`. */
export const NO_DATA_ALARM_DEFAULT_MINUTES = 30;

/** How far beyond its normal lag the detect clock may fall before the watermark alarm fires. */
export const WATERMARK_LAG_MARGIN = Duration.minutes(5);

/** Interval of the detect and contain schedules. */
export const TICK = Duration.minutes(1);

/**
 * Threshold of the watermark-lag alarm (ms). A window closes once wall clock minus `maxDeliveryDelaySeconds` passes
 * its end, checked at least every tick: the point up to which windows may close is normally at most delay + tick
 * behind wall clock, the end of the newest closed window at most delay + window + tick (4 minutes with the
 * defaults). The alarm fires at {@link WATERMARK_LAG_MARGIN} beyond the latter (9 minutes with the defaults).
 */
export function watermarkLagAlarmMs(config: CordonConfig, ingestBatchingWindowSeconds?: number): number {
  const w = config.windows;
  // Detect waits for ingest batches longer than the default too (src/engine/ingest-batching.ts).
  return (w.maxDeliveryDelaySeconds + w.sizeSeconds) * 1000 + batchingExtraMs(ingestBatchingWindowSeconds) + TICK.toMilliseconds()
    + WATERMARK_LAG_MARGIN.toMilliseconds();
}

/** A `Cordon` metric as `stage` writes it (`service` dimension, plus `dimensions`). Sum per minute by default. */
export function cordonMetric(
  name: MetricName,
  stage: Stage,
  o: { statistic?: string; period?: Duration; dimensions?: Record<string, string>; label?: string } = {},
): cloudwatch.Metric {
  if (!METRIC_SOURCES[name].includes(stage)) {
    throw new Error(`${name} is written by ${METRIC_SOURCES[name].join(', ')}, not ${stage} (METRIC_SOURCES)`);
  }
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: serviceNameOf(stage), ...o.dimensions },
    statistic: o.statistic ?? 'Sum',
    period: o.period ?? Duration.minutes(1),
    label: o.label,
  });
}

/** The metric once per stage that writes it, labelled `name (stage)` when there are several. */
function fromEachSource(name: MetricName, o: { statistic?: string; period?: Duration } = {}): cloudwatch.Metric[] {
  const sources = METRIC_SOURCES[name];
  return sources.map((s) => cordonMetric(name, s, { ...o, label: sources.length > 1 ? `${name} (${s})` : name }));
}

export interface ObservabilityProps {
  readonly settings: ResolvedCordonProps;
  readonly functions: {
    readonly ingest: CordonFunction;
    readonly detect: CordonFunction;
    readonly contain: CordonFunction;
    readonly notifySlack?: CordonFunction;
  };
  readonly accessLogStream: kinesis.IStream;
  readonly summariesStream: kinesis.IStream;
  /** Each consumer's on-failure queue; their depth alarms are added to the list. */
  readonly failureQueues: OnFailureQueue[];
  /** Where every alarm reports, in and out of alarm. */
  readonly alarmAction: cloudwatch.IAlarmAction;
  readonly dashboardName: string;
}

/**
 * cordon's alarms and dashboard, created in `scope` (the construct ids are the construct's own: `WatermarkLagAlarm`,
 * `LateDroppedAlarm`, `NoDataAlarm`, `<Stage>StageErrorsAlarm`, ...). infra/README.md says what each alarm means and
 * what an operator does about it.
 */
export function addAlarmsAndDashboard(
  scope: Construct,
  props: ObservabilityProps,
): { alarms: cloudwatch.Alarm[]; dashboard: cloudwatch.Dashboard } {
  const { settings: p, functions: fns } = props;
  const alarms: cloudwatch.Alarm[] = [];
  const addAlarm = (alarm: cloudwatch.Alarm) => {
    alarm.addAlarmAction(props.alarmAction);
    alarm.addOkAction(props.alarmAction);
    alarms.push(alarm);
    return alarm;
  };
  const fiveMinutes = Duration.minutes(5);

  // ------------------------------------------------------------------ Lambda and stream health
  const iteratorAge = (f: CordonFunction) => f.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) });
  // Contain reads the ledger's stream too: behind it, new blocks wait for the one-minute schedule, or longer.
  for (const [name, f] of [['Ingest', fns.ingest], ['Detect', fns.detect], ['Contain', fns.contain]] as const) {
    addAlarm(
      new cloudwatch.Alarm(scope, `${name}IteratorAgeAlarm`, {
        alarmDescription: `cordon ${name.toLowerCase()} is falling behind its stream (iterator age over ${ITERATOR_AGE_ALARM_MS / 60000} min): detection is late`,
        metric: iteratorAge(f),
        threshold: ITERATOR_AGE_ALARM_MS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }
  const functions: [string, CordonFunction][] = [
    ['Ingest', fns.ingest],
    ['Detect', fns.detect],
    ['Contain', fns.contain],
    ...(fns.notifySlack ? [['NotifySlack', fns.notifySlack] as [string, CordonFunction]] : []),
  ];
  for (const [name, f] of functions) {
    addAlarm(
      new cloudwatch.Alarm(scope, `${name}ErrorsAlarm`, {
        alarmDescription: `cordon ${name}: the function failed (see its log group)`,
        metric: f.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }
  // (A failed Slack notification still reaches e-mail subscribers through its queue's alarm.)
  for (const q of props.failureQueues) addAlarm(q.alarm);

  // ------------------------------------------------------------------ what the stages count
  for (const s of STAGES) {
    const Name = s[0].toUpperCase() + s.slice(1);
    addAlarm(
      new cloudwatch.Alarm(scope, `${Name}StageErrorsAlarm`, {
        alarmDescription:
          `cordon ${s}: a bug (StageErrors), an error that is neither bad input nor an unavailable dependency; ` +
          'see the ERROR lines of its log group',
        // (No label: a labelled metric would make the alarm a metric-math alarm.)
        metric: cordonMetric(METRIC.StageErrors, s, { period: fiveMinutes }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  const lagThreshold = watermarkLagAlarmMs(p.config, p.ingestBatchingWindowSeconds);
  const watermarkLag = addAlarm(
    new cloudwatch.Alarm(scope, 'WatermarkLagAlarm', {
      alarmDescription:
        `cordon detect: a partition's clock is over ${Math.round(lagThreshold / 60000)} min behind wall clock ` +
        '(WatermarkLagMs): windows are not closing, decisions are late. Check the detect schedule and the detect errors',
      metric: cordonMetric(METRIC.WatermarkLagMs, 'detect', { statistic: 'Maximum', period: fiveMinutes }),
      threshold: lagThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No partitions yet, or none ticking: the no-data and error alarms speak for those.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  /** Data that was lost, counted by detect: any in five minutes is an alarm. */
  const anyLost = (id: string, metric: MetricName, alarmDescription: string) => addAlarm(
    new cloudwatch.Alarm(scope, id, {
      alarmDescription,
      metric: cordonMetric(metric, 'detect', { period: fiveMinutes }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
  anyLost('LateDroppedAlarm', METRIC.LateDropped,
    'cordon detect dropped summary parts that arrived after their window closed and too late to fold in ' +
    '(LateDropped): those requests were never scored');
  // Ingest's unreadable lines are the log's (an attacker writes them: dashboard only); detect's are summary records only
  // ingest writes, so one it cannot read is lost data: a bug, or a wire level set before every detect reads it.
  anyLost('SummariesUnreadableAlarm', METRIC.Unreadable,
    'cordon detect skipped summary records it could not read (Unreadable on cordon-detect): their requests were never ' +
    'scored. Only ingest writes them: a summaryWireLevel set before every detect reads it (3 needs this release), or a bug');

  addAlarm(
    new cloudwatch.Alarm(scope, 'TickBehindAlarm', {
      alarmDescription:
        'cordon detect ticks have left shards with windows due to the next tick for 10 minutes (TickScopesDeferred): windows ' +
        'followed by silence are decided late. Many summaries shards went quiet at once, or a shard\'s close keeps failing',
      metric: cordonMetric(METRIC.TickScopesDeferred, 'detect', { period: Duration.minutes(1) }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 10,
      datapointsToAlarm: 10,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  addAlarm(
    new cloudwatch.Alarm(scope, 'StreamBehindAlarm', {
      alarmDescription:
        'cordon detect has found a summaries shard\'s freshest traffic further behind wall clock than the delivery delay it ' +
        'waits for (maxDeliveryDelaySeconds) every minute for 10 minutes (TickScopesBehind): its windows are left to their ' +
        'data, so decisions come that much later (past 30 minutes, windows close on the clock and late data is folded or ' +
        'dropped). CloudWatch Logs delivering late, or ingest behind its stream (see the iterator age)',
      metric: cordonMetric(METRIC.TickScopesBehind, 'detect', { period: Duration.minutes(1) }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 10,
      datapointsToAlarm: 10,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  addAlarm(
    new cloudwatch.Alarm(scope, 'SummariesThrottledAlarm', {
      alarmDescription:
        'cordon ingest has had summary records refused for the summaries stream\'s write throughput every minute for 10 ' +
        'minutes (SummariesThrottled): ingest puts them again until they land, but each batch takes longer and detection ' +
        'falls behind. Give the stream more shards (summaryShards), or a higher summaryWireLevel for fewer bytes',
      metric: cordonMetric(METRIC.SummariesThrottled, 'ingest', { period: Duration.minutes(1) }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 10,
      datapointsToAlarm: 10,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  // Nothing subscribed (no stage, no log group): ingest can never run, and the alarm would only ever be on.
  const watched = p.restApis.length > 0 || p.logGroupNames.length > 0;
  if (p.noDataAlarmMinutes !== false && watched) {
    const minutes = p.noDataAlarmMinutes;
    addAlarm(
      new cloudwatch.Alarm(scope, 'NoDataAlarm', {
        alarmDescription:
          `cordon ingest read no access-log event for ${minutes} min (EventsIn): the watched APIs normally carry ` +
          'traffic, so API Gateway access logging, a subscription filter or the access-logs stream may be broken. ' +
          'For an API that is sometimes quiet, set noDataAlarmMinutes to false',
        metric: cordonMetric(METRIC.EventsIn, 'ingest', { period: Duration.minutes(1) }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: minutes,
        datapointsToAlarm: minutes,
        // ingest not running at all is the usual way data stops: a missing minute counts as a silent one.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );
  }

  const wafWriteFailures = new cloudwatch.Metric({ ...WAF_WRITE_FAILURES_METRIC, statistic: 'Sum', period: fiveMinutes });
  addAlarm(
    new cloudwatch.Alarm(scope, 'WafWriteFailuresAlarm', {
      alarmDescription: 'cordon contain could not write a WAF IP set: blocks are not being enforced',
      metric: wafWriteFailures,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  // The targets other than WAF (whose writes have their own alarm above): failing in 3 minutes of 5 is a block not
  // enforced there, or a release not applied, not a throttle the next run gets past.
  const targets: { id: string; target: 'waf' | 'policy' | 'deny-list' | 'api-keys'; what: string }[] = [];
  // Stages keeping their own web ACL: contain checks each uses cordon's rule group (a failure of target waf until it does).
  const ruleGroupStages = p.restApis.length > 0
    && (p.existingWebAclArn !== undefined || p.restApis.some((a) => (a.existingWebAcl ?? p.existingWebAcl) === 'use-rule-group'));
  if (ruleGroupStages) {
    targets.push({ id: 'WebAcl', target: 'waf', what: "a stage's address blocks (its web ACL does not use cordon's rule group, or an IP set write failed)" });
  }
  if (p.restApis.length > 0) targets.push({ id: 'Policy', target: 'policy', what: 'an API\'s resource policy' });
  if (p.config.denyList.enabled) targets.push({ id: 'DenyList', target: 'deny-list', what: 'the deny list authorizers read' });
  if (p.config.apiKeys.enabled) targets.push({ id: 'ApiKeys', target: 'api-keys', what: 'the API keys it disables' });
  for (const { id, target, what } of targets) {
    addAlarm(
      new cloudwatch.Alarm(scope, `${id}TargetFailuresAlarm`, {
        alarmDescription: `cordon contain has failed to write ${what} in 3 of the last 5 minutes (TargetFailures, target ${target}): ` +
          'its blocks or releases there are not in effect. See contain\'s ERROR lines (containment target failed)',
        metric: cordonMetric(METRIC.TargetFailures, 'contain', { period: Duration.minutes(1), dimensions: { target } }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // 3 of 5: a run that takes over a minute (redeploys paced across many APIs) leaves minutes without a datapoint.
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  // ------------------------------------------------------------------ dashboard
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: props.dashboardName,
    defaultInterval: Duration.hours(3),
  });
  const graph = (title: string, left: cloudwatch.IMetric[], o: Partial<cloudwatch.GraphWidgetProps> = {}) =>
    new cloudwatch.GraphWidget({ title, left, width: 8, ...o });

  dashboard.addWidgets(
    graph('Access-log records in / summaries out (Kinesis)', [
      props.accessLogStream.metricIncomingRecords(),
      props.summariesStream.metricIncomingRecords(),
    ]),
    graph('Access-log events in / unreadable', [
      ...fromEachSource(METRIC.EventsIn),
      ...fromEachSource(METRIC.Unreadable),
      ...fromEachSource(METRIC.ForeignVersionParts),
    ]),
    graph('Summaries out: records and records throttled and sent again (left), compressed bytes (right)', [
      ...fromEachSource(METRIC.SummaryRecords),
      ...fromEachSource(METRIC.SummariesThrottled),
    ], { right: fromEachSource(METRIC.SummaryBytes) }),
  );
  dashboard.addWidgets(
    graph('Iterator age (ms)', [iteratorAge(fns.ingest), iteratorAge(fns.detect)]),
    graph('Watermark lag, worst partition (ms)', fromEachSource(METRIC.WatermarkLagMs, { statistic: 'Maximum' }), {
      leftAnnotations: [watermarkLag.toAnnotation()],
    }),
    graph('Late data: folded, dropped, taken for a redelivery; clocks clamped', [
      ...fromEachSource(METRIC.LateFolded),
      ...fromEachSource(METRIC.LateDropped),
      ...fromEachSource(METRIC.RedeliveredParts),
      ...fromEachSource(METRIC.ClockClamped),
    ]),
  );
  dashboard.addWidgets(
    graph('Windows closed; decisions taken before their window closed; shards a detect tick left to the next or to their late data', [
      ...fromEachSource(METRIC.WindowsClosed),
      ...fromEachSource(METRIC.EarlyDecisions),
      ...fromEachSource(METRIC.TickScopesDeferred),
      ...fromEachSource(METRIC.TickScopesBehind),
    ]),
    graph(
      'Decisions by action',
      METRIC_SOURCES[METRIC.Decisions].flatMap((stage) =>
        DECISION_ACTIONS.map((action) => cordonMetric(METRIC.Decisions, stage, { dimensions: { action }, label: `${action} (${stage})` })),
      ),
    ),
    graph(
      'Decision delay: window end → decision written (ms)',
      (['p50', 'p95', 'Maximum'] as const).map((statistic) =>
        cordonMetric(METRIC.DecisionDelayMs, 'detect', { statistic, label: statistic === 'Maximum' ? 'max' : statistic }),
      ),
    ),
  );
  dashboard.addWidgets(
    graph('Records failed (redelivered), stage errors, damaged state', [
      ...fromEachSource(METRIC.RecordsFailed),
      ...STAGES.map((s) => cordonMetric(METRIC.StageErrors, s, { label: `StageErrors (${s})` })),
      ...fromEachSource(METRIC.StateDamaged),
    ]),
    graph(
      'Given-up batches (on-failure queues)',
      props.failureQueues.map((q) => q.queue.metricApproximateNumberOfMessagesVisible()),
    ),
    graph('Containment failures: WAF writes, targets', [
      new cloudwatch.Metric({ ...WAF_WRITE_FAILURES_METRIC, statistic: 'Sum', period: Duration.minutes(1), label: METRIC.WafWriteFailures }),
      // Failed runs without a target named, then one line per `target` value, whatever targets contain reports.
      cordonMetric(METRIC.TargetFailures, 'contain', { label: `${METRIC.TargetFailures} (run)` }),
      new cloudwatch.MathExpression({
        expression:
          `SEARCH('{${METRICS_NAMESPACE},service,target} MetricName="${METRIC.TargetFailures}" ` +
          `service="${serviceNameOf('contain')}"', 'Sum', 60)`,
        usingMetrics: {},
        // A dynamic label: one line per target.
        label: `${METRIC.TargetFailures} \${PROP('Dim.target')}`,
        period: Duration.minutes(1),
      }),
    ]),
  );
  dashboard.addWidgets(
    // Under summaryWireLevel 'auto': the level agreed before for 15 minutes after detect announces a new one (1 on a
    // fresh stack), and 1 while its notice is stale.
    graph('Summary wire level written (lowest); wire level notice failures', [
      cordonMetric(METRIC.SummaryWireLevel, 'ingest', { statistic: 'Minimum', label: 'SummaryWireLevel (lowest)' }),
      ...fromEachSource(METRIC.WireNoticeFailures),
    ]),
  );
  dashboard.addWidgets(
    graph('Lambda errors', functions.map(([, f]) => f.metricErrors({ period: Duration.minutes(1) }))),
    graph('Lambda duration p99 (ms)', functions.map(([, f]) => f.metricDuration({ statistic: 'p99', period: Duration.minutes(1) }))),
    graph('Lambda throttles', functions.map(([, f]) => f.metricThrottles({ period: Duration.minutes(1) }))),
  );
  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'cordon alarms', alarms, width: 24 }));

  return { alarms, dashboard };
}
