import { AwsRejectedError, AwsUnavailableError } from '../adapters/aws/errors.ts';
import { BadSummaryError, NewerWireError } from './wire.ts';

/**
 * What a stage does with a failure, decided once at the stage boundary:
 * - `bad-input`: the record itself is wrong (an attacker's bytes, a damaged record): count it, skip it, go on.
 * - `newer`: written by a newer release (a rolling deploy): report it failed, so it is redelivered to a stage that reads it.
 * - `unavailable`: a dependency did not do the work (throttled, down, a lost race): report the batch failed, Kinesis
 *   redelivers it, and idempotent writes make the retry safe.
 * - `bug`: anything else (including AWS rejecting what we built, which our own checks should have prevented): logged
 *   as an error and counted as StageErrors (an alarm), and reported failed so the mapping's bounded retries and its
 *   failure queue keep the records, rather than retrying forever or dropping them silently.
 */
export type FailureClass = 'bad-input' | 'newer' | 'unavailable' | 'bug';

const TRANSIENT_NAMES = new Set([
  'ThrottlingException', 'Throttling', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded',
  'TooManyRequestsException', 'ServiceUnavailable', 'ServiceUnavailableException', 'InternalServerError',
  'InternalFailure', 'InternalServerException', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException',
  'SlowDown', 'TransactionConflictException', 'BlobConflictError', 'ConditionalCheckFailedException',
  'WAFOptimisticLockException', 'ConflictException',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);

export function classifyFailure(err: unknown): FailureClass {
  if (err instanceof BadSummaryError) return 'bad-input';
  if (err instanceof NewerWireError) return 'newer';
  if (err instanceof AwsUnavailableError) return 'unavailable';
  if (err instanceof AwsRejectedError) return 'bug';
  const e = err as { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (e && typeof e === 'object') {
    if (e.$retryable) return 'unavailable';
    if (e.name && TRANSIENT_NAMES.has(e.name)) return 'unavailable';
    if (e.code && NETWORK_CODES.has(e.code)) return 'unavailable';
    const status = e.$metadata?.httpStatusCode;
    if (status !== undefined && (status >= 500 || status === 429)) return 'unavailable';
  }
  return 'bug';
}

export function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? typeof err;
}
