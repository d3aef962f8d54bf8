import { describe, expect, it } from 'vitest';
import { AwsUnavailableError } from '../../src/adapters/aws/errors.ts';
import { ApiGatewayPolicyAdapter } from '../../src/adapters/aws/apigateway.ts';
import { WafIpSetAdapter } from '../../src/adapters/aws/wafv2.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import { ApiGatewayTwin } from '../../src/adapters/local/apigateway-twin.ts';
import { MemoryDenyList } from '../../src/adapters/local/deny-list.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { parseConfig } from '../../src/config.ts';
import { type ContainDeps, runContain } from '../../src/engine/contain.ts';
import { CountingMetrics, METRIC } from '../../src/engine/observe.ts';
import type { AlertBatch, DenyListDesired, DenyListPort, LedgerEntry } from '../../src/ports.ts';

const T = 1_800_000_000_000;
const ACCOUNT = '123456789012';
/** A Cognito sub: no resource policy can name it. */
const SUB = 'cognito:3f1c9a52-7d4e-4b8a-9e61-0c2d5b7a8f10';
/**
 * An IAM user seen on an API without IAM methods: the policy could name it but never match it, so the policy adapter
 * reports it `unenforceable`. (A non-IAM string such as SUB is not reported at all by the policy adapter: today
 * contain counts it as held by the policy. That is not this feature's to change; see the report.)
 */
const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;

function block(target: string, targetKind: LedgerEntry['targetKind'], over: Partial<LedgerEntry> = {}): LedgerEntry {
  return { target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['principal-many-ips'], score: 3,
    priorBlocks: 0, evidence: { key: target, keyKind: targetKind === 'principal' ? 'principal' : 'ip', windowStart: T - 60_000, windowEnd: T,
      findings: [], features: {}, held: 'unmistakable' }, ...over };
}

/** A deny list whose writes fail as S3 would after the retries (a target failure, not a bug). */
class FailingDenyList implements DenyListPort {
  calls = 0;
  async read(): Promise<DenyListDesired> {
    return { principals: [], cidrs: [] };
  }
  async apply(): Promise<{ changed: boolean }> {
    this.calls++;
    throw new AwsUnavailableError('S3 PutObject failed (SlowDown) on b/deny-list/v1.json', 's3', 'PutObject');
  }
}

/** WAF and one Cognito-authorized API (no IAM method: its policy cannot name a principal), on their twins. */
function setup(denyList: DenyListPort | undefined, config: unknown) {
  const clock = { t: T + 10_000 };
  const sleep = async (ms: number) => { clock.t += ms; };
  const waf = new WafTwin({ clock: () => clock.t, account: ACCOUNT });
  const v4 = waf.createIpSet({ name: 'cordon-v4-0', version: 'IPV4' });
  const v6 = waf.createIpSet({ name: 'cordon-v6-0', version: 'IPV6' });
  const ipSets = new WafIpSetAdapter(waf.client(), { sets: { v4: [v4], v6: [v6] }, addressesPerSet: 10_000, sleep, random: () => 0.5,
    pacer: new WritePacer(1_000, () => clock.t, sleep) });
  const apigw = new ApiGatewayTwin({ clock: () => clock.t, account: ACCOUNT, region: 'us-east-1' });
  const restApiId = apigw.createRestApi({ name: 'orders', stageName: 'prod', authorizationType: 'COGNITO_USER_POOLS' });
  const policy = new ApiGatewayPolicyAdapter(apigw.client(), { restApiId, stageName: 'prod', accountId: ACCOUNT, sleep, random: () => 0.5,
    deployPacer: new WritePacer(5_000, () => clock.t, sleep) });
  const ledger = new SqliteState(':memory:');
  const alerts: AlertBatch[] = [];
  const metrics = new CountingMetrics();
  const deps: ContainDeps = { ledger, ipSets, policies: [policy], alerts: { publish: async (b) => { alerts.push(b); } },
    config: parseConfig(config), metrics, ...(denyList ? { denyList } : {}) };
  return { waf, v4, v6, ledger, alerts, metrics, deps };
}

async function seed(ledger: SqliteState): Promise<void> {
  await ledger.put(block(SUB, 'principal'));
  await ledger.put(block(MALLORY, 'principal', { score: 4 }));
  await ledger.put(block('192.0.2.7', 'ip'));
  await ledger.put(block('2001:db8:7::/64', 'cidr'));
}

