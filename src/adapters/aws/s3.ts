import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BlobConflictError, type BlobPutCondition, type BlobStore, type StoredBlob } from '../../ports-blob.ts';
import { AwsRejectedError, AwsUnavailableError } from './errors.ts';
import { awsErrorName, httpStatus } from './retry.ts';

/** DeleteObjects takes at most 1,000 keys per call. */
const DELETE_BATCH = 1000;

/**
 * {@link BlobStore} on one S3 bucket. Throttling (503 SlowDown) and 5xx are retried by the SDK's standard mode;
 * a failed precondition (412, or 409 when a concurrent conditional write is in flight) is a
 * {@link BlobConflictError} for the caller to resolve; a 304 on a conditional read is `'unchanged'`. Access
 * denied and a missing bucket are rejections: they need a fix, not a retry.
 */
export class S3BlobStore implements BlobStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array, condition: BlobPutCondition = {}): Promise<string> {
    try {
      const res = await this.client.send(new PutObjectCommand({
        Bucket: this.bucket, Key: key, Body: body, IfMatch: condition.ifMatch, IfNoneMatch: condition.ifNoneMatch,
      }));
      return res.ETag ?? '';
    } catch (err) {
      const status = httpStatus(err);
      if (status === 412 || (status === 409 && awsErrorName(err) === 'ConditionalRequestConflict')) throw new BlobConflictError(key);
      throw this.wrap(err, 'PutObject', key);
    }
  }

  async get(key: string, ifNoneMatch?: string): Promise<StoredBlob | 'unchanged' | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, IfNoneMatch: ifNoneMatch }));
      const body = res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
      return { body, etag: res.ETag ?? '' };
    } catch (err) {
      const status = httpStatus(err);
      if (status === 304) return 'unchanged';
      if (status === 404 && awsErrorName(err) !== 'NoSuchBucket') return null;
      throw this.wrap(err, 'GetObject', key);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of res.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.wrap(err, 'ListObjectsV2', prefix);
    }
    return keys.sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let res;
      try {
        res = await this.client.send(new DeleteObjectsCommand({
          Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }));
      } catch (err) {
        throw this.wrap(err, 'DeleteObjects', batch[0]);
      }
      // DeleteObjects answers 200 with per-key errors: they are failures too, not to be swallowed.
      const failed = res.Errors ?? [];
      if (failed.length) {
        throw new AwsUnavailableError(`${failed.length} of ${batch.length} objects not deleted (${failed[0].Code ?? 'unknown'})`, 's3',
          'DeleteObjects', { bucket: this.bucket, failed: failed.length, first: failed[0].Key });
      }
    }
  }

  private wrap(err: unknown, operation: string, key: string | undefined): Error {
    const name = awsErrorName(err) || 'Error';
    const status = httpStatus(err);
    const context = { bucket: this.bucket, key, error: name, status };
    if (status === 403 || name === 'NoSuchBucket' || status === 400) {
      return new AwsRejectedError(`S3 ${operation} refused (${name}) on bucket ${this.bucket}`, 's3', operation, context, { cause: err });
    }
    return new AwsUnavailableError(`S3 ${operation} failed (${name}) on bucket ${this.bucket}`, 's3', operation, context, { cause: err });
  }
}
