import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, DynamoDBStreamEvent, KinesisStreamEvent, SNSEvent, ScheduledEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { cloudWatchSource, IngestStage } from '../../src/engine/ingest.ts';
import { decodeSummaryRecord } from '../../src/engine/wire.ts';

/**
 * The Lambda entries' wiring: what they hand to the stages and what they return to Lambda. The AWS wiring
 * (src/pipeline/aws-deps.ts) is replaced by in-memory adapters, and the real stage objects of src/engine run over
 * them: an in-memory summaries putter, window store (EncodedPartStore over MemoryWindowStore), SQLite in memory for
 * baselines and the ledger, and recording WAF and SNS ports. Secrets Manager and Slack are faked at their edges.
 */

interface SentBatch {
  id: string;
  decisions: { action: string; target: string }[];
  failures?: { target: string; error: string }[];
}

/** The in-memory AWS the mocked wiring builds (once per module, as the handlers build theirs at cold start). */
const world = vi.hoisted(() => ({
  wafFail: false,
  putFail: undefined as Error | undefined,
  built: { ingest: 0, detect: 0, contain: 0 },
  envs: {} as Record<string, unknown>,
  summaries: [] as { partitionKey: string; data: Uint8Array }[],
  applied: [] as { v4: string[]; v6: string[] }[],
  published: [] as SentBatch[],
  // Filled by the mock factory (real adapters need their modules).
  state: undefined as unknown as import('../../src/adapters/local/sqlite-state.ts').SqliteState,
  windows: undefined as unknown as import('../../src/adapters/local/memory-window-store.ts').MemoryWindowStore,
}));

vi.mock('../../src/pipeline/aws-deps.ts', async () => {
  const { SqliteState } = await import('../../src/adapters/local/sqlite-state.ts');
  const { MemoryWindowStore } = await import('../../src/adapters/local/memory-window-store.ts');
  const { EncodedPartStore } = await import('../../src/engine/part-store.ts');
  const { RetriesExhaustedError } = await import('../../src/adapters/aws/errors.ts');
  world.state = new SqliteState(':memory:');
  world.windows = new MemoryWindowStore();
  type Env = { config: import('../../src/config.ts').CordonConfig; dryRun?: boolean };
  return {
    buildIngestDeps: (env: Env) => {
      world.built.ingest++;
      world.envs.ingest = env;
      return { config: env.config, putter: { put: async (rs: { partitionKey: string; data: Uint8Array }[]) => {
        if (world.putFail) throw world.putFail;
        world.summaries.push(...rs);
      } } };
    },
    buildDetectDeps: (env: Env) => {
      world.built.detect++;
      world.envs.detect = env;
      return { config: env.config, windows: new EncodedPartStore(world.windows), baselines: world.state, ledger: world.state };
    },
    buildContainDeps: (env: Env) => {
      world.built.contain++;
      world.envs.contain = env;
      return {
        config: { ...env.config, dryRun: env.config.dryRun || env.dryRun },
        ledger: world.state,
        ipSets: {
          read: async () => ({ v4: [], v6: [] }),
          apply: async (desired: { v4: string[]; v6: string[] }) => {
            if (world.wafFail) throw new RetriesExhaustedError('WAFOptimisticLockException after 6 attempts', 'wafv2', 'UpdateIPSet');
            world.applied.push(desired);
            return { changed: true, sets: [] };
          },
        },
        policies: [],
        alerts: { publish: async (b: SentBatch) => { world.published.push(b); } },
      };
    },
  };
});

const context = { functionName: 'f', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:f',
  getRemainingTimeInMillis: () => 120_000 } as Context;
const secrets = mockClient(SecretsManagerClient);
const WEBHOOK = 'https://hooks.slack.com/services/T000/B000/secretpart';

beforeAll(() => {
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    LOG_LEVEL: 'ERROR',
    SUMMARIES_STREAM_NAME: 'cordon-summaries',
    // summaryWireLevel 'auto', as the construct sets it (infra/cordon-construct.ts).
    SUMMARY_WIRE_LEVEL: '1',
    SUMMARY_WIRE_AUTO: '1',
    STATE_TABLE: 'cordon-state',
    STATE_BUCKET: 'cordon-state-bucket',
    LEDGER_TABLE: 'cordon-ledger',
    WAF_SCOPE: 'REGIONAL',
    IPSETS_V4: '[{"name":"cordon-v4-0","id":"id4"}]',
    IPSETS_V6: '[{"name":"cordon-v6-0","id":"id6"}]',
    REST_APIS: '[{"restApiId":"a1b2c3d4e5","stageName":"prod"}]',
    ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:cordon-alerts',
    DRY_RUN: 'true',
    // The detect tests here are about the clock tick; early decisions would decide the flood on arrival
    // (test/engine/early-decisions.test.ts, and on moto in test/e2e).
    CORDON_CONFIG: JSON.stringify({ windows: { earlyDecisions: false } }),
    SLACK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cordon/slack-AbCdEf',
  });
});

