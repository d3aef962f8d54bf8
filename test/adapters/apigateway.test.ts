import {
  APIGatewayClient,
  BadRequestException,
  ConflictException,
  CreateDeploymentCommand,
  CreateRestApiCommand,
  GetDeploymentCommand,
  GetDeploymentsCommand,
  GetResourcesCommand,
  GetRestApiCommand,
  GetStageCommand,
  GetStagesCommand,
  PutIntegrationCommand,
  PutMethodCommand,
  TooManyRequestsException,
  UpdateRestApiCommand,
} from '@aws-sdk/client-api-gateway';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiGatewayPolicyAdapter, fingerprint } from '../../src/adapters/aws/apigateway.ts';
import { ApiGatewayTwin } from '../../src/adapters/local/apigateway-twin.ts';
import { type ApiAuthType, CORDON_SIDS, parseApiGatewayPolicy, readCordonDeny, type PolicyDocument } from '../../src/render/resource-policy.ts';
import { evaluatePolicy, type EvalRequest } from '../helpers/policy-evaluation.ts';
import { describeMoto, TEST_ACCOUNT, useMoto } from '../helpers/moto.ts';

const noSleep = async () => {};
const MALLORY = 'arn:aws:iam::123456789012:user/mallory';
const operatorStatement = {
  Sid: 'OperatorDenyAdmin',
  Effect: 'Deny',
  Principal: '*',
  Action: 'execute-api:Invoke',
  Resource: 'execute-api:/*/POST/admin',
  Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] } },
};
const operatorAllow = { Sid: 'OperatorAllow', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' };

function cidrs(n: number): string[] {
  return [...Array(n)].map((_, i) => `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`);
}

describeMoto('ApiGatewayPolicyAdapter on moto', () => {
  const moto = useMoto();
  let client: APIGatewayClient;

  beforeAll(() => {
    client = new APIGatewayClient(moto.clientConfig());
  });
  afterAll(() => client?.destroy());
  beforeEach(() => moto.reset());

  async function createApi(policy?: object, authorizationType: ApiAuthType = 'AWS_IAM'): Promise<string> {
    const api = await client.send(new CreateRestApiCommand({ name: 'orders', policy: policy ? JSON.stringify(policy) : undefined }));
    const root = (await client.send(new GetResourcesCommand({ restApiId: api.id }))).items![0];
    await client.send(new PutMethodCommand({ restApiId: api.id, resourceId: root.id, httpMethod: 'GET', authorizationType }));
    await client.send(new PutIntegrationCommand({ restApiId: api.id, resourceId: root.id, httpMethod: 'GET', type: 'MOCK' }));
    await client.send(new CreateDeploymentCommand({ restApiId: api.id, stageName: 'prod', description: 'initial' }));
    return api.id!;
  }
  const deployments = async (id: string) => (await client.send(new GetDeploymentsCommand({ restApiId: id }))).items?.length ?? 0;
  const policyOf = async (id: string) => (await client.send(new GetRestApiCommand({ restApiId: id }))).policy;

  it('merges the deny into the existing policy, leaves the other statements alone, and deploys once', async () => {
    const id = await createApi({ Version: '2012-10-17', Statement: [operatorAllow, operatorStatement] });
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', sleep: noSleep });
    expect(await deployments(id)).toBe(1);

    const deny = { principals: [MALLORY], cidrs: ['203.0.113.0/24', '198.51.100.7'] };
    const res = await adapter.apply(deny);
    expect(res).toMatchObject({ changed: true, deployed: true, dropped: [] });
    expect(await deployments(id)).toBe(2);

    const doc = parseApiGatewayPolicy(await policyOf(id))!;
    expect(doc.Statement.slice(0, 2)).toEqual([operatorAllow, operatorStatement]);
    const sids = doc.Statement.map((s) => s.Sid);
    expect(sids).toContain(CORDON_SIDS.denyPrincipals);
    expect(sids).toContain(CORDON_SIDS.denyCidrs);
    expect(await adapter.read()).toEqual({ principals: [MALLORY], cidrs: ['203.0.113.0/24', '198.51.100.7/32'] });

    const again = await adapter.apply(deny);
    expect(again).toMatchObject({ changed: false, deployed: false });
    expect(await deployments(id)).toBe(2);

    // Releasing everything removes cordon's denies; the operator's statements stay.
    const cleared = await adapter.apply({ principals: [], cidrs: [] });
    expect(cleared).toMatchObject({ changed: true, deployed: true });
    const after = parseApiGatewayPolicy(await policyOf(id))!;
    expect(after.Statement.filter((s) => s.Sid?.startsWith('Operator'))).toEqual([operatorAllow, operatorStatement]);
    expect(await adapter.read()).toEqual({ principals: [], cidrs: [] });
    expect(await deployments(id)).toBe(3);
  });

  const request = (id: string, over: Partial<EvalRequest> = {}): EvalRequest => ({
    resource: `arn:aws:execute-api:us-east-1:${TEST_ACCOUNT}:${id}/prod/GET/`,
    endpointType: 'EDGE',
    caller: 'allow',
    sourceIp: '198.51.100.3',
    ...over,
  });

  it('a NONE API without a policy gets Allow * and the deny, and loses both again when nothing is denied', async () => {
    const id = await createApi(undefined, 'NONE');
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', accountId: TEST_ACCOUNT, sleep: noSleep });
    await adapter.apply({ principals: [], cidrs: ['203.0.113.9'] });
    const doc = parseApiGatewayPolicy(await policyOf(id))!;
    expect(doc.Statement.map((s) => s.Sid)).toEqual([CORDON_SIDS.allowAll, CORDON_SIDS.denyCidrs]);
    expect(doc.Statement[1].Resource).toBe(`arn:aws:execute-api:us-east-1:${TEST_ACCOUNT}:${id}/*`);
    expect(evaluatePolicy(doc, 'NONE', request(id))).toBe(true); // callers not blocked still get in
    expect(evaluatePolicy(doc, 'NONE', request(id, { sourceIp: '203.0.113.9' }))).toBe(false);
    const res = await adapter.apply({ principals: [], cidrs: [] });
    expect(res).toMatchObject({ changed: true, deployed: true });
    expect(parseApiGatewayPolicy(await policyOf(id))).toBeNull();
  });

  it('an AWS_IAM API without a policy gets the denies alone: another account allowed by its own IAM is still refused', async () => {
    const id = await createApi(undefined, 'AWS_IAM');
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', accountId: TEST_ACCOUNT, sleep: noSleep });
    const eve = request(id, { principal: { arn: 'arn:aws:iam::222222222222:user/eve', account: '222222222222' } });
    const bobSilent = request(id, { principal: { arn: `arn:aws:iam::${TEST_ACCOUNT}:user/bob`, account: TEST_ACCOUNT }, caller: 'neither' });
    const mallory = request(id, { principal: { arn: MALLORY, account: TEST_ACCOUNT } });
    expect([eve, bobSilent, mallory].map((r) => evaluatePolicy(null, 'AWS_IAM', r))).toEqual([false, false, true]);

    const res = await adapter.apply({ principals: [MALLORY], cidrs: ['203.0.113.9'] });
    expect(res).toMatchObject({ changed: true, deployed: true, dropped: [], unenforceable: [] });
    const doc = parseApiGatewayPolicy(await policyOf(id))!;
    expect(doc.Statement.filter((s) => s.Effect === 'Allow')).toEqual([]);
    expect(doc.Statement.map((s) => s.Sid)).toEqual([CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    // As before cordon's change for everyone it does not block; the blocked principal is now refused.
    expect([eve, bobSilent, mallory].map((r) => evaluatePolicy(doc, 'AWS_IAM', r))).toEqual([false, false, false]);
  });

  it('an API mixing NONE and AWS_IAM on the same verb: AuthorizationConflictError, nothing written', async () => {
    const id = await createApi(undefined, 'NONE');
    const root = (await client.send(new GetResourcesCommand({ restApiId: id }))).items![0];
    await client.send(new PutMethodCommand({ restApiId: id, resourceId: root.id, httpMethod: 'ANY', authorizationType: 'AWS_IAM' }));
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', sleep: noSleep });
    await expect(adapter.apply({ principals: [], cidrs: ['203.0.113.9'] })).rejects.toMatchObject({ name: 'AuthorizationConflictError' });
    expect(parseApiGatewayPolicy(await policyOf(id))).toBeNull();
    expect(await deployments(id)).toBe(1);
  });

  it("a policy cordon wrote on an all-open API, once a guarded method shares its verb: taken out (no stale Allow *), then AuthorizationConflictError", async () => {
    const id = await createApi(undefined, 'NONE');
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', sleep: noSleep, apiCacheMs: 0 });
    await adapter.apply({ principals: [], cidrs: ['203.0.113.9'] });
    expect(parseApiGatewayPolicy(await policyOf(id))!.Statement.map((st) => st.Sid)).toEqual(['CordonAllowAll', 'CordonDenyCidrs']);
    const root = (await client.send(new GetResourcesCommand({ restApiId: id }))).items![0];
    await client.send(new PutMethodCommand({ restApiId: id, resourceId: root.id, httpMethod: 'ANY', authorizationType: 'AWS_IAM' }));
    const before = await deployments(id);
    await expect(adapter.apply({ principals: [], cidrs: ['203.0.113.9'] })).rejects.toMatchObject({ name: 'AuthorizationConflictError' });
    // As before cordon: no policy, and the stage deployed with it, so an Allow * no longer covers the IAM method.
    expect(parseApiGatewayPolicy(await policyOf(id))).toBeNull();
    expect(await deployments(id)).toBe(before + 1);
  });

  it("cordon's Resource is this API's, not another account's API named first in the operator's statements", async () => {
    const partner = 'arn:aws:execute-api:us-east-1:999999999999:partnerapi/*';
    const id = await createApi({ Version: '2012-10-17', Statement: [
      { Sid: 'OnlyFromPartner', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Condition: { ArnLike: { 'aws:SourceArn': partner } },
        Resource: 'execute-api:/*' }] });
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', sleep: noSleep });
    await adapter.apply({ principals: [], cidrs: ['203.0.113.9'] });
    const deny = parseApiGatewayPolicy(await policyOf(id))!.Statement.find((st) => st.Sid === 'CordonDenyCidrs')!;
    expect(JSON.stringify(deny.Resource)).not.toContain('999999999999');
    expect(JSON.stringify(deny.Resource)).toMatch(new RegExp(`execute-api:(/\\*|[a-z0-9-]+:\\d{12}:${id}/\\*)`));
  });

  it('2,000 CIDRs: the written policy stays within 8,192 characters, dropping the lowest priority', async () => {
    const id = await createApi({ Version: '2012-10-17', Statement: [operatorAllow] });
    const adapter = new ApiGatewayPolicyAdapter(client, { restApiId: id, stageName: 'prod', sleep: noSleep });
    const all = cidrs(2_000);
    const res = await adapter.apply({ principals: [MALLORY], cidrs: all });
    const text = (await policyOf(id))!;
    expect(text.length).toBeLessThanOrEqual(8_192);
    // Room is kept for AWS rewriting execute-api:/* into the full ARN (account unknown here).
    const rewritten = text.replaceAll('"execute-api:/*"', `"arn:aws:execute-api:us-east-1:${TEST_ACCOUNT}:${id}/*"`);
    expect(rewritten.length).toBeLessThanOrEqual(8_192);
    const read = await adapter.read();
    expect(read.principals).toEqual([MALLORY]);
    expect(read.cidrs.length + res.dropped.length).toBe(2_000);
    expect(read.cidrs).toEqual(all.slice(0, read.cidrs.length)); // priority order kept
    expect(res.dropped[res.dropped.length - 1]).toBe(all[read.cidrs.length]);
  });
});

/** What AWS's GetRestApi returns for a stored policy: execute-api resources rewritten to ARNs, then escaped. */
function awsForm(doc: PolicyDocument, apiId: string): string {
  const rewritten = JSON.stringify(doc).replaceAll('"execute-api:/', `"arn:aws:execute-api:us-east-1:${TEST_ACCOUNT}:${apiId}/`);
  return JSON.stringify(rewritten).slice(1, -1).replaceAll('/', '\\/');
}

describe('ApiGatewayPolicyAdapter faults and AWS formats (mocked client)', () => {
  const apigw = new APIGatewayClient({ region: 'us-east-1' });
  const mock = mockClient(apigw);
  const meta = { $metadata: {} };
  let stored: string | undefined;
  let stageDescription = 'initial';
  const recordDeployment = (input: { description: string }) => {
    stageDescription = input.description;
    return { id: 'dep' };
  };

  beforeEach(() => {
    mock.reset();
    stored = awsForm({ Version: '2012-10-17', Statement: [operatorAllow, operatorStatement] }, 'abc123');
    stageDescription = 'initial';
    mock.on(GetRestApiCommand).callsFake(() => ({ id: 'abc123', policy: stored }));
    mock.on(UpdateRestApiCommand).callsFake((input: { patchOperations: { value: string }[] }) => {
      // Store as AWS would hand it back.
      const doc = parseApiGatewayPolicy(input.patchOperations[0].value);
      stored = doc ? awsForm(doc, 'abc123') : '';
      return { id: 'abc123' };
    });
    mock.on(CreateDeploymentCommand).callsFake(recordDeployment);
    mock.on(GetStageCommand).resolves({ deploymentId: 'dep' });
    mock.on(GetResourcesCommand).resolves({ items: [{ id: 'root', path: '/', resourceMethods: { GET: { authorizationType: 'AWS_IAM' } } }] });
    mock.on(GetStagesCommand).resolves({ item: [{ stageName: 'prod' }] });
    mock.on(GetDeploymentCommand).callsFake(() => ({ id: 'dep', description: stageDescription }));
  });
  afterAll(() => mock.restore());

  const adapter = () => new ApiGatewayPolicyAdapter(apigw, { restApiId: 'abc123', stageName: 'prod', sleep: noSleep });
  const deny = { principals: [MALLORY], cidrs: ['203.0.113.0/24'] };

  it("reads AWS's escaped, ARN-rewritten policy and sees an unchanged deny as unchanged", async () => {
    expect(await adapter().apply(deny)).toMatchObject({ changed: true, deployed: true });
    expect(stored).toContain('\\"'); // the stored form really is escaped
    expect(await adapter().read()).toEqual({ principals: [MALLORY], cidrs: ['203.0.113.0/24'] });
    expect(await adapter().apply(deny)).toMatchObject({ changed: false, deployed: false });
    expect(mock.commandCalls(UpdateRestApiCommand).length).toBe(1);
    expect(mock.commandCalls(CreateDeploymentCommand).length).toBe(1);
    const doc = parseApiGatewayPolicy(stored)!;
    expect(fingerprint(doc)).toBe(stageDescription.split(' ').pop());
  });

  it("finds the account in AWS's escaped policy text (`\\/`), so it writes the full ARN and holds nothing back for AWS's rewrite", async () => {
    await adapter().apply(deny); // stored now in AWS's form: full ARNs, '/' escaped
    expect(stored).toContain(`${TEST_ACCOUNT}:abc123\\/*`);
    await adapter().apply({ principals: [MALLORY], cidrs: ['203.0.113.0/24', '198.51.100.7'] });
    const written = mock.commandCalls(UpdateRestApiCommand).at(-1)!.args[0].input.patchOperations![0].value!;
    const cordon = parseApiGatewayPolicy(written)!.Statement.filter((st) => String(st.Sid).startsWith('Cordon'));
    expect(cordon.map((st) => st.Resource)).toEqual([`arn:aws:execute-api:us-east-1:${TEST_ACCOUNT}:abc123/*`, `arn:aws:execute-api:us-east-1:${TEST_ACCOUNT}:abc123/*`]);
  });

  it('429 TooManyRequests then success', async () => {
    mock
      .on(UpdateRestApiCommand)
      .rejectsOnce(new TooManyRequestsException({ message: 'slow down', ...meta }))
      .callsFake((input: { patchOperations: { value: string }[] }) => {
        stored = awsForm(parseApiGatewayPolicy(input.patchOperations[0].value)!, 'abc123');
        return {};
      });
    mock.on(CreateDeploymentCommand).rejectsOnce(new TooManyRequestsException({ message: 'slow down', ...meta })).resolves({ id: 'd' });
    expect(await adapter().apply(deny)).toMatchObject({ changed: true, deployed: true });
    expect(mock.commandCalls(UpdateRestApiCommand).length).toBe(2);
    expect(mock.commandCalls(CreateDeploymentCommand).length).toBe(2);
  });

  it('409 Conflict then success: the policy is read and merged again before the retry', async () => {
    mock
      .on(UpdateRestApiCommand)
      .callsFakeOnce(() => {
        // Someone else changed the policy meanwhile; their statement must survive our retry.
        stored = awsForm({ Version: '2012-10-17', Statement: [operatorAllow, operatorStatement, { Sid: 'Late', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*/GET/late' }] }, 'abc123');
        throw new ConflictException({ message: 'conflict', ...meta });
      })
      .callsFake((input: { patchOperations: { value: string }[] }) => {
        stored = awsForm(parseApiGatewayPolicy(input.patchOperations[0].value)!, 'abc123');
        return {};
      });
    mock.on(CreateDeploymentCommand).rejectsOnce(new ConflictException({ message: 'busy', ...meta })).resolves({ id: 'd' });
    expect(await adapter().apply(deny)).toMatchObject({ changed: true, deployed: true });
    expect(mock.commandCalls(GetRestApiCommand).length).toBe(2);
    const sids = parseApiGatewayPolicy(stored)!.Statement.map((s) => s.Sid);
    expect(sids).toEqual(['OperatorAllow', 'OperatorDenyAdmin', 'Late', CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    expect(mock.commandCalls(UpdateRestApiCommand).length).toBe(2);
    expect(mock.commandCalls(CreateDeploymentCommand).length).toBe(2);
  });

  it('a failed deployment is made up for on the next apply, once', async () => {
    mock.on(CreateDeploymentCommand).rejectsOnce(new BadRequestException({ message: 'no methods', ...meta })).callsFake(recordDeployment);
    await expect(adapter().apply(deny)).rejects.toBeInstanceOf(BadRequestException);
    const next = await adapter().apply(deny);
    expect(next).toMatchObject({ changed: false, deployed: true });
    expect(await adapter().apply(deny)).toMatchObject({ changed: false, deployed: false });
    expect(mock.commandCalls(UpdateRestApiCommand).length).toBe(1);
    expect(mock.commandCalls(CreateDeploymentCommand).length).toBe(2);
  });

  it('reads every page of GetResources with embed=methods, and reuses the API shape for a few minutes', async () => {
    mock
      .on(GetResourcesCommand)
      .resolvesOnce({ items: [{ id: 'root', path: '/', resourceMethods: { GET: { authorizationType: 'NONE' } } }], position: 'p2' })
      .resolves({ items: [{ id: 'adm', path: '/admin', resourceMethods: { POST: { authorizationType: 'AWS_IAM' } } }] });
    stored = undefined;
    const clock = { t: 0 };
    const a = new ApiGatewayPolicyAdapter(apigw, { restApiId: 'abc123', stageName: 'prod', sleep: noSleep, now: () => clock.t });
    await a.apply(deny);
    const calls = mock.commandCalls(GetResourcesCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { restApiId: 'abc123', embed: ['methods'], limit: 500, position: undefined },
      { restApiId: 'abc123', embed: ['methods'], limit: 500, position: 'p2' },
    ]);
    // NONE on GET, AWS_IAM on POST: the Allow is scoped to the open verb in each stage; the principal is denied.
    const doc = parseApiGatewayPolicy(stored)!;
    expect(doc.Statement.map((s) => s.Sid)).toEqual([CORDON_SIDS.allowOpenMethods, CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    expect(doc.Statement[0].Resource).toEqual(['arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/*']);
    clock.t += 60_000;
    await a.apply(deny);
    expect(mock.commandCalls(GetResourcesCommand).length).toBe(2); // cached
    clock.t += 5 * 60_000;
    await a.apply(deny);
    expect(mock.commandCalls(GetResourcesCommand).length).toBe(3);
    expect(mock.commandCalls(GetStagesCommand).length).toBe(2);
  });

  it('a write is worked out on the API as it is now, not its cached shape: an owner\'s new AWS_IAM method never gets an Allow * deployed over it', async () => {
    mock.on(GetResourcesCommand).resolves({ items: [{ id: 'root', path: '/', resourceMethods: { GET: { authorizationType: 'NONE' } } }] });
    stored = undefined;
    const clock = { t: 0 };
    const a = new ApiGatewayPolicyAdapter(apigw, { restApiId: 'abc123', stageName: 'prod', sleep: noSleep, now: () => clock.t });
    await a.apply({ principals: [], cidrs: ['203.0.113.0/24'] });
    expect(parseApiGatewayPolicy(stored)!.Statement.map((st) => st.Sid)).toEqual([CORDON_SIDS.allowAll, CORDON_SIDS.denyCidrs]);
    // The owner adds an IAM method (not deployed yet): the next deployment, cordon's, would publish it.
    mock.on(GetResourcesCommand).resolves({ items: [{ id: 'root', path: '/', resourceMethods: { GET: { authorizationType: 'NONE' },
      POST: { authorizationType: 'AWS_IAM' } } }] });
    clock.t += 60_000; // well within the cache's few minutes
    await a.apply({ principals: [], cidrs: ['203.0.113.0/24', '198.51.100.7'] });
    const doc = parseApiGatewayPolicy(stored)!;
    expect(doc.Statement.map((st) => st.Sid)).toEqual([CORDON_SIDS.allowOpenMethods, CORDON_SIDS.denyCidrs]);
    expect(doc.Statement[0].Resource).toEqual(['arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/*']);
  });

  it('principals on an API with no AWS_IAM method: reported unenforceable and dropped, the CIDRs still written', async () => {
    mock.on(GetResourcesCommand).resolves({ items: [{ id: 'root', path: '/', resourceMethods: { GET: { authorizationType: 'CUSTOM' } } }] });
    const res = await adapter().apply(deny);
    expect(res).toMatchObject({ changed: true, unenforceable: [MALLORY], dropped: [MALLORY] });
    expect(readCordonDeny(parseApiGatewayPolicy(stored))).toEqual({ principals: [], cidrs: ['203.0.113.0/24'] });
  });

  it('an API cordon never touched is never deployed', async () => {
    expect(await adapter().apply({ principals: [], cidrs: [] })).toMatchObject({ changed: false, deployed: false });
    expect(mock.commandCalls(CreateDeploymentCommand).length).toBe(0);
  });
});

/**
 * Faults on the in-process API Gateway twin (src/adapters/local/apigateway-twin.ts), which stores the policy and its
 * deployments: after a retried write the deny is stored and enforced, deployed once; after a refused one the API
 * holds and enforces what it did before.
 */
describe('ApiGatewayPolicyAdapter faults on the API Gateway twin: what the API holds afterwards', () => {
  const deny = { principals: [MALLORY], cidrs: ['203.0.113.0/24'] };

  function setup() {
    const clock = { t: 1_700_000_000_000 };
    const twin = new ApiGatewayTwin({ clock: () => clock.t, region: 'us-east-1', account: TEST_ACCOUNT });
    const id = twin.createRestApi({ name: 'orders', policy: JSON.stringify({ Version: '2012-10-17', Statement: [operatorAllow, operatorStatement] }), stageName: 'prod' });
    clock.t += 60_000; // a contain run, a minute after the API's own deployment
    const adapter = new ApiGatewayPolicyAdapter(twin.client(), {
      restApiId: id,
      stageName: 'prod',
      sleep: async (ms) => {
        clock.t += ms;
      },
      random: () => 1,
    });
    const stored = () => parseApiGatewayPolicy(twin.storedPolicy(id));
    return { twin, id, adapter, stored };
  }

  it.each([
    ['429 TooManyRequests', { name: 'TooManyRequestsException', status: 429, message: 'slow down' }],
    ['409 Conflict', { name: 'ConflictException', status: 409, message: 'conflict' }],
  ])('%s on the policy write and on the deployment, retried: the deny is stored and enforced, deployed once', async (_label, fault) => {
    const { twin, id, adapter, stored } = setup();
    twin.failNext('UpdateRestApi', fault);
    twin.failNext('CreateDeployment', fault);
    expect(await adapter.apply(deny)).toMatchObject({ changed: true, deployed: true });
    expect(readCordonDeny(stored())).toEqual(deny);
    expect(stored()!.Statement.map((s) => s.Sid)).toEqual(['OperatorAllow', 'OperatorDenyAdmin', CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    expect(twin.enforcedPolicy(id, 'prod')).toBe(twin.storedPolicy(id));
    expect(twin.deployments(id).length).toBe(2); // the API's own, and cordon's one
    expect([twin.calls.UpdateRestApi, twin.calls.CreateDeployment]).toEqual([2, 2]); // each fault really met
  });

  it('a refused policy write (400 BadRequest): not retried, the API stores and enforces what it did before, nothing deployed', async () => {
    const { twin, id, adapter } = setup();
    const policyBefore = twin.storedPolicy(id);
    twin.failNext('UpdateRestApi', { name: 'BadRequestException', message: 'invalid policy' });
    await expect(adapter.apply(deny)).rejects.toMatchObject({ name: 'BadRequestException' });
    expect(twin.storedPolicy(id)).toBe(policyBefore);
    expect(twin.enforcedPolicy(id, 'prod')).toBe(policyBefore);
    expect(twin.deployments(id).length).toBe(1);
  });
});
