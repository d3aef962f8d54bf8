import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseContainEnv } from '../../functions/env.ts';
import { Cordon } from '../../infra/cordon-construct.ts';
import type { CordonProps } from '../../infra/props.ts';
import { FULL_PROPS, functionEnv, iamStatements, logicalId, resolveIntrinsics, roleOf } from './fixtures.ts';

function synthCordon(props: CordonProps) {
  const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'ApiKeysTest');
  new Cordon(stack, 'Cordon', props);
  return { stack, template: Template.fromStack(stack) };
}

const containStatements = (t: Template) => {
  const contain = logicalId(t, 'AWS::Lambda::Function', 'CordonContain');
  return iamStatements(t).filter((s) => s.role === roleOf(t, contain));
};
const resolved = (t: Template, r: unknown[]) => r.map((x) => resolveIntrinsics(x, t));

describe('API keys as a target (config.apiKeys.enabled)', () => {
  let on: ReturnType<typeof synthCordon>;
  beforeAll(() => {
    on = synthCordon({ ...FULL_PROPS, config: { ...FULL_PROPS.config, apiKeys: { enabled: true } } });
  }, 120_000);

  it('contain may GET and PATCH /apikeys/* (GetApiKey, UpdateApiKey) and nothing else of API keys', () => {
    const t = on.template;
    const keys = containStatements(t).filter((s) => resolved(t, s.resources).some((r) => String(r).includes('/apikeys')));
    expect(keys.map((s) => ({ effect: s.effect, actions: [...s.actions].sort(), resources: resolved(t, s.resources) }))).toEqual([
      { effect: 'Allow', actions: ['apigateway:GET', 'apigateway:PATCH'], resources: ['arn:aws:apigateway:eu-west-1::/apikeys/*'] },
    ]);
    // No create, delete or tagging right anywhere, and no right on /apikeys itself (listing, creating keys).
    const all = containStatements(t).filter((s) => s.effect === 'Allow');
    expect(all.flatMap((s) => s.actions)).not.toEqual(expect.arrayContaining(['apigateway:DELETE']));
    expect(all.flatMap((s) => resolved(t, s.resources))).not.toContain('arn:aws:apigateway:eu-west-1::/apikeys');
    expect(all.flatMap((s) => resolved(t, s.resources)).some((r) => String(r).includes('/tags'))).toBe(false);
  });

  it('contain may get and put the one record object in the state bucket; it is told where (functions/env.ts parses it)', () => {
    const t = on.template;
    const bucket = logicalId(t, 'AWS::S3::Bucket', 'CordonStateBucket');
    const s3 = containStatements(t).filter((s) => s.actions.some((a) => a.startsWith('s3:')));
    expect(s3.map((s) => ({ actions: [...s.actions].sort(), resources: resolved(t, s.resources) }))).toEqual([
      { actions: ['s3:GetObject', 's3:PutObject'], resources: [`${bucket}-Arn/api-keys/disabled-v1.json`] },
    ]);
    const env = parseContainEnv(functionEnv(t, logicalId(t, 'AWS::Lambda::Function', 'CordonContain')));
    expect(env.config.apiKeys.enabled).toBe(true);
    expect(env.apiKeyRecord).toEqual({ bucket: `ref-${bucket}`, key: 'api-keys/disabled-v1.json' });
  });

  it('cdk-nag: no finding with API keys on', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(on.stack);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
  });
});

describe('API keys off (the default)', () => {
  it('contain gets no API-key right, no S3 right and no record variable', () => {
    const { template: t } = synthCordon(FULL_PROPS);
    const st = containStatements(t);
    expect(st.flatMap((s) => resolved(t, s.resources)).some((r) => String(r).includes('/apikeys'))).toBe(false);
    expect(st.filter((s) => s.actions.some((a) => a.startsWith('s3:')))).toEqual([]);
    const env = functionEnv(t, logicalId(t, 'AWS::Lambda::Function', 'CordonContain'));
    expect(Object.keys(env).filter((k) => k.startsWith('API_KEY'))).toEqual([]);
    expect(() => parseContainEnv({ ...env, CORDON_CONFIG: JSON.stringify({ apiKeys: { enabled: true } }) })).toThrow(/API_KEY_RECORD_BUCKET/);
  });
});
