import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  APIGatewayClient,
  CreateDeploymentCommand,
  CreateRestApiCommand,
  GetResourcesCommand,
  GetStageCommand,
  PutIntegrationCommand,
  PutMethodCommand,
  UpdateStageCommand,
} from '@aws-sdk/client-api-gateway';
import { CloudWatchLogsClient, CreateLogGroupCommand, PutSubscriptionFilterCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { AssociateWebACLCommand, CreateWebACLCommand, GetWebACLForResourceCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { RECOMMENDED_ACCESS_LOG_FORMAT } from '../../infra/access-log-format.ts';
import {
  ACCESS_LOG_TYPE,
  DeployCheckError,
  PREFLIGHT_TYPE,
  SUBSCRIPTION_FILTERS_PER_LOG_GROUP,
  accessLogPhysicalId,
  applyAccessLog,
  preflight,
  removeAccessLog,
  type GuardAws,
  type PreflightInput,
  type StageRef,
  type StageState,
  type WebAclRef,
} from '../../infra/deploy-guard.ts';
import { handleEvent, handler, responseFor, sdkGuardAws } from '../../infra/deploy-guard-handler.ts';
import { MAX_REASON_CHARS, type CfnResponse } from '../../functions/cfn-response.ts';
import { describeMoto, TEST_ACCOUNT, TEST_REGION, useMoto } from '../helpers/moto.ts';

/**
 * The deploy-time guard (infra/deploy-guard.ts, infra/deploy-guard-handler.ts): what it refuses and with which
 * message, what it changes and what it leaves alone, over an in-memory account and over moto_server.
 */

const STAGE: StageRef = { restApiId: 'a1b2c3d4e5', stageName: 'prod' };
const STAGE_ARN = 'arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/prod';
const OWN: WebAclRef = { arn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/Cordon-Cordon-1234/aaaa', name: 'Cordon-Cordon-1234' };
const TEAM: WebAclRef = { arn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/team-managed-rules/bbbb', name: 'team-managed-rules' };
const FILTER = 'Cordon-Cordon-1234';
const GROUP_ARN = (name: string) => `arn:aws:logs:eu-west-1:123456789012:log-group:${name}`;

/** An account in memory, recording every write. */
class FakeAccount implements GuardAws {
  stages = new Map<string, StageState>();
  webAcls = new Map<string, WebAclRef>();
  groups = new Map<string, string[]>();
  writes: string[] = [];
  reads: string[] = [];

  async getStage(s: StageRef) {
    this.reads.push(`GetStage ${s.restApiId}/${s.stageName}`);
    return this.stages.get(`${s.restApiId}/${s.stageName}`);
  }
  async webAclOf(arn: string) {
    this.reads.push(`GetWebACLForResource ${arn}`);
    return this.webAcls.get(arn);
  }
  async subscriptionFilters(group: string) {
    return this.groups.get(group);
  }
  async setAccessLog(s: StageRef, destinationArn: string, format: string) {
    this.writes.push(`set ${s.restApiId}/${s.stageName} ${destinationArn}`);
    this.stages.set(`${s.restApiId}/${s.stageName}`, { accessLogDestinationArn: destinationArn, accessLogFormat: format });
  }
  async setAccessLogFormat(s: StageRef, format: string) {
    this.writes.push(`format ${s.restApiId}/${s.stageName}`);
    const key = `${s.restApiId}/${s.stageName}`;
    this.stages.set(key, { ...this.stages.get(key), accessLogFormat: format });
  }
  async removeAccessLog(s: StageRef) {
    this.writes.push(`remove ${s.restApiId}/${s.stageName}`);
    this.stages.set(`${s.restApiId}/${s.stageName}`, {});
  }
}

const input = (over: Partial<PreflightInput> = {}): PreflightInput => ({
  stages: [{ ...STAGE, stageArn: STAGE_ARN, existingWebAcl: 'fail' }],
  ownWebAcl: OWN,
  logGroups: [],
  filterName: FILTER,
  accessLogs: [],
  ...over,
});

async function problemsOf(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeployCheckError);
  return (err as DeployCheckError).problems;
}

let account: FakeAccount;
beforeEach(() => {
  account = new FakeAccount();
  account.stages.set('a1b2c3d4e5/prod', {});
});

describe('preflight: a stage that already has a web ACL', () => {
  it("'fail' (the default): stops the deploy, naming the stage, the web ACL and the choices", async () => {
    account.webAcls.set(STAGE_ARN, TEAM);
    const [message, ...rest] = await problemsOf(preflight(input(), account));
    expect(rest).toEqual([]);
    expect(message).toContain('stage a1b2c3d4e5/prod already has web ACL "team-managed-rules"');
    expect(message).toContain(TEAM.arn);
    expect(message).toContain('cordon will not replace it');
    expect(message).toContain("existingWebAcl: 'use-rule-group'");
    expect(message).toContain(`existingWebAclArn: "${TEAM.arn}"`);
    expect(message).toContain('take the stage out of restApis');
    expect(account.writes).toEqual([]);
  });

  it("'fail': a stage with no web ACL, or with cordon's own (by ARN, or by name after a replacement), passes", async () => {
    await expect(preflight(input(), account)).resolves.toEqual({ ruleGroupTargets: [] });
    account.webAcls.set(STAGE_ARN, OWN);
    await expect(preflight(input(), account)).resolves.toEqual({ ruleGroupTargets: [] });
    account.webAcls.set(STAGE_ARN, { arn: `${OWN.arn.slice(0, -4)}cccc`, name: OWN.name });
    await expect(preflight(input(), account)).resolves.toEqual({ ruleGroupTargets: [] });
  });

  it("'use-rule-group': keeps the stage's web ACL and names it as a target for the rule group", async () => {
    account.webAcls.set(STAGE_ARN, TEAM);
    const stages = [{ ...STAGE, stageArn: STAGE_ARN, existingWebAcl: 'use-rule-group' as const }];
    await expect(preflight(input({ stages }), account)).resolves.toEqual({ ruleGroupTargets: [`a1b2c3d4e5/prod: ${TEAM.arn}`] });
  });

  it("'use-rule-group': a stage with no web ACL, or with cordon's own, stops the deploy (it would end up with none)", async () => {
    const stages = [{ ...STAGE, stageArn: STAGE_ARN, existingWebAcl: 'use-rule-group' as const }];
    expect((await problemsOf(preflight(input({ stages }), account)))[0]).toMatch(/has no web ACL, so cordon's WAF blocks would not reach it/);
    account.webAcls.set(STAGE_ARN, OWN);
    expect((await problemsOf(preflight(input({ stages }), account)))[0]).toMatch(/protected by cordon's own web ACL .* leaving it with none/);
  });

  it('attach mode (no choice per stage): only checks that the stage exists, never reads its web ACL', async () => {
    account.webAcls.set(STAGE_ARN, TEAM);
    await preflight(input({ stages: [{ ...STAGE, stageArn: STAGE_ARN }], ownWebAcl: undefined }), account);
    expect(account.reads).toEqual(['GetStage a1b2c3d4e5/prod']);
  });

  it('a stage that does not exist stops the deploy', async () => {
    account.stages.clear();
    expect(await problemsOf(preflight(input(), account))).toEqual([expect.stringMatching(/^stage a1b2c3d4e5\/prod does not exist/)]);
  });
});

describe('preflight: subscription filters', () => {
  it(`a log group with ${SUBSCRIPTION_FILTERS_PER_LOG_GROUP} filters of its own stops the deploy, naming the group and the filters`, async () => {
    account.groups.set('api-logs', ['team-to-splunk', 'team-metrics']);
    const [message] = await problemsOf(preflight(input({ logGroups: ['api-logs'] }), account));
    expect(message).toContain('log group "api-logs" already has 2 subscription filters (team-to-splunk, team-metrics)');
    expect(message).toContain('allows 2 per log group');
    expect(message).toContain('roll the stack back');
  });

  it("one other filter leaves room; cordon's own filter (an update) is not counted", async () => {
    account.groups.set('api-logs', ['team-to-splunk']);
    await expect(preflight(input({ logGroups: ['api-logs'] }), account)).resolves.toBeDefined();
    account.groups.set('api-logs', ['team-to-splunk', FILTER]);
    await expect(preflight(input({ logGroups: ['api-logs'] }), account)).resolves.toBeDefined();
  });

  it('a log group that does not exist stops the deploy', async () => {
    expect((await problemsOf(preflight(input({ logGroups: ['typo'] }), account)))[0]).toMatch(/log group "typo" does not exist/);
  });
});

describe('preflight: access-log destinations (manageAccessLogFormat)', () => {
  const accessLogs = [{ ...STAGE, destinationArn: GROUP_ARN('cordon-made') }];

  it("a stage that logs somewhere cordon did not set stops the deploy, suggesting that group as logGroupName", async () => {
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('team-logs') });
    const [message] = await problemsOf(preflight(input({ accessLogs }), account));
    expect(message).toContain(`stage a1b2c3d4e5/prod already writes its access log to ${GROUP_ARN('team-logs')}`);
    expect(message).toContain('cordon does not overwrite a destination it did not set');
    expect(message).toContain(`set this stage's logGroupName to "team-logs"`);
  });

  it('no destination, the destination cordon sets, or the one it set before this update: passes', async () => {
    await preflight(input({ accessLogs }), account);
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('cordon-made') });
    await preflight(input({ accessLogs }), account);
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('old') });
    await preflight(input({ accessLogs: [{ ...accessLogs[0], previousDestinationArn: GROUP_ARN('old') }] }), account);
  });

  it('reports every problem of the deploy at once, one per line', async () => {
    account.webAcls.set(STAGE_ARN, TEAM);
    account.groups.set('full', ['a', 'b']);
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('team-logs') });
    const problems = await problemsOf(preflight(input({ logGroups: ['full'], accessLogs }), account));
    expect(problems).toHaveLength(3);
    expect(new DeployCheckError(problems).message.split('\n')).toHaveLength(3);
  });
});

