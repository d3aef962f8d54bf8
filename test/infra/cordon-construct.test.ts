import { Validations } from 'aws-cdk-lib';
import { parseTickSlice } from '../../src/engine/tick-slices.ts';
import { AgreedWireLevel } from '../../src/engine/wire-handshake.ts';
import { buildDetectDeps, buildIngestDeps } from '../../src/pipeline/aws-deps.ts';
import { parseConfig } from '../../src/config.ts';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { parseContainEnv, parseDetectEnv, parseIngestEnv, parseNotifySlackEnv } from '../../functions/env.ts';
import {
  NAG_ACKNOWLEDGEMENTS,
  RECOMMENDED_ACCESS_LOG_FORMAT,
  STATE_BUCKET_WINDOW_PREFIX,
  WAF_WRITE_FAILURES_METRIC,
} from '../../infra/cordon-construct.ts';
import type { CordonProps } from '../../infra/props.ts';
import { createTableInput, LEDGER_TABLE_KEYS, STATE_TABLE_KEYS } from '../../src/adapters/aws/dynamo-common.ts';
import {
  FULL_PROPS,
  WEB_ACL_ARN,
  functionEnv,
  iamStatements,
  logicalId,
  resolveIntrinsics,
  roleOf,
  synth,
  type Json,
  type Synthesized,
} from './fixtures.ts';

/** One synthesized stack per variant, shared by the tests below (no bundling: see bundling.test.ts). */
let variants: [string, Synthesized][];
let full: Template;
let attach: Template;
let minimal: Template;
let onDemand: Template;
/** Stage 0 protected by cordon's web ACL, stage 1 keeping its own ('use-rule-group'). */
let mixed: Template;

beforeAll(async () => {
  const props: [string, CordonProps][] = [
    ['full', FULL_PROPS],
    ['attach', { restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'api-logs' }], existingWebAclArn: WEB_ACL_ARN }],
    ['minimal', {}],
    ['onDemand', { shards: 'on-demand', ipSetsPerFamily: 1 }],
    ['mixed', MIXED_PROPS],
  ];
  variants = [];
  for (const [name, p] of props) {
    // Each synth blocks the worker for seconds: let vitest's own messages through between them.
    await new Promise((r) => setImmediate(r));
    variants.push([name, synth(p)]);
  }
  [full, attach, minimal, onDemand, mixed] = variants.map(([, v]) => v.template);
}, 180_000);

const MIXED_PROPS = {
  ...FULL_PROPS,
  restApis: [FULL_PROPS.restApis[0], { ...FULL_PROPS.restApis[1], existingWebAcl: 'use-rule-group' as const }],
};

const fnIds = (t: Template) => ({
  ingest: logicalId(t, 'AWS::Lambda::Function', 'CordonIngest'),
  detect: logicalId(t, 'AWS::Lambda::Function', 'CordonDetect'),
  contain: logicalId(t, 'AWS::Lambda::Function', 'CordonContain'),
});
const keyId = (t: Template) => logicalId(t, 'AWS::KMS::Key', 'CordonKey');
const preflightId = (t: Template) => logicalId(t, 'Custom::CordonPreflight', 'CordonPreflight');
const preflightProps = (t: Template) => (t.toJSON().Resources[preflightId(t)] as Json).Properties;
const topicId = (t: Template) => logicalId(t, 'AWS::SNS::Topic', 'CordonAlerts');
const bucketId = (t: Template) => logicalId(t, 'AWS::S3::Bucket', 'CordonStateBucket');

describe('resources', () => {
  it('creates what DESIGN §1 draws, once', () => {
    full.resourceCountIs('AWS::KMS::Key', 1);
    full.resourceCountIs('AWS::Kinesis::Stream', 2);
    full.resourceCountIs('AWS::DynamoDB::Table', 2);
    full.resourceCountIs('AWS::S3::Bucket', 1); // detect's bulk state
    full.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    full.resourceCountIs('AWS::SNS::Topic', 1);
    full.resourceCountIs('AWS::WAFv2::IPSet', 6); // 3 per family
    full.resourceCountIs('AWS::WAFv2::WebACL', 1);
    full.resourceCountIs('AWS::WAFv2::WebACLAssociation', 2);
    full.resourceCountIs('AWS::Logs::SubscriptionFilter', 3); // two stages + one HTTP API group
    full.resourceCountIs('AWS::Events::Rule', 2); // one-minute ticks: contain, detect
    full.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    full.resourceCountIs('AWS::SQS::Queue', 4); // on-failure queues: ingest, detect, contain, notify-slack
    full.resourceCountIs('Custom::CordonPreflight', 1); // the deploy-time check
    full.resourceCountIs('Custom::CordonAccessLog', 2); // UpdateStage, one per managed stage
    full.resourceCountIs('Custom::CordonTeardown', 1); // releases every block on removal (teardown.test.ts)
    full.resourceCountIs('Custom::AWS', 0); // no AwsCustomResource (and no provider function of its own)
  });

  it('the minimal deployment needs no options and still has the whole pipeline', () => {
    minimal.resourceCountIs('AWS::Lambda::Function', 4); // no Slack secret: no notify-slack; the teardown (teardown.test.ts)
    minimal.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    minimal.resourceCountIs('AWS::WAFv2::IPSet', 4);
    minimal.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    minimal.resourceCountIs('AWS::Logs::SubscriptionFilter', 0);
    minimal.resourceCountIs('AWS::SNS::Subscription', 0);
    // Nothing to check at deploy time: no guard function, no custom resource.
    minimal.resourceCountIs('Custom::CordonPreflight', 0);
  });

  it('a stack update puts detect before ingest (a rollback takes ingest back first)', () => {
    // No dependency cycle either: the synth's own CloudFormation checks (fixtures.ts) refuse one (F3004).
    for (const [name, { template: t }] of variants) {
      const resources = t.toJSON().Resources as Record<string, Json>;
      const { ingest, detect } = fnIds(t);
      // The ingest function itself waits for the detect function (not only for its role or policy).
      expect(resources[ingest].DependsOn, name).toContain(detect);
      expect(resources[detect].DependsOn ?? [], name).not.toContain(ingest);
    }
  });

  it('the KMS key rotates', () => {
    full.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('lets CloudWatch alarms use the key, to publish to the encrypted topic: only for alarms of this account and region', () => {
    const statements = (full.toJSON().Resources[keyId(full)] as Json).Properties.KeyPolicy.Statement as Json[];
    const services = statements.filter((st) => st.Principal?.Service);
    expect(services).toHaveLength(1); // no other service principal, CloudWatch Logs included (no log group uses this key)
    const [cw] = services;
    expect(cw).toMatchObject({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] });
    expect(resolveIntrinsics(cw.Condition, full)).toEqual({
      StringEquals: { 'aws:SourceAccount': '123456789012' },
      ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*' },
    });
  });
});

describe('streams', () => {
  it('both streams are encrypted with the cordon key and provisioned with the given shards', () => {
    const streams = full.findResources('AWS::Kinesis::Stream');
    expect(Object.keys(streams)).toHaveLength(2);
    for (const s of Object.values(streams) as Json[]) {
      expect(s.Properties.StreamEncryption).toEqual({ EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [keyId(full), 'Arn'] } });
      expect(s.Properties.ShardCount).toBe(2);
      expect(s.Properties.StreamModeDetails).toEqual({ StreamMode: 'PROVISIONED' });
      expect(s.Properties.RetentionPeriodHours).toBe(24);
      // A day of records in flight: deleted with the stack, not left billing by the shard-hour.
      expect(s.DeletionPolicy).toBe('Delete');
    }
  });

  it('on-demand mode has no shard count', () => {
    for (const s of Object.values(onDemand.findResources('AWS::Kinesis::Stream')) as Json[]) {
      expect(s.Properties.StreamModeDetails).toEqual({ StreamMode: 'ON_DEMAND' });
      expect(s.Properties.ShardCount).toBeUndefined();
      expect(s.Properties.StreamEncryption.EncryptionType).toBe('KMS');
    }
  });
});

