import { DEFAULT_INGEST_BATCHING_WINDOW_SECONDS } from '../engine/ingest-batching.ts';
import { LAMBDA_FACTS } from './delivery-model.ts';

/**
 * The event-source-mapping settings `rehearse` simulates, in plain numbers.
 *
 * They are the construct's (infra/stream-defaults.ts: STREAM_CONSUMER_DEFAULTS + CONSUMER_TUNING), restated here
 * because `src/` may not import `infra/` (DESIGN §2; infra pulls in aws-cdk-lib). test/rehearse/esm-config.test.ts
 * feeds the construct's own props through `esmConfigFromConsumerProps` and fails if the two ever differ.
 */
export interface EsmConfig {
  /** Records per invocation at most (BatchSize). */
  batchSize: number;
  /** MaximumBatchingWindowInSeconds, in ms. */
  maximumBatchingWindowMs: number;
  /** Concurrent batches per shard (ParallelizationFactor, 1–10), split by partition key. */
  parallelizationFactor: number;
  /** MaximumRetryAttempts; -1 = until the records expire. */
  maximumRetryAttempts: number;
  /** MaximumRecordAgeInSeconds, in ms; -1 = none (until retention). */
  maximumRecordAgeMs: number;
  /** BisectBatchOnFunctionError. */
  bisectBatchOnFunctionError: boolean;
  /** FunctionResponseTypes includes ReportBatchItemFailures. */
  reportBatchItemFailures: boolean;
  /** Base polling interval per shard: 1 s for Kinesis, 250 ms for DynamoDB streams (Lambda docs). */
  pollIntervalMs: number;
  /** A batch closes at this payload size (6 MB invoke limit). */
  maxPayloadBytes: number;
}

const kinesis = { pollIntervalMs: LAMBDA_FACTS.kinesisPollIntervalMs, maxPayloadBytes: LAMBDA_FACTS.maxPayloadBytes };
const dynamo = { pollIntervalMs: LAMBDA_FACTS.dynamoPollIntervalMs, maxPayloadBytes: LAMBDA_FACTS.maxPayloadBytes };

/** infra/stream-defaults.ts STREAM_CONSUMER_DEFAULTS, in numbers. */
const DEFAULTS = {
  bisectBatchOnFunctionError: true,
  maximumRetryAttempts: 5,
  maximumRecordAgeMs: 3_600_000,
  reportBatchItemFailures: true,
  parallelizationFactor: 1,
} as const;

/** Each stage's mapping as the construct configures it (infra/cordon-construct.ts, "stream consumers"). */
export const CORDON_ESM_CONFIG = {
  /** Kinesis "access-logs" → ingest. */
  ingest: { ...DEFAULTS, ...kinesis, batchSize: 10_000, maximumBatchingWindowMs: DEFAULT_INGEST_BATCHING_WINDOW_SECONDS * 1000 },
  /** Kinesis "summaries" → detect. */
  detect: { ...DEFAULTS, ...kinesis, batchSize: 500, maximumBatchingWindowMs: 2_000 },
  /** The ledger's DynamoDB stream → contain. */
  contain: {
    ...DEFAULTS,
    ...dynamo,
    batchSize: 100,
    maximumBatchingWindowMs: 1_000,
    bisectBatchOnFunctionError: false,
    maximumRetryAttempts: 3,
  },
} as const satisfies Record<string, EsmConfig>;

/** Anything with `toSeconds()`, as aws-cdk-lib's Duration. */
interface DurationLike {
  toSeconds(): number;
}

/** The subset of aws-cdk-lib's Kinesis/DynamoDB event source props that shapes delivery. */
export interface ConsumerPropsLike {
  batchSize?: number;
  maxBatchingWindow?: DurationLike;
  parallelizationFactor?: number;
  retryAttempts?: number;
  maxRecordAge?: DurationLike;
  bisectBatchOnError?: boolean;
  reportBatchItemFailures?: boolean;
}

/**
 * An EsmConfig from CDK event source props, with AWS's defaults where a prop is absent (BatchSize 100, no window,
 * 1 batch per shard, retry until expiry, no maximum age, no bisect, whole-batch responses).
 */
export function esmConfigFromConsumerProps(props: ConsumerPropsLike, source: 'kinesis' | 'dynamodb'): EsmConfig {
  return {
    batchSize: props.batchSize ?? 100,
    maximumBatchingWindowMs: (props.maxBatchingWindow?.toSeconds() ?? 0) * 1000,
    parallelizationFactor: props.parallelizationFactor ?? 1,
    maximumRetryAttempts: props.retryAttempts ?? -1,
    maximumRecordAgeMs: props.maxRecordAge ? props.maxRecordAge.toSeconds() * 1000 : -1,
    bisectBatchOnFunctionError: props.bisectBatchOnError ?? false,
    reportBatchItemFailures: props.reportBatchItemFailures ?? false,
    ...(source === 'kinesis' ? kinesis : dynamo),
  };
}
