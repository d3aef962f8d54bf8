import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ApiGatewayApiKeyAdapter } from '../../src/adapters/aws/api-keys.ts';
import { ApiGatewayPolicyAdapter } from '../../src/adapters/aws/apigateway.ts';
import { WafIpSetAdapter } from '../../src/adapters/aws/wafv2.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import { MemoryApiKeyRecord } from '../../src/adapters/local/api-key-record.ts';
import { ApiGatewayTwin } from '../../src/adapters/local/apigateway-twin.ts';
import { MemoryDenyList } from '../../src/adapters/local/deny-list.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { CORDON_SIDS, isCordonStatement, parseApiGatewayPolicy } from '../../src/render/resource-policy.ts';
import { releaseAll, teardown, unreleasedMessage, type TeardownDeps } from '../../src/engine/teardown.ts';
import { buildTeardownDeps } from '../../src/pipeline/teardown-deps.ts';

/**
 * The teardown (src/engine/teardown.ts) over the real AWS adapters, on the WAF and API Gateway twins (real SDK
 * clients, the twins' wire): first contain's adapters put blocks everywhere, then the teardown's own wiring
 * (buildTeardownDeps, as functions/teardown.ts builds it) releases them.
 */

const T = 1_800_000_000_000;
const ACCOUNT = '123456789012';
const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;
/** The owner's own statement, which must come out of the teardown exactly as it went in. */
const OWNER_STATEMENT = {
  Sid: 'OwnerDenyOldPartner',
  Effect: 'Deny',
  Principal: { AWS: 'arn:aws:iam::111122223333:root' },
  Action: 'execute-api:Invoke',
  Resource: 'execute-api:/*',
};
const OWNER_POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [OWNER_STATEMENT] });

function setup() {
  const clock = { t: T };
  const sleep = async (ms: number) => { clock.t += ms; };
  const timing = { now: () => clock.t, sleep };
  const waf = new WafTwin({ clock: () => clock.t, account: ACCOUNT });
  const sets = { v4: [waf.createIpSet({ name: 'cordon-v4-0', version: 'IPV4' }), waf.createIpSet({ name: 'cordon-v4-1', version: 'IPV4' })],
    v6: [waf.createIpSet({ name: 'cordon-v6-0', version: 'IPV6' })] };
  const routeSets = { v4: [waf.createIpSet({ name: 'cordon-route-v4-0', version: 'IPV4' })], v6: [waf.createIpSet({ name: 'cordon-route-v6-0', version: 'IPV6' })] };
  const allSets = [...sets.v4, ...sets.v6, ...routeSets.v4, ...routeSets.v6];
  const apigw = new ApiGatewayTwin({ clock: () => clock.t, account: ACCOUNT, region: 'us-east-1' });
  // An IAM API with a policy of its owner's; an open (NONE) API with none, on which cordon adds an Allow of its own.
  const owned = apigw.createRestApi({ name: 'orders', stageName: 'prod', policy: OWNER_POLICY, authorizationType: 'AWS_IAM' });
  const open = apigw.createRestApi({ name: 'public', stageName: 'v1', authorizationType: 'NONE' });
  const apis = [{ restApiId: owned, stageName: 'prod' }, { restApiId: open, stageName: 'v1' }];
  const keyRecord = new MemoryApiKeyRecord();
  const apiKeysOf = () => new ApiGatewayApiKeyAdapter(apigw.client(), { record: keyRecord, clock: () => clock.t,
    pacer: new WritePacer(200, () => clock.t, sleep), backoff: { sleep, random: () => 0.5 } });
  const denyList = new MemoryDenyList();

  /** What contain would have written: an address in every set, a principal and a CIDR in each policy, a key disabled. */
  const containDeployPacer = new WritePacer(5_000, () => clock.t, sleep);
  const contain = {
    ipSets: new WafIpSetAdapter(waf.client(), { sets, routeSets, sleep, random: () => 0.5, pacer: new WritePacer(1_000, () => clock.t, sleep),
      addressesPerSet: 1 }),
    policies: apis.map((a) => new ApiGatewayPolicyAdapter(apigw.client(), { ...a, accountId: ACCOUNT, sleep, random: () => 0.5,
      deployPacer: containDeployPacer })),
    apiKeys: apiKeysOf(),
    async block(key: string) {
      await this.ipSets.apply({ v4: ['192.0.2.7/32', '198.51.100.0/24'], v6: ['2001:db8::/64'], route: { v4: ['203.0.113.9/32'], v6: ['2001:db8:1::/64'] } });
      for (const p of this.policies) await p.apply({ principals: [MALLORY], cidrs: ['192.0.2.7/32'] });
      await denyList.apply({ principals: [MALLORY], cidrs: ['192.0.2.7/32'] });
      await this.apiKeys.apply([key]);
      clock.t += 10_000; // the teardown comes later (its own deploy pacer starts afresh)
    },
  };

  /** The teardown's own wiring, as functions/teardown.ts builds it (the deny list and key record in memory here). */
  const teardownDeps = (): TeardownDeps => ({
    ...buildTeardownDeps({
      wafScope: 'REGIONAL',
      ipSets: [...allSets.map((s) => ({ name: s.name, id: s.id, family: (s.name.includes('v6') ? 'v6' : 'v4') as 'v4' | 'v6' }))],
      restApis: apis,
      settleMs: 0,
    }, { waf: waf.client(), apigateway: apigw.client(), s3: new S3Client({ region: 'us-east-1' }) }, timing),
    denyList,
    apiKeys: apiKeysOf(),
  });
  const addresses = () => allSets.map((s) => waf.ipSet(s.id)!.addresses).flat();
  const statements = (id: string) => parseApiGatewayPolicy(apigw.storedPolicy(id))?.Statement ?? [];
  return { clock, sleep, waf, apigw, allSets, owned, open, apis, denyList, contain, teardownDeps, addresses, statements, keyRecord };
}

