import { ApiGatewayApiKeyAdapter, S3ApiKeyRecord } from '../adapters/aws/api-keys.ts';
import { ApiGatewayPolicyAdapter } from '../adapters/aws/apigateway.ts';
import { apiGatewayClient, dynamoClient, kinesisClient, s3Client, snsClient, wafClient } from '../adapters/aws/clients.ts';
import { S3DenyList } from '../adapters/aws/deny-list.ts';
import { DynamoLedgerStore } from '../adapters/aws/dynamodb.ts';
import { KinesisRecordPutter } from '../adapters/aws/kinesis.ts';
import { S3BlobStore } from '../adapters/aws/s3.ts';
import { SnsAlertAdapter } from '../adapters/aws/sns.ts';
import { WafIpSetAdapter } from '../adapters/aws/wafv2.ts';
import { type CheckedStage, WafWebAclReferenceCheck } from '../adapters/aws/web-acl-reference.ts';
import { WritePacer } from '../adapters/aws/write-pacer.ts';
import { DynamoWindowStore } from '../adapters/aws/window-store.ts';
import type { CordonConfig } from '../config.ts';
import { SnapshotBaselineStore, baselineBudget } from './snapshot-baseline-store.ts';
import type { ContainDeps } from '../engine/contain.ts';
import type { DetectDeps } from '../engine/detect.ts';
import { statePlaceOf, type IngestDeps } from '../engine/ingest.ts';
import { EncodedPartStore } from '../engine/part-store.ts';
import type { Logger, Metrics } from '../engine/observe.ts';
import { type SummaryWireLevel, writerOptions } from '../engine/wire.ts';
import { AgreedWireLevel, HIGHEST_LEVEL, WireAnnouncer } from '../engine/wire-handshake.ts';
import { DynamoWireNoticeBoard } from '../adapters/aws/wire-notice.ts';

/**
 * Wiring of the stages to the AWS adapters, from the validated environment the Lambda entries parse at cold start.
 * Clients are module-scope singletons (clients.ts), so a warm Lambda reuses its connections.
 */

interface Common {
  config: CordonConfig;
}

/** What each stage's wiring needs from the environment (functions/env.ts parses and validates it). */
export interface IngestWiring {
  summariesStreamName: string;
  /**
   * What ingest writes (writerOptions): 2, parts without prefixes, which detect derives; 3, those in brotli records;
   * 4, those with short distinct hashes and rounded sums; 'auto', the level every running detect reads (its notice in
   * `stateTable`).
   */
  summaryWireLevel: SummaryWireLevel | 'auto';
  /** The state table, where detect keeps the wire level notice (required with 'auto'). */
  stateTable?: string;
  /** Summary partitions (IngestDeps.buckets): enough for every shard of the summaries stream (summaryBucketsFor). */
  summaryPartitions: number;
  /** The summaries stream's provisioned shards (IngestDeps.summaryShards); unset for on-demand. */
  summaryShards?: number;
}

export interface DetectWiring {
  stateTable: string;
  /** Bulk state (window chunks under `win/`, baseline snapshots under `base/`). */
  stateBucket: string;
  ledgerTable: string;
  /** The function's memory (MB): bounds the baseline cache (baselineBudget). Default 1,024, the construct's. */
  memoryMb?: number;
  /** Ingest's batching window, seconds (DetectDeps.ingestBatchingWindowSeconds). */
  ingestBatchingWindowSeconds?: number;
}

export interface ContainWiring {
  ledgerTable: string;
  wafScope: 'REGIONAL' | 'CLOUDFRONT';
  ipSets: { v4: { name: string; id: string }[]; v6: { name: string; id: string }[] };
  /** The route IP sets its login-route rule references (set when `config.waf.routeScoped.enabled`). */
  routeIpSets?: { v4: { name: string; id: string }[]; v6: { name: string; id: string }[] };
  /** `waf`: the stage is behind cordon's web ACL (its policy then names principals only). */
  restApis: { restApiId: string; stageName: string; waf?: boolean }[];
  alertTopicArn: string;
  /** DRY_RUN, ORed with the config's own dryRun. */
  dryRun: boolean;
  /** The deny-list object authorizers read (set when `config.denyList.enabled`). */
  denyList?: { bucket: string; key: string };
  /** cordon's record of the API keys it disabled (set when `config.apiKeys.enabled`). */
  apiKeyRecord?: { bucket: string; key: string };
  /**
   * The stages that keep a web ACL of their own, whose web ACL must reference cordon's rule group (set when there are
   * such stages: `existingWebAclArn`, or `existingWebAcl: 'use-rule-group'`).
   */
  ruleGroupCheck?: { ruleGroupArn: string; stages: CheckedStage[] };
}

