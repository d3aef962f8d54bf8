import { describe, expect, it, vi } from 'vitest';
import {
  EnvError,
  parseContainEnv,
  parseDetectEnv,
  parseIngestEnv,
  parseNotifySlackEnv,
} from '../../functions/env.ts';
import { writtenKeys } from '../../functions/ledger-stream.ts';
import { createLoggers } from '../../functions/logger.ts';
import { createMetrics, withWafWriteFailureMetric } from '../../functions/metrics.ts';
import { classifySnsMessage, renderAlarmMessage, slackMessageFor, webhookUrlFromSecret } from '../../functions/sns-message.ts';
import { RECOMMENDED_ACCESS_LOG_FIELDS, RECOMMENDED_ACCESS_LOG_FORMAT, accessLogCliCommand } from '../../infra/access-log-format.ts';
import { METRIC } from '../../src/engine/observe.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** The Lambda entries' pure parts: the environment contract, SNS message handling, EMF; and the log format. */

const containEnv = {
  STATE_TABLE: 'cordon-state',
  LEDGER_TABLE: 'cordon-ledger',
  WAF_SCOPE: 'REGIONAL',
  IPSETS_V4: JSON.stringify([{ name: 'cordon-v4-0', id: '11111111-2222-3333-4444-555555555555' }]),
  IPSETS_V6: JSON.stringify([{ name: 'cordon-v6-0', id: '66666666-2222-3333-4444-555555555555' }]),
  REST_APIS: JSON.stringify([{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }]),
  ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:cordon-alerts',
  DRY_RUN: 'false',
};

function envError(fn: () => unknown): EnvError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EnvError);
    return err as EnvError;
  }
  throw new Error('expected an EnvError');
}

