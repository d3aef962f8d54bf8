import { createHash } from 'node:crypto';
import {
  CreateDeploymentCommand,
  GetDeploymentCommand,
  GetResourcesCommand,
  GetRestApiCommand,
  GetStageCommand,
  GetStagesCommand,
  type Resource,
  UpdateRestApiCommand,
  type APIGatewayClient,
} from '@aws-sdk/client-api-gateway';
import type { PolicyApplyResult, PolicyDeny, PolicyPort } from '../../ports.ts';
import {
  apiAccessOf,
  AuthorizationConflictError,
  isCordonStatement,
  mergeDenyStatement,
  parseApiGatewayPolicy,
  readCordonDeny,
  type PolicyDocument,
} from '../../render/resource-policy.ts';
import { AdapterConfigError, AwsRejectedError, ContentionError } from './errors.ts';
import type { WritePacer } from './write-pacer.ts';
import { awsErrorName, backoffDelay, isThrottling, isTransient, realSleep, withRetries, type Sleep } from './retry.ts';

/** API Gateway's limit on the resource policy text. */
export const POLICY_MAX_CHARS = 8192;
const SHORT_RESOURCE = 'execute-api:/*';

export interface ApiGatewayPolicyAdapterOptions {
  restApiId: string;
  stageName: string;
  /**
   * The API's account. With it, cordon's statements use the full `arn:…:execute-api:REGION:ACCOUNT:API/*` resource,
   * which is what AWS stores, so the size is counted exactly. Without it, the account is taken from the existing
   * policy's ARNs if any; otherwise `execute-api:/*` is written and room is kept for AWS's rewrite.
   */
  accountId?: string;
  /** Default 8,192 (AWS's limit). */
  maxChars?: number;
  /**
   * The stage is behind cordon's web ACL: every address block is already in WAF, so the policy names principals only.
   * Address blocks there would only add redeploys of the stage (DESIGN §5: CIDRs only where an API has no WAF).
   */
  wafProtected?: boolean;
  /**
   * How long the API's methods and stages (GetResources, GetStages: what decides which Allow, if any, cordon may add
   * and whether a principal can be denied) are reused by this adapter before being read again. Default 5 minutes.
   */
  apiCacheMs?: number;
  /** Clock for {@link apiCacheMs}. Default Date.now. */
  now?: () => number;
  /**
   * Spaces CreateDeployment calls: API Gateway allows one per 5 s per account (quotas page, fixed), so contain
   * updating several APIs in one run shares one pacer across them (see aws-deps). None: no spacing.
   */
  deployPacer?: WritePacer;
  /** Attempts for 409/429/5xx and lost read-modify-write races. Default 6. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: Sleep;
  random?: () => number;
}

export interface ApiGatewayApplyResult extends PolicyApplyResult {
  /** Entries that cannot go into a policy (not a principal ARN/account, not a CIDR, or /0). */
  rejected: string[];
  /**
   * Entries this API's policy cannot enforce (see `MergeResult.unenforceable`): IAM principals on an API with no
   * AWS_IAM method, everything on a private API without a policy of the operator's. They are in `dropped` too, so
   * contain does not count them as held by this API.
   */
  unenforceable: string[];
  deploymentId?: string;
}

