import { LOGIN_ROUTE } from '../../src/contain/route-scope.ts';
// decideWindow's safety guards, one by one and in their order, with the ledger entries and alerts they leave.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { AlertMemory, Allowlist, decideWindow, expireDue, unblockDecision } from '../../src/contain/decide.ts';
import { blockDurationMs } from '../../src/contain/expiry.ts';
import { LedgerBook } from '../../src/contain/ledger-book.ts';
import type { Decision } from '../../src/decision.ts';
import { DAY, entry, features, HOUR, MIN, NOW, runner, T, verdict, window } from './fixtures.ts';

const iso = (t: number): string => new Date(t).toISOString();
const timeline = (requests: number) => ({ start: T - MIN, requests, errors: 0, notFound: 0, authFailures: 0, uniqueIps: 1000 });
const why = (ds: Decision[]) => ds.map((d) => [d.target, d.action, d.evidence.heldBack]);

describe('AlertMemory: a target alerts once per period', () => {
  it('alerts, then stays quiet until the period is over, and alerts again at its end exactly', () => {
    const m = new AlertMemory();
    expect(m.shouldAlert('a', T, HOUR)).toBe(true);
    expect(m.shouldAlert('a', T, HOUR)).toBe(false);
    expect(m.shouldAlert('a', T + HOUR - 1, HOUR)).toBe(false);
    expect(m.shouldAlert('b', T + 1, HOUR)).toBe(true);
    expect(m.shouldAlert('a', T + HOUR, HOUR)).toBe(true);
    // The new period counts from the new alert.
    expect(m.shouldAlert('a', 2 * HOUR + T - 1, HOUR)).toBe(false);
    expect(m.shouldAlert('a', 2 * HOUR + T, HOUR)).toBe(true);
  });

  it('is seeded from held ledger entries: quiet until the latest of them ends, never shortened by an earlier one', () => {
    const m = new AlertMemory();
    m.remember('a', T + HOUR);
    m.remember('a', T + 30 * MIN);
    expect(m.shouldAlert('a', T + 45 * MIN, HOUR)).toBe(false);
    expect(m.shouldAlert('a', T + HOUR, HOUR)).toBe(true);
    const n = new AlertMemory();
    n.remember('b', T + 30 * MIN);
    n.remember('b', T + HOUR);
    expect(n.shouldAlert('b', T + 45 * MIN, HOUR)).toBe(false);
    const o = new AlertMemory();
    o.remember('c', T);
    expect(o.shouldAlert('c', T, HOUR)).toBe(true);
  });

  it('forgets periods that are over once it holds more than 100,000 targets, and keeps those still running', () => {
    const m = new AlertMemory();
    const size = (): number => (m as unknown as { until: Map<string, number> }).until.size;
    for (let i = 0; i < 100_000; i++) m.shouldAlert(`t${i}`, T, MIN);
    m.remember('kept', T + DAY);
    expect(size()).toBe(100_001);
    // Every t* ends at T + MIN exactly: over at T + MIN.
    expect(m.shouldAlert('new', T + MIN, MIN)).toBe(true);
    expect(size()).toBe(2);
    expect(m.shouldAlert('kept', T + MIN + 1, MIN)).toBe(false);
    expect(m.shouldAlert('new', T + MIN + 1, MIN)).toBe(false);
  });
});

