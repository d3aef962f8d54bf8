import type { Template } from 'aws-cdk-lib/assertions';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { respond, SECOND_PASS_RESERVE_MS, type TeardownRuntime } from '../../functions/teardown.ts';
import type { TeardownDeps } from '../../src/engine/teardown.ts';
import { parseTeardownProps, TEARDOWN_TYPE, type TeardownWiring } from '../../src/pipeline/teardown-props.ts';
import type { IpSetPort, PolicyPort } from '../../src/ports.ts';
import { FULL_PROPS, WEB_ACL_ARN, iamStatements, logicalId, resolveIntrinsics, roleOf, synth, type Json, type Synthesized } from './fixtures.ts';

/**
 * The teardown's wiring (infra/cordon-construct.ts addTeardown): the resource, its function's permissions, and the
 * dependencies that make CloudFormation delete contain's triggers (and the rule group) before it runs. Then the
 * function's answers to CloudFormation (functions/teardown.ts respond) for each request type.
 */

/** Every target kind: two APIs (one with its own web ACL, so a rule group), the deny list, API keys. */
const FULL = {
  ...FULL_PROPS,
  restApis: [FULL_PROPS.restApis[0], { ...FULL_PROPS.restApis[1], existingWebAcl: 'use-rule-group' as const }],
  config: { ...FULL_PROPS.config, denyList: { enabled: true }, apiKeys: { enabled: true } },
};
/** Attach mode with route sets: the rule group only, and the route IP sets. */
const ATTACH = { restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'api-logs' }], existingWebAclArn: WEB_ACL_ARN,
  config: { waf: { routeScoped: { enabled: true } } } };

let full: Synthesized;
let attach: Synthesized;
let minimal: Synthesized;
beforeAll(async () => {
  full = synth(FULL);
  await new Promise((r) => setImmediate(r));
  attach = synth(ATTACH);
  await new Promise((r) => setImmediate(r));
  minimal = synth({});
}, 180_000);

const resources = (t: Template) => t.toJSON().Resources as Record<string, Json>;
const teardownId = (t: Template) => logicalId(t, TEARDOWN_TYPE, 'CordonTeardown');
const teardownFn = (t: Template) => logicalId(t, 'AWS::Lambda::Function', 'CordonTeardownHandler');
const containFn = (t: Template) => logicalId(t, 'AWS::Lambda::Function', 'CordonContain');
const ipSetIds = (t: Template) => Object.keys(t.findResources('AWS::WAFv2::IPSet')).sort();

/** The logical ids a resource depends on directly: DependsOn, Ref and GetAtt anywhere in it. */
function directDeps(r: Json): Set<string> {
  const out = new Set<string>([r.DependsOn ?? []].flat());
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Json;
      if (typeof o.Ref === 'string') out.add(o.Ref);
      if (Array.isArray(o['Fn::GetAtt'])) out.add(o['Fn::GetAtt'][0]);
      Object.values(o).forEach(walk);
    }
  };
  walk(r.Properties);
  return out;
}

/** Whether CloudFormation deletes `first` before `then`: `first` depends on `then`, directly or not. */
function deletedBefore(t: Template, first: string, then: string): boolean {
  const res = resources(t);
  const seen = new Set<string>();
  const stack = [first];
  while (stack.length > 0) {
    const id = stack.pop()!;
    for (const d of directDeps(res[id] ?? {})) {
      if (d === then) return true;
      if (!seen.has(d) && res[d]) {
        seen.add(d);
        stack.push(d);
      }
    }
  }
  return false;
}

