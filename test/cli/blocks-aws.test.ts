import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTableInput, LEDGER_TABLE_KEYS } from '../../src/adapters/aws/dynamo-common.ts';
import { DynamoLedgerStore } from '../../src/adapters/aws/dynamodb.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { describeMoto, TEST_REGION, useMoto } from '../helpers/moto.ts';

/** Operators release and extend blocks of the deployed ledger from the same command (DynamoDB on moto). */
describeMoto('cordon blocks --ledger-table', () => {
  const moto = useMoto();
  let client: DynamoDBClient;
  const now = Date.now();

  beforeAll(async () => {
    client = new DynamoDBClient(moto.clientConfig());
    await client.send(new CreateTableCommand(createTableInput('ledger', LEDGER_TABLE_KEYS)));
    const store = new DynamoLedgerStore(client, 'ledger');
    await store.put(entry('192.0.2.50', 'ip', now - 60_000));
    // A host with two blocks in force (decided in two windows), inside a blocked /24; an IPv6 /64.
    await store.put(entry('198.51.100.7', 'ip', now - 120_000));
    await store.put({ ...entry('198.51.100.7', 'ip', now - 60_000), reasons: ['login-bruteforce'] });
    await store.put(entry('198.51.100.0/24', 'cidr', now - 30_000));
    await store.put(entry('2001:db8:1:2::/64', 'cidr', now - 60_000));
    await store.put(entry('192.0.2.60', 'ip', now - 60_000));
    await store.put({ ...entry('unverified:arn:aws:iam::123456789012:user/partner', 'ip', now - 60_000), targetKind: 'principal' });
    await store.put({ ...entry('unverified:user1234567', 'ip', now - 60_000), targetKind: 'principal' });
  });
  const entry = (target: string, targetKind: 'ip' | 'cidr', createdAt: number): LedgerEntry => ({ target, targetKind, createdAt,
    expiresAt: now + 3_600_000, status: 'active', reasons: ['flood'], score: 5, priorBlocks: 0,
    evidence: { key: target, keyKind: targetKind === 'ip' ? 'ip' : 'prefix', windowStart: 0, windowEnd: 0, findings: [], features: {}, held: 'unmistakable' },
    alerted: ['active'] });
  afterAll(() => client?.destroy());

  const cordon = (...args: string[]) => spawnSync(process.execPath, [resolve('bin/cordon'), 'blocks', ...args, '--ledger-table', 'ledger'], {
    encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: TEST_REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
  });

  it('lists, extends and releases; the release is left for the contain stage to apply and alert', async () => {
    const list = cordon('list');
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain('192.0.2.50');

    expect(cordon('extend', '192.0.2.50', '--minutes', '30').status).toBe(0);
    const store = new DynamoLedgerStore(client, 'ledger');
    const [extended] = await store.history('192.0.2.50');
    expect(extended.expiresAt).toBe(now + 3_600_000 + 30 * 60_000);

    const rel = cordon('release', '192.0.2.50');
    expect(rel.status, rel.stderr).toBe(0);
    const [released] = await store.history('192.0.2.50');
    expect(released).toMatchObject({ status: 'released', alerted: ['active'] });
    expect((await store.listActive(Date.now())).map((e) => e.target)).not.toContain('192.0.2.50');
  });

  it('an address with no block of its own that a wider block holds: the release names that block (an IPv6 client\'s /64, a neighbour in a /24)', () => {
    const v6 = cordon('release', '2001:db8:1:2::abcd');
    expect(v6.status).toBe(2);
    expect(v6.stderr).toMatch(/2001:db8:1:2::abcd: no block of its own, but blocked by 2001:db8:1:2::\/64 \(until .*\): release that block/);
    const neighbour = cordon('release', '198.51.100.9');
    expect(neighbour.status).toBe(2);
    expect(neighbour.stderr).toMatch(/blocked by 198\.51\.100\.0\/24/);
    expect(cordon('release', '203.0.113.1').stderr).toMatch(/no active block as of/);
  });

  it('a release ends every active block of the target, and says what still blocks it', async () => {
    const store = new DynamoLedgerStore(client, 'ledger');
    const rel = cordon('release', '198.51.100.7');
    expect(rel.status, rel.stderr).toBe(0);
    expect((await store.history('198.51.100.7')).map((e) => e.status)).toEqual(['released', 'released']);
    expect(rel.stdout).toMatch(/198\.51\.100\.7: still blocked by 198\.51\.100\.0\/24 until /);
    // Typed in another form of the same block.
    const v6 = cordon('release', '2001:DB8:1:2:0::/64');
    expect(v6.status, v6.stderr).toBe(0);
    expect((await store.history('2001:db8:1:2::/64')).map((e) => e.status)).toEqual(['released']);
    expect(v6.stdout).not.toMatch(/still blocked/);
    // A host typed with its /32; an ARN as the operator knows it, keyed unverified (it came from an authorizer's principalId).
    expect(cordon('release', '192.0.2.60/32').status).toBe(0);
    expect((await store.history('192.0.2.60')).map((e) => e.status)).toEqual(['released']);
    const arn = cordon('release', 'arn:aws:iam::123456789012:user/partner');
    expect(arn.status, arn.stderr).toBe(0);
    expect((await store.history('unverified:arn:aws:iam::123456789012:user/partner')).map((e) => e.status)).toEqual(['released']);
    // An authorizer's principalId shaped like a key id, typed as the deny list shows it.
    expect(cordon('release', 'user1234567').status).toBe(0);
    expect((await store.history('unverified:user1234567')).map((e) => e.status)).toEqual(['released']);
  });
});