describe('access log: what cordon sets, and what it undoes', () => {
  const req = { ...STAGE, destinationArn: GROUP_ARN('cordon-made'), format: RECOMMENDED_ACCESS_LOG_FORMAT };

  it('a stage without access logging: sets destination and format; delete turns logging off again', async () => {
    expect(await applyAccessLog(req, account)).toBe('set');
    expect(account.writes).toEqual([`set a1b2c3d4e5/prod ${req.destinationArn}`]);
    expect(await removeAccessLog(req, account, accessLogPhysicalId(req, 'set'))).toBe(true);
    expect(account.stages.get('a1b2c3d4e5/prod')).toEqual({});
  });

  it("a stage already logging to the group named as its logGroupName: sets only the format, and leaves it on delete", async () => {
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: req.destinationArn, accessLogFormat: 'CLF' });
    expect(await applyAccessLog(req, account)).toBe('format');
    expect(account.writes).toEqual(['format a1b2c3d4e5/prod']);
    expect(await removeAccessLog(req, account, accessLogPhysicalId(req, 'format'))).toBe(false);
    expect(account.writes).toEqual(['format a1b2c3d4e5/prod']);
  });

  it('nothing to change: no write', async () => {
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: req.destinationArn, accessLogFormat: req.format });
    await applyAccessLog(req, account);
    expect(account.writes).toEqual([]);
  });

  it('a stage logging somewhere else: refused, nothing written', async () => {
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('team-logs') });
    await problemsOf(applyAccessLog(req, account));
    expect(account.writes).toEqual([]);
  });

  it('an update may move the destination cordon set, not one it only formatted, nor one changed since by someone else', async () => {
    const moved = { ...req, destinationArn: GROUP_ARN('moved') };
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: req.destinationArn, accessLogFormat: req.format });
    expect(await applyAccessLog(moved, account, { req, physicalId: accessLogPhysicalId(req, 'set') })).toBe('set');
    expect(account.stages.get('a1b2c3d4e5/prod')?.accessLogDestinationArn).toBe(moved.destinationArn);

    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: req.destinationArn, accessLogFormat: req.format });
    await problemsOf(applyAccessLog(moved, account, { req, physicalId: accessLogPhysicalId(req, 'format') }));

    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('someone-else') });
    await problemsOf(applyAccessLog(moved, account, { req, physicalId: accessLogPhysicalId(req, 'set') }));
  });

  it("upgrading: the fixed-name group earlier versions created (/aws/apigateway/cordon/<api>/<stage>) counts as cordon's own", async () => {
    const legacy = GROUP_ARN('/aws/apigateway/cordon/a1b2c3d4e5/prod');
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: legacy, accessLogFormat: req.format });
    await preflight(input({ accessLogs: [{ ...STAGE, destinationArn: req.destinationArn }] }), account);
    expect(await applyAccessLog(req, account)).toBe('set');
    expect(account.stages.get('a1b2c3d4e5/prod')?.accessLogDestinationArn).toBe(req.destinationArn);
    // Another stage's legacy group is not this stage's.
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('/aws/apigateway/cordon/a1b2c3d4e5/other') });
    await problemsOf(applyAccessLog(req, account));
  });

  it('delete leaves a destination someone changed after cordon set it', async () => {
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('someone-else') });
    expect(await removeAccessLog(req, account, accessLogPhysicalId(req, 'set'))).toBe(false);
    expect(account.writes).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------ the handler

