import { describe, expect, it } from 'vitest';
import { ApiGatewayApiKeyAdapter } from '../../src/adapters/aws/api-keys.ts';
import { ApiGatewayPolicyAdapter } from '../../src/adapters/aws/apigateway.ts';
import { WafIpSetAdapter } from '../../src/adapters/aws/wafv2.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import { MemoryApiKeyRecord } from '../../src/adapters/local/api-key-record.ts';
import { ApiGatewayTwin } from '../../src/adapters/local/apigateway-twin.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { parseConfig } from '../../src/config.ts';
import { type ContainDeps, runContain } from '../../src/engine/contain.ts';
import { CountingMetrics, METRIC } from '../../src/engine/observe.ts';
import type { AlertBatch, LedgerEntry } from '../../src/ports.ts';

/**
 * API keys as a containment target, on the API Gateway twin through the real adapter (real APIGatewayClient, the
 * twin's wire) and the real contain: WAF and an IAM-authorized API's resource policy beside it.
 */

const T = 1_800_000_000_000;
const ACCOUNT = '123456789012';
const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;
const SUB = 'cognito:3f1c9a52-7d4e-4b8a-9e61-0c2d5b7a8f10';
/** Shaped like a key id, but no key of this account (an authorizer's principalId, say). */
const LOOKALIKE = 'q9w8e7r6t5';

function block(target: string, targetKind: LedgerEntry['targetKind'], over: Partial<LedgerEntry> = {}): LedgerEntry {
  return { target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['principal-many-ips'], score: 3,
    priorBlocks: 0, evidence: { key: target, keyKind: targetKind === 'principal' ? 'principal' : 'ip', windowStart: T - 60_000, windowEnd: T,
      findings: [], features: {}, held: 'unmistakable' }, ...over };
}

function setup(config: unknown = { apiKeys: { enabled: true } }, wire = true) {
  const clock = { t: T + 10_000 };
  const sleep = async (ms: number) => { clock.t += ms; };
  const waf = new WafTwin({ clock: () => clock.t, account: ACCOUNT });
  const v4 = waf.createIpSet({ name: 'cordon-v4-0', version: 'IPV4' });
  const v6 = waf.createIpSet({ name: 'cordon-v6-0', version: 'IPV6' });
  const ipSets = new WafIpSetAdapter(waf.client(), { sets: { v4: [v4], v6: [v6] }, addressesPerSet: 10_000, sleep, random: () => 0.5,
    pacer: new WritePacer(1_000, () => clock.t, sleep) });
  const apigw = new ApiGatewayTwin({ clock: () => clock.t, account: ACCOUNT, region: 'us-east-1' });
  const restApiId = apigw.createRestApi({ name: 'orders', stageName: 'prod', authorizationType: 'AWS_IAM' });
  const policy = new ApiGatewayPolicyAdapter(apigw.client(), { restApiId, stageName: 'prod', accountId: ACCOUNT, sleep, random: () => 0.5,
    deployPacer: new WritePacer(5_000, () => clock.t, sleep) });
  const record = new MemoryApiKeyRecord();
  const keys = new ApiGatewayApiKeyAdapter(apigw.client(), { record, clock: () => clock.t, pacer: new WritePacer(200, () => clock.t, sleep),
    backoff: { sleep, random: () => 0.5 } });
  const ledger = new SqliteState(':memory:');
  const alerts: AlertBatch[] = [];
  const metrics = new CountingMetrics();
  const deps: ContainDeps = { ledger, ipSets, policies: [policy], alerts: { publish: async (b) => { alerts.push(b); } },
    config: parseConfig(config), metrics, ...(wire ? { apiKeys: keys } : {}) };
  return { clock, waf, v4, apigw, restApiId, record, keys, ledger, alerts, metrics, deps };
}

type Setup = ReturnType<typeof setup>;
const entry = async (s: Setup, target: string) => (await s.ledger.listAll()).find((e) => e.target === target)!;
async function release(s: Setup, target: string, at: number): Promise<void> {
  await s.ledger.put({ ...(await entry(s, target)), status: 'released', endedAt: at });
}
const decisionOf = (s: Setup, target: string) => s.alerts.flatMap((a) => a.decisions).find((d) => d.target === target && d.action !== 'unblock')!;