describe('Allowlist', () => {
  const allow = new Allowlist({ cidrs: ['10.20.0.0/24', '2001:db8:aa::/48', '192.0.2.77'], principals: ['arn:aws:iam::1:role/ops'] });

  it('refuses what is not an address or CIDR, naming it', () => {
    expect(() => new Allowlist({ cidrs: ['10.0.0.0/8', 'nope'], principals: [] })).toThrow('allowlist: not an address or CIDR: "nope"');
  });

  it('touches a target inside an allowlisted block, and a block with an allowlisted address inside it', () => {
    expect(allow.touches('10.20.0.5', 'ip')).toBe(true);
    expect(allow.touches('10.20.0.128/25', 'cidr')).toBe(true);
    expect(allow.touches('10.20.0.0/16', 'cidr')).toBe(true);
    expect(allow.touches('192.0.2.0/24', 'cidr')).toBe(true);
    expect(allow.touches('192.0.2.77', 'ip')).toBe(true);
    expect(allow.touches('2001:db8:aa:1::/64', 'cidr')).toBe(true);
    expect(allow.touches('2001:db8::/32', 'cidr')).toBe(true);
    // The IPv4-mapped form is the IPv4 address it carries (DESIGN §3), as for WAF and the policy.
    expect(allow.touches('::ffff:192.0.2.77', 'ip')).toBe(true);
    expect(allow.touches('::ffff:0:0/96', 'cidr')).toBe(true);
  });

  it('does not touch neighbours, the other family, or what is no address', () => {
    expect(allow.touches('10.20.1.5', 'ip')).toBe(false);
    expect(allow.touches('192.0.2.76', 'ip')).toBe(false);
    expect(allow.touches('192.0.2.0/26', 'cidr')).toBe(false);
    expect(allow.touches('2001:db8:ab::/48', 'cidr')).toBe(false);
    expect(allow.touches('64:ff9b::/96', 'cidr')).toBe(false); // NAT64 embeds IPv4 addresses, but is IPv6
    expect(allow.touches('garbage', 'ip')).toBe(false);
  });

  it('principals by name only: an allowlisted one, and no address rule applies to a principal', () => {
    expect(allow.touches('arn:aws:iam::1:role/ops', 'principal')).toBe(true);
    expect(allow.touches('arn:aws:iam::1:role/dev', 'principal')).toBe(false);
    expect(allow.touches('10.20.0.5', 'principal')).toBe(false);
  });

  it('gives its blocks back as text', () => {
    expect(allow.cidrTexts).toEqual(['10.20.0.0/24', '2001:db8:aa::/48', '192.0.2.77/32']);
  });
});

describe('decideWindow: candidates and targets', () => {
  it('decides nothing on a verdict that neither acts nor is learning', () => {
    const r = runner().decide([verdict('192.0.2.1', { act: false })]);
    expect(r).toEqual({ decisions: [], blocks: [], held: [], page: false });
  });

  it('names every finding of an acting verdict, each rule once, unmistakable or not', () => {
    const findings = [
      { rule: 'path-scan' as const, score: 2, unmistakable: false, detail: 'a' },
      { rule: 'flood' as const, score: 3, unmistakable: false, detail: 'b' },
      { rule: 'path-scan' as const, score: 1, unmistakable: false, detail: 'c' },
    ];
    const r = runner().decide([verdict('192.0.2.1', { findings, held: '2/3' })]);
    expect(r.blocks[0].reasons).toEqual(['path-scan', 'flood']);
    expect(r.decisions[0].reasons).toEqual(['path-scan', 'flood']);
  });

  it('blocks an IPv4 host as itself, a prefix as a CIDR, a principal by name, an IPv6 host as its /64, an IPv6 prefix as it is', () => {
    const r = runner().decide([
      verdict('192.0.2.1'), verdict('198.51.100.0/24'), verdict('arn:aws:iam::1:user/x'), verdict('2001:db8:1:2:3:4:5:6'),
      verdict('2001:db8:9::/56', { kind: 'prefix' }),
    ]);
    expect(r.blocks.map((b) => [b.target, b.targetKind])).toEqual([
      ['192.0.2.1', 'ip'], ['198.51.100.0/24', 'cidr'], ['arn:aws:iam::1:user/x', 'principal'], ['2001:db8:1:2::/64', 'cidr'],
      ['2001:db8:9::/56', 'cidr'],
    ]);
    expect(r.decisions.map((d) => d.targetKind)).toEqual(['ip', 'cidr', 'principal', 'cidr', 'cidr']);
    expect(r.blocks[3].evidence).toMatchObject({ key: '2001:db8:1:2:3:4:5:6', keyKind: 'ip' });
  });

  it('two IPv6 hosts of one /64 are one decision, on the stronger verdict (the first on a tie)', () => {
    const r = runner().decide([
      verdict('2001:db8:1:2::1', { score: 3 }),
      verdict('2001:db8:1:2::2', { score: 7, findings: [{ rule: 'path-scan', score: 7, unmistakable: true, detail: 'p' }] }),
      verdict('2001:db8:1:2::3', { score: 7 }),
    ]);
    expect(r.decisions).toHaveLength(1);
    expect(r.blocks[0]).toMatchObject({ target: '2001:db8:1:2::/64', score: 7, reasons: ['path-scan'], evidence: { key: '2001:db8:1:2::2' } });
    const s = runner().decide([verdict('2001:db8:1:2::1', { score: 8 }), verdict('2001:db8:1:2::2', { score: 3 })]);
    expect(s.blocks[0]).toMatchObject({ score: 8, evidence: { key: '2001:db8:1:2::1' } });
  });

  it('takes the strongest first: under a cap of one, the higher score is the one blocked', () => {
    const r = runner({ caps: { newBlocksPerWindow: 1 } }).decide([verdict('192.0.2.1', { score: 2 }), verdict('192.0.2.2', { score: 9 }),
      verdict('192.0.2.3', { score: 4 })]);
    expect(why(r.decisions)).toEqual([['192.0.2.2', 'block', undefined], ['192.0.2.3', 'alert', 'cap'], ['192.0.2.1', 'alert', 'cap']]);
  });
});