describe('functions/env.ts', () => {
  it('parses a complete contain environment', () => {
    const env = parseContainEnv(containEnv);
    expect(env).toMatchObject({
      ledgerTable: 'cordon-ledger',
      wafScope: 'REGIONAL',
      ipSets: { v4: [{ name: 'cordon-v4-0' }], v6: [{ name: 'cordon-v6-0' }] },
      restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }],
      alertTopicArn: containEnv.ALERT_TOPIC_ARN,
      dryRun: false,
      logLevel: 'INFO',
    });
    expect(env.config.windows.sizeSeconds).toBe(60);
  });

  it("RULE_GROUP_ARN and RULE_GROUP_STAGES: the stages whose own web ACL must reference cordon's rule group, both or neither", () => {
    expect(parseContainEnv(containEnv).ruleGroupCheck).toBeUndefined();
    const stages = [{ restApiId: 'f6g7h8i9j0', stageName: 'prod', stageArn: 'arn:aws:apigateway:eu-west-1::/restapis/f6g7h8i9j0/stages/prod' }];
    const ruleGroupArn = 'arn:aws:wafv2:eu-west-1:123456789012:regional/rulegroup/cordon/0f1e2d3c';
    expect(parseContainEnv({ ...containEnv, RULE_GROUP_ARN: ruleGroupArn, RULE_GROUP_STAGES: JSON.stringify(stages) }).ruleGroupCheck)
      .toEqual({ ruleGroupArn, stages });
    expect(envError(() => parseContainEnv({ ...containEnv, RULE_GROUP_ARN: ruleGroupArn })).variables).toEqual(['RULE_GROUP_STAGES']);
    expect(envError(() => parseContainEnv({ ...containEnv, RULE_GROUP_STAGES: JSON.stringify(stages) })).variables).toEqual(['RULE_GROUP_ARN']);
    const bad = envError(() => parseContainEnv({ ...containEnv, RULE_GROUP_ARN: ruleGroupArn,
      RULE_GROUP_STAGES: JSON.stringify([{ ...stages[0], stageArn: 'f6g7h8i9j0/prod' }]) }));
    expect(bad.variables).toEqual(['RULE_GROUP_STAGES']);
    expect(bad.message).toMatch(/must be a stage ARN/);
  });

  it('reads CORDON_CONFIG and ORs its dryRun into DRY_RUN', () => {
    const env = parseContainEnv({ ...containEnv, CORDON_CONFIG: JSON.stringify({ dryRun: true, windows: { sizeSeconds: 120 } }) });
    expect(env.dryRun).toBe(true);
    expect(env.config.windows.sizeSeconds).toBe(120);
  });

  it('LOG_LEVEL is case-insensitive and defaults to INFO', () => {
    expect(parseDetectEnv({ STATE_TABLE: 's', STATE_BUCKET: 'b', LEDGER_TABLE: 'l', LOG_LEVEL: 'debug' }).logLevel).toBe('DEBUG');
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x' }).logLevel).toBe('INFO');
  });

  it("ingest's wire level: SUMMARY_WIRE_AUTO '1' is the agreed level (with STATE_TABLE), else SUMMARY_WIRE_LEVEL, 1 by default", () => {
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x' })).toMatchObject({ summaryWireLevel: 1 });
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x' }).stateTable).toBeUndefined();
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: '4' })).toMatchObject({ summaryWireLevel: 4 });
    // What the construct sets for 'auto': SUMMARY_WIRE_LEVEL 1 is for the previous release's ingest, which ignores the rest.
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: '1', SUMMARY_WIRE_AUTO: '1', STATE_TABLE: 's' }))
      .toMatchObject({ summaryWireLevel: 'auto', stateTable: 's' });
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: '2', SUMMARY_WIRE_AUTO: '0' })).toMatchObject({ summaryWireLevel: 2 });
  });

  it.each<[string, () => unknown, string, RegExp]>([
    ['ingest without its stream', () => parseIngestEnv({}), 'SUMMARIES_STREAM_NAME', /is not set; must name the summaries Kinesis stream/],
    ['detect without tables', () => parseDetectEnv({ STATE_TABLE: 's', STATE_BUCKET: 'b' }), 'LEDGER_TABLE', /is not set/],
    ['detect without its bucket', () => parseDetectEnv({ STATE_TABLE: 's', LEDGER_TABLE: 'l' }), 'STATE_BUCKET', /is not set; must name the state S3 bucket/],
    ['detect with an empty bucket name', () => parseDetectEnv({ STATE_TABLE: 's', STATE_BUCKET: '', LEDGER_TABLE: 'l' }), 'STATE_BUCKET', /must name the state S3 bucket/],
    ['contain with an empty table name', () => parseContainEnv({ ...containEnv, LEDGER_TABLE: '' }), 'LEDGER_TABLE', /must name the ledger DynamoDB table/],
    ['contain with IPSETS_V4 not JSON', () => parseContainEnv({ ...containEnv, IPSETS_V4: '[{' }), 'IPSETS_V4', /not valid JSON/],
    ['contain with no IPv6 set', () => parseContainEnv({ ...containEnv, IPSETS_V6: '[]' }), 'IPSETS_V6', /at least one IP set/],
    ['contain with a set lacking its id', () => parseContainEnv({ ...containEnv, IPSETS_V4: '[{"name":"a"}]' }), 'IPSETS_V4.0.id', /.+/],
    ['contain with REST_APIS an object', () => parseContainEnv({ ...containEnv, REST_APIS: '{}' }), 'REST_APIS', /JSON array of \{"restApiId","stageName"\[,"waf"\]\}/],
    ['contain with DRY_RUN=yes', () => parseContainEnv({ ...containEnv, DRY_RUN: 'yes' }), 'DRY_RUN', /'true' or 'false'/],
    ['contain with a CLOUDFRONTish scope', () => parseContainEnv({ ...containEnv, WAF_SCOPE: 'GLOBAL' }), 'WAF_SCOPE', /REGIONAL/],
    ['contain with a bad topic ARN', () => parseContainEnv({ ...containEnv, ALERT_TOPIC_ARN: 'cordon' }), 'ALERT_TOPIC_ARN', /SNS topic ARN/],
    ['ingest with SUMMARY_WIRE_AUTO but no state table', () => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: '1' }), 'STATE_TABLE',
      /is not set; SUMMARY_WIRE_AUTO '1' reads detect's wire level notice there/],
    ['ingest with SUMMARY_WIRE_LEVEL auto', () => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: 'auto', STATE_TABLE: 's' }),
      'SUMMARY_WIRE_LEVEL', /must be '1', '2', '3' or '4' \(the agreed level: SUMMARY_WIRE_AUTO '1'\)/],
    ['ingest with SUMMARY_WIRE_AUTO=true', () => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: 'true', STATE_TABLE: 's' }),
      'SUMMARY_WIRE_AUTO', /must be '1' \(the agreed level\) or '0'/],
    ['a bad LOG_LEVEL', () => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', LOG_LEVEL: 'loud' }), 'LOG_LEVEL', /DEBUG, INFO, WARN or ERROR/],
    ['CORDON_CONFIG not JSON', () => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', CORDON_CONFIG: '{' }), 'CORDON_CONFIG', /not valid JSON/],
    ['CORDON_CONFIG invalid', () => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', CORDON_CONFIG: '{"hysteresis":{"k":5,"n":2}}' }), 'CORDON_CONFIG', /hysteresis/],
    ['notify-slack without its secret', () => parseNotifySlackEnv({}), 'SLACK_SECRET_ARN', /is not set/],
  ])('%s fails loudly, naming the variable', (_, parse, variable, message) => {
    const e = envError(parse);
    expect(e.message).toMatch(/^cordon [a-z-]+: invalid environment\n/);
    expect(e.message).toContain(variable);
    expect(e.message).toMatch(message);
    expect(e.variables).toContain(variable.split('.')[0]);
  });

  it('parses a complete detect environment', () => {
    expect(parseDetectEnv({ STATE_TABLE: 'cordon-state', STATE_BUCKET: 'cordon-state-bucket', LEDGER_TABLE: 'cordon-ledger' })).toMatchObject({
      stateTable: 'cordon-state',
      stateBucket: 'cordon-state-bucket',
      ledgerTable: 'cordon-ledger',
      logLevel: 'INFO',
    });
  });

  it('reports every wrong variable at once', () => {
    const e = envError(() => parseContainEnv({}));
    expect(e.variables.sort()).toEqual(
      ['ALERT_TOPIC_ARN', 'DRY_RUN', 'IPSETS_V4', 'IPSETS_V6', 'LEDGER_TABLE', 'REST_APIS', 'WAF_SCOPE'].sort(),
    );
  });
});

