import {
  CreateIPSetCommand,
  GetIPSetCommand,
  UpdateIPSetCommand,
  WAFInvalidParameterException,
  WAFLimitsExceededException,
  WAFNonexistentItemException,
  WAFOptimisticLockException,
  WAFUnavailableEntityException,
  WAFV2Client,
} from '@aws-sdk/client-wafv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsRejectedError, RetriesExhaustedError, WafInvalidParameterError, WafLimitsExceededError } from '../../src/adapters/aws/errors.ts';
import { WafIpSetAdapter, WritePacer, type OwnedIpSet } from '../../src/adapters/aws/wafv2.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

const noSleep = async () => {};
/** A pacer on a virtual clock: enforces spacing without waiting in real time. */
function virtualPacer() {
  const clock = { t: 0 };
  const pacer = new WritePacer(1_000, () => clock.t, async (ms) => {
    clock.t += ms;
  });
  return { clock, pacer };
}

function v4(n: number, base = 10): string[] {
  return [...Array(n)].map((_, i) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
}

describeMoto('WafIpSetAdapter on moto', () => {
  const moto = useMoto();
  let client: WAFV2Client;

  beforeAll(() => {
    client = new WAFV2Client(moto.clientConfig());
  });
  afterAll(() => client?.destroy());
  beforeEach(() => moto.reset());

  async function createSet(name: string, version: 'IPV4' | 'IPV6', addresses: string[] = []): Promise<OwnedIpSet> {
    const res = await client.send(
      new CreateIPSetCommand({ Name: name, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: addresses, Description: `set ${name}` }),
    );
    return { name, id: res.Summary!.Id! };
  }
  const addressesOf = async (s: OwnedIpSet) =>
    (await client.send(new GetIPSetCommand({ Name: s.name, Id: s.id, Scope: 'REGIONAL' }))).IPSet!;

  async function setup(v4Sets = 3, perSet = 100) {
    const sets = {
      v4: await Promise.all([...Array(v4Sets)].map((_, i) => createSet(`cordon-v4-${i}`, 'IPV4'))),
      v6: [await createSet('cordon-v6-0', 'IPV6')],
    };
    const foreign = await createSet('team-allowlist', 'IPV4', ['192.0.2.0/24']);
    const make = () => new WafIpSetAdapter(client, { sets, addressesPerSet: perSet, pacer: virtualPacer().pacer, sleep: noSleep });
    return { sets, foreign, make };
  }

  it('applies desired addresses across owned sets, is idempotent, and never touches a foreign set', async () => {
    const { sets, foreign, make } = await setup();
    const adapter = make();
    const desired = { v4: v4(250), v6: ['2001:db8::/64', '2001:DB8:0:1::1'] };
    const res = await adapter.apply(desired);
    expect(res.changed).toBe(true);
    expect(res.writes).toBe(4);
    expect(res.sets.map((s) => s.addresses)).toEqual([100, 100, 50, 2]);
    expect(res.overflow).toEqual([]);

    const back = await adapter.read();
    expect(back.v4.length).toBe(250);
    expect(new Set(back.v4)).toEqual(new Set(desired.v4));
    expect(back.v6.sort()).toEqual(['2001:db8:0:1::1/128', '2001:db8::/64']);
    expect((await addressesOf(sets.v4[0])).Description).toBe('set cordon-v4-0'); // description kept

    const again = await make().apply(desired);
    expect(again).toMatchObject({ changed: false, writes: 0 });
    expect((await addressesOf(foreign)).Addresses).toEqual(['192.0.2.0/24']);
  });

  it('puts back a set that drifted, and only that set', async () => {
    const { sets, make } = await setup();
    const desired = { v4: v4(150), v6: [] };
    await make().apply(desired);
    const drifted = await client.send(new GetIPSetCommand({ Name: sets.v4[1].name, Id: sets.v4[1].id, Scope: 'REGIONAL' }));
    await client.send(
      new UpdateIPSetCommand({
        Name: sets.v4[1].name,
        Id: sets.v4[1].id,
        Scope: 'REGIONAL',
        Addresses: ['198.51.100.1/32'],
        LockToken: drifted.LockToken,
      }),
    );
    const res = await make().apply(desired);
    expect(res.writes).toBe(1);
    expect(new Set((await make().read()).v4)).toEqual(new Set(desired.v4));
  });

  it('more than 10,000 v4 addresses take two sets at 10,000 per set', async () => {
    const { make: _unused, ...rest } = await setup(2, 10_000);
    const adapter = new WafIpSetAdapter(client, { sets: rest.sets, pacer: virtualPacer().pacer, sleep: noSleep });
    const res = await adapter.apply({ v4: v4(10_050), v6: [] });
    expect(res.sets.filter((s) => s.family === 'v4').map((s) => s.addresses)).toEqual([10_000, 50]);
    expect((await addressesOf(rest.sets.v4[0])).Addresses!.length).toBe(10_000);
    expect((await addressesOf(rest.sets.v4[1])).Addresses!.length).toBe(50);
  });

  it('two writers at once both converge; the loser of the lock race re-reads and does not write again', async () => {
    const { sets, make } = await setup(2, 100);
    const errors: string[] = [];
    const watched = new WAFV2Client(moto.clientConfig());
    watched.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          errors.push((err as Error).name);
          throw err;
        }
      },
      { step: 'initialize' },
    );
    const writer = () => new WafIpSetAdapter(watched, { sets, addressesPerSet: 100, pacer: virtualPacer().pacer, sleep: noSleep });
    const desired = { v4: v4(180), v6: ['2001:db8::/48'] };
    const [a, b] = await Promise.all([writer().apply(desired), writer().apply(desired)]);
    expect(errors).toContain('WAFOptimisticLockException');
    // Three sets change; moto enforces LockTokens, so exactly one write per set succeeds between the two.
    expect(a.writes + b.writes).toBe(3);
    const back = await make().read();
    expect(new Set(back.v4)).toEqual(new Set(desired.v4));
    expect(back.v6).toEqual(['2001:db8::/48']);
    watched.destroy();
  });

  it('reports what does not fit instead of dropping it silently', async () => {
    const { make } = await setup(1, 10);
    const res = await make().apply({ v4: [...v4(12), '203.0.113.0/24'], v6: [] });
    expect(res.sets[0].addresses).toBe(10);
    expect(res.overflow.length).toBe(3);
    // Wider prefixes are kept first.
    expect((await make().read()).v4).toContain('203.0.113.0/24');
  });
});

