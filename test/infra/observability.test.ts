import { parseConfig } from '../../src/config.ts';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DECISION_ACTIONS,
  METRIC_SOURCES,
  NO_DATA_ALARM_DEFAULT_MINUTES,
  cordonMetric,
  watermarkLagAlarmMs,
} from '../../infra/observability.ts';
import { resolveCordonProps } from '../../infra/props.ts';
import { METRIC, type MetricName } from '../../src/engine/observe.ts';

/** The watermark-lag alarm's threshold with the default config: delivery delay + window + the tick's minute + 5 min. */
const DEFAULT_WINDOWS = parseConfig({}).windows;
const DEFAULT_LAG_THRESHOLD_MS = (DEFAULT_WINDOWS.maxDeliveryDelaySeconds + DEFAULT_WINDOWS.sizeSeconds + 60 + 300) * 1000;
import { FULL_PROPS, logicalId, resolveIntrinsics, synth, type Json, type Synthesized } from './fixtures.ts';

/** The alarms on cordon's own metrics (namespace Cordon), what the stages write through functions/metrics.ts. */

let full: Synthesized;
let minimal: Template;
/** Slow windows and a long delivery delay, a 90-minute no-data alarm. */
let custom: Template;
/** A sometimes-quiet API: no no-data alarm. */
let quiet: Synthesized;
let unwatched: Template;

const CUSTOM_CONFIG = { windows: { sizeSeconds: 300, maxDeliveryDelaySeconds: 600 } };

beforeAll(() => {
  full = synth(FULL_PROPS);
  // One watched log group: with nothing watched at all there is no no-data alarm (see below).
  minimal = synth({ logGroupNames: ['api-logs'] }).template;
  custom = synth({ config: CUSTOM_CONFIG, noDataAlarmMinutes: 90, logGroupNames: ['api-logs'] }).template;
  quiet = synth({ noDataAlarmMinutes: false, logGroupNames: ['api-logs'] });
  unwatched = synth({}).template;
}, 180_000);

const alarmsOf = (t: Template) => Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => (a as Json).Properties as Json);
const cordonAlarms = (t: Template, name: MetricName) =>
  alarmsOf(t).filter((a) => a.Namespace === 'Cordon' && a.MetricName === name);
const only = (t: Template, name: MetricName) => {
  const found = cordonAlarms(t, name);
  expect(found, name).toHaveLength(1);
  return found[0];
};
const service = (stage: string) => [{ Name: 'service', Value: `cordon-${stage}` }];