describe('functions/ledger-stream.ts', () => {
  it('names the entries a ledger stream batch wrote (not the TTL deletes, not a record without keys)', () => {
    const rec = (eventName: 'INSERT' | 'MODIFY' | 'REMOVE', pk?: string, sk?: string) =>
      ({ eventName, dynamodb: { Keys: { ...(pk ? { pk: { S: pk } } : {}), ...(sk ? { sk: { N: sk } } : {}) } } });
    const event = { Records: [rec('INSERT', '203.0.113.7', '1700000000000'), rec('MODIFY', 'arn:aws:iam::123456789012:user/x', '5'),
      rec('REMOVE', '198.51.100.1', '7'), rec('INSERT', undefined, '9'), rec('INSERT', '192.0.2.1', 'abc')] };
    expect(writtenKeys(event as never)).toEqual([
      { target: '203.0.113.7', createdAt: 1_700_000_000_000 },
      { target: 'arn:aws:iam::123456789012:user/x', createdAt: 5 },
    ]);
  });
});

describe('functions/sns-message.ts', () => {
  const alarm = {
    AlarmName: 'CordonTest-CordonWafWriteFailuresAlarm',
    AlarmDescription: 'cordon contain could not write a WAF IP set',
    NewStateValue: 'ALARM',
    OldStateValue: 'OK',
    NewStateReason: 'Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).',
    StateChangeTime: '2026-11-21T10:00:00.000+0000',
    Region: 'EU (Ireland)',
  };

  it('tells a decision batch from a CloudWatch alarm from anything else', () => {
    expect(classifySnsMessage(JSON.stringify({ id: 'b1', time: '2026-11-21T10:00:00Z', decisions: [], page: false })).kind).toBe('batch');
    expect(classifySnsMessage(JSON.stringify(alarm)).kind).toBe('alarm');
    expect(classifySnsMessage('not json')).toEqual({ kind: 'unknown', reason: 'not JSON' });
    expect(classifySnsMessage('[1,2]')).toEqual({ kind: 'unknown', reason: 'not a JSON object' });
    expect(classifySnsMessage('{"hello":1}').kind).toBe('unknown');
    expect(slackMessageFor({ kind: 'unknown', reason: 'x' })).toBeUndefined();
  });

  it('renders a decision batch with the shared renderer', () => {
    const msg = slackMessageFor(classifySnsMessage(JSON.stringify({ id: 'b1', time: '2026-11-21T10:00:00Z', decisions: [], page: false })));
    expect(msg?.blocks.length).toBeGreaterThan(0);
    expect(msg?.text).toMatch(/cordon/);
  });

  it('renders an alarm as Block Kit, escaping its text', () => {
    const msg = renderAlarmMessage({ ...alarm, AlarmDescription: '<!channel> & <https://evil|click>' });
    const text = JSON.stringify(msg.blocks);
    expect(text).toContain(':red_circle:');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
    expect(msg.blocks[0]).toMatchObject({ type: 'header' });
    expect(msg.text).toContain('ALARM');
  });

  it.each([
    ['the URL itself', 'https://hooks.slack.com/services/T0/B0/xyz', 'https://hooks.slack.com/services/T0/B0/xyz'],
    ['JSON with webhookUrl', '{"webhookUrl":"https://hooks.slack.com/services/T0/B0/xyz"}', 'https://hooks.slack.com/services/T0/B0/xyz'],
    ['JSON with url', ' {"url":"https://hooks.slack.com/x"} ', 'https://hooks.slack.com/x'],
  ])('reads the webhook URL from %s', (_, secret, url) => {
    expect(webhookUrlFromSecret(secret)).toBe(url);
  });

  it.each([
    ['http', 'http://hooks.slack.com/x', /https/],
    ['not a URL', 'hooks', /not a URL/],
    ['JSON without a URL', '{"token":"x"}', /webhookUrl/],
    ['broken JSON', '{"url":', /does not parse/],
  ])('refuses a secret that is %s, without echoing it', (_, secret, message) => {
    expect(() => webhookUrlFromSecret(secret)).toThrow(message);
    try {
      webhookUrlFromSecret(secret);
    } catch (err) {
      expect((err as Error).message).not.toContain(secret);
    }
  });
});

