import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { buildDetectDeps } from '../src/pipeline/aws-deps.ts';
import { runDetect } from '../src/pipeline/stages.ts';
import { parseDetectEnv } from './env.ts';
import { createLoggers } from './logger.ts';

/** Kinesis `summaries` → windows → scores → ledger. Failed records are reported by sequence number. */

const env = parseDetectEnv();
const { logger, stageLog } = createLoggers('cordon-detect', env.logLevel);
const deps = { ...buildDetectDeps(env), log: stageLog };

export async function handler(event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> {
  logger.addContext(context);
  const records = event.Records.map((r) => ({
    sequenceNumber: r.kinesis.sequenceNumber,
    data: r.kinesis.data,
    // eventID is "shardId-000000000000:<sequence number>"
    shardId: r.eventID.split(':')[0],
  }));
  // The stage logs the batch's counts; the handler adds which records will be redelivered.
  const { batchItemFailures } = await runDetect(records, deps);
  if (batchItemFailures.length) logger.warn('records to redeliver', { failed: batchItemFailures.length, first: batchItemFailures[0].itemIdentifier });
  return { batchItemFailures };
}
