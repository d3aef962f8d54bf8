/**
 * The simulated AWS of `cordon rehearse`: a seeded discrete-event clock and AWS's delivery behaviour around the
 * stages, which plug in as event-source-mapping handlers. Wiring, in short:
 *
 * - `new Scheduler(firstRequestTime - margin)`, `new DeliveryModel(seed, { laggingShardMs })`;
 * - access logs: `new LogDelivery({ scheduler, model, putter: accessLogTwin }).feed(lines)` (twins take
 *   `clock: () => scheduler.now()`);
 * - each stage: `new EventSourceMapping({ reader: twin, config: CORDON_ESM_CONFIG.<stage>, lambda: new
 *   LambdaFunctionModel(...), handler, lagMs: (id, all) => model.shardLagMs(id, all) })`, then `start()`;
 *   a handler that puts to a stream can make the records visible at the invocation's end with `info.defer`;
 * - contain's one-minute schedule: `scheduledRule(scheduler, model, 'contain', 60_000, ...)` calling
 *   `containLambda.invokeAsync(...)` (reserved concurrency 1 shares it with the ledger-stream mapping);
 * - detect's tick: a `scheduledRule` per rule of `tickRules(tickSlicesFor(shards))`, each firing one
 *   `detectLambda.invokeAsync(...)` of `tick(t, undefined, slice)` per target, as the construct deploys them;
 * - WAF: `WafTwin({ clock, propagationDelayMs: () => model.sample('wafPropagation') })`; redeploys:
 *   `model.sample('redeployPropagation')`; `describeDelays(model)` lists every figure with its source.
 */
export { Scheduler, type Action, type RunOptions, type RunResult, type TimerHandle } from './scheduler.ts';
export { makeSampler, rngFor, type DelaySpec, type Sampler } from './distributions.ts';
export {
  DELAYS,
  DeliveryModel,
  LAMBDA_FACTS,
  QUOTAS,
  SCHEDULE_FACTS,
  describeDelays,
  type DelayName,
  type DeliveryModelOptions,
} from './delivery-model.ts';
export { CORDON_ESM_CONFIG, esmConfigFromConsumerProps, type EsmConfig } from './esm-config.ts';
export {
  EventSourceMapping,
  type EsmStats,
  type EventSourceMappingOptions,
  type FailureDestinationEntry,
  type HandlerResult,
  type InvocationInfo,
  type ReshardAwareReader,
  type StreamHandler,
} from './event-source-mapping.ts';
export { FunctionTimeoutError, LambdaFunctionModel, RateGate, scheduledRule, type Invocation, type LambdaFunctionOptions } from './lambda-model.ts';
export { LogDelivery, type DeliveredRecord, type LogDeliveryOptions, type LogDeliveryStats, type LogLine } from './log-delivery.ts';
