import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  type ApiAccess,
  type ApiAuthType,
  type ApiEndpointType,
  mergeDenyStatement,
  type MergeOptions,
  type MergeResult,
  type PolicyDocument,
  type PolicyStatement,
} from '../../src/render/resource-policy.ts';
import type { PolicyDeny } from '../../src/ports.ts';
import { type EvalRequest, evaluatePolicy, resourcePolicyVerdict, type Verdict } from '../helpers/policy-evaluation.ts';

/**
 * cordon's resource policy edits checked against AWS's evaluation table (test/helpers/policy-evaluation.ts, written
 * from "How API Gateway resource policies affect authorization workflow" alone): for every authorization type and
 * endpoint type, the merged policy lets in no request the policy before it (or its absence) kept out, denies every
 * blocked principal and address, and changes nothing for anyone else (beyond dropping an Allow it wrote itself).
 */

const OWN = '111111111111';
const OTHER = '222222222222';
const API = `arn:aws:execute-api:us-east-1:${OWN}:a1b2c3d4e5`;
const ENDPOINT_ADDRESS = '172.31.255.254'; // what aws:SourceIp holds behind a VPC endpoint
const VERBS = ['GET', 'POST', 'DELETE', 'OPTIONS'] as const;
const AUTH_TYPES: readonly ApiAuthType[] = ['NONE', 'AWS_IAM', 'CUSTOM', 'COGNITO_USER_POOLS'];
const VERDICTS: readonly Verdict[] = ['allow', 'neither', 'deny'];

const req = (over: Partial<EvalRequest> = {}): EvalRequest => ({
  resource: `${API}/prod/GET/pets`,
  endpointType: 'REGIONAL',
  caller: 'allow',
  sourceIp: '198.51.100.3',
  ...over,
});
const stmt = (Effect: 'Allow' | 'Deny', extra: Partial<PolicyStatement> = {}): PolicyStatement => ({
  Effect,
  Principal: '*',
  Action: 'execute-api:Invoke',
  Resource: 'execute-api:/*',
  ...extra,
});
const doc = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement });
/** A policy whose answer to `req()` is the given verdict. */
const policyAnswering = (v: Verdict): PolicyDocument =>
  v === 'allow' ? doc(stmt('Allow')) : v === 'deny' ? doc(stmt('Allow'), stmt('Deny')) : doc(stmt('Allow', { Resource: 'execute-api:/*/DELETE/*' }));

