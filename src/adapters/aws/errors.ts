/**
 * Named errors of the AWS adapters. Two families, so callers can tell them apart without reading messages:
 *
 * - {@link AwsRejectedError}: AWS (or our own pre-check of an AWS limit) refused what we sent. Retrying the same
 *   input cannot succeed: fix the input or the configuration (a bad CIDR, a full account quota, an oversize record).
 * - {@link AwsUnavailableError}: the dependency did not do the work within our bounded retries (throttled, lock
 *   contention, partial failures). The work was not done (or only partly: the error says how much) and may be
 *   retried later, e.g. by failing the Lambda batch so the event source delivers it again.
 *
 * Each carries the service, the operation and a small context object (names, ids, counts: never records).
 */
export class AwsAdapterError extends Error {
  override name = 'AwsAdapterError';
  constructor(
    message: string,
    readonly service: string,
    readonly operation: string,
    readonly context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** AWS refused the input; retrying it unchanged will not help. */
export class AwsRejectedError extends AwsAdapterError {
  override name = 'AwsRejectedError';
}

/** The dependency did not complete the work within the bounded retries. */
export class AwsUnavailableError extends AwsAdapterError {
  override name = 'AwsUnavailableError';
}

/** WAFLimitsExceededException: e.g. more addresses than the set allows, or the account's IP set quota. */
export class WafLimitsExceededError extends AwsRejectedError {
  override name = 'WafLimitsExceededError';
}

/** WAFInvalidParameterException: e.g. an address that is not a valid CIDR, or `/0`. */
export class WafInvalidParameterError extends AwsRejectedError {
  override name = 'WafInvalidParameterError';
}

/** A Kinesis record (data + partition key) over 1 MiB, or an invalid partition key. Nothing was sent. */
export class KinesisRecordTooLargeError extends AwsRejectedError {
  override name = 'KinesisRecordTooLargeError';
}

/** PutRecords could not deliver every record within the bounded attempts. `lost` records were not written. */
export class KinesisPutError extends AwsUnavailableError {
  override name = 'KinesisPutError';
  constructor(
    message: string,
    readonly lost: number,
    readonly delivered: number,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
    /** Records refused for the shards' write throughput on the way (what PutOutcome.throttled counts for a put that lands). */
    readonly throttled = 0,
  ) {
    super(message, 'kinesis', 'PutRecords', { ...context, lost, delivered, throttled }, options);
  }
}

/** BatchWriteItem left items unprocessed after the bounded resends. `remaining` items were not written. */
export class DynamoUnprocessedItemsError extends AwsUnavailableError {
  override name = 'DynamoUnprocessedItemsError';
  constructor(
    message: string,
    readonly remaining: number,
    context: Record<string, unknown> = {},
  ) {
    super(message, 'dynamodb', 'BatchWriteItem', { ...context, remaining });
  }
}

/** An item that cannot be stored within DynamoDB's 400 KB item limit. */
export class DynamoItemTooLargeError extends AwsRejectedError {
  override name = 'DynamoItemTooLargeError';
}

/** A conditional read-modify-write kept losing to concurrent writers within the bounded attempts. */
export class ContentionError extends AwsUnavailableError {
  override name = 'ContentionError';
}

/** Retryable failures persisted past the bounded attempts. `cause` is the last error. */
export class RetriesExhaustedError extends AwsUnavailableError {
  override name = 'RetriesExhaustedError';
}

/** One decision is too large for one SNS message even on its own. */
export class AlertTooLargeError extends AwsRejectedError {
  override name = 'AlertTooLargeError';
}

/** Configuration given to an adapter is wrong (fails at construction, not mid-batch). */
export class AdapterConfigError extends Error {
  override name = 'AdapterConfigError';
}
