import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, DeleteMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destroyClients, snsClient } from '../../src/adapters/aws/clients.ts';
import { AlertTooLargeError } from '../../src/adapters/aws/errors.ts';
import { SnsAlertAdapter, subjectFor, type AlertMessage } from '../../src/adapters/aws/sns.ts';
import type { Decision } from '../../src/decision.ts';
import type { AlertBatch } from '../../src/ports.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

function decision(i: number, path = '/login'): Decision {
  return {
    time: '2026-11-21T10:00:00.000Z',
    action: i % 5 === 0 ? 'alert' : 'block',
    target: `203.0.113.${i % 256}`,
    targetKind: 'ip',
    reasons: ['path-scan'],
    score: 4.5,
    expiresAt: '2026-11-21T11:00:00.000Z',
    evidence: {
      key: `203.0.113.${i % 256}`,
      keyKind: 'ip',
      windowStart: 1_795_000_000_000,
      windowEnd: 1_795_000_060_000,
      findings: [{ rule: 'path-scan', score: 4.5, unmistakable: false, detail: '48 distinct 404 paths' }],
      features: { requests: 900 + i, notFound: 48 },
      held: '2/3',
      samples: { paths: [path], userAgents: ['sqlmap/1.7 "quoted" \n <script>'] },
    },
  };
}

interface Envelope {
  Subject: string;
  Message: string;
  MessageAttributes: Record<string, { Type: string; Value: string }>;
}

// Needs no emulator: runs whether moto_server is there or not.
describe('SnsAlertAdapter subjects', () => {
  it('subjects stay ASCII and within 100 characters', () => {
    const s = subjectFor({ page: true, counts: { block: 123456789, alert: 987654321, unblock: 5 }, part: 12, parts: 99 });
    expect(s.length).toBeLessThanOrEqual(100);
    expect(s).toMatch(/^[\x20-\x7e]+$/);
  });
});

describeMoto('SnsAlertAdapter on moto (SNS → SQS)', () => {
  const moto = useMoto();
  let sns: SNSClient;
  let sqs: SQSClient;
  let topicArn = '';
  let queueUrl = '';

  beforeAll(() => {
    sns = new SNSClient(moto.clientConfig());
    sqs = new SQSClient(moto.clientConfig());
  });
  afterAll(() => {
    sns?.destroy();
    sqs?.destroy();
  });
  beforeEach(async () => {
    await moto.reset();
    topicArn = (await sns.send(new CreateTopicCommand({ Name: 'cordon-alerts' }))).TopicArn!;
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'alerts-inbox' }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn;
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: arn }));
  });

  async function drain(): Promise<Envelope[]> {
    const out: Envelope[] = [];
    for (let empty = 0; empty < 2; ) {
      const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      const msgs = res.Messages ?? [];
      if (msgs.length === 0) empty++;
      for (const m of msgs) {
        out.push(JSON.parse(m.Body!) as Envelope);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    return out;
  }

  it('publishes one message per batch: JSON body, ASCII subject, page attribute', async () => {
    const batch: AlertBatch = { id: 'batch-2026-11-21T10:01Z-7', time: '2026-11-21T10:01:00.000Z', page: true, decisions: [...Array(20)].map((_, i) => decision(i, `/a"b\\c\n<d>/ü/${i}`)) };
    const adapter = new SnsAlertAdapter(sns, topicArn);
    await adapter.publish(batch);
    expect(adapter.published).toBe(1);
    const [env, ...rest] = await drain();
    expect(rest).toEqual([]);
    const msg = JSON.parse(env.Message) as AlertMessage;
    expect(msg).toMatchObject({ id: batch.id, part: 1, parts: 1, page: true, counts: { block: 16, alert: 4 } });
    expect(msg.decisions).toEqual(batch.decisions); // attacker strings survive as data
    expect(env.Subject).toBe('[PAGE] cordon: 16 block, 4 alert');
    expect(env.MessageAttributes.page).toEqual({ Type: 'String', Value: 'true' });
    expect(env.MessageAttributes.batchId.Value).toBe(batch.id);
  });

  it('splits a batch over the size limit into parts of many decisions each, losing none', async () => {
    const batch: AlertBatch = { id: 'big', time: '2026-11-21T10:02:00.000Z', page: false, decisions: [...Array(60)].map((_, i) => decision(i)) };
    const adapter = new SnsAlertAdapter(sns, topicArn, { maxMessageBytes: 16 * 1024 });
    await adapter.publish(batch);
    const envs = await drain();
    expect(envs.length).toBe(adapter.published);
    expect(envs.length).toBeGreaterThan(1);
    expect(envs.length).toBeLessThan(10); // batches, not one message per IP
    const msgs = envs.map((e) => JSON.parse(e.Message) as AlertMessage).sort((a, b) => a.part - b.part);
    expect(msgs.map((m) => m.part)).toEqual(msgs.map((_, i) => i + 1));
    for (const m of msgs) {
      expect(m).toMatchObject({ id: 'big', parts: msgs.length });
      expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(16 * 1024);
    }
    expect(msgs.flatMap((m) => m.decisions)).toEqual(batch.decisions);
    for (const e of envs) {
      const m = JSON.parse(e.Message) as AlertMessage;
      expect(e.Subject).toBe(`cordon: ${m.counts.block} block, ${m.counts.alert} alert (part ${m.part}/${m.parts})`);
    }
  });

  it('a single decision too large for a message is a named error, nothing published', async () => {
    const huge = decision(1, 'x'.repeat(300 * 1024));
    const adapter = new SnsAlertAdapter(sns, topicArn);
    await expect(adapter.publish({ id: 'h', time: 't', page: false, decisions: [decision(0), huge] })).rejects.toBeInstanceOf(AlertTooLargeError);
    expect(adapter.published).toBe(0);
    // Not even the part that fits: the subscribed queue holds nothing.
    expect(await drain()).toEqual([]);
  });

  describe('the module-scope client factory', () => {
    const saved = { ...process.env };
    afterEach(() => {
      destroyClients();
      process.env = { ...saved };
    });

    it('finds the endpoint and region from the environment (AWS_ENDPOINT_URL), as in Lambda', async () => {
      Object.assign(process.env, {
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      });
      delete process.env.AWS_PROFILE;
      expect(snsClient()).toBe(snsClient()); // one per process
      await new SnsAlertAdapter(snsClient(), topicArn).publish({ id: 'env', time: 't', page: false, decisions: [decision(3)] });
      const [env] = await drain();
      expect((JSON.parse(env.Message) as AlertMessage).id).toBe('env');
    });
  });
});