describe('decideWindow: what a block carries', () => {
  it('a ledger entry recorded in the book, a decision, and evidence of the verdict and the window (no guard named)', () => {
    const v = verdict('192.0.2.1', { clients: 50, establishedRequests: 250, baseline: { meanRequests: 4, windows: 30 },
      samples: { paths: ['/x'], userAgents: ['ua'] }, populationMedianRequests: 3, features: features({ requests: 777 }) });
    const r = runner();
    const out = r.decide([v]);
    const evidence = {
      key: '192.0.2.1', keyKind: 'ip', windowStart: T - MIN, windowEnd: T, findings: v.findings, features: v.features,
      baseline: { meanRequests: 4, windows: 30 }, populationMedianRequests: 3, held: 'unmistakable', samples: { paths: ['/x'], userAgents: ['ua'] },
      clientShare: 0.05, trafficShare: 0.025, priorBlocks: 0,
    };
    expect(out.blocks).toEqual([{ target: '192.0.2.1', targetKind: 'ip', createdAt: NOW, expiresAt: NOW + HOUR, status: 'active',
      reasons: ['flood'], score: 5, priorBlocks: 0, evidence }]);
    expect(out.decisions).toEqual([{ time: iso(NOW), action: 'block', target: '192.0.2.1', targetKind: 'ip', reasons: ['flood'], score: 5,
      expiresAt: iso(NOW + HOUR), evidence }]);
    expect(Object.hasOwn(out.blocks[0].evidence, 'heldBack')).toBe(false);
    expect(out.held).toEqual([]);
    expect(out.page).toBe(false);
    expect(r.book.activeCovering('192.0.2.1', 'ip', NOW)).toBe(out.blocks[0]);
    expect(r.book.entries()).toEqual(out.blocks);
  });

  it('an IPv6 host acting outside learning is blocked with its /64 even when the /64 prefix itself is still learning and scores higher', () => {
    const host = verdict('2001:db8:1:2::bad', { score: 5 });
    const prefix = verdict('2001:db8:1:2::/64', { score: 8, learning: true, held: 'learning (3/60 windows)' });
    for (const order of [[host, prefix], [prefix, host]]) {
      const out = runner().decide(order);
      expect(out.blocks.map((b) => [b.target, b.evidence.key])).toEqual([['2001:db8:1:2::/64', '2001:db8:1:2::bad']]);
    }
    // Both learning: the higher score speaks, and nothing is blocked.
    const both = runner().decide([verdict('2001:db8:1:2::bad', { score: 5, learning: true }), prefix]);
    expect(both.blocks).toEqual([]);
    expect(both.decisions.map((d) => [d.action, d.evidence.key])).toEqual([['alert', '2001:db8:1:2::/64']]);
  });

  it("an IPv6 host is blocked with its /64: the blast radius is the /64's established traffic, its neighbours' too", () => {
    const bad = verdict('2001:db8:1:2::bad', { establishedRequests: 0 });
    const shared = runner().decide([bad], { establishedByPrefix: new Map([['2001:db8:1:2::/64', 2_000]]) });
    expect(shared.blocks).toEqual([]);
    expect(shared.decisions).toMatchObject([{ action: 'alert', target: '2001:db8:1:2::/64', evidence: { heldBack: 'blast-radius', trafficShare: 0.2 } }]);
    // Quiet neighbours: the /64 is blocked.
    expect(runner().decide([bad], { establishedByPrefix: new Map([['2001:db8:1:2::/64', 50]]) }).blocks.map((b) => b.target)).toEqual(['2001:db8:1:2::/64']);
  });

  it('shares are finite and at most 1, in a window without clients or requests, or whose count leaves the target out', () => {
    // The target's clients are the window's only ones (a key folded in late is in no window's client count).
    const out = runner().decide([verdict('192.0.2.1', { clients: 3, establishedRequests: 0 })], { totalClients: 0, timeline: timeline(0) });
    expect(out.blocks[0].evidence).toMatchObject({ clientShare: 1, trafficShare: 0 });
    const fewer = runner().decide([verdict('192.0.2.1', { clients: 3 })], { totalClients: 2 });
    expect(fewer.blocks[0].evidence.clientShare).toBe(1);
    const none = runner().decide([verdict('192.0.2.1', { clients: 0 })], { totalClients: 0 });
    expect(none.blocks[0].evidence.clientShare).toBe(0);
    // Established requests in a window that counted none (a window summed from parts that disagree): no infinite share.
    const odd = runner().decide([verdict('192.0.2.1', { establishedRequests: 5 })], { timeline: timeline(0) });
    expect(odd.blocks).toHaveLength(1);
    expect(odd.blocks[0].evidence.trafficShare).toBe(0);
  });

  it('escalates with the target\'s blocks of the lookback (its first day counted, the day before not; released ones not)', () => {
    const earlier = [
      entry('192.0.2.1', { createdAt: NOW - 30 * DAY, expiresAt: NOW - 30 * DAY + HOUR, status: 'expired' }),
      entry('192.0.2.1', { createdAt: NOW - 30 * DAY - 1, expiresAt: NOW - 30 * DAY + HOUR, status: 'expired' }),
      entry('192.0.2.2', { createdAt: NOW - 2 * DAY, expiresAt: NOW - 2 * DAY + HOUR, status: 'expired' }),
      entry('192.0.2.2', { createdAt: NOW - 3 * DAY, expiresAt: NOW - 3 * DAY + HOUR, status: 'expired' }),
      entry('192.0.2.2', { createdAt: NOW - DAY, expiresAt: NOW - DAY + HOUR, status: 'released' }),
    ] as const;
    const out = runner({}, new LedgerBook(earlier)).decide([verdict('192.0.2.1'), verdict('192.0.2.2')]);
    expect(out.blocks.map((b) => [b.target, b.priorBlocks, b.expiresAt - NOW, b.evidence.priorBlocks])).toEqual([
      ['192.0.2.1', 1, 4 * HOUR, 1], ['192.0.2.2', 2, 16 * HOUR, 2]]);
    const short = runner({ expiry: { lookbackDays: 2.5 } }, new LedgerBook(earlier)).decide([verdict('192.0.2.2')]);
    expect(short.blocks[0].priorBlocks).toBe(1);
  });

  it('alerts held back earlier (learning, a dry run, a guard) do not escalate the first real block', () => {
    const held = [1, 2, 3].map((h) => entry('192.0.2.1', { createdAt: NOW - h * HOUR, expiresAt: NOW - h * HOUR + HOUR, status: 'held' }));
    const out = runner({}, new LedgerBook(held)).decide([verdict('192.0.2.1')]);
    expect(out.blocks[0]).toMatchObject({ priorBlocks: 0, expiresAt: NOW + HOUR });
    // Nor does a dry run's would-be expiry grow with its own alerts.
    const dry = runner({ dryRun: true }, new LedgerBook(held)).decide([verdict('192.0.2.1')]);
    expect(dry.decisions[0]).toMatchObject({ action: 'alert', expiresAt: iso(NOW + HOUR), evidence: { priorBlocks: 0 } });
  });

  it('block durations follow the configured base, multiplier and cap', () => {
    const cfg = { expiry: { baseMinutes: 10, multiplier: 2, maxMinutes: 30 } };
    const book = new LedgerBook([entry('192.0.2.2', { createdAt: NOW - DAY, status: 'expired' }),
      ...[1, 2].map((d) => entry('192.0.2.3', { createdAt: NOW - d * DAY, status: 'expired' }))]);
    const out = runner(cfg, book).decide([verdict('192.0.2.1'), verdict('192.0.2.2'), verdict('192.0.2.3')]);
    expect(out.blocks.map((b) => (b.expiresAt - NOW) / MIN)).toEqual([10, 20, 30]);
  });
});

