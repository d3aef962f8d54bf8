import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_INGEST_BATCHING_WINDOW_SECONDS } from '../src/engine/ingest-batching.ts';

/**
 * Every stream consumer's event-source-mapping settings in one place (after AWS Solutions Constructs'
 * `lambda-event-source-mapping-defaults`). Handlers report partial failures by sequence number, so:
 *
 * - `reportBatchItemFailures`: Lambda checkpoints at the lowest failed record and redelivers from there (the
 *   stages are idempotent);
 * - `bisectBatchOnError`: a poison record is isolated instead of blocking its shard;
 * - `retryAttempts` is bounded and `maxRecordAge` set, so a stuck shard moves on after an hour, and the batch's
 *   metadata (shard, sequence numbers) goes to an encrypted on-failure queue. Kinesis keeps records 24 h, which
 *   leaves the operator a day to replay what the queue names.
 */
export const STREAM_CONSUMER_DEFAULTS = {
  startingPosition: lambda.StartingPosition.LATEST,
  bisectBatchOnError: true,
  retryAttempts: 5,
  maxRecordAge: Duration.hours(1),
  reportBatchItemFailures: true,
  parallelizationFactor: 1,
} as const;

/** Per-consumer sizes: what changes between stages is how much each batch carries and how long it may wait. */
export const CONSUMER_TUNING = {
  /**
   * CloudWatch Logs records are gzip'd bundles of many lines. The window (or the 6 MB invoke payload) bounds a batch,
   * not the count (10,000 is the most a Kinesis mapping takes): every key a batch repeats is one summary entry, so a
   * batch cut at 100 records (two seconds of 10,000 requests a second on one shard, less on a busier one) made the
   * summaries stream bigger. The construct sets the window from its prop `ingestBatchingWindowSeconds`.
   */
  ingest: { batchSize: 10_000, maxBatchingWindow: Duration.seconds(DEFAULT_INGEST_BATCHING_WINDOW_SECONDS) },
  /** Partial summaries are small; bigger batches mean fewer state reads per key. */
  detect: { batchSize: 500, maxBatchingWindow: Duration.seconds(2) },
  /**
   * Ledger changes: contain reconciles the whole ledger whatever the batch holds, so the window coalesces bursts
   * (WAF takes one write per second) and bisecting would only repeat the same reconcile.
   */
  contain: { batchSize: 100, maxBatchingWindow: Duration.seconds(1), bisectBatchOnError: false, retryAttempts: 3 },
} as const;

/** Kinesis retention; `maxRecordAge` must stay below it so that the on-failure queue names replayable records. */
export const STREAM_RETENTION = Duration.hours(24);

/** Iterator age (ms, maximum over 1 min) past which a consumer is falling behind. */
export const ITERATOR_AGE_ALARM_MS = 5 * 60 * 1000;

export interface OnFailureQueueProps {
  readonly encryptionKey: kms.IKey;
  /** What consumer the queue belongs to, for its description in alarms. */
  readonly consumer: string;
}

/**
 * An encrypted, SSL-only queue that receives the metadata of batches a stream consumer gave up on, and an alarm
 * on its depth: anything in it is security data that was not processed.
 */
export class OnFailureQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly alarm: cloudwatch.Alarm;
  readonly destination: lambda.IEventSourceDlq;

  constructor(scope: Construct, id: string, props: OnFailureQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      enforceSSL: true,
      // The longest SQS allows: the operator replays from these within the stream's retention.
      retentionPeriod: Duration.days(14),
    });
    this.destination = new sources.SqsDlq(this.queue);
    this.alarm = new cloudwatch.Alarm(this, 'DepthAlarm', {
      alarmDescription: `cordon ${props.consumer}: batches given up on (records not processed; replay from the stream)`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}

/** Props for a Kinesis consumer built from the defaults above. */
export function kinesisConsumerProps(
  tuning: { batchSize: number; maxBatchingWindow: Duration },
  onFailure: lambda.IEventSourceDlq,
): sources.KinesisEventSourceProps {
  return { ...STREAM_CONSUMER_DEFAULTS, ...tuning, onFailure };
}

/** Props for a DynamoDB stream consumer built from the defaults above. */
export function dynamoConsumerProps(
  tuning: { batchSize: number; maxBatchingWindow: Duration; bisectBatchOnError?: boolean; retryAttempts?: number },
  onFailure: lambda.IEventSourceDlq,
): sources.DynamoEventSourceProps {
  return { ...STREAM_CONSUMER_DEFAULTS, ...tuning, onFailure };
}
