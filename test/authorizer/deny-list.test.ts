import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3DenyList } from '../../src/adapters/aws/deny-list.ts';
import { AwsRejectedError } from '../../src/adapters/aws/errors.ts';
import { createDenyListChecker } from '../../src/authorizer/deny-list.ts';
import { parseDenyList, renderDenyList } from '../../src/authorizer/document.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

/** Counts the S3 requests a client sends, by command, as they go on the wire (not a mock of the answer). */
function counted(client: S3Client): Record<string, number> {
  const counts: Record<string, number> = {};
  client.middlewareStack.add((next, context) => async (args) => {
    counts[context.commandName ?? '?'] = (counts[context.commandName ?? '?'] ?? 0) + 1;
    return next(args);
  }, { step: 'initialize', name: 'countRequests' });
  return counts;
}

describe('the deny-list document', () => {
  it('is sorted and deduplicated, canonical CIDRs in address order, IPv4 first', () => {
    const doc = parseDenyList(renderDenyList({ principals: ['b', 'a', 'b'], cidrs: ['2001:DB8::/64', '198.51.100.7', '10.0.0.0/8', 'nope', '10.0.0.0/8'] }, 0));
    expect(doc).toEqual({ version: 1, updatedAt: '1970-01-01T00:00:00.000Z', principals: ['a', 'b'], cidrs: ['10.0.0.0/8', '198.51.100.7/32', '2001:db8::/64'] });
  });

  it('refuses another version or a damaged document', () => {
    expect(() => parseDenyList('{"version":2,"principals":[],"cidrs":[]}')).toThrow(/version 2/);
    expect(() => parseDenyList('{"version":1,"principals":"x","cidrs":[]}')).toThrow(/arrays of strings/);
    expect(() => parseDenyList('<html>')).toThrow(/not JSON/);
  });
});