describe('Custom::CordonTeardown: the resource', () => {
  it.each([['full', () => full], ['attach', () => attach], ['minimal', () => minimal]])('%s: one, served by its own function', (_, s) => {
    const t = s().template;
    t.resourceCountIs(TEARDOWN_TYPE, 1);
    expect(resources(t)[teardownId(t)].Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [teardownFn(t), 'Arn'] });
    const fn = resources(t)[teardownFn(t)].Properties;
    expect(fn.Timeout).toBe(900);
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('names every IP set cordon owns (global and route), each protected stage, the deny-list object and the key record', () => {
    for (const t of [full.template, attach.template]) {
      const props = resources(t)[teardownId(t)].Properties;
      expect(props.IpSets.map((s: Json) => s.Id['Fn::GetAtt'][0]).sort()).toEqual(ipSetIds(t));
      for (const s of props.IpSets as Json[]) {
        const set = resources(t)[s.Id['Fn::GetAtt'][0]].Properties;
        expect(s.Name).toBe(set.Name);
        expect(s.Family).toBe(set.IPAddressVersion === 'IPV4' ? 'v4' : 'v6');
      }
    }
    expect(ipSetIds(attach.template).some((id) => id.startsWith('CordonRouteIpSet'))).toBe(true);
    const props = resources(full.template)[teardownId(full.template)].Properties;
    expect(props.RestApis).toEqual(FULL.restApis.map((a) => ({ RestApiId: a.restApiId, StageName: a.stageName })));
    const bucket = logicalId(full.template, 'AWS::S3::Bucket', 'CordonStateBucket');
    expect(props.DenyList).toEqual({ Bucket: { Ref: bucket }, Key: 'deny-list/v1.json' });
    expect(props.ApiKeyRecord).toEqual({ Bucket: { Ref: bucket }, Key: 'api-keys/disabled-v1.json' });
    const none = resources(minimal.template)[teardownId(minimal.template)].Properties;
    expect(none.RestApis).toEqual([]);
    expect(none.DenyList).toBeUndefined();
    expect(none.ApiKeyRecord).toBeUndefined();
  });

  it("waits as long as a contain run may still write: contain's timeout plus its events' maximum age, and half a minute", () => {
    const t = full.template;
    const contain = resources(t)[containFn(t)].Properties;
    const invokeConfig = Object.values(t.findResources('AWS::Lambda::EventInvokeConfig'))
      .find((r) => JSON.stringify(r.Properties.FunctionName).includes(containFn(t)))!.Properties;
    expect(resources(t)[teardownId(t)].Properties.SettleSeconds).toBe(contain.Timeout + invokeConfig.MaximumEventAgeInSeconds + 30);
  });

  it('its properties as CloudFormation passes them are what the function reads', () => {
    for (const s of [full, attach, minimal]) {
      const raw = resolveIntrinsics(resources(s.template)[teardownId(s.template)].Properties, s.template) as Json;
      // CloudFormation hands numbers over as strings.
      const w = parseTeardownProps({ ...raw, SettleSeconds: String(raw.SettleSeconds) });
      expect(w.ipSets).toHaveLength(ipSetIds(s.template).length);
      expect(w.settleMs).toBe(330_000);
      // This release keeps the managed copies of the release permissions: its updates may release.
      expect(w.releaseOnUpdate).toBe(true);
    }
  });
});

describe('delete order: the teardown runs once contain can no longer re-add a block', () => {
  it.each([['full', () => full], ['attach', () => attach], ['minimal', () => minimal]])(
    "%s: contain's schedule and its ledger-stream mapping are deleted before it",
    (_, s) => {
      const t = s().template;
      const fn = containFn(t);
      const schedule = Object.entries(t.findResources('AWS::Events::Rule'))
        .filter(([, r]) => JSON.stringify(r.Properties.Targets).includes(fn)).map(([id]) => id);
      const mappings = Object.entries(t.findResources('AWS::Lambda::EventSourceMapping'))
        .filter(([, r]) => JSON.stringify(r.Properties.FunctionName).includes(fn)).map(([id]) => id);
      expect(schedule).toHaveLength(1);
      expect(mappings).toHaveLength(1);
      for (const id of [...schedule, ...mappings]) expect(deletedBefore(t, id, teardownId(t)), id).toBe(true);
      // And nothing of contain's triggers is needed by the teardown (it would then be deleted after them).
      for (const id of [...schedule, ...mappings]) expect(deletedBefore(t, teardownId(t), id), id).toBe(false);
    },
  );

  it('the IP sets are deleted after it (they are emptied first)', () => {
    for (const t of [full.template, attach.template]) {
      for (const id of ipSetIds(t)) expect(deletedBefore(t, teardownId(t), id), id).toBe(true);
    }
  });

  it("rule-group mode: the rule group is deleted after it, so a team's web ACL still referencing it stops the delete only once the sets are empty", () => {
    for (const t of [full.template, attach.template]) {
      const ruleGroup = logicalId(t, 'AWS::WAFv2::RuleGroup', 'CordonRuleGroup');
      expect(deletedBefore(t, ruleGroup, teardownId(t))).toBe(true);
    }
  });
});

/** The managed copies of the release permissions (none when there is nothing but IP sets to release). */
const releaseCopies = (t: Template): string[] =>
  Object.keys(t.findResources('AWS::IAM::ManagedPolicy')).filter((id) => id.startsWith('CordonTeardownReleaseOnUpdate')).sort();

describe("the teardown function's permissions: only what it releases", () => {
  /** The function's own policies (the managed copies of the release permissions are checked on their own below). */
  const statementsOf = (t: Template) => iamStatements(t).filter((s) => s.role === roleOf(t, teardownFn(t)));
  const allows = (t: Template, prefix: string) => statementsOf(t).filter((s) => s.effect === 'Allow' && s.actions.some((a) => a.startsWith(prefix)));
  const joined = (r: unknown) => JSON.stringify(resolveIntrinsics(r, full.template));

  it("WAF: Get and Update of cordon's own IP sets, nothing else", () => {
    for (const t of [full.template, attach.template, minimal.template]) {
      const waf = allows(t, 'wafv2:');
      expect(waf.flatMap((s) => s.actions).sort()).toEqual(['wafv2:GetIPSet', 'wafv2:UpdateIPSet']);
      expect(waf.flatMap((s) => s.resources).map((r) => (r as Json)['Fn::GetAtt'][0]).sort()).toEqual(ipSetIds(t));
      expect(waf.flatMap((s) => s.resources).every((r) => (r as Json)['Fn::GetAtt'][1] === 'Arn')).toBe(true);
    }
  });

  it('API Gateway: the protected APIs (policy, redeploy, stages, methods), and API keys only with config.apiKeys', () => {
    const t = full.template;
    const ids = FULL.restApis.map((a) => a.restApiId);
    for (const s of allows(t, 'apigateway:')) {
      for (const r of s.resources) {
        const arn = joined(r);
        const underApi = ids.some((id) => arn.includes(`::/restapis/${id}`));
        const apiKeys = arn.includes('::/apikeys/*') && s.sid === 'ApiKeysEnable';
        expect(underApi || apiKeys, `${s.sid}: ${arn}`).toBe(true);
      }
    }
    expect(statementsOf(t).find((s) => s.sid === 'ProtectedRestApisRedeploy')!.actions).toEqual(['apigateway:POST']);
    // A PATCH on the API may not change its endpoint type or default endpoint (as contain's).
    expect(statementsOf(t).filter((s) => s.effect === 'Deny').map((s) => s.sid).sort()).toEqual(['NoEndpointTypeChange', 'NoExecuteApiEndpointChange']);
    expect(allows(minimal.template, 'apigateway:')).toEqual([]);
    expect(allows(attach.template, 'apigateway:').some((s) => s.sid === 'ApiKeysEnable')).toBe(false);
  });

  it('S3: the deny-list object and the key record, nothing else of the state bucket', () => {
    const s3 = allows(full.template, 's3:');
    expect(s3.flatMap((s) => s.actions).sort()).toEqual(['s3:GetObject', 's3:GetObject', 's3:PutObject', 's3:PutObject']);
    const bucket = logicalId(full.template, 'AWS::S3::Bucket', 'CordonStateBucket');
    expect(s3.flatMap((s) => s.resources).map(joined).sort()).toEqual(
      [`"${bucket}-Arn/api-keys/disabled-v1.json"`, `"${bucket}-Arn/deny-list/v1.json"`]);
    expect(allows(minimal.template, 's3:')).toEqual([]);
  });

  it('no other service: no ledger, stream, topic or key; its own log group, tracing and stack status only', () => {
    for (const t of [full.template, attach.template, minimal.template]) {
      const services = new Set(statementsOf(t).flatMap((s) => s.actions.map((a) => a.split(':')[0])));
      expect([...services].sort().filter((x) => !['apigateway', 's3'].includes(x))).toEqual(['cloudformation', 'logs', 'wafv2', 'xray']);
    }
  });

  it('the release permissions are held twice: managed copies, which CloudFormation updates after the teardown and deletes before it', () => {
    for (const t of [full.template, attach.template]) {
      const copies = releaseCopies(t);
      expect(copies.length).toBeGreaterThan(0);
      for (const id of copies) expect(resources(t)[id].Properties.Roles).toEqual([{ Ref: roleOf(t, teardownFn(t)) }]);
      // Together, everything the function may do to an API, the deny list or the key record, and nothing else (no WAF,
      // no logs): the same statements, their resources spread over the copies.
      const released = (st: { actions: string[] }) => st.actions.some((a) => a.startsWith('apigateway:') || a.startsWith('s3:'));
      const bySid = (list: { sid?: string; effect?: string; actions: string[]; resources: unknown[]; condition?: unknown }[]) => {
        const out = new Map<string, { effect?: string; actions: string[]; resources: string[]; condition?: unknown }>();
        for (const st of list) {
          const cur = out.get(st.sid!) ?? { effect: st.effect, actions: st.actions, resources: [], condition: st.condition };
          cur.resources.push(...st.resources.map((r) => JSON.stringify(r)));
          out.set(st.sid!, cur);
        }
        return Object.fromEntries([...out].map(([sid, v]) => [sid, { ...v, resources: [...new Set(v.resources)].sort() }]));
      };
      const second = copies.flatMap((id) => (resources(t)[id].Properties.PolicyDocument.Statement as Json[]).map((st) => ({ sid: st.Sid,
        effect: st.Effect, actions: [st.Action].flat(), resources: [st.Resource].flat(), condition: st.Condition })));
      expect(bySid(second)).toEqual(bySid(statementsOf(t).filter(released)));
      // An update's release runs while they still grant the APIs the update drops; a delete's runs after they are gone,
      // on the function's own policy, which the function (and so the teardown) depends on.
      for (const id of copies) {
        expect(deletedBefore(t, id, teardownId(t)), id).toBe(true);
        expect(deletedBefore(t, teardownId(t), id), id).toBe(false);
        expect(deletedBefore(t, teardownFn(t), id), id).toBe(false);
      }
    }
    // Nothing to release beyond the IP sets: no copy.
    expect(releaseCopies(minimal.template)).toEqual([]);
  });

  it('each managed copy stays under IAM\'s 6,144 characters, however many stages are protected', () => {
    const many = synth({ restApis: Array.from({ length: 40 }, (_, i) => ({ restApiId: `api${String(i).padStart(7, '0')}`,
      stageName: i % 3 === 0 ? 'a-rather-long-stage-name-for-production' : 'prod' })).flatMap((a, i) => i % 4 === 0 ? [a, { ...a, stageName: 'beta' }] : [a]),
      manageAccessLogFormat: true, config: { denyList: { enabled: true }, apiKeys: { enabled: true } } }).template;
    const copies = releaseCopies(many);
    expect(copies.length).toBeGreaterThan(1);
    // Resolved with the longest partition and region names AWS has; IAM counts characters without whitespace.
    const longest = (v: unknown): unknown => JSON.parse(JSON.stringify(resolveIntrinsics(v, many))
      .replaceAll('AWS::Partition', 'aws-iso-b').replaceAll('AWS::Region', 'ap-southeast-5'));
    for (const id of copies) {
      const chars = JSON.stringify(longest(resources(many)[id].Properties.PolicyDocument)).length;
      expect(chars, id).toBeLessThan(6_144);
    }
    // Every stage is still named in some copy.
    const named = JSON.stringify(copies.map((id) => resolveIntrinsics(resources(many)[id].Properties.PolicyDocument, many)));
    for (let i = 0; i < 40; i++) expect(named).toContain(`api${String(i).padStart(7, '0')}/stages/`);
  }, 60_000);

  it("on an update the teardown runs after contain's role has lost what the update drops (and reads only its own stack's status)", () => {
    for (const t of [full.template, attach.template, minimal.template]) {
      const containPolicy = Object.keys(t.findResources('AWS::IAM::Policy')).find((id) => id.startsWith('CordonContainRoleDefaultPolicy'))!;
      expect(deletedBefore(t, teardownId(t), containPolicy)).toBe(true);
      const describe = statementsOf(t).filter((st) => st.actions.includes('cloudformation:DescribeStacks'));
      expect(describe.map((st) => st.resources)).toEqual([[{ Ref: 'AWS::StackId' }]]);
    }
  });

  it.each([['full', () => full], ['attach', () => attach], ['minimal', () => minimal]])('%s: cdk-nag AwsSolutionsChecks finds nothing unacknowledged', (_, s) => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s().stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------ the function

const PROPS = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:teardown',
  WafScope: 'REGIONAL',
  IpSets: [{ Name: 'cordon-v4-0', Id: 'id-v4', Family: 'v4' }],
  RestApis: [{ RestApiId: 'a1b2c3d4e5', StageName: 'prod' }],
  SettleSeconds: '330',
  ReleaseOnUpdate: '1',
};

function event(type: 'Create' | 'Update' | 'Delete', props: Json = PROPS, physicalId = 'CordonTeardown86F7F28B-teardown',
  oldProps: Json = props): CloudFormationCustomResourceEvent {
  const base = { ServiceToken: PROPS.ServiceToken, ResponseURL: 'https://example.invalid/response', StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/c/1',
    RequestId: 'req-1', LogicalResourceId: 'CordonTeardown86F7F28B', ResourceType: TEARDOWN_TYPE, ResourceProperties: props as never };
  if (type === 'Create') return { ...base, RequestType: 'Create' };
  if (type === 'Update') return { ...base, RequestType: 'Update', PhysicalResourceId: physicalId, OldResourceProperties: oldProps as never };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: physicalId };
}

/**
 * A runtime whose targets are fakes built from the wiring it is given: each IP set, each stage's policy (named
 * `api/stage`), the deny list and the API keys record which were released. `fail` names the targets that refuse.
 */
function runtime(opts: { fail?: string[]; remainingMs?: number; rollingBack?: boolean | Error } = {}) {
  const calls: string[] = [];
  const built: TeardownWiring[] = [];
  const slept: number[] = [];
  const warnings: string[] = [];
  const act = (name: string) => {
    calls.push(name);
    if (opts.fail?.includes(name)) throw Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' });
  };
  const rt: TeardownRuntime = {
    build: (w): TeardownDeps => {
      built.push(w);
      return {
        ipSets: w.ipSets.map((set) => ({ name: set.name, port: { read: async () => ({ v4: [], v6: [] }),
          apply: async () => { act(`ip-set ${set.name}`); return { changed: true, sets: [] }; } } satisfies IpSetPort })),
        policies: w.restApis.map((a): PolicyPort => ({ name: `${a.restApiId}/${a.stageName}`, read: async () => ({ principals: [], cidrs: [] }),
          apply: async () => { act(`policy ${a.restApiId}/${a.stageName}`); return { changed: true, deployed: true, dropped: [], chars: 0 }; } })),
        ...(w.denyList ? { denyList: { apply: async () => { act('deny-list'); } } as unknown as TeardownDeps['denyList'] } : {}),
        ...(w.apiKeyRecord ? { apiKeys: { apply: async () => { act('api-keys'); return { enabled: [], skipped: [] }; } } as unknown as TeardownDeps['apiKeys'] } : {}),
      };
    },
    isRollingBack: async () => {
      if (opts.rollingBack instanceof Error) throw opts.rollingBack;
      return opts.rollingBack ?? false;
    },
    sleep: async (ms) => { slept.push(ms); },
    remainingMs: () => opts.remainingMs ?? 900_000,
    log: { info() {}, warn(m: string) { warnings.push(m); }, error(m: string) { warnings.push(m); } },
  };
  return { rt, calls, built, slept, warnings };
}

describe('functions/teardown.ts: the answers to CloudFormation', () => {
  it('Create, and an Update that drops no target, change nothing and keep one physical id (a new id would make CloudFormation delete the old: a teardown)', async () => {
    const r = runtime();
    const created = await respond(event('Create'), r.rt);
    expect(created).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'CordonTeardown86F7F28B-teardown', RequestId: 'req-1' });
    // More targets, another settle time, other IP sets: nothing is released.
    const more = { ...PROPS, IpSets: [{ Name: 'cordon-v6-0', Id: 'id-v6', Family: 'v6' }], SettleSeconds: '400',
      RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }], DenyList: { Bucket: 'state', Key: 'deny-list/v1.json' } };
    const updated = await respond(event('Update', more, undefined, PROPS), r.rt);
    expect(updated).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'CordonTeardown86F7F28B-teardown' });
    expect(r.built).toEqual([]);
    expect(r.calls).toEqual([]);
  });

  it('an Update that drops an API releases that API alone, twice around the wait (contain may still write it), and keeps the id', async () => {
    const r = runtime();
    const before = { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }, { RestApiId: 'f6g7h8i9j0', StageName: 'v2' }] };
    const res = await respond(event('Update', PROPS, undefined, before), r.rt);
    expect(res).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'CordonTeardown86F7F28B-teardown' });
    expect(r.built).toEqual([{ wafScope: 'REGIONAL', ipSets: [], restApis: [{ restApiId: 'f6g7h8i9j0', stageName: 'v1' }, { restApiId: 'f6g7h8i9j0', stageName: 'v2' }],
      settleMs: 330_000 }]);
    expect(r.slept).toEqual([330_000]);
    expect(r.calls).toEqual(['policy f6g7h8i9j0/v1', 'policy f6g7h8i9j0/v2', 'policy f6g7h8i9j0/v1', 'policy f6g7h8i9j0/v2']);
  });

  it("an Update that moves an API to another stage, or drops one stage of an API another keeps, releases nothing: the policy is the API's", async () => {
    for (const before of [
      { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'a1b2c3d4e5', StageName: 'beta' }] },
      { ...PROPS, RestApis: [{ RestApiId: 'a1b2c3d4e5', StageName: 'beta' }] },
    ]) {
      const r = runtime();
      const res = await respond(event('Update', PROPS, undefined, before), r.rt);
      expect(res.Status).toBe('SUCCESS');
      expect(r.built).toEqual([]);
      expect(r.calls).toEqual([]);
    }
  });

  it('an Update that turns the deny list and API keys off releases both (the list written empty, the keys re-enabled)', async () => {
    const r = runtime();
    const before = { ...PROPS, DenyList: { Bucket: 'state', Key: 'deny-list/v1.json' }, ApiKeyRecord: { Bucket: 'state', Key: 'api-keys/disabled-v1.json' } };
    const res = await respond(event('Update', PROPS, undefined, before), r.rt);
    expect(res.Status).toBe('SUCCESS');
    expect(r.built).toEqual([{ wafScope: 'REGIONAL', ipSets: [], restApis: [], denyList: { bucket: 'state', key: 'deny-list/v1.json' },
      apiKeyRecord: { bucket: 'state', key: 'api-keys/disabled-v1.json' }, settleMs: 330_000 }]);
    expect(r.calls).toEqual(['deny-list', 'api-keys', 'deny-list', 'api-keys']);
  });

  it("an Update that moves the deny list to another key writes the old one empty (authorizers may still read it); the same key releases nothing", async () => {
    const r = runtime();
    const at = (Key: string) => ({ ...PROPS, DenyList: { Bucket: 'state', Key } });
    expect((await respond(event('Update', at('deny-list/v1.json'), undefined, at('deny-list/v1.json')), r.rt)).Status).toBe('SUCCESS');
    expect(r.built).toEqual([]);
    expect((await respond(event('Update', at('deny/v2.json'), undefined, at('deny-list/v1.json')), r.rt)).Status).toBe('SUCCESS');
    expect(r.built.map((w) => w.denyList)).toEqual([{ bucket: 'state', key: 'deny-list/v1.json' }]);
  });

  it('an Update whose release fails answers FAILED naming the dropped target (the update rolls back, and the API stays protected)', async () => {
    const r = runtime({ fail: ['policy f6g7h8i9j0/v1'] });
    const before = { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }] };
    const res = await respond(event('Update', PROPS, undefined, before), r.rt);
    expect(res.Status).toBe('FAILED');
    expect(res.Reason).toContain('policy f6g7h8i9j0/v1 (AccessDeniedException: User is not authorized)');
    expect(res.PhysicalResourceId).toBe('CordonTeardown86F7F28B-teardown');
    expect(r.calls).not.toContain('policy a1b2c3d4e5/prod');
  });

  it('a rollback (an Update with the failed deploy\'s properties as the old ones) releases what that deploy added in one pass, and never answers FAILED', async () => {
    const failedDeploy = { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }] };
    const ok = runtime({ rollingBack: true });
    expect((await respond(event('Update', PROPS, undefined, failedDeploy), ok.rt)).Status).toBe('SUCCESS');
    expect(ok.calls).toEqual(['policy f6g7h8i9j0/v1']);
    expect(ok.slept).toEqual([]);
    // Its permissions on what the failed deploy added may never have been granted: logged, and the rollback goes on
    // (FAILED would leave the stack in UPDATE_ROLLBACK_FAILED).
    const denied = runtime({ rollingBack: true, fail: ['policy f6g7h8i9j0/v1'] });
    expect((await respond(event('Update', PROPS, undefined, failedDeploy), denied.rt)).Status).toBe('SUCCESS');
    expect(denied.warnings.join(' ')).toMatch(/not released during its rollback/);
  });

  it('an Update that cannot tell whether it is a rollback goes on as a forward update (FAILED if the release fails)', async () => {
    const before = { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }] };
    const r = runtime({ rollingBack: new Error('AccessDenied'), fail: ['policy f6g7h8i9j0/v1'] });
    expect((await respond(event('Update', PROPS, undefined, before), r.rt)).Status).toBe('FAILED');
    expect(r.warnings.join(' ')).toMatch(/could not tell whether the stack is rolling back/);
  });

  it('an Update whose wait is cut short still answers SUCCESS (contain\'s role no longer reaches the target), and says so in the log', async () => {
    const before = { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }] };
    const r = runtime({ remainingMs: SECOND_PASS_RESERVE_MS + 60_000 });
    expect((await respond(event('Update', PROPS, undefined, before), r.rt)).Status).toBe('SUCCESS');
    expect(r.slept).toEqual([60_000]);
    expect(r.warnings.join(' ')).toMatch(/cut short/);
  });

  it('an Update from a release without the managed copies releases nothing (its permissions on what it drops may be gone)', async () => {
    const r = runtime();
    const { ReleaseOnUpdate: _, ...earlier } = { ...PROPS, RestApis: [...PROPS.RestApis, { RestApiId: 'f6g7h8i9j0', StageName: 'v1' }] };
    const res = await respond(event('Update', PROPS, undefined, earlier), r.rt);
    expect(res.Status).toBe('SUCCESS');
    expect(r.built).toEqual([]);
  });

  it('an Update whose previous properties are missing or unreadable releases nothing and goes on', async () => {
    for (const old of [{ ...PROPS, IpSets: 'not a list' }, undefined]) {
      const r = runtime();
      const res = await respond({ ...event('Update', PROPS), OldResourceProperties: old } as CloudFormationCustomResourceEvent, r.rt);
      expect(res.Status).toBe('SUCCESS');
      expect(r.built).toEqual([]);
    }
  });

  it('Delete releases every target twice, around the wait, and answers SUCCESS', async () => {
    const r = runtime();
    const res = await respond(event('Delete'), r.rt);
    expect(res).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'CordonTeardown86F7F28B-teardown' });
    expect(r.slept).toEqual([330_000]);
    expect(r.calls).toEqual(['ip-set cordon-v4-0', 'policy a1b2c3d4e5/prod', 'ip-set cordon-v4-0', 'policy a1b2c3d4e5/prod']);
    expect(r.built[0].restApis).toEqual([{ restApiId: 'a1b2c3d4e5', stageName: 'prod' }]);
  });

  it('Delete answers FAILED naming what could not be released, after releasing the rest', async () => {
    const r = runtime({ fail: ['policy a1b2c3d4e5/prod'] });
    const res = await respond(event('Delete'), r.rt);
    expect(res.Status).toBe('FAILED');
    expect(res.Reason).toContain('policy a1b2c3d4e5/prod (AccessDeniedException: User is not authorized)');
    expect(r.calls.filter((c) => c === 'ip-set cordon-v4-0')).toHaveLength(2);
  });

  it('the wait is cut short to leave the second pass its time, and the answer says so (FAILED: delete again)', async () => {
    const r = runtime({ remainingMs: SECOND_PASS_RESERVE_MS + 60_000 });
    const res = await respond(event('Delete'), r.rt);
    expect(r.slept).toEqual([60_000]);
    expect(res.Status).toBe('FAILED');
    expect(res.Reason).toMatch(/contain \(waited 60 s of \d+ s for a contain run/);
  });
});
