import { APIGatewayClient, CreateApiKeyCommand, GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateIPSetCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ApiGatewayApiKeyAdapter, S3ApiKeyRecord } from '../../src/adapters/aws/api-keys.ts';
import { createTableInput, LEDGER_TABLE_KEYS } from '../../src/adapters/aws/dynamo-common.ts';
import { DynamoLedgerStore } from '../../src/adapters/aws/dynamodb.ts';
import { AwsRejectedError } from '../../src/adapters/aws/errors.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { lambdaContext, scheduledEvent } from '../helpers/e2e-lambda.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

/**
 * Acceptance on moto: "an API-key principal is disabled and re-enabled on release". First through the adapter (its
 * record in S3), then through the real contain handler (functions/contain.ts, loaded with the environment the
 * construct gives it with config.apiKeys.enabled): detect has blocked a partner's API key (the decoder took its
 * apiKeyId as the principal), contain disables it; the operator releases it, the next run enables it again. A key its
 * owner had disabled before stays disabled throughout.
 */

const LEDGER = 'cordon-ledger';
const BUCKET = 'cordon-state-bucket';
const RECORD = 'api-keys/disabled-v1.json';
const now = Date.now();

function block(target: string, targetKind: LedgerEntry['targetKind']): LedgerEntry {
  return { target, targetKind, createdAt: now - 60_000, expiresAt: now + 3_600_000, status: 'active', reasons: ['principal-many-ips'],
    score: 3, priorBlocks: 0, evidence: { key: target, keyKind: targetKind === 'principal' ? 'principal' : 'ip', windowStart: now - 120_000,
      windowEnd: now - 60_000, findings: [], features: {}, held: 'unmistakable' } };
}

describeMoto('API keys on moto: adapter and contain handler', () => {
  const moto = useMoto();
  const savedEnv = { ...process.env };
  let dynamo: DynamoDBClient;
  let s3: S3Client;
  let apigw: APIGatewayClient;
  let destroyHandlerClients: (() => void) | undefined;

  beforeAll(async () => {
    const cfg = moto.clientConfig();
    dynamo = new DynamoDBClient(cfg);
    s3 = new S3Client({ ...cfg, forcePathStyle: true });
    apigw = new APIGatewayClient(cfg);
    await dynamo.send(new CreateTableCommand(createTableInput(LEDGER, LEDGER_TABLE_KEYS)));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, 60_000);

  afterAll(() => {
    destroyHandlerClients?.();
    for (const c of [dynamo, s3, apigw]) c?.destroy();
    process.env = { ...savedEnv };
  });

  const enabled = async (id: string) => (await apigw.send(new GetApiKeyCommand({ apiKey: id }))).enabled;
  const newKey = async (name: string, on = true) => (await apigw.send(new CreateApiKeyCommand({ name, enabled: on }))).id!;
  const recordKeys = async () => {
    const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: RECORD }));
    return Object.keys(JSON.parse(await obj.Body!.transformToString()).keys);
  };

  it('the adapter: disables a blocked key, leaves an owner-disabled one alone, re-enables only its own; a broken record is refused', async () => {
    const record = new S3ApiKeyRecord(s3, { bucket: BUCKET, key: 'adapter-test/record.json' });
    const adapter = new ApiGatewayApiKeyAdapter(apigw, { record, pacer: new WritePacer(0) });
    const partner = await newKey('partner');
    const ownerOff = await newKey('owner-off', false);
    const iamArn = 'arn:aws:iam::123456789012:user/mallory';

    const r = await adapter.apply([partner, ownerOff, iamArn, 'q9w8e7r6t5']);
    expect(r).toMatchObject({ disabled: [partner], held: [ownerOff, partner].sort(), enabled: [], notKeys: 1 });
    expect(await enabled(partner)).toBe(false);
    expect(adapter.calls).toEqual({ GetApiKey: 3, UpdateApiKey: 1 });

    const released = await adapter.apply([]);
    expect(released).toMatchObject({ enabled: [partner], disabled: [] });
    expect(await enabled(partner)).toBe(true);
    expect(await enabled(ownerOff)).toBe(false);
    expect(await record.read()).toEqual(new Map());

    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'adapter-test/record.json', Body: 'not json' }));
    await expect(adapter.apply([partner])).rejects.toBeInstanceOf(AwsRejectedError);
    expect(await enabled(partner)).toBe(true);
  });

  it('contain handler: a blocked API key is disabled (the block in effect); released, the next run enables it; the owner-disabled key stays off', async () => {
    const cfg = moto.clientConfig();
    const waf = new WAFV2Client(cfg);
    const sets: Record<string, { name: string; id: string }> = {};
    for (const [k, version] of [['v4', 'IPV4'], ['v6', 'IPV6']] as const) {
      const name = `cordon-${k}-0`;
      sets[k] = { name, id: (await waf.send(new CreateIPSetCommand({ Name: name, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: [] }))).Summary!.Id! };
    }
    waf.destroy();
    const topicArn = (await new SNSClient(cfg).send(new CreateTopicCommand({ Name: 'cordon-alerts' }))).TopicArn!;
    for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_REGION', 'AWS_MAX_ATTEMPTS']) delete process.env[k];
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete process.env[k];
    Object.assign(process.env, {
      AWS_REGION: cfg.region, AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing',
      STATE_TABLE: 'cordon-state', LEDGER_TABLE: LEDGER, WAF_SCOPE: 'REGIONAL',
      IPSETS_V4: JSON.stringify([sets.v4]), IPSETS_V6: JSON.stringify([sets.v6]), REST_APIS: '[]', ALERT_TOPIC_ARN: topicArn,
      DRY_RUN: 'false', CORDON_CONFIG: JSON.stringify({ apiKeys: { enabled: true } }),
      API_KEY_RECORD_BUCKET: BUCKET, API_KEY_RECORD_KEY: RECORD, LOG_LEVEL: 'ERROR',
    });
    vi.resetModules();
    destroyHandlerClients = (await import('../../src/adapters/aws/clients.ts')).destroyClients;
    const { handler } = await import('../../functions/contain.ts');

    const partner = await newKey('partner-42');
    const ownerOff = await newKey('retired', false);
    const bystander = await newKey('partner-43');
    const ledger = new DynamoLedgerStore(dynamo, LEDGER);
    await ledger.put(block(partner, 'principal'));
    await ledger.put(block(ownerOff, 'principal'));

    await handler(scheduledEvent(), lambdaContext('cordon-contain'));

    expect(await enabled(partner)).toBe(false);
    expect(await enabled(ownerOff)).toBe(false);
    expect(await enabled(bystander)).toBe(true);
    expect(await recordKeys()).toEqual([partner]);
    const rows = await ledger.listAll();
    // Held by the key target, so in effect, though no resource policy (none here) could ever name a key.
    expect(rows.find((e) => e.target === partner)!.effectiveAt).toBeDefined();
    expect(rows.find((e) => e.target === ownerOff)!.effectiveAt).toBeDefined();

    for (const id of [partner, ownerOff]) {
      const e = rows.find((x) => x.target === id)!;
      await ledger.put({ ...e, status: 'released', endedAt: Date.now() });
    }
    await handler(scheduledEvent(), lambdaContext('cordon-contain'));

    expect(await enabled(partner)).toBe(true);
    expect(await enabled(ownerOff)).toBe(false);
    expect(await enabled(bystander)).toBe(true);
    expect(await recordKeys()).toEqual([]);
  }, 60_000);
});
