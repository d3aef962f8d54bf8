import { parseCidr, formatCidr } from '../net/cidr.ts';
import type { PolicyDeny } from '../ports.ts';

/**
 * cordon's part of a REST API's resource policy, merged into whatever the operator already has.
 *
 * IAM cannot say "deny if the principal is P OR the source IP is in C" in one statement (every element of a
 * statement must match), so cordon owns up to three statements, recognised by their Sid and replaced as a whole:
 * - `CordonDenyPrincipals`: `Deny`, `Principal: {AWS: [...]}`; present only when there are principals (and, when the
 *   API's methods are known, only when one of them uses AWS_IAM: no other caller has an IAM principal to match);
 * - `CordonDenyCidrs`: `Deny`, `Principal: "*"`, `Condition: {IpAddress: {aws:SourceIp: [...]}}` (`aws:VpcSourceIp`
 *   for a private API); only with CIDRs;
 * - an `Allow`, only where AWS's evaluation table makes one necessary and it grants nothing the API did not grant
 *   without a policy: `CordonAllowAll` (`*`), or `CordonAllowOpenMethods` scoped to the verbs of the API's open
 *   methods. See {@link mergeDenyStatement} for the rules and the table they follow.
 * Every other statement is left exactly as it was, in its order; cordon's follow it.
 */

export const CORDON_SIDS = {
  allowAll: 'CordonAllowAll',
  allowOpenMethods: 'CordonAllowOpenMethods',
  denyPrincipals: 'CordonDenyPrincipals',
  denyCidrs: 'CordonDenyCidrs',
} as const;

/** Sids cordon owns: its current ones and the single-statement name of its first design. */
const OWNED_SIDS: ReadonlySet<string> = new Set([...Object.values(CORDON_SIDS), 'CordonDeny']);

export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  [key: string]: unknown;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
  [key: string]: unknown;
}

export class PolicyParseError extends Error {
  override name = 'PolicyParseError';
}

/** Even with nothing of cordon's in it, the policy is over the limit: nothing cordon can write would be accepted. */
export class PolicyBudgetError extends Error {
  override name = 'PolicyBudgetError';
  constructor(
    readonly chars: number,
    readonly maxChars: number,
  ) {
    super(`the resource policy is ${chars} characters without cordon's statements, over the limit of ${maxChars}`);
  }
}

