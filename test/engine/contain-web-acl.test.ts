import { describe, expect, it } from 'vitest';
import { ApiGatewayTwin } from '../../src/adapters/local/apigateway-twin.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { FixedWebAclReferenceCheck } from '../../src/adapters/local/web-acl-reference.ts';
import { ApiGatewayPolicyAdapter } from '../../src/adapters/aws/apigateway.ts';
import { WafIpSetAdapter } from '../../src/adapters/aws/wafv2.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import { parseConfig } from '../../src/config.ts';
import { ContainStage, runContain } from '../../src/engine/contain.ts';
import { CountingMetrics, METRIC } from '../../src/engine/observe.ts';
import type { AlertBatch, LedgerEntry, WebAclReference } from '../../src/ports.ts';

const T = 1_800_000_000_000;
const ACCOUNT = '123456789012';
const NOT_REFERENCED = "its web ACL does not use cordon's rule group: address blocks are not enforced there";

function block(target: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  const targetKind = target.includes('/') ? 'cidr' : 'ip';
  return { target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['flood'], score: 3, priorBlocks: 0,
    evidence: { key: target, keyKind: 'ip', windowStart: T - 60_000, windowEnd: T, findings: [], features: {}, held: 'unmistakable' }, ...over };
}

/**
 * WAF and REST APIs on their twins, through the real adapters. `own`: the APIs (by index) that keep a web ACL of their
 * own, with the check's answer for their stage; the others are behind cordon's web ACL (their policy names principals only).
 */
async function setup(apis: number, own: Record<number, WebAclReference | Error>) {
  const clock = { t: T + 10_000 };
  const sleep = async (ms: number) => { clock.t += ms; };
  const waf = new WafTwin({ clock: () => clock.t, account: ACCOUNT });
  const v4 = waf.createIpSet({ name: 'cordon-v4-0', version: 'IPV4' });
  const v6 = waf.createIpSet({ name: 'cordon-v6-0', version: 'IPV6' });
  const ipSets = new WafIpSetAdapter(waf.client(), { sets: { v4: [v4], v6: [v6] }, sleep, random: () => 0.5,
    pacer: new WritePacer(1_000, () => clock.t, sleep) });
  const apigw = new ApiGatewayTwin({ clock: () => clock.t, account: ACCOUNT, region: 'us-east-1' });
  const ids = Array.from({ length: apis }, (_, i) => apigw.createRestApi({ name: `api${i}`, stageName: 'prod', authorizationType: 'NONE' }));
  const deployPacer = new WritePacer(5_000, () => clock.t, sleep);
  const policies = ids.map((restApiId, i) => new ApiGatewayPolicyAdapter(apigw.client(), { restApiId, stageName: 'prod', accountId: ACCOUNT,
    sleep, random: () => 0.5, deployPacer, wafProtected: !(i in own) }));
  const webAcls = new FixedWebAclReferenceCheck(Object.fromEntries(Object.entries(own).map(([i, a]) => [`${ids[Number(i)]}/prod`, a])));
  const ledger = new SqliteState(':memory:');
  const alerts: AlertBatch[] = [];
  const metrics = new CountingMetrics();
  const deps = { ledger, ipSets, policies, webAcls, alerts: { publish: async (b: AlertBatch) => { alerts.push(b); } }, config: parseConfig({}),
    metrics };
  return { ids, ledger, alerts, metrics, deps, webAcls, apigw };
}

describe("contain: a stage keeping its own web ACL must reference cordon's rule group", () => {
  it('not referenced: a WAF failure naming the stage, alerted once, counted every run; address blocks say where they are not in effect', async () => {
    const s = await setup(2, { 1: 'absent' });
    await s.ledger.put(block('192.0.2.7'));
    const stage = new ContainStage(s.deps);
    const r = await stage.run(T + 20_000);
    const target = `waf ${s.ids[1]}/prod`;
    expect(r.failures).toEqual([{ target, error: NOT_REFERENCED }]);
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0]).toMatchObject({ page: true, failures: [{ target, error: NOT_REFERENCED }] });
    // In effect through cordon's web ACL on the other API (its time runs), but the decision does not claim the stage.
    const d = s.alerts[0].decisions[0];
    expect([d.action, d.target]).toEqual(['block', '192.0.2.7']);
    expect(d.evidence.notEnforced).toBe(`not in effect on ${s.ids[1]}/prod (its web ACL does not use cordon's rule group)`);
    expect(r.enforced.map((e) => e.target)).toEqual(['192.0.2.7']);
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=waf`)).toBe(1);
    expect(s.metrics.get(METRIC.StageErrors)).toBe(0);

    // Unchanged next run: counted again, not alerted again. Once the team adds the reference: nothing more.
    await stage.run(T + 80_000);
    expect(s.alerts).toHaveLength(1);
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=waf`)).toBe(2);
    s.webAcls.set(`${s.ids[1]}/prod`, 'referenced');
    expect((await stage.run(T + 140_000)).failures).toEqual([]);
  });

  it('referenced: nothing reported, and the block is in effect everywhere', async () => {
    const s = await setup(2, { 1: 'referenced' });
    await s.ledger.put(block('192.0.2.7'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([]);
    expect(s.alerts[0].failures).toBeUndefined();
    expect(s.alerts[0].decisions[0].evidence.notEnforced).toBeUndefined();
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=waf`)).toBe(0);
    expect(s.webAcls.asked.get(`${s.ids[1]}/prod`)).toBe(1);
  });

  it('every protected stage lacks the reference: a host block is in effect nowhere (not stamped, retried); a CIDR its policy holds is', async () => {
    const s = await setup(1, { 0: 'count-only' });
    await s.ledger.put(block('192.0.2.7'));
    await s.ledger.put(block('198.51.100.0/24'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([{ target: `waf ${s.ids[0]}/prod`,
      error: "its web ACL uses cordon's rule group in count mode only: address blocks are not enforced there" }]);
    expect(r.enforced.map((e) => e.target)).toEqual(['198.51.100.0/24']);
    const byTarget = Object.fromEntries(s.alerts[0].decisions.map((d) => [d.target, [d.action, d.evidence.notEnforced]]));
    expect(byTarget).toEqual({
      '192.0.2.7': ['block', `not in effect on ${s.ids[0]}/prod (its web ACL uses cordon's rule group in count mode only)`],
      '198.51.100.0/24': ['block', undefined],
    });
    expect((await s.ledger.listAll()).find((e) => e.target === '192.0.2.7')!.effectiveAt).toBeUndefined();
  });

  it('a check that fails (access denied) is reported as such, never as referenced', async () => {
    const denied = Object.assign(new Error('not authorized to perform wafv2:GetWebACLForResource'),
      { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    const s = await setup(2, { 1: denied });
    await s.ledger.put(block('192.0.2.7'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([{ target: `waf ${s.ids[1]}/prod`, error: "whether its web ACL uses cordon's rule group could not be checked: "
      + 'AccessDeniedException: not authorized to perform wafv2:GetWebACLForResource' }]);
    expect(s.alerts[0].decisions[0].evidence.notEnforced).toMatch(/could not be checked/);
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=waf`)).toBe(1);
    expect(s.metrics.get(METRIC.StageErrors)).toBe(0);
  });
});