describe('contain with API keys on (config.apiKeys.enabled)', () => {
  it('a blocked API key is disabled and the block is in effect; released, the next run enables it again', async () => {
    const s = setup();
    const key = s.apigw.createApiKey({ name: 'partner-7' });
    const bystander = s.apigw.createApiKey({ name: 'partner-8' });
    await s.ledger.put(block(key, 'principal'));
    const r = await runContain(s.deps, T + 20_000);

    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    expect(s.apigw.apiKey(bystander)!.enabled).toBe(true);
    expect(r.failures).toEqual([]);
    expect(r.apiKeys).toMatchObject({ disabled: [key], held: [key], enabled: [] });
    // The policy could not name it (not an IAM principal): no gap, since the key target holds it.
    expect(r.gaps).toEqual([]);
    expect((await entry(s, key)).effectiveAt).toBe(T + 20_000);
    const d = decisionOf(s, key);
    expect(d.action).toBe('block');
    expect(d.evidence.notEnforced).toBeUndefined();
    expect([...s.record.keys.keys()]).toEqual([key]);

    // Nothing changed: no write.
    const updates = s.apigw.calls.UpdateApiKey;
    const again = await runContain(s.deps, T + 80_000);
    expect(again.apiKeys).toMatchObject({ disabled: [], held: [key] });
    expect(s.apigw.calls.UpdateApiKey).toBe(updates);

    await release(s, key, T + 90_000);
    const after = await runContain(s.deps, T + 100_000);
    expect(after.apiKeys).toMatchObject({ enabled: [key], held: [] });
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
    expect(s.record.keys.size).toBe(0);
    expect(s.alerts.at(-1)!.decisions).toEqual([expect.objectContaining({ target: key, action: 'unblock' })]);
  });

  it('on expiry too: the run that ends the block enables the key', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    await runContain(s.deps, T + 20_000);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    const r = await runContain(s.deps, T + 20_000 + 3_600_000 + 1);
    expect(r.expired).toBe(1);
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
  });

  it("a key its owner disabled before cordon blocked it is held, never written, and stays disabled after release", async () => {
    const s = setup();
    const key = s.apigw.createApiKey({ enabled: false });
    await s.ledger.put(block(key, 'principal'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.apiKeys!.held).toEqual([key]);
    expect(r.apiKeys!.skipped).toEqual([{ key, why: expect.stringMatching(/someone else/) }]);
    expect((await entry(s, key)).effectiveAt).toBe(T + 20_000);
    expect(s.apigw.calls.UpdateApiKey ?? 0).toBe(0);
    expect(s.record.keys.size).toBe(0);

    await release(s, key, T + 30_000);
    await runContain(s.deps, T + 40_000);
    await runContain(s.deps, T + 100_000);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    expect(s.apigw.calls.UpdateApiKey ?? 0).toBe(0);
  });

  it('a key whose owner changed it while cordon had it disabled is left disabled on release', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    await runContain(s.deps, T + 20_000);
    s.clock.t += 5_000;
    s.apigw.setApiKeyEnabled(key, false); // the owner disables it themselves (it already is)
    await release(s, key, T + 90_000);
    const r = await runContain(s.deps, T + 100_000);
    expect(r.apiKeys!.skipped).toEqual([{ key, why: expect.stringMatching(/changed by someone else/) }]);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    expect(s.record.keys.size).toBe(0);
  });

  it('a key cordon\'s update never answered for, then revoked by its owner, stays disabled on release', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    s.apigw.failNext('UpdateApiKey', { name: 'InternalServerError', status: 500, message: 'boom' }, 100); // retries spent: outcome unknown
    const first = await runContain(s.deps, T + 20_000);
    expect(first.failures.map((f) => f.target)).toEqual(['api-keys']);
    expect(s.apigw.apiKey(key)!.enabled).toBe(true); // never applied
    s.apigw.clearFaults();
    s.apigw.setApiKeyEnabled(key, false); // the owner revokes it
    await runContain(s.deps, T + 80_000); // still blocked: found disabled, held
    await release(s, key, T + 90_000);
    const r = await runContain(s.deps, T + 100_000);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    expect(r.apiKeys).toMatchObject({ enabled: [], skipped: [{ key, why: expect.stringMatching(/never answered/) }] });
    expect(s.record.keys.size).toBe(0);
  });

  it('a key its owner turns back on while it is blocked is disabled again', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    await runContain(s.deps, T + 20_000);
    s.apigw.setApiKeyEnabled(key, true);
    const r = await runContain(s.deps, T + 80_000);
    expect(r.apiKeys!.disabled).toEqual([key]);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    await release(s, key, T + 90_000);
    await runContain(s.deps, T + 100_000);
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
  });

  it('principals that are no key cost no write; only key-shaped ones cost a read, once', async () => {
    const s = setup();
    for (const p of [MALLORY, SUB, LOOKALIKE]) await s.ledger.put(block(p, 'principal'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([]);
    expect(r.apiKeys).toMatchObject({ disabled: [], held: [], notKeys: 1 });
    expect(s.apigw.calls.UpdateApiKey ?? 0).toBe(0);
    expect(s.apigw.calls.GetApiKey).toBe(1);
    expect(s.record.writes).toBe(0);
    // The IAM user is held by the policy as before; the sub and the lookalike by nothing.
    expect((await entry(s, MALLORY)).effectiveAt).toBe(T + 20_000);
    expect((await entry(s, SUB)).effectiveAt).toBeUndefined();
    expect(decisionOf(s, SUB)).toMatchObject({ action: 'alert', evidence: { notEnforced: 'no resource policy could hold it' } });
    expect(decisionOf(s, LOOKALIKE).action).toBe('alert');

    await runContain(s.deps, T + 80_000);
    expect(s.apigw.calls.GetApiKey).toBe(1);
  });

  it('a failing UpdateApiKey: failure api-keys (metric target api-keys), WAF and the policy applied, the alert sent; the next run disables it', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    await s.ledger.put(block(MALLORY, 'principal'));
    await s.ledger.put(block('192.0.2.7', 'ip'));
    s.apigw.failNext('UpdateApiKey', { name: 'BadRequestException', status: 400, message: 'nope' });
    const r = await runContain(s.deps, T + 20_000);

    expect(r.failures).toEqual([{ target: 'api-keys', error: expect.stringMatching(/^BadRequestException: nope/) }]);
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=api-keys`)).toBe(1);
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
    // Refused: not cordon's to re-enable, so not in the record.
    expect(s.record.keys.size).toBe(0);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.7/32']);
    expect(s.apigw.enforcedPolicy(s.restApiId, 'prod')).toContain(MALLORY);
    expect((await entry(s, MALLORY)).effectiveAt).toBe(T + 20_000);
    expect((await entry(s, key)).effectiveAt).toBeUndefined();
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0]).toMatchObject({ page: true, failures: r.failures });
    // A failed target is retried: the block stays a block (not an alert that nothing can hold it).
    expect(decisionOf(s, key)).toMatchObject({ action: 'block', evidence: { notEnforced: 'the API keys failed and no resource policy could hold it' } });

    const next = await runContain(s.deps, T + 80_000);
    expect(next.failures).toEqual([]);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    expect((await entry(s, key)).effectiveAt).toBe(T + 80_000);
  });

  it('throttled calls are retried; the calls are paced (one per 200 ms)', async () => {
    const s = setup();
    const ids = [s.apigw.createApiKey(), s.apigw.createApiKey(), s.apigw.createApiKey()];
    for (const id of ids) await s.ledger.put(block(id, 'principal'));
    s.apigw.failNext('UpdateApiKey', { name: 'TooManyRequestsException', status: 429, message: 'Too Many Requests' });
    const keysOnly = { ...s.deps, ipSets: { read: async () => ({ v4: [], v6: [] }), apply: async () => ({ changed: false, sets: [] }) }, policies: [] };
    const before = s.clock.t;
    const r = await runContain(keysOnly, T + 20_000);
    expect(r.failures).toEqual([]);
    expect(ids.map((id) => s.apigw.apiKey(id)!.enabled)).toEqual([false, false, false]);
    // 3 GetApiKey + 4 UpdateApiKey (one throttled, retried): at least 6 gaps of 200 ms.
    expect(s.apigw.calls.UpdateApiKey).toBe(4);
    expect(s.clock.t - before).toBeGreaterThanOrEqual(6 * 200);
  });

  it('a dry run blocks nothing: keys cordon disabled are enabled again', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    await runContain(s.deps, T + 20_000);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    await runContain({ ...s.deps, config: parseConfig({ apiKeys: { enabled: true }, dryRun: true }) }, T + 80_000);
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
  });

  it('turned on but not wired: the run refuses before touching anything', async () => {
    const s = setup({ apiKeys: { enabled: true } }, false);
    await s.ledger.put(block('192.0.2.7', 'ip'));
    await expect(runContain(s.deps, T + 20_000)).rejects.toThrow(/apiKeys\.enabled/);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual([]);
  });
});

describe('contain with API keys off (the default)', () => {
  it('a blocked key is not touched even when an adapter is given; it is an alert nothing holds, as before', async () => {
    const s = setup({});
    const key = s.apigw.createApiKey();
    await s.ledger.put(block(key, 'principal'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.apiKeys).toBeUndefined();
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
    expect(s.apigw.calls.GetApiKey ?? 0).toBe(0);
    expect(decisionOf(s, key)).toMatchObject({ action: 'alert', evidence: { notEnforced: 'no resource policy could hold it' } });
  });
});