describe('WafIpSetAdapter faults (mocked client)', () => {
  const waf = new WAFV2Client({ region: 'us-east-1' });
  const mock = mockClient(waf);
  const sets = { v4: [{ name: 'cordon-v4-0', id: 'id-0' }], v6: [] as OwnedIpSet[] };
  const meta = { $metadata: {} };
  let token = 0;

  beforeEach(() => {
    token = 0;
    mock.reset();
    mock.on(GetIPSetCommand).callsFake(() => ({
      IPSet: { Name: 'cordon-v4-0', Id: 'id-0', ARN: 'arn', IPAddressVersion: 'IPV4', Addresses: ['10.9.9.9/32'] },
      LockToken: `t${++token}`,
    }));
  });
  afterAll(() => mock.restore());

  const adapter = (extra: Partial<ConstructorParameters<typeof WafIpSetAdapter>[1]> = {}) =>
    new WafIpSetAdapter(waf, { sets, pacer: virtualPacer().pacer, sleep: noSleep, ...extra });
  const desired = { v4: ['10.0.0.1/32', '10.0.0.2/32'], v6: [] };

  it('WAFOptimisticLockException twice, then success: re-reads each time and writes the final addresses once', async () => {
    mock
      .on(UpdateIPSetCommand)
      .rejectsOnce(new WAFOptimisticLockException({ message: 'changed', ...meta }))
      .rejectsOnce(new WAFOptimisticLockException({ message: 'changed', ...meta }))
      .resolves({ NextLockToken: 'next' });
    const res = await adapter().apply(desired);
    expect(res).toMatchObject({ changed: true, writes: 1 });
    const updates = mock.commandCalls(UpdateIPSetCommand).map((c) => c.args[0].input);
    expect(updates.map((u) => u.LockToken)).toEqual(['t1', 't2', 't3']);
    for (const u of updates) expect(u.Addresses).toEqual(desired.v4);
    expect(mock.commandCalls(GetIPSetCommand).length).toBe(3);
  });

  it('throttling and WAFUnavailableEntityException are retried', async () => {
    mock
      .on(GetIPSetCommand)
      .rejectsOnce(new WAFUnavailableEntityException({ message: 'just created', ...meta }))
      .callsFake(() => ({ IPSet: { Name: 'n', Id: 'id-0', ARN: 'a', IPAddressVersion: 'IPV4', Addresses: [] }, LockToken: `t${++token}` }));
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    mock.on(UpdateIPSetCommand).rejectsOnce(throttled).resolves({ NextLockToken: 'n' });
    const res = await adapter().apply(desired);
    expect(res.writes).toBe(1);
    expect(mock.commandCalls(UpdateIPSetCommand).length).toBe(2);
  });

  it('WAFLimitsExceededException surfaces as WafLimitsExceededError naming the set; not retried', async () => {
    mock.on(UpdateIPSetCommand).rejects(new WAFLimitsExceededException({ message: 'too many', ...meta }));
    const err = await adapter().apply(desired).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WafLimitsExceededError);
    expect((err as WafLimitsExceededError).name).toBe('WafLimitsExceededError');
    expect((err as WafLimitsExceededError).context).toMatchObject({ set: 'cordon-v4-0', addresses: 2 });
    expect(mock.commandCalls(UpdateIPSetCommand).length).toBe(1);
  });

  it('WAFInvalidParameterException surfaces as WafInvalidParameterError', async () => {
    mock.on(UpdateIPSetCommand).rejects(new WAFInvalidParameterException({ message: 'bad cidr', ...meta } as never));
    await expect(adapter().apply(desired)).rejects.toBeInstanceOf(WafInvalidParameterError);
  });

  it('a lock that never frees ends in RetriesExhaustedError after bounded attempts', async () => {
    mock.on(UpdateIPSetCommand).rejects(new WAFOptimisticLockException({ message: 'changed', ...meta }));
    await expect(adapter({ maxAttempts: 4 }).apply(desired)).rejects.toBeInstanceOf(RetriesExhaustedError);
    expect(mock.commandCalls(UpdateIPSetCommand).length).toBe(4);
  });

  it('a missing owned set is a named error; v6 blocks without a v6 set are reported as overflow', async () => {
    mock.on(UpdateIPSetCommand).resolves({ NextLockToken: 'n' });
    const res = await adapter().apply({ v4: ['10.0.0.1'], v6: ['2001:db8::1'] });
    expect(res.overflow).toEqual(['2001:db8::1/128']);
    mock.on(GetIPSetCommand).rejects(new WAFNonexistentItemException({ message: 'gone', ...meta }));
    const err = await adapter().apply(desired).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsRejectedError);
    expect((err as AwsRejectedError).context).toMatchObject({ set: 'cordon-v4-0' });
  });

  it('paces writes to at most one per second', async () => {
    const { clock, pacer } = virtualPacer();
    const at: number[] = [];
    mock.on(UpdateIPSetCommand).callsFake(() => {
      at.push(clock.t);
      return { NextLockToken: 'n' };
    });
    const three = { v4: [{ name: 'a', id: 'a' }, { name: 'b', id: 'b' }, { name: 'c', id: 'c' }], v6: [] };
    await new WafIpSetAdapter(waf, { sets: three, addressesPerSet: 1, pacer, sleep: noSleep }).apply({ v4: v4(3), v6: [] });
    expect(at.length).toBe(3);
    for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(1_000);
  });
});

