import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseContainEnv } from '../../functions/env.ts';
import { Cordon } from '../../infra/cordon-construct.ts';
import { CordonPropsError, type CordonProps } from '../../infra/props.ts';
import { FULL_PROPS, functionEnv, iamStatements, logicalId, roleOf, type Json } from './fixtures.ts';

/** A stack with cordon (deny list on) and a team's authorizer role granted to read the list. */
function synthWithAuthorizer(props: CordonProps) {
  const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'DenyListTest');
  const cordon = new Cordon(stack, 'Cordon', props);
  const authorizerRole = new iam.Role(stack, 'AuthorizerRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  cordon.grantDenyListRead(authorizerRole);
  return { stack, cordon, template: Template.fromStack(stack) };
}

const bucketId = (t: Template) => logicalId(t, 'AWS::S3::Bucket', 'CordonStateBucket');
const objectArn = (t: Template, key: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId(t), 'Arn'] }, `/${key}`]] });

describe('deny list (config.denyList.enabled)', () => {
  let on: ReturnType<typeof synthWithAuthorizer>;
  let custom: ReturnType<typeof synthWithAuthorizer>;
  beforeAll(() => {
    on = synthWithAuthorizer({ ...FULL_PROPS, config: { ...FULL_PROPS.config, denyList: { enabled: true } } });
    custom = synthWithAuthorizer({ config: { denyList: { enabled: true } }, denyListKey: 'authz/deny.json' });
  }, 120_000);

  it("the authorizer's role may get that one object, nothing else in S3 and no KMS (the bucket is SSE-S3)", () => {
    const t = on.template;
    const role = logicalId(t, 'AWS::IAM::Role', 'AuthorizerRole');
    const st = iamStatements(t).filter((s) => s.role === role);
    expect(st.map((s) => ({ actions: s.actions, resources: s.resources, effect: s.effect }))).toEqual([
      { actions: ['s3:GetObject'], resources: [objectArn(t, 'deny-list/v1.json')], effect: 'Allow' },
    ]);
    const bucket = (t.toJSON().Resources[bucketId(t)] as Json).Properties.BucketEncryption;
    expect(bucket.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
  });

  it('contain may get and put that one object only; the key is configurable', () => {
    for (const [t, key] of [[on.template, 'deny-list/v1.json'], [custom.template, 'authz/deny.json']] as const) {
      const contain = logicalId(t, 'AWS::Lambda::Function', 'CordonContain');
      const s3 = iamStatements(t).filter((s) => s.role === roleOf(t, contain) && s.actions.some((a) => a.startsWith('s3:')));
      expect(s3.map((s) => ({ actions: [...s.actions].sort(), resources: s.resources }))).toEqual([
        { actions: ['s3:GetObject', 's3:PutObject'], resources: [objectArn(t, key)] },
      ]);
    }
  });

  it('contain is told the bucket and key (functions/env.ts parses them); both are outputs', () => {
    const t = custom.template;
    const env = parseContainEnv(functionEnv(t, logicalId(t, 'AWS::Lambda::Function', 'CordonContain')));
    expect(env.config.denyList.enabled).toBe(true);
    expect(env.denyList).toEqual({ bucket: `ref-${bucketId(t)}`, key: 'authz/deny.json' });
    const outputs = t.toJSON().Outputs as Record<string, Json>;
    const byName = (prefix: string) => Object.entries(outputs).find(([k]) => k.startsWith(prefix))![1].Value;
    expect(byName('CordonDenyListBucket')).toEqual({ Ref: bucketId(t) });
    expect(byName('CordonDenyListKey')).toBe('authz/deny.json');
  });

  it('cdk-nag: no finding with the list on and the grant made', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(on.stack);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
  });
});

describe('deny list off (the default)', () => {
  it('contain gets no S3 right, no variable, no output; grantDenyListRead refuses', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Off');
    const cordon = new Cordon(stack, 'Cordon', {});
    const role = new iam.Role(stack, 'AuthorizerRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    expect(() => cordon.grantDenyListRead(role)).toThrow(CordonPropsError);
    const t = Template.fromStack(stack);
    const contain = logicalId(t, 'AWS::Lambda::Function', 'CordonContain');
    expect(iamStatements(t).filter((s) => s.role === roleOf(t, contain) && s.actions.some((a) => a.startsWith('s3:')))).toEqual([]);
    expect(functionEnv(t, contain).DENY_LIST_BUCKET).toBeUndefined();
    expect(Object.keys(t.toJSON().Outputs).filter((k) => k.includes('DenyList'))).toEqual([]);
  });

  it('a key under detect\'s prefixes is refused', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() => new Cordon(new Stack(app, 'Bad'), 'Cordon', { denyListKey: 'win/deny.json' })).toThrow(/denyListKey: must not be under/);
  });
});