afterAll(() => {
  secrets.restore();
  vi.unstubAllGlobals();
});

beforeEach(() => {
  vi.clearAllMocks();
  world.summaries.length = 0;
  world.putFail = undefined;
});

const MIN = 60_000;
const FLOOD_IP = '203.0.113.66';

/** The EMF lines written to stdout while `fn` runs. */
async function emfOf(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  try {
    await fn();
  } finally {
    out.mockRestore();
  }
  return lines.filter((l) => l.startsWith('{') && l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A CloudWatch Logs subscription record (base64 of gzip'd envelope) of these requests, stamped 200 ms after each. */
function cwlData(requests: { t: number; ip: string; path?: string }[]): string {
  const envelope = {
    messageType: 'DATA_MESSAGE', owner: '123456789012', logGroup: 'API-Gateway-Access-Logs_a1b2c3d4e5/prod', logStream: 's0',
    subscriptionFilters: ['cordon'],
    logEvents: requests.map((r, i) => ({ id: String(1e6 + i), timestamp: r.t + 200, message: JSON.stringify({
      requestId: `r${i}`, ip: r.ip, requestTimeEpoch: r.t, httpMethod: 'GET', resourcePath: '/orders', path: r.path ?? '/orders',
      status: 200, protocol: 'HTTP/1.1', responseLength: 512, responseLatency: 20, userAgent: 'python-requests/2.32', apiKeyId: '-' }) })),
  };
  return gzipSync(JSON.stringify(envelope)).toString('base64');
}

/** One minute of traffic from `start`: 40 quiet clients, and (with `flood`) 3,000 requests from FLOOD_IP. */
function minuteOf(start: number, flood: boolean): { t: number; ip: string }[] {
  const out: { t: number; ip: string }[] = [];
  for (let c = 0; c < 40; c++) for (let k = 0; k < 3; k++) out.push({ t: start + c * 1_000 + k * 6_000, ip: `52.${20 + c}.${c * 3}.${10 + c}` });
  if (flood) for (let k = 0; k < 3_000; k++) out.push({ t: start + Math.floor((k * 59_000) / 3_000), ip: FLOOD_IP });
  return out.sort((a, b) => a.t - b.t);
}

/** A Kinesis event of these records (base64 data), all on `shardId`, sequence numbers from `firstSeq`. */
function kinesisEvent(data: string[], shardId = 'shardId-000000000000', firstSeq = 49590): KinesisStreamEvent {
  return {
    Records: data.map((d, i) => ({
      eventID: `${shardId}:${firstSeq + i}`,
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventName: 'aws:kinesis:record',
      eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/s',
      awsRegion: 'eu-west-1',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/r',
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: 'k', sequenceNumber: String(firstSeq + i), data: d, approximateArrivalTimestamp: 1_700_000_000 },
    })),
  };
}

const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} } as ScheduledEvent;

