import type { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { S3Client } from '@aws-sdk/client-s3';
import type { WAFV2Client } from '@aws-sdk/client-wafv2';
import { ApiGatewayApiKeyAdapter, S3ApiKeyRecord } from '../adapters/aws/api-keys.ts';
import { ApiGatewayPolicyAdapter } from '../adapters/aws/apigateway.ts';
import { S3DenyList } from '../adapters/aws/deny-list.ts';
import { awsErrorName, type Sleep } from '../adapters/aws/retry.ts';
import { sharedWafWritePacer, WafIpSetAdapter } from '../adapters/aws/wafv2.ts';
import { WritePacer } from '../adapters/aws/write-pacer.ts';
import type { TeardownDeps } from '../engine/teardown.ts';
import type { TeardownWiring } from './teardown-props.ts';

/**
 * The AWS adapters contain uses, each told nothing is desired: one WAF adapter per IP set (a set that fails is its
 * own failure), one policy adapter per protected stage (sharing the account's CreateDeployment pacing), the deny list,
 * and the API-key adapter over cordon's record.
 */
export function buildTeardownDeps(
  w: TeardownWiring,
  clients: { waf: WAFV2Client; apigateway: APIGatewayClient; s3: S3Client },
  /** Clock and sleep of every pacer and backoff (tests); default the real ones. */
  timing?: { now: () => number; sleep: Sleep },
): TeardownDeps {
  const t = timing ? { sleep: timing.sleep } : {};
  // One writer per quota across the per-set adapters: WAF's 1 write/s (without timing, the process-wide pacer), and
  // API Gateway's one CreateDeployment per 5 s per account.
  const wafPacer = timing ? new WritePacer(1_000, timing.now, timing.sleep) : sharedWafWritePacer;
  const deployPacer = new WritePacer(5_000, timing?.now, timing?.sleep);
  return {
    ipSets: w.ipSets.map((s) => ({
      name: s.name,
      port: new WafIpSetAdapter(clients.waf, {
        sets: s.family === 'v4' ? { v4: [{ name: s.name, id: s.id }], v6: [] } : { v4: [], v6: [{ name: s.name, id: s.id }] },
        scope: w.wafScope,
        pacer: wafPacer,
        ...t,
      }),
    })),
    policies: w.restApis.map((a) => new ApiGatewayPolicyAdapter(clients.apigateway, { ...a, deployPacer, ...t, ...(timing ? { now: timing.now } : {}) })),
    ...(w.denyList ? { denyList: new S3DenyList(clients.s3, { ...w.denyList, ...(timing ? { clock: timing.now, backoff: t } : {}) }) } : {}),
    ...(w.apiKeyRecord
      ? { apiKeys: new ApiGatewayApiKeyAdapter(clients.apigateway, {
        record: new S3ApiKeyRecord(clients.s3, { ...w.apiKeyRecord, ...(timing ? { clock: timing.now, backoff: t } : {}) }),
        ...(timing ? { pacer: new WritePacer(200, timing.now, timing.sleep), clock: timing.now, backoff: t } : {}),
      }) }
      : {}),
    isGone: isGoneError,
  };
}

/**
 * The target is not there any more: a REST API or stage deleted (NotFoundException), an IP set deleted
 * (WAFNonexistentItemException). The adapters throw these as they are or wrapped with the AWS error as `cause`.
 */
export function isGoneError(err: unknown): boolean {
  const names = [awsErrorName(err), awsErrorName((err as { cause?: unknown } | null)?.cause)];
  return names.some((n) => n === 'NotFoundException' || n === 'WAFNonexistentItemException');
}
