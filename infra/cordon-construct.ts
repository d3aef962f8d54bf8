import { ArnFormat, Aws, CfnOutput, CustomResource, Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { API_KEY_RECORD_DEFAULT_KEY } from '../src/adapters/aws/api-key-record.ts';
import { LEDGER_TABLE_KEYS } from '../src/adapters/aws/dynamo-common.ts';
import { WIRE_NOTICE_KEY } from '../src/adapters/aws/wire-notice.ts';
import { routeRule } from '../src/render/waf-route-rule.ts';
import { summaryBucketsFor } from '../src/engine/partitions.ts';
import { tickRules, tickSlicesFor, type TickSlice } from '../src/engine/tick-slices.ts';
import { SECOND_PASS_RESERVE_MS, TEARDOWN_TYPE, type TeardownProps } from '../src/pipeline/teardown-props.ts';
import { RECOMMENDED_ACCESS_LOG_FORMAT } from './access-log-format.ts';
import { CordonFunction } from './cordon-function.ts';
import { ACCESS_LOG_TYPE, PREFLIGHT_TYPE, type AccessLogProps, type PreflightProps } from './deploy-guard.ts';
import { CordonPropsError, RULE_GROUP_CAPACITY, resolveCordonProps, type CordonProps, type ResolvedCordonProps } from './props.ts';
import { TICK, addAlarmsAndDashboard } from './observability.ts';
import {
  CONSUMER_TUNING,
  OnFailureQueue,
  STREAM_RETENTION,
  dynamoConsumerProps,
  kinesisConsumerProps,
} from './stream-defaults.ts';

export { RECOMMENDED_ACCESS_LOG_FORMAT } from './access-log-format.ts';
export type { CordonProps, ProtectedRestApi } from './props.ts';

export {
  METRIC_SOURCES,
  NO_DATA_ALARM_DEFAULT_MINUTES,
  WAF_WRITE_FAILURES_METRIC,
  watermarkLagAlarmMs,
} from './observability.ts';

/** Key prefix of the open-window chunks in the state bucket; objects under it expire after 2 days. */
export const STATE_BUCKET_WINDOW_PREFIX = 'win/';

export { RULE_GROUP_CAPACITY } from './props.ts';

/**
 * cordon in one construct (DESIGN §1): access logs of the protected APIs flow through CloudWatch Logs
 * subscriptions into the `access-logs` stream; `ingest` pre-aggregates into `summaries`; `detect` scores and
 * writes the ledger (on summaries, and on a one-minute clock tick that closes windows whose time is up); `contain`
 * reconciles the ledger into WAF IP sets and the APIs' resource policies (on ledger changes and every minute) and
 * alerts through SNS, which `notify-slack` forwards to Slack. Alarms and the dashboard: infra/observability.ts.
 *
 * Props are validated here (a bad value throws a {@link CordonPropsError} naming the key).
 */
export class Cordon extends Construct {
  readonly settings: ResolvedCordonProps;
  readonly key: kms.Key;
  readonly accessLogStream: kinesis.Stream;
  readonly summariesStream: kinesis.Stream;
  readonly stateTable: dynamodb.Table;
  readonly ledgerTable: dynamodb.Table;
  /** Bulk detect state (src/ports-blob.ts): chunks of open-window parts under `win/`, baseline snapshots under `base/`. */
  readonly stateBucket: s3.Bucket;
  /** The deny-list object authorizers read (`config.denyList.enabled`): in the state bucket, under this key. */
  readonly denyList?: { bucket: s3.Bucket; key: string };
  readonly topic: sns.Topic;
  readonly ingestFunction: CordonFunction;
  readonly detectFunction: CordonFunction;
  readonly containFunction: CordonFunction;
  readonly notifySlackFunction?: CordonFunction;
  readonly ipSetsV4: wafv2.CfnIPSet[];
  readonly ipSetsV6: wafv2.CfnIPSet[];
  /**
   * The route IP sets (config `waf.routeScoped`): addresses blocked on the login route only, by a rule of their own
   * in the web ACL and the rule group (src/render/waf-route-rule.ts). One per family.
   */
  readonly routeIpSets?: { v4: wafv2.CfnIPSet; v6: wafv2.CfnIPSet };
  /** Created unless `existingWebAclArn` is given or every stage keeps its own web ACL (`existingWebAcl: 'use-rule-group'`). */
  readonly webAcl?: wafv2.CfnWebACL;
  /** Its associations: one per stage with `existingWebAcl: 'fail'`, each made after the deploy-time check. */
  readonly webAclAssociations: wafv2.CfnWebACLAssociation[] = [];
  /** Created with `existingWebAclArn` or for `'use-rule-group'` stages: add a reference to it to those web ACLs. */
  readonly ruleGroup?: wafv2.CfnRuleGroup;
  /** The function behind cordon's deploy-time custom resources (checks, access-log format), when there is a stage or log group to check. */
  readonly deployGuardFunction?: CordonFunction;
  /** The deploy-time check (infra/deploy-guard.ts), which every association, subscription filter and access-log change waits for. */
  readonly preflight?: CustomResource;
  /** The function behind `Custom::CordonTeardown` (functions/teardown.ts). */
  readonly teardownFunction: CordonFunction;
  /**
   * Releases every block when cordon is removed (src/engine/teardown.ts): contain's triggers, and the rule group,
   * depend on it, so CloudFormation deletes them first and it runs once contain can no longer re-add a block.
   */
  readonly teardown: CustomResource;
  /** Every alarm (infra/observability.ts), each reporting to the alert topic. */
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;
  /** Every log group subscribed to the access-logs stream. */
  readonly subscribedLogGroups: string[];
  /** The subscribed groups cordon did not create, whose filters the deploy-time check counts. */
  private readonly preflightLogGroups: string[];
  /** How many stages contain checks for a reference to the rule group (their own web ACL); 0 for none. */
  private readonly ruleGroupCheckedStages: number;

  constructor(scope: Construct, id: string, props: CordonProps = {}) {
    super(scope, id);
    const p = resolveCordonProps(props, `Cordon "${id}" props`);
    this.settings = p;
    const stack = Stack.of(this);
    const namePrefix = Names.uniqueResourceName(this, { maxLength: 60, separator: '-' });

    // ---------------------------------------------------------------- encryption key
    this.key = new kms.Key(this, 'Key', {
      description: 'cordon: streams, tables, queues and alert topic',
      enableKeyRotation: true,
    });
    // CloudWatch alarms publish to the encrypted alert topic: the key must let CloudWatch use it for that (SNS
    // Developer Guide, "Enable compatibility between event sources from AWS services and encrypted topics"). Only
    // on behalf of alarms of this account and region: the confused-deputy keys aws:SourceAccount and aws:SourceArn,
    // which CloudWatch sets (EventBridge, which does not, publishes nothing to this topic). The key holds no
    // statement for CloudWatch Logs: no log group is encrypted with it (a grant to logs.<region>.amazonaws.com would
    // need kms:EncryptionContext:aws:logs:arn, CloudWatch Logs User Guide, "Encrypt log data using AWS KMS").
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );

    // ---------------------------------------------------------------- streams
    const streamProps = (shards: number | 'on-demand'): kinesis.StreamProps => ({
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: this.key,
      retentionPeriod: STREAM_RETENTION,
      // A day of records in flight, billed by the shard-hour: nothing to keep once the stack is gone (CDK retains
      // streams by default).
      removalPolicy: RemovalPolicy.DESTROY,
      ...(shards === 'on-demand'
        ? { streamMode: kinesis.StreamMode.ON_DEMAND }
        : { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: shards }),
    });
    this.accessLogStream = new kinesis.Stream(this, 'AccessLogs', streamProps(p.shards));
    this.summariesStream = new kinesis.Stream(this, 'Summaries', streamProps(p.summaryShards));

    // ---------------------------------------------------------------- tables (layout: src/adapters/aws/dynamo-common.ts)
    const tableProps = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: 'ttl',
      removalPolicy: RemovalPolicy.RETAIN,
    } as const;
    this.stateTable = new dynamodb.Table(this, 'State', {
      ...tableProps,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    });
    this.ledgerTable = new dynamodb.Table(this, 'Ledger', {
      ...tableProps,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.NUMBER },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    });
    // detect and contain read the active and the recently ended entries through it, never by scanning the ledger.
    const statusIndex = LEDGER_TABLE_KEYS.statusIndex;
    this.ledgerTable.addGlobalSecondaryIndex({
      indexName: statusIndex.name,
      partitionKey: { name: statusIndex.partitionKey.name, type: dynamodb.AttributeType.STRING },
      sortKey: { name: statusIndex.sortKey.name, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    // ---------------------------------------------------------------- state bucket (detect's bulk state)
    // Written by detect, and by contain the deny-list object only (config.denyList). No versioning: conditional writes
    // go by ETag, and old versions would only pile up.
    this.stateBucket = new s3.Bucket(this, 'StateBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      // Like the state table: kept when the stack is deleted.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        // Chunks of windows detect never dropped (a shard that went away, a crash between write and drop).
        { id: 'ExpireOrphanWindowParts', prefix: STATE_BUCKET_WINDOW_PREFIX, expiration: Duration.days(2) },
        { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    // ---------------------------------------------------------------- alert topic
    this.topic = new sns.Topic(this, 'Alerts', {
      displayName: 'cordon alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (p.alertEmail) this.topic.addSubscription(new subs.EmailSubscription(p.alertEmail));

    // ---------------------------------------------------------------- WAF
    const ipSet = (family: 'v4' | 'v6', i: number) =>
      new wafv2.CfnIPSet(this, `IpSet${family.toUpperCase()}${i}`, {
        name: `${namePrefix}-${family}-${i}`,
        description: `cordon blocks ${family === 'v4' ? 'IPv4' : 'IPv6'} set ${i}, written only by the contain function`,
        scope: 'REGIONAL',
        ipAddressVersion: family === 'v4' ? 'IPV4' : 'IPV6',
        // The contain function owns the addresses; CloudFormation only creates the set. (Any later change to this
        // resource resets the list; contain puts it back within a minute.)
        addresses: [],
      });
    this.ipSetsV4 = Array.from({ length: p.ipSetsPerFamily }, (_, i) => ipSet('v4', i));
    this.ipSetsV6 = Array.from({ length: p.ipSetsPerFamily }, (_, i) => ipSet('v6', i));
    type WafRule = wafv2.CfnWebACL.RuleProperty & wafv2.CfnRuleGroup.RuleProperty;
    const rules: WafRule[] = [...this.ipSetsV4.map((s, i) => ['v4', s, i] as const), ...this.ipSetsV6.map((s, i) => ['v6', s, i] as const)].map(
      ([family, set, i], priority): WafRule => ({
        name: `cordon-block-${family}-${i}`,
        priority,
        action: { block: {} },
        statement: { ipSetReferenceStatement: { arn: set.attrArn } },
        visibilityConfig: {
          cloudWatchMetricsEnabled: true,
          metricName: `cordon-block-${family}-${i}`,
          sampledRequestsEnabled: true,
        },
      }),
    );
    if (p.config.waf.routeScoped.enabled) {
      const routeSet = (family: 'v4' | 'v6') =>
        new wafv2.CfnIPSet(this, `RouteIpSet${family.toUpperCase()}`, {
          name: `${namePrefix}-route-${family}-0`,
          // (WAF descriptions take no parentheses.)
          description: `cordon blocks ${family === 'v4' ? 'IPv4' : 'IPv6'} on the login route only, written only by the contain function`,
          scope: 'REGIONAL',
          ipAddressVersion: family === 'v4' ? 'IPV4' : 'IPV6',
          addresses: [],
        });
      this.routeIpSets = { v4: routeSet('v4'), v6: routeSet('v6') };
      // After the global rules: an address blocked everywhere is blocked by them first, whatever the route.
      rules.push(routeRule({ setArns: [this.routeIpSets.v4.attrArn, this.routeIpSets.v6.attrArn], priority: rules.length }));
    }
    const stageArn = (api: { restApiId: string; stageName: string }) =>
      `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${api.restApiId}/stages/${api.stageName}`;
    /** What cordon does about each stage's web ACL (none in attach mode, which associates nothing). */
    const webAclChoice = (api: ResolvedCordonProps['restApis'][number]) => (p.existingWebAcl ? (api.existingWebAcl ?? p.existingWebAcl) : undefined);
    const associated = p.restApis.map((api, i) => ({ api, i })).filter(({ api }) => webAclChoice(api) === 'fail');
    const ruleGroupStages = p.restApis.filter((api) => webAclChoice(api) === 'use-rule-group');
    /** Stages this stack associates with cordon's own web ACL. */
    const associatedApis = new Set<ResolvedCordonProps['restApis'][number]>();

    // cordon's own web ACL, for the stages it protects with it ('fail': stages with no web ACL of their own, which the
    // deploy-time check verifies before any association is made). Not created when every stage keeps its own.
    if (!p.existingWebAclArn && (p.restApis.length === 0 || associated.length > 0)) {
      const webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
        name: namePrefix,
        description: 'cordon blocks the addresses in its IP sets',
        scope: 'REGIONAL',
        defaultAction: { allow: {} },
        rules,
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${namePrefix}-webacl`, sampledRequestsEnabled: true },
      });
      this.webAcl = webAcl;
      // AssociateWebACL is limited to one call every 2 s: chain the associations so CloudFormation makes them in turn.
      // (Logical ids keep the stage's index in restApis, as before per-stage choices existed.)
      let previous: wafv2.CfnWebACLAssociation | undefined;
      for (const { api, i } of associated) {
        const assoc = new wafv2.CfnWebACLAssociation(this, `WebAclAssociation${i}`, {
          resourceArn: stageArn(api),
          webAclArn: webAcl.attrArn,
        });
        if (previous) assoc.node.addDependency(previous);
        previous = assoc;
        associatedApis.add(api);
        this.webAclAssociations.push(assoc);
      }
      new CfnOutput(this, 'WebAclArn', { value: webAcl.attrArn, description: 'cordon web ACL (associated with the protected stages)' });
    }
    // A rule group holding the same rules, for web ACLs cordon does not own: the one named by existingWebAclArn, or the
    // web ACLs of the 'use-rule-group' stages. CloudFormation cannot add rules to a web ACL another stack owns, so
    // the team adds the reference (output WebAclRuleToAdd).
    if (p.existingWebAclArn || ruleGroupStages.length > 0) {
      this.ruleGroup = new wafv2.CfnRuleGroup(this, 'RuleGroup', {
        name: namePrefix,
        description: 'cordon blocks the addresses in its IP sets. Reference it from your web ACL',
        scope: 'REGIONAL',
        capacity: RULE_GROUP_CAPACITY,
        rules,
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${namePrefix}-rules`, sampledRequestsEnabled: true },
      });
      const target = p.existingWebAclArn ?? `the web ACL of each stage listed in the RuleGroupTargets output`;
      new CfnOutput(this, 'RuleGroupArn', { value: this.ruleGroup.attrArn, description: 'cordon rule group' });
      new CfnOutput(this, 'WebAclRuleToAdd', {
        description: `Add this rule to ${target} (first, or before any allow rule); CloudFormation cannot change a web ACL this stack does not own`,
        value: stack.toJsonString({
          Name: 'cordon',
          Priority: 0,
          Statement: { RuleGroupReferenceStatement: { ARN: this.ruleGroup.attrArn } },
          OverrideAction: { None: {} },
          VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'cordon' },
        }),
      });
    }
    // The stages whose own web ACL must reference the rule group: contain checks that it does (GetWebACLForResource),
    // and reports a stage whose web ACL does not as a failure of WAF there, its address blocks not in effect on it.
    const ruleGroupChecked = this.ruleGroup ? p.restApis.filter((api) => !associatedApis.has(api)) : [];
    this.ruleGroupCheckedStages = ruleGroupChecked.length;
    if (this.routeIpSets) {
      new CfnOutput(this, 'RouteIpSetArns', {
        description: 'cordon route IP sets (v4, v6): blocked on POSTs to login paths only; only the contain function writes them',
        value: stack.toJsonString([this.routeIpSets.v4.attrArn, this.routeIpSets.v6.attrArn]),
      });
    }
    new CfnOutput(this, 'IpSetArns', {
      description: 'cordon IP sets (v4 then v6); only the contain function writes them',
      value: stack.toJsonString([...this.ipSetsV4, ...this.ipSetsV6].map((s) => s.attrArn)),
    });

    // ---------------------------------------------------------------- functions
    // DRY_RUN goes to every stage: detect must hold blocks as alerts itself, not leave active ones for later.
    const common: Record<string, string> = { ...(p.rawConfig === undefined ? {} : { CORDON_CONFIG: JSON.stringify(p.rawConfig) }),
      DRY_RUN: String(p.dryRun) };
    const fn = (id: string, entryName: 'ingest' | 'detect' | 'contain' | 'notify-slack', o: {
      description: string; env: Record<string, string>; timeout: Duration; memorySize: number; reserved?: number;
    }) =>
      new CordonFunction(this, id, {
        entryName,
        description: o.description,
        environment: { ...common, ...o.env },
        logLevel: p.logLevel,
        logRetentionDays: p.logRetentionDays,
        timeout: o.timeout,
        memorySize: o.memorySize,
        reservedConcurrentExecutions: o.reserved,
      });

    this.ingestFunction = fn('Ingest', 'ingest', {
      description: 'cordon ingest: access-log records → partial summaries',
      env: { SUMMARIES_STREAM_NAME: this.summariesStream.streamName,
        // 'auto' is SUMMARY_WIRE_AUTO, and SUMMARY_WIRE_LEVEL stays 1: Lambda puts a function's configuration and its
        // code in separate calls, so an ingest of a release before 'auto' can start with this configuration. It ignores
        // a variable it does not know and writes level 1, where SUMMARY_WIRE_LEVEL 'auto' would fail its every cold
        // start. STATE_TABLE: where detect announces the level it reads (functions/env.ts).
        ...(p.summaryWireLevel === 'auto'
          ? { SUMMARY_WIRE_LEVEL: '1', SUMMARY_WIRE_AUTO: '1', STATE_TABLE: this.stateTable.tableName }
          : { SUMMARY_WIRE_LEVEL: String(p.summaryWireLevel) }),
        // As many partitions as the summaries stream's shards can use (a partition goes to one shard).
        SUMMARY_PARTITIONS: String(summaryBucketsFor(p.summaryShards)),
        // A batch's partitions bound for one shard share records (one a shard, compressed together; IngestDeps.summaryShards).
        ...(p.summaryShards === 'on-demand' ? {} : { SUMMARY_SHARDS: String(p.summaryShards) }) },
      timeout: Duration.minutes(2),
      memorySize: 1024,
    });
    this.detectFunction = fn('Detect', 'detect', {
      description: 'cordon detect: summaries → windows → scores → ledger',
      env: {
        STATE_TABLE: this.stateTable.tableName,
        LEDGER_TABLE: this.ledgerTable.tableName,
        STATE_BUCKET: this.stateBucket.bucketName,
        INGEST_BATCHING_WINDOW_SECONDS: String(p.ingestBatchingWindowSeconds),
      },
      timeout: Duration.minutes(2),
      memorySize: p.detectMemoryMb,
    });
    // A stack update puts detect's new release before ingest's, and a rollback takes ingest's back first: an ingest
    // starts only once detect's function reads what it may write (instances of detect's earlier release can still run
    // for a while after, which the wire level handshake waits out: src/engine/wire-handshake.ts).
    this.ingestFunction.node.addDependency(this.detectFunction);
    const ipSetEnv = (sets: wafv2.CfnIPSet[]) => stack.toJsonString(sets.map((s) => ({ name: s.name, id: s.attrId })));
    this.containFunction = fn('Contain', 'contain', {
      description: 'cordon contain: ledger → WAF IP sets, resource policies, alerts (single writer)',
      env: {
        LEDGER_TABLE: this.ledgerTable.tableName,
        WAF_SCOPE: 'REGIONAL',
        IPSETS_V4: ipSetEnv(this.ipSetsV4),
        IPSETS_V6: ipSetEnv(this.ipSetsV6),
        ...(this.routeIpSets
          ? { IPSETS_ROUTE_V4: ipSetEnv([this.routeIpSets.v4]), IPSETS_ROUTE_V6: ipSetEnv([this.routeIpSets.v6]) }
          : {}),
        // `waf`: the stage is associated with cordon's web ACL here, so its policy need not repeat the address blocks. A
        // stage whose own web ACL references cordon's rule group is not marked: that reference is the team's to add.
        // The policy is the API's, not the stage's: marked only when every listed stage of the API is, or the stages'
        // two versions of one policy would undo each other on every run.
        REST_APIS: JSON.stringify(p.restApis.map((a) => ({ restApiId: a.restApiId, stageName: a.stageName,
          ...(p.restApis.every((b) => b.restApiId !== a.restApiId || associatedApis.has(b)) ? { waf: true } : {}) }))),
        ALERT_TOPIC_ARN: this.topic.topicArn,
        ...(p.config.denyList.enabled ? { DENY_LIST_BUCKET: this.stateBucket.bucketName, DENY_LIST_KEY: p.denyListKey } : {}),
        ...(p.config.apiKeys.enabled
          ? { API_KEY_RECORD_BUCKET: this.stateBucket.bucketName, API_KEY_RECORD_KEY: API_KEY_RECORD_DEFAULT_KEY }
          : {}),
        ...(this.ruleGroup && ruleGroupChecked.length > 0
          ? { RULE_GROUP_ARN: this.ruleGroup.attrArn,
            RULE_GROUP_STAGES: stack.toJsonString(ruleGroupChecked.map((a) => ({ restApiId: a.restApiId, stageName: a.stageName, stageArn: stageArn(a) }))) }
          : {}),
      },
      // WAF takes one write per second per account and region; a full reconcile of many sets with lock retries
      // and redeploys of several APIs takes a while.
      timeout: Duration.minutes(3),
      memorySize: 512,
      // One writer to WAF and the policies: the schedule and the ledger stream never run contain twice at once.
      reserved: 1,
    });

    // ---------------------------------------------------------------- stream consumers
    const ingestFailures = new OnFailureQueue(this, 'IngestFailures', { encryptionKey: this.key, consumer: 'ingest' });
    const detectFailures = new OnFailureQueue(this, 'DetectFailures', { encryptionKey: this.key, consumer: 'detect' });
    const containFailures = new OnFailureQueue(this, 'ContainFailures', { encryptionKey: this.key, consumer: 'contain' });
    this.ingestFunction.addEventSource(
      new sources.KinesisEventSource(this.accessLogStream, kinesisConsumerProps({ ...CONSUMER_TUNING.ingest,
        maxBatchingWindow: Duration.seconds(p.ingestBatchingWindowSeconds) }, ingestFailures.destination)),
    );
    this.detectFunction.addEventSource(
      new sources.KinesisEventSource(this.summariesStream, kinesisConsumerProps(CONSUMER_TUNING.detect, detectFailures.destination)),
    );
    this.containFunction.addEventSource(
      new sources.DynamoEventSource(this.ledgerTable, dynamoConsumerProps(CONSUMER_TUNING.contain, containFailures.destination)),
    );
    // Every minute, whatever the stream says: expiries happen without a ledger write, and drift is put back.
    this.containFunction.configureAsyncInvoke({ maxEventAge: Duration.minutes(2), retryAttempts: 0 });
    new events.Rule(this, 'ContainSchedule', {
      description: 'cordon: reconcile the ledger into WAF and the resource policies every minute',
      schedule: events.Schedule.rate(TICK),
      targets: [new targets.LambdaFunction(this.containFunction, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
    // Detect's clock (DESIGN §1, real time): every minute, windows whose time is up close even when no data arrives
    // (an attack followed by silence, a quiet shard). A tick that fails or waits is superseded by the next one, so
    // none is retried or kept longer than a minute.
    this.detectFunction.configureAsyncInvoke({ maxEventAge: Duration.minutes(1), retryAttempts: 0 });
    // On many summaries shards, several ticks at once, each over its slice of the shards: when all of them go quiet
    // together, one tick alone would take minutes to reach the last (README, Scale: "The tick").
    const slices = tickSlicesFor(p.summaryShards);
    const tickTarget = (slice: TickSlice | undefined) => new targets.LambdaFunction(this.detectFunction, { retryAttempts: 0,
      maxEventAge: Duration.minutes(1), ...(slice ? { event: events.RuleTargetInput.fromObject({ tick: slice }) } : {}) });
    for (const rule of tickRules(slices)) {
      new events.Rule(this, rule.name, {
        description: 'cordon: clock tick for detect every minute (closes windows whose time is up without new data)',
        schedule: events.Schedule.rate(TICK),
        targets: rule.slices.map(tickTarget),
      });
    }

    // ---------------------------------------------------------------- permissions (each function: its own resources)
    this.summariesStream.grantWrite(this.ingestFunction);
    if (p.summaryWireLevel === 'auto') {
      // The wire level notice, and nothing else of the state table.
      this.ingestFunction.addToRolePolicy(new iam.PolicyStatement({
        sid: 'WireLevelNotice',
        actions: ['dynamodb:GetItem'],
        resources: [this.stateTable.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [WIRE_NOTICE_KEY.pk] } },
      }));
      // The table is encrypted with cordon's key: reading the item needs Decrypt, through DynamoDB only.
      this.ingestFunction.addToRolePolicy(new iam.PolicyStatement({
        sid: 'WireLevelNoticeKey',
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }));
    }
    this.stateTable.grantReadWriteData(this.detectFunction);
    // detect reads a target's history and the active blocks, and puts its decisions.
    this.grantLedger(this.detectFunction, 'Detect', ['dynamodb:PutItem', 'dynamodb:Query']);
    // The state bucket: exactly what src/ports-blob.ts needs (get, conditional put, delete; list by prefix), and
    // only on this bucket. Named actions rather than grantReadWrite's wildcards (s3:GetObject*, s3:List*, ...).
    this.detectFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StateBucketObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [this.stateBucket.arnForObjects('*')],
      }),
    );
    this.detectFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StateBucketList',
        actions: ['s3:ListBucket'],
        resources: [this.stateBucket.bucketArn],
      }),
    );
    // contain reads and writes the ledger only (src/pipeline/aws-deps.ts buildContainDeps): no grant on the state
    // table, and no STATE_TABLE variable.
    // contain also reads the entries its stream batch names (GetItem) and writes alert marks (UpdateItem).
    this.grantLedger(this.containFunction, 'Contain', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    this.topic.grantPublish(this.containFunction);
    if (p.config.denyList.enabled) {
      this.denyList = { bucket: this.stateBucket, key: p.denyListKey };
      // The one object it writes (src/adapters/aws/deny-list.ts reads it first, then puts it when it changed).
      this.containFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DenyListObject',
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [this.stateBucket.arnForObjects(p.denyListKey)],
        }),
      );
      new CfnOutput(this, 'DenyListBucket', { value: this.stateBucket.bucketName, description: 'bucket of the deny list authorizers read' });
      new CfnOutput(this, 'DenyListKey', { value: p.denyListKey, description: 'key of the deny list authorizers read (src/authorizer/deny-list.ts)' });
    }
    if (p.config.apiKeys.enabled) {
      // API keys as a target (src/adapters/aws/api-keys.ts): GetApiKey (GET /apikeys/<id>) and UpdateApiKey
      // (PATCH /apikeys/<id>, op replace /enabled). Any key of the account and region, since the keys it blocks are
      // found in the logs, not known at deploy time; no other API key path (not /apikeys itself: no CreateApiKey, no
      // listing), no DELETE, no tagging. IAM has no condition key for a PATCH's path, so the PATCH could change a key's
      // name or description too: the adapter only ever sends /enabled.
      this.containFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ApiKeysEnable',
          actions: ['apigateway:GET', 'apigateway:PATCH'],
          resources: [`arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/apikeys/*`],
        }),
      );
      // cordon's record of the keys it disabled (the only keys it ever re-enables): one object of the state bucket.
      this.containFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ApiKeyRecordObject',
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [this.stateBucket.arnForObjects(API_KEY_RECORD_DEFAULT_KEY)],
        }),
      );
    }
    this.containFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'CordonIpSetsOnly',
        actions: ['wafv2:GetIPSet', 'wafv2:UpdateIPSet'],
        resources: [...this.ipSetsV4, ...this.ipSetsV6, ...(this.routeIpSets ? [this.routeIpSets.v4, this.routeIpSets.v6] : [])]
          .map((s) => s.attrArn),
      }),
    );
    // The policy of each protected API, its redeploy, and reading its stages and methods (see apiReleaseStatements).
    for (const st of apiReleaseStatements(p.restApis)) this.containFunction.addToRolePolicy(st);

    if (ruleGroupChecked.length > 0) {
      // As the deploy guard's: GetWebACLForResource names the stage and checks GetWebACL on the web ACL it returns,
      // whichever it is (the team's): any regional web ACL of this account, read only.
      const anyWebAcl = stack.formatArn({ service: 'wafv2', resource: 'regional/webacl', resourceName: '*/*' });
      this.containFunction.addToRolePolicy(new iam.PolicyStatement({ sid: 'WebAclOfStages', actions: ['wafv2:GetWebACLForResource'],
        resources: [...ruleGroupChecked.map(stageArn), anyWebAcl] }));
      this.containFunction.addToRolePolicy(new iam.PolicyStatement({ sid: 'WebAclRead', actions: ['wafv2:GetWebACL'], resources: [anyWebAcl] }));
    }

    // ---------------------------------------------------------------- Slack
    let notifySlackFailures: OnFailureQueue | undefined;
    if (p.slackSecretArn) {
      const notifyFailures = new OnFailureQueue(this, 'NotifySlackFailures', { encryptionKey: this.key, consumer: 'notify-slack' });
      this.notifySlackFunction = new CordonFunction(this, 'NotifySlack', {
        entryName: 'notify-slack',
        description: 'cordon notify-slack: alert topic → Slack (Block Kit)',
        environment: { SLACK_SECRET_ARN: p.slackSecretArn },
        logLevel: p.logLevel,
        logRetentionDays: p.logRetentionDays,
        timeout: Duration.seconds(30),
        memorySize: 256,
      });
      this.notifySlackFunction.configureAsyncInvoke({
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
        onFailure: new destinations.SqsDestination(notifyFailures.queue),
      });
      this.notifySlackFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'SlackWebhookSecretOnly',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [p.slackSecretArn],
        }),
      );
      this.topic.addSubscription(new subs.LambdaSubscription(this.notifySlackFunction));
      notifySlackFailures = notifyFailures;
    }

    // ---------------------------------------------------------------- access logs → Kinesis
    /** Log group name → the group, when cordon creates it (managed stages without a logGroupName). */
    const logGroups = new Map<string, logs.LogGroup | undefined>();
    const managedStages: ManagedStage[] = [];
    p.restApis.forEach((api, i) => {
      let name = api.logGroupName;
      let created: logs.LogGroup | undefined;
      if (!name) {
        created = new logs.LogGroup(this, `AccessLogGroup${i}`, {
          // No fixed name: the group is kept when the stack is deleted, and a fixed name would make the next deploy
          // fail on the group that is still there. CloudFormation names it after the stack.
          retention: p.logRetentionDays as logs.RetentionDays,
          // Kept on delete: it holds the API's access logs.
          removalPolicy: RemovalPolicy.RETAIN,
        });
        name = created.logGroupName;
      }
      logGroups.set(name, logGroups.get(name) ?? created);
      if (p.manageAccessLogFormat) managedStages.push({ api, logGroupName: name, created });
    });
    for (const name of p.logGroupNames) if (!logGroups.has(name)) logGroups.set(name, undefined);
    this.subscribedLogGroups = [...logGroups.keys()];
    /** Groups cordon subscribes but did not create: the deploy-time check counts their subscription filters. */
    const foreignLogGroups = [...logGroups].filter(([, created]) => !created).map(([name]) => name);
    this.preflightLogGroups = foreignLogGroups;

    const logsRole = new iam.Role(this, 'LogsToKinesisRole', {
      description: 'CloudWatch Logs puts subscribed access-log events into the cordon access-logs stream',
      assumedBy: new iam.PrincipalWithConditions(new iam.ServicePrincipal('logs.amazonaws.com'), {
        StringLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
      }),
      inlinePolicies: {
        PutToAccessLogsStream: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['kinesis:PutRecord', 'kinesis:PutRecords'],
              resources: [this.accessLogStream.streamArn],
            }),
            new iam.PolicyStatement({
              actions: ['kms:GenerateDataKey'],
              resources: [this.key.keyArn],
            }),
          ],
        }),
      },
    });
    const filters = [...logGroups].map(([logGroupName, created], i) => {
      const filter = new logs.CfnSubscriptionFilter(this, `Subscription${i}`, {
        logGroupName,
        filterName: namePrefix,
        // Every line: the decoder counts and samples what it cannot read.
        filterPattern: '',
        destinationArn: this.accessLogStream.streamArn,
        roleArn: logsRole.roleArn,
        distribution: 'Random',
      });
      // (The RoleArn GetAtt orders the filter after the role and its inline policy: CloudWatch Logs test-puts into
      // the stream when the filter is created. A group cordon creates is named by its Ref, which orders it first.)
      return { filter, foreign: !created };
    });

    // ---------------------------------------------------------------- deploy-time checks (infra/deploy-guard.ts)
    if (p.restApis.length > 0 || foreignLogGroups.length > 0) {
      const guard = this.addDeployGuard({
        stages: p.restApis.map((api) => ({ api, arn: stageArn(api), existingWebAcl: webAclChoice(api) })),
        foreignLogGroups,
        filterName: namePrefix,
        managedStages,
        logRetentionDays: p.logRetentionDays,
        logLevel: p.logLevel,
      });
      // Nothing that could replace, overwrite or fail on what is already there is made before the check passed.
      for (const assoc of this.webAclAssociations) assoc.node.addDependency(guard.preflight);
      for (const { filter, foreign } of filters) if (foreign) filter.node.addDependency(guard.preflight);
      this.deployGuardFunction = guard.fn;
      this.preflight = guard.preflight;
      if (ruleGroupStages.length > 0) {
        new CfnOutput(this, 'RuleGroupTargets', {
          description: "The web ACL of each 'use-rule-group' stage: add WebAclRuleToAdd to each (cordon associates nothing with these stages)",
          value: guard.preflight.getAttString('RuleGroupTargets'),
        });
      }
    }

    // ---------------------------------------------------------------- teardown (functions/teardown.ts)
    ({ fn: this.teardownFunction, resource: this.teardown } = this.addTeardown());

    // ---------------------------------------------------------------- alarms and dashboard (infra/observability.ts)
    const failureQueues = [ingestFailures, detectFailures, containFailures, ...(notifySlackFailures ? [notifySlackFailures] : [])];
    ({ alarms: this.alarms, dashboard: this.dashboard } = addAlarmsAndDashboard(this, {
      settings: p,
      functions: {
        ingest: this.ingestFunction,
        detect: this.detectFunction,
        contain: this.containFunction,
        notifySlack: this.notifySlackFunction,
      },
      accessLogStream: this.accessLogStream,
      summariesStream: this.summariesStream,
      failureQueues,
      alarmAction: new cwActions.SnsAction(this.topic),
      dashboardName: namePrefix,
    }));

    // ---------------------------------------------------------------- outputs
    new CfnOutput(this, 'AccessLogStreamName', { value: this.accessLogStream.streamName });
    new CfnOutput(this, 'AlertTopicArn', { value: this.topic.topicArn });
    new CfnOutput(this, 'LedgerTableName', { value: this.ledgerTable.tableName });
    new CfnOutput(this, 'StateTableName', { value: this.stateTable.tableName });
    new CfnOutput(this, 'StateBucketName', { value: this.stateBucket.bucketName });
    new CfnOutput(this, 'DashboardName', { value: namePrefix });

    this.addNagSuppressions();
  }

  /**
   * Lets a team's Lambda authorizer read the deny list (src/authorizer/deny-list.ts): s3:GetObject on that one object,
   * nothing else of the state bucket. The bucket is S3-managed encrypted (SSE-S3), so no KMS grant is needed. Throws
   * when `config.denyList.enabled` is off: the object would never be written.
   */
  grantDenyListRead(grantee: iam.IGrantable): iam.Grant {
    if (!this.denyList) {
      throw new CordonPropsError('grantDenyListRead: the deny list is off; set config.denyList.enabled to true', [
        { path: 'config.denyList.enabled', message: 'must be true to grant reading the deny list' },
      ]);
    }
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.denyList.bucket.arnForObjects(this.denyList.key)],
    });
  }

  /**
   * The deploy-time guard: one function behind two kinds of custom resource (infra/deploy-guard-handler.ts).
   * `Preflight` checks, before anything is associated, subscribed or changed, that every stage exists, that a stage
   * cordon protects with its own web ACL has no other one (and that a 'use-rule-group' stage has one), that every
   * subscribed log group exists and has room for cordon's filter, and that no managed stage logs somewhere cordon did
   * not set. `AccessLog<i>` then sets the recommended format (and the destination when the stage has none) on each
   * `manageAccessLogFormat` stage, and on delete turns off only the access logging it turned on.
   */
  private addDeployGuard(o: {
    stages: { api: ResolvedCordonProps['restApis'][number]; arn: string; existingWebAcl?: 'fail' | 'use-rule-group' }[];
    foreignLogGroups: string[];
    filterName: string;
    managedStages: ManagedStage[];
    logRetentionDays: number;
    logLevel: string;
  }): { fn: CordonFunction; preflight: CustomResource } {
    const stack = Stack.of(this);
    const fn = new CordonFunction(this, 'DeployGuard', {
      entryName: 'deploy-guard',
      description: 'cordon deploy checks: existing web ACLs, subscription filter room, access-log destinations',
      environment: {},
      logLevel: o.logLevel,
      logRetentionDays: o.logRetentionDays,
      timeout: Duration.minutes(5),
      memorySize: 256,
    });
    const stageArns = o.stages.map((s) => s.arn);
    // Read only, except UpdateStage on the managed stages.
    if (stageArns.length > 0) {
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StagesRead', actions: ['apigateway:GET'], resources: stageArns }));
    }
    if (o.stages.some((s) => s.existingWebAcl)) {
      // GetWebACLForResource names the stage; it returns the stage's web ACL, whichever it is, and checks GetWebACL on
      // it (WAF API reference, GetWebACLForResource): any regional web ACL of this account, read only.
      const anyWebAcl = stack.formatArn({ service: 'wafv2', resource: 'regional/webacl', resourceName: '*/*' });
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'WebAclOfStages', actions: ['wafv2:GetWebACLForResource'], resources: [...stageArns, anyWebAcl] }),
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'WebAclRead', actions: ['wafv2:GetWebACL'], resources: [anyWebAcl] }));
    }
    if (o.foreignLogGroups.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'SubscriptionFiltersRead',
          actions: ['logs:DescribeSubscriptionFilters'],
          // Both spellings of a log group's ARN (with and without the trailing :*).
          resources: o.foreignLogGroups.flatMap((name) => {
            const arn = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
            return [arn, `${arn}:*`];
          }),
        }),
      );
    }
    if (o.managedStages.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ManagedStagesAccessLog',
          actions: ['apigateway:PATCH'],
          resources: o.managedStages.map(({ api }) => o.stages.find((s) => s.api === api)!.arn),
        }),
      );
    }

    // API Gateway wants the group's ARN without the trailing `:*` that LogGroup.logGroupArn carries.
    const destinationOf = (m: ManagedStage) =>
      stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: m.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const preflightProps: PreflightProps = {
      Stages: o.stages.map((s) => ({
        RestApiId: s.api.restApiId,
        StageName: s.api.stageName,
        StageArn: s.arn,
        ...(s.existingWebAcl ? { ExistingWebAcl: s.existingWebAcl } : {}),
      })),
      ...(this.webAcl ? { OwnWebAclArn: this.webAcl.attrArn, OwnWebAclName: this.webAcl.name } : {}),
      LogGroups: o.foreignLogGroups,
      FilterName: o.filterName,
      AccessLogs: o.managedStages.map((m) => ({ RestApiId: m.api.restApiId, StageName: m.api.stageName, DestinationArn: destinationOf(m) })),
    };
    const preflight = new CustomResource(this, 'Preflight', {
      serviceToken: fn.functionArn,
      resourceType: PREFLIGHT_TYPE,
      properties: preflightProps as unknown as Record<string, unknown>,
    });
    o.managedStages.forEach((m, i) => {
      const props: AccessLogProps = {
        RestApiId: m.api.restApiId,
        StageName: m.api.stageName,
        DestinationArn: destinationOf(m),
        Format: RECOMMENDED_ACCESS_LOG_FORMAT,
      };
      const res = new CustomResource(this, `AccessLog${i}`, {
        serviceToken: fn.functionArn,
        resourceType: ACCESS_LOG_TYPE,
        properties: props as unknown as Record<string, unknown>,
      });
      // (A group cordon creates is in DestinationArn by its Ref, which orders it first.)
      res.node.addDependency(preflight);
    });
    return { fn, preflight };
  }

  /**
   * The teardown: `Custom::CordonTeardown`, whose Delete empties every IP set cordon owns, takes cordon's statements out
   * of each protected API's resource policy (redeploying the stage), empties the deny list and re-enables the API keys
   * cordon disabled (src/engine/teardown.ts); Create only checks its properties, and an Update releases the targets the
   * update stops enforcing on (an API no longer protected, the deny list or API keys turned off). Its own function may
   * do exactly that: the IP sets, the protected APIs as contain may touch them, the deny-list object, the API keys and
   * their record, and read its stack's status (a rollback comes as an Update).
   *
   * Update order: the teardown depends on contain's role, so contain can no longer write a dropped target when the
   * release runs; the managed copies of the release permissions depend on the teardown, so they still grant it.
   *
   * Delete order: CloudFormation deletes a resource only after every resource that depends on it. contain's schedule
   * and its ledger-stream mapping depend on the teardown, so they are gone before it runs; a contain run already under
   * way (or an event already queued for it) may still write for contain's timeout plus its events' maximum age, so the
   * teardown releases, waits that long and releases again. The rule group depends on it too: in rule-group mode its
   * delete fails while a team's web ACL still references it, and by then the sets it refers to are empty. The IP sets,
   * the APIs and the bucket are in its properties, so they are deleted (or left) after it. The managed copies of the
   * release permissions are deleted before it; its function's own policy still grants everything then.
   */
  private addTeardown(): { fn: CordonFunction; resource: CustomResource } {
    const p = this.settings;
    const stack = Stack.of(this);
    const fn = new CordonFunction(this, 'TeardownHandler', {
      entryName: 'teardown',
      description: 'cordon teardown: on removal releases every block (IP sets, resource policies, deny list, API keys), on update what it drops',
      environment: {},
      logLevel: p.logLevel,
      logRetentionDays: p.logRetentionDays,
      // The most Lambda allows: two passes around a wait of several minutes (functions/teardown.ts).
      timeout: Duration.minutes(15),
      memorySize: 256,
    });
    const sets = [
      ...this.ipSetsV4.map((set) => ({ set, family: 'v4' as const })),
      ...this.ipSetsV6.map((set) => ({ set, family: 'v6' as const })),
      ...(this.routeIpSets ? [{ set: this.routeIpSets.v4, family: 'v4' as const }, { set: this.routeIpSets.v6, family: 'v6' as const }] : []),
    ];
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'CordonIpSetsOnly', actions: ['wafv2:GetIPSet', 'wafv2:UpdateIPSet'], resources: sets.map(({ set }) => set.attrArn) }),
    );
    // The permissions to release the protected APIs, the deny list and the key record. Held twice: in the function's
    // policy, which CloudFormation updates before this resource (the function depends on it) and deletes after it; and
    // in the managed policies `TeardownReleaseOnUpdate…`, which depend on this resource, so CloudFormation updates them
    // only after the update's release (functions/teardown.ts): an update that drops an API still lets the teardown
    // release that API.
    const otherStatements: iam.PolicyStatement[] = [];
    if (this.denyList) {
      otherStatements.push(new iam.PolicyStatement({ sid: 'DenyListObject', actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.denyList.bucket.arnForObjects(this.denyList.key)] }));
    }
    if (p.config.apiKeys.enabled) {
      otherStatements.push(new iam.PolicyStatement({ sid: 'ApiKeysEnable', actions: ['apigateway:GET', 'apigateway:PATCH'],
        resources: [`arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/apikeys/*`] }));
      otherStatements.push(new iam.PolicyStatement({ sid: 'ApiKeyRecordObject', actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.stateBucket.arnForObjects(API_KEY_RECORD_DEFAULT_KEY)] }));
    }
    for (const st of [...apiReleaseStatements(p.restApis), ...otherStatements]) fn.addToRolePolicy(st);

    // A contain run may start as late as its events' maximum age (configureAsyncInvoke above: 2 minutes) after its
    // schedule is deleted, and last its timeout; half a minute more for its last write to land.
    const containTimeout = this.containFunction.timeout ?? Duration.seconds(3);
    const settle = containTimeout.toSeconds() + Duration.minutes(2).toSeconds() + 30;
    // The wait and the second pass must fit the teardown function's 15 minutes, or a contain run could still write after
    // the last pass while the delete reports every block released.
    if (settle * 1000 + SECOND_PASS_RESERVE_MS > Duration.minutes(15).toMilliseconds()) {
      throw new Error(`contain's timeout (${containTimeout.toSeconds()} s) leaves the teardown no time to wait out a contain run and release again`);
    }
    const props: TeardownProps = {
      WafScope: 'REGIONAL',
      IpSets: sets.map(({ set, family }) => ({ Name: set.name!, Id: set.attrId, Family: family })),
      RestApis: p.restApis.map((a) => ({ RestApiId: a.restApiId, StageName: a.stageName })),
      ...(this.denyList ? { DenyList: { Bucket: this.denyList.bucket.bucketName, Key: this.denyList.key } } : {}),
      ...(p.config.apiKeys.enabled ? { ApiKeyRecord: { Bucket: this.stateBucket.bucketName, Key: API_KEY_RECORD_DEFAULT_KEY } } : {}),
      SettleSeconds: settle,
      ReleaseOnUpdate: '1',
    };
    // Never rename or replace: CloudFormation would delete the old resource (releasing every block) while cordon runs on.
    const resource = new CustomResource(this, 'Teardown', {
      serviceToken: fn.functionArn,
      resourceType: TEARDOWN_TYPE,
      properties: props as unknown as Record<string, unknown>,
    });

    // Deleted before the teardown runs: whatever can start contain, and the rule group (see above).
    const containTriggers = [
      this.node.findChild('ContainSchedule'),
      ...this.containFunction.node.children.filter((c) => c instanceof lambda.EventSourceMapping),
    ];
    for (const c of [...containTriggers, ...(this.ruleGroup ? [this.ruleGroup] : [])]) c.node.addDependency(resource);
    // The second copy: managed policies (they do not count against the role's 10,240 characters of inline policies),
    // each under IAM's 6,144 characters of a managed policy, so any number of APIs fits.
    const releaseOnUpdate = releasePolicyGroups(p.restApis, otherStatements).map((statements, i) => {
      const policy = new iam.ManagedPolicy(this, i === 0 ? 'TeardownReleaseOnUpdate' : `TeardownReleaseOnUpdate${i + 1}`, { statements, roles: [fn.role!] });
      policy.node.addDependency(resource);
      return policy;
    });
    // On an update, contain's role has lost what the update drops before the release runs, so a contain run under the
    // old configuration can no longer write there (its role's policies, overflow ones included, are children of the
    // role). Not the function itself: in rule-group mode it depends on the rule group, which depends on the teardown.
    resource.node.addDependency(this.containFunction.role!);
    // Whether an Update is a rollback (functions/teardown.ts): only the stack's status says.
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'OwnStackStatus', actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));

    Validations.of(fn).acknowledge({ id: 'AwsSolutions-L1', reason: NAG_ACKNOWLEDGEMENTS['AwsSolutions-L1'] });
    Validations.of(fn.role!).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: NAG_ACKNOWLEDGEMENTS['AwsSolutions-IAM5[Resource::*]'] });
    for (const holder of [fn.role!, ...releaseOnUpdate]) {
      if (p.config.apiKeys.enabled) Validations.of(holder).acknowledge({ id: API_KEYS_FINDING, reason: NAG_ACKNOWLEDGEMENTS[API_KEYS_FINDING] });
      for (const apiId of new Set(p.restApis.map((a) => a.restApiId))) {
        Validations.of(holder).acknowledge({ id: DEPLOYMENTS_FINDING.replace('<restApiId>', apiId), reason: NAG_ACKNOWLEDGEMENTS[DEPLOYMENTS_FINDING] });
      }
    }
    return { fn, resource };
  }

  /**
   * The ledger's item actions a function's adapter uses (src/adapters/aws/dynamodb.ts; the alert marks are UpdateItem
   * inside TransactWriteItems) on the table, and Query on its status index by name: grantReadWriteData would add Scan,
   * BatchWriteItem, DeleteItem and every index (`index/*`).
   */
  private grantLedger(fn: CordonFunction, who: string, actions: string[]): void {
    const table = this.ledgerTable;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: `${who}LedgerItems`,
      actions,
      resources: [table.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: `${who}LedgerStatusIndex`,
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/${LEDGER_TABLE_KEYS.statusIndex.name}`],
    }));
    table.encryptionKey?.grantEncryptDecrypt(fn);
  }

  /**
   * cdk-nag AwsSolutions findings that are deliberate, each with its reason (cdk-nag 3: `Validations.acknowledge`,
   * one finding at a time). `NAG_ACKNOWLEDGEMENTS` lists them for the README and the tests.
   */
  private addNagSuppressions(): void {
    const ack = (scope: Construct | undefined, ...ids: (keyof typeof NAG_ACKNOWLEDGEMENTS)[]) => {
      if (!scope) return;
      for (const id of ids) Validations.of(scope).acknowledge({ id, reason: NAG_ACKNOWLEDGEMENTS[id] });
    };
    ack(this.accessLogStream, 'AwsSolutions-KDS3');
    ack(this.summariesStream, 'AwsSolutions-KDS3');
    for (const f of [this.ingestFunction, this.detectFunction, this.containFunction, this.notifySlackFunction]) {
      if (!f) continue;
      ack(f, 'AwsSolutions-L1');
      ack(
        f.role,
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
      );
    }
    for (const id of ['IngestFailures', 'DetectFailures', 'ContainFailures', 'NotifySlackFailures']) {
      ack(this.node.tryFindChild(id), 'AwsSolutions-SQS3');
    }
    ack(this.stateBucket, 'AwsSolutions-S1');
    // The finding names the bucket by its logical id, which depends on where the construct sits.
    const bucketLogicalId = Stack.of(this).getLogicalId(this.stateBucket.node.defaultChild as s3.CfnBucket);
    Validations.of(this.detectFunction.role!).acknowledge({
      id: STATE_BUCKET_OBJECTS_FINDING.replace('<StateBucket.Arn>', `<${bucketLogicalId}.Arn>`),
      reason: NAG_ACKNOWLEDGEMENTS[STATE_BUCKET_OBJECTS_FINDING],
    });
    if (this.settings.config.apiKeys.enabled) ack(this.containFunction.role, API_KEYS_FINDING);
    if (this.ruleGroupCheckedStages > 0) ack(this.containFunction.role, ANY_WEB_ACL_FINDING);
    for (const apiId of new Set(this.settings.restApis.map((a) => a.restApiId))) {
      Validations.of(this.containFunction.role!).acknowledge({
        id: DEPLOYMENTS_FINDING.replace('<restApiId>', apiId),
        reason: NAG_ACKNOWLEDGEMENTS[DEPLOYMENTS_FINDING],
      });
    }
    const guard = this.deployGuardFunction;
    if (guard) {
      ack(guard, 'AwsSolutions-L1');
      ack(guard.role, 'AwsSolutions-IAM5[Resource::*]');
      if (this.settings.existingWebAcl && this.settings.restApis.length > 0) ack(guard.role, ANY_WEB_ACL_FINDING);
      for (const name of this.preflightLogGroups) {
        Validations.of(guard.role!).acknowledge({
          id: LOG_GROUP_FINDING.replace('<logGroupName>', name),
          reason: NAG_ACKNOWLEDGEMENTS[LOG_GROUP_FINDING],
        });
      }
    }
  }
}

/** The IAM5 finding for the guard's read of whichever web ACL a stage has. */
const ANY_WEB_ACL_FINDING =
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:wafv2:<AWS::Region>:<AWS::AccountId>:regional/webacl/*/*]';

/** The IAM5 finding for the guard's DescribeSubscriptionFilters on one log group (`<logGroupName>` stands for its name). */
const LOG_GROUP_FINDING =
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<logGroupName>:*]';

/** The IAM5 finding for GetDeployment on one protected API (`<restApiId>` stands for the API's id). */
const DEPLOYMENTS_FINDING =
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/restapis/<restApiId>/deployments/*]';

/** The IAM5 finding for contain's GetApiKey and UpdateApiKey on the account's API keys (config.apiKeys.enabled). */
const API_KEYS_FINDING = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*]';

/** The IAM5 finding for detect's object actions on the state bucket (`StateBucket` stands for its logical id). */
const STATE_BUCKET_OBJECTS_FINDING = 'AwsSolutions-IAM5[Resource::<StateBucket.Arn>/*]';

/** Every cdk-nag finding the construct acknowledges, and why. */
export const NAG_ACKNOWLEDGEMENTS = {
  'AwsSolutions-KDS3':
    "The streams use cordon's customer-managed key rather than aws/kinesis on purpose: its key policy and grants " +
    'limit who can read access logs (IPs, user ARNs) to the cordon functions and the CloudWatch Logs role.',
  'AwsSolutions-L1':
    'cordon pins nodejs22.x (Active LTS, what the bundles target and CI tests); moving to a newer runtime is a ' +
    'deliberate, tested change, not an automatic one.',
  'AwsSolutions-IAM5[Resource::*]':
    'Only actions without resource-level permissions: xray:PutTraceSegments and xray:PutTelemetryRecords (active ' +
    'tracing) and, for contain, dynamodb:ListStreams (the ledger stream event source mapping). Every other ' +
    "statement names cordon's own streams, tables, queue, topic, IP sets, APIs, stages, log groups or secret.",
  'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]':
    "Scoped to cordon's own KMS key: Kinesis, SQS, SNS and DynamoDB server-side encryption call GenerateDataKey " +
    'and GenerateDataKeyWithoutPlaintext on behalf of the function (CDK grant).',
  'AwsSolutions-IAM5[Action::kms:ReEncrypt*]':
    "Scoped to cordon's own KMS key (CDK's encrypt/decrypt grant for the encrypted streams, tables and queues).",
  [API_KEYS_FINDING]:
    'GET and PATCH of API keys (GetApiKey, UpdateApiKey of /enabled), only with config.apiKeys.enabled: the keys contain ' +
    'disables are found in the access logs, so their ids are not known at deploy time; it never creates, lists, ' +
    'deletes or tags keys, and re-enables only the keys it disabled itself (as does the teardown, on removal).',
  [DEPLOYMENTS_FINDING]:
    'GetDeployment on the protected REST API only: deployment ids are generated by API Gateway, so the ARN ends in ' +
    'deployments/*; contain (and the teardown, on removal) reads the deployment its stage serves to know whether its ' +
    'policy is live.',
  [ANY_WEB_ACL_FINDING]:
    'Read only (wafv2:GetWebACLForResource, wafv2:GetWebACL) for the deploy-time check: the web ACL a protected stage ' +
    'already has belongs to someone else and its ARN is not known in advance; GetWebACLForResource checks GetWebACL on ' +
    'it. The check only reads it, to stop the deploy instead of replacing it. contain reads it too, for the stages that ' +
    "keep their own web ACL: whether it references cordon's rule group (else their address blocks are not enforced).",
  [LOG_GROUP_FINDING]:
    "logs:DescribeSubscriptionFilters only, on one subscribed log group, in both spellings of its ARN (CloudWatch Logs " +
    "authorizes log-group actions against 'log-group:<name>:*'): the deploy-time check counts the group's filters.",
  [STATE_BUCKET_OBJECTS_FINDING]:
    "Object keys of cordon's own state bucket only (s3:GetObject, s3:PutObject, s3:DeleteObject for detect): " +
    'detect names its objects at run time (one per window chunk and per shard baseline), so the ARN ends in /*.',
  'AwsSolutions-S1':
    "The state bucket holds internal state written only by cordon's functions (detect; contain, the deny list); " +
    'server access logs would add a log object per request to a bucket written several times a minute.',
  'AwsSolutions-SQS3':
    'This queue is itself a dead-letter queue: the on-failure destination of a stream event source mapping (or of ' +
    "notify-slack's async invocations), which cdk-nag does not recognise. Its depth has an alarm.",
} as const;

interface ManagedStage {
  api: { restApiId: string; stageName: string };
  logGroupName: string;
  /** The group, when cordon created it. */
  created?: logs.LogGroup;
}

/** A REST API's ARN, or one of its sub-resources' (`path`). */
function restApiArn(apiId: string, path = ''): string {
  return `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${apiId}${path}`;
}

/**
 * What contain (and the teardown, releasing) may do to the protected APIs of `apis`: the policy of each API, its
 * redeploy, reading its stages and methods, and denies on endpoint changes. None without APIs.
 */
function apiReleaseStatements(apis: readonly { restApiId: string; stageName: string }[]): iam.PolicyStatement[] {
  if (apis.length === 0) return [];
  const apiIds = [...new Set(apis.map((a) => a.restApiId))];
  // GetRestApi, and UpdateRestApi (PATCH /restapis/<id>, op replace /policy), which for a policy change also needs the
  // permission-only UpdateRestApiPolicy. The RestApi resource, arn:…:apigateway:<region>::/restapis/<id>, is the
  // narrowest the Service Authorization Reference documents for both: a resource policy has no ARN of its own. The ARN
  // names the API itself, not its children (stages, resources, methods have ARNs below it).
  const statements = [new iam.PolicyStatement({ sid: 'ProtectedRestApisPolicy',
    actions: ['apigateway:GET', 'apigateway:PATCH', 'apigateway:UpdateRestApiPolicy'], resources: apiIds.map((a) => restApiArn(a)) })];
  // PATCH on the RestApi could change more than its policy. Deny the changes that would take an API off the air or
  // change who can reach it: its endpoint type and its default execute-api endpoint. The request keys are set only when
  // a request changes that property (API Gateway Developer Guide, identity-based policy examples: "a call to update an
  // API that doesn't have the DisableExecuteApiEndpoint condition key populated"), so a policy-only PATCH is unaffected.
  for (const [sid, key] of [
    ['NoEndpointTypeChange', 'apigateway:Request/EndpointType'],
    ['NoExecuteApiEndpointChange', 'apigateway:Request/DisableExecuteApiEndpoint'],
  ] as const) {
    statements.push(new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, actions: ['apigateway:PATCH'],
      resources: apiIds.map((a) => restApiArn(a)), conditions: { Null: { [key]: 'false' } } }));
  }
  // CreateDeployment of the stage after a policy change.
  statements.push(new iam.PolicyStatement({ sid: 'ProtectedRestApisRedeploy', actions: ['apigateway:POST'],
    resources: apiIds.map((a) => restApiArn(a, '/deployments')) }));
  // GetStage, then GetDeployment of the deployment the stage serves (is cordon's policy deployed yet?). Deployment ids
  // are generated, hence deployments/* under each protected API. GetResources (with embedded methods) and GetStages tell
  // each method's authorization type and the API's stages, so the policy edit follows AWS's evaluation table for that
  // API (render/resource-policy.ts): both are GETs of those paths.
  statements.push(new iam.PolicyStatement({ sid: 'ProtectedStagesRead', actions: ['apigateway:GET'], resources: [
    ...apis.map((a) => restApiArn(a.restApiId, `/stages/${a.stageName}`)),
    ...apiIds.flatMap((a) => [restApiArn(a, '/resources'), restApiArn(a, '/stages')]),
    ...apiIds.map((a) => restApiArn(a, '/deployments/*')),
  ] }));
  return statements;
}

/** Characters an ARN of an API takes at most once resolved (the longest partition and region names), and a margin. */
const RELEASE_POLICY_BUDGET = 4_500;
const arnChars = (apiId: string, path: string) => `arn:aws-iso-b:apigateway:ap-southeast-5::/restapis/${apiId}${path}`.length + 3;

/**
 * The statements of the managed copies of the release permissions, in groups that each stay under IAM's 6,144
 * characters: the stages split by their ARNs' length (a group names the API of each of its stages), the deny list and
 * key record with the first. Empty when there is nothing but IP sets to release.
 */
function releasePolicyGroups(apis: readonly { restApiId: string; stageName: string }[], others: iam.PolicyStatement[]): iam.PolicyStatement[][] {
  const groups: { restApiId: string; stageName: string }[][] = [];
  let group: { restApiId: string; stageName: string }[] = [];
  let inGroup = new Set<string>();
  let chars = 0;
  for (const stage of apis) {
    // A stage's ARN, and its API's the first time the group names it: itself thrice (policy, two denies),
    // deployments, deployments/*, resources and stages.
    const apiId = stage.restApiId;
    const need = () => arnChars(apiId, `/stages/${stage.stageName}`) + (inGroup.has(apiId) ? 0 : 3 * arnChars(apiId, '') + 4 * arnChars(apiId, '/deployments/*'));
    if (group.length > 0 && chars + need() > RELEASE_POLICY_BUDGET) {
      groups.push(group);
      group = [];
      inGroup = new Set();
      chars = 0;
    }
    chars += need();
    group.push(stage);
    inGroup.add(apiId);
  }
  if (group.length > 0) groups.push(group);
  const statements = groups.map((g) => apiReleaseStatements(g));
  if (others.length > 0) {
    if (statements.length === 0) statements.push([]);
    statements[0].push(...others.map((st) => st.copy()));
  }
  return statements;
}
