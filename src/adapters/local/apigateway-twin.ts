import { APIGatewayClient, type APIGatewayClientConfig } from '@aws-sdk/client-api-gateway';
import { POLICY_MAX_CHARS } from '../aws/apigateway.ts';
import {
  FaultQueue,
  jsonReply,
  SlidingWindowQuota,
  TwinHttpError,
  TwinRequestHandler,
  type TwinAwsError,
  type TwinHttpRequest,
  type TwinHttpResponse,
} from './waf-twin.ts';

/**
 * An in-process API Gateway (REST APIs: policy, resources/methods (GetResources with `embed=methods`), deployments,
 * stages (GetStage, GetStages)) that the real
 * `ApiGatewayPolicyAdapter` drives, for `cordon replay` / `rehearse` and tests.
 *
 * Like the WAF twin it is a request handler behind a real `APIGatewayClient` ({@link ApiGatewayTwin.client}): it
 * answers the restJson1 wire requests, so the SDK's serialization, error parsing (`NotFoundException`,
 * `BadRequestException`, `TooManyRequestsException` as the SDK's own classes with `$fault` and `$metadata`) and
 * retries run unchanged. The HTTP plumbing is shared with `waf-twin.ts`.
 *
 * What it does as AWS does (and moto does not, see notes/aws-facts.md):
 * - GetRestApi returns the policy JSON-escaped (`{\"Version\":…}`, `\/` for `/`) with every `execute-api:/…`
 *   Resource/NotResource rewritten to `arn:aws:execute-api:REGION:ACCOUNT:API_ID/…`.
 * - The policy is limited to 8,192 characters (`POLICY_MAX_CHARS` of the adapter), counted on the form AWS stores
 *   (compact JSON, ARNs rewritten), and must be a JSON policy document: otherwise `BadRequestException`.
 *   UpdateRestApi takes `replace`/`add` of `/policy` (an empty value removes the policy) and `remove /policy`.
 * - A policy takes effect only when the stage is redeployed: {@link ApiGatewayTwin.enforcedPolicy} is the policy of
 *   the stage's current deployment. CreateDeployment without any method → `BadRequestException`.
 * - Control-plane quotas (API Gateway quotas page, "creating, deploying and managing an API", fixed): CreateDeployment
 *   1 per 5 s, CreateRestApi 1 per 3 s, DeleteRestApi 1 per 30 s, GetResources 5 per 2 s, per account; and all
 *   operations together 10/s with a burst of 40. Over quota: `TooManyRequestsException` (HTTP 429), in the twin's
 *   clock.
 * - A missing (or deleted) API, stage or deployment: `NotFoundException` (HTTP 404).
 * - API keys: CreateApiKey, GetApiKey, GetApiKeys, UpdateApiKey (`replace` of `/enabled`, `/name`, `/description`,
 *   `/customerId`; anything else `BadRequestException`), DeleteApiKey. A missing key: `NotFoundException` ("Invalid API
 *   Key identifier specified"). `lastUpdatedDate` moves on every update, as on AWS (moto leaves it at creation).
 *   CreateApiKey and DeleteApiKey: 5 per second per account; GetApiKey and UpdateApiKey have no quota of their own,
 *   only the account's total.
 */

export const APIGATEWAY_QUOTAS: Record<string, { requests: number; perMs: number }> = {
  CreateDeployment: { requests: 1, perMs: 5_000 },
  CreateRestApi: { requests: 1, perMs: 3_000 },
  DeleteRestApi: { requests: 1, perMs: 30_000 },
  GetResources: { requests: 5, perMs: 2_000 },
  CreateApiKey: { requests: 5, perMs: 1_000 },
  DeleteApiKey: { requests: 5, perMs: 1_000 },
};
/** All control-plane operations of an account together: 10 requests per second, burst 40. */
export const APIGATEWAY_TOTAL_RATE = { perSecond: 10, burst: 40 };
const TWIN_CREDENTIALS = { accessKeyId: 'twin', secretAccessKey: 'twin' };

