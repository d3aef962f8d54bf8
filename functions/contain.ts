import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent, ScheduledEvent } from 'aws-lambda';
import { ContainStage } from '../src/engine/contain.ts';
import { METRIC } from '../src/engine/observe.ts';
import { buildContainDeps } from '../src/pipeline/aws-deps.ts';
import { parseContainEnv } from './env.ts';
import { createLoggers } from './logger.ts';
import { writtenKeys } from './ledger-stream.ts';
import { createMetrics, withWafWriteFailureMetric } from './metrics.ts';

/**
 * Reconciles the ledger into WAF IP sets, the resource policies and alerts. Runs on ledger stream batches and on a
 * one-minute schedule, never twice at once (reserved concurrency 1: the single WAF writer). The work does not
 * depend on which records arrived, so a failure fails the whole invocation and the next one converges.
 */

const env = parseContainEnv();
const { logger, stageLog } = createLoggers('cordon-contain', env.logLevel);
const { metrics, port } = createMetrics('cordon-contain', logger);
const base = buildContainDeps(env);
const stage = new ContainStage({ ...base, ipSets: withWafWriteFailureMetric(base.ipSets, port), log: stageLog, metrics: port });

export async function handler(
  event: DynamoDBStreamEvent | ScheduledEvent,
  context: Context,
): Promise<DynamoDBBatchResponse | undefined> {
  logger.addContext(context);
  const fromStream = 'Records' in event;
  const trigger = fromStream ? 'ledger-stream' : 'schedule';
  logger.info('contain run', { trigger, records: fromStream ? event.Records.length : 0 });
  try {
    await stage.run(Date.now(), fromStream ? writtenKeys(event) : []); // logs what it changed
  } catch (err) {
    port.add(METRIC.TargetFailures, 1);
    logger.error('contain run failed', { trigger, error: err as Error });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
  return fromStream ? { batchItemFailures: [] } : undefined;
}