describe('teardown: every target released, each on its own', () => {
  it('empties every IP set (global and route), takes cordon out of each policy and redeploys, empties the deny list, re-enables the keys', async () => {
    const s = setup();
    const key = s.apigw.createApiKey({ name: 'partner' });
    await s.contain.block(key);
    // The blocks are in place, as contain leaves them.
    expect(s.allSets.every((set) => s.waf.ipSet(set.id)!.addresses.length === 1)).toBe(true);
    expect(s.statements(s.owned).map((st) => st.Sid)).toEqual(['OwnerDenyOldPartner', CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    expect(s.statements(s.open).map((st) => st.Sid)).toEqual([CORDON_SIDS.allowAll, CORDON_SIDS.denyCidrs]);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    const deploymentsBefore = s.apis.map((a) => s.apigw.deployments(a.restApiId).length);

    const report = await teardown(s.teardownDeps(), { settleMs: 0, sleep: s.sleep });

    expect(report.failures).toEqual([]);
    expect(report.released).toEqual([
      ...s.allSets.map((set) => `waf-ip-set ${set.name}`),
      `policy ${s.owned}/prod`, `policy ${s.open}/v1`, 'deny-list', 'api-keys',
    ]);
    expect(s.addresses()).toEqual([]);
    // Only the owner's statement is left, as it was; the stage serves that policy (a new deployment was made).
    const owned = parseApiGatewayPolicy(s.apigw.storedPolicy(s.owned))!;
    expect(owned.Statement).toHaveLength(1);
    expect(owned.Statement[0]).toMatchObject({ ...OWNER_STATEMENT, Resource: expect.stringMatching(/execute-api:.*\/\*$/) });
    expect(s.apigw.enforcedPolicy(s.owned, 'prod')).toBe(s.apigw.storedPolicy(s.owned));
    // The open API had no policy before cordon: none now (cordon's Allow went with its Deny), and that is live.
    expect(s.apigw.storedPolicy(s.open) ?? '').toBe('');
    expect(s.apigw.enforcedPolicy(s.open, 'v1') ?? '').toBe('');
    s.apis.forEach((a, i) => {
      const deps = s.apigw.deployments(a.restApiId);
      expect(deps.length, a.restApiId).toBe(deploymentsBefore[i] + 1);
      expect(deps.at(-1)!.description).toMatch(/^cordon policy /);
    });
    expect(s.denyList.current).toEqual({ principals: [], cidrs: [] });
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
    expect(report.reenabledKeys).toEqual([key]);
    expect(await s.keyRecord.read()).toEqual(new Map());
  });

  it('a second pass changes nothing and deploys nothing (both passes are idempotent)', async () => {
    const s = setup();
    await s.contain.block(s.apigw.createApiKey());
    await releaseAll(s.teardownDeps());
    const deployments = s.apigw.deploymentCount;
    const writes = s.waf.listIpSets().map((set) => set.lockToken);
    const again = await releaseAll(s.teardownDeps());
    expect(again.failures).toEqual([]);
    expect(s.apigw.deploymentCount).toBe(deployments);
    expect(s.waf.listIpSets().map((set) => set.lockToken)).toEqual(writes);
  });

  it("a cordon Allow beside statements the owner added since is kept while the API has open methods (removing it could lock callers out): only cordon's denies go", async () => {
    const s = setup();
    await s.contain.policies[1].apply({ principals: [], cidrs: ['192.0.2.7/32'] });
    // The owner adds a statement of their own after cordon wrote its Allow.
    const current = parseApiGatewayPolicy(s.apigw.storedPolicy(s.open))!;
    const client = s.apigw.client();
    const { UpdateRestApiCommand } = await import('@aws-sdk/client-api-gateway');
    await client.send(new UpdateRestApiCommand({ restApiId: s.open, patchOperations: [{ op: 'replace', path: '/policy',
      value: JSON.stringify({ ...current, Statement: [{ ...OWNER_STATEMENT, Principal: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.9.0.0/16' } } },
        ...current.Statement] }) }] }));
    s.clock.t += 10_000;

    const report = await releaseAll(s.teardownDeps());
    expect(report.failures).toEqual([]);
    const left = s.statements(s.open);
    expect(left.map((st) => st.Sid)).toEqual(['OwnerDenyOldPartner', CORDON_SIDS.allowAll]);
    expect(left.filter((st) => isCordonStatement(st) && st.Effect === 'Deny')).toEqual([]);
  });

  it('one failing target stops none of the others, and is reported by name', async () => {
    const s = setup();
    await s.contain.block(s.apigw.createApiKey());
    // The owned API refuses the policy update; the first v4 set refuses its write.
    s.apigw.failNext('UpdateRestApi', { name: 'AccessDeniedException', status: 403, message: 'not allowed' });
    s.waf.failNext('UpdateIPSet', { name: 'WAFInvalidParameterException', message: 'bad request' });

    const report = await teardown(s.teardownDeps(), { settleMs: 0, sleep: s.sleep });

    expect(report.failures.map((f) => f.target)).toEqual([`waf-ip-set ${s.allSets[0].name}`, `policy ${s.owned}/prod`]);
    expect(report.failures[1].error).toMatch(/AccessDenied/);
    // Everything else is released.
    expect(s.allSets.slice(1).map((set) => s.waf.ipSet(set.id)!.addresses)).toEqual(s.allSets.slice(1).map(() => []));
    expect(s.apigw.storedPolicy(s.open) ?? '').toBe('');
    expect(s.denyList.current).toEqual({ principals: [], cidrs: [] });
    expect(report.released).toContain('api-keys');
    const message = unreleasedMessage(report);
    expect(message).toContain(`waf-ip-set ${s.allSets[0].name}`);
    expect(message).toContain(`policy ${s.owned}/prod`);
    expect(message).toMatch(/^cordon teardown could not release 2 target\(s\)/);
  });

  it('a deleted API or IP set holds nothing of cordon\'s: reported gone, not failed', async () => {
    const s = setup();
    await s.contain.block(s.apigw.createApiKey());
    s.apigw.deleteRestApi(s.owned);
    const gone = s.allSets[2];
    const { DeleteIPSetCommand } = await import('@aws-sdk/client-wafv2');
    await s.waf.client().send(new DeleteIPSetCommand({ Name: gone.name, Id: gone.id, Scope: 'REGIONAL', LockToken: s.waf.ipSet(gone.id)!.lockToken }));
    const report = await releaseAll(s.teardownDeps());
    expect(report.failures).toEqual([]);
    expect(report.gone.sort()).toEqual([`policy ${s.owned}/prod`, `waf-ip-set ${gone.name}`].sort());
  });

  it('after the wait, releases again what a contain run still under way put back', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.contain.block(key);
    let waited = 0;
    // A contain run that was already going when its schedule was deleted writes during the wait.
    const sleep = async (ms: number) => {
      waited += ms;
      await s.sleep(ms);
      await s.contain.block(key);
    };
    const report = await teardown(s.teardownDeps(), { settleMs: 330_000, sleep });
    expect(waited).toBe(330_000);
    expect(report.passes).toBe(2);
    expect(report.failures).toEqual([]);
    expect(s.addresses()).toEqual([]);
    for (const a of s.apis) expect(s.statements(a.restApiId).filter((st) => isCordonStatement(st) && st.Effect === 'Deny')).toEqual([]);
    expect(s.denyList.current).toEqual({ principals: [], cidrs: [] });
    expect(s.apigw.apiKey(key)!.enabled).toBe(true);
  });

  it('leaves disabled a key its owner changed while cordon had it disabled (their change wins)', async () => {
    const s = setup();
    const key = s.apigw.createApiKey();
    await s.contain.block(key);
    s.clock.t += 60_000;
    s.apigw.setApiKeyEnabled(key, false); // the owner revokes it themselves
    const report = await releaseAll(s.teardownDeps());
    expect(report.failures).toEqual([]);
    expect(s.apigw.apiKey(key)!.enabled).toBe(false);
    expect(report.keptDisabledKeys.map((k) => k.key)).toEqual([key]);
  });
});
