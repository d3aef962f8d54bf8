import { ApiGatewayPolicyAdapter } from '../adapters/aws/apigateway.ts';
import { apiGatewayClient, dynamoClient, kinesisClient, snsClient, wafClient } from '../adapters/aws/clients.ts';
import { DynamoBaselineStore, DynamoLedgerStore } from '../adapters/aws/dynamodb.ts';
import { KinesisRecordPutter } from '../adapters/aws/kinesis.ts';
import { SnsAlertAdapter } from '../adapters/aws/sns.ts';
import { WafIpSetAdapter } from '../adapters/aws/wafv2.ts';
import { DynamoWindowStore } from '../adapters/aws/window-store.ts';
import type { CordonConfig } from '../config.ts';
import type { ContainDeps, DetectDeps, IngestDeps } from './stages.ts';

/**
 * Wiring of the stages to the AWS adapters, from the validated environment the Lambda entries parse at cold start.
 * Clients are module-scope singletons (clients.ts), so a warm Lambda reuses its connections.
 */

interface Common {
  config: CordonConfig;
}

export function buildIngestDeps(env: Common & { summariesStreamName: string }): IngestDeps {
  return { config: env.config, putter: new KinesisRecordPutter(kinesisClient(), env.summariesStreamName) };
}

export function buildDetectDeps(env: Common & { stateTable: string; ledgerTable: string }): DetectDeps {
  const db = dynamoClient();
  return {
    config: env.config,
    windows: new DynamoWindowStore(db, env.stateTable),
    baselines: new DynamoBaselineStore(db, env.stateTable),
    ledger: new DynamoLedgerStore(db, env.ledgerTable),
  };
}

export function buildContainDeps(env: Common & {
  ledgerTable: string;
  wafScope: 'REGIONAL' | 'CLOUDFRONT';
  ipSets: { v4: { name: string; id: string }[]; v6: { name: string; id: string }[] };
  restApis: { restApiId: string; stageName: string }[];
  alertTopicArn: string;
  dryRun: boolean;
}): ContainDeps {
  return {
    config: { ...env.config, dryRun: env.config.dryRun || env.dryRun },
    ledger: new DynamoLedgerStore(dynamoClient(), env.ledgerTable),
    ipSets: new WafIpSetAdapter(wafClient(), { sets: env.ipSets, scope: env.wafScope, addressesPerSet: env.config.caps.addressesPerIpSet }),
    policies: env.restApis.map((api) => new ApiGatewayPolicyAdapter(apiGatewayClient(), { ...api, maxChars: env.config.caps.policyMaxChars })),
    alerts: new SnsAlertAdapter(snsClient(), env.alertTopicArn),
  };
}
