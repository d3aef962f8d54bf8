import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { apiGatewayClient, s3Client, wafClient } from '../src/adapters/aws/clients.ts';
import { realSleep } from '../src/adapters/aws/retry.ts';
import type { Logger as StageLogger } from '../src/engine/observe.ts';
import { teardown, unreleasedMessage, type TeardownDeps } from '../src/engine/teardown.ts';
import { buildTeardownDeps } from '../src/pipeline/teardown-deps.ts';
import { parseTeardownProps, SECOND_PASS_RESERVE_MS, type TeardownWiring } from '../src/pipeline/teardown-props.ts';
import { cfnResponse, sendCfnResponse, withinBudget, type CfnResponse } from './cfn-response.ts';
import { createLoggers } from './logger.ts';
import type { LogLevel } from './env.ts';

/**
 * `Custom::CordonTeardown` (infra/cordon-construct.ts `addTeardown`): when cordon is removed, releases every block it
 * enforces (src/engine/teardown.ts), since nothing would expire them any more. Create and Update only check the
 * properties. Delete releases, waits for a contain run that may still be under way, releases again, and answers
 * FAILED, naming each target it could not release, or SUCCESS.
 */

export interface TeardownRuntime {
  build(w: TeardownWiring): TeardownDeps;
  sleep(ms: number): Promise<void>;
  /** Milliseconds left before the invocation times out. */
  remainingMs(): number;
  log: StageLogger;
}

export { SECOND_PASS_RESERVE_MS };

const FAILED_CREATE_SUFFIX = '-failed';

/** The physical id to answer a failure with: on Create, one the Delete of the rollback recognises. */
export function failedPhysicalId(event: CloudFormationCustomResourceEvent): string {
  return event.RequestType === 'Create' ? `${event.LogicalResourceId}${FAILED_CREATE_SUFFIX}` : event.PhysicalResourceId;
}

export async function respond(event: CloudFormationCustomResourceEvent, rt: TeardownRuntime): Promise<CfnResponse> {
  const physicalId = event.RequestType === 'Create' ? `${event.LogicalResourceId}-teardown` : event.PhysicalResourceId;
  // A resource whose Create failed never existed (a rollback deletes it): nothing of its to release, and contain may
  // still be running. (CloudFormation never updates one.)
  if (event.RequestType === 'Delete' && physicalId.endsWith(FAILED_CREATE_SUFFIX)) return cfnResponse(event, 'SUCCESS', physicalId);
  let wiring: TeardownWiring;
  try {
    wiring = parseTeardownProps(event.ResourceProperties);
  } catch (err) {
    // On Create or Update this stops the deploy; on Delete, releasing nothing silently would leave every block.
    return cfnResponse(event, 'FAILED', failedPhysicalId(event), (err as Error).message);
  }
  if (event.RequestType !== 'Delete') return cfnResponse(event, 'SUCCESS', physicalId);

  const deps = { ...rt.build(wiring), log: rt.log };
  // Decided after the first pass, by the time left then.
  const settleMs = () => Math.max(0, Math.min(wiring.settleMs, rt.remainingMs() - SECOND_PASS_RESERVE_MS));
  rt.log.info('teardown', { ipSets: deps.ipSets.length, policies: deps.policies.length, denyList: Boolean(deps.denyList),
    apiKeys: Boolean(deps.apiKeys), settleMs: wiring.settleMs });
  const report = await teardown(deps, { settleMs, sleep: rt.sleep });
  // A wait cut short may have left a contain run writing after the last pass: said, so the operator deletes again
  // (contain's triggers are gone by then, and both passes are idempotent).
  if (report.settledMs < wiring.settleMs) {
    report.failures.push({ target: 'contain', error: `waited ${Math.round(report.settledMs / 1000)} s of ${Math.round(wiring.settleMs / 1000)} s ` +
      'for a contain run that may still have been writing: delete again to release what it may have re-added' });
  }
  rt.log.info('teardown done', { released: report.released.join(', '), gone: report.gone.join(', '), failed: report.failures.length,
    reenabledKeys: report.reenabledKeys.length, keptDisabledKeys: report.keptDisabledKeys.map((k) => k.key).join(', ') });
  if (report.failures.length > 0) return cfnResponse(event, 'FAILED', physicalId, unreleasedMessage(report));
  return cfnResponse(event, 'SUCCESS', physicalId);
}

// ------------------------------------------------------------------------------------------------ entry

const { logger, stageLog } = createLoggers('cordon-teardown', (process.env.LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel);

/** Always answers CloudFormation, before the invocation would time out (which would leave the stack waiting an hour). */
export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  logger.addContext(context);
  logger.info('custom resource request', { requestType: event.RequestType, logicalId: event.LogicalResourceId });
  const runtime: TeardownRuntime = {
    build: (w) => buildTeardownDeps(w, { waf: wafClient(), apigateway: apiGatewayClient(), s3: s3Client() }),
    sleep: realSleep,
    remainingMs: () => context.getRemainingTimeInMillis(),
    log: stageLog,
  };
  const budget = Math.max(1_000, context.getRemainingTimeInMillis() - 15_000);
  const work = respond(event, runtime).catch((err: Error) => {
    logger.error('teardown failed', { error: err });
    return cfnResponse(event, 'FAILED', failedPhysicalId(event), `cordon teardown: ${err.name}: ${err.message}`);
  });
  const response = await withinBudget(work, budget, () => cfnResponse(event, 'FAILED', failedPhysicalId(event),
    `cordon teardown did not finish within ${Math.round(budget / 1000)} s: some targets may still block (see the function's log)`));
  if (response.Status === 'FAILED') logger.error('custom resource failed', { reason: response.Reason });
  await sendCfnResponse(event.ResponseURL, response);
}
