import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  APIGatewayClient,
  CreateDeploymentCommand,
  CreateResourceCommand,
  CreateRestApiCommand,
  GetDeploymentsCommand,
  GetResourcesCommand,
  GetRestApiCommand,
  PutIntegrationCommand,
  PutMethodCommand,
} from '@aws-sdk/client-api-gateway';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  type InputLogEvent,
  PutLogEventsCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateIPSetCommand, GetIPSetCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, onTestFinished, vi } from 'vitest';
import { createTableInput, LEDGER_TABLE_KEYS, scanAll, STATE_TABLE_KEYS, type Item } from '../../src/adapters/aws/dynamo-common.ts';
import type { AlertMessage } from '../../src/adapters/aws/sns.ts';
import { parseConfig } from '../../src/config.ts';
import { CORDON_SIDS, parseApiGatewayPolicy, type PolicyDocument } from '../../src/render/resource-policy.ts';
import { batchesOf, kinesisEvent, lambdaContext, readStream, scheduledEvent, snsEventFrom, StreamReader, type SnsEnvelope } from '../helpers/e2e-lambda.ts';
import { ATTACKERS, buildTraffic, HOSTILE_UA, putLogEventsBatches } from '../helpers/e2e-traffic.ts';
import { describeMoto, TEST_ACCOUNT, useMoto } from '../helpers/moto.ts';
import { tool } from '../helpers/requirements.ts';

/**
 * Acceptance of "Deploy it": the whole AWS pipeline of DESIGN §1 on moto_server, driven through the real Lambda
 * handlers of functions/ with the events Lambda would give them.
 *
 * API access log lines → PutLogEvents into the API's log group → (moto's real subscription delivery) Kinesis
 * `access-logs` → ingest handler → Kinesis `summaries` → detect handler per shard (DynamoDB state + ledger) →
 * contain handler on its schedule → WAF IP sets, the API's resource policy + a redeployment, an SNS alert (read
 * from a subscribed SQS queue) → notify-slack handler → a local HTTPS "Slack".
 *
 * The Lambda service itself is not emulated (moto's Lambda needs Docker): the test plays the event source mappings,
 * the schedule and the SNS subscription, with batches of the sizes the construct configures.
 *
 * Every test deploys its own stack on an emptied moto (beforeEach) and loads the handlers afresh with that
 * deployment's environment, then writes its own access log: no test reads what another left behind.
 */

const LOG_GROUP = `API-Gateway-Execution-Logs_e2e/prod`;
const ACCESS_LOGS = 'access-logs';
const SUMMARIES = 'summaries';
const STATE = 'cordon-state';
const LEDGER = 'cordon-ledger';
const STATE_BUCKET = 'cordon-state-bucket';
const OPERATOR_ALLOW = {
  Sid: 'OperatorAllowVpn',
  Effect: 'Allow',
  Principal: '*',
  Action: 'execute-api:Invoke',
  Resource: 'execute-api:/*',
  Condition: { NotIpAddress: { 'aws:SourceIp': ['0.0.0.0/32'] } },
};
/**
 * The event source mappings, played: ingest gets the records of ~10 s of log time per invocation (moto makes one
 * record per PutLogEvents of 5 s; the construct's mapping has a 5-s batching window), detect polls the summaries
 * after every minute or so of log time with its batch size of 500 (infra/stream-defaults.ts).
 */
const INGEST_BATCH = 2;
const INGESTS_PER_DETECT_POLL = 6;
const DETECT_BATCH = 500;

type Handler<E, R> = (event: E, context: ReturnType<typeof lambdaContext>) => Promise<R>;
interface Handlers {
  ingest: Handler<ReturnType<typeof kinesisEvent>, { batchItemFailures: { itemIdentifier: string }[] }>;
  /** Kinesis batches answer with the records to redeliver; the one-minute schedule (a clock tick) with nothing. */
  detect: Handler<ReturnType<typeof kinesisEvent> | ReturnType<typeof scheduledEvent>, { batchItemFailures: { itemIdentifier: string }[] } | undefined>;
  contain: Handler<ReturnType<typeof scheduledEvent>, unknown>;
}