export function isCordonStatement(s: PolicyStatement): boolean {
  return typeof s.Sid === 'string' && OWNED_SIDS.has(s.Sid);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading what GetRestApi returns

/** One layer of decoding; a string result means the text was JSON-encoded once more. */
function decodeLayer(s: string): unknown {
  const t = s.trim();
  try {
    return JSON.parse(t);
  } catch {
    /* not plain JSON */
  }
  // AWS's form, `{\"Version\":...,\"Resource\":\"arn:...\/*\"}`, is the body of a JSON string without its quotes.
  try {
    return JSON.parse(`"${t}"`);
  } catch {
    /* partly escaped, or raw newlines inside */
  }
  // Last resort: undo the escapes AWS uses and read what is left.
  try {
    return JSON.parse(t.replace(/\\(["\\/])/g, '$1'));
  } catch {
    throw new PolicyParseError(`the resource policy is not JSON, escaped or not (${t.length} characters)`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toDocument(v: unknown): PolicyDocument {
  if (!isPlainObject(v)) throw new PolicyParseError('the resource policy is not a JSON object');
  const st = v.Statement;
  // IAM allows a single statement object; cordon always works on the array form.
  const statements = Array.isArray(st) ? st : isPlainObject(st) ? [st] : null;
  if (statements === null || !statements.every(isPlainObject))
    throw new PolicyParseError('the resource policy has no Statement list of objects');
  return { ...v, Statement: statements as PolicyStatement[] };
}

/**
 * Reads the `policy` of GetRestApi: AWS returns it JSON-escaped (`{\"Version\":...}`, `\/` for `/`) with
 * `execute-api:/...` resources rewritten to `arn:aws:execute-api:REGION:ACCOUNT:API_ID/...`; emulators return it
 * verbatim. Both are read. Returns null when there is no policy; throws {@link PolicyParseError} on anything
 * unreadable, because writing over a policy cordon could not read would destroy the operator's statements.
 */
export function parseApiGatewayPolicy(policy: string | undefined | null): PolicyDocument | null {
  if (policy === undefined || policy === null || policy.trim() === '') return null;
  let value: unknown = policy;
  for (let depth = 0; typeof value === 'string' && depth < 4; depth++) value = decodeLayer(value);
  return toDocument(value);
}

/** What cordon's statements of a policy deny now (for reconciliation and `cordon status`). */
export function readCordonDeny(doc: PolicyDocument | null): PolicyDeny {
  const list = (v: unknown): string[] =>
    typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const find = (sid: string) => doc?.Statement.find((s) => s.Sid === sid);
  const p = find(CORDON_SIDS.denyPrincipals)?.Principal;
  const c = find(CORDON_SIDS.denyCidrs)?.Condition;
  const ip = isPlainObject(c) && isPlainObject(c.IpAddress) ? c.IpAddress : {};
  return {
    principals: isPlainObject(p) ? list(p.AWS) : [],
    cidrs: [...list(ip['aws:SourceIp']), ...list(ip['aws:VpcSourceIp'])],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Comparing

const EXECUTE_API_ARN = /^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:([A-Za-z0-9]+)\//;

/**
 * A form where AWS's rewrites do not show: sorted keys, one-element lists as scalars, `execute-api:/` resources. With
 * `apiId`, only that API's ARNs are taken back to `execute-api:/`: another API's (a statement copied from elsewhere)
 * stays as written, so it never passes for this API's.
 */
function canonical(v: unknown, apiId?: string): unknown {
  if (Array.isArray(v)) return v.length === 1 ? canonical(v[0], apiId) : v.map((x) => canonical(x, apiId));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k], apiId);
    return out;
  }
  if (typeof v === 'string') return v.replace(EXECUTE_API_ARN, (arn, id: string) => (apiId === undefined || id === apiId ? 'execute-api:/' : arn));
  return v;
}

/** True when the two policies mean the same once AWS's rewriting of the stored form (of API `apiId`) is undone. */
export function policyEquivalent(a: PolicyDocument | null, b: PolicyDocument | null, apiId?: string): boolean {
  return JSON.stringify(canonical(a, apiId)) === JSON.stringify(canonical(b, apiId));
}

// ---------------------------------------------------------------------------------------------------------------
// Who the API lets in: authorization and endpoint types

/** A REST API method's `authorizationType` (GetMethod, or GetResources with `embed=methods`). */
export type ApiAuthType = 'NONE' | 'AWS_IAM' | 'CUSTOM' | 'COGNITO_USER_POOLS';
export const API_AUTH_TYPES: readonly ApiAuthType[] = ['NONE', 'AWS_IAM', 'CUSTOM', 'COGNITO_USER_POOLS'];

/** A REST API's endpoint type (GetRestApi `endpointConfiguration.types`). */
export type ApiEndpointType = 'EDGE' | 'REGIONAL' | 'PRIVATE';

export interface ApiMethod {
  /** `GET`, `POST`, …, or `ANY`. */
  httpMethod: string;
  authorizationType: ApiAuthType;
}

/** What a policy edit must know of the API to follow AWS's evaluation table (see {@link mergeDenyStatement}). */
export interface ApiAccess {
  endpointType: ApiEndpointType;
  /** Every method of the API (at least its verb and authorization type; the path does not matter here). */
  methods: readonly ApiMethod[];
  /**
   * The API's stage names. Needed only for an API that mixes open methods (NONE, Cognito) with AWS_IAM or Lambda
   * authorizer methods, where the Allow the open methods need is scoped to their verbs in each stage.
   */
  stages?: readonly string[];
}

/** The API's methods cannot be given the Allow they need without widening access to its other methods. */
export class AuthorizationConflictError extends Error {
  override name = 'AuthorizationConflictError';
}

/** What GetRestApi / GetResources returned cannot be read as an {@link ApiAccess}. */
export class ApiAccessError extends Error {
  override name = 'ApiAccessError';
}

const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const HTTP_METHOD = /^(?:ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$/;

/**
 * The {@link ApiAccess} of a REST API from what the SDK returns: GetRestApi (`endpointConfiguration.types`; an API
 * created without one is EDGE, AWS's default) and every item of GetResources with `embed: ['methods']`
 * (`resourceMethods[VERB].authorizationType`). Throws {@link ApiAccessError} on anything it cannot read, because a
 * guess here is a guess about who may call the API.
 */
export function apiAccessOf(
  restApi: { endpointConfiguration?: { types?: readonly string[] } },
  resources: readonly { resourceMethods?: Record<string, { authorizationType?: string } | undefined> }[],
  stages?: readonly string[],
): ApiAccess {
  const types = restApi.endpointConfiguration?.types ?? [];
  const endpointType: ApiEndpointType = types.includes('PRIVATE') ? 'PRIVATE' : types.includes('REGIONAL') ? 'REGIONAL' : 'EDGE';
  const methods: ApiMethod[] = [];
  for (const r of resources) {
    for (const [verb, m] of Object.entries(r.resourceMethods ?? {})) {
      const httpMethod = verb.toUpperCase();
      if (!HTTP_METHOD.test(httpMethod)) throw new ApiAccessError(`not an HTTP method: ${JSON.stringify(verb)}`);
      const t = m?.authorizationType;
      if (!(API_AUTH_TYPES as readonly (string | undefined)[]).includes(t))
        throw new ApiAccessError(`method ${httpMethod}: authorizationType ${JSON.stringify(t)} is not one of ${API_AUTH_TYPES.join(', ')}`);
      methods.push({ httpMethod, authorizationType: t as ApiAuthType });
    }
  }
  return stages === undefined ? { endpointType, methods } : { endpointType, methods, stages: [...stages] };
}

// ---------------------------------------------------------------------------------------------------------------
// Merging

export interface MergeOptions {
  /** Resource of cordon's statements: `execute-api:/*`, or the ARN form AWS stores (then `chars` is exact). */
  resource: string;
  /** Limit of the policy text (AWS: 8,192). */
  maxChars: number;
  /**
   * The API's endpoint type and methods: which Allow (if any) the API needs, which condition key matches a
   * client's address, and whether an IAM principal can be denied at all. Without it, cordon adds no Allow of its
   * own (keeping one it added before), writes `aws:SourceIp` and every principal.
   */
  api?: ApiAccess;
  /**
   * The API's id: the stored policy's ARNs of this API read as `execute-api:/` when comparing, another API's never (a
   * cordon statement naming another API denies nothing here, and is rewritten).
   */
  restApiId?: string;
  /**
   * @deprecated Pass {@link api} instead. Only read when `api` is absent: `true` restores the old behaviour of
   * creating a policy with `CordonAllowAll`, which widens access on an API with AWS_IAM or a Lambda authorizer.
   */
  allowAllWhenCreating?: boolean;
}

export interface MergeResult {
  /** null: the API should have no resource policy (nothing to deny, and nothing but cordon's was there). */
  policy: PolicyDocument | null;
  /** Compact JSON of `policy`, '' when null. */
  text: string;
  chars: number;
  /** What the statements deny: prefixes of the cleaned input lists. */
  kept: PolicyDeny;
  /** Left out to stay within maxChars, lowest priority first. */
  dropped: string[];
  /** Entries that cannot go into a policy: not an IAM principal (or `*`), not a CIDR, or `/0`. */
  rejected: string[];
  /**
   * Entries no statement of this API's policy can enforce, left out: IAM principals when no method of the API
   * authenticates callers with IAM (its callers have no IAM principal for a `Principal` to match), and every entry
   * of a private API without a policy of the operator's (it cannot be invoked at all; a policy written by cordon
   * would make it deployable, and so reachable). A deny there would be announced and enforce nothing.
   */
  unenforceable: string[];
  /** Whether `policy` differs in meaning from `existing` (see {@link policyEquivalent}). */
  changed: boolean;
  /**
   * Why cordon cannot keep an Allow this API needs (a verb shared by open and guarded methods, or no stage given).
   * `policy` is then the safe one: no policy at all when nothing of the operator's is there (every entry
   * `unenforceable`), else the operator's statements and cordon's denies without any Allow of cordon's. The adapter
   * writes it and reports the conflict as this API's failure.
   */
  conflict?: string;
}

/**
 * ARNs of IAM users, roles, role sessions and federated users. Never `*`, an account id or `arn:…:root`: in a
 * `Principal` those stand for every principal of the account (a CLF log's caller of a root-signed request is the account id).
 */
const DENYABLE_PRINCIPAL =
  /^arn:aws(?:-[a-z]+)*:(?:iam::\d{12}:(?:user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)|sts::\d{12}:(?:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+|federated-user\/[\w+=,.@-]+))$/;

export function isDenyablePrincipal(p: string): boolean {
  return DENYABLE_PRINCIPAL.test(p);
}

interface CleanDeny {
  principals: string[];
  cidrs: string[];
  rejected: string[];
}

/** Deduplicated (first occurrence wins, so priority order holds), canonical, and only what IAM accepts. */
function cleanDeny(deny: PolicyDeny): CleanDeny {
  const principals = new Set<string>();
  const cidrs = new Set<string>();
  const rejected: string[] = [];
  for (const raw of deny.principals) {
    // Exactly as written or not at all: a value with anything around it came from no userArn (AWS writes those bare), and
    // trimming it would turn an attacker's ` arn:…:role/Admin` into the company's role.
    if (isDenyablePrincipal(raw)) principals.add(raw);
    else rejected.push(raw);
  }
  for (const raw of deny.cidrs) {
    const c = parseCidr(raw);
    if (c === null || c.len === 0) rejected.push(raw);
    else cidrs.add(formatCidr(c));
  }
  return { principals: [...principals], cidrs: [...cidrs], rejected };
}

const INVOKE = 'execute-api:Invoke';

function allowAllStatement(resource: string): PolicyStatement {
  return { Sid: CORDON_SIDS.allowAll, Effect: 'Allow', Principal: '*', Action: INVOKE, Resource: resource };
}

function denyPrincipalsStatement(resource: string, principals: string[]): PolicyStatement {
  return { Sid: CORDON_SIDS.denyPrincipals, Effect: 'Deny', Principal: { AWS: principals }, Action: INVOKE, Resource: resource };
}

function denyCidrsStatement(resource: string, cidrs: string[], key: 'aws:SourceIp' | 'aws:VpcSourceIp'): PolicyStatement {
  return {
    Sid: CORDON_SIDS.denyCidrs,
    Effect: 'Deny',
    Principal: '*',
    Action: INVOKE,
    Resource: resource,
    Condition: { IpAddress: { [key]: cidrs } },
  };
}

/** Methods whose callers a resource policy must explicitly allow once the API has one (see the table below). */
const NEEDS_EXPLICIT_ALLOW: ReadonlySet<ApiAuthType> = new Set<ApiAuthType>(['NONE', 'COGNITO_USER_POOLS']);

/**
 * `Allow` for the open methods only, when the API also has AWS_IAM or Lambda authorizer methods: one resource per
 * stage and verb, `…/STAGE/VERB/*`. With the stage written out, `*` can only stand for the path, so the statement
 * matches exactly the requests made with those verbs. Possible only when no verb (nor `ANY`) is used by both kinds.
 */
function openMethodsAllow(api: ApiAccess, resource: string): PolicyStatement {
  const open = api.methods.filter((m) => NEEDS_EXPLICIT_ALLOW.has(m.authorizationType));
  const guarded = api.methods.filter((m) => !NEEDS_EXPLICIT_ALLOW.has(m.authorizationType));
  const verbs = (ms: readonly ApiMethod[]) => new Set(ms.map((m) => m.httpMethod.toUpperCase()));
  const openVerbs = verbs(open);
  const guardedVerbs = verbs(guarded);
  const shared = [...openVerbs].filter((v) => v === 'ANY' || guardedVerbs.has(v) || guardedVerbs.has('ANY'));
  const kinds = `its methods with ${[...new Set(open.map((m) => m.authorizationType))].join('/')} need an Allow in any resource policy, ` +
    `and an Allow that also covers its ${[...new Set(guarded.map((m) => m.authorizationType))].join('/')} methods would widen access to them`;
  if (shared.length > 0)
    throw new AuthorizationConflictError(
      `cannot write a resource policy for this API without locking callers out or letting new ones in: ${kinds}; ` +
        `verb ${shared.join(', ')} is used by both. Give the API a resource policy of your own with the Allow statements it needs; cordon then only adds its denies.`,
    );
  const stages = api.stages ?? [];
  const bad = stages.find((s) => !STAGE_NAME.test(s));
  if (bad !== undefined) throw new RangeError(`not a stage name: ${JSON.stringify(bad)}`);
  if (stages.length === 0)
    throw new AuthorizationConflictError(`${kinds}; the Allow is scoped to stage and verb, and no stage of the API was given`);
  if (!resource.endsWith('/*')) throw new RangeError(`resource must end with /* to scope an Allow to stages and verbs: ${resource}`);
  const prefix = resource.slice(0, -2);
  const resources = [...stages].sort().flatMap((st) => [...openVerbs].sort().map((v) => `${prefix}/${st}/${v}/*`));
  return { Sid: CORDON_SIDS.allowOpenMethods, Effect: 'Allow', Principal: '*', Action: INVOKE, Resource: resources };
}

/**
 * The Allow statement cordon keeps in the policy, or null. Follows AWS's "How API Gateway resource policies affect
 * authorization workflow" (API Gateway Developer Guide, apigateway-authorization-flow), per authorization type:
 *
 * - resource policy only (NONE): "seeking an explicit allow … An implicit denial or any explicit denial results in
 *   denying the caller". Without a policy everybody gets in; a policy made of cordon's denies alone would let nobody
 *   in. So an API whose only statements are cordon's needs `Allow *`, which grants nothing it did not grant before.
 * - Amazon Cognito user pools: the caller is authenticated first, then "the resource policy is evaluated
 *   independently, and an explicit allow is required. A deny or 'neither allow or deny' results in a deny." Same as
 *   NONE: `Allow *` is needed, and grants nothing (authentication still comes first).
 * - AWS_IAM, Table A (caller in the API's account): IAM policy Allow + resource policy silent = Allow, but
 *   IAM silent + resource policy Allow = Allow too; Table B (another account): both must allow. So with no policy
 *   same-account callers are let in by their IAM policies, other accounts never; a Deny alone keeps exactly that.
 *   `Allow *` would let in same-account principals their IAM never allowed and principals of every other account
 *   whose own IAM allows them.
 * - Lambda authorizer: explicit denies are checked before the authorizer runs, then the authorizer's policy and the
 *   resource policy are combined by Table A: authorizer Allow + policy silent = Allow; authorizer silent + policy
 *   Allow = Allow. A Deny alone keeps the authorizer in charge; `Allow *` would override its silence.
 * - PRIVATE endpoint: the API cannot be invoked (nor deployed) without a resource policy, and one that allows `*`
 *   lets in every VPC endpoint of every account. cordon never adds an Allow to a private API, and writes no policy
 *   to one that has none of the operator's (even a Deny alone would make it deployable, and so reachable by the
 *   callers its methods authorize).
 *
 * So: an Allow is added only when the policy holds no statement of the operator's (then theirs decide who gets
 * in, and cordon's denies only narrow it), there is something to deny, the API is not private and it has open
 * (NONE, Cognito) methods; `Allow *` when all methods are open, `CordonAllowOpenMethods` scoped to the open
 * methods' verbs when it mixes them with AWS_IAM or Lambda authorizer methods. A cordon Allow already present
 * (written while the policy held nothing of the operator's, or by an earlier release) is checked again on every
 * merge against the API as it is now: beside the operator's statements it stays as it was while every method is
 * open (removing it could lock their callers out, and it lets in nobody those methods would not let in without a
 * policy); once the API has guarded methods too, an `Allow *` is narrowed to the open methods' verbs and a scoped one
 * loses the verbs guarded methods now use (it never gains any); on an API that is private or has no open methods it
 * is removed (there it only ever widened access).
 *
 * When a verb (or `ANY`) is shared by open and guarded methods, no Allow can serve the open methods without also
 * covering the guarded ones: the result is `conflict` and no Allow at all (see {@link mergeDenyStatement}).
 */
function allowStatement(opts: MergeOptions, hasOthers: boolean, had: PolicyStatement | undefined): { allow: PolicyStatement | null; conflict?: string } {
  const api = opts.api;
  const hadAllowAll = had?.Sid === CORDON_SIDS.allowAll;
  if (api === undefined) {
    if (hasOthers) return { allow: hadAllowAll ? allowAllStatement(opts.resource) : null };
    return { allow: hadAllowAll || opts.allowAllWhenCreating === true ? allowAllStatement(opts.resource) : null };
  }
  const hasOpen = api.methods.some((m) => NEEDS_EXPLICIT_ALLOW.has(m.authorizationType));
  const hasGuarded = api.methods.some((m) => !NEEDS_EXPLICIT_ALLOW.has(m.authorizationType));
  if (api.endpointType === 'PRIVATE' || !hasOpen) return { allow: null };
  if (hasOthers && had === undefined) return { allow: null };
  if (!hasGuarded) return { allow: hasOthers ? had! : allowAllStatement(opts.resource) };
  // Beside the operator's statements, a scoped Allow of cordon's may only shrink: it keeps the stages and verbs it had
  // that no guarded method uses now (never new ones, which the operator's statements may keep out).
  if (hasOthers && !hadAllowAll) return narrowedAllow(api, had!);
  try {
    return { allow: openMethodsAllow(api, opts.resource) };
  } catch (err) {
    if (err instanceof AuthorizationConflictError) return { allow: null, conflict: err.message };
    throw err;
  }
}

/** `had` (a CordonAllowOpenMethods) without the resources whose verb a guarded method of `api` now uses. */
function narrowedAllow(api: ApiAccess, had: PolicyStatement): { allow: PolicyStatement | null; conflict?: string } {
  const guardedVerbs = new Set(api.methods.filter((m) => !NEEDS_EXPLICIT_ALLOW.has(m.authorizationType)).map((m) => m.httpMethod.toUpperCase()));
  const resources = [had.Resource].flat().filter((r): r is string => typeof r === 'string');
  const verbOf = (r: string) => r.split('/').at(-2) ?? '';
  // Only the form cordon writes, `<api>/<stage>/<VERB>/*`: a hand-edited `…/*` or `…/prod/*` under cordon's Sid would
  // cover the guarded methods too.
  const standard = (r: string) => /\/[^/*]+\/[A-Z]+\/\*$/.test(r);
  const kept = resources.filter((r) => standard(r) && !guardedVerbs.has('ANY') && verbOf(r) !== 'ANY' && !guardedVerbs.has(verbOf(r)));
  if (kept.length === resources.length) return { allow: had };
  const allow = kept.length === 0 ? null : { ...had, Resource: kept.length === 1 ? kept[0] : kept };
  // Open methods still on a verb taken out lose the Allow they had: a conflict (theirs to resolve), not a silent change.
  const openVerbs = new Set(api.methods.filter((m) => NEEDS_EXPLICIT_ALLOW.has(m.authorizationType)).map((m) => m.httpMethod.toUpperCase()));
  const lost = [...new Set(resources.filter((r) => !kept.includes(r)).map(verbOf))].filter((v) => openVerbs.has(v) || openVerbs.has('ANY') || v === 'ANY' || v === '*');
  if (lost.length === 0) return { allow };
  return { allow, conflict: `verb ${lost.join(', ')} of cordon's Allow for the open methods is now used by guarded methods too: an Allow covering it ` +
    'would let their callers in' };
}

/**
 * The policy with cordon's statements set to deny `deny` (principals first, then CIDRs, each in priority order),
 * within `maxChars`: when it does not fit, entries are dropped from the end (CIDRs before any principal).
 * Merging the same deny twice gives the same policy. With {@link MergeOptions.api}, the Allow cordon adds (if any)
 * follows AWS's evaluation table for the API's authorization types (see {@link allowStatement}): the result never
 * lets in a request that the operator's own policy (or its absence) keeps out, beyond an Allow cordon wrote earlier
 * for methods that are all open. When no Allow can serve the open methods without widening, the result carries
 * `conflict` (see {@link MergeResult.conflict}). Throws {@link PolicyBudgetError} when the operator's statements alone
 * exceed `maxChars` and cordon's entries would only grow the policy.
 */
export function mergeDenyStatement(existing: PolicyDocument | null, deny: PolicyDeny, opts: MergeOptions): MergeResult {
  if (typeof opts.resource !== 'string' || opts.resource === '') throw new RangeError('resource must be a non-empty string');
  if (!Number.isInteger(opts.maxChars) || opts.maxChars < 1) throw new RangeError(`maxChars must be a positive integer, got ${opts.maxChars}`);
  const others = existing ? existing.Statement.filter((s) => !isCordonStatement(s)) : [];
  const hadAllow = existing?.Statement.find((s) => isCordonStatement(s) && s.Effect === 'Allow');
  const clean = cleanDeny(deny);
  // A private API without a policy of the operator's cannot be invoked (nor deployed): there is nothing to deny, and
  // any policy cordon wrote would make it deployable, letting in callers its methods then authorize.
  const unreachable = opts.api?.endpointType === 'PRIVATE' && others.length === 0;
  const principalsEnforceable = !unreachable && (opts.api === undefined || opts.api.methods.some((m) => m.authorizationType === 'AWS_IAM'));
  const principals = principalsEnforceable ? clean.principals : [];
  const cidrs = unreachable ? [] : clean.cidrs;
  const { rejected } = clean;
  const ipKey = opts.api?.endpointType === 'PRIVATE' ? 'aws:VpcSourceIp' : 'aws:SourceIp';
  const total = principals.length + cidrs.length;
  // Only when a policy will exist: with nothing of the operator's and nothing to deny, there is none.
  const { allow, conflict } = others.length > 0 || total > 0 ? allowStatement(opts, others.length > 0, hadAllow) : { allow: null, conflict: undefined };
  if (conflict !== undefined && others.length === 0) {
    // No Allow can be written, and without one a policy of cordon's denies would lock the open methods out: the API
    // goes back to no policy (as before cordon), and nothing is enforced there.
    const unenforceable = [...clean.principals, ...clean.cidrs];
    return { policy: null, text: '', chars: 0, kept: { principals: [], cidrs: [] }, dropped: [], rejected, unenforceable,
      changed: !policyEquivalent(existing, null, opts.restApiId), conflict };
  }

  const build = (n: number): { policy: PolicyDocument | null; text: string } => {
    const pk = Math.min(n, principals.length);
    const ck = n - pk;
    const statements = [...others];
    if (allow && (others.length > 0 || n > 0)) statements.push(allow);
    if (pk > 0) statements.push(denyPrincipalsStatement(opts.resource, principals.slice(0, pk)));
    if (ck > 0) statements.push(denyCidrsStatement(opts.resource, cidrs.slice(0, ck), ipKey));
    if (statements.length === 0) return { policy: null, text: '' };
    const policy: PolicyDocument = existing ? { ...existing, Statement: statements } : { Version: '2012-10-17', Statement: statements };
    return { policy, text: JSON.stringify(policy) };
  };

  let n = total;
  let best = build(n);
  let allowLeftOut = false;
  if (best.text.length > opts.maxChars) {
    const bare = build(0);
    if (bare.text.length > opts.maxChars) {
      // Nothing of cordon's fits beside the operator's statements. Taking cordon's entries out still shrinks the policy
      // (expired and released entries must go, whatever the budget), and so does taking its Allow out too when that
      // Allow grew (narrowed to stages and verbs): the operator's statements alone never let in more than theirs do.
      // Anything else is refused.
      const was = existing?.Statement.some(isCordonStatement) ? JSON.stringify(existing).length : -1;
      if (bare.text.length <= was) {
        n = 0;
        best = bare;
      } else if (allow !== null && others.length > 0 && JSON.stringify({ ...existing, Statement: others }).length <= was) {
        n = 0;
        best = { policy: { ...existing!, Statement: others }, text: JSON.stringify({ ...existing, Statement: others }) };
        allowLeftOut = true;
      } else {
        throw new PolicyBudgetError(bare.text.length, opts.maxChars);
      }
    } else {
      // The text grows with every entry kept, so the most that fit is found by bisection.
      let lo = 0; // fits
      let hi = total; // does not fit
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (build(mid).text.length <= opts.maxChars) lo = mid;
        else hi = mid;
      }
      n = lo;
      best = build(n);
    }
  }
  const pk = Math.min(n, principals.length);
  return {
    policy: best.policy,
    text: best.text,
    chars: best.text.length,
    kept: { principals: principals.slice(0, pk), cidrs: cidrs.slice(0, n - pk) },
    dropped: [...principals.slice(pk), ...cidrs.slice(n - pk)].reverse(),
    rejected,
    unenforceable: [...(principalsEnforceable ? [] : clean.principals), ...(unreachable ? clean.cidrs : [])],
    changed: !policyEquivalent(existing, best.policy, opts.restApiId),
    ...(conflict !== undefined ? { conflict: `${conflict} (cordon's own Allow was removed: the operator's statements decide who gets in)` }
      : allowLeftOut ? { conflict: "cordon's own Allow, narrowed to the API's open methods, no longer fits beside the operator's statements and was " +
        "removed with cordon's entries: the operator's statements decide who gets in" } : {}),
  };
}