/**
 * {@link PolicyPort} for one REST API and stage: cordon's statements of the resource policy (see
 * render/resource-policy.ts), merged into the operator's policy without touching their statements.
 *
 * apply: GetRestApi → parse (AWS's escaped, ARN-rewritten form, or an emulator's verbatim one) → GetResources
 * (`embed=methods`, every page) and GetStages, reused for a few minutes only to find that nothing needs doing (read
 * again before any write or deployment, which would publish the owner's undeployed methods) → merge following AWS's
 * evaluation table for the API's endpoint and authorization types (render/resource-policy.ts: no `Allow *` on an API
 * with AWS_IAM or Lambda authorizer methods, principals reported `unenforceable` where no method uses AWS_IAM,
 * `AuthorizationConflictError`, after writing the safe policy, when no Allow can be written safely) within the
 * 8,192-character limit (lowest priority entries dropped and reported) → if the meaning changed, UpdateRestApi
 * `replace /policy` (with '' when no policy should remain: that is how the policy is removed; `remove /policy` is
 * not honoured everywhere) → CreateDeployment for the stage, described `cordon policy <fingerprint>`.
 *
 * Convergence: when the policy is already right, the stage's current deployment is checked; if the policy holds
 * cordon statements and that deployment does not carry the current fingerprint (an earlier deployment failed, or
 * someone else deployed), the stage is deployed again. An API cordon never touched is never deployed. Note that
 * any deployment publishes the API's whole current configuration, including others' undeployed changes.
 *
 * 429 TooManyRequests and 409 Conflict (and 5xx) are retried with backoff; a 409 on the update re-reads and
 * re-merges. Other errors are thrown.
 */
export class ApiGatewayPolicyAdapter implements PolicyPort {
  readonly name: string;
  private readonly deployPacer?: WritePacer;
  private readonly restApiId: string;
  private readonly stageName: string;
  private readonly accountId?: string;
  private readonly maxChars: number;
  private readonly wafProtected: boolean;
  private readonly apiCacheMs: number;
  private readonly now: () => number;
  private shape?: { at: number; resources: Resource[]; stages: string[] };
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  /** Deployments created by this adapter. */
  deployments = 0;

  constructor(
    private readonly client: APIGatewayClient,
    opts: ApiGatewayPolicyAdapterOptions,
  ) {
    if (!opts.restApiId || !opts.stageName) throw new AdapterConfigError('restApiId and stageName are required');
    if (opts.accountId !== undefined && !/^\d{12}$/.test(opts.accountId)) throw new AdapterConfigError('accountId must be 12 digits');
    this.restApiId = opts.restApiId;
    this.stageName = opts.stageName;
    this.name = `${opts.restApiId}/${opts.stageName}`;
    this.deployPacer = opts.deployPacer;
    this.accountId = opts.accountId;
    this.maxChars = Math.min(opts.maxChars ?? POLICY_MAX_CHARS, POLICY_MAX_CHARS);
    this.wafProtected = opts.wafProtected ?? false;
    this.apiCacheMs = opts.apiCacheMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.baseDelayMs = opts.baseDelayMs ?? 200;
    this.maxDelayMs = opts.maxDelayMs ?? 5_000;
    this.sleep = opts.sleep ?? realSleep;
    this.random = opts.random ?? Math.random;
  }

  async read(): Promise<PolicyDeny> {
    const api = await this.call('GetRestApi', () => this.client.send(new GetRestApiCommand({ restApiId: this.restApiId })));
    return readCordonDeny(parseApiGatewayPolicy(api.policy));
  }

