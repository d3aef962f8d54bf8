import { describe, expect, it } from 'vitest';
import { ApiGatewayTwin } from '../../src/adapters/local/apigateway-twin.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { ApiGatewayPolicyAdapter } from '../../src/adapters/aws/apigateway.ts';
import { WafIpSetAdapter } from '../../src/adapters/aws/wafv2.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import { parseConfig } from '../../src/config.ts';
import { decodeAnyLine } from '../../src/decode/index.ts';
import type { AccessEvent } from '../../src/events.ts';
import { parseApiGatewayPolicy, readCordonDeny } from '../../src/render/resource-policy.ts';
import { ContainStage, runContain } from '../../src/engine/contain.ts';
import { CountingMetrics, type LogFields, METRIC } from '../../src/engine/observe.ts';
import type { AlertBatch, LedgerEntry, PolicyPort } from '../../src/ports.ts';

const T = 1_800_000_000_000;
const ACCOUNT = '123456789012';
const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;

function block(target: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  const targetKind = target.startsWith('arn:') ? 'principal' : target.includes('/') ? 'cidr' : 'ip';
  return { target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['flood'], score: 3, priorBlocks: 0,
    evidence: { key: target, keyKind: targetKind === 'principal' ? 'principal' : 'ip', windowStart: T - 60_000, windowEnd: T, findings: [],
      features: {}, held: 'unmistakable' }, ...over };
}

/** An IAM-authorized API: the only kind whose resource policy can name a principal. */
const iamApi = (twin: ApiGatewayTwin, name: string, policy?: string) => twin.createRestApi({ name, stageName: 'prod', ...(policy ? { policy } : {}) });

/** WAF and three APIs on their twins, driven by the real adapters; the ledger in SQLite. */
async function setup(opts: { addressesPerSet?: number; maxChars?: number; ownerPolicies?: (string | undefined)[] } = {}) {
  const clock = { t: T + 10_000 };
  const sleep = async (ms: number) => { clock.t += ms; };
  const waf = new WafTwin({ clock: () => clock.t, account: ACCOUNT });
  const v4 = waf.createIpSet({ name: 'cordon-v4-0', version: 'IPV4' });
  const v6 = waf.createIpSet({ name: 'cordon-v6-0', version: 'IPV6' });
  const ipSets = new WafIpSetAdapter(waf.client(), { sets: { v4: [v4], v6: [v6] }, addressesPerSet: opts.addressesPerSet ?? 10_000,
    sleep, random: () => 0.5, pacer: new WritePacer(1_000, () => clock.t, sleep) });
  const apigw = new ApiGatewayTwin({ clock: () => clock.t, account: ACCOUNT, region: 'us-east-1' });
  const ids = ['orders', 'gone', 'billing'].map((n, i) => iamApi(apigw, n, opts.ownerPolicies?.[i]));
  // One CreateDeployment per 5 s per account, shared by every API, as aws-deps wires it.
  const deployPacer = new WritePacer(5_000, () => clock.t, sleep);
  const policies = ids.map((restApiId) => new ApiGatewayPolicyAdapter(apigw.client(), { restApiId, stageName: 'prod', accountId: ACCOUNT, sleep,
    random: () => 0.5, deployPacer, ...(opts.maxChars ? { maxChars: opts.maxChars } : {}) }));
  const ledger = new SqliteState(':memory:');
  const alerts: AlertBatch[] = [];
  const metrics = new CountingMetrics();
  const errors: { message: string; fields?: LogFields }[] = [];
  const log = { info() {}, warn() {}, error: (message: string, fields?: LogFields) => { errors.push({ message, fields }); } };
  const deps = { ledger, ipSets, policies: policies as PolicyPort[], alerts: { publish: async (b: AlertBatch) => { alerts.push(b); } },
    config: parseConfig({}), metrics, log };
  return { clock, waf, v4, apigw, ids, ledger, alerts, deps, metrics, errors };
}

