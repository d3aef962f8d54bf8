import { ArnFormat, Aws, CfnOutput, CfnResource, Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { RECOMMENDED_ACCESS_LOG_FORMAT } from './access-log-format.ts';
import { CordonFunction, dropRedundantRoleDependency } from './cordon-function.ts';
import { resolveCordonProps, type CordonProps, type ResolvedCordonProps } from './props.ts';
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

/** WCUs reserved by the rule group in attach mode: fixed, because changing a rule group's capacity replaces it. */
export const RULE_GROUP_CAPACITY = 50;

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
  readonly topic: sns.Topic;
  readonly ingestFunction: CordonFunction;
  readonly detectFunction: CordonFunction;
  readonly containFunction: CordonFunction;
  readonly notifySlackFunction?: CordonFunction;
  readonly ipSetsV4: wafv2.CfnIPSet[];
  readonly ipSetsV6: wafv2.CfnIPSet[];
  /** Created unless `existingWebAclArn` is given. */
  readonly webAcl?: wafv2.CfnWebACL;
  /** Created when `existingWebAclArn` is given: add a reference to it to that web ACL. */
  readonly ruleGroup?: wafv2.CfnRuleGroup;
  /** Every alarm (infra/observability.ts), each reporting to the alert topic. */
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;
  /** Every log group subscribed to the access-logs stream. */
  readonly subscribedLogGroups: string[];

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
    // CloudWatch alarms publish to the encrypted alert topic: the key must let CloudWatch use it for that.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    // ---------------------------------------------------------------- streams
    const streamProps: kinesis.StreamProps = {
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: this.key,
      retentionPeriod: STREAM_RETENTION,
      ...(p.shards === 'on-demand'
        ? { streamMode: kinesis.StreamMode.ON_DEMAND }
        : { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: p.shards }),
    };
    this.accessLogStream = new kinesis.Stream(this, 'AccessLogs', streamProps);
    this.summariesStream = new kinesis.Stream(this, 'Summaries', streamProps);

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

    // ---------------------------------------------------------------- state bucket (detect's bulk state)
    // Written only by detect. No versioning: conditional writes go by ETag, and old versions would only pile up.
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
    const rules = [...this.ipSetsV4.map((s, i) => ['v4', s, i] as const), ...this.ipSetsV6.map((s, i) => ['v6', s, i] as const)].map(
      ([family, set, i], priority): wafv2.CfnWebACL.RuleProperty & wafv2.CfnRuleGroup.RuleProperty => ({
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
    const stageArn = (api: { restApiId: string; stageName: string }) =>
      `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${api.restApiId}/stages/${api.stageName}`;

    if (!p.existingWebAclArn) {
      this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
        name: namePrefix,
        description: 'cordon blocks the addresses in its IP sets',
        scope: 'REGIONAL',
        defaultAction: { allow: {} },
        rules,
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${namePrefix}-webacl`, sampledRequestsEnabled: true },
      });
      // AssociateWebACL is limited to one call every 2 s: chain the associations so CloudFormation makes them in turn.
      let previous: wafv2.CfnWebACLAssociation | undefined;
      p.restApis.forEach((api, i) => {
        const assoc = new wafv2.CfnWebACLAssociation(this, `WebAclAssociation${i}`, {
          resourceArn: stageArn(api),
          webAclArn: this.webAcl!.attrArn,
        });
        if (previous) assoc.node.addDependency(previous);
        previous = assoc;
      });
      new CfnOutput(this, 'WebAclArn', { value: this.webAcl.attrArn, description: 'cordon web ACL (associated with the protected stages)' });
    } else {
      this.ruleGroup = new wafv2.CfnRuleGroup(this, 'RuleGroup', {
        name: namePrefix,
        description: 'cordon blocks the addresses in its IP sets. Reference it from your web ACL',
        scope: 'REGIONAL',
        capacity: RULE_GROUP_CAPACITY,
        rules,
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${namePrefix}-rules`, sampledRequestsEnabled: true },
      });
      new CfnOutput(this, 'RuleGroupArn', { value: this.ruleGroup.attrArn, description: 'cordon rule group' });
      new CfnOutput(this, 'WebAclRuleToAdd', {
        description: `Add this rule to ${p.existingWebAclArn} (first, or before any allow rule); CloudFormation cannot change a web ACL this stack does not own`,
        value: stack.toJsonString({
          Name: 'cordon',
          Priority: 0,
          Statement: { RuleGroupReferenceStatement: { ARN: this.ruleGroup.attrArn } },
          OverrideAction: { None: {} },
          VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'cordon' },
        }),
      });
    }
    new CfnOutput(this, 'IpSetArns', {
      description: 'cordon IP sets (v4 then v6); only the contain function writes them',
      value: stack.toJsonString([...this.ipSetsV4, ...this.ipSetsV6].map((s) => s.attrArn)),
    });

    // ---------------------------------------------------------------- functions
    const common: Record<string, string> = p.rawConfig === undefined ? {} : { CORDON_CONFIG: JSON.stringify(p.rawConfig) };
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
      env: { SUMMARIES_STREAM_NAME: this.summariesStream.streamName },
      timeout: Duration.minutes(2),
      memorySize: 1024,
    });
    this.detectFunction = fn('Detect', 'detect', {
      description: 'cordon detect: summaries → windows → scores → ledger',
      env: {
        STATE_TABLE: this.stateTable.tableName,
        LEDGER_TABLE: this.ledgerTable.tableName,
        STATE_BUCKET: this.stateBucket.bucketName,
      },
      timeout: Duration.minutes(2),
      memorySize: 1024,
    });
    const ipSetEnv = (sets: wafv2.CfnIPSet[]) => stack.toJsonString(sets.map((s) => ({ name: s.name, id: s.attrId })));
    this.containFunction = fn('Contain', 'contain', {
      description: 'cordon contain: ledger → WAF IP sets, resource policies, alerts (single writer)',
      env: {
        STATE_TABLE: this.stateTable.tableName,
        LEDGER_TABLE: this.ledgerTable.tableName,
        WAF_SCOPE: 'REGIONAL',
        IPSETS_V4: ipSetEnv(this.ipSetsV4),
        IPSETS_V6: ipSetEnv(this.ipSetsV6),
        REST_APIS: JSON.stringify(p.restApis.map((a) => ({ restApiId: a.restApiId, stageName: a.stageName }))),
        ALERT_TOPIC_ARN: this.topic.topicArn,
        DRY_RUN: String(p.dryRun),
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
      new sources.KinesisEventSource(this.accessLogStream, kinesisConsumerProps(CONSUMER_TUNING.ingest, ingestFailures.destination)),
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
    new events.Rule(this, 'DetectSchedule', {
      description: 'cordon: clock tick for detect every minute (closes windows whose time is up without new data)',
      schedule: events.Schedule.rate(TICK),
      targets: [new targets.LambdaFunction(this.detectFunction, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    // ---------------------------------------------------------------- permissions (each function: its own resources)
    this.summariesStream.grantWrite(this.ingestFunction);
    this.stateTable.grantReadWriteData(this.detectFunction);
    this.ledgerTable.grantReadWriteData(this.detectFunction);
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
    this.stateTable.grantReadWriteData(this.containFunction);
    this.ledgerTable.grantReadWriteData(this.containFunction);
    this.topic.grantPublish(this.containFunction);
    this.containFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'CordonIpSetsOnly',
        actions: ['wafv2:GetIPSet', 'wafv2:UpdateIPSet'],
        resources: [...this.ipSetsV4, ...this.ipSetsV6].map((s) => s.attrArn),
      }),
    );
    if (p.restApis.length > 0) {
      const apiIds = [...new Set(p.restApis.map((a) => a.restApiId))];
      const restApiArn = (apiId: string, path = '') => `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${apiId}${path}`;
      this.containFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ProtectedRestApisPolicy',
          // GetRestApi, UpdateRestApi (PATCH); changing the policy needs UpdateRestApiPolicy as well as PATCH.
          actions: ['apigateway:GET', 'apigateway:PATCH', 'apigateway:UpdateRestApiPolicy'],
          resources: apiIds.map((a) => restApiArn(a)),
        }),
      );
      this.containFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ProtectedRestApisRedeploy',
          // CreateDeployment of the stage after a policy change.
          actions: ['apigateway:POST'],
          resources: apiIds.map((a) => restApiArn(a, '/deployments')),
        }),
      );
      this.containFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ProtectedStagesRead',
          // GetStage, then GetDeployment of the deployment the stage serves (is cordon's policy deployed yet?).
          // Deployment ids are generated, hence deployments/* under each protected API.
          actions: ['apigateway:GET'],
          resources: [
            ...p.restApis.map((a) => restApiArn(a.restApiId, `/stages/${a.stageName}`)),
            ...apiIds.map((a) => restApiArn(a, '/deployments/*')),
          ],
        }),
      );
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
        name = `/aws/apigateway/cordon/${api.restApiId}/${api.stageName}`;
        created = new logs.LogGroup(this, `AccessLogGroup${i}`, {
          logGroupName: name,
          retention: p.logRetentionDays as logs.RetentionDays,
          // The stage keeps writing here after cordon is removed; deleting it would lose the API's access logs.
          removalPolicy: RemovalPolicy.RETAIN,
        });
      }
      logGroups.set(name, logGroups.get(name) ?? created);
      if (p.manageAccessLogFormat) managedStages.push({ api, logGroupName: name, created });
    });
    for (const name of p.logGroupNames) if (!logGroups.has(name)) logGroups.set(name, undefined);
    this.subscribedLogGroups = [...logGroups.keys()];

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
    [...logGroups].forEach(([logGroupName, created], i) => {
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
      // the stream when the filter is created.)
      if (created) filter.node.addDependency(created);
    });

    if (managedStages.length > 0) this.manageAccessLogFormat(managedStages, p.logRetentionDays);

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
   * Sets the recommended access-log format and destination on stages CloudFormation does not own, with an
   * UpdateStage call made by a custom resource on create and update. Nothing is undone on delete: the stage keeps
   * logging to the retained group. API Gateway needs its account-level CloudWatch Logs role set once per region.
   */
  private manageAccessLogFormat(stages: ManagedStage[], retentionDays: number): void {
    const stack = Stack.of(this);
    const role = new iam.Role(this, 'AccessLogFormatRole', {
      description: 'cordon: sets the recommended access-log format on the protected stages',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    const crLogs = new logs.LogGroup(this, 'AccessLogFormatLogs', { retention: retentionDays as logs.RetentionDays });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [crLogs.logGroupArn] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['apigateway:PATCH'],
        resources: stages.map(
          ({ api }) => `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${api.restApiId}/stages/${api.stageName}`,
        ),
      }),
    );
    stages.forEach(({ api, logGroupName, created }, i) => {
      // API Gateway wants the group's ARN without the trailing `:*` that LogGroup.logGroupArn carries.
      const destinationArn = stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: logGroupName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      const call: cr.AwsSdkCall = {
        service: 'APIGateway',
        action: 'updateStage',
        parameters: {
          restApiId: api.restApiId,
          stageName: api.stageName,
          patchOperations: [
            { op: 'replace', path: '/accessLogSettings/destinationArn', value: destinationArn },
            { op: 'replace', path: '/accessLogSettings/format', value: RECOMMENDED_ACCESS_LOG_FORMAT },
          ],
        },
        physicalResourceId: cr.PhysicalResourceId.of(`${api.restApiId}/${api.stageName}/access-log-format`),
      };
      const res = new cr.AwsCustomResource(this, `AccessLogFormat${i}`, {
        onCreate: call,
        onUpdate: call,
        role,
        logGroup: crLogs,
        installLatestAwsSdk: false,
        timeout: Duration.minutes(2),
      });
      if (created) res.node.addDependency(created);
    });
    // The provider function AwsCustomResource shares across the stack.
    const provider = stack.node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER_ID)?.node.defaultChild;
    if (provider instanceof CfnResource) dropRedundantRoleDependency(provider, role.node.defaultChild as CfnResource);
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
    for (const apiId of new Set(this.settings.restApis.map((a) => a.restApiId))) {
      Validations.of(this.containFunction.role!).acknowledge({
        id: DEPLOYMENTS_FINDING.replace('<restApiId>', apiId),
        reason: NAG_ACKNOWLEDGEMENTS[DEPLOYMENTS_FINDING],
      });
    }
  }
}