describe('evaluatePolicy reproduces the documented outcome tables', () => {
  // Table A: Account A calls API owned by Account A. [IAM user policy (or authorizer), resource policy, result]
  const TABLE_A: [Verdict, Verdict, boolean][] = [
    ['allow', 'allow', true],
    ['allow', 'neither', true],
    ['allow', 'deny', false],
    ['neither', 'allow', true],
    ['neither', 'neither', false],
    ['neither', 'deny', false],
    ['deny', 'allow', false],
    ['deny', 'neither', false],
    ['deny', 'deny', false],
  ];
  // Table B: Account B calls API owned by Account A.
  const TABLE_B: [Verdict, Verdict, boolean][] = [
    ['allow', 'allow', true],
    ['allow', 'neither', false],
    ['allow', 'deny', false],
    ['neither', 'allow', false],
    ['neither', 'neither', false],
    ['neither', 'deny', false],
    ['deny', 'allow', false],
    ['deny', 'neither', false],
    ['deny', 'deny', false],
  ];

  it.each(TABLE_A)('Table A, IAM: caller %s, resource policy %s → %s', (caller, rp, want) => {
    const r = req({ caller, principal: { arn: `arn:aws:iam::${OWN}:user/alice`, account: OWN } });
    expect(resourcePolicyVerdict(policyAnswering(rp), r)).toBe(rp);
    expect(evaluatePolicy(policyAnswering(rp), 'AWS_IAM', r)).toBe(want);
  });

  it.each(TABLE_B)('Table B, IAM: caller %s, resource policy %s → %s', (caller, rp, want) => {
    const r = req({ caller, principal: { arn: `arn:aws:iam::${OTHER}:user/mallory`, account: OTHER } });
    expect(evaluatePolicy(policyAnswering(rp), 'AWS_IAM', r)).toBe(want);
  });

  it.each(TABLE_A)('Table A, Lambda authorizer: authorizer %s, resource policy %s → %s', (caller, rp, want) => {
    expect(evaluatePolicy(policyAnswering(rp), 'CUSTOM', req({ caller }))).toBe(want);
  });

  it('no policy: NONE and Cognito let their callers in, IAM only its own account, an authorizer decides alone', () => {
    expect(evaluatePolicy(null, 'NONE', req({ caller: 'deny' }))).toBe(true);
    expect(evaluatePolicy(null, 'COGNITO_USER_POOLS', req())).toBe(true);
    expect(evaluatePolicy(null, 'COGNITO_USER_POOLS', req({ caller: 'deny' }))).toBe(false);
    expect(evaluatePolicy(null, 'AWS_IAM', req({ principal: { arn: `arn:aws:iam::${OWN}:user/a`, account: OWN } }))).toBe(true);
    expect(evaluatePolicy(null, 'AWS_IAM', req({ principal: { arn: `arn:aws:iam::${OTHER}:user/m`, account: OTHER } }))).toBe(false);
    expect(evaluatePolicy(null, 'CUSTOM', req({ caller: 'allow' }))).toBe(true);
    expect(evaluatePolicy(null, 'CUSTOM', req({ caller: 'neither' }))).toBe(false);
    expect(evaluatePolicy(null, 'NONE', req({ endpointType: 'PRIVATE' }))).toBe(false);
  });

  it('a policy without an Allow: NONE callers implicitly denied; Cognito too (flow), not under the Table A reading', () => {
    const denyOnly = doc(stmt('Deny', { Condition: { IpAddress: { 'aws:SourceIp': ['203.0.113.0/24'] } } }));
    expect(evaluatePolicy(denyOnly, 'NONE', req())).toBe(false);
    expect(evaluatePolicy(denyOnly, 'COGNITO_USER_POOLS', req())).toBe(false);
    expect(evaluatePolicy(denyOnly, 'COGNITO_USER_POOLS', req(), { cognito: 'table-a' })).toBe(true);
    expect(evaluatePolicy(denyOnly, 'COGNITO_USER_POOLS', req({ sourceIp: '203.0.113.9' }), { cognito: 'table-a' })).toBe(false);
  });

  it('private API: aws:SourceIp holds the endpoint address, aws:VpcSourceIp the client', () => {
    const client = { endpointType: 'PRIVATE' as const, sourceIp: ENDPOINT_ADDRESS, vpcSourceIp: '10.0.1.9' };
    const bySourceIp = doc(stmt('Allow'), stmt('Deny', { Condition: { IpAddress: { 'aws:SourceIp': ['10.0.1.0/24'] } } }));
    const byVpcSourceIp = doc(stmt('Allow'), stmt('Deny', { Condition: { IpAddress: { 'aws:VpcSourceIp': ['10.0.1.0/24'] } } }));
    expect(evaluatePolicy(bySourceIp, 'NONE', req(client))).toBe(true); // denies nothing
    expect(evaluatePolicy(byVpcSourceIp, 'NONE', req(client))).toBe(false);
  });

  it('principals: account ids, :root, a role matching its sessions; a Principal names no unsigned caller', () => {
    const session = { arn: `arn:aws:sts::${OTHER}:assumed-role/Ops/s-1`, account: OTHER };
    for (const entry of [OTHER, `arn:aws:iam::${OTHER}:root`, `arn:aws:iam::${OTHER}:role/Ops`, session.arn])
      expect(resourcePolicyVerdict(doc(stmt('Deny', { Principal: { AWS: entry } })), req({ principal: session }))).toBe('deny');
    for (const entry of [OWN, `arn:aws:iam::${OTHER}:role/Dev`, `arn:aws:iam::${OTHER}:user/Ops`])
      expect(resourcePolicyVerdict(doc(stmt('Deny', { Principal: { AWS: entry } })), req({ principal: session }))).toBe('neither');
    expect(resourcePolicyVerdict(doc(stmt('Deny', { Principal: { AWS: [OTHER] } })), req())).toBe('neither');
  });

  it('refuses what it does not model rather than answer wrongly', () => {
    expect(() => resourcePolicyVerdict(doc(stmt('Deny', { NotPrincipal: { AWS: OWN } })), req())).toThrow(/statement element NotPrincipal/);
    expect(() => resourcePolicyVerdict(doc(stmt('Deny', { Condition: { DateGreaterThan: { 'aws:CurrentTime': 'x' } } })), req())).toThrow(/aws:CurrentTime/);
  });
});

