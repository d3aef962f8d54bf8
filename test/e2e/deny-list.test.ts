import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateIPSetCommand, GetIPSetCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createTableInput, LEDGER_TABLE_KEYS } from '../../src/adapters/aws/dynamo-common.ts';
import { DynamoLedgerStore } from '../../src/adapters/aws/dynamodb.ts';
import { createDenyListChecker } from '../../src/authorizer/deny-list.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { lambdaContext, scheduledEvent } from '../helpers/e2e-lambda.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

/**
 * Acceptance: "an authorizer principal lands in the deny list the helper reads". An HTTP API (no WAF, no resource
 * policy: no REST API is protected) whose Lambda authorizer returns principalIds; detect has blocked one of them and
 * an address. The real contain handler (functions/contain.ts, loaded with the environment the construct gives it)
 * runs on moto; the team's authorizer reads the list with the helper. Then the operator releases the principal and
 * the next contain run takes it out.
 */

const LEDGER = 'cordon-ledger';
const BUCKET = 'cordon-state-bucket';
const PRINCIPAL = 'tenant-42|user-9b1e';
const now = Date.now();

function block(target: string, targetKind: LedgerEntry['targetKind']): LedgerEntry {
  return { target, targetKind, createdAt: now - 60_000, expiresAt: now + 3_600_000, status: 'active', reasons: ['principal-many-ips'],
    score: 3, priorBlocks: 0, evidence: { key: target, keyKind: targetKind === 'principal' ? 'principal' : 'ip', windowStart: now - 120_000,
      windowEnd: now - 60_000, findings: [], features: {}, held: 'unmistakable' } };
}

describeMoto('deny list end to end on moto: ledger → contain handler → S3 → the authorizer helper', () => {
  const moto = useMoto();
  const savedEnv = { ...process.env };
  let dynamo: DynamoDBClient;
  let s3: S3Client;
  let waf: WAFV2Client;
  let destroyHandlerClients: (() => void) | undefined;
  const sets = { v4: { name: 'cordon-v4-0', id: '' }, v6: { name: 'cordon-v6-0', id: '' } };

  beforeAll(async () => {
    const cfg = moto.clientConfig();
    dynamo = new DynamoDBClient(cfg);
    s3 = new S3Client({ ...cfg, forcePathStyle: true });
    waf = new WAFV2Client(cfg);
    await dynamo.send(new CreateTableCommand(createTableInput(LEDGER, LEDGER_TABLE_KEYS)));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const [k, version] of [['v4', 'IPV4'], ['v6', 'IPV6']] as const) {
      sets[k].id = (await waf.send(new CreateIPSetCommand({ Name: sets[k].name, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: [] }))).Summary!.Id!;
    }
    const topicArn = (await new SNSClient(cfg).send(new CreateTopicCommand({ Name: 'cordon-alerts' }))).TopicArn!;
    for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_REGION', 'AWS_MAX_ATTEMPTS']) delete process.env[k];
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete process.env[k];
    Object.assign(process.env, {
      AWS_REGION: cfg.region, AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing',
      STATE_TABLE: 'cordon-state', LEDGER_TABLE: LEDGER, WAF_SCOPE: 'REGIONAL',
      IPSETS_V4: JSON.stringify([sets.v4]), IPSETS_V6: JSON.stringify([sets.v6]), REST_APIS: '[]', ALERT_TOPIC_ARN: topicArn,
      DRY_RUN: 'false', CORDON_CONFIG: JSON.stringify({ denyList: { enabled: true } }),
      DENY_LIST_BUCKET: BUCKET, DENY_LIST_KEY: 'deny-list/v1.json', LOG_LEVEL: 'ERROR',
    });
    vi.resetModules();
    destroyHandlerClients = (await import('../../src/adapters/aws/clients.ts')).destroyClients;
  }, 60_000);

  afterAll(() => {
    destroyHandlerClients?.();
    for (const c of [dynamo, s3, waf]) c?.destroy();
    process.env = { ...savedEnv };
  });

  it('an authorizer principal lands in the deny list the helper reads; released, it is gone after the next run', async () => {
    const { handler } = await import('../../functions/contain.ts');
    const ledger = new DynamoLedgerStore(dynamo, LEDGER);
    await ledger.put(block(PRINCIPAL, 'principal'));
    await ledger.put(block('203.0.113.0/24', 'cidr'));

    await handler(scheduledEvent(), lambdaContext('cordon-contain'));

    const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'deny-list/v1.json' }));
    expect(obj.ContentType).toBe('application/json');
    const doc = JSON.parse(await obj.Body!.transformToString());
    expect(doc).toMatchObject({ version: 1, principals: [PRINCIPAL], cidrs: ['203.0.113.0/24'] });
    // Held by the list, so enforced: no resource policy exists that could have held it.
    const rows = await ledger.listAll();
    expect(rows.find((e) => e.target === PRINCIPAL)!.effectiveAt).toBeDefined();
    // WAF still carries the address block (and decides whether it is in effect).
    const v4 = await waf.send(new GetIPSetCommand({ Name: sets.v4.name, Id: sets.v4.id, Scope: 'REGIONAL' }));
    expect(v4.IPSet!.Addresses).toEqual(['203.0.113.0/24']);

    // The team's authorizer, with its own client.
    const reader = new S3Client({ ...moto.clientConfig(), forcePathStyle: true });
    const checker = createDenyListChecker({ bucket: BUCKET, key: 'deny-list/v1.json', ttlSeconds: 30, s3: reader });
    expect(await checker.isDenied({ principal: PRINCIPAL, sourceIp: '192.0.2.10' })).toBe(true);
    expect(await checker.isDenied({ principal: 'tenant-42|user-other', sourceIp: '203.0.113.77' })).toBe(true);
    expect(await checker.isDenied({ principal: 'tenant-42|user-other', sourceIp: '192.0.2.10' })).toBe(false);

    // The operator releases the principal (cordon blocks release): the next run takes it out of the list.
    const entry = rows.find((e) => e.target === PRINCIPAL)!;
    await ledger.put({ ...entry, status: 'released', endedAt: Date.now() });
    await handler(scheduledEvent(), lambdaContext('cordon-contain'));
    const after = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'deny-list/v1.json' }))).Body!.transformToString());
    expect(after.principals).toEqual([]);
    expect(after.cidrs).toEqual(['203.0.113.0/24']);
    await checker.refresh();
    expect(await checker.isDenied({ principal: PRINCIPAL, sourceIp: '192.0.2.10' })).toBe(false);
    reader.destroy();
  });
});