describe('functions', () => {
  it('every function is nodejs22.x or newer on arm64, traced, with its own log group', () => {
    const fns = Object.entries(full.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith('Cordon'));
    expect(fns).toHaveLength(6); // ingest, detect, contain, notify-slack, deploy-guard, teardown
    for (const [, f] of fns as [string, Json][]) {
      const major = Number(/^nodejs(\d+)\.x$/.exec(f.Properties.Runtime)?.[1]);
      expect(major).toBeGreaterThanOrEqual(22);
      expect(f.Properties.Architectures).toEqual(['arm64']);
      expect(f.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(f.Properties.LoggingConfig.LogGroup.Ref).toMatch(/LogGroup/);
      expect(f.Properties.Handler).toBe('index.handler');
    }
  });

  it('every function log group has a retention', () => {
    for (const g of Object.values(full.findResources('AWS::Logs::LogGroup')) as Json[]) {
      expect(g.Properties.RetentionInDays).toBe(30);
    }
  });

  it('contain is the single writer: reserved concurrency 1, run every minute and on ledger changes', () => {
    const { contain } = fnIds(full);
    full.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1, Description: Match.stringLikeRegexp('contain') });
    full.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [contain, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } })],
    });
    // Stale schedule ticks are dropped, not queued behind the single writer.
    full.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: contain }, MaximumRetryAttempts: 0 });
  });

  it("detect gets a one-minute clock tick besides its stream (windows close when their time is up)", () => {
    for (const t of [full, minimal]) {
      const { detect } = fnIds(t);
      const rules = Object.entries(t.findResources('AWS::Events::Rule')).filter(([, r]) =>
        (r as Json).Properties.Targets.some((x: Json) => x.Arn?.['Fn::GetAtt']?.[0] === detect),
      ) as [string, Json][];
      expect(rules).toHaveLength(1);
      const [ruleId, rule] = rules[0];
      expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
      expect(rule.Properties.Targets).toEqual([
        expect.objectContaining({ RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } }),
      ]);
      // EventBridge may invoke detect, from this rule only.
      t.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [detect, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      });
      // A tick that waited or failed is superseded by the next one: not retried, not kept past a minute.
      t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: detect },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
      // The stream stays its other trigger.
      t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: detect } });
    }
  });
});