describe('ingest', () => {
  it('decodes the records, puts summaries pre-aggregated over the batch, their part ids naming its shard and span of sequence numbers, with deps built once', async () => {
    const { handler } = await import('../../functions/ingest.ts');
    const start = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
    const minute = minuteOf(start, false);
    const res = await handler(kinesisEvent([cwlData(minute.slice(0, 60)), cwlData(minute.slice(60)), Buffer.from('not gzip').toString('base64')]), context);
    // The poison record is counted and skipped: nothing to redeliver.
    expect(res).toEqual({ batchItemFailures: [] });
    const parts = world.summaries.flatMap((r) => decodeSummaryRecord(r.data));
    expect(parts.reduce((n, p) => n + p.n, 0)).toBe(minute.length);
    // The poison record (49592) is inside the span: it was read, counted and skipped.
    expect(new Set(parts.map((p) => p.id.split('/')[0]))).toEqual(new Set(['shardId-000000000000:49590-49592']));
    // One entry per key and window for the whole batch, however many of its records the key is in.
    const ids = parts.flatMap((p) => p.i.map(([ip]) => `${p.id.split('/')[2]}#${ip}`));
    expect(new Set(ids).size).toBe(ids.length);
    expect(world.summaries.every((r) => /^b\d+$/.test(r.partitionKey))).toBe(true);
    expect(world.envs.ingest).toMatchObject({ summariesStreamName: 'cordon-summaries', summaryWireLevel: 'auto', stateTable: 'cordon-state' });
    await handler(kinesisEvent([cwlData(minute.slice(0, 1))]), context);
    expect(world.built.ingest).toBe(1); // built once, at cold start
  });

  it('summaries not delivered: every record of the batch is reported failed (redelivered), and counted', async () => {
    const { handler } = await import('../../functions/ingest.ts');
    world.putFail = Object.assign(new Error('Rate exceeded for shard'), { name: 'ProvisionedThroughputExceededException' });
    const start = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
    let res: unknown;
    const emf = await emfOf(async () => {
      res = await handler(kinesisEvent([cwlData(minuteOf(start, false).slice(0, 5)), cwlData(minuteOf(start, false).slice(5, 9))]), context);
    });
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: '49590' }, { itemIdentifier: '49591' }] });
    expect(emf.some((l) => l.RecordsFailed === 2)).toBe(true);
  });
});

describe('detect', () => {
  /** Summary records of one minute of traffic (with the flood), as the ingest stage puts them. */
  async function summariesOf(start: number): Promise<string[]> {
    const put: Uint8Array[] = [];
    const ingest = new IngestStage({ config: parseConfig({}), putter: { put: async (rs) => { put.push(...rs.map((r) => r.data)); } } });
    const minute = minuteOf(start, true);
    await ingest.handle([cloudWatchSource({ sequenceNumber: '1', shardId: 'shardId-000000000000', data: cwlData(minute.slice(0, 1_500)) }),
      cloudWatchSource({ sequenceNumber: '2', shardId: 'shardId-000000000000', data: cwlData(minute.slice(1_500)) })]);
    return put.map((d) => Buffer.from(d).toString('base64'));
  }

  it('stores the parts under the shard of the records; a window followed by silence is closed and decided by the scheduled tick', async () => {
    const { handler } = await import('../../functions/detect.ts');
    const scope = 'shardId-000000000001';
    const start = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
    const records = await summariesOf(start);
    expect(await handler(kinesisEvent([...records, Buffer.from('junk').toString('base64')], scope), context)).toEqual({ batchItemFailures: [] });
    expect(world.envs.detect).toMatchObject({ stateTable: 'cordon-state', stateBucket: 'cordon-state-bucket', ledgerTable: 'cordon-ledger' });
    // No later data: the window is stored, open, in the records' shard; nothing decided yet.
    expect(await world.windows.openWindows(scope)).toEqual([start]);
    expect(await world.windows.scopes()).toEqual([scope]);
    expect((await world.state.listAll()).filter((e) => e.target === FLOOD_IP)).toEqual([]);

    // The one-minute schedule, with the invocation's time nearly gone: the tick starts no close it may not finish.
    expect(await handler(scheduled, { ...context, getRemainingTimeInMillis: () => 5_000 })).toBeUndefined();
    expect(await world.windows.openWindows(scope)).toEqual([start]);
    // One of two ticks run at once (many shards): shard 1 is the other tick's.
    expect(await handler({ tick: { slice: 0, of: 2 } }, context)).toBeUndefined();
    expect(await world.windows.openWindows(scope)).toEqual([start]);
    // The plain schedule (four shards or fewer): wall clock is ten minutes past the window, beyond the longest delivery delay.
    expect(await handler(scheduled, context)).toBeUndefined();
    expect(await world.windows.openWindows(scope)).toEqual([]);
    const blocks = (await world.state.listAll()).filter((e) => e.target === FLOOD_IP);
    // DRY_RUN=true reaches detect: the flood is decided and held as an alert, never written as an active block.
    expect(blocks.map((e) => [e.status, e.reasons.includes('flood'), e.createdAt, e.evidence.heldBack])).toEqual([['held', true, start + MIN + 5_000, 'dry-run']]);
    expect(world.built.detect).toBe(1);

    // The same records delivered again: already counted (sequence numbers), nothing reopened or decided twice.
    expect(await handler(kinesisEvent(records, scope), context)).toEqual({ batchItemFailures: [] });
    expect(await world.windows.openWindows(scope)).toEqual([]);
    expect((await world.state.listAll()).filter((e) => e.target === FLOOD_IP)).toHaveLength(1);
  });

  it('a tick with nothing due closes nothing and fails nothing', async () => {
    const { handler } = await import('../../functions/detect.ts');
    const scope = 'shardId-000000000002';
    // The last full minute: its time is up a minute from now at the earliest, unless this starts late in a minute on a
    // loaded machine (then the window could come due before the tick below): wait for the next minute then.
    const intoMinute = Date.now() % MIN;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, MIN - intoMinute + 100));
    const start = Math.floor((Date.now() - MIN) / MIN) * MIN; // its time is not up: within the delivery delay
    expect(await handler(kinesisEvent(await summariesOf(start), scope), context)).toEqual({ batchItemFailures: [] });
    const before = (await world.state.listAll()).length;
    expect(await handler(scheduled, context)).toBeUndefined();
    expect(await world.windows.openWindows(scope)).toEqual([start]);
    expect((await world.state.listAll()).length).toBe(before);
  });
});

