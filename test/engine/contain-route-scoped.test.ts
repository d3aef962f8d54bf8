import { describe, expect, it } from 'vitest';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { WafTwin } from '../../src/adapters/local/waf-twin.ts';
import { WafIpSetAdapter } from '../../src/adapters/aws/wafv2.ts';
import { WritePacer } from '../../src/adapters/aws/write-pacer.ts';
import { parseConfig } from '../../src/config.ts';
import { LOGIN_ROUTE } from '../../src/contain/route-scope.ts';
import { runContain } from '../../src/engine/contain.ts';
import type { AlertBatch, DenyListDesired, DenyListPort, LedgerEntry } from '../../src/ports.ts';

const T = 1_800_000_000_000;
const STUFFER = '198.51.100.7';
const SCANNER = '192.0.2.9';

function block(target: string, over: Partial<LedgerEntry['evidence']> = {}): LedgerEntry {
  const targetKind = target.includes('/') ? 'cidr' : 'ip';
  return { target, targetKind, createdAt: T, expiresAt: T + 3_600_000, status: 'active', reasons: ['login-bruteforce'], score: 3, priorBlocks: 0,
    evidence: { key: target, keyKind: 'ip', windowStart: T - 60_000, windowEnd: T, findings: [], features: {}, held: '2/3', ...over } };
}

class RecordingDenyList implements DenyListPort {
  last: DenyListDesired = { principals: [], cidrs: [] };
  async read(): Promise<DenyListDesired> {
    return this.last;
  }
  async apply(d: DenyListDesired): Promise<{ changed: boolean }> {
    this.last = d;
    return { changed: true };
  }
}

/** WAF on its twin with the global sets and (unless `routeSets: false`) the route sets, as the stack creates them. */
function setup(opts: { routeSets?: boolean; addressesPerSet?: number } = {}) {
  const clock = { t: T + 10_000 };
  const sleep = async (ms: number) => { clock.t += ms; };
  const waf = new WafTwin({ clock: () => clock.t });
  const sets = { v4: [waf.createIpSet({ name: 'cordon-v4-0', version: 'IPV4' })], v6: [waf.createIpSet({ name: 'cordon-v6-0', version: 'IPV6' })] };
  const routeSets = { v4: [waf.createIpSet({ name: 'cordon-route-v4-0', version: 'IPV4' })], v6: [waf.createIpSet({ name: 'cordon-route-v6-0', version: 'IPV6' })] };
  for (const s of [...routeSets.v4, ...routeSets.v6]) waf.scopeToLoginRoute(s.id);
  const ipSets = new WafIpSetAdapter(waf.client(), { sets, ...(opts.routeSets === false ? {} : { routeSets }),
    addressesPerSet: opts.addressesPerSet, sleep, random: () => 0.5, pacer: new WritePacer(1_000, () => clock.t, sleep) });
  const ledger = new SqliteState(':memory:');
  const alerts: AlertBatch[] = [];
  const denyList = new RecordingDenyList();
  const deps = { ledger, ipSets, policies: [], denyList, alerts: { publish: async (b: AlertBatch) => { alerts.push(b); } },
    // Not with the deny list, which cannot name a route (the config refuses the two together).
    config: parseConfig({ waf: { routeScoped: { enabled: true } } }) };
  return { waf, sets, routeSets, ledger, alerts, denyList, deps };
}