export interface ApiGatewayTwinOptions {
  /** Epoch ms. Default Date.now. */
  clock?: () => number;
  region?: string;
  account?: string;
  /** `false` turns every quota off. */
  quotas?: false;
}

interface Deployment {
  id: string;
  description?: string;
  createdAt: number;
  /** The stored policy at deployment time (what the stage then enforces). */
  policy?: string;
}

interface RestApi {
  id: string;
  name: string;
  description?: string;
  createdAt: number;
  /** The policy as AWS stores it: compact JSON, ARNs rewritten. */
  policy?: string;
  rootId: string;
  methods: Map<string, { authorizationType: string; integration?: string }>;
  deployments: Deployment[];
  stages: Map<string, { deploymentId: string; createdAt: number; updatedAt: number }>;
  deleted: boolean;
}

interface ApiKey {
  id: string;
  name?: string;
  description?: string;
  customerId?: string;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  tags?: Record<string, string>;
}

/** A key as the twin holds it (its value is never kept: the twin has no data plane). */
export interface TwinApiKey {
  id: string;
  name?: string;
  enabled: boolean;
  /** Epoch ms of the last change. */
  updatedAt: number;
}

export type ApiGatewayTwinClientConfig = Omit<APIGatewayClientConfig, 'requestHandler'>;

export class ApiGatewayTwin {
  readonly handler: TwinRequestHandler;
  readonly region: string;
  readonly account: string;
  private readonly clock: () => number;
  private readonly quotasOn: boolean;
  private readonly quotas = new Map<string, SlidingWindowQuota>();
  private bucket: { tokens: number; at: number } | undefined;
  private readonly apis = new Map<string, RestApi>();
  private readonly keys = new Map<string, ApiKey>();
  private readonly faults = new FaultQueue();
  private counter = 0;
  /** Calls that reached the twin, per operation. */
  readonly calls: Record<string, number> = {};
  /** Calls refused with TooManyRequestsException, per operation. */
  readonly throttled: Record<string, number> = {};
  /** Successful CreateDeployment calls, all APIs. */
  deploymentCount = 0;

  constructor(opts: ApiGatewayTwinOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.quotasOn = opts.quotas !== false;
    this.region = opts.region ?? 'us-east-1';
    this.account = opts.account ?? '123456789012';
    this.handler = new TwinRequestHandler((req, body, requestId) => this.answer(req, body, requestId));
  }

  /** A real APIGatewayClient wired to this twin; `maxAttempts` 1 unless given (see WafTwin.client). */
  client(config: ApiGatewayTwinClientConfig = {}): APIGatewayClient {
    return new APIGatewayClient({ region: this.region, credentials: TWIN_CREDENTIALS, maxAttempts: 1, ...config, requestHandler: this.handler as never });
  }

  /**
   * Creates an API directly (no quota, no wire) with a GET / method (MOCK integration) of `authorizationType`
   * (default AWS_IAM: the kind of API whose resource policy can deny a principal), and deploys it to `stageName` if
   * given: what a fixture or the local runner needs before the adapter can work on it.
   */
  createRestApi(input: { name: string; policy?: string; stageName?: string; authorizationType?: 'NONE' | 'AWS_IAM' | 'CUSTOM' | 'COGNITO_USER_POOLS' }): string {
    const api = this.newApi(input.name, undefined, input.policy);
    api.methods.set(`${api.rootId} GET`, { authorizationType: input.authorizationType ?? 'AWS_IAM', integration: 'MOCK' });
    if (input.stageName) this.deploy(api, input.stageName, 'initial');
    return api.id;
  }

  /** Deletes an API directly (later calls on it: NotFoundException). */
  deleteRestApi(id: string): void {
    this.api(id).deleted = true;
  }