/** Construct id of the singleton function behind every AwsCustomResource (`AWS` + its fixed UUID). */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

/** The IAM5 finding for GetDeployment on one protected API (`<restApiId>` stands for the API's id). */
const DEPLOYMENTS_FINDING =
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/restapis/<restApiId>/deployments/*]';

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
    "statement names cordon's own streams, tables, queue, topic, IP sets, APIs or secret.",
  'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]':
    "Scoped to cordon's own KMS key: Kinesis, SQS, SNS and DynamoDB server-side encryption call GenerateDataKey " +
    'and GenerateDataKeyWithoutPlaintext on behalf of the function (CDK grant).',
  'AwsSolutions-IAM5[Action::kms:ReEncrypt*]':
    "Scoped to cordon's own KMS key (CDK's encrypt/decrypt grant for the encrypted streams, tables and queues).",
  [DEPLOYMENTS_FINDING]:
    'GetDeployment on the protected REST API only: deployment ids are generated by API Gateway, so the ARN ends in ' +
    'deployments/*; contain reads the deployment its stage serves to know whether its policy is live.',
  [STATE_BUCKET_OBJECTS_FINDING]:
    "Object keys of cordon's own state bucket only (s3:GetObject, s3:PutObject, s3:DeleteObject for detect): " +
    'detect names its objects at run time (one per window chunk and per shard baseline), so the ARN ends in /*.',
  'AwsSolutions-S1':
    "The state bucket holds internal state written only by cordon's detect function; server access logs would " +
    'add a log object per request to a bucket written several times a minute.',
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
