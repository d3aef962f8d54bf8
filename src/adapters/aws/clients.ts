import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AdapterConfigError } from './errors.ts';

/**
 * Module-scope SDK clients, created once per process (Lambda cold start) and handed to the adapters.
 *
 * - Region: `AWS_REGION` (set by Lambda) or `AWS_DEFAULT_REGION`; missing → {@link AdapterConfigError} on first use.
 * - Endpoint: the SDK's own `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` (how emulators are reached); nothing
 *   special here.
 * - Retries: SDK standard mode. `AWS_MAX_ATTEMPTS` overrides the per-service defaults below (DynamoDB gets more
 *   attempts because throttling there is routine under bursts; WAF's own lock retries live in the adapter).
 * - HTTP: every client uses HTTP/1.1 NodeHttpHandler with timeouts; Kinesis must (its client defaults to HTTP/2,
 *   which emulators do not speak).
 */

const DEFAULT_MAX_ATTEMPTS = { dynamodb: 8, kinesis: 5, wafv2: 5, apigateway: 5, sns: 4, s3: 5, cloudformation: 5 } as const;

export function awsRegion(env: NodeJS.ProcessEnv = process.env): string {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new AdapterConfigError('AWS_REGION (or AWS_DEFAULT_REGION) must be set');
  return region;
}

function commonConfig(service: keyof typeof DEFAULT_MAX_ATTEMPTS) {
  return {
    region: awsRegion(),
    // undefined lets the SDK read AWS_MAX_ATTEMPTS itself
    maxAttempts: process.env.AWS_MAX_ATTEMPTS ? undefined : DEFAULT_MAX_ATTEMPTS[service],
    requestHandler: new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 30_000 }),
  };
}

let dynamo: DynamoDBClient | undefined;
let kinesis: KinesisClient | undefined;
let waf: WAFV2Client | undefined;
let apigw: APIGatewayClient | undefined;
let sns: SNSClient | undefined;
let s3: S3Client | undefined;
let cloudFormation: CloudFormationClient | undefined;

export function dynamoClient(): DynamoDBClient {
  return (dynamo ??= new DynamoDBClient(commonConfig('dynamodb')));
}

export function kinesisClient(): KinesisClient {
  return (kinesis ??= new KinesisClient(commonConfig('kinesis')));
}

export function wafClient(): WAFV2Client {
  return (waf ??= new WAFV2Client(commonConfig('wafv2')));
}

export function apiGatewayClient(): APIGatewayClient {
  return (apigw ??= new APIGatewayClient(commonConfig('apigateway')));
}

export function snsClient(): SNSClient {
  return (sns ??= new SNSClient(commonConfig('sns')));
}

export function cloudFormationClient(): CloudFormationClient {
  return (cloudFormation ??= new CloudFormationClient(commonConfig('cloudformation')));
}

/**
 * S3 addressed by path (`endpoint/bucket/key`) when an endpoint is configured: emulators and S3-compatible
 * endpoints do not resolve `bucket.endpoint` host names. On AWS's own endpoints the SDK's default applies.
 */
export function s3Client(): S3Client {
  const custom = Boolean(process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL);
  return (s3 ??= new S3Client({ ...commonConfig('s3'), forcePathStyle: custom || undefined }));
}

/** Closes every client's sockets (end of a CLI run); the next call creates fresh ones. */
export function destroyClients(): void {
  for (const c of [dynamo, kinesis, waf, apigw, sns, s3, cloudFormation]) c?.destroy();
  dynamo = kinesis = undefined;
  waf = undefined;
  apigw = undefined;
  sns = undefined;
  s3 = undefined;
  cloudFormation = undefined;
}
