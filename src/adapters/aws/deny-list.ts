import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DENY_LIST_DEFAULT_KEY, DenyListFormatError, normaliseDenyList, parseDenyList, renderDenyList, sameDenyList,
} from '../../authorizer/document.ts';
import type { DenyListDesired, DenyListPort } from '../../ports.ts';
import { AwsRejectedError, AwsUnavailableError } from './errors.ts';
import { awsErrorName, httpStatus, isThrottling, isTransient, type BackoffOptions, withRetries } from './retry.ts';

export interface S3DenyListOptions {
  bucket: string;
  /** Default `deny-list/v1.json`. */
  key?: string;
  /** Epoch ms for `updatedAt`. */
  clock?: () => number;
  /** Behind the SDK's own retries: throttling and 5xx that outlast them. */
  backoff?: Partial<BackoffOptions>;
}

/**
 * {@link DenyListPort} on one S3 object (in cordon's state bucket). Contain reconciles every minute, so `apply` reads
 * first (conditionally, with the ETag it last saw: an unchanged object costs a 304) and writes only when the content
 * differs: authorizers re-read on a changed ETag, and an unchanged list should not make them.
 *
 * Errors are {@link AwsRejectedError} (access denied, no bucket: needs a fix) or {@link AwsUnavailableError}
 * (throttling and 5xx past the retries): contain reports either as a failure of the `deny-list` target.
 */
export class S3DenyList implements DenyListPort {
  readonly bucket: string;
  readonly key: string;
  private readonly clock: () => number;
  private readonly backoff: BackoffOptions;
  /** The object as last read or written: its ETag and content. */
  private last: { etag: string; list: DenyListDesired } | undefined;

  constructor(private readonly client: S3Client, opts: S3DenyListOptions) {
    this.bucket = opts.bucket;
    this.key = opts.key ?? DENY_LIST_DEFAULT_KEY;
    this.clock = opts.clock ?? Date.now;
    this.backoff = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000, ...opts.backoff };
  }

  async read(): Promise<DenyListDesired> {
    const stored = await this.readStored();
    return stored ?? { principals: [], cidrs: [] };
  }

  async apply(desired: DenyListDesired): Promise<{ changed: boolean }> {
    const want = normaliseDenyList(desired);
    const stored = await this.readStored();
    // An absent object is written even when empty: an authorizer then reads "nobody denied", not a 404.
    if (stored !== null && sameDenyList(stored, want)) return { changed: false };
    const body = renderDenyList(want, this.clock());
    const res = await this.call('PutObject', () => this.client.send(new PutObjectCommand({
      Bucket: this.bucket, Key: this.key, Body: body, ContentType: 'application/json',
    })));
    this.last = res.ETag ? { etag: res.ETag, list: want } : undefined;
    return { changed: true };
  }

  /** The stored lists, null when there is no object or it cannot be read as a list (it is then rewritten). */
  private async readStored(): Promise<DenyListDesired | null> {
    const known = this.last;
    try {
      const res = await this.call('GetObject', () => this.client.send(new GetObjectCommand({
        Bucket: this.bucket, Key: this.key, IfNoneMatch: known?.etag,
      })));
      const text = res.Body ? await res.Body.transformToString('utf8') : '';
      const doc = parseDenyList(text);
      const list = { principals: doc.principals, cidrs: doc.cidrs };
      this.last = res.ETag ? { etag: res.ETag, list } : undefined;
      return list;
    } catch (err) {
      if (err instanceof DenyListFormatError) {
        this.last = undefined;
        return null;
      }
      const status = httpStatus(err);
      if (status === 304 && known) {
        return known.list;
      }
      if (status === 404 && awsErrorName(err) !== 'NoSuchBucket') {
        this.last = undefined;
        return null;
      }
      throw err;
    }
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetries({ service: 's3', operation, context: { bucket: this.bucket, key: this.key } }, fn,
        (err) => isThrottling(err) || isTransient(err), this.backoff);
    } catch (err) {
      throw this.wrap(err, operation);
    }
  }

  private wrap(err: unknown, operation: string): unknown {
    const status = httpStatus(err);
    // 304 and 404 are answers the caller reads, not failures.
    if (status === 304 || (status === 404 && awsErrorName(err) !== 'NoSuchBucket')) return err;
    if (err instanceof AwsUnavailableError || err instanceof AwsRejectedError) return err;
    const name = awsErrorName(err) || 'Error';
    const context = { bucket: this.bucket, key: this.key, error: name, status };
    if (status === 403 || status === 400 || name === 'NoSuchBucket') {
      return new AwsRejectedError(`S3 ${operation} refused (${name}) on ${this.bucket}/${this.key}`, 's3', operation, context, { cause: err });
    }
    return new AwsUnavailableError(`S3 ${operation} failed (${name}) on ${this.bucket}/${this.key}`, 's3', operation, context, { cause: err });
  }
}
