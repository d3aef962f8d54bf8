import { describe, expect, it } from 'vitest';
import { parseConfig, type CordonConfig } from '../../src/config.ts';
import { AlertMemory, Allowlist, decideWindow, expireDue } from '../../src/contain/decide.ts';
import { blockDurationMs } from '../../src/contain/expiry.ts';
import { LedgerBook } from '../../src/contain/ledger-book.ts';
import type { KeyVerdict, WindowAssessment } from '../../src/detect/detector.ts';
import { type Features, KeyWindow } from '../../src/features/key-window.ts';

const T = 1_793_577_660_000;

/** A window's features: those of an empty window, with `over`. */
const features = (over: Partial<Features>): Features => ({ ...new KeyWindow().features(), ...over });

function verdict(value: string, over: Partial<KeyVerdict> = {}): KeyVerdict {
  return { kind: value.startsWith('arn:') ? 'principal' : value.includes('/') ? 'prefix' : 'ip', value,
    findings: [{ rule: 'flood', score: 5, unmistakable: true, detail: 'x' }], score: 5, act: true, held: 'unmistakable',
    features: features({ requests: 3000 }), populationMedianRequests: 2, samples: { paths: [], userAgents: [] }, clients: 1,
    establishedRequests: 0, ...over };
}

function window(verdicts: KeyVerdict[], requests = 10_000): WindowAssessment {
  return { start: T - 60_000, end: T, closedAt: T + 5000, incident: false, totalClients: 1000, keys: 2000, verdicts, establishedByPrefix: new Map(),
    timeline: { start: T - 60_000, requests, errors: 0, notFound: 0, authFailures: 0, uniqueIps: 1000 }, ruleErrors: 0, learning: false };
}

function decide(verdicts: KeyVerdict[], over: Record<string, unknown> = {}, book = new LedgerBook()) {
  const cfg: CordonConfig = parseConfig(over);
  return { ...decideWindow(window(verdicts), book, cfg, new Allowlist(cfg.allowlist), new AlertMemory()), book, cfg };
}

