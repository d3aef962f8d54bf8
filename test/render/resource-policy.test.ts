import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalCidr } from '../../src/net/cidr.ts';
import { evaluatePolicy } from '../helpers/policy-evaluation.ts';
import {
  CORDON_SIDS,
  isCordonStatement,
  mergeDenyStatement,
  parseApiGatewayPolicy,
  policyEquivalent,
  PolicyBudgetError,
  type PolicyDocument,
  PolicyParseError,
  readCordonDeny,
  type ApiAccess,
  type ApiAuthType,
  type ApiEndpointType,
  apiAccessOf,
  ApiAccessError,
} from '../../src/render/resource-policy.ts';

const ARN_BASE = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5';
const OPTS = { resource: 'execute-api:/*', maxChars: 8192 };

/** An API whose methods all use the given authorization types (one GET method each, then POST, …). */
const api = (types: readonly ApiAuthType[], endpointType: ApiEndpointType = 'REGIONAL'): ApiAccess => ({
  endpointType,
  methods: types.map((authorizationType, i) => ({ httpMethod: ['GET', 'POST', 'PUT', 'DELETE'][i], authorizationType })),
});

/**
 * What GetRestApi hands back for a policy that was written as `text`: `execute-api:/` resources rewritten to the
 * API's ARN, then the whole document JSON-escaped (quotes as `\"`, slashes as `\/`), without outer quotes.
 */
function asGetRestApiReturns(text: string, arnBase = ARN_BASE): string {
  const rewritten = text.replaceAll('"execute-api:/', `"${arnBase}/`);
  return JSON.stringify(rewritten).slice(1, -1).replaceAll('/', '\\/');
}

