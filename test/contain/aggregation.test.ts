import { LOGIN_ROUTE } from '../../src/contain/route-scope.ts';
// Several blocked IPv4 hosts of one prefix become the prefix (decide's aggregateIpv4), within its own guards.
import { describe, expect, it } from 'vitest';
import { LedgerBook } from '../../src/contain/ledger-book.ts';
import type { WindowAssessment } from '../../src/detect/detector.ts';
import type { LedgerEntry } from '../../src/ports.ts';
import { coveredBy, hostsOf24 } from '../helpers/coverage-oracle.ts';
import { DAY, entry, HOUR, MIN, NOW, runner, T, verdict } from './fixtures.ts';

const iso = (t: number): string => new Date(t).toISOString();
/** The window's measure of established traffic around acting hosts (detect's establishedByPrefix). */
const established = (pairs: [string, number][], requests = 10_000): Partial<WindowAssessment> => ({
  establishedByPrefix: new Map(pairs),
  timeline: { start: T - MIN, requests, errors: 0, notFound: 0, authFailures: 0, uniqueIps: 1000 },
});
const hosts = (...ips: string[]) => ips.map((ip) => verdict(ip));
const cidrDecisions = (out: { decisions: { targetKind: string; target: string; action: string }[] }) =>
  out.decisions.filter((d) => d.targetKind === 'cidr').map((d) => [d.target, d.action]);
/** Earlier host blocks still running, as a ledger read back would hold them. */
const activeHosts = (...ips: string[]): LedgerEntry[] => ips.map((ip, i) => entry(ip, { createdAt: NOW - 10 * MIN + i, expiresAt: NOW + HOUR }));

