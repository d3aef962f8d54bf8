import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalCidr } from '../../src/net/cidr.ts';
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
} from '../../src/render/resource-policy.ts';

const ARN_BASE = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5';
const OPTS = { resource: 'execute-api:/*', maxChars: 8192 };

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

  it('creates a policy with CordonAllowAll when there was none, so nobody else is locked out', () => {
    const r = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, OPTS);
    expect(r.policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'CordonAllowAll', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
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
    const iamApi = mergeDenyStatement(null, { principals: [], cidrs: ['203.0.113.9'] }, { ...OPTS, allowAllWhenCreating: false });
    expect(iamApi.policy!.Statement.map((s) => s.Sid)).toEqual(['CordonDenyCidrs']);
  });

  it('removes the policy when nothing is left to deny and it held only cordon statements', () => {
    const created = mergeDenyStatement(null, DENY, OPTS);
    const removed = mergeDenyStatement(created.policy, { principals: [], cidrs: [] }, OPTS);
    expect(removed).toEqual({
      policy: null,
      text: '',
      chars: 0,
      kept: { principals: [], cidrs: [] },
      dropped: [],
      rejected: [],
      changed: true,
    });
    expect(mergeDenyStatement(null, { principals: [], cidrs: [] }, OPTS)).toMatchObject({ policy: null, changed: false });
  });

  it("removes cordon's statements but keeps the operator's when nothing is left to deny", () => {
    const merged = mergeDenyStatement(operatorPolicy(), DENY, OPTS);
    const cleared = mergeDenyStatement(merged.policy, { principals: [], cidrs: [] }, OPTS);
    expect(cleared.policy).toEqual(operatorPolicy());
  });

  it('keeps CordonAllowAll once the operator has added statements to a policy cordon created', () => {
    const created = mergeDenyStatement(null, DENY, OPTS);
    const opDeny = operatorPolicy().Statement[1];
    const edited: PolicyDocument = { ...created.policy!, Statement: [opDeny, ...created.policy!.Statement] };
    const cleared = mergeDenyStatement(edited, { principals: [], cidrs: [] }, OPTS);
    // Without the allow, the operator's lone Deny would leave a policy that lets nobody in.
    expect(cleared.policy!.Statement.map((s) => s.Sid ?? '(operator)')).toEqual(['(operator)', 'CordonAllowAll']);
  });

  it('rejects what IAM would refuse or what would deny everyone', () => {
    const r = mergeDenyStatement(
      null,
      {
        principals: ['*', 'AIDAEXAMPLEUNIQUEID', 'arn:aws:iam::111122223333:role/ok', 'user@example.com', '111122223333'],
        cidrs: ['0.0.0.0/0', '::/0', 'bogus', '203.0.113.5', '203.0.113.5/32'],
      },
      OPTS,
    );
    expect(r.rejected).toEqual(['*', 'AIDAEXAMPLEUNIQUEID', 'user@example.com', '0.0.0.0/0', '::/0', 'bogus']);
    expect(r.kept).toEqual({ principals: ['arn:aws:iam::111122223333:role/ok', '111122223333'], cidrs: ['203.0.113.5/32'] });
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

  it("refuses when the operator's statements alone exceed the limit", () => {
    expect(() => mergeDenyStatement(operatorPolicy(), DENY, { ...OPTS, maxChars: 100 })).toThrow(PolicyBudgetError);
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
