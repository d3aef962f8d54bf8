import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent, ScheduledEvent } from 'aws-lambda';
import { buildContainDeps } from '../src/pipeline/aws-deps.ts';
import { runContain } from '../src/pipeline/stages.ts';
import { parseContainEnv } from './env.ts';
import { createLoggers } from './logger.ts';
import { withWafWriteFailureMetric } from './metrics.ts';

/**
 * Reconciles the ledger into WAF IP sets, the resource policies and alerts. Runs on ledger stream batches and on a
 * one-minute schedule, never twice at once (reserved concurrency 1: the single WAF writer). The work does not
 * depend on which records arrived, so a failure fails the whole invocation and the next one converges.
 */

const env = parseContainEnv();
const { logger, stageLog } = createLoggers('cordon-contain', env.logLevel);
const base = buildContainDeps(env);
const deps = { ...base, ipSets: withWafWriteFailureMetric(base.ipSets), log: stageLog };

export async function handler(
  event: DynamoDBStreamEvent | ScheduledEvent,
  context: Context,
): Promise<DynamoDBBatchResponse | undefined> {
  logger.addContext(context);
  const fromStream = 'Records' in event;
  const trigger = fromStream ? 'ledger-stream' : 'schedule';
  logger.info('contain run', { trigger, records: fromStream ? event.Records.length : 0 });
  try {
    await runContain(deps, Date.now()); // logs what it changed
  } catch (err) {
    logger.error('contain run failed', { trigger, error: err as Error });
    throw err;
  }
  return fromStream ? { batchItemFailures: [] } : undefined;
}