describe('contain: every target reconciled on its own, every alert sent', () => {
  it('three APIs updated in one run: their deployments are spaced to the account quota, none refused', async () => {
    const s = await setup();
    await s.ledger.put(block(MALLORY));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([]);
    const cordonDeploys = s.ids.map((id) => s.apigw.deployments(id).filter((d) => d.description?.startsWith('cordon')).map((d) => d.createdAt)).flat().sort();
    expect(cordonDeploys).toHaveLength(3);
    expect(cordonDeploys[1] - cordonDeploys[0]).toBeGreaterThanOrEqual(5_000);
    expect(cordonDeploys[2] - cordonDeploys[1]).toBeGreaterThanOrEqual(5_000);
  });

  it('one API deleted: WAF and the other APIs are updated, the block is in effect, and the alert names the failed API', async () => {
    const s = await setup();
    await s.ledger.put(block('192.0.2.7'));
    await s.ledger.put(block(MALLORY));
    s.apigw.deleteRestApi(s.ids[1]);
    const r = await runContain(s.deps, T + 20_000);

    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.7/32']);
    for (const id of [s.ids[0], s.ids[2]]) expect(s.apigw.storedPolicy(id) ?? '').toContain('mallory');
    expect(r.failures.map((f) => f.target)).toEqual([`policy ${s.ids[1]}/prod`]);
    expect(r.failures[0].error).toMatch(/NotFound/);
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0].failures).toEqual(r.failures);
    expect(s.alerts[0].page).toBe(true);
    expect(s.alerts[0].decisions.map((d) => [d.action, d.target, d.evidence.notEnforced])).toEqual([
      ['block', '192.0.2.7', undefined], ['block', MALLORY, undefined]]);
    // Held by WAF and by two policies: both in effect now, their time runs from this run.
    const rows = await s.ledger.listAll();
    expect(rows.map((e) => e.effectiveAt)).toEqual([T + 20_000, T + 20_000]);
  });

  it('one API whose own policy leaves cordon no room: only that API fails; the others, WAF, the alert and the expiry go on', async () => {
    // Valid in AWS (under 8,192 characters), but over a policyMaxChars of 4,096 without cordon's statements.
    const sources: string[] = [];
    for (let i = 0; JSON.stringify(sources).length < 5_000; i++) sources.push(`10.${(i >> 8) & 255}.${i & 255}.0/24`);
    const ownerPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'OwnerDenyPartners', Effect: 'Deny', Principal: '*',
      Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: { IpAddress: { 'aws:SourceIp': sources } } }] });
    const s = await setup({ maxChars: 4_096, ownerPolicies: [undefined, ownerPolicy] });
    await s.ledger.put(block('192.0.2.7'));
    await s.ledger.put(block(MALLORY));
    const r = await runContain(s.deps, T + 20_000);

    expect(r.failures.map((f) => f.target)).toEqual([`policy ${s.ids[1]}/prod`]);
    expect(r.failures[0].error).toMatch(/^PolicyBudgetError: /);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.7/32']);
    for (const id of [s.ids[0], s.ids[2]]) expect(s.apigw.storedPolicy(id) ?? '').toContain('mallory');
    expect(s.apigw.storedPolicy(s.ids[1])).not.toContain('mallory');
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0]).toMatchObject({ page: true, failures: r.failures });
    expect((await s.ledger.listAll()).map((e) => e.effectiveAt)).toEqual([T + 20_000, T + 20_000]);
    // The operator's policy is a target's failure, not a bug of cordon's.
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=policy`)).toBe(1);
    expect(s.metrics.get(METRIC.StageErrors)).toBe(0);
  });

  it('a bug in one policy target fails that target only, and is surfaced as a stage error', async () => {
    const s = await setup();
    const buggy: PolicyPort = { read: async () => ({ principals: [], cidrs: [] }), apply: async () => { throw new TypeError('x is undefined'); } };
    s.deps.policies = [buggy, ...s.deps.policies.slice(1)];
    await s.ledger.put(block(MALLORY));
    const r = await runContain(s.deps, T + 20_000);

    expect(r.failures).toEqual([{ target: 'policy 1', error: 'TypeError: x is undefined' }]);
    for (const id of [s.ids[1], s.ids[2]]) expect(s.apigw.storedPolicy(id) ?? '').toContain('mallory');
    expect(s.alerts[0].failures).toEqual(r.failures);
    expect((await s.ledger.listAll())[0].effectiveAt).toBe(T + 20_000);
    expect(s.metrics.get(METRIC.StageErrors)).toBe(1);
    expect(s.metrics.get(`${METRIC.TargetFailures}|target=policy`)).toBe(1);
    expect(s.errors.find((e) => e.message === 'containment target failed unexpectedly')?.fields?.target).toBe('policy 1');
  });

  it('WAF refusing the write: the policies are still updated, the alert says the address block is not in effect, the next run enforces it', async () => {
    const s = await setup();
    await s.ledger.put(block('192.0.2.8'));
    await s.ledger.put(block(MALLORY));
    s.waf.failNext('UpdateIPSet', { name: 'WAFInvalidParameterException', message: 'bad request' });
    const first = await runContain(s.deps, T + 20_000);
    expect(first.failures.map((f) => f.target)).toEqual(['waf-ip-sets']);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual([]);
    expect(s.apigw.storedPolicy(s.ids[0]) ?? '').toContain('mallory');
    const d = s.alerts[0].decisions.find((x) => x.target === '192.0.2.8')!;
    expect(d.evidence.notEnforced).toBe('the WAF IP sets failed');
    expect(s.alerts[0].decisions.find((x) => x.target === MALLORY)!.evidence.notEnforced).toBeUndefined();
    const ip = (await s.ledger.listAll()).find((e) => e.target === '192.0.2.8')!;
    expect(ip.effectiveAt).toBeUndefined();

    const second = await runContain(s.deps, T + 80_000);
    expect(second.failures).toEqual([]);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.8/32']);
    const now = (await s.ledger.listAll()).find((e) => e.target === '192.0.2.8')!;
    expect(now.effectiveAt).toBe(T + 80_000);
    expect(now.expiresAt).toBe(T + 80_000 + 3_600_000);
    expect(s.alerts).toHaveLength(1); // nothing new to say: the block was alerted once
  });

  it('a block WAF holds in part (an allowlisted address cut out of it, the sets full for the rest) is in effect from now: its hour runs', async () => {
    const s = await setup({ addressesPerSet: 4 });
    s.deps.config = parseConfig({ allowlist: { cidrs: ['198.51.100.77'] } });
    await s.ledger.put(block('198.51.100.0/24'));
    const r = await runContain(s.deps, T + 20_000);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toHaveLength(4);
    expect(r.gaps.length).toBeGreaterThan(0); // the pieces that did not fit are announced
    const [row] = await s.ledger.listAll();
    expect(row).toMatchObject({ effectiveAt: T + 20_000, expiresAt: T + 20_000 + 3_600_000 });
  });

  it('IP sets full: the blocks that do not fit are alerted as gaps and not in effect; the ones that fit are', async () => {
    const s = await setup({ addressesPerSet: 1 });
    await s.ledger.put(block('192.0.2.1', { score: 9 }));
    await s.ledger.put(block('198.51.100.1', { score: 1 }));
    const r = await runContain(s.deps, T + 20_000);
    const held = s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER);
    expect(held).toHaveLength(1);
    expect(r.gaps).toHaveLength(1);
    expect(r.gaps[0]).toMatchObject({ target: 'waf-ip-sets', reason: 'ip-set-overflow' });
    expect(held).not.toContain(r.gaps[0].entry);
    expect(s.alerts[0].gaps).toEqual(r.gaps);
    const rows = await s.ledger.listAll();
    const outside = rows.find((e) => r.gaps[0].entry.startsWith(e.target))!;
    const inside = rows.find((e) => e !== outside)!;
    expect(outside.effectiveAt).toBeUndefined();
    expect(inside.effectiveAt).toBe(T + 20_000);
    expect(s.alerts[0].decisions.find((d) => d.target === outside.target)!.evidence.notEnforced).toBe('the WAF IP sets are full');
    // The same gap a minute later is not announced again; a new one is.
    const memo = { lastProblems: undefined as string | undefined };
    await runContain(s.deps, T + 30_000, memo);
    await runContain(s.deps, T + 80_000, memo);
    expect(s.alerts).toHaveLength(2);
    await s.ledger.put(block('203.0.113.1', { score: 5, createdAt: T + 90_000 }));
    await runContain(s.deps, T + 100_000, memo);
    expect(s.alerts).toHaveLength(3);
    expect(s.alerts[2].gaps?.length).toBe(2);
  });
});

describe('contain: a target failure is announced once, and not lost', () => {
  it('a failure whose alert could not be published is announced by the next run of the same instance', async () => {
    const s = await setup();
    await s.ledger.put(block('192.0.2.8'));
    let snsDown = false;
    s.deps.alerts = { publish: async (b: AlertBatch) => { if (snsDown) throw new Error('SNS throttled'); s.alerts.push(b); } };
    const stage = new ContainStage(s.deps);
    await stage.run(T + 20_000); // the block applied and alerted
    // Then WAF fails every run (its set is read each run to repair drift), and SNS refuses the alert that says so.
    s.waf.failNext('GetIPSet', { name: 'WAFNonexistentItemException', message: 'gone' }, 100);
    snsDown = true;
    await expect(stage.run(T + 80_000)).rejects.toThrow('SNS throttled');
    snsDown = false;
    const r = await stage.run(T + 140_000);
    expect(r.failures.map((f) => f.target)).toEqual(['waf-ip-sets']);
    expect(s.alerts.map((a) => a.failures?.map((f) => f.target))).toEqual([undefined, ['waf-ip-sets']]);
    await stage.run(T + 200_000); // the same failure again: not announced twice
    expect(s.alerts).toHaveLength(2);
  });
});

describe('a block no target can ever hold', () => {
  it('is retried while it could still take effect, and let go a day after it ended', async () => {
    const s = await setup();
    s.waf.failNext('UpdateIPSet', { name: 'WAFInvalidParameterException', message: 'bad request' }, 1000);
    await s.ledger.put(block('192.0.2.9'));
    await runContain(s.deps, T + 20_000);
    await runContain(s.deps, T + 3_600_000 + 60_000);
    expect((await s.ledger.listAll())[0].status).toBe('active');
    await runContain(s.deps, T + 3_600_000 + 86_400_000);
    const [row] = await s.ledger.listAll();
    expect(row.status).toBe('expired');
    expect(row.effectiveAt).toBeUndefined();
  });
});

describe('contain: a principal nothing can hold is alerted, never announced as a block', () => {
  const COGNITO_SUB = '000ef5fa-8908-459f-a8fa-15f1281a94fa';

  it('a Cognito sub on IAM-authorized APIs: no policy holds it, no expiry starts, the alert says alert and why, with a gap per API', async () => {
    const s = await setup();
    await s.ledger.put({ ...block(COGNITO_SUB), targetKind: 'principal' });
    await s.ledger.put(block(MALLORY));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([]);
    for (const id of s.ids) {
      const policy = s.apigw.storedPolicy(id) ?? '';
      expect(policy).toContain(MALLORY);
      expect(policy).not.toContain(COGNITO_SUB);
    }
    expect(r.gaps.filter((g) => g.entry === COGNITO_SUB).map((g) => g.reason)).toEqual(['unenforceable', 'unenforceable', 'unenforceable']);
    const byTarget = new Map(s.alerts[0].decisions.map((d) => [d.target, d]));
    expect([byTarget.get(COGNITO_SUB)?.action, byTarget.get(COGNITO_SUB)?.evidence.notEnforced]).toEqual(['alert', 'no resource policy could hold it']);
    expect(byTarget.get(MALLORY)?.action).toBe('block');
    const rows = new Map((await s.ledger.listAll()).map((e) => [e.target, e]));
    expect(rows.get(COGNITO_SUB)?.effectiveAt).toBeUndefined();
    expect(rows.get(MALLORY)?.effectiveAt).toBe(T + 20_000);
  });

  it('an authorizer\'s principalId spelling a company role, and a root caller\'s account id: no policy denies them', async () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/BackendRole`;
    // An API with a Lambda authorizer that echoes a name the user chose: no userArn on the line.
    const line = JSON.stringify({ requestId: 'r1', ip: '198.51.100.9', requestTimeEpoch: Math.floor(T / 1000), httpMethod: 'POST',
      resourcePath: '/login', path: '/login', status: '401', protocol: 'HTTP/1.1', responseLength: '10', userArn: '-', principalId: role });
    const claimed = (decodeAnyLine(line) as AccessEvent).principal;
    const s = await setup();
    await s.ledger.put({ ...block(claimed), targetKind: 'principal' });
    await s.ledger.put({ ...block(ACCOUNT), targetKind: 'principal' }); // the CLF preset's caller of a root-signed request
    await s.ledger.put(block(MALLORY));
    const r = await runContain(s.deps, T + 20_000);
    for (const id of s.ids) {
      expect(readCordonDeny(parseApiGatewayPolicy(s.apigw.storedPolicy(id))).principals).toEqual([MALLORY]);
    }
    expect(r.gaps.filter((g) => g.reason === 'unenforceable').map((g) => g.entry).sort()).toEqual(
      [...Array(3).fill(ACCOUNT), ...Array(3).fill(claimed)].sort());
    const actions = new Map(s.alerts[0].decisions.map((d) => [d.target, d.action]));
    expect([actions.get(claimed), actions.get(ACCOUNT), actions.get(MALLORY)]).toEqual(['alert', 'alert', 'block']);
  });

  it('an IAM principal left out for the policy\'s size stays a block not yet in effect (room may come): retried, not alerted as never', async () => {
    const s = await setup({ maxChars: 1_200 });
    for (let i = 0; i < 40; i++) await s.ledger.put(block(`arn:aws:iam::${ACCOUNT}:user/u${String(i).padStart(3, '0')}`, { score: 40 - i }));
    const r = await runContain(s.deps, T + 20_000);
    const notHeld = s.alerts[0].decisions.filter((d) => d.evidence.notEnforced);
    expect(notHeld.length).toBeGreaterThan(0);
    expect(notHeld.every((d) => d.action === 'block')).toBe(true);
    expect(r.gaps.some((g) => g.reason === 'policy-size')).toBe(true);
  });
});