describe('decideWindow', () => {
  it('blocks an acting verdict with an expiry and the evidence', () => {
    const { decisions, blocks } = decide([verdict('192.0.2.1')]);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ action: 'block', target: '192.0.2.1', targetKind: 'ip', reasons: ['flood'] });
    expect(Date.parse(decisions[0].expiresAt!) - Date.parse(decisions[0].time)).toBe(60 * 60_000);
    expect(blocks[0].status).toBe('active');
  });

  it('never blocks an allowlisted address or principal: an alert says why', () => {
    const { decisions, blocks } = decide([verdict('10.20.0.5'), verdict('arn:aws:iam::1:role/ops')],
      { allowlist: { cidrs: ['10.20.0.0/24'], principals: ['arn:aws:iam::1:role/ops'] } });
    expect(blocks).toEqual([]);
    expect(decisions.map((d) => [d.action, d.evidence.heldBack])).toEqual([['alert', 'allowlist'], ['alert', 'allowlist']]);
  });

  it('an allowlisted role protects its sessions as API Gateway logs them; other roles, accounts and partitions do not', () => {
    const session = (account: string, role: string, partition = 'aws') => `arn:${partition}:sts::${account}:assumed-role/${role}/i-0abc123`;
    const { decisions } = decide([verdict(session('123456789012', 'monitoring')), verdict(session('123456789012', 'deploy')),
      verdict(session('123456789012', 'Ops-Runner')), verdict(session('210987654321', 'monitoring')),
      verdict(session('123456789012', 'monitoring', 'aws-cn'))],
    { allowlist: { principals: ['arn:aws:iam::123456789012:role/monitoring', 'arn:aws:iam::123456789012:role/ci/ops-runner'] } });
    const held = (target: string) => decisions.find((d) => d.target === target)?.evidence.heldBack;
    expect(held(session('123456789012', 'monitoring'))).toBe('allowlist');
    expect(held(session('123456789012', 'Ops-Runner'))).toBe('allowlist'); // a role with a path; IAM role names ignore case
    expect(held(session('123456789012', 'deploy'))).toBeUndefined();
    expect(held(session('210987654321', 'monitoring'))).toBeUndefined();
    expect(held(session('123456789012', 'monitoring', 'aws-cn'))).toBeUndefined();
  });

  it('an allowlisted ARN protects it when it came from another field than userArn (keyed unverified:ARN), in decide and in the projection', () => {
    const partner = 'arn:aws:iam::123456789012:user/partner';
    const cfg = { allowlist: { principals: [partner, 'arn:aws:iam::123456789012:role/ops'] } };
    const principal = (key: string) => verdict(key, { kind: 'principal' });
    const { decisions, blocks } = decide([principal(`unverified:${partner}`), principal('unverified:arn:aws:sts::123456789012:assumed-role/ops/s1'),
      principal('unverified:arn:aws:iam::123456789012:user/other')], cfg);
    expect(blocks.map((b) => b.target)).toEqual(['unverified:arn:aws:iam::123456789012:user/other']);
    expect(decisions.filter((d) => d.evidence.heldBack === 'allowlist')).toHaveLength(2);
    expect(new Allowlist(parseConfig(cfg).allowlist).allowsPrincipal(`unverified:${partner}`)).toBe(true);
  });

  it('reads the allowlist as the config validated it: a mapped IPv4 entry protects the IPv4 address and its /24', () => {
    const { decisions, blocks } = decide([verdict('198.51.100.7'), verdict('198.51.100.0/24'), verdict('192.0.2.1')],
      { allowlist: { cidrs: ['::ffff:198.51.100.7'] } });
    expect(blocks.map((b) => b.target)).toEqual(['192.0.2.1']);
    expect(decisions.filter((d) => d.evidence.heldBack === 'allowlist').map((d) => d.target)).toEqual(['198.51.100.7', '198.51.100.0/24']);
    // Also given the entries as written (a config that skipped parseConfig): the same parser as the config's.
    const raw = new Allowlist({ cidrs: ['::ffff:198.51.100.7', ' 203.0.113.9', '[2001:db8::1]'], principals: [] });
    expect(['198.51.100.7', '203.0.113.0/24', '2001:db8::/64'].map((t) => raw.touches(t, t.includes('/') ? 'cidr' : 'ip'))).toEqual([true, true, true]);
  });

  it('refuses a prefix that overlaps the allowlist', () => {
    const { blocks } = decide([verdict('10.20.0.0/24')], { allowlist: { cidrs: ['10.20.0.128/28'] } });
    expect(blocks).toEqual([]);
  });

  it('dry run and count mode hold blocks as alerts', () => {
    expect(decide([verdict('192.0.2.1')], { dryRun: true }).decisions[0]).toMatchObject({ action: 'alert', evidence: { heldBack: 'dry-run' } });
    expect(decide([verdict('192.0.2.1')], { rules: { flood: 'count' } }).decisions[0]).toMatchObject({ action: 'alert', evidence: { heldBack: 'count-mode' } });
  });

  it('the blast-radius guard holds a block that would cut established traffic, and pages', () => {
    const r = decide([verdict('198.51.100.0/24', { establishedRequests: 2000, clients: 300 })]);
    expect(r.decisions[0]).toMatchObject({ action: 'alert', evidence: { heldBack: 'blast-radius' } });
    expect(r.decisions[0].evidence.trafficShare).toBeCloseTo(0.2);
    expect(r.page).toBe(true);
  });

  it('caps new blocks per window, strongest first, and pages for the rest', () => {
    const verdicts = Array.from({ length: 5 }, (_, i) => verdict(`192.0.2.${i + 1}`, { score: i + 1 }));
    const r = decide(verdicts, { caps: { newBlocksPerWindow: 2 } });
    expect(r.blocks.map((b) => b.target)).toEqual(['192.0.2.5', '192.0.2.4']);
    expect(r.decisions.filter((d) => d.evidence.heldBack === 'cap')).toHaveLength(3);
    expect(r.page).toBe(true);
  });

  it('blocks IPv6 offenders as their /64', () => {
    expect(decide([verdict('2001:db8:1:2::99')]).blocks[0]).toMatchObject({ target: '2001:db8:1:2::/64', targetKind: 'cidr' });
  });

  it('aggregates three blocked hosts of one /24 into the /24, unless that would cut established traffic', () => {
    const verdicts = [verdict('192.0.2.1'), verdict('192.0.2.2'), verdict('192.0.2.3')];
    const cfg = parseConfig({});
    const held = decideWindow({ ...window(verdicts), establishedByPrefix: new Map([['192.0.2.0/24', 2000]]) }, new LedgerBook(), cfg,
      new Allowlist(cfg.allowlist), new AlertMemory());
    expect(held.decisions.find((d) => d.target === '192.0.2.0/24')).toMatchObject({ action: 'alert', evidence: { heldBack: 'blast-radius' } });
    expect(held.blocks.map((b) => b.target)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    const r = decideWindow({ ...window(verdicts), establishedByPrefix: new Map([['192.0.2.0/24', 0]]) }, new LedgerBook(), cfg,
      new Allowlist(cfg.allowlist), new AlertMemory());
    const agg = r.decisions.find((d) => d.target === '192.0.2.0/24');
    expect(agg).toMatchObject({ action: 'block', targetKind: 'cidr' });
    expect(agg!.reasons).toContain('aggregation');
    // How many hosts is the aggregation's own figure, not a window feature.
    expect(agg!.evidence).toMatchObject({ blockedHosts: 3, features: {} });
  });

  it('does not decide again on a target an active block already covers', () => {
    const first = decide([verdict('192.0.2.0/24', { features: features({ requests: 5000, distinctIps: 50 }) })]);
    const again = decideWindow(window([verdict('192.0.2.9')]), first.book, first.cfg, new Allowlist(first.cfg.allowlist), new AlertMemory());
    expect(again.decisions).toEqual([]);
  });

  it('escalates repeat offenders and expires on time', () => {
    const cfg = parseConfig({});
    const book = new LedgerBook();
    const first = decideWindow(window([verdict('192.0.2.1')]), book, cfg, new Allowlist(cfg.allowlist), new AlertMemory());
    const end = first.blocks[0].expiresAt;
    const { decisions: unblocks } = expireDue(book, end + 1);
    expect(unblocks).toEqual([expect.objectContaining({ action: 'unblock', target: '192.0.2.1', time: new Date(end).toISOString() })]);
    const later = { ...window([verdict('192.0.2.1')]), start: end + 9 * 60_000, end: end + 10 * 60_000, closedAt: end + 10 * 60_000 };
    const second = decideWindow(later, book, cfg, new Allowlist(cfg.allowlist), new AlertMemory());
    expect(second.blocks[0].priorBlocks).toBe(1);
    expect(second.blocks[0].expiresAt - second.blocks[0].createdAt).toBe(4 * 60 * 60_000);
  });
});

describe('blockDurationMs', () => {
  const expiry = parseConfig({}).expiry;
  it.each([[0, 60], [1, 240], [2, 960], [3, 3840], [4, 10080], [9, 10080]])('%i earlier blocks → %i minutes', (prior, minutes) => {
    expect(blockDurationMs(prior, expiry)).toBe(minutes * 60_000);
  });
});
