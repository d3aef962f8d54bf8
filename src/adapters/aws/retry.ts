import { RetriesExhaustedError } from './errors.ts';

/**
 * Bounded retries with exponential backoff and full jitter, for the failures the SDK does not retry itself
 * (WAF lock conflicts, API Gateway 409s, partial batch failures) and as a second, slower line behind the SDK's
 * own throttling retries. Time is injectable so tests run without waiting.
 */

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface BackoffOptions {
  /** Attempts in total, including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep?: Sleep;
  /** [0, 1); Math.random by default. */
  random?: () => number;
}

/** Full jitter: uniform in [0, min(max, base * 2^retry)], retry counted from 0. */
export function backoffDelay(retry: number, opts: Pick<BackoffOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  const cap = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.min(retry, 30));
  return Math.floor((opts.random ?? Math.random)() * cap);
}

/** The error's AWS name (`name`, falling back to `code`/`Code`), or ''. */
export function awsErrorName(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const e = err as { name?: unknown; code?: unknown; Code?: unknown };
  for (const v of [e.name, e.code, e.Code]) if (typeof v === 'string' && v !== 'Error') return v;
  return '';
}

export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ThrottledException',
  'SlowDown',
  'LimitExceededException',
]);

/** Throttling as the SDK classifies it (by name, the SDK's $retryable hint, or HTTP 429). */
export function isThrottling(err: unknown): boolean {
  if (THROTTLING.has(awsErrorName(err))) return true;
  if ((err as { $retryable?: { throttling?: boolean } } | null)?.$retryable?.throttling) return true;
  return httpStatus(err) === 429;
}

/** Server-side and connection failures that are safe to retry for idempotent calls. */
export function isTransient(err: unknown): boolean {
  const name = awsErrorName(err);
  if (['InternalFailure', 'InternalServerError', 'ServiceUnavailable', 'ServiceUnavailableException', 'TimeoutError', 'RequestTimeout'].includes(name)) return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(name)) return true;
  const status = httpStatus(err);
  return status !== undefined && status >= 500;
}

/**
 * Runs `fn` until it succeeds, a non-retryable error is thrown (rethrown as is), or `maxAttempts` is reached
 * (then {@link RetriesExhaustedError} with the last error as `cause`).
 */
export async function withRetries<T>(
  what: { service: string; operation: string; context?: Record<string, unknown> },
  fn: (attempt: number) => Promise<T>,
  retryable: (err: unknown) => boolean,
  opts: BackoffOptions,
): Promise<T> {
  const sleep = opts.sleep ?? realSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!retryable(err)) throw err;
      if (attempt + 1 >= opts.maxAttempts) {
        throw new RetriesExhaustedError(
          `${what.service} ${what.operation}: still failing after ${attempt + 1} attempts (${awsErrorName(err) || String(err)})`,
          what.service,
          what.operation,
          { ...what.context, attempts: attempt + 1, lastError: awsErrorName(err) },
          { cause: err },
        );
      }
      await sleep(backoffDelay(attempt, opts));
    }
  }
}
