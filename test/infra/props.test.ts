import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, coerceContextValue, propsFromContext, stackNameFromContext } from '../../infra/context.ts';
import { Cordon } from '../../infra/cordon-construct.ts';
import { CordonPropsError, resolveCordonProps, type CordonProps } from '../../infra/props.ts';
import { WEB_ACL_ARN } from './fixtures.ts';

const api = { restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'api-logs' };

describe('resolveCordonProps', () => {
  it('applies the defaults', () => {
    const p = resolveCordonProps({});
    expect(p).toMatchObject({
      restApis: [],
      logGroupNames: [],
      manageAccessLogFormat: false,
      dryRun: false,
      shards: 1,
      ipSetsPerFamily: 2,
      logLevel: 'INFO',
      logRetentionDays: 30,
      noDataAlarmMinutes: 30,
    });
    expect(p.config.windows.sizeSeconds).toBe(60);
    expect(p.rawConfig).toBeUndefined();
    // Never replace a web ACL: by default a stage that already has one stops the deploy.
    expect(p.existingWebAcl).toBe('fail');
  });

  it("existingWebAcl: top-level default, per-stage override; none in attach mode (existingWebAclArn associates nothing)", () => {
    const p = resolveCordonProps({ existingWebAcl: 'use-rule-group', restApis: [api, { ...api, stageName: 'v2', existingWebAcl: 'fail' }] });
    expect(p.existingWebAcl).toBe('use-rule-group');
    expect(p.restApis.map((a) => a.existingWebAcl)).toEqual([undefined, 'fail']);
    expect(resolveCordonProps({ existingWebAclArn: WEB_ACL_ARN }).existingWebAcl).toBeUndefined();
  });

  it('noDataAlarmMinutes: whole minutes from 5 to a day, or false for no alarm', () => {
    expect(resolveCordonProps({ noDataAlarmMinutes: 5 }).noDataAlarmMinutes).toBe(5);
    expect(resolveCordonProps({ noDataAlarmMinutes: 1440 }).noDataAlarmMinutes).toBe(1440);
    expect(resolveCordonProps({ noDataAlarmMinutes: false }).noDataAlarmMinutes).toBe(false);
  });

  it("ORs dryRun with the config's own dryRun", () => {
    expect(resolveCordonProps({ config: { dryRun: true } }).dryRun).toBe(true);
    expect(resolveCordonProps({ dryRun: true, config: { dryRun: false } }).dryRun).toBe(true);
  });

  it('accepts a managed stage without a log group, and on-demand streams', () => {
    const p = resolveCordonProps({ restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }], manageAccessLogFormat: true, shards: 'on-demand' });
    expect(p.shards).toBe('on-demand');
  });

  describe.each<[string, unknown, string, RegExp]>([
    ['a bad REST API id', { restApis: [{ ...api, restApiId: 'NOPE' }] }, 'restApis.0.restApiId', /10 lower-case letters and digits/],
    ['a bad stage name', { restApis: [{ ...api, stageName: 'a b' }] }, 'restApis.0.stageName', /stage name/],
    ['an unmanaged stage without its log group', { restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }] }, 'restApis.0.logGroupName', /unless manageAccessLogFormat/],
    ['a duplicate stage', { restApis: [api, api] }, 'restApis.1', /duplicate stage a1b2c3d4e5\/prod/],
    ['a bad log group name', { logGroupNames: ['has space'] }, 'logGroupNames.0', /CloudWatch Logs group/],
    ['a duplicate log group', { logGroupNames: ['a', 'a'] }, 'logGroupNames.1', /duplicate/],
    ['a CLOUDFRONT web ACL', { existingWebAclArn: WEB_ACL_ARN.replace('regional', 'global') }, 'existingWebAclArn', /REGIONAL web ACL/],
    ['an unknown existingWebAcl choice', { existingWebAcl: 'replace' }, 'existingWebAcl', /'fail' .* or 'use-rule-group'/],
    ['an unknown per-stage existingWebAcl', { restApis: [{ ...api, existingWebAcl: 'replace' }] }, 'restApis.0.existingWebAcl', /'use-rule-group'/],
    ['existingWebAcl with existingWebAclArn', { existingWebAclArn: WEB_ACL_ARN, existingWebAcl: 'fail' }, 'existingWebAcl', /no effect with existingWebAclArn/],
    ['a per-stage existingWebAcl with existingWebAclArn', { existingWebAclArn: WEB_ACL_ARN, restApis: [{ ...api, existingWebAcl: 'use-rule-group' }] }, 'restApis.0.existingWebAcl', /no effect/],
    ['a partial secret ARN', { slackSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack' }, 'slackSecretArn', /complete ARN/],
    ['a bad e-mail', { alertEmail: 'secops' }, 'alertEmail', /e-mail/],
    ['zero shards', { shards: 0 }, 'shards', /whole number of shards/],
    ['a shard string', { shards: 'lots' }, 'shards', /'on-demand'/],
    ['too many IP sets', { ipSetsPerFamily: 26 }, 'ipSetsPerFamily', /at most 25/],
    ['a log retention CloudWatch does not offer', { logRetentionDays: 10 }, 'logRetentionDays', /must be one of/],
    ['a bad log level', { logLevel: 'LOUD' }, 'logLevel', /DEBUG/],
    ['a negative no-data alarm period', { noDataAlarmMinutes: -5 }, 'noDataAlarmMinutes', /5-1440.*or false/],
    ['a zero no-data alarm period', { noDataAlarmMinutes: 0 }, 'noDataAlarmMinutes', /or false to turn the no-data alarm off/],
    ['a fractional no-data alarm period', { noDataAlarmMinutes: 7.5 }, 'noDataAlarmMinutes', /whole number of minutes/],
    ['a no-data alarm period over a day', { noDataAlarmMinutes: 1441 }, 'noDataAlarmMinutes', /5-1440/],
    ['noDataAlarmMinutes true', { noDataAlarmMinutes: true }, 'noDataAlarmMinutes', /or false/],
    ['a non-boolean dryRun', { dryRun: 'yes' }, 'dryRun', /boolean/],
    ['an unknown key', { restApi: [] }, '(top level)', /unknown key\(s\): restApi/],
    ['a bad engine config', { config: { windows: { sizeSeconds: 5 } } }, 'config.windows.sizeSeconds', /10/],
    ['an unknown engine config key', { config: { window: {} } }, 'config.(top level)', /window/],
  ])('rejects %s', (_, input, path, message) => {
    it(`names ${path}`, () => {
      let error: unknown;
      try {
        resolveCordonProps(input, 'Cordon props');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(CordonPropsError);
      const e = error as CordonPropsError;
      const issue = e.issues.find((i) => i.path === path);
      expect(issue, `${path} in ${JSON.stringify(e.issues)}`).toBeDefined();
      expect(issue!.message).toMatch(message);
      expect(e.message).toMatch(/^Cordon props/);
      expect(e.message).toContain(path.replace('config.', '').replace('(top level)', ''));
    });
  });
});