// --- small IPv4 helpers for "is this address anywhere?" ---------------------------------------------------------
const ipv4ToInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
function coversV4(cidr: string, ip: string): boolean {
  const [base, bitsText] = cidr.split('/');
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(base)) return false;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4ToInt(base) / size) === Math.floor(ipv4ToInt(ip) / size);
}

/** One access-log line in the recommended JSON format (what the API writes). */
let lineCounter = 0;
function logLine(ip: string, t: number, userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36'): string {
  const hex = (++lineCounter).toString(16).padStart(12, '0');
  return JSON.stringify({ requestId: `00000000-0000-4000-9000-${hex}`, ip, requestTimeEpoch: t, httpMethod: 'GET', resourcePath: '/orders',
    path: '/orders', status: 200, protocol: 'HTTP/1.1', responseLength: 512, responseLatency: 21, userAgent, caller: '-', user: '-',
    userArn: '-', principalId: '-', apiKeyId: '-', wafResponseCode: '-', apiId: 'e2eapi0001', stage: 'prod' });
}

/** webhookUrlFromSecret accepts https URLs only, so the local Slack needs a certificate: openssl makes it. */
const openssl = tool('openssl', 'the local Slack webhook needs a certificate: apt-get install -y openssl');

function makeCert(dir: string): { key: Buffer; cert: Buffer } {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'pipe' });
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