/**
 * Every line written to stdout while `fn` runs (Powertools writes EMF and DEBUG/INFO logs there), or, with
 * `stderr`, to either stream in order (WARN and ERROR logs go to stderr).
 */
function stdoutOf(fn: () => void, opts: { stderr?: boolean } = {}): string[] {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(capture)];
  if (opts.stderr) spies.push(vi.spyOn(process.stderr, 'write').mockImplementation(capture));
  try {
    fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines;
}

/** The EMF lines written to stdout while `fn` runs, parsed. */
function emfWrittenBy(fn: () => void): Json[] {
  return stdoutOf(fn)
    .filter((l) => l.startsWith('{') && l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Json);
}

describe('functions/metrics.ts: Powertools Metrics (EMF on stdout)', () => {
  const directive = (line: Json) => line._aws.CloudWatchMetrics[0];

  it('writes namespace Cordon with the service dimension; each add is one value, with its unit', () => {
    const { metrics, port } = createMetrics('cordon-detect');
    const [line, ...rest] = emfWrittenBy(() => {
      port.add(METRIC.WindowsClosed, 3);
      port.add(METRIC.WatermarkLagMs, 61_000, 'Milliseconds');
      port.add(METRIC.WatermarkLagMs, 2_000, 'Milliseconds');
      metrics.publishStoredMetrics();
    });
    expect(rest).toEqual([]);
    expect(directive(line)).toEqual({
      Namespace: 'Cordon',
      Dimensions: [['service']],
      Metrics: [
        { Name: 'WindowsClosed', Unit: 'Count' },
        { Name: 'WatermarkLagMs', Unit: 'Milliseconds' },
      ],
    });
    expect(line).toMatchObject({ service: 'cordon-detect', WindowsClosed: 3, WatermarkLagMs: [61_000, 2_000] });
    expect(typeof line._aws.Timestamp).toBe('number');
  });

  it('a metric with a dimension gets lines of its own (one per dimension value), written with the rest', () => {
    const { metrics, port } = createMetrics('cordon-detect');
    const lines = emfWrittenBy(() => {
      port.add(METRIC.Decisions, 1, 'Count', { action: 'block' });
      port.add(METRIC.Decisions, 1, 'Count', { action: 'alert' });
      port.add(METRIC.Decisions, 2, 'Count', { action: 'block' });
      port.add(METRIC.DecisionDelayMs, 90_000, 'Milliseconds');
      expect(metrics.hasStoredMetrics()).toBe(true);
      metrics.publishStoredMetrics();
    });
    expect(lines).toHaveLength(3);
    const byAction = (action: string) => lines.find((l) => l.action === action)!;
    expect(directive(byAction('block'))).toEqual({
      Namespace: 'Cordon',
      Dimensions: [['service', 'action']],
      Metrics: [{ Name: 'Decisions', Unit: 'Count' }],
    });
    expect(byAction('block')).toMatchObject({ service: 'cordon-detect', Decisions: [1, 2] });
    expect(byAction('alert')).toMatchObject({ service: 'cordon-detect', Decisions: 1 });
    const plain = lines.find((l) => !('action' in l))!;
    expect(directive(plain).Dimensions).toEqual([['service']]);
    expect(plain).toMatchObject({ DecisionDelayMs: 90_000 });
    expect(plain).not.toHaveProperty('Decisions');
  });

  it('a partition is a property of the line, not a dimension: the watermark alarm sees one series and its maximum', () => {
    const { metrics, port } = createMetrics('cordon-detect');
    const lines = emfWrittenBy(() => {
      port.add(METRIC.WatermarkLagMs, 65_000, 'Milliseconds', { partition: 'shardId-000000000000' });
      port.add(METRIC.WatermarkLagMs, 70_000, 'Milliseconds', { partition: 'shardId-000000000001' });
      port.add(METRIC.WatermarkLagMs, 66_000, 'Milliseconds', { partition: 'shardId-000000000000' });
      metrics.publishStoredMetrics();
    });
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(directive(l)).toEqual({
        Namespace: 'Cordon',
        Dimensions: [['service']],
        Metrics: [{ Name: 'WatermarkLagMs', Unit: 'Milliseconds' }],
      });
    }
    const byPartition = Object.fromEntries(lines.map((l) => [l.partition, l.WatermarkLagMs]));
    expect(byPartition).toEqual({ 'shardId-000000000000': [65_000, 66_000], 'shardId-000000000001': 70_000 });
  });

  it('a full buffer flushes on its own and the next line keeps its partition', () => {
    const { metrics, port } = createMetrics('cordon-detect');
    const lines = emfWrittenBy(() => {
      for (let i = 0; i < 101; i++) port.add(METRIC.WatermarkLagMs, i, 'Milliseconds', { partition: 'p0' });
      metrics.publishStoredMetrics();
    });
    expect(lines.map((l) => [l.partition, [l.WatermarkLagMs].flat().length])).toEqual([
      ['p0', 100],
      ['p0', 1],
    ]);
  });

  it('publishing clears the buffers (the next invocation starts empty); dimensioned metrics alone bring no warning', () => {
    const { metrics, port } = createMetrics('cordon-contain');
    const first = emfWrittenBy(() => {
      port.add(METRIC.TargetFailures, 1, 'Count', { target: 'waf' });
      metrics.publishStoredMetrics();
    });
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ service: 'cordon-contain', target: 'waf', TargetFailures: 1 });
    const written = stdoutOf(() => {
      port.add(METRIC.StageErrors, 1);
      metrics.publishStoredMetrics();
    });
    expect(written.join('\n')).not.toContain('TargetFailures');
    expect(written.join('\n')).toContain('StageErrors');
    const onlyDimensioned = stdoutOf(() => {
      port.add(METRIC.TargetFailures, 1, 'Count', { target: 'waf' });
      metrics.publishStoredMetrics();
    });
    expect(onlyDimensioned).toHaveLength(1);
    expect(onlyDimensioned.join('\n')).not.toContain('No application metrics');
  });

  it('skips values that are not finite numbers instead of failing the stage', () => {
    const { metrics, port } = createMetrics('cordon-ingest');
    const lines = emfWrittenBy(() => {
      port.add(METRIC.EventsIn, Number.NaN);
      port.add(METRIC.SummaryBytes, Number.POSITIVE_INFINITY, 'Bytes');
      port.add(METRIC.EventsIn, 7);
      metrics.publishStoredMetrics();
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ EventsIn: 7 });
    expect(lines[0]).not.toHaveProperty('SummaryBytes');
  });
});