/** What a stage's wiring reports through (the entry's Powertools Logger and Metrics). */
export interface Observers {
  log?: Logger;
  metrics?: Metrics;
}

export function buildIngestDeps(env: Common & IngestWiring, obs: Observers = {}): IngestDeps {
  const level = env.summaryWireLevel === 'auto'
    ? { wireLevel: new AgreedWireLevel(new DynamoWireNoticeBoard(dynamoClient(), requiredTable(env.stateTable)), HIGHEST_LEVEL, obs.log, obs.metrics) }
    : writerOptions(env.summaryWireLevel);
  return { config: env.config, putter: new KinesisRecordPutter(kinesisClient(), env.summariesStreamName),
    ...level, buckets: env.summaryPartitions, summaryShards: env.summaryShards, ...obs };
}

function requiredTable(name: string | undefined): string {
  if (!name) throw new Error("summaryWireLevel 'auto' needs the state table (STATE_TABLE)");
  return name;
}

/**
 * Detect keeps small items (open-window index, watermark) in DynamoDB and bulk state in S3: window-part chunks
 * over a few KB, and each summaries shard's baselines (a base object and a delta). That split is what the cost model
 * prices (bench/cost.ts).
 */
export function buildDetectDeps(env: Common & DetectWiring, obs: Observers = {}): DetectDeps {
  const db = dynamoClient();
  const blobs = new S3BlobStore(s3Client(), env.stateBucket);
  return {
    config: env.config,
    windows: new EncodedPartStore(new DynamoWindowStore(db, env.stateTable, { bodies: { store: blobs } })),
    baselines: new SnapshotBaselineStore(blobs, { ...baselineBudget(env.memoryMb ?? 1024), placeOf: statePlaceOf(env.config) }),
    ledger: new DynamoLedgerStore(db, env.ledgerTable),
    ingestBatchingWindowSeconds: env.ingestBatchingWindowSeconds,
    // Announced whatever level ingest is told: 'auto' needs it, and a fixed level loses nothing by it.
    wireNotice: new WireAnnouncer(new DynamoWireNoticeBoard(db, env.stateTable), HIGHEST_LEVEL, obs.log, obs.metrics),
    ...obs,
  };
}

/** CreateDeployment: one per 5 s per account (API Gateway quotas, fixed); shared by every API contain updates. */
const sharedDeployPacer = new WritePacer(5_000);

export function buildContainDeps(env: Common & ContainWiring): ContainDeps {
  return {
    config: { ...env.config, dryRun: env.config.dryRun || env.dryRun },
    ledger: new DynamoLedgerStore(dynamoClient(), env.ledgerTable),
    ipSets: new WafIpSetAdapter(wafClient(), { sets: env.ipSets, ...(env.routeIpSets ? { routeSets: env.routeIpSets } : {}), scope: env.wafScope,
      addressesPerSet: env.config.caps.addressesPerIpSet }),
    policies: env.restApis.map(({ waf, ...api }) => new ApiGatewayPolicyAdapter(apiGatewayClient(), { ...api, wafProtected: waf === true,
      maxChars: env.config.caps.policyMaxChars, deployPacer: sharedDeployPacer })),
    alerts: new SnsAlertAdapter(snsClient(), env.alertTopicArn),
    ...(env.ruleGroupCheck && env.ruleGroupCheck.stages.length > 0
      ? { webAcls: new WafWebAclReferenceCheck(wafClient(), env.ruleGroupCheck) } : {}),
    ...(env.config.denyList.enabled && env.denyList ? { denyList: new S3DenyList(s3Client(), env.denyList) } : {}),
    ...(env.config.apiKeys.enabled && env.apiKeyRecord
      ? { apiKeys: new ApiGatewayApiKeyAdapter(apiGatewayClient(), { record: new S3ApiKeyRecord(s3Client(), env.apiKeyRecord) }) }
      : {}),
  };
}