describe('contain: route-scoped blocks (config waf.routeScoped)', () => {
  it('a route-scoped stuffer lands in the route set only: WAF refuses its login POSTs and nothing else', async () => {
    const s = setup();
    await s.ledger.put(block(STUFFER, { scope: LOGIN_ROUTE }));
    await s.ledger.put(block(SCANNER, {}));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.failures).toEqual([]);
    expect(r.gaps).toEqual([]);
    const at = Number.MAX_SAFE_INTEGER;
    expect(s.waf.enforcedAddresses(s.routeSets.v4[0].id, at)).toEqual([`${STUFFER}/32`]);
    expect(s.waf.enforcedAddresses(s.sets.v4[0].id, at)).toEqual([`${SCANNER}/32`]);
    expect(r.ipSets?.sets.filter((x) => x.route).map((x) => [x.name, x.addresses])).toEqual([['cordon-route-v4-0', 1], ['cordon-route-v6-0', 0]]);

    const req = (method: string, path: string, ip = STUFFER) => s.waf.blocksRequest({ ip, method, path }, at);
    expect(req('POST', '/prod/login')).toBe(true);
    expect(req('POST', '/prod/LOG%49N'), 'URL-encoded and upper-cased').toBe(true);
    expect(req('GET', '/prod/login'), 'the login page itself').toBe(false);
    expect(req('POST', '/prod/orders')).toBe(false);
    expect(req('GET', '/prod/orders', SCANNER)).toBe(true);
    expect(s.waf.isEnforced(STUFFER, at)).toBe(false);

    // In effect (WAF holds it): its time runs from now; the alert carries the scope.
    const rows = await s.ledger.listAll();
    expect(rows.find((e) => e.target === STUFFER)?.effectiveAt).toBe(T + 20_000);
    expect(s.alerts[0].decisions.find((d) => d.target === STUFFER)?.evidence.scope).toEqual(LOGIN_ROUTE);
  });

  it('no route sets deployed: the route-scoped block is a gap, announced as not in effect, and never widened to the global set', async () => {
    const s = setup({ routeSets: false });
    await s.ledger.put(block(STUFFER, { scope: LOGIN_ROUTE }));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.gaps).toEqual([{ entry: `${STUFFER}/32`, target: 'waf-ip-sets', reason: 'ip-set-overflow' }]);
    expect(s.waf.enforcedAddresses(s.sets.v4[0].id, Number.MAX_SAFE_INTEGER)).toEqual([]);
    expect(s.alerts[0].decisions[0].evidence.notEnforced).toBe('no route-scoped WAF IP set is deployed');
    expect((await s.ledger.listAll())[0].effectiveAt).toBeUndefined();
  });

  it('route sets full: what does not fit is a gap; the global sets are not used for it', async () => {
    const s = setup({ addressesPerSet: 2 });
    // Three apart (adjacent blocks merge into one CIDR) for two places.
    for (const ip of ['198.51.100.1', '198.51.100.3', '198.51.100.5']) await s.ledger.put(block(ip, { scope: LOGIN_ROUTE }));
    const r = await runContain(s.deps, T + 20_000);
    expect(r.gaps.map((g) => g.reason)).toEqual(['ip-set-overflow']);
    expect(s.waf.enforcedAddresses(s.routeSets.v4[0].id, Number.MAX_SAFE_INTEGER)).toHaveLength(2);
    expect(s.waf.enforcedAddresses(s.sets.v4[0].id, Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it("a block everywhere inside a login-route block the route sets could not take is in effect all the same (the global set holds it)", async () => {
    const s = setup({ routeSets: false });
    await s.ledger.put(block('192.0.2.0/24', { scope: LOGIN_ROUTE }));
    await s.ledger.put(block('192.0.2.7', {}));
    const r = await runContain(s.deps, T + 20_000);
    expect(s.waf.enforcedAddresses(s.sets.v4[0].id, Number.MAX_SAFE_INTEGER)).toEqual(['192.0.2.7/32']);
    expect(r.gaps.map((g) => g.entry)).toEqual(['192.0.2.0/24']);
    const rows = await s.ledger.listAll();
    expect(rows.find((e) => e.target === '192.0.2.7')).toMatchObject({ effectiveAt: T + 20_000, expiresAt: T + 20_000 + 3_600_000 });
    expect(rows.find((e) => e.target === '192.0.2.0/24')?.effectiveAt).toBeUndefined();
  });

  it('a route-scoped block that expires leaves the route set on the next run', async () => {
    const s = setup();
    await s.ledger.put(block(STUFFER, { scope: LOGIN_ROUTE }));
    await runContain(s.deps, T + 20_000);
    await runContain(s.deps, T + 20_000 + 3_700_000);
    expect(s.waf.enforcedAddresses(s.routeSets.v4[0].id, Number.MAX_SAFE_INTEGER)).toEqual([]);
  });
});
