import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { buildIngestDeps } from '../src/pipeline/aws-deps.ts';
import { runIngest } from '../src/pipeline/stages.ts';
import { parseIngestEnv } from './env.ts';
import { createLoggers } from './logger.ts';

/** Kinesis `access-logs` → partial summaries on `summaries`. Failed records are reported by sequence number. */

const env = parseIngestEnv();
const { logger, stageLog } = createLoggers('cordon-ingest', env.logLevel);
const deps = { ...buildIngestDeps(env), log: stageLog };

export async function handler(event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> {
  logger.addContext(context);
  // eventID is "shardId-000000000000:<sequence number>": sequence numbers are unique only within a shard.
  const records = event.Records.map((r) => ({ sequenceNumber: r.kinesis.sequenceNumber, data: r.kinesis.data, shardId: r.eventID.split(':')[0] }));
  // The stage logs the batch's counts; the handler adds which records will be redelivered.
  const { batchItemFailures } = await runIngest(records, deps);
  if (batchItemFailures.length) logger.warn('records to redeliver', { failed: batchItemFailures.length, first: batchItemFailures[0].itemIdentifier });
  return { batchItemFailures };
}