/** An operator's policy as they would write it. */
const operatorPolicy = (): PolicyDocument => ({
  Version: '2012-10-17',
  Id: 'operator-policy',
  Statement: [
    {
      Sid: 'AllowFromOffice',
      Effect: 'Allow',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*',
      Condition: { IpAddress: { 'aws:SourceIp': ['192.0.2.0/24', '2001:db8:ffff::/48'] } },
    },
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*/DELETE/*',
      Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' } },
    },
  ],
});

const DENY = {
  principals: ['arn:aws:iam::111122223333:user/leaked', 'arn:aws:sts::111122223333:assumed-role/App/session-1'],
  cidrs: ['203.0.113.0/24', '2001:db8:1:2::/64', '198.51.100.7'],
};

describe('parseApiGatewayPolicy', () => {
  it.each([undefined, null, '', '   '])('reads %j as no policy', (p) => {
    expect(parseApiGatewayPolicy(p)).toBeNull();
  });

  it('reads the escaped, ARN-rewritten form GetRestApi returns', () => {
    const text = JSON.stringify(operatorPolicy());
    const aws = asGetRestApiReturns(text);
    expect(aws).toContain('{\\"Version\\":\\"2012-10-17\\"');
    expect(aws).toContain('192.0.2.0\\/24');
    const doc = parseApiGatewayPolicy(aws)!;
    expect(doc.Statement[0].Resource).toBe(`${ARN_BASE}/*`);
    expect(doc.Statement[1].Resource).toBe(`${ARN_BASE}/*/DELETE/*`);
    expect(policyEquivalent(doc, operatorPolicy())).toBe(true);
  });

  it('reads the verbatim form moto returns, and a double-encoded one', () => {
    const text = JSON.stringify(operatorPolicy());
    expect(parseApiGatewayPolicy(text)).toEqual(operatorPolicy());
    expect(parseApiGatewayPolicy(JSON.stringify(text))).toEqual(operatorPolicy());
    expect(parseApiGatewayPolicy(JSON.stringify(operatorPolicy(), null, 2))).toEqual(operatorPolicy());
  });

  it('reads an escaped pretty-printed policy (raw newlines between escaped quotes)', () => {
    const pretty = JSON.stringify(operatorPolicy(), null, 2).replaceAll('"', '\\"').replaceAll('/', '\\/');
    expect(parseApiGatewayPolicy(pretty)).toEqual(operatorPolicy());
  });

  it('keeps backslashes that belong to the policy', () => {
    const doc = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'x', Resource: 'a\\b"c' }] };
    expect(parseApiGatewayPolicy(asGetRestApiReturns(JSON.stringify(doc)))).toEqual(doc);
  });

  it('accepts a single statement object', () => {
    const doc = { Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: '*' } };
    expect(parseApiGatewayPolicy(JSON.stringify(doc))?.Statement).toEqual([doc.Statement]);
  });

  it.each(['{not json', '[]', '"just a string"', '{"Version":"2012-10-17"}', '{"Statement":[1]}', '42'])(
    'refuses %j rather than let it be overwritten',
    (p) => {
      expect(() => parseApiGatewayPolicy(p)).toThrow(PolicyParseError);
    },
  );
});

describe('mergeDenyStatement', () => {
  it("adds cordon's statements after the operator's, leaving theirs untouched", () => {
    const existing = operatorPolicy();
    const r = mergeDenyStatement(existing, DENY, OPTS);
    expect(existing).toEqual(operatorPolicy()); // input not mutated
    const st = r.policy!.Statement;
    expect(st.slice(0, 2)).toEqual(operatorPolicy().Statement);
    expect(st.slice(2).map((s) => s.Sid)).toEqual([CORDON_SIDS.denyPrincipals, CORDON_SIDS.denyCidrs]);
    expect(st[2]).toEqual({
      Sid: 'CordonDenyPrincipals',
      Effect: 'Deny',
      Principal: { AWS: DENY.principals },
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*',
    });
    expect(st[3]).toEqual({
      Sid: 'CordonDenyCidrs',
      Effect: 'Deny',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*',
      Condition: { IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8:1:2::/64', '198.51.100.7/32'] } },
    });
    expect(r.policy!.Id).toBe('operator-policy');
    expect(r.text).toBe(JSON.stringify(r.policy));
    expect(r.chars).toBe(r.text.length);
    expect(r).toMatchObject({ dropped: [], rejected: [], changed: true });
  });

  it('is idempotent: merging twice is merging once', () => {
    const once = mergeDenyStatement(operatorPolicy(), DENY, OPTS);
    const twice = mergeDenyStatement(once.policy, DENY, OPTS);
    expect(twice.text).toBe(once.text);
    expect(twice.changed).toBe(false);
  });

  it('replaces only what cordon owns when the deny list changes', () => {
    const first = mergeDenyStatement(operatorPolicy(), DENY, OPTS);
    const second = mergeDenyStatement(first.policy, { principals: [], cidrs: ['192.0.2.77'] }, OPTS);
    expect(second.policy!.Statement.slice(0, 2)).toEqual(operatorPolicy().Statement);
    expect(second.policy!.Statement.slice(2).map((s) => s.Sid)).toEqual([CORDON_SIDS.denyCidrs]);
    expect(readCordonDeny(second.policy)).toEqual({ principals: [], cidrs: ['192.0.2.77/32'] });
  });

  it('round-trips through the form GetRestApi returns', () => {
    const written = mergeDenyStatement(operatorPolicy(), DENY, OPTS);
    const read = parseApiGatewayPolicy(asGetRestApiReturns(written.text))!;
    expect(read.Statement).toHaveLength(written.policy!.Statement.length);
    expect(policyEquivalent(read, written.policy)).toBe(true);
    expect(readCordonDeny(read)).toEqual(written.kept);
    // Reconciling against what AWS hands back changes nothing, whichever resource form cordon writes.
    expect(mergeDenyStatement(read, DENY, OPTS).changed).toBe(false);
    const arnForm = mergeDenyStatement(read, DENY, { ...OPTS, resource: `${ARN_BASE}/*` });
    expect(arnForm.changed).toBe(false);
    expect(JSON.parse(arnForm.text)).toEqual(read);
  });

  it('creates no Allow when the API is not known: the policy holds only the denies', () => {
    const r = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, OPTS);
    expect(r.policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'CordonDenyCidrs',
          Effect: 'Deny',
          Principal: '*',
          Action: 'execute-api:Invoke',
          Resource: 'execute-api:/*',
          Condition: { IpAddress: { 'aws:SourceIp': ['203.0.113.9/32'] } },
        },
      ],
    });
    // The deprecated switch still restores the old behaviour for callers that ask for it.
    const legacy = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, allowAllWhenCreating: true });
    expect(legacy.policy!.Statement.map((s) => s.Sid)).toEqual(['CordonAllowAll', 'CordonDenyCidrs']);
  });

  it('removes the policy when nothing is left to deny and it held only cordon statements', () => {
    const created = mergeDenyStatement(null, DENY, { ...OPTS, api: api(['NONE']) });
    expect(created.policy!.Statement.map((s) => s.Sid)).toEqual(['CordonAllowAll', 'CordonDenyCidrs']); // no IAM method: no principal
    const removed = mergeDenyStatement(created.policy, { principals: [], cidrs: [] }, { ...OPTS, api: api(['NONE']) });
    expect(removed).toEqual({
      policy: null,
      text: '',
      chars: 0,
      kept: { principals: [], cidrs: [] },
      dropped: [],
      rejected: [],
      unenforceable: [],
      changed: true,
    });
    expect(mergeDenyStatement(null, { principals: [], cidrs: [] }, OPTS)).toMatchObject({ policy: null, changed: false });
  });

  it("removes cordon's statements but keeps the operator's when nothing is left to deny", () => {
    const merged = mergeDenyStatement(operatorPolicy(), DENY, OPTS);
    const cleared = mergeDenyStatement(merged.policy, { principals: [], cidrs: [] }, OPTS);
    expect(cleared.policy).toEqual(operatorPolicy());
  });

  it('keeps CordonAllowAll once the operator has added statements to a policy cordon created, while the API has open methods', () => {
    const created = mergeDenyStatement(null, DENY, { ...OPTS, api: api(['NONE']) });
    const opDeny = operatorPolicy().Statement[1];
    const edited: PolicyDocument = { ...created.policy!, Statement: [opDeny, ...created.policy!.Statement] };
    const cleared = mergeDenyStatement(edited, { principals: [], cidrs: [] }, { ...OPTS, api: api(['NONE']) });
    // Without the allow, the operator's lone Deny would leave a policy that lets nobody in.
    expect(cleared.policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual(['(operator)', 'CordonAllowAll']);
    // Unknown API: kept as it was, never added.
    expect(mergeDenyStatement(edited, { principals: [], cidrs: [] }, OPTS).policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual([
      '(operator)',
      'CordonAllowAll',
    ]);
  });

  it.each([
    ['NONE', ['CordonAllowAll', 'CordonDenyCidrs']],
    ['COGNITO_USER_POOLS', ['CordonAllowAll', 'CordonDenyCidrs']],
    ['AWS_IAM', ['CordonDenyCidrs']],
    ['CUSTOM', ['CordonDenyCidrs']],
  ] as const)('a %s API without a policy: Allow * only where the table needs one', (type, sids) => {
    const r = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, api: api([type]) });
    expect(r.policy!.Statement.map((s) => s.Sid)).toEqual(sids);
    if (sids.length === 2)
      expect(r.policy!.Statement[0]).toEqual({ Sid: 'CordonAllowAll', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' });
  });

  /** The usual policy of a private API: allow invoking, deny every VPC endpoint but one. */
  const privatePolicy = (): PolicyDocument => ({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'AllowInvoke', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
      {
        Sid: 'OnlyOurVpce',
        Effect: 'Deny',
        Principal: '*',
        Action: 'execute-api:Invoke',
        Resource: 'execute-api:/*',
        Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } },
      },
    ],
  });

  it.each(['NONE', 'AWS_IAM', 'CUSTOM', 'COGNITO_USER_POOLS'] as const)(
    'a private %s API: no Allow of cordon, and CIDRs matched on aws:VpcSourceIp',
    (type) => {
      const r = mergeDenyStatement(privatePolicy(), { principals: [], cidrs: ['10.1.2.0/24'] }, { ...OPTS, api: api([type], 'PRIVATE') });
      expect(r.policy!.Statement).toEqual([
        ...privatePolicy().Statement,
        {
          Sid: 'CordonDenyCidrs',
          Effect: 'Deny',
          Principal: '*',
          Action: 'execute-api:Invoke',
          Resource: 'execute-api:/*',
          Condition: { IpAddress: { 'aws:VpcSourceIp': ['10.1.2.0/24'] } },
        },
      ]);
      expect(readCordonDeny(r.policy)).toEqual({ principals: [], cidrs: ['10.1.2.0/24'] });
    },
  );

  it.each(['NONE', 'AWS_IAM', 'CUSTOM', 'COGNITO_USER_POOLS'] as const)(
    'a private %s API without a policy of the operator: no policy written (it would make the API deployable), every entry unenforceable',
    (type) => {
      const r = mergeDenyStatement(null, DENY, { ...OPTS, api: api([type], 'PRIVATE') });
      expect(r).toMatchObject({ policy: null, changed: false, kept: { principals: [], cidrs: [] }, dropped: [] });
      expect(r.unenforceable).toEqual([...DENY.principals, '203.0.113.0/24', '2001:db8:1:2::/64', '198.51.100.7/32']);
      // One an earlier release wrote (an Allow for * and its denies) is removed.
      const legacy = mergeDenyStatement(null, DENY, { ...OPTS, allowAllWhenCreating: true }).policy;
      expect(mergeDenyStatement(legacy, DENY, { ...OPTS, api: api([type], 'PRIVATE') })).toMatchObject({ policy: null, changed: true });
    },
  );

  it('removes the CordonAllowAll an earlier release added to an AWS_IAM or Lambda authorizer API', () => {
    const legacy = mergeDenyStatement(null, DENY, { ...OPTS, allowAllWhenCreating: true }).policy!;
    expect(legacy.Statement[0].Sid).toBe('CordonAllowAll');
    for (const type of ['AWS_IAM', 'CUSTOM'] as const) {
      const alone = mergeDenyStatement(legacy, DENY, { ...OPTS, api: api([type]) });
      expect(alone.policy!.Statement.map((s) => s.Sid)).toEqual(type === 'AWS_IAM' ? ['CordonDenyPrincipals', 'CordonDenyCidrs'] : ['CordonDenyCidrs']);
      expect(alone.changed).toBe(true);
      const withOperator: PolicyDocument = { ...legacy, Statement: [operatorPolicy().Statement[0], ...legacy.Statement] };
      const kept = mergeDenyStatement(withOperator, DENY, { ...OPTS, api: api([type]) });
      expect(kept.policy!.Statement.map((s) => s.Sid)).toEqual(
        type === 'AWS_IAM' ? ['AllowFromOffice', 'CordonDenyPrincipals', 'CordonDenyCidrs'] : ['AllowFromOffice', 'CordonDenyCidrs'],
      );
    }
  });

  it('adds no Allow beside statements of the operator, whatever the API', () => {
    for (const type of ['NONE', 'AWS_IAM', 'CUSTOM', 'COGNITO_USER_POOLS'] as const) {
      const r = mergeDenyStatement(operatorPolicy(), { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, api: api([type]) });
      expect(r.policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual(['AllowFromOffice', '(operator)', 'CordonDenyCidrs']);
    }
  });

  it('leaves out principals on an API none of whose methods uses AWS_IAM, and says so', () => {
    for (const type of ['NONE', 'CUSTOM', 'COGNITO_USER_POOLS'] as const) {
      const r = mergeDenyStatement(null, DENY, { ...OPTS, api: api([type]) });
      expect(r.unenforceable).toEqual(DENY.principals);
      expect(r.kept).toEqual({ principals: [], cidrs: ['203.0.113.0/24', '2001:db8:1:2::/64', '198.51.100.7/32'] });
      expect(r.dropped).toEqual([]);
      expect(r.policy!.Statement.map((s) => s.Sid)).not.toContain('CordonDenyPrincipals');
      // Nothing else to deny: no policy at all.
      expect(mergeDenyStatement(null, { principals: DENY.principals, cidrs: [] }, { ...OPTS, api: api([type]) })).toMatchObject({
        policy: null,
        unenforceable: DENY.principals,
        changed: false,
      });
    }
    const mixed = mergeDenyStatement(operatorPolicy(), DENY, { ...OPTS, api: api(['CUSTOM', 'AWS_IAM']) });
    expect(mixed.unenforceable).toEqual([]);
    expect(mixed.kept.principals).toEqual(DENY.principals);
  });

  it('scopes the Allow to the verbs of the open methods when the API mixes them with AWS_IAM methods', () => {
    const access: ApiAccess = {
      endpointType: 'REGIONAL',
      methods: [
        { httpMethod: 'GET', authorizationType: 'AWS_IAM' },
        { httpMethod: 'POST', authorizationType: 'AWS_IAM' },
        { httpMethod: 'OPTIONS', authorizationType: 'NONE' },
        { httpMethod: 'HEAD', authorizationType: 'COGNITO_USER_POOLS' },
      ],
      stages: ['prod', 'dev'],
    };
    const r = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, { resource: `${ARN_BASE}/*`, maxChars: 8192, api: access });
    expect(r.policy!.Statement[0]).toEqual({
      Sid: 'CordonAllowOpenMethods',
      Effect: 'Allow',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: [`${ARN_BASE}/dev/HEAD/*`, `${ARN_BASE}/dev/OPTIONS/*`, `${ARN_BASE}/prod/HEAD/*`, `${ARN_BASE}/prod/OPTIONS/*`],
    });
    expect(r.policy!.Statement.map((s) => s.Sid)).toEqual(['CordonAllowOpenMethods', 'CordonDenyCidrs']);
    expect(isCordonStatement(r.policy!.Statement[0])).toBe(true);
  });

  it('keeps the scoped Allow as it was once the operator adds statements of their own', () => {
    const access: ApiAccess = {
      endpointType: 'REGIONAL',
      methods: [{ httpMethod: 'GET', authorizationType: 'AWS_IAM' }, { httpMethod: 'OPTIONS', authorizationType: 'NONE' }],
      stages: ['prod'],
    };
    const created = mergeDenyStatement(null, DENY, { ...OPTS, api: access }).policy!;
    const scoped = created.Statement[0];
    expect(scoped).toMatchObject({ Sid: 'CordonAllowOpenMethods', Resource: ['execute-api:/prod/OPTIONS/*'] });
    const edited: PolicyDocument = { ...created, Statement: [operatorPolicy().Statement[1], ...created.Statement] };
    // A stage added since: the Allow is not rewritten beside the operator's statements (theirs decide now).
    const r = mergeDenyStatement(edited, DENY, { ...OPTS, api: { ...access, stages: ['prod', 'beta'] } });
    expect(r.policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual(['(operator)', 'CordonAllowOpenMethods', 'CordonDenyPrincipals', 'CordonDenyCidrs']);
    expect(r.policy!.Statement[1]).toEqual(scoped);
    // Without open methods any more, it goes.
    const closed = mergeDenyStatement(edited, DENY, { ...OPTS, api: api(['AWS_IAM']) });
    expect(closed.policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual(['(operator)', 'CordonDenyPrincipals', 'CordonDenyCidrs']);
  });

  it.each([
    ['a verb used by both kinds', [['GET', 'AWS_IAM'], ['GET', 'NONE']], ['prod'], /verb GET is used by both/],
    ['ANY on the open side', [['GET', 'CUSTOM'], ['ANY', 'NONE']], ['prod'], /verb ANY is used by both/],
    ['ANY on the guarded side', [['ANY', 'AWS_IAM'], ['OPTIONS', 'NONE']], ['prod'], /verb OPTIONS is used by both/],
    ['no stage given', [['GET', 'AWS_IAM'], ['OPTIONS', 'NONE']], [], /no stage of the API was given/],
  ] as const)('a mixed API it cannot serve without widening: a conflict, and no policy of cordon\'s at all (%s)', (_label, methods, stages, message) => {
    const access: ApiAccess = {
      endpointType: 'REGIONAL',
      methods: methods.map(([httpMethod, authorizationType]) => ({ httpMethod, authorizationType })),
      stages,
    };
    const fresh = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, api: access });
    expect(fresh.conflict).toMatch(message);
    expect(fresh).toMatchObject({ policy: null, changed: false, kept: { principals: [], cidrs: [] }, unenforceable: ['203.0.113.9/32'] });
    // A policy cordon wrote when the API was all open (Allow * and a deny) goes back to no policy: as before cordon.
    const created = mergeDenyStatement(null, DENY, { ...OPTS, api: api(['NONE']) }).policy!;
    const later = mergeDenyStatement(created, DENY, { ...OPTS, api: access });
    expect(later.conflict).toMatch(message);
    expect(later).toMatchObject({ policy: null, changed: true });
    // With the operator's own statements there is nothing to add, so nothing to refuse.
    const theirs = mergeDenyStatement(operatorPolicy(), { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, api: access });
    expect(theirs.conflict).toBeUndefined();
    expect(theirs.kept.cidrs).toEqual(['203.0.113.9/32']);
  });

  describe("an Allow cordon wrote earlier is checked again against the API as it is now (never left to widen access)", () => {
    const API_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5';
    const crossAccountPost = { resource: `${API_ARN}/prod/POST/orders`, endpointType: 'REGIONAL' as const,
      principal: { arn: 'arn:aws:iam::999999999999:user/eve', account: '999999999999' }, caller: 'allow' as const, sourceIp: '198.51.100.9' };
    const mixed: ApiAccess = { endpointType: 'REGIONAL', methods: [{ httpMethod: 'GET', authorizationType: 'NONE' }, { httpMethod: 'POST', authorizationType: 'AWS_IAM' }], stages: ['prod'] };
    const createdAllOpen = () => {
      const created = mergeDenyStatement(null, DENY, { ...OPTS, resource: `${API_ARN}/*`, api: api(['NONE']) }).policy!;
      expect(created.Statement[0].Sid).toBe('CordonAllowAll');
      // The operator adds a statement of their own beside cordon's (a console edit).
      return { ...created, Statement: [operatorPolicy().Statement[1], ...created.Statement] };
    };

    it('an Allow * beside the operator\'s statements, once the API has an AWS_IAM method too: narrowed to the open verbs', () => {
      const r = mergeDenyStatement(createdAllOpen(), DENY, { ...OPTS, resource: `${API_ARN}/*`, api: mixed });
      expect(r.conflict).toBeUndefined();
      expect(r.policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual(['(operator)', 'CordonAllowOpenMethods', 'CordonDenyPrincipals', 'CordonDenyCidrs']);
      expect(r.policy!.Statement[1].Resource).toEqual([`${API_ARN}/prod/GET/*`]);
      // Another account's principal, whose own IAM allows it, does not get into the IAM method (it would with Allow *).
      expect(evaluatePolicy(r.policy, 'AWS_IAM', crossAccountPost)).toBe(false);
      expect(evaluatePolicy(createdAllOpen(), 'AWS_IAM', crossAccountPost)).toBe(true);
    });

    it('on an API made private since, cordon\'s Allow goes (it would let in every VPC endpoint of every account)', () => {
      const r = mergeDenyStatement(createdAllOpen(), DENY, { ...OPTS, resource: `${API_ARN}/*`, api: { ...api(['NONE']), endpointType: 'PRIVATE' } });
      expect(r.policy!.Statement.some((s) => String(s.Sid).startsWith('CordonAllow'))).toBe(false);
    });

    it("an Allow * whose narrowed form no longer fits: taken out with cordon's entries (never left in place to widen access)", () => {
      const existing = createdAllOpen();
      const many: ApiAccess = { ...mixed, stages: Array.from({ length: 30 }, (_, i) => `stage${i}`) };
      const maxChars = JSON.stringify(existing).length;
      for (const deny of [DENY, { principals: [], cidrs: [] }]) {
        const r = mergeDenyStatement(existing, deny, { ...OPTS, resource: `${API_ARN}/*`, maxChars, api: many });
        expect(r.policy!.Statement.map((st) => st.Sid ?? '(operator)')).toEqual(['(operator)']);
        expect(r.conflict).toMatch(/no longer fits/);
        expect(evaluatePolicy(r.policy, 'AWS_IAM', crossAccountPost)).toBe(false);
      }
    });

    it('a hand-edited Allow under cordon\'s Sid that covers every verb (`…/prod/*`) goes once the API has guarded methods', () => {
      const handEdited = { ...createdAllOpen() };
      handEdited.Statement = handEdited.Statement.map((st) => st.Sid === 'CordonAllowAll'
        ? { ...st, Sid: 'CordonAllowOpenMethods', Resource: [`${API_ARN}/prod/*`, `${API_ARN}/prod/GET/*`] } : st);
      const r = mergeDenyStatement(handEdited, DENY, { ...OPTS, resource: `${API_ARN}/*`, api: mixed });
      expect(r.policy!.Statement.find((st) => st.Sid === 'CordonAllowOpenMethods')!.Resource).toBe(`${API_ARN}/prod/GET/*`);
      expect(evaluatePolicy(r.policy, 'AWS_IAM', crossAccountPost)).toBe(false);
    });

    it('a scoped Allow loses the verbs guarded methods took over (a conflict while open methods remain on them), never gains any', () => {
      const access: ApiAccess = { endpointType: 'REGIONAL', methods: [{ httpMethod: 'GET', authorizationType: 'AWS_IAM' },
        { httpMethod: 'OPTIONS', authorizationType: 'NONE' }, { httpMethod: 'HEAD', authorizationType: 'NONE' }], stages: ['prod'] };
      const created = mergeDenyStatement(null, DENY, { ...OPTS, api: access }).policy!;
      const edited = { ...created, Statement: [operatorPolicy().Statement[1], ...created.Statement] };
      // OPTIONS is now also a guarded method's verb: the Allow keeps HEAD only, and says why.
      const shared: ApiAccess = { ...access, methods: [...access.methods, { httpMethod: 'OPTIONS', authorizationType: 'CUSTOM' }], stages: ['prod', 'beta'] };
      const r = mergeDenyStatement(edited, DENY, { ...OPTS, api: shared });
      expect(r.policy!.Statement[1]).toMatchObject({ Sid: 'CordonAllowOpenMethods', Resource: 'execute-api:/prod/HEAD/*' });
      expect(r.conflict).toMatch(/verb OPTIONS/);
    });
  });

  it('refuses a stage name that would be a wildcard', () => {
    const access: ApiAccess = {
      endpointType: 'EDGE',
      methods: [{ httpMethod: 'GET', authorizationType: 'AWS_IAM' }, { httpMethod: 'OPTIONS', authorizationType: 'NONE' }],
      stages: ['pr*d'],
    };
    expect(() => mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, api: access })).toThrow(/not a stage name: "pr\*d"/);
  });

  it('rejects what IAM would refuse or what would deny everyone', () => {
    const r = mergeDenyStatement(
      null,
      {
        principals: ['*', 'AIDAEXAMPLEUNIQUEID', 'arn:aws:iam::111122223333:role/ok', 'user@example.com', '111122223333',
          'arn:aws:iam::111122223333:root', 'unverified:arn:aws:iam::111122223333:role/Backend', ' arn:aws:iam::111122223333:role/Admin'],
        cidrs: ['0.0.0.0/0', '::/0', 'bogus', '203.0.113.5', '203.0.113.5/32'],
      },
      OPTS,
    );
    // An account id or its root in a Principal is every principal of the account; an unverified ARN is an authorizer's
    // word; one with a space in front came from no userArn (trimmed, it would name the company's role).
    expect(r.rejected).toEqual(['*', 'AIDAEXAMPLEUNIQUEID', 'user@example.com', '111122223333', 'arn:aws:iam::111122223333:root',
      'unverified:arn:aws:iam::111122223333:role/Backend', ' arn:aws:iam::111122223333:role/Admin', '0.0.0.0/0', '::/0', 'bogus']);
    expect(r.kept).toEqual({ principals: ['arn:aws:iam::111122223333:role/ok'], cidrs: ['203.0.113.5/32'] });
  });

  it('stays within 8,192 characters with 2,000 CIDRs, keeping the first ones', () => {
    const cidrs = Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const r = mergeDenyStatement(operatorPolicy(), { principals: DENY.principals, cidrs }, OPTS);
    expect(r.chars).toBeLessThanOrEqual(8192);
    expect(r.chars).toBeGreaterThan(8192 - 20); // as many as fit, not far fewer
    expect(r.kept.principals).toEqual(DENY.principals);
    expect(r.kept.cidrs).toEqual(cidrs.slice(0, r.kept.cidrs.length));
    expect(r.kept.cidrs.length).toBeGreaterThan(300);
    expect(r.dropped).toEqual(cidrs.slice(r.kept.cidrs.length).reverse()); // lowest priority first
    expect(JSON.parse(r.text)).toEqual(r.policy);
  });

  it('drops CIDRs before any principal', () => {
    const principals = Array.from({ length: 150 }, (_, i) => `arn:aws:iam::111122223333:user/u${i}`);
    const r = mergeDenyStatement(null, { principals, cidrs: ['203.0.113.0/24'] }, { ...OPTS, maxChars: 4000 });
    expect(r.kept.cidrs).toEqual([]);
    expect(r.dropped[r.dropped.length - 1]).not.toBe('203.0.113.0/24');
    expect(r.dropped[0]).toBe('203.0.113.0/24');
    expect(r.kept.principals).toEqual(principals.slice(0, r.kept.principals.length));
    expect(r.chars).toBeLessThanOrEqual(4000);
  });

  it("refuses when the operator's statements alone exceed the limit and cordon's entries would only add to them", () => {
    expect(() => mergeDenyStatement(operatorPolicy(), DENY, { ...OPTS, maxChars: 100 })).toThrow(PolicyBudgetError);
  });

  it("a cordon statement naming another API (copied from elsewhere) is not taken for this API's: it is written again", () => {
    const ours = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*';
    const written = mergeDenyStatement(operatorPolicy(), DENY, { ...OPTS, resource: ours, restApiId: 'a1b2c3d4e5' }).policy!;
    // Stored as AWS keeps it: the same statements again are no change.
    expect(mergeDenyStatement(written, DENY, { ...OPTS, resource: ours, restApiId: 'a1b2c3d4e5' }).changed).toBe(false);
    const copied = JSON.parse(JSON.stringify(written).replaceAll(ours, 'arn:aws:execute-api:us-east-1:999999999999:stagingapi/*')) as PolicyDocument;
    const r = mergeDenyStatement(copied, DENY, { ...OPTS, resource: ours, restApiId: 'a1b2c3d4e5' });
    expect(r.changed).toBe(true);
    expect(r.policy!.Statement.filter((st) => String(st.Sid).startsWith('CordonDeny')).map((st) => st.Resource)).toEqual([ours, ours]);
  });

  it("takes cordon's entries out even when the operator's statements alone exceed the limit (expiry, release, teardown)", () => {
    const withCordon = mergeDenyStatement(operatorPolicy(), DENY, OPTS).policy!;
    const ownersOnly = JSON.stringify(operatorPolicy()).length;
    for (const deny of [{ principals: [], cidrs: [] }, DENY]) {
      const r = mergeDenyStatement(withCordon, deny, { ...OPTS, maxChars: ownersOnly - 10 });
      expect(r.policy!.Statement.some((s) => String(s.Sid).startsWith('Cordon'))).toBe(false);
      expect(r.kept).toEqual({ principals: [], cidrs: [] });
      expect(r.dropped).toHaveLength(deny.principals.length + deny.cidrs.length);
    }
  });

  it('refuses a bad resource or limit', () => {
    expect(() => mergeDenyStatement(null, DENY, { ...OPTS, resource: '' })).toThrow(RangeError);
    expect(() => mergeDenyStatement(null, DENY, { ...OPTS, maxChars: 0 })).toThrow(RangeError);
  });

  const principal = fc
    .tuple(fc.constantFrom('user', 'role', 'assumed-role'), fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,24}$/), fc.integer({ min: 0, max: 9 }))
    .map(([kind, name, acct]) =>
      kind === 'assumed-role'
        ? `arn:aws:sts::${String(acct).repeat(12)}:assumed-role/${name}/s-${name}`
        : `arn:aws:iam::${String(acct).repeat(12)}:${kind}/${name}`,
    );
  const cidr = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 1, max: 32 })).map(
      ([n, len]) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${len}`,
    ),
    fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 128 })).map(([g, len]) => `2001:db8:${g.toString(16)}::/${len}`),
  );
  const existing = fc.constantFrom<() => PolicyDocument | null>(
    () => null,
    operatorPolicy,
    () => mergeDenyStatement(operatorPolicy(), DENY, OPTS).policy,
    () => mergeDenyStatement(null, DENY, OPTS).policy,
  );

  it('property: always within maxChars, valid JSON, only cordon statements changed, a maximal prefix kept', () => {
    fc.assert(
      fc.property(
        existing,
        fc.array(principal, { maxLength: 60 }),
        fc.array(cidr, { maxLength: 400 }),
        fc.integer({ min: 700, max: 8192 }),
        (make, principals, cidrs, maxChars) => {
          const before = make();
          const beforeText = JSON.stringify(before);
          const r = mergeDenyStatement(before, { principals, cidrs }, { ...OPTS, maxChars });
          expect(JSON.stringify(before)).toBe(beforeText);
          expect(r.chars).toBeLessThanOrEqual(maxChars);
          expect(r.text === '' ? null : JSON.parse(r.text)).toEqual(r.policy);

          // The operator's statements are exactly what they were, in order; everything else is cordon's.
          const theirs = (p: PolicyDocument | null) => (p?.Statement ?? []).filter((s) => !isCordonStatement(s));
          expect(theirs(r.policy)).toEqual(theirs(before));
          const sids = (r.policy?.Statement ?? []).filter(isCordonStatement).map((s) => s.Sid);
          expect(new Set(sids).size).toBe(sids.length);

          // Kept lists are prefixes of the deduplicated input; CIDRs only once every principal is in.
          const uniqP = [...new Set(principals)];
          const uniqC = [...new Set(cidrs.map((c) => canonicalCidr(c)!))];
          expect(r.kept.principals).toEqual(uniqP.slice(0, r.kept.principals.length));
          expect(r.kept.cidrs).toEqual(uniqC.slice(0, r.kept.cidrs.length));
          if (r.kept.cidrs.length > 0) expect(r.kept.principals).toEqual(uniqP);
          expect(readCordonDeny(r.policy)).toEqual(r.kept);
          expect(r.dropped.length + r.kept.principals.length + r.kept.cidrs.length).toBe(uniqP.length + uniqC.length);

          // Maximal: one more entry would not have fitted.
          if (r.dropped.length > 0) {
            const next = r.dropped[r.dropped.length - 1];
            const more = r.kept.principals.length < uniqP.length
              ? { principals: [...r.kept.principals, next], cidrs: [] }
              : { principals: r.kept.principals, cidrs: [...r.kept.cidrs, next] };
            expect(mergeDenyStatement(before, more, { ...OPTS, maxChars: 1e6 }).chars).toBeGreaterThan(maxChars);
          }
          // Idempotent.
          expect(mergeDenyStatement(r.policy, r.kept, { ...OPTS, maxChars }).text).toBe(r.text);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('apiAccessOf', () => {
  const resources = [
    { path: '/', resourceMethods: { GET: { authorizationType: 'AWS_IAM' }, OPTIONS: { authorizationType: 'NONE' } } },
    { path: '/pets/{id}', resourceMethods: { delete: { authorizationType: 'CUSTOM' } } },
    { path: '/empty' },
  ];

  it('reads the endpoint type and every method from GetRestApi and GetResources', () => {
    expect(apiAccessOf({ endpointConfiguration: { types: ['REGIONAL'] } }, resources, ['prod'])).toEqual({
      endpointType: 'REGIONAL',
      methods: [
        { httpMethod: 'GET', authorizationType: 'AWS_IAM' },
        { httpMethod: 'OPTIONS', authorizationType: 'NONE' },
        { httpMethod: 'DELETE', authorizationType: 'CUSTOM' },
      ],
      stages: ['prod'],
    });
  });

  it.each([
    [undefined, 'EDGE'],
    [[], 'EDGE'],
    [['EDGE'], 'EDGE'],
    [['REGIONAL'], 'REGIONAL'],
    [['PRIVATE'], 'PRIVATE'],
  ] as const)('endpoint types %j read as %s', (types, want) => {
    expect(apiAccessOf({ endpointConfiguration: types === undefined ? undefined : { types } }, []).endpointType).toBe(want);
  });

  it('refuses a method without a known authorization type, or a verb that is not one', () => {
    expect(() => apiAccessOf({}, [{ resourceMethods: { GET: {} } }])).toThrow(ApiAccessError);
    expect(() => apiAccessOf({}, [{ resourceMethods: { GET: { authorizationType: 'JWT' } } }])).toThrow(/authorizationType "JWT" is not one of NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS/);
    expect(() => apiAccessOf({}, [{ resourceMethods: { FETCH: { authorizationType: 'NONE' } } }])).toThrow(/not an HTTP method: "FETCH"/);
  });
});

describe('readCordonDeny', () => {
  it('reads CIDRs under either condition key', () => {
    const doc: PolicyDocument = {
      Statement: [
        { Sid: 'CordonDenyCidrs', Effect: 'Deny', Principal: '*', Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24', 'aws:VpcSourceIp': ['10.0.0.0/8'] } } },
      ],
    };
    expect(readCordonDeny(doc)).toEqual({ principals: [], cidrs: ['203.0.113.0/24', '10.0.0.0/8'] });
    expect(readCordonDeny(null)).toEqual({ principals: [], cidrs: [] });
  });
});