const baseEvent = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:guard',
  ResponseURL: 'http://127.0.0.1:1/unused',
  StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Cordon/1',
  RequestId: '3f1c2b0a-0000-4000-8000-000000000000',
  LogicalResourceId: 'CordonPreflightD47CE2E8',
};
const log = { info: () => undefined };

const preflightProps = (over: Record<string, unknown> = {}) => ({
  ServiceToken: baseEvent.ServiceToken,
  Stages: [{ RestApiId: STAGE.restApiId, StageName: STAGE.stageName, StageArn: STAGE_ARN, ExistingWebAcl: 'fail' }],
  OwnWebAclArn: OWN.arn,
  OwnWebAclName: OWN.name,
  LogGroups: [],
  FilterName: FILTER,
  AccessLogs: [],
  ...over,
});

describe('handler: CloudFormation events', () => {
  it('preflight Create runs the checks and returns the rule group targets ("none" when there are none)', async () => {
    const event = { ...baseEvent, RequestType: 'Create', ResourceType: PREFLIGHT_TYPE, ResourceProperties: preflightProps() } as CloudFormationCustomResourceEvent;
    expect(await handleEvent(event, account, log)).toEqual({
      physicalResourceId: 'CordonPreflightD47CE2E8-preflight',
      data: { RuleGroupTargets: 'none' },
    });
    account.webAcls.set(STAGE_ARN, TEAM);
    await expect(handleEvent(event, account, log)).rejects.toBeInstanceOf(DeployCheckError);
  });

  it('preflight Update knows the destination cordon set before (OldResourceProperties)', async () => {
    account.stages.set('a1b2c3d4e5/prod', { accessLogDestinationArn: GROUP_ARN('old') });
    const accessLog = (name: string) => [{ RestApiId: STAGE.restApiId, StageName: STAGE.stageName, DestinationArn: GROUP_ARN(name) }];
    const event = {
      ...baseEvent,
      RequestType: 'Update',
      ResourceType: PREFLIGHT_TYPE,
      PhysicalResourceId: 'CordonPreflightD47CE2E8-preflight',
      ResourceProperties: preflightProps({ AccessLogs: accessLog('new') }),
      OldResourceProperties: preflightProps({ AccessLogs: accessLog('old') }),
    } as CloudFormationCustomResourceEvent;
    await expect(handleEvent(event, account, log)).resolves.toMatchObject({ physicalResourceId: 'CordonPreflightD47CE2E8-preflight' });
  });

  it('preflight Delete reads and changes nothing', async () => {
    const event = {
      ...baseEvent,
      RequestType: 'Delete',
      ResourceType: PREFLIGHT_TYPE,
      PhysicalResourceId: 'p',
      ResourceProperties: preflightProps(),
    } as CloudFormationCustomResourceEvent;
    await handleEvent(event, account, log);
    expect(account.reads).toEqual([]);
  });

  it("access log: Create records in the physical id that cordon set the destination; Delete reads it back", async () => {
    const props = { ServiceToken: 'x', RestApiId: STAGE.restApiId, StageName: STAGE.stageName, DestinationArn: GROUP_ARN('g'), Format: 'f' };
    const created = await handleEvent(
      { ...baseEvent, RequestType: 'Create', ResourceType: ACCESS_LOG_TYPE, ResourceProperties: props } as CloudFormationCustomResourceEvent,
      account,
      log,
    );
    expect(created.physicalResourceId).toBe('a1b2c3d4e5/prod/access-log/set');
    await handleEvent(
      {
        ...baseEvent,
        RequestType: 'Delete',
        ResourceType: ACCESS_LOG_TYPE,
        PhysicalResourceId: created.physicalResourceId,
        ResourceProperties: props,
      } as CloudFormationCustomResourceEvent,
      account,
      log,
    );
    expect(account.writes).toEqual([`set a1b2c3d4e5/prod ${GROUP_ARN('g')}`, 'remove a1b2c3d4e5/prod']);
  });

  it('a failed Create reports a physical id that claims nothing, and the reason with the check message, under 4 KB', () => {
    const event = { ...baseEvent, RequestType: 'Create', ResourceType: ACCESS_LOG_TYPE, ResourceProperties: {} } as unknown as CloudFormationCustomResourceEvent;
    const r = responseFor(event, new DeployCheckError(['x'.repeat(10_000)]));
    expect(r.Status).toBe('FAILED');
    expect(r.Reason?.startsWith('cordon deploy check: xxx')).toBe(true);
    expect(r.Reason!.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect(r.PhysicalResourceId).not.toMatch(/access-log\/(set|format)$/);
    expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThan(4096);
    const update = { ...event, RequestType: 'Update', PhysicalResourceId: 'a1b2c3d4e5/prod/access-log/set' } as CloudFormationCustomResourceEvent;
    expect(responseFor(update, new Error('boom')).PhysicalResourceId).toBe('a1b2c3d4e5/prod/access-log/set');
  });
});

// ------------------------------------------------------------------------------------------------ moto

describeMoto('deploy guard over moto_server (the SDK port, and the handler answering CloudFormation)', () => {
  const moto = useMoto();
  let apigw: APIGatewayClient;
  let waf: WAFV2Client;
  let logs: CloudWatchLogsClient;
  let aws: GuardAws;
  const responses: CfnResponse[] = [];
  let server: Server;
  let responseUrl: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        responses.push(JSON.parse(body) as CfnResponse);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response`;
  });
  afterAll(() => {
    server.close();
  });

  beforeEach(async () => {
    await moto.reset();
    responses.length = 0;
    const cfg = moto.clientConfig();
    apigw = new APIGatewayClient(cfg);
    waf = new WAFV2Client(cfg);
    logs = new CloudWatchLogsClient(cfg);
    aws = sdkGuardAws({ apigateway: apigw, waf, logs });
  });

  /** A REST API with GET / deployed to `prod`; returns the stage and its ARN. */
  async function createStage(): Promise<{ stage: StageRef; arn: string }> {
    const api = await apigw.send(new CreateRestApiCommand({ name: 'orders' }));
    const root = (await apigw.send(new GetResourcesCommand({ restApiId: api.id }))).items![0];
    await apigw.send(new PutMethodCommand({ restApiId: api.id, resourceId: root.id, httpMethod: 'GET', authorizationType: 'NONE' }));
    await apigw.send(new PutIntegrationCommand({ restApiId: api.id, resourceId: root.id, httpMethod: 'GET', type: 'MOCK' }));
    await apigw.send(new CreateDeploymentCommand({ restApiId: api.id, stageName: 'prod' }));
    return { stage: { restApiId: api.id!, stageName: 'prod' }, arn: `arn:aws:apigateway:${TEST_REGION}::/restapis/${api.id}/stages/prod` };
  }

  async function webAcl(name: string): Promise<WebAclRef> {
    const r = await waf.send(
      new CreateWebACLCommand({
        Name: name,
        Scope: 'REGIONAL',
        DefaultAction: { Allow: {} },
        VisibilityConfig: { SampledRequestsEnabled: false, CloudWatchMetricsEnabled: false, MetricName: name },
      }),
    );
    return { arn: r.Summary!.ARN!, name };
  }

  it("a stage with the team's web ACL: the deploy stops, naming the stage, and the stage keeps that web ACL", async () => {
    const { stage, arn } = await createStage();
    const team = await webAcl('team-managed-rules');
    const own = await webAcl('Cordon-Cordon-1234');
    await waf.send(new AssociateWebACLCommand({ WebACLArn: team.arn, ResourceArn: arn }));
    const problems = await problemsOf(
      preflight({ stages: [{ ...stage, stageArn: arn, existingWebAcl: 'fail' }], ownWebAcl: own, logGroups: [], filterName: FILTER, accessLogs: [] }, aws),
    );
    expect(problems[0]).toContain(`stage ${stage.restApiId}/prod already has web ACL "team-managed-rules" (${team.arn})`);
    const after = await waf.send(new GetWebACLForResourceCommand({ ResourceArn: arn }));
    expect(after.WebACL?.ARN).toBe(team.arn);
  });

  it("a stage without a web ACL, or already on cordon's: passes; 'use-rule-group' names the team's web ACL", async () => {
    const { stage, arn } = await createStage();
    const own = await webAcl('Cordon-Cordon-1234');
    const stages = [{ ...stage, stageArn: arn, existingWebAcl: 'fail' as const }];
    await preflight({ stages, ownWebAcl: own, logGroups: [], filterName: FILTER, accessLogs: [] }, aws);
    await waf.send(new AssociateWebACLCommand({ WebACLArn: own.arn, ResourceArn: arn }));
    await preflight({ stages, ownWebAcl: own, logGroups: [], filterName: FILTER, accessLogs: [] }, aws);

    const other = await createStage();
    const team = await webAcl('team-managed-rules');
    await waf.send(new AssociateWebACLCommand({ WebACLArn: team.arn, ResourceArn: other.arn }));
    const r = await preflight(
      { stages: [{ ...other.stage, stageArn: other.arn, existingWebAcl: 'use-rule-group' }], ownWebAcl: own, logGroups: [], filterName: FILTER, accessLogs: [] },
      aws,
    );
    expect(r.ruleGroupTargets).toEqual([`${other.stage.restApiId}/prod: ${team.arn}`]);
  });

  it('a log group with two subscription filters stops the deploy; a missing stage and a missing group are named', async () => {
    const kinesis = new KinesisClient({ ...moto.clientConfig(), requestHandler: new NodeHttpHandler() });
    await kinesis.send(new CreateStreamCommand({ StreamName: 'sink', ShardCount: 1 }));
    const sink = `arn:aws:kinesis:${TEST_REGION}:${TEST_ACCOUNT}:stream/sink`;
    await logs.send(new CreateLogGroupCommand({ logGroupName: 'api-logs' }));
    for (const filterName of ['team-a', 'team-b']) {
      await logs.send(
        new PutSubscriptionFilterCommand({ logGroupName: 'api-logs', filterName, filterPattern: '', destinationArn: sink, roleArn: `arn:aws:iam::${TEST_ACCOUNT}:role/r` }),
      );
    }
    const problems = await problemsOf(
      preflight(
        {
          stages: [{ restApiId: 'zzzzzzzzzz', stageName: 'prod', stageArn: 'arn:aws:apigateway:us-east-1::/restapis/zzzzzzzzzz/stages/prod', existingWebAcl: 'fail' }],
          logGroups: ['api-logs', 'missing'],
          filterName: FILTER,
          accessLogs: [],
        },
        aws,
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^stage zzzzzzzzzz\/prod does not exist/),
      expect.stringContaining('log group "api-logs" already has 2 subscription filters (team-a, team-b)'),
      expect.stringMatching(/^log group "missing" does not exist/),
    ]);
  });

  it('access log through the handler: set on a stage without one, refused on a stage logging elsewhere, turned off on delete', async () => {
    // The handler builds its SDK clients from the environment, as in Lambda.
    const env = { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: TEST_REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    onTestFinished(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });
    const context = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
    const { stage } = await createStage();
    const dest = `arn:aws:logs:${TEST_REGION}:${TEST_ACCOUNT}:log-group:cordon-made`;
    const props = { ServiceToken: 'x', RestApiId: stage.restApiId, StageName: 'prod', DestinationArn: dest, Format: RECOMMENDED_ACCESS_LOG_FORMAT };
    const event = { ...baseEvent, ResponseURL: responseUrl, ResourceType: ACCESS_LOG_TYPE, ResourceProperties: props };

    await handler({ ...event, RequestType: 'Create' } as CloudFormationCustomResourceEvent, context);
    expect(responses.at(-1)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: `${stage.restApiId}/prod/access-log/set` });
    const set = await apigw.send(new GetStageCommand({ restApiId: stage.restApiId, stageName: 'prod' }));
    expect(set.accessLogSettings).toEqual({ destinationArn: dest, format: RECOMMENDED_ACCESS_LOG_FORMAT });

    await handler(
      { ...event, RequestType: 'Delete', PhysicalResourceId: `${stage.restApiId}/prod/access-log/set` } as CloudFormationCustomResourceEvent,
      context,
    );
    expect(responses.at(-1)).toMatchObject({ Status: 'SUCCESS' });
    expect((await apigw.send(new GetStageCommand({ restApiId: stage.restApiId, stageName: 'prod' }))).accessLogSettings).toBeUndefined();

    const team = `arn:aws:logs:${TEST_REGION}:${TEST_ACCOUNT}:log-group:team-logs`;
    await apigw.send(
      new UpdateStageCommand({
        restApiId: stage.restApiId,
        stageName: 'prod',
        patchOperations: [
          { op: 'replace', path: '/accessLogSettings/destinationArn', value: team },
          { op: 'replace', path: '/accessLogSettings/format', value: '$context.requestId' },
        ],
      }),
    );
    await handler({ ...event, RequestType: 'Create' } as CloudFormationCustomResourceEvent, context);
    const refused = responses.at(-1)!;
    expect(refused.Status).toBe('FAILED');
    expect(refused.Reason).toContain(`already writes its access log to ${team}`);
    expect(refused.PhysicalResourceId).not.toMatch(/access-log\/(set|format)$/);
    const kept = await apigw.send(new GetStageCommand({ restApiId: stage.restApiId, stageName: 'prod' }));
    expect(kept.accessLogSettings).toEqual({ destinationArn: team, format: '$context.requestId' });
  });
});