describe('the construct validates its props', () => {
  it('throws at construction with the construct id and the key', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => new Cordon(stack, 'Guard', { ipSetsPerFamily: 99 } as CordonProps)).toThrow(
      /Cordon "Guard" props: invalid value\n {2}ipSetsPerFamily: at most 25/,
    );
    expect(() => new Cordon(stack, 'Quiet', { noDataAlarmMinutes: -1 })).toThrow(
      /Cordon "Quiet" props: invalid value\n {2}noDataAlarmMinutes: must be a whole number of minutes/,
    );
  });
});

describe('CDK context', () => {
  it.each<[unknown, unknown]>([
    ['true', true],
    ['false', false],
    ['4', 4],
    ['on-demand', 'on-demand'],
    ['[{"restApiId":"a1b2c3d4e5"}]', [{ restApiId: 'a1b2c3d4e5' }]],
    ['{"dryRun":true}', { dryRun: true }],
    ['', undefined],
    [null, undefined],
    [3, 3],
    ['[not json', '[not json'],
  ])('reads %j as %j', (input, expected) => {
    expect(coerceContextValue(input)).toEqual(expected);
  });

  it('builds props from -c strings', () => {
    const app = new App({
      context: {
        restApis: JSON.stringify([api]),
        dryRun: 'true',
        shards: '3',
        config: '{"hysteresis":{"k":1,"n":2}}',
        slackSecretArn: '',
        'some:other': 'ignored',
      },
    });
    expect(propsFromContext(app.node)).toEqual({ restApis: [api], dryRun: true, shards: 3, config: { hysteresis: { k: 1, n: 2 } } });
  });

  it('existingWebAcl is a context key; the cdk.json null leaves attach mode (-c existingWebAclArn=...) usable', () => {
    const app = new App({ context: { existingWebAcl: 'use-rule-group', restApis: JSON.stringify([api]) } });
    expect(propsFromContext(app.node)).toMatchObject({ existingWebAcl: 'use-rule-group' });
    const attach = new App({ context: { existingWebAcl: null, existingWebAclArn: WEB_ACL_ARN } });
    expect(() => propsFromContext(attach.node)).not.toThrow();
  });

  it('the cdk.json defaults are valid', async () => {
    const { readFile } = await import('node:fs/promises');
    const cdkJson = JSON.parse(await readFile(new URL('../../cdk.json', import.meta.url), 'utf8'));
    expect(cdkJson.app).toBe('npx tsx infra/app.ts');
    for (const key of CONTEXT_KEYS) expect(Object.keys(cdkJson.context), key).toContain(key);
    const app = new App({ context: cdkJson.context });
    expect(() => propsFromContext(app.node)).not.toThrow();
    expect(stackNameFromContext(app.node)).toBe('Cordon');
  });

  it('a wrong context value names the context key', () => {
    const app = new App({ context: { shards: 'many', alertEmail: 'nope' } });
    expect(() => propsFromContext(app.node)).toThrow(/^cdk context .*invalid value\n {2}alertEmail: must be an e-mail address\n {2}shards: /s);
  });

  it('a bad stack name is refused', () => {
    expect(() => stackNameFromContext(new App({ context: { stackName: '1 bad' } }).node)).toThrow(/stackName/);
  });
});