describe('contain with the deny list on', () => {
  it('a principal no policy can name is enforced through the list: effectiveAt set, no unenforceable gap, addresses listed too', async () => {
    const list = new MemoryDenyList();
    const s = setup(list, { denyList: { enabled: true } });
    await seed(s.ledger);
    const r = await runContain(s.deps, T + 20_000);

    expect(r.failures).toEqual([]);
    expect(r.gaps).toEqual([]);
    expect(r.changedDenyList).toBe(true);
    expect(list.current).toEqual({ principals: [MALLORY, SUB], cidrs: ['192.0.2.7/32', '2001:db8:7::/64'] });
    const rows = await s.ledger.listAll();
    expect(rows.map((e) => [e.target, e.effectiveAt])).toEqual(expect.arrayContaining([
      [SUB, T + 20_000], [MALLORY, T + 20_000], ['192.0.2.7', T + 20_000], ['2001:db8:7::/64', T + 20_000]]));
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0].gaps).toBeUndefined();
    expect(s.alerts[0].decisions.find((d) => d.target === MALLORY)!.evidence.notEnforced).toBeUndefined();
    // WAF still holds the addresses: the list is the authorizers' copy, not a replacement.
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.7/32']);

    // Nothing changed: the list is not rewritten.
    const again = await runContain(s.deps, T + 80_000);
    expect(again.changedDenyList).toBe(false);
    expect(list.writes).toBe(1);
  });

  it('an address block is in effect only once WAF holds it, whatever the list says', async () => {
    const list = new MemoryDenyList();
    const s = setup(list, { denyList: { enabled: true } });
    await seed(s.ledger);
    s.waf.failNext('UpdateIPSet', { name: 'WAFInvalidParameterException', message: 'bad request' });
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures.map((f) => f.target)).toEqual(['waf-ip-sets']);
    expect(list.current.cidrs).toEqual(['192.0.2.7/32', '2001:db8:7::/64']);
    const rows = await s.ledger.listAll();
    expect(rows.find((e) => e.target === '192.0.2.7')!.effectiveAt).toBeUndefined();
    expect(rows.find((e) => e.target === SUB)!.effectiveAt).toBe(T + 20_000);
  });

  it('an authorizer\'s ARN-looking principalId is listed as the authorizer sees it, not under its unverified key', async () => {
    const list = new MemoryDenyList();
    const s = setup(list, { denyList: { enabled: true } });
    const claimed = `arn:aws:iam::${ACCOUNT}:role/BackendRole`;
    await s.ledger.put(block(`unverified:${claimed}`, 'principal'));
    const r = await runContain(s.deps, T + 20_000);
    expect(list.current.principals).toEqual([claimed]);
    expect((await s.ledger.listAll())[0].effectiveAt).toBe(T + 20_000);
    expect(r.gaps).toEqual([]);
  });

  it('a released principal leaves the list on the next run', async () => {
    const list = new MemoryDenyList();
    const s = setup(list, { denyList: { enabled: true } });
    await seed(s.ledger);
    await runContain(s.deps, T + 20_000);
    const sub = (await s.ledger.listAll()).find((e) => e.target === SUB)!;
    await s.ledger.put({ ...sub, status: 'released', endedAt: T + 30_000 });
    await runContain(s.deps, T + 40_000);
    expect(list.current.principals).toEqual([MALLORY]);
    expect(list.current.cidrs).toEqual(['192.0.2.7/32', '2001:db8:7::/64']);
  });

  it('a failing deny list: a failure named deny-list (metric target deny-list), the principal not enforced, WAF applied, the alert sent', async () => {
    const list = new FailingDenyList();
    const s = setup(list, { denyList: { enabled: true } });
    await seed(s.ledger);
    const r = await runContain(s.deps, T + 20_000);

    expect(list.calls).toBe(1);
    expect(r.failures).toEqual([{ target: 'deny-list', error: expect.stringMatching(/^AwsUnavailableError: S3 PutObject failed/) }]);
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=deny-list`)).toBe(1);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.7/32']);
    const rows = await s.ledger.listAll();
    expect(rows.find((e) => e.target === MALLORY)!.effectiveAt).toBeUndefined();
    expect(rows.find((e) => e.target === '192.0.2.7')!.effectiveAt).toBe(T + 20_000);
    // Neither principal is held: the IAM one on an API without IAM methods, the Cognito sub by no policy at all.
    expect(r.gaps).toEqual([expect.objectContaining({ entry: MALLORY, reason: 'unenforceable' }), expect.objectContaining({ entry: SUB, reason: 'unenforceable' })]);
    expect(rows.find((e) => e.target === SUB)!.effectiveAt).toBeUndefined();
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0].page).toBe(true);
    expect(s.alerts[0].failures).toEqual(r.failures);
    expect(s.alerts[0].decisions.find((d) => d.target === MALLORY)!.evidence.notEnforced).toBe('the deny list failed and no resource policy could hold it');
  });

  it('turned on but not wired: the run refuses before touching anything', async () => {
    const s = setup(undefined, { denyList: { enabled: true } });
    await seed(s.ledger);
    await expect(runContain(s.deps, T + 20_000)).rejects.toThrow(/denyList\.enabled/);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual([]);
  });
});

describe('contain with the deny list off (the default)', () => {
  it('does not touch a list it was given; the principal is unenforceable as before', async () => {
    const list = new MemoryDenyList();
    const s = setup(list, {});
    await seed(s.ledger);
    const r = await runContain(s.deps, T + 20_000);
    expect(list.writes).toBe(0);
    expect(r.changedDenyList).toBe(false);
    expect(r.gaps).toEqual([expect.objectContaining({ entry: MALLORY, reason: 'unenforceable' }), expect.objectContaining({ entry: SUB, reason: 'unenforceable' })]);
    // Nothing of this deployment can ever hold either principal: alerts, not blocks.
    expect(s.alerts[0].decisions.filter((d) => d.targetKind === 'principal').map((d) => d.action)).toEqual(['alert', 'alert']);
    const rows = await s.ledger.listAll();
    expect(rows.find((e) => e.target === MALLORY)!.effectiveAt).toBeUndefined();
    expect(s.alerts[0].decisions.find((d) => d.target === MALLORY)!.evidence.notEnforced).toBe('no resource policy could hold it');
  });
});
