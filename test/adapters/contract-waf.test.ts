import { CreateIPSetCommand, GetIPSetCommand, UpdateIPSetCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsRejectedError } from '../../src/adapters/aws/errors.ts';
import { WafIpSetAdapter, WritePacer, type OwnedIpSet } from '../../src/adapters/aws/wafv2.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { describeMoto, useMoto, type MotoServer } from '../helpers/moto.ts';

/**
 * One contract for WAF IP sets, run with the real WafIpSetAdapter against the in-process twin and against moto.
 * Setup and drift go through the same SDK calls on both. Cases moto cannot hold (it accepts any string as an
 * address, has no 10,000 limit, no quotas, no propagation; aws-facts.md) run in the twin-only suite.
 */

const noSleep = async () => {};

interface Env {
  client: WAFV2Client;
  /** Virtual time: the pacer, the adapters' sleeps and the twin share it. */
  clock: { t: number };
  pacer: WritePacer;
  twin?: WafTwin;
}

interface Backend {
  name: string;
  setup(): Promise<Env>;
}

function virtualTime(t0 = 1_700_000_000_000) {
  const clock = { t: t0 };
  const pacer = new WritePacer(1_000, () => clock.t, async (ms) => {
    clock.t += ms;
  });
  return { clock, pacer };
}

const twinBackend: Backend = {
  name: 'twin',
  async setup() {
    const { clock, pacer } = virtualTime();
    const twin = new WafTwin({ clock: () => clock.t });
    return { client: twin.client(), clock, pacer, twin };
  },
};

function motoBackend(moto: MotoServer): Backend {
  let client: WAFV2Client | undefined;
  afterAll(() => client?.destroy());
  return {
    name: 'moto',
    async setup() {
      await moto.reset();
      client ??= new WAFV2Client(moto.clientConfig());
      return { client, ...virtualTime() };
    },
  };
}


