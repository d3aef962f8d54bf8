import {
  APIGatewayClient,
  GetStageCommand,
  NotFoundException,
  UpdateStageCommand,
  type PatchOperation,
} from '@aws-sdk/client-api-gateway';
import { CloudWatchLogsClient, DescribeSubscriptionFiltersCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { GetWebACLForResourceCommand, WAFNonexistentItemException, WAFV2Client } from '@aws-sdk/client-wafv2';
import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { MAX_REASON_CHARS, sendCfnResponse, withinBudget, type CfnResponse } from '../functions/cfn-response.ts';
import {
  DeployCheckError,
  applyAccessLog,
  accessLogPhysicalId,
  preflight,
  removeAccessLog,
  stageKey,
  ACCESS_LOG_TYPE,
  PREFLIGHT_TYPE,
  type AccessLogProps,
  type AccessLogRequest,
  type GuardAws,
  type PreflightInput,
  type PreflightProps,
  type StageRef,
} from './deploy-guard.ts';

/**
 * The Lambda behind cordon's deploy-time custom resources (infra/deploy-guard.ts has the logic):
 *
 * - `Custom::CordonPreflight`: the checks, before any association, subscription filter or UpdateStage; a failed
 *   check fails the resource with its message, which CloudFormation shows as the reason and rolls back on.
 * - `Custom::CordonAccessLog`: one per stage of `manageAccessLogFormat`; sets the format (and the destination when
 *   the stage has none), and on delete turns off only the logging cordon turned on.
 *
 * It answers CloudFormation itself (a PUT of the response to the pre-signed ResponseURL), so no provider framework
 * function is needed, and it always answers, also on an error or when the invocation is about to time out.
 */

export function preflightInput(props: PreflightProps, old?: PreflightProps): PreflightInput {
  const previous = new Map((old?.AccessLogs ?? []).map((a) => [`${a.RestApiId}/${a.StageName}`, a.DestinationArn]));
  return {
    stages: (props.Stages ?? []).map((s) => ({
      restApiId: s.RestApiId,
      stageName: s.StageName,
      stageArn: s.StageArn,
      existingWebAcl: s.ExistingWebAcl || undefined,
    })),
    ownWebAcl: props.OwnWebAclArn && props.OwnWebAclName ? { arn: props.OwnWebAclArn, name: props.OwnWebAclName } : undefined,
    logGroups: props.LogGroups ?? [],
    filterName: props.FilterName,
    accessLogs: (props.AccessLogs ?? []).map((a) => ({
      restApiId: a.RestApiId,
      stageName: a.StageName,
      destinationArn: a.DestinationArn,
      previousDestinationArn: previous.get(`${a.RestApiId}/${a.StageName}`),
    })),
  };
}

const accessLogRequest = (p: AccessLogProps): AccessLogRequest => ({
  restApiId: p.RestApiId,
  stageName: p.StageName,
  destinationArn: p.DestinationArn,
  format: p.Format,
});

export interface Outcome {
  physicalResourceId: string;
  data?: Record<string, string>;
}

/** Does what the event asks; throws on a failed check or an AWS error. */
export async function handleEvent(event: CloudFormationCustomResourceEvent, aws: GuardAws, log: Pick<Logger, 'info'>): Promise<Outcome> {
  const existingId = event.RequestType === 'Create' ? undefined : event.PhysicalResourceId;
  switch (event.ResourceType) {
    case PREFLIGHT_TYPE: {
      const id = existingId ?? `${event.LogicalResourceId}-preflight`;
      if (event.RequestType === 'Delete') return { physicalResourceId: id };
      const old = event.RequestType === 'Update' ? (event.OldResourceProperties as unknown as PreflightProps) : undefined;
      const input = preflightInput(event.ResourceProperties as unknown as PreflightProps, old);
      const result = await preflight(input, aws);
      log.info('preflight passed', { stages: input.stages.length, logGroups: input.logGroups.length, accessLogs: input.accessLogs.length });
      return {
        physicalResourceId: id,
        data: { RuleGroupTargets: result.ruleGroupTargets.length > 0 ? result.ruleGroupTargets.join('; ') : 'none' },
      };
    }
    case ACCESS_LOG_TYPE: {
      const req = accessLogRequest(event.ResourceProperties as unknown as AccessLogProps);
      if (event.RequestType === 'Delete') {
        const removed = await removeAccessLog(req, aws, event.PhysicalResourceId);
        log.info('access log on delete', { stage: stageKey(req), turnedOff: removed });
        return { physicalResourceId: event.PhysicalResourceId };
      }
      const previous =
        event.RequestType === 'Update'
          ? { req: accessLogRequest(event.OldResourceProperties as unknown as AccessLogProps), physicalId: event.PhysicalResourceId }
          : undefined;
      const ownership = await applyAccessLog(req, aws, previous);
      log.info('access log set', { stage: stageKey(req), ownership });
      return { physicalResourceId: accessLogPhysicalId(req, ownership) };
    }
    default:
      throw new Error(`unknown resource type ${event.ResourceType}`);
  }
}

/** The physical id to report when the request failed: never one that claims cordon changed something. */
export function failedPhysicalId(event: CloudFormationCustomResourceEvent): string {
  if (event.RequestType !== 'Create') return event.PhysicalResourceId;
  return `${event.LogicalResourceId}-failed-${event.RequestId.slice(0, 8)}`;
}

export function responseFor(event: CloudFormationCustomResourceEvent, result: Outcome | Error): CfnResponse {
  const base = { StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId };
  if (result instanceof Error) {
    const reason = result instanceof DeployCheckError ? `cordon deploy check: ${result.message}` : `cordon: ${result.name}: ${result.message}`;
    return {
      ...base,
      Status: 'FAILED',
      Reason: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 40)}… (full text in the function's log)` : reason,
      PhysicalResourceId: failedPhysicalId(event),
    };
  }
  return { ...base, Status: 'SUCCESS', PhysicalResourceId: result.physicalResourceId, Data: result.data };
}


