/**
 * Bulk state as opaque objects (S3 in AWS, memory or disk locally). The detect stage keeps what is large and
 * changes in bulk here, and only small items in DynamoDB: S3 bills a write by the request and DynamoDB by the KB,
 * so a 30 KB chunk of window parts costs one S3 PUT instead of 30 write units.
 */

export interface StoredBlob {
  body: Uint8Array;
  /** Opaque version tag (S3's ETag): pass it back to make a write or a read conditional. */
  etag: string;
}

export interface BlobPutCondition {
  /** Write only if the stored object still has this tag (optimistic concurrency). */
  ifMatch?: string;
  /** `*`: write only if no object exists under the key. */
  ifNoneMatch?: '*';
}

export interface BlobStore {
  /** Returns the new object's tag. A failed condition throws {@link BlobConflictError}. */
  put(key: string, body: Uint8Array, condition?: BlobPutCondition): Promise<string>;
  /** null if absent; `'unchanged'` if `ifNoneMatch` is the stored tag (nothing transferred). */
  get(key: string, ifNoneMatch?: string): Promise<StoredBlob | 'unchanged' | null>;
  /** Keys under a prefix, ascending. */
  list(prefix: string): Promise<string[]>;
  /** Deleting an absent key is not an error. */
  delete(keys: readonly string[]): Promise<void>;
}

/** A conditional write lost: somebody else wrote the object since it was read. Re-read and try again. */
export class BlobConflictError extends Error {
  override name = 'BlobConflictError';
  constructor(readonly key: string) {
    super(`${key} changed since it was read`);
  }
}