describe('functions/logger.ts', () => {
  it('the stage logger writes Powertools JSON lines with the typed fields, at each level', () => {
    const { stageLog } = createLoggers('cordon-detect', 'INFO');
    const all = stdoutOf(
      () => {
        stageLog.info('windows closed', { windows: 3, partition: 'shardId-000000000001' });
        stageLog.warn('late parts dropped', { dropped: 2 });
        stageLog.error('unexpected state', { kind: 'bug', retried: false });
      },
      { stderr: true },
    ).map((l) => JSON.parse(l) as Json);
    expect(all).toEqual([
      expect.objectContaining({ level: 'INFO', message: 'windows closed', service: 'cordon-detect', windows: 3, partition: 'shardId-000000000001' }),
      expect.objectContaining({ level: 'WARN', message: 'late parts dropped', dropped: 2 }),
      expect.objectContaining({ level: 'ERROR', message: 'unexpected state', kind: 'bug', retried: false }),
    ]);
  });

  it('with a metrics port, every stage error is also counted as StageErrors', () => {
    const { metrics, port } = createMetrics('cordon-ingest');
    const { stageLog } = createLoggers('cordon-ingest', 'ERROR', port);
    stdoutOf(
      () => {
        stageLog.warn('not counted');
        stageLog.error('a bug');
        stageLog.error('another bug', { records: 1 });
      },
      { stderr: true },
    );
    const [line] = emfWrittenBy(() => metrics.publishStoredMetrics());
    expect(line).toMatchObject({ service: 'cordon-ingest', StageErrors: [1, 1] });
  });
});

