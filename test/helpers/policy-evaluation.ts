import ipaddr from 'ipaddr.js';
import type { ApiAuthType, ApiEndpointType, PolicyDocument, PolicyStatement } from '../../src/render/resource-policy.ts';

/**
 * Whether API Gateway lets a request in, given the API's resource policy (null: none) and the authorization type of
 * the method called. A pure function written from AWS's documentation alone, independent of cordon's merge code,
 * so the merge can be checked against it:
 *
 * API Gateway Developer Guide, "How API Gateway resource policies affect authorization workflow"
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-authorization-flow.html):
 * - resource policy only (NONE): "seeking an explicit allow … An implicit denial or any explicit denial results in
 *   denying the caller";
 * - Lambda authorizer: explicit denies are checked first ("If found, the caller is denied access immediately"),
 *   then the authorizer's policy and the resource policy are combined by Table A;
 * - IAM: Table A when the caller is in the API's account, Table B when not;
 * - Cognito: authentication first, then "the resource policy is evaluated independently, and an explicit allow is
 *   required. A deny or 'neither allow or deny' results in a deny" (the flowchart). The page's Table A also names
 *   Cognito, which would make a silent policy an Allow: `cognito: 'table-a'` evaluates that reading.
 *
 * Table A (same account): any Deny → explicit deny; otherwise any Allow → allow; otherwise implicit deny.
 * Table B (other account): any Deny → explicit deny; both Allow → allow; otherwise implicit deny.
 *
 * With no resource policy the resource policy is "neither": NONE and Cognito methods let their callers in,
 * IAM and Lambda authorizer methods follow the tables. A private API without a resource policy cannot be invoked
 * (it cannot even be deployed). Private APIs: "the VPC endpoint for execute-api re-writes the original source IP
 * address. The aws:VpcSourceIp condition filters the request against the original requester IP address"
 * (API Gateway resource policy examples) — so `sourceIp` there is the endpoint's address.
 *
 * The policy language covered is what the tests write: Effect, Principal (`*`, or `{AWS: …}` with account ids,
 * `:root`, users, roles — a role matches its sessions — and role sessions), Action, Resource (with `*` and `?`,
 * `execute-api:/…` read as the API's ARN), and the condition operators IpAddress, NotIpAddress, StringEquals,
 * StringNotEquals. Anything else throws, so a test never passes on a statement this function did not understand.
 */

export type Verdict = 'allow' | 'neither' | 'deny';

export interface EvalRequest {
  /** The method ARN invoked: `arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/VERB/PATH`. */
  resource: string;
  endpointType: ApiEndpointType;
  /** The IAM principal of a signed request (AWS_IAM methods only). */
  principal?: { arn: string; account: string };
  /**
   * The other half of the table: the caller's IAM policies (AWS_IAM), the authorizer's policy (CUSTOM),
   * authentication (Cognito: `allow` authenticated, anything else not). Ignored for NONE.
   */
  caller: Verdict;
  /** `aws:SourceIp` as API Gateway sees it (behind a VPC endpoint, the endpoint's address). */
  sourceIp: string;
  /** `aws:VpcSourceIp`: the client's own address, private APIs only. */
  vpcSourceIp?: string;
  /** `aws:SourceVpce`, private APIs only. */
  sourceVpce?: string;
}

export interface EvalOptions {
  cognito?: 'flow' | 'table-a';
}

const METHOD_ARN = /^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:(\d{12}):[A-Za-z0-9]+)\/[^/]+\/[A-Z]+\/.*$/;

class Unsupported extends Error {
  override name = 'Unsupported';
}

function asList(v: unknown, what: string): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw new Unsupported(`${what}: ${JSON.stringify(v)}`);
}

/** IAM's wildcard match: `*` any run of characters (slashes included), `?` one character. */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(value);
}

function principalMatches(p: unknown, req: EvalRequest): boolean {
  if (p === '*') return true;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new Unsupported(`Principal ${JSON.stringify(p)}`);
  const keys = Object.keys(p);
  if (keys.length !== 1 || keys[0] !== 'AWS') throw new Unsupported(`Principal ${JSON.stringify(p)}`);
  const entries = asList((p as { AWS: unknown }).AWS, 'Principal.AWS');
  if (entries.includes('*')) return true;
  const who = req.principal;
  if (!who) return false; // an unsigned (or non-IAM) caller has no principal to match
  return entries.some((e) => {
    if (e === who.arn || e === who.account || e === `arn:aws:iam::${who.account}:root`) return true;
    const role = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(e);
    const session = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(who.arn);
    return role !== null && session !== null && role[1] === session[1] && role[2] === session[2];
  });
}

function actionMatches(a: unknown): boolean {
  return asList(a, 'Action').some((x) => globMatch(x.toLowerCase(), 'execute-api:invoke'));
}