function v4(n: number, base = 10): string[] {
  return [...Array(n)].map((_, i) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
}

/** Creates a set through the API, paced like every WAF write (the twin enforces the quota on CreateIPSet too). */
async function createSet(env: Env, name: string, version: 'IPV4' | 'IPV6', addresses: string[] = []): Promise<OwnedIpSet> {
  await env.pacer.wait();
  const res = await env.client.send(new CreateIPSetCommand({ Name: name, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: addresses, Description: `set ${name}` }));
  return { name, id: res.Summary!.Id! };
}

/** A read by the test itself, a (virtual) second after anything else, so it never competes for WAF's 5 reads/s. */
async function getSet(env: Env, s: OwnedIpSet) {
  env.clock.t += 1_000;
  return env.client.send(new GetIPSetCommand({ Name: s.name, Id: s.id, Scope: 'REGIONAL' }));
}

async function update(env: Env, s: OwnedIpSet, addresses: string[], lockToken?: string) {
  await env.pacer.wait();
  const token = lockToken ?? (await getSet(env, s)).LockToken;
  return env.client.send(new UpdateIPSetCommand({ Name: s.name, Id: s.id, Scope: 'REGIONAL', Addresses: addresses, LockToken: token }));
}

async function owned(env: Env, v4Sets: number) {
  const sets = { v4: [] as OwnedIpSet[], v6: [] as OwnedIpSet[] };
  for (let i = 0; i < v4Sets; i++) sets.v4.push(await createSet(env, `cordon-v4-${i}`, 'IPV4'));
  sets.v6.push(await createSet(env, 'cordon-v6-0', 'IPV6'));
  return sets;
}

/**
 * The adapter under test, on the virtual clock: its backoff moves the clock (the twin enforces WAF's 5 reads/s, and
 * the adapter reads every owned set at once, so with several sets it is throttled and backs off, as it would be in
 * AWS). Full-length backoff (random = 1) keeps the runs deterministic.
 */
function adapterFor(env: Env, sets: { v4: OwnedIpSet[]; v6: OwnedIpSet[] }, perSet?: number) {
  return new WafIpSetAdapter(env.client, {
    sets,
    addressesPerSet: perSet,
    pacer: env.pacer,
    sleep: async (ms) => {
      env.clock.t += ms;
    },
    random: () => 1,
  });
}

/** The contract, registered once per backend below. */
function contract(backend: Backend): void {
  let env: Env;
  beforeEach(async () => {
    env = await backend.setup();
  });

  it('round trip: desired addresses land across the owned sets and read back; a foreign set is untouched', async () => {
    const foreign = await createSet(env, 'team-allowlist', 'IPV4', ['192.0.2.0/24']);
    const sets = await owned(env, 3);
    const desired = { v4: v4(250), v6: ['2001:db8::/64', '2001:DB8:0:1::1'] };
    const res = await adapterFor(env, sets, 100).apply(desired);
    expect(res).toMatchObject({ changed: true, writes: 4, overflow: [], rejected: [] });
    expect(res.sets.map((s) => s.addresses)).toEqual([100, 100, 50, 2]);
    const back = await adapterFor(env, sets, 100).read();
    expect(new Set(back.v4)).toEqual(new Set(desired.v4));
    expect(back.v6).toEqual(['2001:db8:0:1::1/128', '2001:db8::/64']);
    expect((await getSet(env, sets.v4[0])).IPSet!.Description).toBe('set cordon-v4-0');
    expect((await getSet(env, foreign)).IPSet!.Addresses).toEqual(['192.0.2.0/24']);
  });

  it('idempotent: applying the same desired state again writes nothing (LockTokens unchanged)', async () => {
    const sets = await owned(env, 2);
    const desired = { v4: v4(150), v6: ['2001:db8::/48'] };
    await adapterFor(env, sets, 100).apply(desired);
    const tokensOf = async () => {
      const out: (string | undefined)[] = [];
      for (const s of [...sets.v4, ...sets.v6]) out.push((await getSet(env, s)).LockToken);
      return out;
    };
    const tokens = await tokensOf();
    const again = await adapterFor(env, sets, 100).apply(desired);
    expect(again).toMatchObject({ changed: false, writes: 0 });
    expect(await tokensOf()).toEqual(tokens);
  });

  it('drift: a set changed behind cordon is put back, and only that set is written', async () => {
    const sets = await owned(env, 2);
    const desired = { v4: v4(150), v6: [] };
    await adapterFor(env, sets, 100).apply(desired);
    await update(env, sets.v4[1], ['198.51.100.1/32']);
    const res = await adapterFor(env, sets, 100).apply(desired);
    expect(res.writes).toBe(1);
    expect(new Set((await adapterFor(env, sets, 100).read()).v4)).toEqual(new Set(desired.v4));
  });

  it('over-limit: 10,001 addresses for one set: 10,000 are written, the widest kept, one reported as overflow', async () => {
    const sets = { v4: [await createSet(env, 'cordon-v4-0', 'IPV4')], v6: [] };
    const desired = [...v4(10_000), '203.0.113.0/24'];
    const res = await adapterFor(env, sets).apply({ v4: desired, v6: [] });
    expect(res.overflow.length).toBe(1);
    const stored = (await getSet(env, sets.v4[0])).IPSet!.Addresses!;
    expect(stored.length).toBe(10_000);
    expect(stored).toContain('203.0.113.0/24');
  });

  it('invalid entries (not an address, /0) are reported and never sent, so the valid ones still land', async () => {
    const sets = { v4: [await createSet(env, 'cordon-v4-0', 'IPV4')], v6: [] };
    const res = await adapterFor(env, sets).apply({ v4: ['not-an-ip', '0.0.0.0/0', '10.0.0.1'], v6: [] });
    expect(res.rejected.sort()).toEqual(['0.0.0.0/0', 'not-an-ip']);
    expect((await getSet(env, sets.v4[0])).IPSet!.Addresses).toEqual(['10.0.0.1/32']);
  });

  it('a stale LockToken is refused with WAFOptimisticLockException and changes nothing', async () => {
    const sets = await owned(env, 1);
    const before = await getSet(env, sets.v4[0]);
    await update(env, sets.v4[0], ['10.0.0.1/32'], before.LockToken);
    const err = (await update(env, sets.v4[0], ['10.9.9.9/32'], before.LockToken).catch((e: unknown) => e)) as Error & { $fault?: string };
    expect(err.name).toBe('WAFOptimisticLockException');
    expect(err.$fault).toBe('client');
    expect((await getSet(env, sets.v4[0])).IPSet!.Addresses).toEqual(['10.0.0.1/32']);
  });

  it('two writers sharing the process pacer both converge; the loser of the lock race re-reads and does not write', async () => {
    const sets = await owned(env, 2);
    const desired = { v4: v4(180), v6: ['2001:db8::/48'] };
    const [a, b] = await Promise.all([adapterFor(env, sets, 100).apply(desired), adapterFor(env, sets, 100).apply(desired)]);
    expect(a.writes + b.writes).toBe(3);
    const back = await adapterFor(env, sets, 100).read();
    expect(new Set(back.v4)).toEqual(new Set(desired.v4));
    expect(back.v6).toEqual(['2001:db8::/48']);
  });

  it('a missing owned set is a named error (WAFNonexistentItemException underneath)', async () => {
    const sets = { v4: [{ name: 'cordon-v4-0', id: '00000000-0000-4000-8000-00000000dead' }], v6: [] };
    const err = (await adapterFor(env, sets).apply({ v4: ['10.0.0.1'], v6: [] }).catch((e: unknown) => e)) as AwsRejectedError;
    expect(err).toBeInstanceOf(AwsRejectedError);
    expect((err.cause as Error).name).toBe('WAFNonexistentItemException');
  });
}

describe('WAF IP set contract: twin', () => contract(twinBackend));

// Skipped (visibly) without moto_server locally, failed in CI; moto is started only for this suite.
describeMoto('WAF IP set contract: moto', () => contract(motoBackend(useMoto())));

describe('WAF twin only', () => {
  function setup(opts: ConstructorParameters<typeof WafTwin>[0] = {}) {
    const { clock, pacer } = virtualTime();
    const twin = new WafTwin({ clock: () => clock.t, ...opts });
    const env: Env = { client: twin.client(), clock, pacer, twin };
    return { env, twin, clock };
  }
  const nameOf = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as Error).name;

  // moto has no 10,000 limit (aws-facts.md): it stores 10,001 addresses. AWS refuses them.
  it('UpdateIPSet with 10,001 addresses: WAFLimitsExceededException, nothing written', async () => {
    const { env } = setup();
    const s = await createSet(env, 'cordon-v4-0', 'IPV4');
    expect(await nameOf(update(env, s, v4(10_001)))).toBe('WAFLimitsExceededException');
    expect((await getSet(env, s)).IPSet!.Addresses).toEqual([]);
    await update(env, s, v4(10_000));
    expect((await getSet(env, s)).IPSet!.Addresses!.length).toBe(10_000);
  });

  // moto accepts any string as an address (aws-facts.md).
  it('UpdateIPSet with a non-CIDR, a bare address, /0 or the wrong family: WAFInvalidParameterException', async () => {
    const { env } = setup();
    const s = await createSet(env, 'cordon-v4-0', 'IPV4');
    for (const bad of ['not-an-ip', '10.0.0.1', '0.0.0.0/0', '2001:db8::/64', ' 10.0.0.0/8']) {
      env.clock.t += 1_000;
      const err = (await update(env, s, ['10.1.0.0/16', bad]).catch((e: unknown) => e)) as Error & { Field?: string; $metadata?: { httpStatusCode?: number } };
      expect(err.name, bad).toBe('WAFInvalidParameterException');
      expect(err.$metadata?.httpStatusCode).toBe(400);
    }
    expect((await getSet(env, s)).IPSet!.Addresses).toEqual([]);
  });

  // moto has no API quotas.
  it('write quota: a second UpdateIPSet within a second is throttled (ThrottlingException); the adapter outwaits it', async () => {
    const { env, twin, clock } = setup();
    const sets = await owned(env, 3);
    const [t0, t1] = [(await getSet(env, sets.v4[0])).LockToken, (await getSet(env, sets.v4[1])).LockToken];
    await env.client.send(new UpdateIPSetCommand({ Name: sets.v4[0].name, Id: sets.v4[0].id, Scope: 'REGIONAL', Addresses: [], LockToken: t0 }));
    clock.t += 999;
    const err = (await env.client
      .send(new UpdateIPSetCommand({ Name: sets.v4[1].name, Id: sets.v4[1].id, Scope: 'REGIONAL', Addresses: [], LockToken: t1 }))
      .catch((e: unknown) => e)) as Error & { $fault?: string; $metadata?: { httpStatusCode?: number } };
    expect({ name: err.name, fault: err.$fault, status: err.$metadata?.httpStatusCode }).toEqual({ name: 'ThrottlingException', fault: 'client', status: 400 });

    // An adapter that does not pace (a second writer in another process, say) still converges: it backs off on
    // throttling, and its sleep moves the clock.
    const unpaced = new WafIpSetAdapter(env.client, {
      sets,
      addressesPerSet: 100,
      pacer: new WritePacer(0, () => clock.t, noSleep),
      sleep: async (ms) => {
        clock.t += ms;
      },
      random: () => 1,
    });
    const start = clock.t;
    const desired = { v4: v4(250), v6: ['2001:db8::/64'] };
    const res = await unpaced.apply(desired);
    expect(res.writes).toBe(4);
    expect(twin.throttled.UpdateIPSet).toBeGreaterThan(1);
    expect(clock.t - start).toBeGreaterThanOrEqual(3_000);
    expect(new Set((await unpaced.read()).v4)).toEqual(new Set(desired.v4));
  });

  // moto applies a change at once; AWS takes seconds to minutes to enforce it.
  it('propagation: a change is enforced only after the delay; effectiveAt tells from when', async () => {
    const { env, twin, clock } = setup({ propagationDelayMs: 30_000 });
    const sets = await owned(env, 1);
    const adapter = adapterFor(env, sets);
    clock.t += 1_000;
    const before = clock.t;
    await adapter.apply({ v4: ['203.0.113.0/24'], v6: [] });
    const written = clock.t;
    expect(written).toBe(before);
    expect(twin.isEnforced('203.0.113.7', written)).toBe(false);
    expect(twin.isEnforced('203.0.113.7', written + 29_999)).toBe(false);
    expect(twin.isEnforced('203.0.113.7', written + 30_000)).toBe(true);
    expect(twin.effectiveAt('203.0.113.7')).toBe(written + 30_000);
    expect(twin.enforcedAddresses(sets.v4[0].id, written + 30_000)).toEqual(['203.0.113.0/24']);

    // Releasing: still enforced until the removal has propagated.
    clock.t += 60_000;
    const released = clock.t;
    await adapter.apply({ v4: [], v6: [] });
    expect(twin.isEnforced('203.0.113.7', released + 10_000)).toBe(true);
    expect(twin.isEnforced('203.0.113.7', released + 30_000)).toBe(false);
    expect(twin.effectiveAt('203.0.113.7')).toBeUndefined();
  });

  it("the SDK's own retry runs: a 500 from WAF is retried by the client before the adapter sees anything", async () => {
    const { env, twin } = setup();
    const sets = await owned(env, 1);
    twin.failNext('GetIPSet', { name: 'WAFInternalErrorException', status: 500, message: 'internal' });
    const client = twin.client({ maxAttempts: 2 });
    const adapter = new WafIpSetAdapter(client, { sets, pacer: env.pacer, sleep: async () => Promise.reject(new Error('the adapter must not need to retry')) });
    expect(await adapter.read()).toEqual({ v4: [], v6: [] });
    expect(twin.calls.GetIPSet).toBe(3); // 1 for v4 (failed, then retried by the SDK) + 1 for v6
  });

  it('UpdateIPSet is a full replace: every write issues a new LockToken and a Description left out is cleared', async () => {
    const { env } = setup();
    const s = await createSet(env, 'cordon-v4-0', 'IPV4');
    const first = await getSet(env, s);
    expect(first.IPSet!.Description).toBe('set cordon-v4-0');
    const res = await update(env, s, ['10.0.0.0/8'], first.LockToken);
    expect(res.NextLockToken).not.toBe(first.LockToken);
    const after = await getSet(env, s);
    expect(after.LockToken).toBe(res.NextLockToken);
    expect(after.IPSet!.Description).toBeUndefined();
  });
});