// ------------------------------------------------------------------------------------------------ SDK port

const name = (err: unknown) => (err as { name?: string }).name;

/** {@link GuardAws} over the SDK v3 clients (region and credentials from the Lambda environment). */
export function sdkGuardAws(clients: { apigateway: APIGatewayClient; waf: WAFV2Client; logs: CloudWatchLogsClient }): GuardAws {
  const { apigateway, waf, logs } = clients;
  const updateStage = (s: StageRef, patchOperations: PatchOperation[]) =>
    apigateway.send(new UpdateStageCommand({ restApiId: s.restApiId, stageName: s.stageName, patchOperations })).then(() => undefined);
  return {
    async getStage(s) {
      try {
        const st = await apigateway.send(new GetStageCommand({ restApiId: s.restApiId, stageName: s.stageName }));
        return { accessLogDestinationArn: st.accessLogSettings?.destinationArn, accessLogFormat: st.accessLogSettings?.format };
      } catch (err) {
        if (err instanceof NotFoundException || name(err) === 'NotFoundException') return undefined;
        throw err;
      }
    },
    async webAclOf(stageArn) {
      try {
        const r = await waf.send(new GetWebACLForResourceCommand({ ResourceArn: stageArn }));
        return r.WebACL?.ARN ? { arn: r.WebACL.ARN, name: r.WebACL.Name ?? '' } : undefined;
      } catch (err) {
        // Some resources answer "no association" with this error rather than an empty response.
        if (err instanceof WAFNonexistentItemException || name(err) === 'WAFNonexistentItemException') return undefined;
        throw err;
      }
    },
    async subscriptionFilters(logGroupName) {
      const names: string[] = [];
      let nextToken: string | undefined;
      try {
        do {
          const r = await logs.send(new DescribeSubscriptionFiltersCommand({ logGroupName, nextToken }));
          for (const f of r.subscriptionFilters ?? []) if (f.filterName) names.push(f.filterName);
          nextToken = r.nextToken;
        } while (nextToken);
      } catch (err) {
        if (err instanceof ResourceNotFoundException || name(err) === 'ResourceNotFoundException') return undefined;
        throw err;
      }
      return names;
    },
    setAccessLog: (s, destinationArn, format) =>
      updateStage(s, [
        { op: 'replace', path: '/accessLogSettings/destinationArn', value: destinationArn },
        { op: 'replace', path: '/accessLogSettings/format', value: format },
      ]),
    setAccessLogFormat: (s, format) => updateStage(s, [{ op: 'replace', path: '/accessLogSettings/format', value: format }]),
    removeAccessLog: (s) => updateStage(s, [{ op: 'remove', path: '/accessLogSettings' }]),
  };
}

// ------------------------------------------------------------------------------------------------ entry

let port: GuardAws | undefined;
const logger = new Logger();

/** Answers CloudFormation with SUCCESS or FAILED, before the invocation would time out (which would leave the stack waiting an hour). */
export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  logger.addContext(context);
  logger.info('custom resource request', { requestType: event.RequestType, resourceType: event.ResourceType, logicalId: event.LogicalResourceId });
  port ??= sdkGuardAws({ apigateway: new APIGatewayClient({}), waf: new WAFV2Client({}), logs: new CloudWatchLogsClient({}) });
  const budget = Math.max(1_000, context.getRemainingTimeInMillis() - 10_000);
  const result = await withinBudget<Outcome | Error>(handleEvent(event, port, logger).catch((err: Error) => err), budget,
    () => new Error(`no result within ${Math.round(budget / 1000)} s`));
  if (result instanceof Error) logger.error('custom resource failed', { error: result });
  await sendCfnResponse(event.ResponseURL, responseFor(event, result));
}