  async apply(wanted: PolicyDeny): Promise<ApiGatewayApplyResult> {
    const deny = this.wafProtected ? { principals: wanted.principals, cidrs: [] } : wanted;
    for (let attempt = 0; ; attempt++) {
      const api = await this.call('GetRestApi', () => this.client.send(new GetRestApiCommand({ restApiId: this.restApiId })));
      const existing = parseApiGatewayPolicy(api.policy);
      const cached = this.shape;
      const { resource, reserve } = await this.resourceFor(api.policy);
      // When no Allow can be written safely (merged.conflict), the safe policy is written all the same (no stale Allow
      // of cordon's may stay and widen access) and then AuthorizationConflictError is thrown: a failure of this API only.
      const mergeWith = ({ resources, stages }: { resources: Resource[]; stages: string[] }) => mergeDenyStatement(existing, deny, {
        resource,
        maxChars: this.maxChars - reserve,
        api: apiAccessOf(api, resources, stages),
        restApiId: this.restApiId,
      });
      // Before anything is written or deployed, the API's methods and stages as they are now, not as cached: a
      // deployment publishes the owner's undeployed methods too, and an Allow worked out for the old ones could cover
      // them. The cached shape only decides that nothing needs doing.
      let merged = mergeWith(await this.apiShape());
      let fresh = this.shape !== cached; // read just now
      if (merged.changed && !fresh) {
        merged = mergeWith(await this.apiShape(true));
        fresh = true;
      }
      const ours = existing?.Statement.some(isCordonStatement) ?? false;
      const redeploy = !merged.changed && (await this.needsDeployment(fingerprint(existing), ours));
      if (redeploy && !fresh) merged = mergeWith(await this.apiShape(true));
      const base = {
        dropped: [...merged.dropped, ...merged.unenforceable],
        rejected: merged.rejected,
        unenforceable: merged.unenforceable,
        chars: merged.chars,
      };

      const conflictAfter = <T>(result: T): T => {
        if (merged.conflict !== undefined) throw new AuthorizationConflictError(merged.conflict);
        return result;
      };
      if (!merged.changed) {
        if (!redeploy) return conflictAfter({ ...base, changed: false, deployed: false });
        const deploymentId = await this.deploy(fingerprint(existing));
        return conflictAfter({ ...base, changed: false, deployed: true, deploymentId });
      }

      try {
        await this.client.send(
          new UpdateRestApiCommand({
            restApiId: this.restApiId,
            patchOperations: [{ op: 'replace', path: '/policy', value: merged.text }],
          }),
        );
      } catch (err) {
        if (!this.retryable(err)) throw err;
        if (attempt + 1 >= this.maxAttempts) {
          throw new ContentionError(
            `UpdateRestApi ${this.restApiId}: ${awsErrorName(err)} persisted through ${attempt + 1} attempts`,
            'apigateway',
            'UpdateRestApi',
            { restApiId: this.restApiId, attempts: attempt + 1, lastError: awsErrorName(err) },
            { cause: err },
          );
        }
        // Someone else changed the API (409) or we were throttled: read again, merge again.
        await this.sleep(backoffDelay(attempt, this.backoff()));
        continue;
      }
      const deploymentId = await this.deploy(fingerprint(merged.policy));
      return conflictAfter({ ...base, changed: true, deployed: true, deploymentId });
    }
  }

  /** The API's resources with their methods (every page) and its stage names; reused for {@link apiCacheMs}. */
  private async apiShape(fresh = false): Promise<{ resources: Resource[]; stages: string[] }> {
    const now = this.now();
    if (!fresh && this.shape && now - this.shape.at < this.apiCacheMs) return this.shape;
    const resources: Resource[] = [];
    let position: string | undefined;
    do {
      const page = await this.call('GetResources', () =>
        this.client.send(new GetResourcesCommand({ restApiId: this.restApiId, embed: ['methods'], limit: 500, position })),
      );
      resources.push(...(page.items ?? []));
      position = page.position;
    } while (position);
    const st = await this.call('GetStages', () => this.client.send(new GetStagesCommand({ restApiId: this.restApiId })));
    const stages = (st.item ?? []).map((s) => s.stageName).filter((n): n is string => typeof n === 'string');
    this.shape = { at: now, resources, stages };
    return this.shape;
  }