describe('the defect of the earlier merge, as the table sees it', () => {
  it('CordonAllowAll on an AWS_IAM API let principals of other accounts in; the merge for an IAM API does not', () => {
    const mallory = req({ principal: { arn: `arn:aws:iam::${OTHER}:user/mallory`, account: OTHER }, caller: 'allow' });
    const deny = { principals: [], cidrs: ['203.0.113.0/24'] };
    const legacy = mergeDenyStatement(null, deny, { resource: 'execute-api:/*', maxChars: 8192, allowAllWhenCreating: true });
    expect(evaluatePolicy(null, 'AWS_IAM', mallory)).toBe(false);
    expect(evaluatePolicy(legacy.policy, 'AWS_IAM', mallory)).toBe(true); // widened
    const iamApi: ApiAccess = { endpointType: 'REGIONAL', methods: [{ httpMethod: 'GET', authorizationType: 'AWS_IAM' }] };
    const now = mergeDenyStatement(null, deny, { resource: 'execute-api:/*', maxChars: 8192, api: iamApi });
    expect(evaluatePolicy(now.policy, 'AWS_IAM', mallory)).toBe(false);
    // A same-account caller whose IAM says nothing was let in too.
    const idle = req({ principal: { arn: `arn:aws:iam::${OWN}:user/intern`, account: OWN }, caller: 'neither' });
    expect([evaluatePolicy(null, 'AWS_IAM', idle), evaluatePolicy(legacy.policy, 'AWS_IAM', idle), evaluatePolicy(now.policy, 'AWS_IAM', idle)]).toEqual([false, true, false]);
  });

  it('CordonAllowAll on a Lambda authorizer API overrode the authorizer when it said nothing', () => {
    const silent = req({ caller: 'neither' });
    const legacy = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.0/24'] }, { resource: 'execute-api:/*', maxChars: 8192, allowAllWhenCreating: true });
    expect([evaluatePolicy(null, 'CUSTOM', silent), evaluatePolicy(legacy.policy, 'CUSTOM', silent)]).toEqual([false, true]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The property

const PRINCIPALS = [
  { arn: `arn:aws:iam::${OWN}:user/alice`, account: OWN },
  { arn: `arn:aws:sts::${OWN}:assumed-role/App/s-1`, account: OWN },
  { arn: `arn:aws:iam::${OTHER}:user/mallory`, account: OTHER },
  { arn: `arn:aws:sts::${OTHER}:assumed-role/Ops/s-2`, account: OTHER },
];
// No account id or :root: cordon never denies one (it stands for every principal of the account).
const DENYABLE_PRINCIPALS = [`arn:aws:iam::${OWN}:user/alice`, `arn:aws:iam::${OWN}:role/App`, `arn:aws:iam::${OTHER}:user/mallory`, `arn:aws:sts::${OTHER}:assumed-role/Ops/s-2`];
const CLIENTS = ['203.0.113.7', '203.0.113.200', '198.51.100.3', '198.51.100.200', '192.0.2.10', '2001:db8:1:2::5', '2001:db8:1:3::5', '10.0.1.9', '10.0.0.5', '10.0.2.2'];
const DENYABLE_CIDRS = ['203.0.113.0/24', '203.0.113.7/32', '198.51.100.0/25', '2001:db8:1:2::/64', '10.0.1.0/24', '10.0.0.5'];

/** Statements an operator might have written, and the ones earlier releases of cordon left. */
const OPERATOR_STATEMENTS: PolicyStatement[] = [
  stmt('Allow', { Sid: 'OpAllowAll' }),
  stmt('Allow', { Sid: 'OpAllowOffice', Condition: { IpAddress: { 'aws:SourceIp': ['192.0.2.0/24', '203.0.113.0/24'] } } }),
  stmt('Allow', { Sid: 'OpAllowPartner', Principal: { AWS: OTHER } }),
  stmt('Allow', { Sid: 'OpAllowAliceGet', Principal: { AWS: `arn:aws:iam::${OWN}:user/alice` }, Resource: 'execute-api:/*/GET/*' }),
  stmt('Allow', { Sid: 'OpAllowProd', Resource: `${API}/prod/*` }),
  stmt('Deny', { Sid: 'OpDenyDelete', Resource: 'execute-api:/*/DELETE/*' }),
  stmt('Deny', { Sid: 'OpDenyOtherVpce', Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } } }),
  stmt('Deny', { Sid: 'OpDenyOutsideRange', Condition: { NotIpAddress: { 'aws:VpcSourceIp': ['10.0.0.0/16'] } } }),
];
const LEGACY_ALLOW = stmt('Allow', { Sid: 'CordonAllowAll' });
const EARLIER_OPEN_ALLOW = stmt('Allow', { Sid: 'CordonAllowOpenMethods', Resource: ['execute-api:/prod/OPTIONS/*', 'execute-api:/dev/OPTIONS/*'] });
const OLD_DENY = stmt('Deny', { Sid: 'CordonDenyCidrs', Condition: { IpAddress: { 'aws:SourceIp': ['192.0.2.0/24'] } } });

interface Method {
  path: string;
  verb: string;
  authorizationType: ApiAuthType;
}
interface Scenario {
  endpointType: ApiEndpointType;
  methods: Method[];
  stages: string[];
  existing: PolicyDocument | null;
  deny: PolicyDeny;
  resource: string;
  requests: { path: string; verb: string; stage: string; principal: number; caller: Verdict; client: string; vpce: string }[];
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    endpointType: fc.constantFrom<ApiEndpointType>('EDGE', 'REGIONAL', 'PRIVATE'),
    methods: fc.uniqueArray(
      fc.record({
        path: fc.constantFrom('/', '/pets', '/pets/{id}'),
        verb: fc.constantFrom(...VERBS, 'ANY'),
        authorizationType: fc.constantFrom(...AUTH_TYPES),
      }),
      { minLength: 1, maxLength: 5, selector: (m) => `${m.path} ${m.verb}` },
    ),
    stages: fc.subarray(['prod', 'dev'], { minLength: 1 }),
    existing: fc.option(
      fc.record({
        ops: fc.subarray(OPERATOR_STATEMENTS, { maxLength: 3 }),
        legacyAllow: fc.constantFrom(null, LEGACY_ALLOW, EARLIER_OPEN_ALLOW),
        oldDeny: fc.boolean(),
      }),
      { nil: null },
    ),
    deny: fc.record({ principals: fc.subarray(DENYABLE_PRINCIPALS), cidrs: fc.subarray(DENYABLE_CIDRS) }),
    resource: fc.constantFrom('execute-api:/*', `${API}/*`),
    requests: fc.array(
      fc.record({
        path: fc.constantFrom('/', '/pets', '/pets/42'),
        verb: fc.constantFrom(...VERBS),
        stage: fc.nat(1),
        principal: fc.nat(PRINCIPALS.length - 1),
        caller: fc.constantFrom(...VERDICTS),
        client: fc.constantFrom(...CLIENTS),
        vpce: fc.constantFrom('vpce-1a2b3c4d', 'vpce-0000ffff'),
      }),
      { minLength: 20, maxLength: 40 },
    ),
  })
  .map(({ existing, stages, requests, ...rest }) => ({
    ...rest,
    stages,
    existing: existing && (existing.ops.length > 0 || existing.legacyAllow || existing.oldDeny)
      ? doc(...existing.ops, ...(existing.legacyAllow ? [existing.legacyAllow] : []), ...(existing.oldDeny ? [OLD_DENY] : []))
      : null,
    requests: requests.map((r) => ({ ...r, stage: stages[r.stage % stages.length] })),
  }));

/** API Gateway's routing: the method of that verb on the path, else its ANY method, else none. */
function route(methods: readonly Method[], path: string, verb: string): Method | undefined {
  const template = path === '/pets/42' ? '/pets/{id}' : path;
  return methods.find((m) => m.path === template && m.verb === verb) ?? methods.find((m) => m.path === template && m.verb === 'ANY');
}

function inCidr(address: string, cidr: string): boolean {
  const a = ipaddr.parse(address);
  const [net, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), a.kind() === 'ipv4' ? 32 : 128];
  return a.kind() === net.kind() && a.match(net, bits);
}