describe('blockDurationMs', () => {
  const expiry = parseConfig({}).expiry;
  it('is the base for a first offence, and never shorter for a count below zero', () => {
    expect(blockDurationMs(0, expiry)).toBe(HOUR);
    expect(blockDurationMs(-1, expiry)).toBe(HOUR);
    expect(blockDurationMs(-3, expiry)).toBe(HOUR);
  });
  it('rounds to whole milliseconds', () => {
    expect(blockDurationMs(1, { ...expiry, baseMinutes: 1 / 7, multiplier: 1 })).toBe(Math.round(60_000 / 7));
  });
});

describe('decideWindow: the guards', () => {
  it('allowlist: an alert that names it, no block, no page; before every other guard', () => {
    const r = runner({ dryRun: true, allowlist: { cidrs: ['192.0.2.0/28'], principals: ['arn:aws:iam::1:role/ops'] } });
    const out = r.decide([
      verdict('192.0.2.1', { learning: true, act: false }), verdict('arn:aws:iam::1:role/ops', { score: 4 }), verdict('192.0.2.0/24', { score: 3 }),
    ]);
    expect(why(out.decisions)).toEqual([['192.0.2.1', 'alert', 'allowlist'], ['arn:aws:iam::1:role/ops', 'alert', 'allowlist'],
      ['192.0.2.0/24', 'alert', 'allowlist']]);
    expect(out.blocks).toEqual([]);
    expect(out.page).toBe(false);
    expect(r.book.active(NOW)).toEqual([]);
  });

  it('proxies: after the allowlist, before learning and every later guard; an alert with advice; principals are no proxy', () => {
    const r = runner({ dryRun: true, rules: { flood: 'count' }, proxies: { cidrs: ['198.51.100.0/24', '10.9.0.0/16'] },
      allowlist: { cidrs: ['10.9.9.0/24'], principals: [] } });
    const out = r.decide([
      verdict('10.9.9.9', { score: 9 }),
      verdict('198.51.100.7', { score: 8, learning: true, act: false }),
      verdict('198.51.100.0/25', { score: 7, establishedRequests: 9000 }),
      verdict('arn:aws:iam::1:user/x', { score: 6 }),
    ]);
    expect(why(out.decisions)).toEqual([['10.9.9.9', 'alert', 'allowlist'], ['198.51.100.7', 'alert', 'proxy'],
      ['198.51.100.0/25', 'alert', 'proxy'], ['arn:aws:iam::1:user/x', 'alert', 'dry-run']]);
    expect(out.decisions.map((d) => typeof d.evidence.advice)).toEqual(['undefined', 'string', 'string', 'undefined']);
    expect(out.page).toBe(false);
    const enforcing = runner({ proxies: { cidrs: ['198.51.100.0/24'] } }).decide([verdict('198.51.100.7'), verdict('arn:aws:iam::1:user/x')]);
    expect(why(enforcing.decisions)).toEqual([['198.51.100.7', 'alert', 'proxy'], ['arn:aws:iam::1:user/x', 'block', undefined]]);
    expect(enforcing.blocks.map((b) => b.target)).toEqual(['arn:aws:iam::1:user/x']);
  });

  it('learning: an alert about everything it found, never a block, whatever the rest of the config says', () => {
    const findings = [{ rule: 'volume-anomaly' as const, score: 2, unmistakable: false, detail: 'v' }];
    const out = runner({ dryRun: true }).decide([verdict('192.0.2.1', { learning: true, act: false, findings, held: '1/3' }),
      verdict('192.0.2.2', { learning: true, findings })]);
    expect(why(out.decisions)).toEqual([['192.0.2.1', 'alert', 'learning'], ['192.0.2.2', 'alert', 'learning']]);
    expect(out.decisions[0].reasons).toEqual(['volume-anomaly']);
    expect(out.blocks).toEqual([]);
    expect(out.page).toBe(false);
    const enforce = runner().decide([verdict('192.0.2.1', { learning: true, act: false, findings })]);
    expect(why(enforce.decisions)).toEqual([['192.0.2.1', 'alert', 'learning']]);
    expect(enforce.blocks).toEqual([]);
  });

  it('dry run: an alert, no block, no page; before count mode', () => {
    const r = runner({ dryRun: true, rules: { flood: 'count' } });
    const out = r.decide([verdict('192.0.2.1'), verdict('198.51.100.0/24', { establishedRequests: 9000 })]);
    expect(why(out.decisions)).toEqual([['192.0.2.1', 'alert', 'dry-run'], ['198.51.100.0/24', 'alert', 'dry-run']]);
    expect(out.blocks).toEqual([]);
    expect(out.page).toBe(false);
    expect(r.book.active(NOW)).toEqual([]);
  });

  it('count mode holds a block only when every rule it names is in count mode', () => {
    const two = [{ rule: 'flood' as const, score: 5, unmistakable: true, detail: 'f' }, { rule: 'path-scan' as const, score: 2, unmistakable: false, detail: 'p' }];
    const out = runner({ rules: { flood: 'count' } }).decide([verdict('192.0.2.1', { findings: two }), verdict('192.0.2.2')]);
    expect(why(out.decisions)).toEqual([['192.0.2.1', 'block', undefined], ['192.0.2.2', 'alert', 'count-mode']]);
    expect(out.blocks.map((b) => b.target)).toEqual(['192.0.2.1']);
    const both = runner({ rules: { flood: 'count', 'path-scan': 'count' } }).decide([verdict('192.0.2.1', { findings: two })]);
    expect(why(both.decisions)).toEqual([['192.0.2.1', 'alert', 'count-mode']]);
    expect(both.page).toBe(false);
    const other = runner({ rules: { 'path-scan': 'count' } }).decide([verdict('192.0.2.3')]);
    expect(why(other.decisions)).toEqual([['192.0.2.3', 'block', undefined]]);
  });

  it('count mode comes before the blast-radius guard', () => {
    const out = runner({ rules: { flood: 'count' } }).decide([verdict('198.51.100.0/24', { establishedRequests: 9000 })]);
    expect(why(out.decisions)).toEqual([['198.51.100.0/24', 'alert', 'count-mode']]);
    expect(out.page).toBe(false);
  });

  it('blast radius: strictly more than the share of the window\'s requests is held, pages, and says by how much', () => {
    const r = runner();
    const out = r.decide([
      verdict('198.51.100.0/24', { establishedRequests: 1000, clients: 100 }), // exactly 10%: blocked
      verdict('203.0.113.0/24', { establishedRequests: 1001, clients: 200, score: 4 }),
    ]);
    expect(why(out.decisions)).toEqual([['198.51.100.0/24', 'block', undefined], ['203.0.113.0/24', 'alert', 'blast-radius']]);
    expect(out.decisions[0].evidence).toMatchObject({ trafficShare: 0.1, clientShare: 0.1 });
    expect(out.decisions[1].evidence).toMatchObject({ trafficShare: 0.1001, clientShare: 0.2 });
    expect(out.page).toBe(true);
    expect(r.book.active(NOW).map((e) => e.target)).toEqual(['198.51.100.0/24']);
  });

  it('blast radius at a configured share', () => {
    const out = runner({ blastRadiusShare: 0.5 }).decide([verdict('198.51.100.0/24', { establishedRequests: 5000 }),
      verdict('203.0.113.0/24', { establishedRequests: 5001, score: 4 })]);
    expect(why(out.decisions)).toEqual([['198.51.100.0/24', 'block', undefined], ['203.0.113.0/24', 'alert', 'blast-radius']]);
  });

  it('blast radius comes before the cap, and a held decision does not use the cap up', () => {
    const out = runner({ caps: { newBlocksPerWindow: 1 } }).decide([
      verdict('198.51.100.0/24', { establishedRequests: 5000, score: 9 }),
      verdict('192.0.2.1', { score: 8 }),
      verdict('192.0.2.2', { score: 7 }),
    ]);
    expect(why(out.decisions)).toEqual([['198.51.100.0/24', 'alert', 'blast-radius'], ['192.0.2.1', 'block', undefined],
      ['192.0.2.2', 'alert', 'cap']]);
  });

  it('the cap on new blocks: exactly that many, then alerts that page', () => {
    const r = runner({ caps: { newBlocksPerWindow: 2 }, allowlist: { cidrs: ['10.0.0.0/8'] } });
    const out = r.decide([verdict('10.0.0.1', { score: 9 }), verdict('192.0.2.1', { score: 8 }), verdict('192.0.2.2', { score: 7 }),
      verdict('192.0.2.3', { score: 6 })]);
    expect(why(out.decisions)).toEqual([['10.0.0.1', 'alert', 'allowlist'], ['192.0.2.1', 'block', undefined],
      ['192.0.2.2', 'block', undefined], ['192.0.2.3', 'alert', 'cap']]);
    expect(out.page).toBe(true);
    expect(r.book.active(NOW)).toHaveLength(2);
  });

  it('a held decision: an alert with the would-be expiry, and a held ledger entry that lasts one alert period', () => {
    const r = runner({ dryRun: true, expiry: { baseMinutes: 30 } });
    r.book.record(entry('192.0.2.1', { createdAt: NOW - DAY, status: 'expired' }));
    const out = r.decide([verdict('192.0.2.1', { clients: 7, establishedRequests: 9 })]);
    const d = out.decisions[0];
    expect(d).toMatchObject({ time: iso(NOW), action: 'alert', target: '192.0.2.1', targetKind: 'ip', reasons: ['flood'], score: 5,
      expiresAt: iso(NOW + 120 * MIN) });
    expect(d.evidence).toMatchObject({ heldBack: 'dry-run', priorBlocks: 1, key: '192.0.2.1' });
    // Shares are worked out only past the guards that do not depend on them.
    expect(Object.hasOwn(d.evidence, 'trafficShare')).toBe(false);
    expect(out.held).toEqual([{ target: '192.0.2.1', targetKind: 'ip', createdAt: NOW, expiresAt: NOW + 30 * MIN, status: 'held',
      reasons: ['flood'], score: 5, priorBlocks: 1, evidence: d.evidence }]);
    // The held entry is for the store (runners alert from it); the book records blocks only.
    expect(r.book.entries()).toHaveLength(1);
  });

  it('a held target alerts once per alert period (the base block duration), then again', () => {
    const r = runner({ expiry: { baseMinutes: 30 }, caps: { newBlocksPerWindow: 1 } });
    const big = verdict('198.51.100.0/24', { establishedRequests: 5000 });
    const first = r.decide([big]);
    expect(why(first.decisions)).toEqual([['198.51.100.0/24', 'alert', 'blast-radius']]);
    expect(first.page).toBe(true);
    const again = r.decide([big], { closedAt: NOW + 29 * MIN });
    expect(again).toEqual({ decisions: [], blocks: [], held: [], page: false });
    const later = r.decide([big], { closedAt: NOW + 30 * MIN });
    expect(why(later.decisions)).toEqual([['198.51.100.0/24', 'alert', 'blast-radius']]);
    expect(later.held[0].createdAt).toBe(NOW + 30 * MIN);
  });

  it('an alert quiet in memory still lets a block through, and does not stop another target alerting', () => {
    const r = runner({ dryRun: true });
    r.alerts.remember('192.0.2.1', NOW + HOUR);
    const out = r.decide([verdict('192.0.2.1'), verdict('192.0.2.2', { score: 3 })]);
    expect(why(out.decisions)).toEqual([['192.0.2.2', 'alert', 'dry-run']]);
    expect(out.held.map((h) => h.target)).toEqual(['192.0.2.2']);
  });
});