describe('contain', () => {
  const stream = { Records: [{ eventID: '1', eventName: 'INSERT', dynamodb: {} }] } as DynamoDBStreamEvent;

  it('answers the ledger stream with an empty failure list and the schedule with nothing; dry run enforces nothing, alerts all', async () => {
    const { handler } = await import('../../functions/contain.ts');
    const now = Date.now();
    await world.state.put({ target: '198.51.100.7', targetKind: 'ip', createdAt: now - 2 * MIN, expiresAt: now + 58 * MIN, status: 'active',
      reasons: ['flood'], score: 6, priorBlocks: 0, evidence: { key: '198.51.100.7', keyKind: 'ip', windowStart: now - 4 * MIN,
        windowEnd: now - 3 * MIN, findings: [], features: {}, held: '1/1' } });
    world.published.length = 0;
    world.applied.length = 0;
    expect(await handler(stream, context)).toEqual({ batchItemFailures: [] });
    expect(await handler(scheduled, context)).toBeUndefined();
    expect(world.envs.contain).toMatchObject({ dryRun: true, wafScope: 'REGIONAL', restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }] });
    expect(world.built.contain).toBe(1);
    // DRY_RUN: WAF is converged on nothing; every pending ledger change is alerted once, in the first run; an active
    // block a detect without the switch left is alerted as what it is in a dry run (an alert), never stamped enforced.
    expect(world.applied).toEqual([{ v4: [], v6: [] }, { v4: [], v6: [] }]);
    expect(world.published).toHaveLength(1);
    expect(world.published[0].decisions).toContainEqual(expect.objectContaining({ action: 'alert', target: '198.51.100.7',
      evidence: expect.objectContaining({ heldBack: 'dry-run' }) }));
    const e = (await world.state.history('198.51.100.7'))[0];
    expect(e.status).toBe('held');
    expect(e.effectiveAt).toBeUndefined();
  });

  it('counts a failed WAF write as Cordon/WafWriteFailures (EMF on stdout); the run completes and alerts the failure', async () => {
    const { handler } = await import('../../functions/contain.ts');
    await handler(scheduled, context); // nothing left to alert
    try {
      const published = world.published.length;
      const emf = await emfOf(async () => {
        world.wafFail = true;
        // One target's failure: the others and the alert go on (DESIGN §5), the schedule retries it.
        await expect(handler(scheduled, context)).resolves.toBeUndefined();
        world.wafFail = false;
        await expect(handler(scheduled, context)).resolves.toBeUndefined();
      });
      expect(world.published.slice(published).map((b) => b.failures?.map((f) => f.target))).toEqual([['waf-ip-sets']]);
      // The alarm watches Cordon / WafWriteFailures / service=cordon-contain; the failure is a target failure too.
      expect(emf).toEqual(expect.arrayContaining([
        expect.objectContaining({ WafWriteFailures: 1, service: 'cordon-contain',
          _aws: expect.objectContaining({ CloudWatchMetrics: [expect.objectContaining({ Namespace: 'Cordon', Dimensions: [['service']] })] }) }),
        expect.objectContaining({ TargetFailures: 1, target: 'waf', service: 'cordon-contain' })]));
      expect(emf).toHaveLength(2);
    } finally {
      world.wafFail = false;
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