const withoutSids = (p: PolicyDocument | null, sids: readonly string[]): PolicyDocument | null => {
  if (p === null) return null;
  const rest = p.Statement.filter((s) => !sids.includes(String(s.Sid)));
  return rest.length === 0 ? null : { ...p, Statement: rest };
};

type Merge = (existing: PolicyDocument | null, deny: PolicyDeny, opts: MergeOptions) => MergeResult;

/** Checks one scenario; returns a description of the first violation, or null. */
function violation(s: Scenario, merge: Merge): string | null {
  const access: ApiAccess = {
    endpointType: s.endpointType,
    methods: s.methods.map((m) => ({ httpMethod: m.verb, authorizationType: m.authorizationType })),
    stages: s.stages,
  };
  const r: MergeResult = merge(s.existing, s.deny, { resource: s.resource, maxChars: 8192, api: access });
  const open = s.methods.filter((m) => m.authorizationType === 'NONE' || m.authorizationType === 'COGNITO_USER_POOLS');
  const guarded = s.methods.filter((m) => !open.includes(m));
  const ops = s.existing?.Statement.filter((st) => !String(st.Sid).startsWith('Cordon')) ?? [];
  const shares = open.some((o) => o.verb === 'ANY' || guarded.some((g) => g.verb === o.verb || g.verb === 'ANY'));
  if (r.conflict !== undefined) {
    // A conflict only where an Allow is needed and none can be scoped: a public API whose open and guarded methods
    // share a verb (or use ANY), with nothing of the operator's or with a cordon Allow written before beside theirs.
    const hadAllow = s.existing?.Statement.some((st) => String(st.Sid).startsWith('CordonAllow')) ?? false;
    if (!(s.endpointType !== 'PRIVATE' && guarded.length > 0 && shares && (ops.length === 0 || hadAllow))) return `conflict without cause: ${r.conflict}`;
    if (ops.length === 0) {
      // Nothing of the operator's: back to no policy at all, nothing enforced.
      if (r.policy !== null) return `a policy written despite the conflict`;
      return JSON.stringify(r.kept) === JSON.stringify({ principals: [], cidrs: [] }) ? null : `kept ${JSON.stringify(r.kept)} despite the conflict`;
    }
  }
  const hasIam = s.methods.some((m) => m.authorizationType === 'AWS_IAM');
  const uniqueCidrs = [...new Set(s.deny.cidrs.map((c) => (c.includes('/') ? c : `${c}/32`)))];
  // A private API with no policy of the operator's cannot be invoked: nothing to deny there, and no policy to write.
  const unreachable = s.endpointType === 'PRIVATE' && !(s.existing?.Statement ?? []).some((st) => !String(st.Sid).startsWith('Cordon'));
  // Everything valid is kept at this size; principals only where some method authenticates with IAM.
  const principalsKept = hasIam && !unreachable;
  const kept = { principals: principalsKept ? s.deny.principals : [], cidrs: unreachable ? [] : uniqueCidrs };
  if (JSON.stringify(r.kept) !== JSON.stringify(kept)) return `kept ${JSON.stringify(r.kept)}`;
  const unenforceable = [...(principalsKept ? [] : s.deny.principals), ...(unreachable ? uniqueCidrs : [])];
  if (JSON.stringify(r.unenforceable) !== JSON.stringify(unenforceable)) return `unenforceable ${JSON.stringify(r.unenforceable)}`;
  if (unreachable && r.policy !== null) return `a policy written to an unreachable private API`;

  // What the API let in before, cordon's own denies set aside; and what the operator's own policy (or its absence)
  // lets in, without any Allow cordon wrote. cordon may keep the first or go back to the second, never go past both.
  const before = withoutSids(s.existing, ['CordonDenyPrincipals', 'CordonDenyCidrs', 'CordonDeny']);
  const original = withoutSids(before, ['CordonAllowAll', 'CordonAllowOpenMethods']);

  for (const q of s.requests) {
    const method = route(s.methods, q.path, q.verb);
    if (!method) continue; // no such method: API Gateway answers 403 before any authorization
    const auth = method.authorizationType;
    const principal = auth === 'AWS_IAM' ? PRINCIPALS[q.principal] : undefined;
    const e: EvalRequest = {
      resource: `${API}/${q.stage}/${q.verb}/${q.path.slice(1)}`,
      endpointType: s.endpointType,
      principal,
      caller: auth === 'COGNITO_USER_POOLS' && q.caller === 'neither' ? 'deny' : q.caller,
      ...(s.endpointType === 'PRIVATE' ? { sourceIp: ENDPOINT_ADDRESS, vpcSourceIp: q.client, sourceVpce: q.vpce } : { sourceIp: q.client }),
    };
    const blocked =
      r.kept.cidrs.some((c) => inCidr(q.client, c)) ||
      (principal !== undefined && r.kept.principals.some((p) => resourcePolicyVerdict(doc(stmt('Deny', { Principal: { AWS: p } })), e) === 'deny'));
    for (const cognito of ['flow', 'table-a'] as const) {
      const after = evaluatePolicy(r.policy, auth, e, { cognito });
      const was = evaluatePolicy(before, auth, e, { cognito });
      const originally = evaluatePolicy(original, auth, e, { cognito });
      const where = `${auth} ${q.verb} ${q.path} ${q.stage} from ${q.client}${principal ? ` as ${principal.arn}` : ''} (caller ${e.caller}, ${cognito})`;
      // Beyond what the operator's own policy (or its absence) lets in, only an open method's caller whom a cordon Allow
      // written earlier already let in (kept as it was, so as not to lock them out).
      const openMethod = auth === 'NONE' || auth === 'COGNITO_USER_POOLS';
      if (after && !originally && !(openMethod && was)) return `widened: ${where}`;
      if (blocked && after) return `blocked but let in: ${where}`;
      if (!blocked && after !== was && after !== originally) return `changed for a client not blocked (${was} → ${after}): ${where}`;
    }
  }
  return null;
}