describeMoto('cordon end to end on moto_server (CloudWatch Logs → Kinesis → Lambda handlers → WAF, policy, SNS, Slack)', () => {
  const moto = useMoto();
  const savedEnv = { ...process.env };
  let logs: CloudWatchLogsClient;
  let kinesis: KinesisClient;
  let dynamo: DynamoDBClient;
  let doc: DynamoDBDocumentClient;
  let waf: WAFV2Client;
  let apigw: APIGatewayClient;
  let sns: SNSClient;
  let sqs: SQSClient;
  let secrets: SecretsManagerClient;
  let s3: S3Client;
  // What the test's own deployment (beforeEach) made: names, ids and the handlers loaded with its environment.
  let handlers: Handlers;
  let destroyHandlerClients: (() => void) | undefined;
  let queueUrl = '';
  let topicArn = '';
  let restApiId = '';
  let accessLogsArn = '';
  let summariesArn = '';
  const ipSets = { v4: { name: 'cordon-v4-0', id: '' }, v6: { name: 'cordon-v6-0', id: '' }, foreign: { name: 'team-allowlist', id: '' } };

  beforeAll(() => {
    const cfg = moto.clientConfig();
    logs = new CloudWatchLogsClient(cfg);
    kinesis = new KinesisClient({ ...cfg, requestHandler: new NodeHttpHandler() });
    dynamo = new DynamoDBClient(cfg);
    doc = DynamoDBDocumentClient.from(dynamo);
    waf = new WAFV2Client(cfg);
    apigw = new APIGatewayClient(cfg);
    sns = new SNSClient(cfg);
    sqs = new SQSClient(cfg);
    secrets = new SecretsManagerClient(cfg);
    s3 = new S3Client({ ...cfg, forcePathStyle: true });
  });

  /** The stack, deployed on an emptied moto, and the handlers loaded with its environment (as a cold start). */
  beforeEach(async () => {
    await moto.reset();
    const cfg = moto.clientConfig();

    // Kinesis: access-logs (what the subscription filter feeds) and summaries (ingest → detect, two shards).
    // access-logs has ONE shard: moto numbers sequence numbers per shard from 1, and ingest builds its summary part
    // ids from the source record's sequence number alone, so records of two shards would collide (see the report).
    await kinesis.send(new CreateStreamCommand({ StreamName: ACCESS_LOGS, ShardCount: 1 }));
    await kinesis.send(new CreateStreamCommand({ StreamName: SUMMARIES, ShardCount: 2 }));
    accessLogsArn = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: ACCESS_LOGS }))).StreamDescriptionSummary!.StreamARN!;
    summariesArn = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: SUMMARIES }))).StreamDescriptionSummary!.StreamARN!;

    // The API's access-log group, subscribed to access-logs.
    await logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));
    await logs.send(new PutSubscriptionFilterCommand({
      logGroupName: LOG_GROUP,
      filterName: 'cordon',
      filterPattern: '',
      destinationArn: accessLogsArn,
      roleArn: `arn:aws:iam::${TEST_ACCOUNT}:role/cwl-to-kinesis`,
      distribution: 'Random',
    }));

    // DynamoDB state and ledger.
    await dynamo.send(new CreateTableCommand(createTableInput(STATE, STATE_TABLE_KEYS)));
    await dynamo.send(new CreateTableCommand(createTableInput(LEDGER, LEDGER_TABLE_KEYS)));
    // S3: detect's bulk state (window-part chunks, baseline snapshots).
    await s3.send(new CreateBucketCommand({ Bucket: STATE_BUCKET }));

    // WAF: cordon's sets, and one of the team's that cordon must never touch.
    for (const [key, version, addresses] of [['v4', 'IPV4', []], ['v6', 'IPV6', []], ['foreign', 'IPV4', ['10.20.0.0/16']]] as const) {
      const res = await waf.send(new CreateIPSetCommand({ Name: ipSets[key].name, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: [...addresses] }));
      ipSets[key].id = res.Summary!.Id!;
    }

    // The REST API with the operator's own resource policy, one method, and stage prod.
    const api = await apigw.send(new CreateRestApiCommand({ name: 'orders', policy: JSON.stringify({ Version: '2012-10-17', Statement: [OPERATOR_ALLOW] }) }));
    restApiId = api.id!;
    const root = (await apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
    const orders = await apigw.send(new CreateResourceCommand({ restApiId, parentId: root.id!, pathPart: 'orders' }));
    await apigw.send(new PutMethodCommand({ restApiId, resourceId: orders.id!, httpMethod: 'GET', authorizationType: 'NONE' }));
    await apigw.send(new PutIntegrationCommand({ restApiId, resourceId: orders.id!, httpMethod: 'GET', type: 'MOCK', requestTemplates: { 'application/json': '{"statusCode": 200}' } }));
    // A method signed with SigV4: a principal Deny in the policy applies to IAM-authorized methods only.
    const account = await apigw.send(new CreateResourceCommand({ restApiId, parentId: root.id!, pathPart: 'account' }));
    await apigw.send(new PutMethodCommand({ restApiId, resourceId: account.id!, httpMethod: 'GET', authorizationType: 'AWS_IAM' }));
    await apigw.send(new PutIntegrationCommand({ restApiId, resourceId: account.id!, httpMethod: 'GET', type: 'MOCK', requestTemplates: { 'application/json': '{"statusCode": 200}' } }));
    await apigw.send(new CreateDeploymentCommand({ restApiId, stageName: 'prod', description: 'initial' }));

    // Alerts: SNS topic → SQS queue.
    topicArn = (await sns.send(new CreateTopicCommand({ Name: 'cordon-alerts' }))).TopicArn!;
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'alerts-inbox' }))).QueueUrl!;
    const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn;
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));

    // The functions' environment, as the construct sets it, and the SDK's way to find the emulator.
    for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_REGION', 'AWS_MAX_ATTEMPTS']) delete process.env[k];
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete process.env[k];
    Object.assign(process.env, {
      AWS_REGION: cfg.region,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      SUMMARIES_STREAM_NAME: SUMMARIES,
      // summaryWireLevel 'auto' (the construct's default) as the construct sets it.
      SUMMARY_WIRE_LEVEL: '1',
      SUMMARY_WIRE_AUTO: '1',
      STATE_TABLE: STATE,
      STATE_BUCKET,
      LEDGER_TABLE: LEDGER,
      WAF_SCOPE: 'REGIONAL',
      IPSETS_V4: JSON.stringify([ipSets.v4]),
      IPSETS_V6: JSON.stringify([ipSets.v6]),
      REST_APIS: JSON.stringify([{ restApiId, stageName: 'prod' }]),
      ALERT_TOPIC_ARN: topicArn,
      DRY_RUN: 'false',
      CORDON_CONFIG: JSON.stringify({ allowlist: { cidrs: ['10.0.0.0/8'] } }),
      LOG_LEVEL: process.env.CORDON_E2E_LOG_LEVEL ?? 'WARN',
    });
    // Fresh modules: the functions read their environment (and build their clients) when loaded.
    vi.resetModules();
    destroyHandlerClients = (await import('../../src/adapters/aws/clients.ts')).destroyClients;
    handlers = {
      ingest: (await import('../../functions/ingest.ts')).handler,
      detect: (await import('../../functions/detect.ts')).handler,
      contain: (await import('../../functions/contain.ts')).handler,
    };
  }, 60_000);

  afterEach(() => {
    destroyHandlerClients?.();
    destroyHandlerClients = undefined;
  });

  afterAll(() => {
    for (const c of [logs, kinesis, dynamo, waf, apigw, sns, sqs, secrets, s3]) c?.destroy();
    process.env = { ...savedEnv };
  });

  /** The API writes its access log into log stream `stream`: minute by minute, as PutLogEvents batches. */
  async function writeAccessLog(stream: string, events: InputLogEvent[]): Promise<void> {
    await logs.send(new CreateLogStreamCommand({ logGroupName: LOG_GROUP, logStreamName: stream }));
    for (const batch of putLogEventsBatches(events)) {
      await logs.send(new PutLogEventsCommand({ logGroupName: LOG_GROUP, logStreamName: stream, logEvents: batch }));
    }
  }

  // --- reading what the services hold ----------------------------------------------------------------------------
  async function drainQueue(): Promise<SnsEnvelope[]> {
    const out: SnsEnvelope[] = [];
    for (let empty = 0; empty < 2; ) {
      const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      const msgs = res.Messages ?? [];
      if (msgs.length === 0) empty++;
      for (const m of msgs) {
        out.push(JSON.parse(m.Body!) as SnsEnvelope);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    return out;
  }
  const ipSet = async (s: { name: string; id: string }) =>
    (await waf.send(new GetIPSetCommand({ Name: s.name, Id: s.id, Scope: 'REGIONAL' }))).IPSet!;
  const policyText = async () => (await apigw.send(new GetRestApiCommand({ restApiId }))).policy;
  const deployments = async () => (await apigw.send(new GetDeploymentsCommand({ restApiId }))).items ?? [];
  const ledgerRows = async () =>
    (await scanAll(doc, { TableName: LEDGER })).sort((a: Item, b: Item) => `${a.pk}#${a.sk}`.localeCompare(`${b.pk}#${b.sk}`));

  // --- playing the event source mappings ---------------------------------------------------------------------------
  async function deliverToIngest(batch: KinesisStreamRecord[]): Promise<void> {
    const res = await handlers.ingest(kinesisEvent(batch), lambdaContext('cordon-ingest'));
    expect(res.batchItemFailures).toEqual([]);
  }
  async function deliverToDetect(byShard: Map<string, KinesisStreamRecord[]>): Promise<void> {
    for (const records of byShard.values()) {
      for (const batch of batchesOf(records, DETECT_BATCH)) {
        const res = await handlers.detect(kinesisEvent(batch), lambdaContext('cordon-detect'));
        expect(res?.batchItemFailures).toEqual([]);
      }
    }
  }
  /**
   * access-log records → ingest, interleaved with detect polling the summaries stream through `summaries`.
   * Returns the summary records detect was given, per shard.
   */
  async function runStreamStages(accessRecords: KinesisStreamRecord[], summaries: StreamReader): Promise<Map<string, KinesisStreamRecord[]>> {
    const delivered = new Map<string, KinesisStreamRecord[]>();
    const ingestBatches = batchesOf(accessRecords, INGEST_BATCH);
    for (let i = 0; i < ingestBatches.length; i += INGESTS_PER_DETECT_POLL) {
      for (const batch of ingestBatches.slice(i, i + INGESTS_PER_DETECT_POLL)) await deliverToIngest(batch);
      const fresh = await summaries.readNew();
      await deliverToDetect(fresh);
      for (const [shard, rs] of fresh) delivered.set(shard, [...(delivered.get(shard) ?? []), ...rs]);
    }
    return delivered;
  }
  const runContain = () => handlers.contain(scheduledEvent(), lambdaContext('cordon-contain'));

  it('detects and contains the attackers, alerts once, and is idempotent under re-runs and duplicate delivery', async () => {
    const started = Date.now();
    const traffic = buildTraffic(started);
    await writeAccessLog('prod-e2e-0', traffic.events);

    // 1. What CloudWatch Logs delivered into access-logs, through ingest, and the summaries through detect.
    const accessLogs = await readStream(kinesis, ACCESS_LOGS, accessLogsArn);
    const accessRecords = [...accessLogs.values()].flat();
    expect(accessRecords.length).toBe(putLogEventsBatches(traffic.events).length); // moto: one record per PutLogEvents
    const summariesReader = new StreamReader(kinesis, SUMMARIES, summariesArn);
    const summaries = await runStreamStages(accessRecords, summariesReader);
    expect([...summaries.values()].every((rs) => rs.length > 0)).toBe(true); // partitioned over both shards
    const ledgerAfterDetect = await ledgerRows();
    const targets = new Set(ledgerAfterDetect.map((r) => String(r.pk)));
    expect(targets).toEqual(new Set([ATTACKERS.flood, ATTACKERS.scanner, ...ATTACKERS.swarm, ATTACKERS.swarmCidr, ATTACKERS.stolenPrincipal]));
    expect(ledgerAfterDetect.map((r) => r.status)).toEqual(ledgerAfterDetect.map(() => 'active'));
    // Detect's state: baselines per summaries shard in S3 (a base and a delta object), none of it in DynamoDB; the chunks of closed
    // windows are gone from both.
    const objects = ((await s3.send(new ListObjectsV2Command({ Bucket: STATE_BUCKET }))).Contents ?? []).map((o) => o.Key!);
    expect(objects.filter((k) => k.startsWith('base/')).sort()).toEqual([...summaries.keys()].flatMap((shard) => [`base/${shard}`, `base/${shard}.delta`]).sort());
    const stateItems = await scanAll(doc, { TableName: STATE });
    // The state table holds only window part index items, open-window markers, watermarks and progress (`mark#`),
    // the registry of scopes the clock tick visits, and detect's wire level notice (ingest, at 'auto', reads it: level 1
    // until detect's level 4 has stood 15 minutes).
    expect(stateItems.filter((it) => !/^(win|wins|mark)#/.test(String(it.pk)) && it.pk !== 'scopes' && it.pk !== 'wire')).toEqual([]);
    expect(stateItems.filter((it) => it.pk === 'wire')).toEqual([expect.objectContaining({ sk: 'readers', level: 4, before: 1 })]);
    expect(stateItems.filter((it) => it.pk === 'scopes').map((it) => it.sk).sort()).toEqual([...summaries.keys()].sort());
    const openChunks = stateItems.filter((it) => String(it.pk).startsWith('win#'));
    expect(objects.filter((k) => k.startsWith('win/')).length).toBeLessThanOrEqual(openChunks.length);

    // 2. The one-minute schedule fires contain.
    const deploymentsBefore = (await deployments()).length;
    expect(deploymentsBefore).toBe(1);
    await runContain();

    // WAF: the attackers' addresses (or a CIDR covering them) in cordon's v4 set; nothing in v6; the team's set untouched.
    const v4 = (await ipSet(ipSets.v4)).Addresses ?? [];
    for (const ip of [ATTACKERS.flood, ATTACKERS.scanner, ...ATTACKERS.swarm]) {
      expect(v4.some((c) => coversV4(c, ip)), `${ip} in ${JSON.stringify(v4)}`).toBe(true);
    }
    expect(v4).toContain(`${ATTACKERS.flood}/32`);
    expect(v4).toContain(`${ATTACKERS.scanner}/32`);
    expect(v4).toContain(ATTACKERS.swarmCidr);
    expect((await ipSet(ipSets.v6)).Addresses ?? []).toEqual([]);
    expect((await ipSet(ipSets.foreign)).Addresses).toEqual(['10.20.0.0/16']);

    // The resource policy: the operator's statement untouched and first, cordon's denies after it.
    const text = await policyText();
    const policy = parseApiGatewayPolicy(text) as PolicyDocument;
    expect(policy.Statement[0]).toEqual(OPERATOR_ALLOW);
    const bySid = new Map(policy.Statement.map((s) => [s.Sid, s]));
    expect(policy.Statement.map((s) => s.Sid)).toEqual(['OperatorAllowVpn', CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    expect(bySid.get(CORDON_SIDS.denyPrincipals)).toMatchObject({ Effect: 'Deny', Principal: { AWS: [ATTACKERS.stolenPrincipal] } });
    expect(bySid.get(CORDON_SIDS.denyCidrs)).toMatchObject({ Effect: 'Deny', Principal: '*', Condition: { IpAddress: { 'aws:SourceIp': [ATTACKERS.swarmCidr] } } });

    // A deployment of stage prod after the change.
    const deploymentsAfter = await deployments();
    expect(deploymentsAfter.length).toBe(deploymentsBefore + 1);

    // One alert: the SNS envelope's Message is the batch, naming every attacker.
    const alerts = await drainQueue();
    expect(alerts.length).toBe(1);
    const alertEnvelope = alerts[0];
    const message = JSON.parse(alertEnvelope.Message) as AlertMessage;
    expect(message.decisions.map((d) => d.action).every((a) => a === 'block')).toBe(true);
    const decided = new Map(message.decisions.map((d) => [d.target, d]));
    expect(new Set(decided.keys())).toEqual(targets);
    expect(decided.get(ATTACKERS.flood)!.reasons).toContain('flood');
    expect(decided.get(ATTACKERS.scanner)!.reasons).toContain('path-scan');
    expect(decided.get(ATTACKERS.stolenPrincipal)!.reasons).toContain('principal-many-ips');
    expect(decided.get(ATTACKERS.swarmCidr)!.targetKind).toBe('cidr');
    expect(decided.get(ATTACKERS.scanner)!.evidence.samples?.userAgents).toContain(HOSTILE_UA); // data, verbatim

    // Benign clients, and the addresses the stolen credentials were used from, are nowhere: not in any set, not in
    // the policy, not a target in the alert (the ledger holds exactly the attackers, checked above).
    const allSetAddresses = [...v4, ...((await ipSet(ipSets.v6)).Addresses ?? [])];
    for (const ip of [...traffic.benignIps, ...traffic.stolenFromIps]) {
      expect(allSetAddresses.some((c) => coversV4(c, ip)), `${ip} blocked`).toBe(false);
      expect(text).not.toContain(ip);
      expect(alertEnvelope.Message).not.toContain(`"target":"${ip}"`);
    }
    for (const p of traffic.benignPrincipals) expect(text).not.toContain(p);

    // 3. Contain again: nothing changes.
    const ledgerAfterContain = await ledgerRows();
    const v4Token = (await waf.send(new GetIPSetCommand({ Name: ipSets.v4.name, Id: ipSets.v4.id, Scope: 'REGIONAL' }))).LockToken;
    await runContain();
    expect((await deployments()).length).toBe(deploymentsBefore + 1);
    expect(await policyText()).toBe(text);
    expect((await waf.send(new GetIPSetCommand({ Name: ipSets.v4.name, Id: ipSets.v4.id, Scope: 'REGIONAL' }))).LockToken).toBe(v4Token);
    expect(await drainQueue()).toEqual([]);
    expect(await ledgerRows()).toEqual(ledgerAfterContain);

    // 4. Duplicate delivery: the summary records to detect again, then the same access-log records to ingest again
    //    (new summary records appear) and those to detect. The ledger does not move; contain has nothing to alert.
    await deliverToDetect(summaries);
    const fresh = await runStreamStages(accessRecords, summariesReader);
    expect([...fresh.values()].flat().length).toBeGreaterThan(0);
    expect(await ledgerRows()).toEqual(ledgerAfterContain);
    await runContain();
    expect(await drainQueue()).toEqual([]);
    expect((await deployments()).length).toBe(deploymentsBefore + 1);
    expect(await policyText()).toBe(text);

    console.info(`[cordon e2e] ${traffic.events.length} log events, ${accessRecords.length} access-log records, ` +
      `${[...summaries.values()].flat().length} summary records, ${ledgerAfterDetect.length} ledger entries, ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 90_000);

  openssl.it('notify-slack renders the alert contain publishes as Block Kit for a webhook read from Secrets Manager, escaping attacker strings', async () => {
    // This test's own pipeline run: the traffic through ingest, detect and contain, and the one alert contain publishes.
    const traffic = buildTraffic(Date.now());
    await writeAccessLog('prod-e2e-0', traffic.events);
    const accessRecords = [...(await readStream(kinesis, ACCESS_LOGS, accessLogsArn)).values()].flat();
    await runStreamStages(accessRecords, new StreamReader(kinesis, SUMMARIES, summariesArn));
    await runContain();
    const alerts = await drainQueue();
    expect(alerts.length).toBe(1);
    const [alertEnvelope] = alerts;

    const dir = mkdtempSync(join(tmpdir(), 'cordon-e2e-tls-'));
    let tls: { key: Buffer; cert: Buffer };
    try {
      tls = makeCert(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const received: { method: string; url: string; contentType: string; body: string }[] = [];
    const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const savedTls = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    try {
      const secret = await secrets.send(new CreateSecretCommand({
        Name: 'cordon/slack-webhook',
        SecretString: JSON.stringify({ webhookUrl: `https://127.0.0.1:${port}/services/T000/B000/XXXX` }),
      }));
      process.env.SLACK_SECRET_ARN = secret.ARN!;
      const { handler } = await import('../../functions/notify-slack.ts');
      // The local Slack's certificate is self-signed: trust it for this call only.
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
      await handler(snsEventFrom(alertEnvelope), lambdaContext('cordon-notify-slack'));
    } finally {
      if (savedTls === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = savedTls;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    expect(received.length).toBe(1);
    const [post] = received;
    expect(post).toMatchObject({ method: 'POST', url: '/services/T000/B000/XXXX' });
    expect(post.contentType).toContain('application/json');
    const body = JSON.parse(post.body) as { text: string; blocks: { type: string; text?: { text: string }; elements?: { text: string }[] }[] };
    expect(body.blocks.length).toBeGreaterThan(1);
    expect(body.blocks[0].type).toBe('header');
    const texts = body.blocks.flatMap((b) => [b.text?.text ?? '', ...(b.elements ?? []).map((e) => e.text)]).join('\n');
    for (const target of [ATTACKERS.flood, ATTACKERS.scanner, ATTACKERS.swarmCidr, ATTACKERS.stolenPrincipal]) {
      expect(texts).toContain('`' + target + '`');
    }
    // Attacker strings: no live mention or link, control and bidi characters made visible, backticks cannot escape.
    expect(post.body).not.toContain('<!channel>');
    expect(post.body).not.toContain('<!here>');
    expect(post.body).not.toContain('<https://evil.example|click>');
    expect(texts).toContain('&lt;!channel&gt;');
    expect(texts).toContain('&lt;!here&gt;');
    expect(texts).toContain('\\u001b[2J');
    expect(texts).toContain('\\u202e');
    expect(texts).not.toContain('\u001b');
    expect(texts).not.toContain('\u202e');
    expect(texts).not.toContain('`rm -rf`');
  }, 90_000);

  it('an attack followed by silence: the scheduled tick decides its window once the longest delivery delay has passed', async () => {
    // A flood two minutes back, whose window later data closes, and a new flood in the last full minute, then no
    // more data at all: no later summary raises the watermark, so only the detect function's one-minute schedule (a
    // clock tick) can close the new flood's window. Benign clients in each of the three minutes.
    // About the tick: a detect function with early decisions off, which would block the late flood on arrival
    // (test/engine/early-decisions.test.ts). Loaded fresh with that configuration; put back afterwards.
    const config = process.env.CORDON_CONFIG;
    const detectWithEarly = handlers.detect;
    process.env.CORDON_CONFIG = JSON.stringify({ ...JSON.parse(config ?? '{}'), windows: { earlyDecisions: false } });
    vi.resetModules();
    const ownClients = await import('../../src/adapters/aws/clients.ts');
    handlers.detect = (await import('../../functions/detect.ts')).handler;
    onTestFinished(() => {
      process.env.CORDON_CONFIG = config;
      handlers.detect = detectWithEarly;
      ownClients.destroyClients();
    });
    const EARLY_FLOOD = '198.51.100.77';
    const LATE_FLOOD = '203.0.113.99';
    // The first tick below must come within the minute after the late flood's: started late in a minute (a loaded
    // machine takes seconds to get there), wait for the next one.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 30_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const W = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const maxDelayMs = parseConfig({}).windows.maxDeliveryDelaySeconds * 1000;
    const { benignIps } = buildTraffic(Date.now());
    const lines: { timestamp: number; message: string }[] = [];
    for (const [ip, start] of [[EARLY_FLOOD, W - 120_000], [LATE_FLOOD, W]] as const) {
      for (let k = 0; k < 3_000; k++) {
        const t = start + Math.floor((k * 59_000) / 3_000);
        lines.push({ timestamp: t, message: logLine(ip, t, 'python-requests/2.32') });
      }
    }
    for (const minute of [W - 120_000, W - 60_000, W]) {
      benignIps.forEach((ip, i) => lines.push({ timestamp: minute + i * 1_000, message: logLine(ip, minute + i * 1_000) }));
    }
    lines.sort((a, b) => a.timestamp - b.timestamp);

    await writeAccessLog('prod-e2e-1', lines);
    const accessRecords = [...(await readStream(kinesis, ACCESS_LOGS, accessLogsArn)).values()].flat();
    expect(accessRecords.length).toBe(putLogEventsBatches(lines).length);
    const summariesReader = new StreamReader(kinesis, SUMMARIES, summariesArn);
    const delivered = await runStreamStages(accessRecords, summariesReader); // the last summaries: detect has them all
    expect([...delivered.values()].flat().length).toBeGreaterThan(0);
    expect([...(await summariesReader.readNew()).values()].flat()).toEqual([]); // and nothing else comes
    // The early flood's window was closed by the data after it; the late flood's is still open.
    const before = await ledgerRows();
    expect(before.map((r) => [r.pk, r.status])).toEqual([[EARLY_FLOOD, 'active']]);
    // Contain's schedule, before the tick: the early block is enforced and alerted.
    await runContain();
    expect((await ipSet(ipSets.v4)).Addresses ?? []).toEqual([`${EARLY_FLOOD}/32`]);
    expect((await drainQueue()).map((a) => (JSON.parse(a.Message) as AlertMessage).decisions.map((d) => d.target))).toEqual([[EARLY_FLOOD]]);
    const decided = await ledgerRows();

    // The schedule fires now: the window's time is not up (wall clock < its end + the longest delivery delay).
    const tick = () => handlers.detect(scheduledEvent(new Date(), 'cordon-detect-tick'), lambdaContext('cordon-detect'));
    expect(Date.now()).toBeLessThan(W + 60_000 + maxDelayMs);
    expect(await tick()).toBeUndefined();
    expect(await ledgerRows()).toEqual(decided);

    // The schedule fires at wall clock = the window's end + the longest delivery delay: the window is decided.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(W + 60_000 + maxDelayMs);
      expect(await tick()).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
    const after = await ledgerRows();
    const added = after.filter((r) => !decided.some((b) => b.pk === r.pk && b.sk === r.sk));
    expect(added.map((r) => [r.pk, r.status, r.sk])).toEqual([[LATE_FLOOD, 'active', W + 60_000 + 5_000]]);
    expect(added[0].reasons).toContain('flood');
    // Nothing decided before moved: the early flood's block is as contain left it.
    expect(after.filter((r) => r.pk !== LATE_FLOOD)).toEqual(decided);
    // Every window of every shard is closed now: no open-window marker is left.
    expect((await scanAll(doc, { TableName: STATE })).filter((it) => String(it.pk).startsWith('wins#'))).toEqual([]);

    // Contain's schedule: the new block is enforced and alerted on its own.
    await runContain();
    expect(((await ipSet(ipSets.v4)).Addresses ?? []).sort()).toEqual([`${EARLY_FLOOD}/32`, `${LATE_FLOOD}/32`]);
    const alerts = await drainQueue();
    expect(alerts.length).toBe(1);
    const message = JSON.parse(alerts[0].Message) as AlertMessage;
    expect(message.decisions.map((d) => [d.action, d.target])).toEqual([['block', LATE_FLOOD]]);
  }, 90_000);
});
