import { CreateIPSetCommand, GetIPSetCommand, UpdateIPSetCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { WafIpSetAdapter, WritePacer, type OwnedIpSet } from '../../src/adapters/aws/wafv2.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { describeMoto, useMoto, type MotoServer } from '../helpers/moto.ts';

/**
 * The route IP sets (config waf.routeScoped) through the real WafIpSetAdapter, on the twin and on moto: the route
 * addresses land in the route sets only, with the same per-set limit, and what does not fit is overflow. The 10,000
 * limit itself only on the twin (moto has none).
 */

interface Env {
  client: WAFV2Client;
  clock: { t: number };
  pacer: WritePacer;
}

function virtualTime() {
  const clock = { t: 1_700_000_000_000 };
  const pacer = new WritePacer(1_000, () => clock.t, async (ms) => {
    clock.t += ms;
  });
  return { clock, pacer };
}

const v4 = (n: number, base = 10) => [...Array(n)].map((_, i) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);

async function createSet(env: Env, name: string, version: 'IPV4' | 'IPV6'): Promise<OwnedIpSet> {
  await env.pacer.wait();
  const res = await env.client.send(new CreateIPSetCommand({ Name: name, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: [] }));
  return { name, id: res.Summary!.Id! };
}

async function addressesOf(env: Env, s: OwnedIpSet): Promise<string[]> {
  env.clock.t += 1_000;
  return (await env.client.send(new GetIPSetCommand({ Name: s.name, Id: s.id, Scope: 'REGIONAL' }))).IPSet!.Addresses!;
}

async function ownedSets(env: Env) {
  return {
    sets: { v4: [await createSet(env, 'cordon-v4-0', 'IPV4')], v6: [await createSet(env, 'cordon-v6-0', 'IPV6')] },
    routeSets: { v4: [await createSet(env, 'cordon-route-v4-0', 'IPV4')], v6: [await createSet(env, 'cordon-route-v6-0', 'IPV6')] },
  };
}

function adapter(env: Env, owned: Awaited<ReturnType<typeof ownedSets>>, perSet?: number) {
  return new WafIpSetAdapter(env.client, { ...owned, addressesPerSet: perSet, pacer: env.pacer,
    sleep: async (ms) => { env.clock.t += ms; }, random: () => 1 });
}

function contract(setup: () => Promise<Env>): void {
  let env: Env;
  beforeEach(async () => {
    env = await setup();
  });

  it('route addresses go to the route sets, the others to the global sets; both read back; a second apply writes nothing', async () => {
    const owned = await ownedSets(env);
    const desired = { v4: ['192.0.2.9/32'], v6: [], route: { v4: ['198.51.100.7/32', '203.0.113.0/24'], v6: ['2001:db8:1:2::/64'] } };
    const res = await adapter(env, owned).apply(desired);
    expect(res).toMatchObject({ changed: true, writes: 3, overflow: [], rejected: [] });
    expect(res.sets.map((s) => [s.name, s.addresses, s.route ?? false])).toEqual([
      ['cordon-v4-0', 1, false], ['cordon-v6-0', 0, false], ['cordon-route-v4-0', 2, true], ['cordon-route-v6-0', 1, true]]);
    expect(await addressesOf(env, owned.sets.v4[0])).toEqual(['192.0.2.9/32']);
    expect((await addressesOf(env, owned.routeSets.v4[0])).sort()).toEqual(['198.51.100.7/32', '203.0.113.0/24']);
    expect(await adapter(env, owned).read()).toEqual({ v4: ['192.0.2.9/32'], v6: [],
      route: { v4: ['198.51.100.7/32', '203.0.113.0/24'], v6: ['2001:db8:1:2::/64'] } });
    expect(await adapter(env, owned).apply(desired)).toMatchObject({ changed: false, writes: 0 });
  });

  it('no route member: the route sets are emptied, the global ones untouched', async () => {
    const owned = await ownedSets(env);
    await adapter(env, owned).apply({ v4: ['192.0.2.9/32'], v6: [], route: { v4: ['198.51.100.7/32'], v6: [] } });
    const res = await adapter(env, owned).apply({ v4: ['192.0.2.9/32'], v6: [] });
    expect(res.writes).toBe(1);
    expect(await addressesOf(env, owned.routeSets.v4[0])).toEqual([]);
    expect(await addressesOf(env, owned.sets.v4[0])).toEqual(['192.0.2.9/32']);
  });

  it('route sets full: the overflow is reported, never moved to the global sets', async () => {
    const owned = await ownedSets(env);
    const res = await adapter(env, owned, 2).apply({ v4: [], v6: [], route: { v4: ['198.51.100.1/32', '198.51.100.3/32', '10.9.9.9/32'], v6: [] } });
    expect(res.overflow).toHaveLength(1);
    expect(await addressesOf(env, owned.routeSets.v4[0])).toHaveLength(2);
    expect(await addressesOf(env, owned.sets.v4[0])).toEqual([]);
  });

  it('without route sets, route addresses are all overflow and nothing is written for them', async () => {
    const owned = await ownedSets(env);
    const res = await adapter(env, { sets: owned.sets, routeSets: { v4: [], v6: [] } }).apply({ v4: [], v6: [], route: { v4: ['198.51.100.7'], v6: [] } });
    expect(res.overflow).toEqual(['198.51.100.7/32']);
    expect(await addressesOf(env, owned.sets.v4[0])).toEqual([]);
  });
}

describe('WAF route IP sets: twin', () => contract(async () => {
  const { clock, pacer } = virtualTime();
  return { client: new WafTwin({ clock: () => clock.t }).client(), clock, pacer };
}));

function motoSetup(moto: MotoServer): () => Promise<Env> {
  let client: WAFV2Client | undefined;
  afterAll(() => client?.destroy());
  return async () => {
    await moto.reset();
    client ??= new WAFV2Client(moto.clientConfig());
    return { client, ...virtualTime() };
  };
}

// Skipped (visibly) without moto_server locally, failed in CI.
describeMoto('WAF route IP sets: moto', () => contract(motoSetup(useMoto())));

describe('WAF route IP sets: the 10,000 limit (twin only: moto has none)', () => {
  it('a route set takes at most 10,000 addresses: WAF refuses more; the adapter writes 10,000, the widest kept, and reports the rest', async () => {
    const { clock, pacer } = virtualTime();
    const twin = new WafTwin({ clock: () => clock.t });
    const env: Env = { client: twin.client(), clock, pacer };
    const owned = await ownedSets(env);
    const route = owned.routeSets.v4[0];
    await pacer.wait();
    const token = (await env.client.send(new GetIPSetCommand({ Name: route.name, Id: route.id, Scope: 'REGIONAL' }))).LockToken;
    const err = (await env.client.send(new UpdateIPSetCommand({ Name: route.name, Id: route.id, Scope: 'REGIONAL', Addresses: v4(10_001),
      LockToken: token })).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('WAFLimitsExceededException');

    const res = await adapter(env, owned).apply({ v4: [], v6: [], route: { v4: [...v4(10_000), '203.0.113.0/24'], v6: [] } });
    expect(res.overflow).toHaveLength(1);
    const stored = await addressesOf(env, route);
    expect(stored).toHaveLength(10_000);
    expect(stored).toContain('203.0.113.0/24');
    expect(await addressesOf(env, owned.sets.v4[0])).toEqual([]);
  });
});