function resourceMatches(r: unknown, req: EvalRequest, apiArn: string): boolean {
  return asList(r, 'Resource').some((x) => globMatch(x.startsWith('execute-api:/') ? `${apiArn}/${x.slice('execute-api:/'.length)}` : x, req.resource));
}

function inCidr(address: string, cidr: string): boolean {
  const a = ipaddr.parse(address);
  const [net, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === 'ipv4' ? 32 : 128];
  return a.kind() === net.kind() && a.match(net, bits);
}

function contextValue(key: string, req: EvalRequest): string | undefined {
  switch (key) {
    case 'aws:SourceIp':
      return req.sourceIp;
    case 'aws:VpcSourceIp':
      return req.vpcSourceIp;
    case 'aws:SourceVpce':
      return req.sourceVpce;
    default:
      throw new Unsupported(`condition key ${key}`);
  }
}

/** IAM: every operator of a Condition must hold, and within one every key; a key absent from the request fails a positive operator and passes a negated one. */
function conditionHolds(c: unknown, req: EvalRequest): boolean {
  if (c === undefined) return true;
  if (typeof c !== 'object' || c === null) throw new Unsupported(`Condition ${JSON.stringify(c)}`);
  return Object.entries(c).every(([op, body]) =>
    Object.entries(body as Record<string, unknown>).every(([key, raw]) => {
      const values = asList(raw, `${op}.${key}`);
      const v = contextValue(key, req);
      switch (op) {
        case 'IpAddress':
          return v !== undefined && values.some((cidr) => inCidr(v, cidr));
        case 'NotIpAddress':
          return v === undefined || !values.some((cidr) => inCidr(v, cidr));
        case 'StringEquals':
          return v !== undefined && values.includes(v);
        case 'StringNotEquals':
          return v === undefined || !values.includes(v);
        default:
          throw new Unsupported(`condition operator ${op}`);
      }
    }),
  );
}

function statementMatches(s: PolicyStatement, req: EvalRequest, apiArn: string): boolean {
  for (const k of Object.keys(s)) if (!['Sid', 'Effect', 'Principal', 'Action', 'Resource', 'Condition'].includes(k)) throw new Unsupported(`statement element ${k}`);
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny') throw new Unsupported(`Effect ${String(s.Effect)}`);
  return principalMatches(s.Principal, req) && actionMatches(s.Action) && resourceMatches(s.Resource, req, apiArn) && conditionHolds(s.Condition, req);
}

/** The resource policy's own answer: an explicit Deny, an explicit Allow, or neither. */
export function resourcePolicyVerdict(policy: PolicyDocument | null, req: EvalRequest): Verdict {
  if (policy === null) return 'neither';
  const m = METHOD_ARN.exec(req.resource);
  if (!m) throw new Unsupported(`request resource ${req.resource}`);
  const matching = policy.Statement.filter((s) => statementMatches(s, req, m[1]));
  if (matching.some((s) => s.Effect === 'Deny')) return 'deny';
  return matching.some((s) => s.Effect === 'Allow') ? 'allow' : 'neither';
}

/** Table A: Account A calls an API owned by account A. */
export function tableA(caller: Verdict, policy: Verdict): boolean {
  if (caller === 'deny' || policy === 'deny') return false;
  return caller === 'allow' || policy === 'allow';
}

/** Table B: account B calls an API owned by account A. */
export function tableB(caller: Verdict, policy: Verdict): boolean {
  if (caller === 'deny' || policy === 'deny') return false;
  return caller === 'allow' && policy === 'allow';
}

/** True when API Gateway lets the request in (see the module comment for the sources). */
export function evaluatePolicy(policy: PolicyDocument | null, authType: ApiAuthType, req: EvalRequest, opts: EvalOptions = {}): boolean {
  const m = METHOD_ARN.exec(req.resource);
  if (!m) throw new Unsupported(`request resource ${req.resource}`);
  if (req.endpointType === 'PRIVATE' && policy === null) return false;
  const rp = resourcePolicyVerdict(policy, req);
  switch (authType) {
    case 'NONE':
      return policy === null || rp === 'allow';
    case 'COGNITO_USER_POOLS':
      if (req.caller !== 'allow') return false; // authentication failed: 401 before any policy
      if (policy === null) return true;
      return (opts.cognito ?? 'flow') === 'flow' ? rp === 'allow' : rp !== 'deny';
    case 'CUSTOM':
      if (rp === 'deny') return false; // checked before the authorizer runs
      return tableA(req.caller, rp);
    case 'AWS_IAM': {
      if (!req.principal) throw new Unsupported('an AWS_IAM request needs a principal');
      return req.principal.account === m[2] ? tableA(req.caller, rp) : tableB(req.caller, rp);
    }
  }
}