describeMoto('deny list on S3 (moto): contain writes it, the authorizer helper reads it', () => {
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

  const readerClient = () => new S3Client({ ...moto.clientConfig(), forcePathStyle: true });

  it('the adapter writes a JSON object only when its content changes', async () => {
    const writer = new S3DenyList(client, { bucket, clock: () => Date.UTC(2026, 10, 1) });
    const w = new S3Client({ ...moto.clientConfig(), forcePathStyle: true });
    const counts = counted(w);
    const list = new S3DenyList(w, { bucket, clock: () => Date.UTC(2026, 10, 1) });
    expect(await list.apply({ principals: ['p2', 'p1'], cidrs: ['203.0.113.0/24'] })).toEqual({ changed: true });
    const obj = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'deny-list/v1.json' }));
    expect(obj.ContentType).toBe('application/json');
    expect(JSON.parse(await obj.Body!.transformToString())).toEqual({ version: 1, updatedAt: '2026-11-01T00:00:00.000Z',
      principals: ['p1', 'p2'], cidrs: ['203.0.113.0/24'] });
    // The same content in another order: read, compared, not written.
    expect(await list.apply({ principals: ['p1', 'p2', 'p1'], cidrs: ['203.0.113.0/24'] })).toEqual({ changed: false });
    expect(counts.PutObjectCommand).toBe(1);
    // Another writer (a second contain environment) sees it as equal too, and reads it back.
    expect(await writer.apply({ principals: ['p1', 'p2'], cidrs: ['203.0.113.0/24'] })).toEqual({ changed: false });
    expect(await writer.read()).toEqual({ principals: ['p1', 'p2'], cidrs: ['203.0.113.0/24'] });
    expect(await list.apply({ principals: ['p1'], cidrs: [] })).toEqual({ changed: true });
    expect(counts.PutObjectCommand).toBe(2);
    w.destroy();
  });

  it('a missing bucket is a rejection (a target failure for contain), not a crash', async () => {
    const list = new S3DenyList(client, { bucket: 'no-such-bucket-here' });
    await expect(list.apply({ principals: ['p'], cidrs: [] })).rejects.toBeInstanceOf(AwsRejectedError);
  });

  it('denies a listed principal and addresses inside listed blocks (IPv4 and IPv6), allows the rest; one GetObject per ttl', async () => {
    await new S3DenyList(client, { bucket }).apply({ principals: ['user-7f3a'], cidrs: ['198.51.100.0/24', '203.0.113.9', '2001:db8:1::/48'] });
    const s3 = readerClient();
    const counts = counted(s3);
    const checker = createDenyListChecker({ bucket, ttlSeconds: 30, s3 });

    expect(await checker.isDenied({ principal: 'user-7f3a' })).toBe(true);
    expect(counts.GetObjectCommand).toBe(1);
    expect(await checker.isDenied({ sourceIp: '198.51.100.200' })).toBe(true);
    expect(await checker.isDenied({ sourceIp: '203.0.113.9' })).toBe(true);
    expect(await checker.isDenied({ sourceIp: '2001:db8:1:ffff::1' })).toBe(true);
    expect(await checker.isDenied({ sourceIp: '::ffff:198.51.100.3' })).toBe(true);
    expect(await checker.isDenied({ sourceIp: '203.0.113.10', principal: 'user-other' })).toBe(false);
    expect(await checker.isDenied({ sourceIp: '2001:db8:2::1' })).toBe(false);
    expect(await checker.isDenied({ sourceIp: '198.51.100.0/24' })).toBe(false);
    expect(await checker.isDenied({})).toBe(false);
    // All inside the ttl: the list was read once.
    expect(counts.GetObjectCommand).toBe(1);
    s3.destroy();
  });

  it('after the ttl it asks again with the ETag: unchanged keeps the list, a change is read', async () => {
    const writer = new S3DenyList(client, { bucket });
    await writer.apply({ principals: ['a'], cidrs: [] });
    const clock = { t: 1_000_000 };
    const s3 = readerClient();
    const counts = counted(s3);
    const checker = createDenyListChecker({ bucket, ttlSeconds: 30, s3, now: () => clock.t });
    expect(await checker.isDenied({ principal: 'a' })).toBe(true);
    clock.t += 29_000;
    expect(await checker.isDenied({ principal: 'a' })).toBe(true);
    expect(counts.GetObjectCommand).toBe(1);
    clock.t += 2_000;
    expect(await checker.isDenied({ principal: 'a' })).toBe(true); // 304 from S3: the cached list stands
    expect(counts.GetObjectCommand).toBe(2);
    await writer.apply({ principals: ['b'], cidrs: [] });
    clock.t += 31_000;
    expect(await checker.isDenied({ principal: 'a' })).toBe(false);
    expect(await checker.isDenied({ principal: 'b' })).toBe(true);
    expect(counts.GetObjectCommand).toBe(3);
    s3.destroy();
  });

  it('an unreadable list keeps the last good one and logs once; with no list ever, nobody is denied', async () => {
    await new S3DenyList(client, { bucket }).apply({ principals: ['a'], cidrs: ['192.0.2.0/24'] });
    const logged: Record<string, unknown>[] = [];
    const clock = { t: 0 };
    const s3 = readerClient();
    const checker = createDenyListChecker({ bucket, ttlSeconds: 1, s3, now: () => clock.t, log: (message, f) => logged.push({ message, ...f }) });
    expect(await checker.isDenied({ principal: 'a' })).toBe(true);
    // Damaged in S3 (someone else's write): the good list stays, one warning for the whole streak.
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'deny-list/v1.json', Body: 'not json' }));
    for (let i = 0; i < 3; i++) {
      clock.t += 2_000;
      expect(await checker.isDenied({ sourceIp: '192.0.2.1' })).toBe(true);
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ message: 'deny list unreadable', keptLastGood: true, bucket });

    const neverLogged: Record<string, unknown>[] = [];
    const never = createDenyListChecker({ bucket: 'no-such-bucket-here', s3, log: (message, f) => neverLogged.push({ message, ...f }) });
    expect(await never.isDenied({ principal: 'a' })).toBe(false);
    expect(await never.isDenied({ principal: 'a' })).toBe(false);
    expect(neverLogged).toEqual([expect.objectContaining({ message: 'deny list unreadable', keptLastGood: false, error: 'NoSuchBucket' })]);
    s3.destroy();
  });
});