describe('decideWindow: what is already decided', () => {
  it('a target an active block covers is not decided again, the block itself not rewritten', () => {
    const wide = entry('192.0.2.0/24', { createdAt: NOW - MIN, expiresAt: NOW + HOUR });
    const r = runner({ dryRun: true }, new LedgerBook([wide, entry('arn:aws:iam::1:user/x', { expiresAt: NOW + HOUR })]));
    const out = r.decide([verdict('192.0.2.9'), verdict('192.0.2.0/24'), verdict('arn:aws:iam::1:user/x')]);
    expect(out.decisions).toEqual([]);
  });

  it('a block that is over decides again (a later window): released or expired, with escalation', () => {
    const r = runner({}, new LedgerBook([entry('192.0.2.1', { createdAt: NOW - HOUR, expiresAt: NOW, status: 'active' })]));
    const out = r.decide([verdict('192.0.2.1')]);
    expect(out.blocks).toMatchObject([{ target: '192.0.2.1', priorBlocks: 1, expiresAt: NOW + 4 * HOUR }]);
  });

  it('a decision taken at this very time and since ended stands: released by an operator, nothing is written again', () => {
    const released = entry('192.0.2.1', { createdAt: NOW, expiresAt: NOW + HOUR, status: 'released', endedAt: NOW + MIN });
    const held = entry('198.51.100.0/24', { createdAt: NOW, expiresAt: NOW + HOUR, status: 'held' });
    const r = runner({}, new LedgerBook([released, held]));
    const out = r.decide([verdict('192.0.2.1'), verdict('198.51.100.0/24')]);
    expect(out.decisions).toEqual([]);
    expect(r.book.entries()).toEqual([released, held]);
    // The same window again, later (a redelivery): still nothing. The next window: a new block.
    expect(r.decide([verdict('192.0.2.1')], { closedAt: NOW + MIN }).decisions).toEqual([]);
    const later = r.decide([verdict('192.0.2.1')], { start: T, end: T + MIN, closedAt: NOW + MIN });
    expect(why(later.decisions)).toEqual([['192.0.2.1', 'block', undefined]]);
  });

  it('within a window, only a release holds back: a block that expired there (a long window, short blocks), or a login-route block released when the close needs one everywhere, is decided again', () => {
    const r = runner();
    const early = r.decide([verdict('192.0.2.1')], { closedAt: T - 30_000 });
    r.book.record({ ...early.blocks[0], status: 'expired', endedAt: T - 10_000 });
    expect(r.decide([verdict('192.0.2.1')]).blocks.map((b) => b.target)).toEqual(['192.0.2.1']);
    const s = runner();
    const login = s.decide([verdict('192.0.2.2')], { closedAt: T - 30_000 });
    s.book.record({ ...login.blocks[0], status: 'released', endedAt: T - 20_000, evidence: { ...login.blocks[0].evidence, scope: LOGIN_ROUTE } });
    expect(s.decide([verdict('192.0.2.2')]).blocks.map((b) => b.target)).toEqual(['192.0.2.2']);
  });

  it('a block released before its window closed (an early decision) is not decided again at the close of that window', () => {
    const r = runner();
    const early = r.decide([verdict('192.0.2.1')], { closedAt: T - 30_000 });
    expect(early.blocks).toHaveLength(1);
    r.book.record({ ...early.blocks[0], status: 'released', endedAt: T - 20_000 });
    expect(r.decide([verdict('192.0.2.1')]).decisions).toEqual([]);
    // The next window, acting again: a block of the base duration (the release was no offence).
    const next = r.decide([verdict('192.0.2.1')], { start: T, end: T + MIN, closedAt: NOW + MIN });
    expect(next.blocks).toMatchObject([{ target: '192.0.2.1', priorBlocks: 0, expiresAt: NOW + MIN + HOUR }]);
  });
});