  /** What GetRestApi returns as `policy` (escaped, ARNs rewritten), or undefined. */
  returnedPolicy(id: string): string | undefined {
    const api = this.api(id);
    return api.policy === undefined ? undefined : escapePolicy(api.policy);
  }

  /** The policy as stored (compact JSON with full ARNs), or undefined. */
  storedPolicy(id: string): string | undefined {
    return this.api(id).policy;
  }

  /** The policy a stage enforces: that of its current deployment (undefined: none, or no such stage). */
  enforcedPolicy(id: string, stageName: string): string | undefined {
    const api = this.api(id);
    const stage = api.stages.get(stageName);
    return stage ? api.deployments.find((d) => d.id === stage.deploymentId)?.policy : undefined;
  }

  /** Deployments of an API, oldest first. */
  deployments(id: string): { id: string; description?: string; createdAt: number }[] {
    return this.api(id).deployments.map(({ id: depId, description, createdAt }) => ({ id: depId, description, createdAt }));
  }

  /** Creates an API key directly (no quota, no wire), enabled unless said otherwise; returns its id. */
  createApiKey(input: { name?: string; enabled?: boolean } = {}): string {
    const now = this.clock();
    const key: ApiKey = { id: this.nextId(10), name: input.name, enabled: input.enabled ?? true, createdAt: now, updatedAt: now };
    this.keys.set(key.id, key);
    return key.id;
  }

  /** An API key's state, or undefined when there is no such key. */
  apiKey(id: string): TwinApiKey | undefined {
    const k = this.keys.get(id);
    return k && { id: k.id, name: k.name, enabled: k.enabled, updatedAt: k.updatedAt };
  }

  /** The key's owner enables or disables it (directly, as from the console). */
  setApiKeyEnabled(id: string, enabled: boolean): void {
    const k = this.keys.get(id);
    if (!k) throw new Error(`ApiGatewayTwin: no API key ${id}`);
    Object.assign(k, { enabled, updatedAt: this.clock() });
  }

