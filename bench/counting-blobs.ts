import { MemoryBlobStore } from '../src/adapters/local/memory-blob-store.ts';
import type { BlobPutCondition, StoredBlob } from '../src/ports-blob.ts';

/** S3 requests as they are billed: PUT, LIST and DeleteObjects (POST) in one class, GET (incl. 304s) in the other. */
export interface S3Requests {
  puts: number;
  lists: number;
  deletes: number;
  gets: number;
  bytesPut: number;
}

/** Every request counted (PUT, GET, LIST, DeleteObjects): what a detect Lambda waits on, one S3 round trip each. */
export const s3RequestCount = (r: S3Requests): number => r.puts + r.gets + r.lists + r.deletes;

/** An in-memory blob store with S3's semantics that counts every request (the cost model's S3). */
export class CountingBlobStore extends MemoryBlobStore {
  readonly requests: S3Requests = { puts: 0, lists: 0, deletes: 0, gets: 0, bytesPut: 0 };

  override async put(key: string, body: Uint8Array, condition?: BlobPutCondition): Promise<string> {
    this.requests.puts++;
    this.requests.bytesPut += body.byteLength;
    return super.put(key, body, condition);
  }

  override async get(key: string, ifNoneMatch?: string): Promise<StoredBlob | 'unchanged' | null> {
    this.requests.gets++;
    return super.get(key, ifNoneMatch);
  }

  override async list(prefix: string): Promise<string[]> {
    this.requests.lists++;
    return super.list(prefix);
  }

  override async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes 1,000 keys a request.
    this.requests.deletes += Math.ceil(keys.length / 1000);
    return super.delete(keys);
  }
}
