import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, DynamoDBStreamEvent, KinesisStreamEvent, SNSEvent, ScheduledEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * The Lambda entries' wiring: what they hand to the stages and what they return to Lambda. The stages and the
 * AWS wiring are replaced (they have their own tests); Secrets Manager and Slack are faked at their edges.
 */

const waf = vi.hoisted(() => ({ fail: false }));
const stages = vi.hoisted(() => ({
  runIngest: vi.fn(),
  runDetect: vi.fn(),
  runContain: vi.fn(),
}));
vi.mock('../../src/pipeline/stages.ts', () => stages);
vi.mock('../../src/pipeline/aws-deps.ts', () => ({
  buildIngestDeps: (env: unknown) => ({ built: 'ingest', env }),
  buildDetectDeps: (env: unknown) => ({ built: 'detect', env }),
  buildContainDeps: (env: unknown) => ({
    built: 'contain',
    env,
    ipSets: {
      read: async () => ({ v4: [], v6: [] }),
      apply: async () => {
        if (waf.fail) throw Object.assign(new Error('WAFOptimisticLockException after 6 attempts'), { name: 'RetriesExhaustedError' });
        return { changed: true, sets: [] };
      },
    },
  }),
}));

const context = { functionName: 'f', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:f' } as Context;
const secrets = mockClient(SecretsManagerClient);
const WEBHOOK = 'https://hooks.slack.com/services/T000/B000/secretpart';

beforeAll(() => {
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    LOG_LEVEL: 'ERROR',
    SUMMARIES_STREAM_NAME: 'cordon-summaries',
    STATE_TABLE: 'cordon-state',
    STATE_BUCKET: 'cordon-state-bucket',
    LEDGER_TABLE: 'cordon-ledger',
    WAF_SCOPE: 'REGIONAL',
    IPSETS_V4: '[{"name":"cordon-v4-0","id":"id4"}]',
    IPSETS_V6: '[{"name":"cordon-v6-0","id":"id6"}]',
    REST_APIS: '[{"restApiId":"a1b2c3d4e5","stageName":"prod"}]',
    ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:cordon-alerts',
    DRY_RUN: 'true',
    SLACK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cordon/slack-AbCdEf',
  });
});

afterAll(() => {
  secrets.restore();
  vi.unstubAllGlobals();
});

beforeEach(() => {
  vi.clearAllMocks();
});

const kinesisEvent = (n: number): KinesisStreamEvent => ({
  Records: Array.from({ length: n }, (_, i) => ({
    eventID: `shardId-00000000000${i % 2}:4959${i}`,
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventName: 'aws:kinesis:record',
    eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/s',
    awsRegion: 'eu-west-1',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/r',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'k',
      sequenceNumber: `4959${i}`,
      data: Buffer.from(`record ${i}`).toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000,
    },
  })),
});

describe('ingest', () => {
  it('hands sequence numbers and data to runIngest with the deps built from the environment, once', async () => {
    stages.runIngest.mockResolvedValue({ batchItemFailures: [{ itemIdentifier: '49591' }], events: 3, unreadable: 0, summaries: 1 });
    const { handler } = await import('../../functions/ingest.ts');
    const res = await handler(kinesisEvent(2), context);
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: '49591' }] });
    const [records, deps] = stages.runIngest.mock.calls[0];
    expect(records).toEqual([
      { sequenceNumber: '49590', data: Buffer.from('record 0').toString('base64'), shardId: 'shardId-000000000000' },
      { sequenceNumber: '49591', data: Buffer.from('record 1').toString('base64'), shardId: 'shardId-000000000001' },
    ]);
    expect(deps).toMatchObject({ built: 'ingest', env: { summariesStreamName: 'cordon-summaries' } });
    expect(typeof deps.log.info).toBe('function');
    await handler(kinesisEvent(1), context);
    expect(stages.runIngest.mock.calls[1][1]).toBe(deps); // built once, at cold start
  });

  it('a failing stage fails the invocation (the whole batch is retried and bisected)', async () => {
    stages.runIngest.mockRejectedValue(new Error('PutRecords failed'));
    const { handler } = await import('../../functions/ingest.ts');
    await expect(handler(kinesisEvent(1), context)).rejects.toThrow('PutRecords failed');
  });
});