  /** Answers the next `times` calls of `operation` (e.g. `CreateDeployment`) with an AWS error. */
  failNext(operation: string, error: TwinAwsError, times = 1): void {
    this.faults.add(operation, error, times);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Wire

  private answer(req: TwinHttpRequest, body: string, requestId: string): TwinHttpResponse {
    const headers = { 'content-type': 'application/json', 'x-amzn-requestid': requestId };
    const route = routeOf(req.method.toUpperCase(), req.path);
    const operation = route?.operation ?? `${req.method} ${req.path}`;
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
    try {
      if (!route) throw new TwinHttpError({ name: 'NotFoundException', status: 404, message: `ApiGatewayTwin does not implement ${req.method} ${req.path}` });
      let input: Record<string, unknown>;
      try {
        input = body ? (JSON.parse(body) as Record<string, unknown>) : {};
      } catch {
        throw badRequest('Could not parse request body into json');
      }
      const fault = this.faults.take(operation);
      if (fault) throw new TwinHttpError(fault);
      this.throttle(operation);
      const { status, json } = this.dispatch(route, input, req.query ?? {});
      return jsonReply(status, json, headers);
    } catch (err) {
      if (!(err instanceof TwinHttpError)) throw err;
      const e = err.error;
      return jsonReply(e.status ?? 400, { message: e.message ?? e.name, ...e.fields }, { ...headers, ...e.headers, 'x-amzn-errortype': e.name });
    }
  }

  private throttle(operation: string): void {
    if (!this.quotasOn) return;
    const now = this.clock();
    // Account-wide token bucket first: 10 per second, burst 40.
    const b = (this.bucket ??= { tokens: APIGATEWAY_TOTAL_RATE.burst, at: now });
    b.tokens = Math.min(APIGATEWAY_TOTAL_RATE.burst, b.tokens + ((now - b.at) / 1000) * APIGATEWAY_TOTAL_RATE.perSecond);
    b.at = now;
    const spec = APIGATEWAY_QUOTAS[operation];
    let q = spec ? this.quotas.get(operation) : undefined;
    if (spec && !q) this.quotas.set(operation, (q = new SlidingWindowQuota(spec.requests, spec.perMs)));
    if (b.tokens < 1 || (q && !q.tryTake(now))) {
      this.throttled[operation] = (this.throttled[operation] ?? 0) + 1;
      // Retry-After (TooManyRequestsException.retryAfterSeconds): when the quota frees; the SDK's retry honours it.
      const waitMs = Math.max(b.tokens < 1 ? ((1 - b.tokens) / APIGATEWAY_TOTAL_RATE.perSecond) * 1000 : 0, q?.waitMs(now) ?? 0);
      throw new TwinHttpError({
        name: 'TooManyRequestsException',
        status: 429,
        message: 'Too Many Requests',
        headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
      });
    }
    b.tokens -= 1;
  }

  private dispatch(route: Route, input: Record<string, unknown>, query: Record<string, string | string[] | null>): { status: number; json: unknown } {
    const p = route.params;
    switch (route.operation) {
      case 'CreateRestApi': {
        if (typeof input.name !== 'string' || !input.name) throw badRequest('Invalid REST API name specified');
        const api = this.newApi(input.name, optStr(input.description), optStr(input.policy));
        return { status: 201, json: this.restApiJson(api) };
      }
      case 'GetRestApi':
        return { status: 200, json: this.restApiJson(this.live(p.restApiId)) };
      case 'UpdateRestApi': {
        const api = this.live(p.restApiId);
        const ops = Array.isArray(input.patchOperations) ? (input.patchOperations as Record<string, unknown>[]) : [];
        // Validate every operation before applying any (AWS applies a patch as a whole).
        let policy = api.policy;
        let name = api.name;
        let description = api.description;
        for (const op of ops) {
          const kind = op.op;
          if (op.path === '/policy' && (kind === 'replace' || kind === 'add')) {
            policy = typeof op.value === 'string' && op.value.trim() !== '' ? this.storePolicy(op.value, api.id) : undefined;
          } else if (op.path === '/policy' && kind === 'remove') {
            policy = undefined;
          } else if (op.path === '/name' && kind === 'replace' && typeof op.value === 'string' && op.value) {
            name = op.value;
          } else if (op.path === '/description' && kind === 'replace') {
            description = optStr(op.value);
          } else {
            throw badRequest(`Invalid patch path '${String(op.path)}' specified for op '${String(kind)}'. Must be one of: [/name, /description, /policy]`);
          }
        }
        Object.assign(api, { policy, name, description });
        return { status: 200, json: this.restApiJson(api) };
      }
      case 'DeleteRestApi':
        this.live(p.restApiId).deleted = true;
        return { status: 202, json: undefined };
      case 'GetResources': {
        const api = this.live(p.restApiId);
        // As AWS: a method's details only with `embed=methods`; without it, each verb maps to an empty object.
        const embed = [query.embed ?? []].flat().flatMap((e) => (e ?? '').split(','));
        const methods: Record<string, unknown> = {};
        for (const [k, m] of api.methods) {
          const [, httpMethod] = k.split(' ');
          methods[httpMethod] = embed.includes('methods') ? { httpMethod, authorizationType: m.authorizationType, apiKeyRequired: false } : {};
        }
        const root = { id: api.rootId, path: '/', ...(Object.keys(methods).length ? { resourceMethods: methods } : {}) };
        return { status: 200, json: { item: [root] } };
      }
      case 'PutMethod': {
        const api = this.live(p.restApiId);
        this.resource(api, p.resourceId);
        const authorizationType = typeof input.authorizationType === 'string' ? input.authorizationType : 'NONE';
        api.methods.set(`${p.resourceId} ${p.httpMethod.toUpperCase()}`, { authorizationType });
        return { status: 201, json: { httpMethod: p.httpMethod.toUpperCase(), authorizationType } };
      }
      case 'PutIntegration': {
        const api = this.live(p.restApiId);
        this.resource(api, p.resourceId);
        const m = api.methods.get(`${p.resourceId} ${p.httpMethod.toUpperCase()}`);
        if (!m) throw notFound('Invalid Method identifier specified');
        m.integration = typeof input.type === 'string' ? input.type : 'MOCK';
        return { status: 201, json: { type: m.integration } };
      }
      case 'CreateDeployment': {
        const api = this.live(p.restApiId);
        const dep = this.deploy(api, optStr(input.stageName), optStr(input.description));
        return { status: 201, json: deploymentJson(dep) };
      }
      case 'GetDeployments':
        return { status: 200, json: { item: this.live(p.restApiId).deployments.map(deploymentJson) } };
      case 'GetDeployment': {
        const dep = this.live(p.restApiId).deployments.find((d) => d.id === p.deploymentId);
        if (!dep) throw notFound('Invalid Deployment identifier specified');
        return { status: 200, json: deploymentJson(dep) };
      }
      case 'GetStages': {
        const api = this.live(p.restApiId);
        const item = [...api.stages].map(([stageName, st]) => ({
          stageName,
          deploymentId: st.deploymentId,
          createdDate: st.createdAt / 1000,
          lastUpdatedDate: st.updatedAt / 1000,
        }));
        return { status: 200, json: { item } };
      }
      case 'CreateApiKey': {
        const now = this.clock();
        const key: ApiKey = { id: this.nextId(10), name: optStr(input.name), description: optStr(input.description), customerId: optStr(input.customerId),
          enabled: input.enabled === true, createdAt: now, updatedAt: now,
          ...(input.tags && typeof input.tags === 'object' ? { tags: input.tags as Record<string, string> } : {}) };
        this.keys.set(key.id, key);
        return { status: 201, json: apiKeyJson(key) };
      }
      case 'GetApiKeys':
        return { status: 200, json: { item: [...this.keys.values()].map(apiKeyJson) } };
      case 'GetApiKey':
        return { status: 200, json: apiKeyJson(this.liveKey(p.apiKey)) };
      case 'UpdateApiKey': {
        const key = this.liveKey(p.apiKey);
        const ops = Array.isArray(input.patchOperations) ? (input.patchOperations as Record<string, unknown>[]) : [];
        const next = { ...key };
        for (const op of ops) {
          const v = op.value;
          if (op.op !== 'replace') throw badRequest(`Invalid patch operation specified. Must be 'replace'`);
          if (op.path === '/enabled' && (v === 'true' || v === 'false')) next.enabled = v === 'true';
          else if (op.path === '/name' && typeof v === 'string' && v) next.name = v;
          else if (op.path === '/description') next.description = optStr(v);
          else if (op.path === '/customerId') next.customerId = optStr(v);
          else throw badRequest(`Invalid patch path '${String(op.path)}' specified for op 'replace'. Must be one of: [/name, /description, /enabled, /customerId]`);
        }
        Object.assign(key, next, { updatedAt: this.clock() });
        return { status: 200, json: apiKeyJson(key) };
      }
      case 'DeleteApiKey':
        this.liveKey(p.apiKey);
        this.keys.delete(p.apiKey);
        return { status: 202, json: undefined };
      case 'GetStage': {
        const stage = this.live(p.restApiId).stages.get(p.stageName);
        if (!stage) throw notFound('Invalid Stage identifier specified');
        return {
          status: 200,
          json: { stageName: p.stageName, deploymentId: stage.deploymentId, createdDate: stage.createdAt / 1000, lastUpdatedDate: stage.updatedAt / 1000 },
        };
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Model

  private newApi(name: string, description: string | undefined, policy: string | undefined): RestApi {
    const id = this.nextId(10);
    const api: RestApi = {
      id,
      name,
      description,
      createdAt: this.clock(),
      rootId: this.nextId(10),
      methods: new Map(),
      deployments: [],
      stages: new Map(),
      deleted: false,
    };
    api.policy = policy && policy.trim() !== '' ? this.storePolicy(policy, id) : undefined;
    this.apis.set(id, api);
    return api;
  }

  private deploy(api: RestApi, stageName: string | undefined, description: string | undefined): Deployment {
    if (api.methods.size === 0) throw badRequest("The REST API doesn't contain any methods");
    const now = this.clock();
    const dep: Deployment = { id: this.nextId(6), description, createdAt: now, policy: api.policy };
    api.deployments.push(dep);
    if (stageName) {
      const stage = api.stages.get(stageName);
      if (stage) Object.assign(stage, { deploymentId: dep.id, updatedAt: now });
      else api.stages.set(stageName, { deploymentId: dep.id, createdAt: now, updatedAt: now });
    }
    this.deploymentCount++;
    return dep;
  }

  /** Validates a policy as AWS does and returns the form it stores. */
  private storePolicy(text: string, apiId: string): string {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw badRequest('Invalid policy document. Please check the policy syntax and ensure that Principals are valid.');
    }
    const st = (doc as { Statement?: unknown } | null)?.Statement;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !(Array.isArray(st) || (typeof st === 'object' && st !== null))) {
      throw badRequest('Invalid policy document. Please check the policy syntax and ensure that Principals are valid.');
    }
    const arnPrefix = `arn:aws:execute-api:${this.region}:${this.account}:${apiId}/`;
    const rewrite = (v: unknown): unknown =>
      typeof v === 'string' && v.startsWith('execute-api:/') ? arnPrefix + v.slice('execute-api:/'.length) : Array.isArray(v) ? v.map(rewrite) : v;
    const statements = (Array.isArray(st) ? st : [st]) as Record<string, unknown>[];
    for (const s of statements) {
      if (typeof s !== 'object' || s === null) throw badRequest('Invalid policy document. Please check the policy syntax and ensure that Principals are valid.');
      if ('Resource' in s) s.Resource = rewrite(s.Resource);
      if ('NotResource' in s) s.NotResource = rewrite(s.NotResource);
    }
    const stored = JSON.stringify(doc);
    if (stored.length > POLICY_MAX_CHARS) {
      throw badRequest(`Invalid policy document: the policy is ${stored.length} characters; the maximum is ${POLICY_MAX_CHARS}`);
    }
    return stored;
  }

  private restApiJson(api: RestApi) {
    return {
      id: api.id,
      name: api.name,
      description: api.description,
      createdDate: api.createdAt / 1000,
      apiKeySource: 'HEADER',
      endpointConfiguration: { types: ['EDGE'] },
      disableExecuteApiEndpoint: false,
      rootResourceId: api.rootId,
      ...(api.policy === undefined ? {} : { policy: escapePolicy(api.policy) }),
    };
  }

  private api(id: string): RestApi {
    const api = this.apis.get(id);
    if (!api) throw new Error(`ApiGatewayTwin: no REST API ${id}`);
    return api;
  }

  private live(id: string): RestApi {
    const api = this.apis.get(id);
    if (!api || api.deleted) throw notFound(`Invalid API identifier specified ${this.account}:${id}`);
    return api;
  }

  private liveKey(id: string): ApiKey {
    const key = this.keys.get(id);
    if (!key) throw notFound('Invalid API Key identifier specified');
    return key;
  }

  private resource(api: RestApi, resourceId: string): void {
    if (resourceId !== api.rootId) throw notFound('Invalid Resource identifier specified');
  }

  private nextId(length: number): string {
    // Deterministic, lower-case alphanumerics as AWS's ids are; the multiplier is coprime to 36, so ids are unique.
    const space = 36n ** BigInt(length);
    return ((BigInt(++this.counter) * 2_654_435_761n) % space).toString(36).padStart(length, '0');
  }
}

/** GetRestApi's form of a stored policy: the body of a JSON string (quotes escaped) with `/` escaped as `\/`. */
export function escapePolicy(stored: string): string {
  return JSON.stringify(stored).slice(1, -1).replaceAll('/', '\\/');
}

interface Route {
  operation:
    | 'CreateRestApi'
    | 'GetRestApi'
    | 'UpdateRestApi'
    | 'DeleteRestApi'
    | 'GetResources'
    | 'PutMethod'
    | 'PutIntegration'
    | 'CreateDeployment'
    | 'GetDeployments'
    | 'GetDeployment'
    | 'GetStages'
    | 'GetStage'
    | 'CreateApiKey'
    | 'GetApiKeys'
    | 'GetApiKey'
    | 'UpdateApiKey'
    | 'DeleteApiKey';
  params: Record<string, string>;
}

function routeOf(method: string, path: string): Route | undefined {
  const parts = path.split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'apikeys') {
    if (parts.length === 1) return ({ POST: { operation: 'CreateApiKey', params: {} }, GET: { operation: 'GetApiKeys', params: {} } } as const)[method as 'GET'];
    if (parts.length !== 2) return undefined;
    const op = ({ GET: 'GetApiKey', PATCH: 'UpdateApiKey', DELETE: 'DeleteApiKey' } as const)[method as 'GET'];
    return op ? { operation: op, params: { apiKey: parts[1] } } : undefined;
  }
  if (parts[0] !== 'restapis') return undefined;
  const [, restApiId, sub, a, b, c, d] = parts;
  const n = parts.length;
  if (n === 1 && method === 'POST') return { operation: 'CreateRestApi', params: {} };
  if (n === 2) {
    const op = ({ GET: 'GetRestApi', PATCH: 'UpdateRestApi', DELETE: 'DeleteRestApi' } as const)[method as 'GET'];
    return op ? { operation: op, params: { restApiId } } : undefined;
  }
  if (sub === 'resources') {
    if (n === 3 && method === 'GET') return { operation: 'GetResources', params: { restApiId } };
    if (n === 6 && b === 'methods' && method === 'PUT') return { operation: 'PutMethod', params: { restApiId, resourceId: a, httpMethod: c } };
    if (n === 7 && b === 'methods' && d === 'integration' && method === 'PUT') {
      return { operation: 'PutIntegration', params: { restApiId, resourceId: a, httpMethod: c } };
    }
  }
  if (sub === 'deployments') {
    if (n === 3 && method === 'POST') return { operation: 'CreateDeployment', params: { restApiId } };
    if (n === 3 && method === 'GET') return { operation: 'GetDeployments', params: { restApiId } };
    if (n === 4 && method === 'GET') return { operation: 'GetDeployment', params: { restApiId, deploymentId: a } };
  }
  if (sub === 'stages' && n === 3 && method === 'GET') return { operation: 'GetStages', params: { restApiId } };
  if (sub === 'stages' && n === 4 && method === 'GET') return { operation: 'GetStage', params: { restApiId, stageName: a } };
  return undefined;
}

function apiKeyJson(k: ApiKey) {
  return { id: k.id, name: k.name, description: k.description, customerId: k.customerId, enabled: k.enabled,
    createdDate: k.createdAt / 1000, lastUpdatedDate: k.updatedAt / 1000, stageKeys: [], ...(k.tags ? { tags: k.tags } : {}) };
}

function deploymentJson(d: Deployment) {
  return { id: d.id, description: d.description, createdDate: d.createdAt / 1000 };
}

function optStr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function badRequest(message: string): TwinHttpError {
  return new TwinHttpError({ name: 'BadRequestException', status: 400, message });
}

function notFound(message: string): TwinHttpError {
  return new TwinHttpError({ name: 'NotFoundException', status: 404, message });
}