describe('functions/metrics.ts: WAF write failures', () => {
  const result = { changed: true, sets: [] };
  it('counts a failed apply as Cordon/WafWriteFailures (service cordon-contain) and rethrows; a good apply counts nothing', async () => {
    const { metrics, port: metricsPort } = createMetrics('cordon-contain');
    let fail = true;
    const port = withWafWriteFailureMetric(
      {
        read: async () => ({ v4: [], v6: [] }),
        apply: async () => {
          if (fail) throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
          return result;
        },
      },
      metricsPort,
    );
    await expect(port.apply({ v4: ['192.0.2.1/32'], v6: [] })).rejects.toThrow('denied');
    fail = false;
    await expect(port.apply({ v4: [], v6: [] })).resolves.toBe(result);
    await expect(port.read()).resolves.toEqual({ v4: [], v6: [] });
    const lines = emfWrittenBy(() => metrics.publishStoredMetrics());
    expect(lines).toHaveLength(1);
    expect(lines[0]._aws.CloudWatchMetrics).toEqual([
      { Namespace: 'Cordon', Dimensions: [['service']], Metrics: [{ Name: 'WafWriteFailures', Unit: 'Count' }] },
    ]);
    expect(lines[0]).toMatchObject({ service: 'cordon-contain', WafWriteFailures: 1 });
  });
});