describe('property: a merged policy never widens access, blocks what it keeps, and changes nothing else', () => {
  const propertyOf = (merge: Merge) => fc.property(scenario, (s) => violation(s, merge) === null);

  it('holds for every authorization type, endpoint type, existing policy and request', () => {
    const out = fc.check(propertyOf(mergeDenyStatement), { numRuns: 400, seed: 10 });
    const s = out.counterexample?.[0];
    expect(s ? violation(s, mergeDenyStatement) : null).toBeNull();
    expect(out.failed).toBe(false);
  });

  /** Mutants of the real merge, each with one rule broken: the property must find each, for the right reason. */
  const edit = (f: (st: PolicyStatement[]) => PolicyStatement[]): Merge => (existing, deny, opts) => {
    const r = mergeDenyStatement(existing, deny, opts);
    if (r.policy === null) return r;
    const policy = { ...r.policy, Statement: f(r.policy.Statement) };
    return { ...r, policy, text: JSON.stringify(policy) };
  };
  const ALLOW_ALL = { Sid: 'CordonAllowAll', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' };
  it.each([
    ['an Allow for * wherever cordon writes a policy (the earlier merge)', edit((st) => (st.some((x) => x.Sid === 'CordonAllowAll') ? st : [ALLOW_ALL, ...st])), /^widened: (AWS_IAM|CUSTOM|NONE|COGNITO_USER_POOLS)/],
    ['no Allow at all (a policy of denies only)', edit((st) => st.filter((x) => !['CordonAllowAll', 'CordonAllowOpenMethods'].includes(String(x.Sid)))), /^changed for a client not blocked \(true → false\): (NONE|COGNITO_USER_POOLS)/],
    ['aws:SourceIp on private APIs', edit((st) => st.map((x) => (x.Sid === 'CordonDenyCidrs' ? JSON.parse(JSON.stringify(x).replace('aws:VpcSourceIp', 'aws:SourceIp')) : x))), /^blocked but let in: /],
    ['the open verbs Allow widened to every verb', edit((st) => st.map((x) => (x.Sid === 'CordonAllowOpenMethods' ? ALLOW_ALL : x))), /^widened: (AWS_IAM|CUSTOM)/],
  ] as const)('finds a merge with %s', (_label, mutant, message) => {
    const out = fc.check(propertyOf(mutant), { numRuns: 1000, seed: 10 });
    expect(out.failed).toBe(true);
    expect(violation(out.counterexample![0], mutant)).toMatch(message);
  });
});