describe('detect', () => {
  it('passes the shard id of each record', async () => {
    stages.runDetect.mockResolvedValue({ batchItemFailures: [], decisions: 0, poison: 0, windowsClosed: 0 });
    const { handler } = await import('../../functions/detect.ts');
    expect(await handler(kinesisEvent(2), context)).toEqual({ batchItemFailures: [] });
    expect(stages.runDetect.mock.calls[0][0].map((r: { shardId: string }) => r.shardId)).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
    ]);
    expect(stages.runDetect.mock.calls[0][1]).toMatchObject({
      env: { stateTable: 'cordon-state', stateBucket: 'cordon-state-bucket', ledgerTable: 'cordon-ledger' },
    });
  });
});

describe('contain', () => {
  const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} } as ScheduledEvent;
  const stream = { Records: [{ eventID: '1', eventName: 'INSERT', dynamodb: {} }] } as DynamoDBStreamEvent;

  it('answers the ledger stream with an empty failure list and the schedule with nothing', async () => {
    stages.runContain.mockResolvedValue({ changedIpSets: false, changedPolicies: 0, alerted: 0, expired: 0 });
    const { handler } = await import('../../functions/contain.ts');
    expect(await handler(stream, context)).toEqual({ batchItemFailures: [] });
    expect(await handler(scheduled, context)).toBeUndefined();
    const [deps, now] = stages.runContain.mock.calls[0];
    expect(deps.env).toMatchObject({ dryRun: true, wafScope: 'REGIONAL', restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }] });
    expect(Math.abs(now - Date.now())).toBeLessThan(5_000);
  });

  it('counts a failed WAF write as Cordon/WafWriteFailures (EMF on stdout) and fails the run', async () => {
    const { handler } = await import('../../functions/contain.ts');
    stages.runContain.mockImplementation(async (deps: { ipSets: { apply(d: unknown): Promise<unknown> } }) => {
      await deps.ipSets.apply({ v4: ['192.0.2.1/32'], v6: [] });
      return { changedIpSets: true, changedPolicies: 0, alerted: 0, expired: 0 };
    });
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      waf.fail = true;
      await expect(handler(scheduled, context)).rejects.toThrow('WAFOptimisticLockException');
      waf.fail = false;
      await expect(handler(scheduled, context)).resolves.toBeUndefined();
      const emf = out.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l));
      expect(emf).toHaveLength(1);
      expect(emf[0]).toMatchObject({ WafWriteFailures: 1, _aws: { CloudWatchMetrics: [{ Namespace: 'Cordon', Dimensions: [[]] }] } });
    } finally {
      out.mockRestore();
      waf.fail = false;
    }
  });
});

describe('notify-slack', () => {
  const sns = (...messages: string[]): SNSEvent => ({
    Records: messages.map((Message, i) => ({
      EventSource: 'aws:sns',
      EventVersion: '1.0',
      EventSubscriptionArn: 'arn',
      Sns: { MessageId: `m${i}`, Message } as SNSEvent['Records'][number]['Sns'],
    })),
  });
  const batch = JSON.stringify({ id: 'batch-1', time: '2026-11-21T10:00:00Z', decisions: [], page: false });
  const alarm = JSON.stringify({ AlarmName: 'cordon-errors', NewStateValue: 'ALARM', OldStateValue: 'OK' });

  it('posts each message to the webhook from the secret, read once and cached', async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ webhookUrl: WEBHOOK }) });
    const fetch = vi.fn(async () => new Response('ok', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const { handler } = await import('../../functions/notify-slack.ts');
    await handler(sns(batch, alarm), context);
    await handler(sns(batch), context);
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(secrets.commandCalls(GetSecretValueCommand)[0].args[0].input).toEqual({ SecretId: process.env.SLACK_SECRET_ARN });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe(WEBHOOK);
    expect(init.method).toBe('POST');
    expect(JSON.parse(String(init.body))).toMatchObject({ text: expect.any(String), blocks: expect.any(Array) });
  });

  it('a non-2xx answer from Slack throws (so the invocation is retried), without the URL in the error', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('rate_limited', { status: 429 })));
    const { handler } = await import('../../functions/notify-slack.ts');
    const err = await handler(sns(batch), context).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/Slack answered 429 for SNS message m0/);
    expect(err?.message).not.toContain('secretpart');
  });

  it('skips a message that is neither a batch nor an alarm, without posting', async () => {
    const fetch = vi.fn(async () => new Response('ok', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const { handler } = await import('../../functions/notify-slack.ts');
    await handler(sns('{"unrelated":true}'), context);
    expect(fetch).not.toHaveBeenCalled();
  });
});