describe('infra/access-log-format.ts', () => {
  /** What API Gateway writes: each $context variable replaced by a value (numbers unquoted, missing ones as -). */
  const render = (values: Record<string, string>) =>
    RECOMMENDED_ACCESS_LOG_FORMAT.replace(/\$context\.[A-Za-z.]+/g, (v) => values[v] ?? '-');

  it('has exactly the fields DESIGN §3 lists, in order', () => {
    expect(RECOMMENDED_ACCESS_LOG_FIELDS.map(([n]) => n)).toEqual([
      'requestId', 'extendedRequestId', 'ip', 'requestTimeEpoch', 'httpMethod', 'resourcePath', 'path', 'status',
      'protocol', 'responseLength', 'responseLatency', 'integrationLatency', 'userAgent', 'caller', 'user', 'userArn',
      'principalId', 'apiKeyId', 'wafResponseCode', 'apiId', 'stage', 'domainName',
    ]);
    expect(RECOMMENDED_ACCESS_LOG_FORMAT).toContain('"ip":"$context.identity.sourceIp"');
    expect(RECOMMENDED_ACCESS_LOG_FORMAT).toContain('"principalId":"$context.authorizer.principalId"');
    expect(RECOMMENDED_ACCESS_LOG_FORMAT).toContain('$context.extendedRequestId');
    expect(RECOMMENDED_ACCESS_LOG_FORMAT).not.toContain('\n');
  });

  it('a line written with every value present is JSON, numbers as numbers', () => {
    const values = Object.fromEntries(
      RECOMMENDED_ACCESS_LOG_FIELDS.map(([, v, kind]) => [v, kind === 'number' ? '200' : 'x']),
    );
    const line = JSON.parse(render(values));
    expect(line.status).toBe(200);
    expect(line.requestTimeEpoch).toBe(200);
    expect(line.ip).toBe('x');
  });

  it('a missing number is written as a bare - (the decoder must repair it; DESIGN §3 item 3)', () => {
    const line = render({ '$context.status': '403' });
    expect(line).toContain('"responseLength":-,');
    expect(() => JSON.parse(line)).toThrow();
  });

  it('prints the CLI command for stages CloudFormation does not own', () => {
    const cmd = accessLogCliCommand('a1b2c3d4e5', 'prod', 'arn:aws:logs:eu-west-1:123456789012:log-group:api');
    expect(cmd).toMatch(/^aws apigateway update-stage --rest-api-id a1b2c3d4e5 --stage-name prod --patch-operations '/);
    const ops = JSON.parse(cmd.slice(cmd.indexOf("'") + 1, -1));
    expect(ops).toEqual([
      { op: 'replace', path: '/accessLogSettings/destinationArn', value: 'arn:aws:logs:eu-west-1:123456789012:log-group:api' },
      { op: 'replace', path: '/accessLogSettings/format', value: RECOMMENDED_ACCESS_LOG_FORMAT },
    ]);
  });
});