/**
 * The same faults on the in-process WAF twin (src/adapters/local/waf-twin.ts), which holds the sets: what matters is
 * what the sets hold afterwards. A retried write lands the desired addresses exactly; a refused one leaves the set
 * as it was.
 */
describe('WafIpSetAdapter faults on the WAF twin: what the sets hold afterwards', () => {
  const before = ['10.9.9.9/32'];
  const desired = { v4: ['10.0.0.1/32', '10.0.0.2/32'], v6: [] };

  function setup() {
    const clock = { t: 1_700_000_000_000 };
    const twin = new WafTwin({ clock: () => clock.t });
    const v4Set = twin.createIpSet({ name: 'cordon-v4-0', version: 'IPV4', addresses: before });
    const sets = { v4: [{ name: v4Set.name, id: v4Set.id }], v6: [] as OwnedIpSet[] };
    const adapter = (extra: Partial<ConstructorParameters<typeof WafIpSetAdapter>[1]> = {}) =>
      new WafIpSetAdapter(twin.client(), {
        sets,
        pacer: new WritePacer(1_000, () => clock.t, async (ms) => {
          clock.t += ms;
        }),
        sleep: async (ms) => {
          clock.t += ms;
        },
        random: () => 1,
        ...extra,
      });
    const held = () => [...(twin.ipSet(v4Set.id)?.addresses ?? [])].sort();
    return { twin, adapter, held };
  }

  it('WAFOptimisticLockException twice, then success: the set holds exactly the desired addresses, written once', async () => {
    const { twin, adapter, held } = setup();
    twin.failNext('UpdateIPSet', { name: 'WAFOptimisticLockException', message: 'changed' }, 2);
    expect(await adapter().apply(desired)).toMatchObject({ changed: true, writes: 1 });
    expect(held()).toEqual(desired.v4);
    expect(twin.writes).toBe(1);
    expect(twin.calls.UpdateIPSet).toBe(3); // the two refused, then the one that landed
  });

  it('WAFUnavailableEntityException on the read and throttling on the write, retried: the desired addresses land', async () => {
    const { twin, adapter, held } = setup();
    twin.failNext('GetIPSet', { name: 'WAFUnavailableEntityException', message: 'just created' });
    twin.failNext('UpdateIPSet', { name: 'ThrottlingException', message: 'Rate exceeded' });
    expect(await adapter().apply(desired)).toMatchObject({ writes: 1 });
    expect(held()).toEqual(desired.v4);
    expect(twin.calls.UpdateIPSet).toBe(2); // the throttled one, then the one that landed
  });

  it.each([
    ['WAFLimitsExceededException', WafLimitsExceededError],
    ['WAFInvalidParameterException', WafInvalidParameterError],
  ] as const)('%s: a named error, and the set still holds what it held', async (name, errorClass) => {
    const { twin, adapter, held } = setup();
    twin.failNext('UpdateIPSet', { name, message: 'refused' });
    await expect(adapter().apply(desired)).rejects.toBeInstanceOf(errorClass);
    expect(held()).toEqual(before);
    expect(twin.writes).toBe(0);
  });

  it('a lock that never frees: RetriesExhaustedError, the set unchanged; once it frees, the next apply converges', async () => {
    const { twin, adapter, held } = setup();
    twin.failNext('UpdateIPSet', { name: 'WAFOptimisticLockException', message: 'changed' }, 4);
    await expect(adapter({ maxAttempts: 4 }).apply(desired)).rejects.toBeInstanceOf(RetriesExhaustedError);
    expect(held()).toEqual(before);
    expect(await adapter().apply(desired)).toMatchObject({ changed: true, writes: 1 });
    expect(held()).toEqual(desired.v4);
  });
});