describe('expireDue and unblockDecision', () => {
  it('ends each due block at its own expiry, soonest first, and marks it expired in the book', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { expiresAt: T + 2 * HOUR, score: 3, reasons: ['path-scan'] }),
      entry('192.0.2.0/24', { expiresAt: T + HOUR }),
      entry('192.0.2.9', { expiresAt: T + 5 * HOUR }),
      entry('arn:aws:iam::1:user/x', { expiresAt: T + HOUR, status: 'held' }),
    ]);
    const { decisions, ended } = expireDue(book, T + 2 * HOUR);
    expect(ended.map((e) => [e.target, e.status, e.endedAt])).toEqual([['192.0.2.0/24', 'expired', T + HOUR], ['192.0.2.1', 'expired', T + 2 * HOUR]]);
    expect(decisions).toEqual([
      { time: iso(T + HOUR), action: 'unblock', target: '192.0.2.0/24', targetKind: 'cidr', reasons: ['flood'], score: 2, expiresAt: null,
        evidence: { ...entry('x').evidence, key: '192.0.2.0/24', releasedBy: 'expiry' } },
      { time: iso(T + 2 * HOUR), action: 'unblock', target: '192.0.2.1', targetKind: 'ip', reasons: ['path-scan'], score: 3, expiresAt: null,
        evidence: { ...entry('x').evidence, key: '192.0.2.1', releasedBy: 'expiry' } },
    ]);
    expect(book.due(T + 2 * HOUR)).toEqual([]);
    expect(book.latest('192.0.2.1')).toMatchObject({ status: 'expired', endedAt: T + 2 * HOUR });
    expect(book.active(T + 2 * HOUR).map((e) => e.target)).toEqual(['192.0.2.9']);
    expect(expireDue(book, T + 2 * HOUR)).toEqual({ decisions: [], ended: [] });
  });

  it('an operator release is an unblock at the time given', () => {
    const e = entry('192.0.2.1', { targetKind: 'ip', score: 4 });
    expect(unblockDecision(e, T + 7, 'operator')).toEqual({ time: iso(T + 7), action: 'unblock', target: '192.0.2.1', targetKind: 'ip',
      reasons: ['flood'], score: 4, expiresAt: null, evidence: { ...e.evidence, releasedBy: 'operator' } });
  });
});

describe('decideWindow is decideWindow (the module\'s entry point)', () => {
  it('takes its time from the window\'s close', () => {
    const cfg = parseConfig({});
    const out = decideWindow(window([verdict('192.0.2.1')], { closedAt: T + 9 }), new LedgerBook(), cfg, new Allowlist(cfg.allowlist), new AlertMemory());
    expect(out.blocks[0]).toMatchObject({ createdAt: T + 9, expiresAt: T + 9 + HOUR });
  });
});
