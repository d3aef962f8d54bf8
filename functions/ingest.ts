import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { cloudWatchSource, INGEST_RETURN_MARGIN_MS, IngestStage } from '../src/engine/ingest.ts';
import { buildIngestDeps } from '../src/pipeline/aws-deps.ts';
import { parseIngestEnv } from './env.ts';
import { streamRecords } from './kinesis-event.ts';
import { createLoggers } from './logger.ts';
import { createMetrics } from './metrics.ts';

/** Kinesis `access-logs` → partial summaries on `summaries`. Failed records are reported by sequence number. */

const env = parseIngestEnv();
const { logger, stageLog } = createLoggers('cordon-ingest', env.logLevel);
const { metrics, port } = createMetrics('cordon-ingest', logger);
const stage = new IngestStage({ ...buildIngestDeps(env, { log: stageLog, metrics: port }), log: stageLog, metrics: port });

export async function handler(event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> {
  logger.addContext(context);
  try {
    // The stage logs the batch's counts; the handler adds which records will be redelivered.
    const deadline = Date.now() + context.getRemainingTimeInMillis() - INGEST_RETURN_MARGIN_MS;
    const { batchItemFailures } = await stage.handle(streamRecords(event).map(cloudWatchSource), { deadline });
    if (batchItemFailures.length) logger.warn('records to redeliver', { failed: batchItemFailures.length, first: batchItemFailures[0].itemIdentifier });
    return { batchItemFailures };
  } finally {
    metrics.publishStoredMetrics();
  }
}
