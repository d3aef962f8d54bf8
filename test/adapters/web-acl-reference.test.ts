import { APIGatewayClient, CreateDeploymentCommand, CreateRestApiCommand, GetResourcesCommand, PutIntegrationCommand,
  PutMethodCommand } from '@aws-sdk/client-api-gateway';
import { AssociateWebACLCommand, CreateRuleGroupCommand, CreateWebACLCommand, DisassociateWebACLCommand, type Rule,
  WAFV2Client } from '@aws-sdk/client-wafv2';
import { beforeEach, describe, expect, it } from 'vitest';
import { type CheckedStage, WafWebAclReferenceCheck } from '../../src/adapters/aws/web-acl-reference.ts';
import { describeMoto, TEST_REGION, useMoto } from '../helpers/moto.ts';

const visibility = (name: string) => ({ SampledRequestsEnabled: false, CloudWatchMetricsEnabled: false, MetricName: name });

describeMoto('WafWebAclReferenceCheck on moto (GetWebACLForResource on the stage)', () => {
  const moto = useMoto();
  let waf: WAFV2Client;
  let apigw: APIGatewayClient;
  let ruleGroupArn: string;
  let clock: { t: number };

  beforeEach(async () => {
    await moto.reset();
    waf = new WAFV2Client(moto.clientConfig());
    apigw = new APIGatewayClient(moto.clientConfig());
    clock = { t: 1_000_000 };
    ruleGroupArn = (await waf.send(new CreateRuleGroupCommand({ Name: 'cordon', Scope: 'REGIONAL', Capacity: 10,
      VisibilityConfig: visibility('cordon') }))).Summary!.ARN!;
  });

  async function stage(name: string): Promise<CheckedStage> {
    const api = await apigw.send(new CreateRestApiCommand({ name }));
    const root = (await apigw.send(new GetResourcesCommand({ restApiId: api.id }))).items![0];
    await apigw.send(new PutMethodCommand({ restApiId: api.id, resourceId: root.id, httpMethod: 'GET', authorizationType: 'NONE' }));
    await apigw.send(new PutIntegrationCommand({ restApiId: api.id, resourceId: root.id, httpMethod: 'GET', type: 'MOCK' }));
    await apigw.send(new CreateDeploymentCommand({ restApiId: api.id, stageName: 'prod' }));
    return { restApiId: api.id!, stageName: 'prod', stageArn: `arn:aws:apigateway:${TEST_REGION}::/restapis/${api.id}/stages/prod` };
  }

  async function teamWebAcl(name: string, rules: Rule[], on: CheckedStage): Promise<string> {
    const arn = (await waf.send(new CreateWebACLCommand({ Name: name, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, Rules: rules,
      VisibilityConfig: visibility(name) }))).Summary!.ARN!;
    await waf.send(new AssociateWebACLCommand({ WebACLArn: arn, ResourceArn: on.stageArn }));
    return arn;
  }

  const reference = (arn: string, override: 'None' | 'Count' = 'None'): Rule => ({ Name: 'cordon', Priority: 0,
    Statement: { RuleGroupReferenceStatement: { ARN: arn } }, OverrideAction: { [override]: {} }, VisibilityConfig: visibility('cordon') });

  it("referenced; a web ACL without the reference, one counting it only, and a stage without any web ACL: not", async () => {
    const [uses, lacks, counts, bare] = [await stage('uses'), await stage('lacks'), await stage('counts'), await stage('bare')];
    await teamWebAcl('team-uses', [reference(ruleGroupArn)], uses);
    const other = (await waf.send(new CreateRuleGroupCommand({ Name: 'other', Scope: 'REGIONAL', Capacity: 10,
      VisibilityConfig: visibility('other') }))).Summary!.ARN!;
    await teamWebAcl('team-lacks', [reference(other)], lacks);
    await teamWebAcl('team-counts', [reference(ruleGroupArn, 'Count')], counts);
    const check = new WafWebAclReferenceCheck(waf, { ruleGroupArn, stages: [uses, lacks, counts, bare], clock: () => clock.t });
    expect(check.stages).toHaveLength(4);
    expect([await check.check(uses), await check.check(lacks), await check.check(counts), await check.check(bare)])
      .toEqual(['referenced', 'absent', 'count-only', 'absent']);
  });

  it("a reference whose rules are turned to Count (RuleActionOverrides) or excluded does not enforce cordon's blocks", async () => {
    const [overridden, excluded, blocking] = [await stage('overridden'), await stage('excluded'), await stage('blocking')];
    const withStatement = (extra: object): Rule => ({ ...reference(ruleGroupArn),
      Statement: { RuleGroupReferenceStatement: { ARN: ruleGroupArn, ...extra } } });
    await teamWebAcl('team-overridden', [withStatement({ RuleActionOverrides: [{ Name: 'cordon-block-v4-0', ActionToUse: { Count: {} } }] })], overridden);
    await teamWebAcl('team-excluded', [withStatement({ ExcludedRules: [{ Name: 'cordon-block-v4-0' }] })], excluded);
    await teamWebAcl('team-blocking', [withStatement({ RuleActionOverrides: [{ Name: 'cordon-block-v4-0', ActionToUse: { Block: {} } }] })], blocking);
    const check = new WafWebAclReferenceCheck(waf, { ruleGroupArn, stages: [overridden, excluded, blocking], clock: () => clock.t });
    expect([await check.check(overridden), await check.check(excluded), await check.check(blocking)]).toEqual(['count-only', 'count-only', 'referenced']);
  });

  it('keeps "referenced" for 2 minutes and any other answer for 10, then asks again', async () => {
    const s = await stage('orders');
    const acl = await teamWebAcl('team', [reference(ruleGroupArn)], s);
    const check = new WafWebAclReferenceCheck(waf, { ruleGroupArn, stages: [s], clock: () => clock.t });
    expect(await check.check(s)).toBe('referenced');
    await waf.send(new DisassociateWebACLCommand({ ResourceArn: s.stageArn }));
    clock.t += 119_000;
    expect(await check.check(s)).toBe('referenced');
    clock.t += 1_000;
    expect(await check.check(s)).toBe('absent');
    await waf.send(new AssociateWebACLCommand({ WebACLArn: acl, ResourceArn: s.stageArn }));
    clock.t += 599_000;
    expect(await check.check(s)).toBe('absent');
    clock.t += 1_000;
    expect(await check.check(s)).toBe('referenced');
    expect(acl).toMatch(/webacl\/team\//);
  });
});

describe('WafWebAclReferenceCheck when WAF refuses (moto grants every call: a client that answers AccessDenied)', () => {
  it('throws the error, never answers "referenced", and does not keep it', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: wafv2:GetWebACLForResource'),
      { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    let calls = 0;
    const client = { send: async () => { calls++; throw denied; } } as unknown as WAFV2Client;
    const s = { restApiId: 'a1b2c3d4e5', stageName: 'prod', stageArn: 'arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5/stages/prod' };
    const check = new WafWebAclReferenceCheck(client, { ruleGroupArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/rulegroup/cordon/x', stages: [s] });
    await expect(check.check(s)).rejects.toBe(denied);
    await expect(check.check(s)).rejects.toBe(denied);
    expect(calls).toBe(2);
  });
});
