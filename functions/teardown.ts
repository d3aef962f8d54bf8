import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { apiGatewayClient, cloudFormationClient, s3Client, wafClient } from '../src/adapters/aws/clients.ts';
import { CloudFormationStackStatus } from '../src/adapters/aws/stack-status.ts';
import { realSleep } from '../src/adapters/aws/retry.ts';
import type { Logger as StageLogger } from '../src/engine/observe.ts';
import { teardown, unreleasedMessage, type TeardownDeps } from '../src/engine/teardown.ts';
import { buildTeardownDeps } from '../src/pipeline/teardown-deps.ts';
import { droppedTargets, isEmptyWiring, parseTeardownProps, SECOND_PASS_RESERVE_MS, type TeardownWiring } from '../src/pipeline/teardown-props.ts';
import { cfnResponse, sendCfnResponse, withinBudget, type CfnResponse } from './cfn-response.ts';
import { createLoggers } from './logger.ts';
import type { LogLevel } from './env.ts';

/**
 * `Custom::CordonTeardown` (infra/cordon-construct.ts `addTeardown`): when cordon is removed, releases every block it
 * enforces (src/engine/teardown.ts), since nothing would expire them any more. Create only checks the properties. Delete
 * releases, waits for a contain run that may still be under way, releases again, and answers FAILED, naming each target
 * it could not release, or SUCCESS. Update does the same for the targets the update stops enforcing on, if any.
 */

export interface TeardownRuntime {
  build(w: TeardownWiring): TeardownDeps;
  /** Whether the stack is rolling back (src/adapters/aws/stack-status.ts): a rollback comes as an Update. */
  isRollingBack(stackId: string): Promise<boolean>;
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
  if (event.RequestType === 'Create') return cfnResponse(event, 'SUCCESS', physicalId);
  if (event.RequestType === 'Update') return releaseDropped(event, wiring, physicalId, rt);
  return release(event, wiring, physicalId, rt, 'delete');
}

/**
 * An update that stops enforcing on a target (an API taken out of `restApis`, the deny list or API keys turned off)
 * releases it as a delete would, since contain no longer expires what it holds there. Only those targets; the update
 * goes on with SUCCESS when there are none. Its permissions on them are still there: the construct keeps them in
 * policies CloudFormation updates only after this resource (infra/cordon-construct.ts addTeardown). A rollback comes as
 * an Update too, with the failed deploy's properties as the old ones: what that deploy added is released best effort.
 */
async function releaseDropped(event: CloudFormationCustomResourceEvent & { RequestType: 'Update' }, wiring: TeardownWiring,
  physicalId: string, rt: TeardownRuntime): Promise<CfnResponse> {
  let before: TeardownWiring;
  try {
    before = parseTeardownProps(event.OldResourceProperties);
  } catch (err) {
    // The properties of the last deploy, as CloudFormation kept them: unreadable only if they never were valid.
    rt.log.warn('teardown: the previous properties are unreadable; nothing released on this update', { error: (err as Error).message });
    return cfnResponse(event, 'SUCCESS', physicalId);
  }
  if (!before.releaseOnUpdate) {
    // From a release whose stack did not keep the permissions for it: what this update drops may be out of reach.
    rt.log.info('teardown: updated from a release that did not release on update; nothing released', {});
    return cfnResponse(event, 'SUCCESS', physicalId);
  }
  const dropped = droppedTargets(before, wiring);
  if (isEmptyWiring(dropped)) return cfnResponse(event, 'SUCCESS', physicalId);
  let rollingBack = false;
  try {
    rollingBack = await rt.isRollingBack(event.StackId);
  } catch (err) {
    rt.log.warn('teardown: could not tell whether the stack is rolling back; going on as a forward update', { error: (err as Error).message });
  }
  return release(event, dropped, physicalId, rt, rollingBack ? 'rollback' : 'update');
}

/**
 * Releases every target of `wiring` twice around the settle wait; FAILED names each target it could not release.
 *
 * - `delete`: contain's triggers are gone, but a run already under way may still write: the wait is for it, and a wait
 *   cut short answers FAILED (delete again).
 * - `update`: contain's role has already lost the dropped targets (the teardown depends on it), so a run under way can
 *   no longer write them after IAM catches up: the wait is belt and braces, and a wait cut short is only logged.
 * - `rollback`: what the failed deploy added is released in one pass, and what cannot be released is logged, never
 *   answered FAILED: that would leave the stack in UPDATE_ROLLBACK_FAILED. The permissions on those targets may never
 *   have been granted (the deploy failed before), and contain's role, rolled back first, no longer writes them.
 */
async function release(event: CloudFormationCustomResourceEvent, wiring: TeardownWiring, physicalId: string, rt: TeardownRuntime,
  on: 'delete' | 'update' | 'rollback'): Promise<CfnResponse> {
  const deps = { ...rt.build(wiring), log: rt.log };
  // Decided after the first pass, by the time left then.
  const settleMs = on === 'rollback' ? () => 0 : () => Math.max(0, Math.min(wiring.settleMs, rt.remainingMs() - SECOND_PASS_RESERVE_MS));
  rt.log.info('teardown', { on, ipSets: deps.ipSets.length, policies: deps.policies.length, denyList: Boolean(deps.denyList),
    apiKeys: Boolean(deps.apiKeys), settleMs: wiring.settleMs });
  const report = await teardown(deps, { settleMs, sleep: rt.sleep });
  // A wait cut short may have left a contain run writing after the last pass: said, so the operator deletes again
  // (contain's triggers are gone by then, and both passes are idempotent).
  if (on === 'delete' && report.settledMs < wiring.settleMs) {
    report.failures.push({ target: 'contain', error: `waited ${Math.round(report.settledMs / 1000)} s of ${Math.round(wiring.settleMs / 1000)} s ` +
      'for a contain run that may still have been writing: delete again to release what it may have re-added' });
  } else if (on === 'update' && report.settledMs < wiring.settleMs) {
    rt.log.warn('teardown: the wait before the second pass was cut short', { settledMs: report.settledMs, settleMs: wiring.settleMs });
  }
  rt.log.info('teardown done', { on, released: report.released.join(', '), gone: report.gone.join(', '), failed: report.failures.length,
    reenabledKeys: report.reenabledKeys.length, keptDisabledKeys: report.keptDisabledKeys.map((k) => k.key).join(', ') });
  if (report.failures.length > 0 && on === 'rollback') {
    rt.log.error('teardown: targets the failed deploy added were not released during its rollback', { message: unreleasedMessage(report) });
    return cfnResponse(event, 'SUCCESS', physicalId);
  }
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
    isRollingBack: (stackId) => new CloudFormationStackStatus(cloudFormationClient()).isRollingBack(stackId),
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