describe('aggregation of blocked IPv4 hosts into their prefix', () => {
  it('three hosts of a /24 (the default threshold) become the /24, and the whole /24 is then blocked', () => {
    const r = runner();
    const out = r.decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 0]]));
    expect(cidrDecisions(out)).toEqual([['192.0.2.0/24', 'block']]);
    const blocked = r.book.active(NOW).map((e) => e.target);
    for (const ip of hostsOf24('192.0.2')) expect(coveredBy(ip, blocked), ip).toBe(true);
    expect(coveredBy('192.0.3.0', blocked)).toBe(false);
    expect(r.book.activeCovering('192.0.2.200', 'ip', NOW)?.target).toBe('192.0.2.0/24');
  });

  it('two hosts are not enough by default; a configured threshold of two is', () => {
    const two = hosts('192.0.2.1', '192.0.2.2');
    expect(cidrDecisions(runner().decide(two, established([['192.0.2.0/24', 0]])))).toEqual([]);
    expect(cidrDecisions(runner({ aggregation: { ipv4Offenders: 2 } }).decide(two, established([['192.0.2.0/24', 0]]))))
      .toEqual([['192.0.2.0/24', 'block']]);
    expect(cidrDecisions(runner({ aggregation: { ipv4Offenders: 4 } }).decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'),
      established([['192.0.2.0/24', 0]])))).toEqual([]);
  });

  it('counts hosts blocked in earlier windows that are still active, not those that ended or were only alerted', () => {
    const book = new LedgerBook([...activeHosts('192.0.2.1'),
      entry('192.0.2.3', { status: 'released', expiresAt: NOW + HOUR }), entry('192.0.2.4', { status: 'held', expiresAt: NOW + HOUR }),
      entry('192.0.2.5', { expiresAt: NOW })]);
    const r = runner({}, book);
    expect(cidrDecisions(r.decide(hosts('192.0.2.6'), established([['192.0.2.0/24', 0]])))).toEqual([]);
    const s = runner({}, new LedgerBook(activeHosts('192.0.2.1', '192.0.2.2')));
    expect(cidrDecisions(s.decide(hosts('192.0.2.6'), established([['192.0.2.0/24', 0]])))).toEqual([['192.0.2.0/24', 'block']]);
  });

  it('only IPv4 host blocks are members: CIDRs, principals and IPv6 addresses are not', () => {
    const book = new LedgerBook([
      entry('192.0.2.64/26', { expiresAt: NOW + HOUR }), entry('192.0.2.128/26', { expiresAt: NOW + HOUR }),
      entry('192.0.2.9', { targetKind: 'principal', expiresAt: NOW + HOUR }),
      ...['2001:db8::1', '2001:db8::2', '2001:db8::3'].map((t) => entry(t, { targetKind: 'ip', expiresAt: NOW + HOUR })),
    ]);
    const r = runner({}, book);
    const out = r.decide(hosts('192.0.2.1', '192.0.2.2'), established([['192.0.2.0/24', 0], ['2001:db8::/64', 0], ['2001:db8::/24', 0]]));
    expect(cidrDecisions(out)).toEqual([]);
    expect(out.blocks.map((b) => b.target)).toEqual(['192.0.2.1', '192.0.2.2']);
  });

  it('at a configured prefix length: /16 gathers hosts across /24s, /26 keeps hosts of different /26s apart', () => {
    const wide = runner({ aggregation: { ipv4Prefix: 16 } }).decide(hosts('10.1.2.3', '10.1.77.4', '10.1.200.5', '10.2.0.1'),
      established([['10.1.0.0/16', 0], ['10.2.0.0/16', 0]]));
    expect(cidrDecisions(wide)).toEqual([['10.1.0.0/16', 'block']]);
    const narrow = runner({ aggregation: { ipv4Prefix: 26 } });
    const apart = narrow.decide(hosts('192.0.2.1', '192.0.2.70', '192.0.2.130'), established([['192.0.2.0/26', 0], ['192.0.2.64/26', 0],
      ['192.0.2.128/26', 0], ['192.0.2.0/24', 0]]));
    expect(cidrDecisions(apart)).toEqual([]);
    const together = runner({ aggregation: { ipv4Prefix: 26 } }).decide(hosts('192.0.2.1', '192.0.2.20', '192.0.2.63'),
      established([['192.0.2.0/26', 0], ['192.0.2.0/24', 0]]));
    expect(cidrDecisions(together)).toEqual([['192.0.2.0/26', 'block']]);
  });

  it('only for a prefix whose established traffic this window measured (a member host acts in it)', () => {
    const r = runner({}, new LedgerBook(activeHosts('192.0.2.1', '192.0.2.2', '192.0.2.3')));
    expect(r.decide(hosts('198.51.100.1'), established([['198.51.100.0/24', 0]])).decisions.map((d) => d.target)).toEqual(['198.51.100.1']);
    expect(cidrDecisions(r.decide(hosts('192.0.2.4'), { ...established([['192.0.2.0/24', 0]]), closedAt: NOW + MIN })))
      .toEqual([['192.0.2.0/24', 'block']]);
  });

  it('never in a dry run, even over host blocks an earlier run left active', () => {
    const r = runner({ dryRun: true }, new LedgerBook(activeHosts('192.0.2.1', '192.0.2.2', '192.0.2.3')));
    const out = r.decide(hosts('192.0.2.4'), established([['192.0.2.0/24', 0]]));
    expect(out.decisions.map((d) => [d.target, d.action, d.evidence.heldBack])).toEqual([['192.0.2.4', 'alert', 'dry-run']]);
    expect(out.blocks).toEqual([]);
    expect(out.held.map((h) => h.target)).toEqual(['192.0.2.4']);
    expect(r.book.activeCovering('192.0.2.0/24', 'cidr', NOW)).toBeUndefined();
  });

  it('never a prefix that touches the allowlist: its hosts stay blocked one by one', () => {
    const r = runner({ allowlist: { cidrs: ['192.0.2.200'] } });
    const out = r.decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 0]]));
    expect(cidrDecisions(out)).toEqual([]);
    expect(out.blocks.map((b) => b.target)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(coveredBy('192.0.2.200', r.book.active(NOW).map((e) => e.target))).toBe(false);
  });

  it('not again while the prefix, or a wider block around it, is active', () => {
    const r = runner({}, new LedgerBook([entry('192.0.2.0/24', { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR }),
      ...activeHosts('192.0.2.1', '192.0.2.2', '192.0.2.3')]));
    expect(cidrDecisions(r.decide(hosts('192.0.2.1'), established([['192.0.2.0/24', 0]])))).toEqual([]);
    const wider = runner({}, new LedgerBook([entry('10.0.0.0/8', { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR }),
      ...activeHosts('198.51.100.1', '198.51.100.2')]));
    // A host inside the /8 is covered and not decided; the /24 of the other hosts is.
    const out = wider.decide(hosts('10.9.9.9', '198.51.100.3'), established([['198.51.100.0/24', 0]]));
    expect(out.decisions.map((d) => d.target)).toEqual(['198.51.100.3', '198.51.100.0/24']);
    // Hosts blocked before the /8 (their blocks still run) do not make the /8's /24s again.
    const inside = runner({}, new LedgerBook([entry('10.0.0.0/8', { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR }),
      ...activeHosts('10.1.1.1', '10.1.1.2', '10.1.1.3')]));
    expect(cidrDecisions(inside.decide(hosts('198.51.100.9'), established([['10.1.1.0/24', 0]])))).toEqual([]);
  });

  it('not again at a time it was decided and has ended (an operator released the /24; a redelivered window)', () => {
    const released = entry('192.0.2.0/24', { createdAt: NOW, expiresAt: NOW + HOUR, status: 'released', endedAt: NOW + MIN });
    const r = runner({}, new LedgerBook([released, ...activeHosts('192.0.2.1', '192.0.2.2', '192.0.2.3')]));
    expect(cidrDecisions(r.decide(hosts('192.0.2.9'), established([['192.0.2.0/24', 0]])))).toEqual([]);
    expect(r.book.latest('192.0.2.0/24')).toBe(released);
  });

  it('a /24 an operator released comes back only on as many hosts blocked since, not on the members it covered then', () => {
    const released = entry('192.0.2.0/24', { createdAt: NOW, expiresAt: NOW + HOUR, status: 'released', endedAt: NOW + 2 * MIN });
    const r = runner({}, new LedgerBook([released, ...activeHosts('192.0.2.1', '192.0.2.2', '192.0.2.3')]));
    // Later windows: the old members still act (WAF's blocked requests are logged too), one new host is blocked.
    const at = (k: number) => ({ ...established([['192.0.2.0/24', 0]]), start: T + k * MIN, end: T + (k + 1) * MIN, closedAt: NOW + (k + 1) * MIN });
    expect(cidrDecisions(r.decide(hosts('192.0.2.1', '192.0.2.10'), at(2)))).toEqual([]);
    expect(cidrDecisions(r.decide(hosts('192.0.2.11'), at(3)))).toEqual([]);
    // A third host blocked since the release: new evidence of the /24.
    expect(cidrDecisions(r.decide(hosts('192.0.2.12'), at(4)))).toEqual([['192.0.2.0/24', 'block']]);
  });

  it("lasts its longest member's duration, never past the cap: a member's expiry on contain's clock (hours after this decision) adds nothing", () => {
    const late = 6 * HOUR;
    const members = ['192.0.2.1', '192.0.2.2'].map((ip) => entry(ip, { createdAt: NOW - 10 * MIN, effectiveAt: NOW + late, expiresAt: NOW + late + 7 * DAY }));
    const r = runner({}, new LedgerBook(members));
    const agg = r.decide(hosts('192.0.2.3'), established([['192.0.2.0/24', 0]])).blocks.find((b) => b.target === '192.0.2.0/24')!;
    // What the members still have to run (7 days less the 10 minutes since they were decided), never more.
    expect(agg.expiresAt - agg.createdAt).toBe(7 * DAY - 10 * MIN);
    // Members of 4 h and 1 h: the /24 lasts what the longer one has left.
    const short = runner({}, new LedgerBook([entry('192.0.2.1', { createdAt: NOW - 10 * MIN, effectiveAt: NOW + late, expiresAt: NOW + late + 4 * HOUR }),
      entry('192.0.2.2', { createdAt: NOW - 10 * MIN, effectiveAt: NOW + late, expiresAt: NOW + late + HOUR })]));
    const agg2 = short.decide(hosts('192.0.2.3'), established([['192.0.2.0/24', 0]])).blocks.find((b) => b.target === '192.0.2.0/24')!;
    expect(agg2.expiresAt - agg2.createdAt).toBe(4 * HOUR - 10 * MIN);
  });

  it('a released /24 comes back no wider than the evidence since: hosts blocked on the login route since make a login-route /24', () => {
    const released = entry('192.0.2.0/24', { createdAt: NOW, expiresAt: NOW + HOUR, status: 'released', endedAt: NOW + 2 * MIN });
    const login = (ip: string, k: number) => entry(ip, { createdAt: NOW + k * MIN, expiresAt: NOW + HOUR,
      evidence: { ...entry('x').evidence, scope: LOGIN_ROUTE } });
    const r = runner({ waf: { routeScoped: { enabled: true } } }, new LedgerBook([released, ...activeHosts('192.0.2.1', '192.0.2.2', '192.0.2.3'),
      login('192.0.2.10', 3), login('192.0.2.11', 3), login('192.0.2.12', 3)]));
    const at = { ...established([['192.0.2.0/24', 0]]), start: T + 3 * MIN, end: T + 4 * MIN, closedAt: NOW + 4 * MIN };
    const agg = r.decide(hosts('198.51.100.1'), at).blocks.find((b) => b.target === '192.0.2.0/24');
    expect(agg).toBeDefined();
    expect(agg!.evidence).toMatchObject({ scope: LOGIN_ROUTE, blockedHosts: 3 });
  });

  it('released twice: only hosts blocked since the later release count', () => {
    const releases = [entry('192.0.2.0/24', { createdAt: NOW - 20 * MIN, expiresAt: NOW + HOUR, status: 'released', endedAt: NOW - 15 * MIN }),
      entry('192.0.2.0/24', { createdAt: NOW, expiresAt: NOW + HOUR, status: 'released', endedAt: NOW + 2 * MIN })];
    // Three hosts blocked between the two releases: no evidence after the later one.
    const between = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((ip) => entry(ip, { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR }));
    const r = runner({}, new LedgerBook([...releases, ...between]));
    const at = { ...established([['192.0.2.0/24', 0]]), start: T + 3 * MIN, end: T + 4 * MIN, closedAt: NOW + 4 * MIN };
    expect(cidrDecisions(r.decide(hosts('198.51.100.1'), at))).toEqual([]);
  });

  it('blocked everywhere takes as many hosts blocked everywhere: two entries of one host are one', () => {
    const login = (ip: string) => entry(ip, { createdAt: NOW - 5 * MIN, expiresAt: NOW + HOUR, evidence: { ...entry('x').evidence, scope: LOGIN_ROUTE } });
    const r = runner({ waf: { routeScoped: { enabled: true } } }, new LedgerBook([
      entry('192.0.2.1', { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR }), entry('192.0.2.1', { createdAt: NOW - 9 * MIN, expiresAt: NOW + HOUR }),
      entry('192.0.2.2', { createdAt: NOW - 8 * MIN, expiresAt: NOW + HOUR }), login('192.0.2.3')]));
    const agg = r.decide(hosts('198.51.100.1'), established([['192.0.2.0/24', 0]])).blocks.find((b) => b.target === '192.0.2.0/24');
    expect(agg?.evidence.scope).toEqual(LOGIN_ROUTE);
  });

  it('counts hosts, not entries: a host with a login-route block and a later block everywhere is one host', () => {
    const r = runner({ waf: { routeScoped: { enabled: true } } }, new LedgerBook([
      entry('192.0.2.1', { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR }),
      entry('192.0.2.2', { createdAt: NOW - 10 * MIN, expiresAt: NOW + HOUR, evidence: { ...entry('x').evidence, scope: LOGIN_ROUTE } }),
      entry('192.0.2.2', { createdAt: NOW - 5 * MIN, expiresAt: NOW + HOUR }),
    ]));
    expect(cidrDecisions(r.decide(hosts('192.0.2.1'), established([['192.0.2.0/24', 0]])))).toEqual([]);
  });

  it('the block: its entry, reasons, strongest score, evidence naming its hosts, the latest expiry of its members', () => {
    const r = runner({}, new LedgerBook([entry('192.0.2.7', { createdAt: NOW - 10 * MIN, expiresAt: NOW + 7 * DAY, reasons: ['path-scan', 'scanner-agent'], score: 3 })]));
    const out = r.decide([verdict('192.0.2.1', { score: 9 }), verdict('192.0.2.2', { score: 4 })], established([['192.0.2.0/24', 250]], 5000));
    const agg = out.blocks.find((b) => b.target === '192.0.2.0/24')!;
    const evidence = {
      key: '192.0.2.0/24', keyKind: 'prefix', windowStart: T - MIN, windowEnd: T, held: '3 blocked hosts',
      findings: [{ rule: 'path-scan', score: 9, unmistakable: false,
        detail: '3 hosts of 192.0.2.0/24 are blocked (threshold 3): 192.0.2.7, 192.0.2.1, 192.0.2.2' }],
      features: {}, blockedHosts: 3, priorBlocks: 0, trafficShare: 0.05,
    };
    expect(agg).toEqual({ target: '192.0.2.0/24', targetKind: 'cidr', createdAt: NOW, expiresAt: NOW + 7 * DAY, status: 'active',
      reasons: ['aggregation', 'path-scan', 'scanner-agent', 'flood'], score: 9, priorBlocks: 0, evidence });
    expect(out.decisions.at(-1)).toEqual({ time: iso(NOW), action: 'block', target: '192.0.2.0/24', targetKind: 'cidr',
      reasons: ['aggregation', 'path-scan', 'scanner-agent', 'flood'], score: 9, expiresAt: iso(NOW + 7 * DAY), evidence });
    expect(out.page).toBe(false);
    expect(r.book.activeCovering('192.0.2.0/24', 'cidr', NOW)).toBe(agg);
  });

  it('escalates the prefix by its own earlier blocks, and lasts at least as long as that', () => {
    const r = runner({}, new LedgerBook([entry('192.0.2.0/24', { createdAt: NOW - 2 * DAY, expiresAt: NOW - 2 * DAY + HOUR, status: 'expired' }),
      entry('192.0.2.0/24', { createdAt: NOW - 31 * DAY, expiresAt: NOW - 31 * DAY + HOUR, status: 'expired' })]));
    const out = r.decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 0]]));
    const agg = out.blocks.find((b) => b.target === '192.0.2.0/24')!;
    expect(agg).toMatchObject({ priorBlocks: 1, expiresAt: NOW + 4 * HOUR, evidence: { priorBlocks: 1 } });
    const short = runner({ expiry: { lookbackDays: 1 } }, new LedgerBook([entry('192.0.2.0/24', { createdAt: NOW - 2 * DAY,
      expiresAt: NOW - 2 * DAY + HOUR, status: 'expired' })])).decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 0]]));
    expect(short.blocks.find((b) => b.target === '192.0.2.0/24')).toMatchObject({ priorBlocks: 0, expiresAt: NOW + HOUR });
  });

  it('its own held alerts (the blast-radius guard) do not escalate the prefix once it is blocked', () => {
    const r = runner({}, new LedgerBook([entry('192.0.2.0/24', { createdAt: NOW - 2 * HOUR, expiresAt: NOW - HOUR, status: 'held' })]));
    const out = r.decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 0]]));
    expect(out.blocks.find((b) => b.target === '192.0.2.0/24')).toMatchObject({ priorBlocks: 0, expiresAt: NOW + HOUR });
  });

  it('names at most ten of its hosts', () => {
    const ips = Array.from({ length: 12 }, (_, i) => `192.0.2.${i + 1}`);
    const out = runner().decide(hosts(...ips), established([['192.0.2.0/24', 0]]));
    const agg = out.blocks.find((b) => b.target === '192.0.2.0/24')!;
    expect(agg.evidence.findings[0].detail).toBe(`12 hosts of 192.0.2.0/24 are blocked (threshold 3): ${ips.slice(0, 10).join(', ')}`);
    expect(agg.evidence).toMatchObject({ blockedHosts: 12, held: '12 blocked hosts' });
  });

  it('a window without requests measures no share (0), and the prefix is blocked', () => {
    const out = runner().decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 40]], 0));
    expect(out.blocks.find((b) => b.target === '192.0.2.0/24')?.evidence.trafficShare).toBe(0);
  });

  describe('its blast-radius guard', () => {
    it('strictly more than the share: an alert that pages and a held entry for one alert period; the hosts stay blocked', () => {
      const r = runner({ expiry: { baseMinutes: 20 } });
      const out = r.decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 1001]]));
      const alert = out.decisions.find((d) => d.target === '192.0.2.0/24')!;
      expect(alert).toMatchObject({ time: iso(NOW), action: 'alert', targetKind: 'cidr', reasons: ['aggregation', 'flood'], score: 5,
        expiresAt: iso(NOW + 20 * MIN), evidence: { heldBack: 'blast-radius', trafficShare: 0.1001, blockedHosts: 3, key: '192.0.2.0/24' } });
      expect(out.page).toBe(true);
      expect(out.held).toEqual([{ target: '192.0.2.0/24', targetKind: 'cidr', createdAt: NOW, expiresAt: NOW + 20 * MIN, status: 'held',
        reasons: ['aggregation', 'flood'], score: 5, priorBlocks: 0, evidence: alert.evidence }]);
      expect(out.blocks.map((b) => b.target)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
      expect(r.book.activeCovering('192.0.2.0/24', 'cidr', NOW)).toBeUndefined();
      for (const ip of ['192.0.2.0', '192.0.2.4', '192.0.2.255']) expect(coveredBy(ip, r.book.active(NOW).map((e) => e.target)), ip).toBe(false);
    });

    it('at the share exactly, the prefix is blocked', () => {
      const out = runner().decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 1000]]));
      expect(cidrDecisions(out)).toEqual([['192.0.2.0/24', 'block']]);
      expect(out.page).toBe(false);
    });

    it('at a configured share', () => {
      const cfg = { blastRadiusShare: 0.3 };
      expect(cidrDecisions(runner(cfg).decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 3000]]))))
        .toEqual([['192.0.2.0/24', 'block']]);
      expect(cidrDecisions(runner(cfg).decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 3001]]))))
        .toEqual([['192.0.2.0/24', 'alert']]);
    });

    it('alerts once per alert period, and pages only when it alerts', () => {
      const r = runner();
      r.decide(hosts('192.0.2.1', '192.0.2.2', '192.0.2.3'), established([['192.0.2.0/24', 5000]]));
      const again = r.decide(hosts('192.0.2.4'), { ...established([['192.0.2.0/24', 5000]]), closedAt: NOW + 59 * MIN });
      expect(again.decisions.map((d) => d.target)).toEqual(['192.0.2.4']);
      expect(again.held).toEqual([]);
      expect(again.page).toBe(false);
      const later = r.decide(hosts('192.0.2.5', '192.0.2.6', '192.0.2.7'), { ...established([['192.0.2.0/24', 5000]]), closedAt: NOW + HOUR });
      expect(cidrDecisions(later)).toEqual([['192.0.2.0/24', 'alert']]);
      expect(later.page).toBe(true);
    });
  });
});