describe('contain: an API behind cordon\'s web ACL names principals only', () => {
  it('an address block is in WAF and not in that API\'s policy (no redeploy for it); the API without WAF gets it in its policy', async () => {
    const s = await setup();
    const sleep = async () => {};
    const deployPacer = new WritePacer(5_000, () => s.clock.t, sleep);
    const [behindWaf, open] = s.ids;
    s.deps.policies = [
      new ApiGatewayPolicyAdapter(s.apigw.client(), { restApiId: behindWaf, stageName: 'prod', accountId: ACCOUNT, sleep, random: () => 0.5, deployPacer, wafProtected: true }),
      new ApiGatewayPolicyAdapter(s.apigw.client(), { restApiId: open, stageName: 'prod', accountId: ACCOUNT, sleep, random: () => 0.5, deployPacer }),
    ];
    await s.ledger.put(block('198.51.100.0/24'));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([]);
    expect(s.waf.enforcedAddresses(s.v4.id, Number.MAX_SAFE_INTEGER)).toEqual(['198.51.100.0/24']);
    expect(s.apigw.storedPolicy(behindWaf) ?? '').not.toContain('198.51.100.0/24');
    expect(s.apigw.deployments(behindWaf).filter((d) => d.description?.startsWith('cordon'))).toEqual([]);
    expect(s.apigw.storedPolicy(open) ?? '').toContain('198.51.100.0/24');
    // A principal still goes into both.
    await s.ledger.put(block(MALLORY));
    await runContain(s.deps, T + 80_000);
    expect(s.apigw.storedPolicy(behindWaf) ?? '').toContain(MALLORY);
    expect(s.apigw.storedPolicy(open) ?? '').toContain(MALLORY);
  });
});