describe('event source mappings (infra/stream-defaults.ts)', () => {
  it.each([
    ['ingest', 'CordonAccessLogs', 10_000, true],
    ['detect', 'CordonSummaries', 500, true],
  ])('%s reads its Kinesis stream with the shared defaults', (name, streamPrefix, batchSize, bisect) => {
    const fn = fnIds(full)[name as 'ingest' | 'detect'];
    const stream = logicalId(full, 'AWS::Kinesis::Stream', streamPrefix);
    full.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fn },
      EventSourceArn: { 'Fn::GetAtt': [stream, 'Arn'] },
      BatchSize: batchSize,
      MaximumBatchingWindowInSeconds: 2,
      BisectBatchOnFunctionError: bisect,
      MaximumRetryAttempts: Match.anyValue(),
      MaximumRecordAgeInSeconds: 3600,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      StartingPosition: 'LATEST',
      ParallelizationFactor: 1,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^Cordon${name[0].toUpperCase()}${name.slice(1)}Failures`), 'Arn'] } } },
    });
  });

  it('ingestBatchingWindowSeconds sets ingest\'s mapping window (detect\'s keeps 2 s) and tells detect; outside 1-30 or fractional is refused', () => {
    const t = synth({ ingestBatchingWindowSeconds: 10 }).template;
    const windowOf = (name: 'ingest' | 'detect') => (Object.values(t.findResources('AWS::Lambda::EventSourceMapping')) as Json[])
      .find((m) => m.Properties.FunctionName?.Ref === fnIds(t)[name])!.Properties.MaximumBatchingWindowInSeconds as number;
    expect([windowOf('ingest'), windowOf('detect')]).toEqual([10, 2]);
    // Detect is told, so its windows wait for the longer batches (src/engine/ingest-batching.ts).
    expect(parseDetectEnv(functionEnv(t, fnIds(t).detect)).ingestBatchingWindowSeconds).toBe(10);
    expect(parseDetectEnv(functionEnv(full, fnIds(full).detect)).ingestBatchingWindowSeconds).toBe(2);
    // …and the detect function's wiring hands it to the stage.
    vi.stubEnv('AWS_REGION', 'us-east-1');
    try {
      expect(buildDetectDeps(parseDetectEnv(functionEnv(t, fnIds(t).detect))).ingestBatchingWindowSeconds).toBe(10);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(() => parseDetectEnv({ STATE_TABLE: 's', STATE_BUCKET: 'b', LEDGER_TABLE: 'l', INGEST_BATCHING_WINDOW_SECONDS: '31' })).toThrow(/INGEST_BATCHING_WINDOW_SECONDS/);
    expect(() => synth({ ingestBatchingWindowSeconds: 0 })).toThrow(/ingestBatchingWindowSeconds: must be at least 1/);
    expect(() => synth({ ingestBatchingWindowSeconds: 31 })).toThrow(/ingestBatchingWindowSeconds: must be at most 30/);
    expect(() => synth({ ingestBatchingWindowSeconds: 2.5 })).toThrow(/ingestBatchingWindowSeconds: must be a whole number/);
  });

  it('every mapping: bounded retries, a maximum record age below the stream retention, an on-failure queue', () => {
    const maps = Object.values(full.findResources('AWS::Lambda::EventSourceMapping')) as Json[];
    expect(maps).toHaveLength(3);
    for (const m of maps) {
      const p = m.Properties;
      expect(p.MaximumRetryAttempts).toBeGreaterThanOrEqual(0);
      expect(p.MaximumRetryAttempts).toBeLessThanOrEqual(10);
      expect(p.MaximumRecordAgeInSeconds).toBeGreaterThan(0);
      expect(p.MaximumRecordAgeInSeconds).toBeLessThan(24 * 3600);
      expect(p.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0]).toMatch(/FailuresQueue/);
      expect(p.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(p.StartingPosition).toBe('LATEST');
    }
  });

  it('contain reads the ledger stream; bisecting is off because it reconciles the whole ledger whatever the batch', () => {
    const { contain } = fnIds(full);
    const ledger = logicalId(full, 'AWS::DynamoDB::Table', 'CordonLedger');
    full.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: contain },
      EventSourceArn: { 'Fn::GetAtt': [ledger, 'StreamArn'] },
      BisectBatchOnFunctionError: false,
      MaximumRetryAttempts: 3,
    });
  });

  it('on-failure queues are KMS-encrypted, SSL-only and alarmed', () => {
    const queues = full.findResources('AWS::SQS::Queue');
    for (const [id, q] of Object.entries(queues) as [string, Json][]) {
      expect(q.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId(full), 'Arn'] });
      full.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      full.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id, 'QueueName'] } }],
        Threshold: 0,
      });
    }
  });
});

describe('tables', () => {
  it('PITR, KMS encryption, TTL, on-demand; keys as the adapters expect (src/adapters/aws/dynamo-common.ts)', () => {
    const expectTable = (prefix: string, keys: typeof STATE_TABLE_KEYS | typeof LEDGER_TABLE_KEYS, stream?: string) => {
      const id = logicalId(full, 'AWS::DynamoDB::Table', prefix);
      const t = (full.toJSON().Resources[id] as Json).Properties;
      expect(t.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(t.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId(full), 'Arn'] } });
      expect(t.BillingMode).toBe('PAY_PER_REQUEST');
      expect(t.TimeToLiveSpecification).toEqual({ AttributeName: keys.ttlAttribute, Enabled: true });
      expect(t.KeySchema).toEqual([
        { AttributeName: keys.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: keys.sortKey.name, KeyType: 'RANGE' },
      ]);
      expect(t.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: keys.partitionKey.name, AttributeType: keys.partitionKey.type },
          { AttributeName: keys.sortKey.name, AttributeType: keys.sortKey.type },
        ]),
      );
      expect(t.StreamSpecification?.StreamViewType).toBe(stream);
      expect((full.toJSON().Resources[id] as Json).DeletionPolicy).toBe('Retain');
    };
    expectTable('CordonState', STATE_TABLE_KEYS);
    expectTable('CordonLedger', LEDGER_TABLE_KEYS, 'NEW_AND_OLD_IMAGES');
  });

  it('the ledger has the status index its adapter queries, as createTableInput (the emulator tests) builds it', () => {
    const t = (full.toJSON().Resources[logicalId(full, 'AWS::DynamoDB::Table', 'CordonLedger')] as Json).Properties;
    const wanted = createTableInput('x', LEDGER_TABLE_KEYS);
    expect(t.GlobalSecondaryIndexes).toEqual(wanted.GlobalSecondaryIndexes);
    expect(t.AttributeDefinitions).toEqual(expect.arrayContaining(wanted.AttributeDefinitions!));
    // The state table has none (nothing reads it by anything but its key).
    expect((full.toJSON().Resources[logicalId(full, 'AWS::DynamoDB::Table', 'CordonState')] as Json).Properties.GlobalSecondaryIndexes).toBeUndefined();
  });
});

describe('state bucket (detect\'s bulk state: win/ chunks, base/ snapshots)', () => {
  it.each([['full', () => full], ['minimal', () => minimal]])(
    '%s: S3-managed encryption, all public access blocked, no versioning, kept on delete like the state table',
    (_, t) => {
      const id = bucketId(t());
      t().hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
        }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
      const props = (t().toJSON().Resources[id] as Json).Properties;
      expect(props.VersioningConfiguration).toBeUndefined();
      // RETAIN: no auto-delete custom resource empties it.
      expect(Object.keys(t().findResources('Custom::S3AutoDeleteObjects'))).toEqual([]);
    },
  );

  it('its bucket policy denies every request not made over TLS', () => {
    const id = bucketId(full);
    full.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: Match.arrayWith([{ 'Fn::GetAtt': [id, 'Arn'] }]),
          }),
        ]),
      },
    });
  });

  it('win/ objects expire after 2 days; incomplete multipart uploads are aborted after 1 day', () => {
    expect(STATE_BUCKET_WINDOW_PREFIX).toBe('win/');
    const rules = (full.toJSON().Resources[bucketId(full)] as Json).Properties.LifecycleConfiguration.Rules as Json[];
    expect(rules).toHaveLength(2);
    const expiry = rules.find((r) => r.ExpirationInDays !== undefined);
    expect(expiry).toMatchObject({ Status: 'Enabled', Prefix: 'win/', ExpirationInDays: 2 });
    expect(expiry?.AbortIncompleteMultipartUpload).toBeUndefined();
    const abort = rules.find((r) => r.AbortIncompleteMultipartUpload !== undefined);
    expect(abort).toMatchObject({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
    // The abort rule covers the whole bucket and expires nothing (base/ snapshots live on).
    expect(abort?.Prefix).toBeUndefined();
    expect(abort?.Filter).toBeUndefined();
    expect(abort?.ExpirationInDays).toBeUndefined();
  });

  it('its name is an output', () => {
    full.hasOutput('*', { Value: { Ref: bucketId(full) } });
    const outputs = Object.keys(full.toJSON().Outputs as Json);
    expect(outputs.filter((o) => o.includes('StateBucketName'))).toHaveLength(1);
  });
});

describe('WAF', () => {
  const ipSetIds = (t: Template) => Object.keys(t.findResources('AWS::WAFv2::IPSet'));

  it('IP sets are REGIONAL, empty at creation (contain owns the addresses), v4 and v6', () => {
    const sets = Object.values(full.findResources('AWS::WAFv2::IPSet')) as Json[];
    expect(sets.filter((s) => s.Properties.IPAddressVersion === 'IPV4')).toHaveLength(3);
    expect(sets.filter((s) => s.Properties.IPAddressVersion === 'IPV6')).toHaveLength(3);
    for (const s of sets) {
      expect(s.Properties.Scope).toBe('REGIONAL');
      expect(s.Properties.Addresses).toEqual([]);
      expect(s.Properties.Name).toMatch(/^[\w-]{1,128}$/);
    }
  });

  it('the web ACL blocks every IP set, allows the rest, and is associated with each protected stage', () => {
    const acl = Object.values(full.findResources('AWS::WAFv2::WebACL'))[0] as Json;
    expect(acl.Properties.Scope).toBe('REGIONAL');
    expect(acl.Properties.DefaultAction).toEqual({ Allow: {} });
    const referenced = (acl.Properties.Rules as Json[]).map((r) => {
      expect(r.Action).toEqual({ Block: {} });
      return r.Statement.IPSetReferenceStatement.Arn['Fn::GetAtt'][0];
    });
    expect(referenced.sort()).toEqual(ipSetIds(full).sort());
    const priorities = (acl.Properties.Rules as Json[]).map((r) => r.Priority);
    expect(new Set(priorities).size).toBe(priorities.length);
    for (const api of FULL_PROPS.restApis) {
      full.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
        ResourceArn: {
          'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(`::/restapis/${api.restApiId}/stages/${api.stageName}$`)])],
        },
      });
    }
  });

  it('never replaces a web ACL: every association waits for the deploy-time check, which is told each stage\'s choice', () => {
    const pre = preflightId(full);
    const assocs = Object.values(full.findResources('AWS::WAFv2::WebACLAssociation')) as Json[];
    expect(assocs).toHaveLength(2);
    for (const a of assocs) expect(a.DependsOn).toContain(pre);
    const props = preflightProps(full);
    expect(props.Stages.map((st: Json) => [st.RestApiId, st.StageName, st.ExistingWebAcl])).toEqual([
      ['a1b2c3d4e5', 'prod', 'fail'],
      ['f6g7h8i9j0', 'v1', 'fail'],
    ]);
    // The check recognises cordon's own web ACL (an update, or a replaced ACL of the same name) and no other.
    const acl = logicalId(full, 'AWS::WAFv2::WebACL', 'CordonWebAcl');
    expect(props.OwnWebAclArn).toEqual({ 'Fn::GetAtt': [acl, 'Arn'] });
    expect(props.OwnWebAclName).toBe((full.toJSON().Resources[acl] as Json).Properties.Name);
    expect(resolveIntrinsics(props.Stages[0].StageArn, full)).toBe('arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/prod');
  });

  it("'use-rule-group' stages: no association, the rule group and the rule to add, and which web ACLs to add it to", () => {
    const assocs = Object.values(mixed.findResources('AWS::WAFv2::WebACLAssociation')) as Json[];
    expect(assocs.map((a) => resolveIntrinsics(a.Properties.ResourceArn, mixed))).toEqual([
      'arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/prod',
    ]);
    // Logical ids keep the stage's index, as before per-stage choices: an existing deployment keeps its association.
    expect(Object.keys(mixed.findResources('AWS::WAFv2::WebACLAssociation'))[0]).toMatch(/^CordonWebAclAssociation0/);
    mixed.resourceCountIs('AWS::WAFv2::WebACL', 1);
    mixed.resourceCountIs('AWS::WAFv2::RuleGroup', 1);
    expect(preflightProps(mixed).Stages.map((st: Json) => st.ExistingWebAcl)).toEqual(['fail', 'use-rule-group']);
    const outputs = mixed.toJSON().Outputs as Json;
    const targets = Object.entries(outputs).find(([id]) => id.includes('RuleGroupTargets'))?.[1] as Json;
    expect(targets.Value).toEqual({ 'Fn::GetAtt': [preflightId(mixed), 'RuleGroupTargets'] });
    expect(Object.keys(outputs).some((id) => id.includes('WebAclRuleToAdd'))).toBe(true);
    // The default deployment has no rule group to add.
    full.resourceCountIs('AWS::WAFv2::RuleGroup', 0);
    expect(Object.keys(full.toJSON().Outputs as Json).some((id) => id.includes('RuleGroupTargets'))).toBe(false);
  });

  it("only stages cordon associates with its web ACL are marked waf for contain (a rule group's reference is the team's to add; attach mode associates nothing)", () => {
    const containOf = (t: typeof mixed) => parseContainEnv(functionEnv(t, logicalId(t, 'AWS::Lambda::Function', 'CordonContain'))).restApis;
    expect(containOf(mixed).map((a) => [a.restApiId, a.waf ?? false])).toEqual([['a1b2c3d4e5', true], ['f6g7h8i9j0', false]]);
    const attach = synth({ restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'api-logs' }], existingWebAclArn: WEB_ACL_ARN }).template;
    expect(containOf(attach).map((a) => a.waf ?? false)).toEqual([false]);
    // Two stages of one API, one behind cordon's web ACL and one keeping its own: the API's one policy carries the
    // address blocks for both (marked for neither), never two versions that undo each other every run.
    const split = synth({ restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'api-logs' },
      { restApiId: 'a1b2c3d4e5', stageName: 'beta', logGroupName: 'api-logs-beta', existingWebAcl: 'use-rule-group' }] }).template;
    expect(containOf(split).map((a) => [a.stageName, a.waf ?? false])).toEqual([['prod', false], ['beta', false]]);
  });

  it('contain is given no state table: it neither reads one nor holds a grant on it', () => {
    const env = functionEnv(full, fnIds(full).contain);
    expect(Object.keys(env)).not.toContain('STATE_TABLE');
    expect(Object.keys(env)).toContain('LEDGER_TABLE');
    expect(parseContainEnv(env).ledgerTable).toBeTruthy();
  });

  it("every stage 'use-rule-group': no web ACL of cordon's at all", () => {
    const t = synth({ ...FULL_PROPS, existingWebAcl: 'use-rule-group' }).template;
    t.resourceCountIs('AWS::WAFv2::WebACL', 0);
    t.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    t.resourceCountIs('AWS::WAFv2::RuleGroup', 1);
    expect(preflightProps(t).OwnWebAclArn).toBeUndefined();
  });

  it('attach mode: no web ACL and no associations; a rule group with the same rules and the rule to add as an output', () => {
    attach.resourceCountIs('AWS::WAFv2::WebACL', 0);
    attach.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    const group = Object.values(attach.findResources('AWS::WAFv2::RuleGroup'))[0] as Json;
    expect(group.Properties.Scope).toBe('REGIONAL');
    const referenced = (group.Properties.Rules as Json[]).map((r) => {
      expect(r.Action).toEqual({ Block: {} });
      return r.Statement.IPSetReferenceStatement.Arn['Fn::GetAtt'][0];
    });
    expect(referenced.sort()).toEqual(ipSetIds(attach).sort());
    const outputs = attach.toJSON().Outputs as Json;
    const rule = Object.entries(outputs).find(([id]) => id.includes('WebAclRuleToAdd'))?.[1] as Json;
    expect(rule.Description).toContain(WEB_ACL_ARN);
    const ruleJson = JSON.parse(resolveIntrinsics(rule.Value, attach) as string);
    expect(ruleJson).toMatchObject({
      Statement: { RuleGroupReferenceStatement: { ARN: expect.stringMatching(/RuleGroup.*-Arn$/) } },
      OverrideAction: { None: {} },
    });
    // The deploy-time check only verifies the stage exists: no per-stage choice, no web ACL to recognise.
    const props = preflightProps(attach);
    expect(props.Stages).toEqual([expect.not.objectContaining({ ExistingWebAcl: expect.anything() })]);
    expect(props.OwnWebAclArn).toBeUndefined();
  });
});

describe('CloudWatch Logs → Kinesis', () => {
  it('subscribes every protected stage group and every extra group, with a role scoped to the stream and key', () => {
    const stream = logicalId(full, 'AWS::Kinesis::Stream', 'CordonAccessLogs');
    const role = logicalId(full, 'AWS::IAM::Role', 'CordonLogsToKinesisRole');
    const created = logicalId(full, 'AWS::Logs::LogGroup', 'CordonAccessLogGroup1');
    for (const name of ['API-Gateway-Access-Logs_a1b2c3d4e5/prod', { Ref: created }, '/aws/http-api/orders']) {
      full.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
        LogGroupName: name,
        FilterPattern: '',
        DestinationArn: { 'Fn::GetAtt': [stream, 'Arn'] },
        RoleArn: { 'Fn::GetAtt': [role, 'Arn'] },
      });
    }
    full.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'logs.amazonaws.com' }, Condition: { StringLike: { 'aws:SourceArn': Match.anyValue() } } })],
      },
    });
    const statements = iamStatements(full).filter((s) => s.role === role);
    expect(statements.flatMap((s) => s.actions).sort()).toEqual(['kinesis:PutRecord', 'kinesis:PutRecords', 'kms:GenerateDataKey']);
    for (const s of statements) expect(s.resources).not.toContain('*');
  });

  it("counts the filters of every group it did not create before subscribing it (a group takes two): each such filter waits for the check", () => {
    const props = preflightProps(full);
    expect(props.LogGroups).toEqual(['API-Gateway-Access-Logs_a1b2c3d4e5/prod', '/aws/http-api/orders']);
    const filters = Object.values(full.findResources('AWS::Logs::SubscriptionFilter')) as Json[];
    for (const f of filters) {
      // cordon's own filter is recognised by its name (an update does not count it against the limit).
      expect(f.Properties.FilterName).toBe(props.FilterName);
      if (typeof f.Properties.LogGroupName === 'string') expect(f.DependsOn).toContain(preflightId(full));
    }
    // A group given only as logGroupNames is checked as well, with no REST API at all.
    const t = synth({ logGroupNames: ['/aws/http-api/orders'] }).template;
    expect(preflightProps(t)).toMatchObject({ Stages: [], LogGroups: ['/aws/http-api/orders'], AccessLogs: [] });
  });

  it('creates, with no fixed name, and keeps on delete the group of a managed stage that names none (a redeploy after destroy is not blocked by it)', () => {
    const groups = Object.entries(full.findResources('AWS::Logs::LogGroup')).filter(([id]) => id.startsWith('CordonAccessLogGroup')) as [string, Json][];
    expect(groups).toHaveLength(1);
    const [, group] = groups[0];
    expect(group.DeletionPolicy).toBe('Retain');
    expect(group.Properties).toEqual({ RetentionInDays: 30 });
  });

  it('no retained resource of the stack has a fixed physical name', () => {
    const NAME_KEYS = ['LogGroupName', 'TableName', 'BucketName', 'QueueName', 'TopicName', 'StreamName', 'Name', 'FunctionName', 'RoleName'];
    for (const t of [full, minimal, attach, mixed]) {
      for (const [id, r] of Object.entries(t.toJSON().Resources as Record<string, Json>)) {
        if (r.DeletionPolicy !== 'Retain') continue;
        for (const key of NAME_KEYS) expect(r.Properties?.[key], `${id}.${key}`).toBeUndefined();
      }
    }
  });

  it('sets the recommended access-log format on managed stages (a custom resource per stage, after the check)', () => {
    const crs = Object.values(full.findResources('Custom::CordonAccessLog')) as Json[];
    const byStage = new Map(crs.map((c) => [`${c.Properties.RestApiId}/${c.Properties.StageName}`, c]));
    const created = logicalId(full, 'AWS::Logs::LogGroup', 'CordonAccessLogGroup1');
    for (const api of FULL_PROPS.restApis) {
      const cr = byStage.get(`${api.restApiId}/${api.stageName}`);
      expect(cr, `${api.restApiId}/${api.stageName}`).toBeDefined();
      expect(cr!.Properties.Format).toBe(RECOMMENDED_ACCESS_LOG_FORMAT);
      expect(cr!.Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [logicalId(full, 'AWS::Lambda::Function', 'CordonDeployGuard'), 'Arn'] });
      expect(cr!.DependsOn).toContain(preflightId(full));
      const group = api.logGroupName ?? `ref-${created}`;
      expect(resolveIntrinsics(cr!.Properties.DestinationArn, full)).toBe(`arn:aws:logs:eu-west-1:123456789012:log-group:${group}`);
    }
    // The check is told the same destinations, to refuse a stage that already logs somewhere else.
    expect(preflightProps(full).AccessLogs).toEqual(
      crs.map((c) => ({ RestApiId: c.Properties.RestApiId, StageName: c.Properties.StageName, DestinationArn: c.Properties.DestinationArn })),
    );
  });

  it('without manageAccessLogFormat: no access-log resource, and the check is told of none', () => {
    attach.resourceCountIs('Custom::CordonAccessLog', 0);
    expect(preflightProps(attach).AccessLogs).toEqual([]);
  });
});

describe('alerts and alarms', () => {
  it('the topic is KMS-encrypted and SSL-only; Slack and e-mail are subscribed', () => {
    const topic = topicId(full);
    full.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId(full), 'Arn'] } });
    full.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    full.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'secops@example.com', TopicArn: { Ref: topic } });
    full.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      Endpoint: { 'Fn::GetAtt': [logicalId(full, 'AWS::Lambda::Function', 'CordonNotifySlack'), 'Arn'] },
    });
  });

  it('iterator age on every stream consumer, errors on each function, WAF write failures; all routed to the topic (more: observability.test.ts)', () => {
    const alarms = Object.values(full.findResources('AWS::CloudWatch::Alarm')) as Json[];
    const topic = topicId(full);
    for (const a of alarms) expect(a.Properties.AlarmActions).toEqual([{ Ref: topic }]);
    const fnOf = (a: Json) => a.Properties.Dimensions?.find((d: Json) => d.Name === 'FunctionName')?.Value?.Ref;
    const { ingest, detect, contain } = fnIds(full);
    const notify = logicalId(full, 'AWS::Lambda::Function', 'CordonNotifySlack');
    const iterator = alarms.filter((a) => a.Properties.MetricName === 'IteratorAge').map(fnOf);
    expect(iterator.sort()).toEqual([contain, detect, ingest].sort());
    const errors = alarms.filter((a) => a.Properties.MetricName === 'Errors').map(fnOf);
    expect(errors.sort()).toEqual([contain, detect, ingest, notify].sort());
    const waf = alarms.filter((a) => a.Properties.MetricName === WAF_WRITE_FAILURES_METRIC.metricName);
    expect(waf).toHaveLength(1);
    // Powertools adds the service dimension: an alarm without it would watch a metric nobody writes.
    expect(waf[0].Properties).toMatchObject({
      Namespace: 'Cordon',
      Dimensions: [{ Name: 'service', Value: 'cordon-contain' }],
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
    expect(alarms.filter((a) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible')).toHaveLength(4);
  });

  it('has a dashboard', () => {
    full.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('IAM: each function may touch only its own resources', () => {
  /** Actions that AWS only grants on `*`, and why cordon needs them. */
  const STAR_ALLOWED: Record<string, string> = {
    'xray:PutTraceSegments': 'X-Ray has no resource-level permissions (active tracing)',
    'xray:PutTelemetryRecords': 'X-Ray has no resource-level permissions (active tracing)',
    'dynamodb:ListStreams': 'no resource-level permissions; the ledger stream event source mapping calls it',
  };

  it.each([['full', () => full], ['attach', () => attach], ['minimal', () => minimal]])(
    '%s: no Resource "*" except where AWS requires it',
    (_, t) => {
      for (const s of iamStatements(t())) {
        if (!s.resources.includes('*')) continue;
        for (const action of s.actions) {
          expect(STAR_ALLOWED[action], `${action} on * in ${s.holder}`).toBeDefined();
        }
      }
    },
  );

  it('no statement grants a service wildcard action', () => {
    for (const s of iamStatements(full)) {
      for (const a of s.actions) expect(a, s.holder).not.toMatch(/^[a-z0-9-]+:\*$|^\*$/);
    }
  });

  const actionsOf = (t: Template, fn: string) => iamStatements(t).filter((s) => s.role === roleOf(t, fn));
  const services = (st: ReturnType<typeof actionsOf>) => new Set(st.flatMap((s) => s.actions.map((a) => a.split(':')[0])));

  it('ingest: reads access-logs, writes summaries, reads the wire level notice and nothing else of the state table', () => {
    const { ingest } = fnIds(full);
    const st = actionsOf(full, ingest);
    expect([...services(st)].sort()).toEqual(['dynamodb', 'kinesis', 'kms', 'logs', 'sqs', 'xray']);
    const dynamo = st.filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.map((s) => s.actions)).toEqual([['dynamodb:GetItem']]);
    expect((dynamo[0].resources[0] as Json)['Fn::GetAtt'][0]).toBe(logicalId(full, 'AWS::DynamoDB::Table', 'CordonState'));
    expect(dynamo[0].condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['wire'] } });
    const decrypt = st.find((s) => s.sid === 'WireLevelNoticeKey')!;
    expect(decrypt.actions).toEqual(['kms:Decrypt']);
    expect(JSON.stringify(decrypt.condition)).toContain('dynamodb.');
    // A fixed level reads no notice: no DynamoDB at all.
    const fixed = synth({ summaryWireLevel: 4 }).template;
    expect([...services(actionsOf(fixed, fnIds(fixed).ingest))]).not.toContain('dynamodb');
    expect(functionEnv(fixed, fnIds(fixed).ingest).STATE_TABLE).toBeUndefined();
    const accessLogs = logicalId(full, 'AWS::Kinesis::Stream', 'CordonAccessLogs');
    const summaries = logicalId(full, 'AWS::Kinesis::Stream', 'CordonSummaries');
    for (const s of st.filter((x) => x.actions.some((a) => a.startsWith('kinesis:')))) {
      const target = (s.resources[0] as Json)['Fn::GetAtt'][0];
      if (s.actions.includes('kinesis:PutRecords')) expect(target).toBe(summaries);
      else expect(target).toBe(accessLogs);
    }
  });

  it('detect: reads summaries, reads and writes the two tables and the state bucket; no WAF, API Gateway or SNS', () => {
    const { detect } = fnIds(full);
    expect([...services(actionsOf(full, detect))].sort()).toEqual(['dynamodb', 'kinesis', 'kms', 'logs', 's3', 'sqs', 'xray']);
    const kinesisWrites = actionsOf(full, detect).flatMap((s) => s.actions).filter((a) => a === 'kinesis:PutRecords');
    expect(kinesisWrites).toEqual([]);
  });

  it.each([['full', () => full], ['attach', () => attach], ['minimal', () => minimal]])(
    '%s: detect may get, put, delete objects of the state bucket and list it; nothing else in S3',
    (_, t) => {
      const template = t();
      const { detect } = fnIds(template);
      const bucket = bucketId(template);
      const s3 = actionsOf(template, detect).filter((s) => s.actions.some((a) => a.startsWith('s3:')));
      const byResource = s3.map((s) => ({ actions: [...s.actions].sort(), resources: s.resources }));
      expect(byResource).toHaveLength(2);
      expect(byResource).toEqual(
        expect.arrayContaining([
          {
            actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
            resources: [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/*']] }],
          },
          { actions: ['s3:ListBucket'], resources: [{ 'Fn::GetAtt': [bucket, 'Arn'] }] },
        ]),
      );
    },
  );

  it.each([['full', () => full], ['attach', () => attach], ['minimal', () => minimal]])(
    '%s: no role but detect\'s has any S3 action (ingest, contain, notify-slack, custom resources)',
    (_, t) => {
      const template = t();
      const detectRole = roleOf(template, fnIds(template).detect);
      const withS3 = iamStatements(template).filter((s) => s.actions.some((a) => a.toLowerCase().startsWith('s3:')));
      expect(withS3.length).toBeGreaterThan(0);
      for (const s of withS3) expect(s.role, `${s.holder} grants S3`).toBe(detectRole);
    },
  );

  it("contain: WAF only on cordon's IP sets, API Gateway only on the protected APIs, SNS only on the topic", () => {
    const { contain } = fnIds(full);
    const st = actionsOf(full, contain);
    const ipSets = Object.keys(full.findResources('AWS::WAFv2::IPSet')).sort();
    const waf = st.filter((s) => s.actions.some((a) => a.startsWith('wafv2:')));
    expect(waf.flatMap((s) => s.actions).sort()).toEqual(['wafv2:GetIPSet', 'wafv2:UpdateIPSet']);
    expect(waf.flatMap((s) => s.resources.map((r) => (r as Json)['Fn::GetAtt'][0])).sort()).toEqual(ipSets);

    const apigw = st.filter((s) => s.actions.some((a) => a.startsWith('apigateway:')));
    const apigwResources = apigw.flatMap((s) => s.resources.map((r) => resolveIntrinsics(r, full) as string));
    for (const arn of apigwResources) {
      expect(arn).toMatch(/^arn:aws:apigateway:eu-west-1::\/restapis\/(a1b2c3d4e5|f6g7h8i9j0)(\/deployments|\/deployments\/\*|\/stages\/(prod|v1)|\/resources|\/stages)?$/);
    }
    // The policy edit follows each API's authorization types: contain may read its resources (with methods) and stages.
    const reads = apigw.filter((s) => s.effect === 'Allow' && s.actions.length === 1 && s.actions[0] === 'apigateway:GET')
      .flatMap((s) => s.resources.map((r) => resolveIntrinsics(r, full)));
    expect(reads).toEqual(expect.arrayContaining(['arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/resources',
      'arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages', 'arn:aws:apigateway:eu-west-1::/restapis/f6g7h8i9j0/resources']));
    expect(apigw.flatMap((s) => s.actions)).toEqual(
      expect.arrayContaining(['apigateway:GET', 'apigateway:PATCH', 'apigateway:UpdateRestApiPolicy', 'apigateway:POST']),
    );
    // Writes (PATCH, UpdateRestApiPolicy, POST) never reach a wildcard ARN.
    for (const s of apigw.filter((x) => x.actions.some((a) => a !== 'apigateway:GET'))) {
      for (const r of s.resources) expect(resolveIntrinsics(r, full)).not.toContain('*');
    }
    const post = apigw.filter((s) => s.actions.includes('apigateway:POST'));
    for (const s of post) for (const r of s.resources) expect(resolveIntrinsics(r, full)).toMatch(/\/deployments$/);
    // PATCH (the policy, with UpdateRestApiPolicy) on the RestApi resource itself, nothing below it.
    const patch = apigw.filter((s) => s.effect === 'Allow' && s.actions.includes('apigateway:PATCH'));
    expect(patch).toHaveLength(1);
    expect([...patch[0].actions].sort()).toEqual(['apigateway:GET', 'apigateway:PATCH', 'apigateway:UpdateRestApiPolicy']);
    expect(patch[0].resources.map((r) => resolveIntrinsics(r, full))).toEqual([
      'arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5',
      'arn:aws:apigateway:eu-west-1::/restapis/f6g7h8i9j0',
    ]);

    const sns = st.filter((s) => s.actions.some((a) => a.startsWith('sns:')));
    expect(sns.flatMap((s) => s.actions)).toEqual(['sns:Publish']);
    expect(sns[0].resources).toEqual([{ Ref: topicId(full) }]);
    expect(services(st).has('secretsmanager')).toBe(false);
    expect(services(st).has('s3')).toBe(false);
  });

  it("contain checks the web ACL of each stage keeping its own (env and read-only WAF rights), and only when one does", () => {
    const check = (t: Template) => {
      const { contain } = fnIds(t);
      const env = functionEnv(t, contain);
      const waf = actionsOf(t, contain).filter((s) => s.actions.some((a) => a.startsWith('wafv2:GetWebACL')));
      return { env: parseContainEnv(env).ruleGroupCheck, vars: Object.keys(env).filter((k) => k.startsWith('RULE_GROUP_')),
        waf: Object.fromEntries(waf.map((s) => [s.sid, { actions: s.actions, resources: s.resources.map((r) => resolveIntrinsics(r, t)) }])) };
    };
    const anyWebAcl = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/*/*';
    const stage = (api: string, name: string) => `arn:aws:apigateway:eu-west-1::/restapis/${api}/stages/${name}`;
    // Every stage behind cordon's web ACL: nothing to check, no variable, no right.
    expect(check(full)).toEqual({ env: undefined, vars: [], waf: {} });
    // Mixed: only the 'use-rule-group' stage; attach mode: every stage.
    for (const [t, stages] of [[mixed, [['f6g7h8i9j0', 'v1']]], [attach, [['a1b2c3d4e5', 'prod']]]] as const) {
      const c = check(t);
      expect(c.env).toEqual({ ruleGroupArn: `${logicalId(t, 'AWS::WAFv2::RuleGroup', 'CordonRuleGroup')}-Arn`,
        stages: stages.map(([restApiId, stageName]) => ({ restApiId, stageName, stageArn: stage(restApiId, stageName) })) });
      expect(c.waf).toEqual({
        WebAclOfStages: { actions: ['wafv2:GetWebACLForResource'], resources: [...stages.map(([a, n]) => stage(a, n)), anyWebAcl] },
        WebAclRead: { actions: ['wafv2:GetWebACL'], resources: [anyWebAcl] },
      });
    }
  });

  it('contain may not change what a PATCH on the API could besides its policy: endpoint type, default endpoint', () => {
    const { contain } = fnIds(full);
    const denies = actionsOf(full, contain).filter((s) => s.effect === 'Deny');
    expect(denies.map((d) => [d.actions, d.condition])).toEqual([
      [['apigateway:PATCH'], { Null: { 'apigateway:Request/EndpointType': 'false' } }],
      [['apigateway:PATCH'], { Null: { 'apigateway:Request/DisableExecuteApiEndpoint': 'false' } }],
    ]);
    for (const d of denies) {
      expect(d.resources.map((r) => resolveIntrinsics(r, full))).toEqual([
        'arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5',
        'arn:aws:apigateway:eu-west-1::/restapis/f6g7h8i9j0',
      ]);
    }
  });

  it('contain has no access to the state table (it never uses it); it reads and writes the ledger', () => {
    for (const t of [full, minimal]) {
      const { contain } = fnIds(t);
      const state = logicalId(t, 'AWS::DynamoDB::Table', 'CordonState');
      const ledger = logicalId(t, 'AWS::DynamoDB::Table', 'CordonLedger');
      const dynamo = actionsOf(t, contain).filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')));
      const tables = JSON.stringify(dynamo.flatMap((s) => s.resources));
      expect(tables).not.toContain(state);
      expect(tables).toContain(ledger);
      expect(dynamo.flatMap((s) => s.actions)).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']));
    }
  });

  it('detect and contain: named ledger actions on the table, Query on the status index only; no Scan, no other index', () => {
    const { detect, contain } = fnIds(full);
    const ledger = logicalId(full, 'AWS::DynamoDB::Table', 'CordonLedger');
    for (const [fn, wanted] of [[detect, ['dynamodb:PutItem', 'dynamodb:Query']],
      [contain, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']]] as const) {
      const onLedger = actionsOf(full, fn).filter((s) => JSON.stringify(s.resources).includes(ledger));
      // Its stream (contain's event source) is not the table.
      const byResource = onLedger.flatMap((s) => s.resources.map((r) => [JSON.stringify(r), s.actions] as const))
        .filter(([r]) => !r.includes('StreamArn'));
      expect(byResource.map(([, a]) => a).flat()).not.toContain('dynamodb:Scan');
      const indexes = byResource.filter(([r]) => r.includes('/index/'));
      expect(indexes.map(([r, a]) => [r.includes('/index/byStatus'), a])).toEqual([[true, ['dynamodb:Query']]]);
      const table = byResource.filter(([r]) => !r.includes('/index/'));
      expect(table.flatMap(([, a]) => a).sort()).toEqual(wanted);
    }
  });

  it('the deploy guard: reads the stages, their web ACLs and the subscribed groups\' filters; writes only the managed stages\' access logs', () => {
    const guard = logicalId(full, 'AWS::Lambda::Function', 'CordonDeployGuard');
    const st = actionsOf(full, guard).filter((s) => !s.actions.some((a) => a.startsWith('logs:Create') || a.startsWith('logs:Put') || a.startsWith('xray:')));
    const bySid = Object.fromEntries(st.map((s) => [s.sid, { actions: s.actions, resources: s.resources.map((r) => resolveIntrinsics(r, full)) }]));
    const stages = ['arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/prod', 'arn:aws:apigateway:eu-west-1::/restapis/f6g7h8i9j0/stages/v1'];
    const anyWebAcl = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/*/*';
    const group = (name: string) => `arn:aws:logs:eu-west-1:123456789012:log-group:${name}`;
    expect(bySid).toEqual({
      StagesRead: { actions: ['apigateway:GET'], resources: stages },
      WebAclOfStages: { actions: ['wafv2:GetWebACLForResource'], resources: [...stages, anyWebAcl] },
      WebAclRead: { actions: ['wafv2:GetWebACL'], resources: [anyWebAcl] },
      SubscriptionFiltersRead: {
        actions: ['logs:DescribeSubscriptionFilters'],
        resources: [
          group('API-Gateway-Access-Logs_a1b2c3d4e5/prod'),
          `${group('API-Gateway-Access-Logs_a1b2c3d4e5/prod')}:*`,
          group('/aws/http-api/orders'),
          `${group('/aws/http-api/orders')}:*`,
        ],
      },
      ManagedStagesAccessLog: { actions: ['apigateway:PATCH'], resources: stages },
    });
    // No WAF write at all: associations are CloudFormation's, made after the check.
    expect(actionsOf(full, guard).flatMap((s) => s.actions).filter((a) => a.startsWith('wafv2:') && !a.startsWith('wafv2:Get'))).toEqual([]);
  });

  it('the deploy guard in attach mode reads no web ACL; without manageAccessLogFormat it writes nothing', () => {
    const guard = logicalId(attach, 'AWS::Lambda::Function', 'CordonDeployGuard');
    const actions = actionsOf(attach, guard).flatMap((s) => s.actions);
    expect(actions.filter((a) => a.startsWith('wafv2:'))).toEqual([]);
    expect(actions).not.toContain('apigateway:PATCH');
  });

  it('contain has no API Gateway rights when no REST API is protected', () => {
    const { contain } = fnIds(minimal);
    expect(services(actionsOf(minimal, contain)).has('apigateway')).toBe(false);
  });

  it('notify-slack: only GetSecretValue on that one secret (plus its logs, tracing and failure queue)', () => {
    const notify = logicalId(full, 'AWS::Lambda::Function', 'CordonNotifySlack');
    const st = actionsOf(full, notify);
    const secret = st.filter((s) => s.actions.some((a) => a.startsWith('secretsmanager:')));
    expect(secret).toEqual([expect.objectContaining({ actions: ['secretsmanager:GetSecretValue'], resources: [FULL_PROPS.slackSecretArn] })]);
    expect([...services(st)].sort()).toEqual(['kms', 'logs', 'secretsmanager', 'sqs', 'xray']);
  });

  it('each function writes only to its own log group', () => {
    for (const fn of Object.values(fnIds(full))) {
      const logs = actionsOf(full, fn).filter((s) => s.actions.some((a) => a.startsWith('logs:')));
      const group = (full.toJSON().Resources[fn] as Json).Properties.LoggingConfig.LogGroup.Ref;
      expect(logs.flatMap((s) => s.resources)).toEqual([{ 'Fn::GetAtt': [group, 'Arn'] }]);
    }
  });

  it('no function role carries a managed policy', () => {
    for (const fn of Object.values(fnIds(full))) {
      const role = (full.toJSON().Resources[roleOf(full, fn)] as Json).Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
    }
  });
});

/** The wire level variables of the release before summaryWireLevel 'auto' (functions/env.ts at d6ff5aa^); zod drops the rest. */
const PREVIOUS_INGEST_ENV = z.object({
  SUMMARIES_STREAM_NAME: z.string().min(1),
  SUMMARY_WIRE_LEVEL: z.enum(['1', '2', '3']).default('1'),
});

describe('environment contract (infra sets, functions/env.ts parses)', () => {
  it('every function accepts the environment the construct gives it', () => {
    const ids = fnIds(full);
    const ingest = parseIngestEnv(functionEnv(full, ids.ingest));
    expect(ingest.summariesStreamName).toMatch(/^ref-CordonSummaries/);
    // 'auto' unless asked: the level every running detect reads, from detect's notice on the state table.
    expect(ingest.summaryWireLevel).toBe('auto');
    // Said as SUMMARY_WIRE_AUTO beside SUMMARY_WIRE_LEVEL 1: Lambda updates configuration and code in separate calls,
    // and the previous release's ingest (which may run with this configuration) reads SUMMARY_WIRE_LEVEL '1' to '3'
    // only, and ignores variables it does not know.
    expect(functionEnv(full, ids.ingest)).toMatchObject({ SUMMARY_WIRE_LEVEL: '1', SUMMARY_WIRE_AUTO: '1' });
    expect(PREVIOUS_INGEST_ENV.safeParse(functionEnv(full, ids.ingest)).success).toBe(true);
    expect(ingest.stateTable).toMatch(/^ref-CordonState/);
    expect(ingest.summaryPartitions).toBe(64);
    expect(ingest.config.allowlist.cidrs).toEqual(['10.0.0.0/8']);
    const detect = parseDetectEnv(functionEnv(full, ids.detect));
    expect(detect.stateTable).toMatch(/^ref-CordonState/);
    expect(detect.ledgerTable).toMatch(/^ref-CordonLedger/);
    expect(detect.stateBucket).toBe(`ref-${bucketId(full)}`);
    expect(functionEnv(full, ids.contain).STATE_BUCKET).toBeUndefined();
    expect(functionEnv(full, ids.ingest).STATE_BUCKET).toBeUndefined();
    const contain = parseContainEnv(functionEnv(full, ids.contain));
    expect(contain.wafScope).toBe('REGIONAL');
    expect(contain.ipSets.v4).toHaveLength(3);
    expect(contain.ipSets.v6).toHaveLength(3);
    expect(contain.ipSets.v4[0]).toEqual({ name: expect.stringMatching(/-v4-0$/), id: expect.stringMatching(/IpSetV40.*-Id$/) });
    // Both stages are associated with cordon's web ACL: their policies need not repeat the address blocks.
    expect(contain.restApis).toEqual(FULL_PROPS.restApis.map(({ restApiId, stageName }) => ({ restApiId, stageName, waf: true })));
    expect(contain.alertTopicArn).toMatch(/^arn:aws:sns:/);
    expect(contain.dryRun).toBe(false);
    const notify = parseNotifySlackEnv(functionEnv(full, logicalId(full, 'AWS::Lambda::Function', 'CordonNotifySlack')));
    expect(notify.slackSecretArn).toBe(FULL_PROPS.slackSecretArn);
  });

  it('summaryWireLevel 1 to 4 reach ingest as fixed writer options, auto as the agreed level; anything else is refused', () => {
    // What the ingest function builds from its environment (aws-deps.ts), not only what the level maps to.
    const deps = (level?: 1 | 2 | 3 | 4 | 'auto') => {
      const t = synth(level === undefined ? {} : { summaryWireLevel: level }).template;
      vi.stubEnv('AWS_REGION', 'us-east-1');
      try {
        return buildIngestDeps({ ...parseIngestEnv(functionEnv(t, fnIds(t).ingest)), config: parseConfig({}) });
      } finally {
        vi.unstubAllEnvs();
      }
    };
    const writer = (level: 1 | 2 | 3 | 4) => {
      const { derivePrefixes, summaryEncoding, shortHashes, roundedSums, wireLevel } = deps(level);
      return { derivePrefixes, summaryEncoding, shortHashes, roundedSums, agreed: wireLevel !== undefined };
    };
    expect(writer(1)).toEqual({ derivePrefixes: false, summaryEncoding: 'gzip', shortHashes: false, roundedSums: false, agreed: false });
    expect(writer(2)).toEqual({ derivePrefixes: true, summaryEncoding: 'gzip', shortHashes: false, roundedSums: false, agreed: false });
    expect(writer(3)).toEqual({ derivePrefixes: true, summaryEncoding: 'brotli', shortHashes: false, roundedSums: false, agreed: false });
    expect(writer(4)).toEqual({ derivePrefixes: true, summaryEncoding: 'brotli', shortHashes: true, roundedSums: true, agreed: false });
    expect(deps().wireLevel).toBeInstanceOf(AgreedWireLevel);
    expect(deps('auto').wireLevel).toBeInstanceOf(AgreedWireLevel);
    expect(() => synth({ summaryWireLevel: 5 as 2 })).toThrow(/summaryWireLevel: must be 'auto', 1, 2, 3 or 4/);
    expect(() => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: '5' })).toThrow(/SUMMARY_WIRE_LEVEL/);
    // 'auto' is a variable of its own (the previous release refuses an unknown SUMMARY_WIRE_LEVEL at cold start).
    expect(() => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: 'auto', STATE_TABLE: 's' })).toThrow(/SUMMARY_WIRE_AUTO/);
    expect(() => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: '1' })).toThrow(/STATE_TABLE/);
    expect(() => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: 'yes', STATE_TABLE: 's' })).toThrow(/SUMMARY_WIRE_AUTO/);
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: '1', STATE_TABLE: 's' })).toMatchObject({ summaryWireLevel: 'auto', stateTable: 's' });
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: '0', SUMMARY_WIRE_LEVEL: '3' }).summaryWireLevel).toBe(3);
    // Neither variable (an environment set by hand): level 1, as before 'auto'.
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x' }).summaryWireLevel).toBe(1);
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_LEVEL: '1' }).summaryWireLevel).toBe(1);
    // A fixed level is SUMMARY_WIRE_LEVEL alone (4 only once the release that reads it is deployed: infra/props.ts).
    const four = synth({ summaryWireLevel: 4 }).template;
    expect(functionEnv(four, fnIds(four).ingest)).toMatchObject({ SUMMARY_WIRE_LEVEL: '4' });
    expect(functionEnv(four, fnIds(four).ingest).SUMMARY_WIRE_AUTO).toBeUndefined();
  });

  it('detectMemoryMb sizes the detect function (1024 by default, other functions untouched); outside 1024-10240 or fractional is refused', () => {
    const memory = (t: Template, id: string) => (t.toJSON().Resources[id] as Json).Properties.MemorySize as number;
    const plain = synth({}).template;
    expect(memory(plain, fnIds(plain).detect)).toBe(1024);
    const big = synth({ detectMemoryMb: 2048 }).template;
    expect(memory(big, fnIds(big).detect)).toBe(2048);
    expect(memory(big, fnIds(big).ingest)).toBe(memory(plain, fnIds(plain).ingest));
    expect(() => synth({ detectMemoryMb: 512 })).toThrow(/detectMemoryMb: must be at least 1024/);
    expect(() => synth({ detectMemoryMb: 20_000 })).toThrow(/detectMemoryMb: must be at most 10240/);
    expect(() => synth({ detectMemoryMb: 1500.5 })).toThrow(/detectMemoryMb: must be a whole number/);
  });

  it('summary partitions grow with the summaries stream past 16 shards (every shard takes a few), 256 on demand', () => {
    for (const [shards, partitions] of [[40, 160], ['on-demand', 256]] as const) {
      const t = synth({ shards }).template;
      expect(parseIngestEnv(functionEnv(t, fnIds(t).ingest)).summaryPartitions).toBe(partitions);
    }
    expect(() => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_PARTITIONS: '0' })).toThrow(/SUMMARY_PARTITIONS/);
  });

  it('ingest is told the summaries stream\'s provisioned shards (its records go one a shard); on demand, it is not', () => {
    for (const [props, shards] of [[{}, 1], [{ shards: 5, summaryShards: 28 }, 28], [{ shards: 'on-demand' }, undefined]] as const) {
      const t = synth(props).template;
      const env = parseIngestEnv(functionEnv(t, fnIds(t).ingest));
      expect(env.summaryShards).toBe(shards);
      // …and the ingest function's wiring hands it to the stage.
      vi.stubEnv('AWS_REGION', 'us-east-1');
      try {
        expect(buildIngestDeps({ ...env, config: parseConfig({}) }).summaryShards).toBe(shards);
      } finally {
        vi.unstubAllEnvs();
      }
    }
    expect(() => parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_SHARDS: '0' })).toThrow(/SUMMARY_SHARDS/);
  });

  it('on many summaries shards detect gets several ticks at once, each over its slice of the shards', () => {
    const t = synth({ shards: 5, summaryShards: 28 }).template;
    const { detect } = fnIds(t);
    const rules = (Object.values(t.findResources('AWS::Events::Rule')) as Json[]).filter((r) =>
      r.Properties.Targets.some((x: Json) => x.Arn?.['Fn::GetAtt']?.[0] === detect));
    expect(rules.map((r) => r.Properties.Targets.length).sort()).toEqual([2, 5]); // EventBridge: five targets a rule
    const inputs = rules.flatMap((r) => r.Properties.Targets.map((x: Json) => JSON.parse(x.Input as string)));
    expect(inputs.map((i) => i.tick.slice).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(new Set(inputs.map((i) => parseTickSlice(i.tick)?.of))).toEqual(new Set([7]));
    for (const r of rules) expect(r.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
  });

  it('summaryShards sizes the summaries stream alone (its partitions follow); by default it is `shards`', () => {
    const shardsOf = (t: Template) => {
      const out: Record<string, number | undefined> = {};
      for (const [id, s] of Object.entries(t.findResources('AWS::Kinesis::Stream')) as [string, Json][]) {
        out[id.startsWith('CordonSummaries') ? 'summaries' : 'accessLogs'] = s.Properties.ShardCount as number | undefined;
      }
      return out;
    };
    const split = synth({ shards: 5, summaryShards: 24 }).template;
    expect(shardsOf(split)).toEqual({ accessLogs: 5, summaries: 24 });
    expect(parseIngestEnv(functionEnv(split, fnIds(split).ingest)).summaryPartitions).toBe(96);
    const same = synth({ shards: 3 }).template;
    expect(shardsOf(same)).toEqual({ accessLogs: 3, summaries: 3 });
    expect(parseIngestEnv(functionEnv(same, fnIds(same).ingest)).summaryPartitions).toBe(64);
    expect(shardsOf(synth({ shards: 2, summaryShards: 'on-demand' }).template)).toEqual({ accessLogs: 2, summaries: undefined });
    expect(() => synth({ summaryShards: 0 })).toThrow(/summaryShards: must be a whole number of shards/);
  });

  it('IP set names in the environment are the names the sets are created with', () => {
    const contain = parseContainEnv(functionEnv(full, fnIds(full).contain));
    const names = (Object.values(full.findResources('AWS::WAFv2::IPSet')) as Json[]).map((s) => s.Properties.Name).sort();
    expect([...contain.ipSets.v4, ...contain.ipSets.v6].map((s) => s.name).sort()).toEqual(names);
  });

  it('dryRun from props, or from config.dryRun, reaches contain as DRY_RUN=true', () => {
    const a = synth({ dryRun: true }).template;
    expect(functionEnv(a, fnIds(a).contain).DRY_RUN).toBe('true');
    const b = synth({ config: { dryRun: true } }).template;
    expect(functionEnv(b, fnIds(b).contain).DRY_RUN).toBe('true');
    expect(functionEnv(minimal, fnIds(minimal).contain).DRY_RUN).toBe('false');
  });

  it('CORDON_CONFIG is set only when a config is given', () => {
    expect(functionEnv(minimal, fnIds(minimal).ingest).CORDON_CONFIG).toBeUndefined();
    expect(JSON.parse(functionEnv(full, fnIds(full).ingest).CORDON_CONFIG)).toEqual(FULL_PROPS.config);
  });
});

/** Every acknowledgment in the tree: construct path, rule id, reason. */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id, reason }))),
    );
}

describe('cdk-nag AwsSolutionsChecks (cdk-nag 3: a validation plugin; validateScope here)', () => {
  it.each(['full', 'attach', 'minimal', 'onDemand', 'mixed'])('%s: no unacknowledged finding, errors or warnings', (name) => {
    const { stack } = variants.find(([n]) => n === name)![1];
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('every acknowledgment is one of the documented ones and carries its written reason', () => {
    const acks = acknowledgments(variants[0][1].stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      // Per-API findings are documented once, with <restApiId> for the id.
      const id = a.id
        .replace(/^annotation::/i, '')
        .replace(/\/restapis\/[a-z0-9]{10}\//, '/restapis/<restApiId>/')
        .replace(/^(AwsSolutions-IAM5\[Resource::)<\w*StateBucket[0-9A-F]{8}\.Arn>/, '$1<StateBucket.Arn>')
        .replace(/(:log-group:).+(:\*\])$/, '$1<logGroupName>$2');
      expect(Object.keys(NAG_ACKNOWLEDGEMENTS), `${id} at ${a.path}`).toContain(id);
      expect(a.reason).toBe(NAG_ACKNOWLEDGEMENTS[id as keyof typeof NAG_ACKNOWLEDGEMENTS]);
      expect(a.reason.length, id).toBeGreaterThan(60);
    }
  });

  it('acknowledges on specific resources, never on the stack or the whole construct', () => {
    for (const [, { stack }] of variants) {
      for (const a of acknowledgments(stack)) {
        expect(a.path).not.toBe(stack.node.path);
        expect(a.path).not.toBe(`${stack.node.path}/Cordon`);
      }
    }
  });

  it('the state bucket findings are acknowledged on the bucket (S1) and on the detect role (its objects) only', () => {
    const { stack } = variants[0][1];
    const acks = acknowledgments(stack).map((a) => ({ ...a, id: a.id.replace(/^annotation::/i, '') }));
    expect(acks.filter((a) => a.id === 'AwsSolutions-S1').map((a) => a.path)).toEqual([`${stack.node.path}/Cordon/StateBucket`]);
    const bucketFinding = `AwsSolutions-IAM5[Resource::<${bucketId(full)}.Arn>/*]`;
    expect(acks.filter((a) => a.id === bucketFinding).map((a) => a.path)).toEqual([`${stack.node.path}/Cordon/DetectRole`]);
  });

  it('the deploy guard\'s findings are acknowledged on its own function and role only, one per subscribed group', () => {
    const { stack } = variants[0][1];
    const acks = acknowledgments(stack).map((a) => ({ ...a, id: a.id.replace(/^annotation::/i, '') }));
    const logGroupAcks = acks.filter((a) => a.id.includes(':log-group:'));
    expect(logGroupAcks.map((a) => a.id)).toEqual([
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:API-Gateway-Access-Logs_a1b2c3d4e5/prod:*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/http-api/orders:*]',
    ]);
    const webAcl = acks.filter((a) => a.id.includes('regional/webacl/*/*'));
    for (const a of [...logGroupAcks, ...webAcl]) expect(a.path).toBe(`${stack.node.path}/Cordon/DeployGuardRole`);
    expect(webAcl).toHaveLength(1);
  });

  it('is live: an unencrypted queue added to the stack is reported', () => {
    const { stack } = synth({});
    new sqs.Queue(stack, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });
});
