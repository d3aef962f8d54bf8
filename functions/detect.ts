import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, ScheduledEvent } from 'aws-lambda';
import { DetectStage } from '../src/engine/detect.ts';
import { tickSliceOfEvent } from '../src/engine/tick-slices.ts';
import { buildDetectDeps } from '../src/pipeline/aws-deps.ts';
import { parseDetectEnv } from './env.ts';
import { streamRecords } from './kinesis-event.ts';
import { createLoggers } from './logger.ts';
import { createMetrics } from './metrics.ts';

/**
 * Kinesis `summaries` → windows → scores → ledger; and, on the one-minute schedule, the clock tick that closes
 * windows whose time is up although no later data came (an attack followed by silence). Failed records are
 * reported by sequence number.
 */

const env = parseDetectEnv();
const { logger, stageLog } = createLoggers('cordon-detect', env.logLevel);
const { metrics, port } = createMetrics('cordon-detect', logger);
const stage = new DetectStage({ ...buildDetectDeps(env, { log: stageLog, metrics: port }), log: stageLog, metrics: port });

export async function handler(event: KinesisStreamEvent | ScheduledEvent | { tick: unknown }, context: Context): Promise<KinesisStreamBatchResponse | undefined> {
  logger.addContext(context);
  try {
    if (!('Records' in event)) {
      // On many shards the schedule runs several ticks at once, each over its slice of them (tickSlicesFor).
      const { slice, unreadable } = tickSliceOfEvent(event);
      if (unreadable) logger.warn('tick slice unreadable: ticking every shard');
      // Logs what it closed; one scope's failure does not stop the others, and it starts none with under 30 s left.
      await stage.tick(Date.now(), () => context.getRemainingTimeInMillis(), slice);
      return undefined;
    }
    const { batchItemFailures } = await stage.handle(streamRecords(event), Date.now());
    if (batchItemFailures.length) logger.warn('records to redeliver', { failed: batchItemFailures.length, first: batchItemFailures[0].itemIdentifier });
    return { batchItemFailures };
  } finally {
    metrics.publishStoredMetrics();
  }
}
