import { createHash } from 'node:crypto';
import { BlobConflictError, type BlobPutCondition, type BlobStore, type StoredBlob } from '../../ports-blob.ts';

/** {@link BlobStore} in memory, with S3's semantics for tags and conditions (tests and the benchmark). */
export class MemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, StoredBlob>();

  async put(key: string, body: Uint8Array, condition: BlobPutCondition = {}): Promise<string> {
    const current = this.objects.get(key);
    if (condition.ifNoneMatch === '*' && current) throw new BlobConflictError(key);
    if (condition.ifMatch !== undefined && current?.etag !== condition.ifMatch) throw new BlobConflictError(key);
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    this.objects.set(key, { body: Uint8Array.from(body), etag });
    return etag;
  }

  async get(key: string, ifNoneMatch?: string): Promise<StoredBlob | 'unchanged' | null> {
    const current = this.objects.get(key);
    if (!current) return null;
    if (ifNoneMatch !== undefined && ifNoneMatch === current.etag) return 'unchanged';
    return { body: Uint8Array.from(current.body), etag: current.etag };
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }
}