describe('alarms on the stages’ metrics', () => {
  it('every alarm reports to the alert topic, in and out of alarm', () => {
    const topic = logicalId(full.template, 'AWS::SNS::Topic', 'CordonAlerts');
    for (const a of alarmsOf(full.template)) {
      expect(a.AlarmActions).toEqual([{ Ref: topic }]);
      expect(a.OKActions).toEqual([{ Ref: topic }]);
      expect(a.AlarmDescription.length).toBeGreaterThan(40);
    }
  });

  it('watermark lag: the worst partition (Maximum over 5 min) beyond delivery delay + window + tick + 5 min', () => {
    for (const t of [full.template, minimal]) {
      expect(only(t, METRIC.WatermarkLagMs)).toMatchObject({
        Dimensions: service('detect'),
        Statistic: 'Maximum',
        Period: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        // defaults: 120 s delay + 60 s window + 60 s tick + 300 s
        Threshold: DEFAULT_LAG_THRESHOLD_MS,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    }
    // 600 s delay + 300 s window + 60 s + 300 s: slower windows never alarm just for being slow.
    expect(only(custom, METRIC.WatermarkLagMs).Threshold).toBe(1_260_000);
    expect(watermarkLagAlarmMs(resolveCordonProps({ config: CUSTOM_CONFIG }).config)).toBe(1_260_000);
    // Longer ingest batches: detect waits the seconds past 2, and so may the watermark.
    expect(watermarkLagAlarmMs(resolveCordonProps({ config: CUSTOM_CONFIG }).config, 10)).toBe(1_268_000);
  });

  it('dropped data: any LateDropped in 5 minutes, any summary record detect could not read; ingest\'s unreadable lines only on the dashboard', () => {
    for (const metric of [METRIC.LateDropped, METRIC.Unreadable]) {
      expect(only(full.template, metric)).toMatchObject({
        Dimensions: service('detect'),
        Statistic: 'Sum',
        Period: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('a stream behind: scopes left to late data (TickScopesBehind) every minute for 10 minutes', () => {
    for (const t of [full.template, minimal]) {
      expect(only(t, METRIC.TickScopesBehind)).toMatchObject({
        Dimensions: service('detect'),
        Statistic: 'Sum',
        Period: 60,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        EvaluationPeriods: 10,
        DatapointsToAlarm: 10,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it(`no data flowing: no EventsIn for ${NO_DATA_ALARM_DEFAULT_MINUTES} minutes in a row, a silent minute counting as none`, () => {
    for (const t of [full.template, minimal]) {
      expect(only(t, METRIC.EventsIn)).toMatchObject({
        Dimensions: service('ingest'),
        Statistic: 'Sum',
        Period: 60,
        ComparisonOperator: 'LessThanOrEqualToThreshold',
        Threshold: 0,
        EvaluationPeriods: NO_DATA_ALARM_DEFAULT_MINUTES,
        DatapointsToAlarm: NO_DATA_ALARM_DEFAULT_MINUTES,
        TreatMissingData: 'breaching',
      });
    }
    expect(only(custom, METRIC.EventsIn)).toMatchObject({ EvaluationPeriods: 90, DatapointsToAlarm: 90 });
  });

  it('noDataAlarmMinutes: false leaves the no-data alarm out (and only it)', () => {
    expect(cordonAlarms(quiet.template, METRIC.EventsIn)).toEqual([]);
    expect(alarmsOf(quiet.template)).toHaveLength(alarmsOf(minimal).length - 1);
    expect(quiet.stack.cordon.alarms).toHaveLength(alarmsOf(quiet.template).length);
  });

  it('nothing watched (no stage, no log group, as the shipped cdk.json): no no-data alarm, which could never clear', () => {
    expect(cordonAlarms(unwatched, METRIC.EventsIn)).toEqual([]);
    expect(alarmsOf(unwatched)).toHaveLength(alarmsOf(minimal).length - 1);
  });

  it('stage bugs: StageErrors of each stage, any in 5 minutes', () => {
    const alarms = cordonAlarms(full.template, METRIC.StageErrors);
    expect(alarms.map((a) => a.Dimensions[0].Value).sort()).toEqual(['cordon-contain', 'cordon-detect', 'cordon-ingest']);
    for (const a of alarms) {
      expect(a).toMatchObject({
        Statistic: 'Sum',
        Period: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('summaries throttled: ingest’s SummariesThrottled in each of 10 minutes (a burst now and then is no alarm)', () => {
    expect(only(full.template, METRIC.SummariesThrottled)).toMatchObject({
      Dimensions: service('ingest'),
      Statistic: 'Sum',
      Period: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 10,
      DatapointsToAlarm: 10,
      TreatMissingData: 'notBreaching',
    });
  });

  it('containment targets other than WAF: failing in 3 minutes of 5, per target the deployment has', () => {
    const policy = cordonAlarms(full.template, METRIC.TargetFailures);
    expect(policy).toHaveLength(1);
    expect(policy[0]).toMatchObject({
      Dimensions: [...service('contain'), { Name: 'target', Value: 'policy' }],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 0,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    // No stage, so no policy; the deny list and API keys only when configured.
    expect(cordonAlarms(minimal, METRIC.TargetFailures)).toEqual([]);
    const both = synth({ logGroupNames: ['api-logs'], config: { denyList: { enabled: true }, apiKeys: { enabled: true } } }).template;
    expect(cordonAlarms(both, METRIC.TargetFailures).map((a) => a.Dimensions[1].Value).sort()).toEqual(['api-keys', 'deny-list']);
    // A stage keeping its own web ACL: contain reports it (target waf) until that web ACL uses cordon's rule group.
    const own = synth({ ...FULL_PROPS, restApis: [FULL_PROPS.restApis[0], { ...FULL_PROPS.restApis[1], existingWebAcl: 'use-rule-group' }] }).template;
    expect(cordonAlarms(own, METRIC.TargetFailures).map((a) => a.Dimensions[1].Value).sort()).toEqual(['policy', 'waf']);
  });

  it('failure-queue depth stays: one alarm per on-failure queue', () => {
    const depth = alarmsOf(full.template).filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(depth).toHaveLength(4); // ingest, detect, contain, notify-slack
    for (const a of depth) expect(a).toMatchObject({ Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 0 });
  });

  it('the complete list, and the construct exposes every one', () => {
    const names = alarmsOf(full.template).map((a) => `${a.Namespace}/${a.MetricName}`).sort();
    expect(names).toEqual(
      [
        ...['AWS/Lambda/IteratorAge', 'AWS/Lambda/IteratorAge', 'AWS/Lambda/IteratorAge'],
        ...Array(4).fill('AWS/Lambda/Errors'),
        ...Array(4).fill('AWS/SQS/ApproximateNumberOfMessagesVisible'),
        'Cordon/EventsIn',
        'Cordon/LateDropped',
        ...Array(3).fill('Cordon/StageErrors'),
        'Cordon/SummariesThrottled',
        'Cordon/TargetFailures',
        'Cordon/TickScopesBehind',
        'Cordon/TickScopesDeferred',
        'Cordon/Unreadable',
        'Cordon/WafWriteFailures',
        'Cordon/WatermarkLagMs',
      ].sort(),
    );
    expect(full.stack.cordon.alarms).toHaveLength(names.length);
  });
});

describe('dashboard', () => {
  /** The dashboard body as CloudWatch will read it (tokens replaced by placeholder values). */
  const body = (t: Template): Json => {
    const [dash] = Object.values(t.findResources('AWS::CloudWatch::Dashboard')) as Json[];
    return JSON.parse(resolveIntrinsics(dash.Properties.DashboardBody, t) as string);
  };
  /** A metric line of a graph, `[namespace, name, ...dimension name/value pairs, options?]`, read. */
  interface Line {
    namespace: unknown;
    name: unknown;
    dims: Record<string, unknown>;
    opts: Json;
  }
  const read = (l: unknown[]): Line => {
    const opts = (typeof l.at(-1) === 'object' ? l.at(-1) : {}) as Json;
    const pairs = l.slice(2, typeof l.at(-1) === 'object' ? -1 : undefined);
    const dims: Record<string, unknown> = {};
    for (let i = 0; i < pairs.length; i += 2) dims[pairs[i] as string] = pairs[i + 1];
    return { namespace: l[0], name: l[1], dims, opts };
  };
  const lines = (b: Json): Line[] =>
    (b.widgets as Json[]).flatMap((w) => ((w.properties.metrics ?? []) as unknown[][]).map(read));
  const widget = (b: Json, title: RegExp) => (b.widgets as Json[]).find((w) => title.test(w.properties.title ?? ''))!;

  it('graphs every metric the stages write, under the service that writes it', () => {
    const b = body(full.template);
    const text = JSON.stringify(b);
    for (const name of Object.values(METRIC)) expect(text, name).toContain(name);
    const cordonLines = lines(b).filter((l) => l.namespace === 'Cordon');
    expect(new Set(cordonLines.map((l) => l.name)).size).toBeGreaterThan(10);
    for (const l of cordonLines) {
      const name = l.name as MetricName;
      expect(METRIC_SOURCES[name].map((s) => `cordon-${s}`), name).toContain(l.dims.service);
    }
  });

  it('decisions by action, and the decision delay as p50, p95 and max', () => {
    const b = body(full.template);
    const decisions = (widget(b, /^Decisions by action/).properties.metrics as unknown[][]).map(read);
    expect(decisions.map(({ namespace, name, dims }) => ({ namespace, name, dims }))).toEqual(
      ['detect', 'contain'].flatMap((stage) =>
        DECISION_ACTIONS.map((action) => ({ namespace: 'Cordon', name: 'Decisions', dims: { service: `cordon-${stage}`, action } })),
      ),
    );
    const delay = (widget(b, /^Decision delay/).properties.metrics as unknown[][]).map(read);
    expect(delay.map((l) => l.opts.stat)).toEqual(['p50', 'p95', 'Maximum']);
    expect(delay.every((l) => l.name === 'DecisionDelayMs' && l.dims.service === 'cordon-detect')).toBe(true);
  });

  it('watermark lag shows its maximum and the alarm threshold', () => {
    const w = widget(body(full.template), /^Watermark lag/);
    expect(read(w.properties.metrics[0]).opts.stat).toBe('Maximum');
    expect(w.properties.annotations.horizontal).toEqual([expect.objectContaining({ value: DEFAULT_LAG_THRESHOLD_MS })]);
  });

  it('target failures (without a target, and by target: a search), and WAF write failures', () => {
    const w = widget(body(full.template), /^Containment failures/);
    const text = JSON.stringify(w.properties.metrics);
    expect((w.properties.metrics as unknown[][]).map(read).filter((l) => l.name === 'TargetFailures')).toEqual([
      expect.objectContaining({ namespace: 'Cordon', dims: { service: 'cordon-contain' } }),
    ]);
    expect(text).toContain('SEARCH(');
    expect(text).toContain('TargetFailures');
    expect(text).toContain('cordon-contain');
    expect(text).toContain('WafWriteFailures');
  });

  it('still shows streams, iterator age, Lambda errors, duration, throttles, given-up batches and the alarms', () => {
    const titles = (body(full.template).widgets as Json[]).map((w) => w.properties.title);
    for (const t of [/records in/, /Iterator age/, /Lambda errors/, /duration p99/, /throttles/, /Given-up batches/, /cordon alarms/]) {
      expect(titles.some((x) => t.test(x)), String(t)).toBe(true);
    }
  });
});

describe('cordonMetric', () => {
  it('refuses a stage that does not write the metric (an alarm on it would never see data)', () => {
    expect(() => cordonMetric(METRIC.EventsIn, 'detect')).toThrow(/EventsIn is written by ingest, not detect/);
  });
});

describe('cdk-nag', () => {
  it('stays clean without the no-data alarm', () => {
    const report = new AwsSolutionsChecks().validateScope(quiet.stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