  /** The Resource for cordon's statements and how many characters to hold back for AWS's rewrite of it. */
  private async resourceFor(existingText: string | undefined): Promise<{ resource: string; reserve: number }> {
    const region = await this.client.config.region();
    const partition = region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
    // This API's own ARN only: another API's (in a condition's aws:SourceArn, a statement copied from elsewhere) names
    // another account or region, and a deny written for it would never match a request here.
    const literal = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // (AWS hands the policy back with `/` escaped as `\/`.)
    const own = new RegExp(`arn:${literal(partition)}:execute-api:${literal(region)}:(\\d{12}):${literal(this.restApiId)}\\\\?/`);
    const account = this.accountId ?? own.exec(existingText ?? '')?.[1];
    const arn = `arn:${partition}:execute-api:${region}:${account ?? '000000000000'}:${this.restApiId}/*`;
    if (account) return { resource: arn, reserve: 0 };
    // AWS rewrites every `execute-api:/…` resource: the operator's (as stored here, unrewritten), cordon's two denies
    // and at most one Allow. A new Allow only goes into a policy without the operator's statements, and a scoped one
    // (CordonAllowOpenMethods) has a Resource per stage and verb.
    const doc = parseApiGatewayPolicy(existingText);
    const others = doc?.Statement.filter((s) => !isCordonStatement(s)) ?? [];
    const theirs = JSON.stringify(others).split('"execute-api:/').length - 1;
    const had = doc?.Statement.find((s) => isCordonStatement(s) && s.Effect === 'Allow');
    // Beside the operator's statements, only a cordon Allow already there is kept (as it is, or narrowed to stages and
    // verbs): never more resources than the API's stages and verbs, or than it had.
    let allowResources = 0;
    if (others.length === 0 || had) {
      const { resources, stages } = await this.apiShape();
      const verbs = new Set(resources.flatMap((r) => Object.keys(r.resourceMethods ?? {}))).size;
      allowResources = Math.max(1, stages.length * verbs, had ? [had.Resource].flat().length : 0);
    }
    return { resource: SHORT_RESOURCE, reserve: (theirs + 2 + allowResources) * (arn.length - SHORT_RESOURCE.length) };
  }

  private async needsDeployment(fp: string, policyHasCordon: boolean): Promise<boolean> {
    let stage;
    try {
      stage = await this.call('GetStage', () => this.client.send(new GetStageCommand({ restApiId: this.restApiId, stageName: this.stageName })));
    } catch (err) {
      if (awsErrorName(err) === 'NotFoundException') {
        throw new AwsRejectedError(`stage ${this.stageName} of REST API ${this.restApiId} does not exist`, 'apigateway', 'GetStage', { restApiId: this.restApiId, stage: this.stageName }, { cause: err });
      }
      throw err;
    }
    if (!stage.deploymentId) return policyHasCordon;
    const dep = await this.call('GetDeployment', () =>
      this.client.send(new GetDeploymentCommand({ restApiId: this.restApiId, deploymentId: stage.deploymentId })),
    );
    const description = dep.description ?? '';
    if (description === `cordon policy ${fp}`) return false;
    return policyHasCordon || description.startsWith('cordon ');
  }

  private async deploy(fp: string): Promise<string | undefined> {
    await this.deployPacer?.wait();
    const res = await this.call('CreateDeployment', () =>
      this.client.send(
        new CreateDeploymentCommand({ restApiId: this.restApiId, stageName: this.stageName, description: `cordon policy ${fp}` }),
      ),
    );
    this.deployments++;
    return res.id;
  }

  private retryable(err: unknown): boolean {
    return isThrottling(err) || awsErrorName(err) === 'ConflictException' || isTransient(err);
  }

  private backoff() {
    return { maxAttempts: this.maxAttempts, baseDelayMs: this.baseDelayMs, maxDelayMs: this.maxDelayMs, random: this.random, sleep: this.sleep };
  }

  private call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return withRetries(
      { service: 'apigateway', operation, context: { restApiId: this.restApiId, stage: this.stageName } },
      fn,
      (err) => this.retryable(err),
      this.backoff(),
    );
  }
}

const EXECUTE_API_ARN = /^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+\//;

/** Sorted keys, one-element lists as scalars, `execute-api:/` resources: the form AWS's rewriting does not change. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 1 ? canonical(v[0]) : v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) out[k] = canonical(o[k]);
    return out;
  }
  if (typeof v === 'string') return v.replace(EXECUTE_API_ARN, 'execute-api:/');
  return v;
}

/** Short hash of a policy's meaning; equal for what cordon wrote and what AWS hands back for it. */
export function fingerprint(policy: PolicyDocument | null): string {
  if (!policy) return 'none';
  return createHash('sha256').update(JSON.stringify(canonical(policy))).digest('hex').slice(0, 16);
}
