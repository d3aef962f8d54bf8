import { CreateBucketCommand, DeleteObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsRejectedError, AwsUnavailableError } from '../../src/adapters/aws/errors.ts';
import { S3BlobStore } from '../../src/adapters/aws/s3.ts';
import { MemoryBlobStore } from '../../src/adapters/local/memory-blob-store.ts';
import { BlobConflictError, type BlobStore } from '../../src/ports-blob.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The BlobStore contract, run against every implementation. */
function blobStoreContract(make: () => Promise<BlobStore> | BlobStore) {
  let store: BlobStore;
  beforeEach(async () => {
    store = await make();
  });

  it('round-trips bytes and returns null for a missing key', async () => {
    const body = Uint8Array.from([0, 1, 2, 255, 0x1f, 0x8b]);
    const tag = await store.put('win/s/1/a', body);
    expect(tag).not.toBe('');
    const got = await store.get('win/s/1/a');
    expect(got).not.toBeNull();
    expect(got !== 'unchanged' && Array.from(got!.body)).toEqual(Array.from(body));
    expect(got !== 'unchanged' && got!.etag).toBe(tag);
    expect(await store.get('win/s/1/missing')).toBeNull();
  });

  it('a conditional read of an unchanged object transfers nothing; a changed one comes back whole', async () => {
    const tag = await store.put('base/s', bytes('one'));
    expect(await store.get('base/s', tag)).toBe('unchanged');
    await store.put('base/s', bytes('two'));
    const got = await store.get('base/s', tag);
    expect(got !== 'unchanged' && got && text(got.body)).toBe('two');
  });

  it('conditional writes: If-Match wins only against the tag read, If-None-Match:* only on a new key', async () => {
    const first = await store.put('base/s', bytes('v1'), { ifNoneMatch: '*' });
    await expect(store.put('base/s', bytes('v1b'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(BlobConflictError);
    const second = await store.put('base/s', bytes('v2'), { ifMatch: first });
    await expect(store.put('base/s', bytes('stale'), { ifMatch: first })).rejects.toBeInstanceOf(BlobConflictError);
    const got = await store.get('base/s');
    expect(got !== 'unchanged' && got && text(got.body)).toBe('v2');
    expect(got !== 'unchanged' && got && got.etag).toBe(second);
  });

  it('lists by prefix in key order and deletes (absent keys are fine)', async () => {
    for (const k of ['win/s/2/b', 'win/s/1/a', 'win/t/1/a', 'base/s']) await store.put(k, bytes(k));
    expect(await store.list('win/s/')).toEqual(['win/s/1/a', 'win/s/2/b']);
    await store.delete(['win/s/1/a', 'win/s/9/never']);
    expect(await store.list('win/')).toEqual(['win/s/2/b', 'win/t/1/a']);
    await store.delete([]);
  });
}

describe('MemoryBlobStore', () => {
  blobStoreContract(() => new MemoryBlobStore());
});

describeMoto('S3BlobStore on moto', () => {
  const moto = useMoto();
  let client: S3Client;
  let n = 0;
  let bucket = '';
  beforeAll(() => {
    client = new S3Client({ ...moto.clientConfig(), forcePathStyle: true });
  });
  afterAll(() => client?.destroy());
  beforeEach(async () => {
    bucket = `cordon-state-${++n}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  blobStoreContract(() => new S3BlobStore(client, bucket));

  it('lists and deletes past one page / one DeleteObjects call (1,000 keys)', async () => {
    const store = new S3BlobStore(client, bucket);
    const keys = [...Array(1005)].map((_, i) => `win/s/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, bytes('x'))));
    expect(await store.list('win/')).toEqual(keys);
    await store.delete(keys);
    expect(await store.list('win/')).toEqual([]);
  }, 60_000);

  it('a missing bucket is a rejection naming the bucket, not an empty read', async () => {
    const store = new S3BlobStore(client, 'cordon-no-such-bucket');
    const err = await store.get('base/s').then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(AwsRejectedError);
    expect(err?.message).toContain('cordon-no-such-bucket');
    await expect(store.put('base/s', bytes('x'))).rejects.toBeInstanceOf(AwsRejectedError);
  });
});

describe('S3BlobStore faults moto cannot produce', () => {
  it('DeleteObjects answering 200 with per-key errors is a failure, not a success', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const mock = mockClient(client);
    mock.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'win/s/1/a', Code: 'InternalError', Message: 'try again' }] });
    const err = await new S3BlobStore(client, 'b').delete(['win/s/1/a', 'win/s/1/b']).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(AwsUnavailableError);
    expect(err?.message).toMatch(/1 of 2 objects not deleted \(InternalError\)/);
    mock.restore();
  });
});
