import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Labels } from '../../src/simulate/labels.ts';
import {
  formatScore, formatScoreDetails, parseDecisionLines, roundHalfEven, scoreDecisions, type DecisionLike,
} from '../../src/simulate/score.ts';
import { simulateEvents } from '../../src/simulate/traffic.ts';
import { describeSharedTools, sharedPath } from '../helpers/shared.ts';

const S = 1793577600000;
const iso = (ms: number) => new Date(ms).toISOString();
const block = (time: number | string, target: string, targetKind = target.includes('/') ? 'cidr' : 'ip'): DecisionLike =>
  ({ time, action: 'block', target, targetKind });
const alert = (time: number | string, target: string, targetKind = 'ip'): DecisionLike =>
  ({ time, action: 'alert', target, targetKind });

const STOLEN_ARN = 'arn:aws:iam::123456789012:user/svc-42';

function handLabels(): Labels {
  return {
    scenario: 'hand', seed: 0, start: S, end: S + 3600_000,
    attackers: [
      { kind: 'subnet-flood', ips: Array.from({ length: 100 }, (_, i) => `45.1.2.${i + 1}`), principal: null,
        start: S + 600_000, end: S + 960_000, prefix: '45.1.2.0/24' },
      { kind: 'scanner', ips: ['203.0.113.9'], principal: null, start: S + 60_000, end: S + 420_000 },
      { kind: 'stolen-credentials', ips: ['198.18.0.1', '198.18.0.2', '198.18.0.3'], principal: STOLEN_ARN,
        start: S + 1200_000, end: S + 1440_000 },
      { kind: 'ipv6-rotating-scanner', ips: ['2a0b:1:2:3::a', '2a0b:1:2:3:4::b'], principal: null,
        start: S + 1800_000, end: S + 2100_000, prefix: '2a0b:1:2:3::/64' },
    ],
    benign_notable: [
      { kind: 'crawler', ips: ['66.249.66.1'] },
      { kind: 'health-checker', ips: ['10.20.0.5'], allowlisted: '10.20.0.0/24' },
    ],
    allowlist: ['10.20.0.0/24'], benign_ips: 10, benign_principals: 5,
  };
}

describe('scoreDecisions on hand-made labels', () => {
  const labels = handLabels();
  const row = (r: ReturnType<typeof scoreDecisions>, kind: string) => r.per_attacker.find((a) => a.kind === kind)!;

  it('counts nothing when there are no decisions', () => {
    const r = scoreDecisions(labels, []);
    expect(r).toMatchObject({ attackers: 4, detected: 0, contained: 0, median_time_to_contain_s: null,
      max_time_to_contain_s: null, blocks_covering_no_attacker: 0, benign_ips: 10, unreadable_decisions: 0 });
    expect(formatScore(r)).toBe('hand: detected 0/4 contained 0/4 median_ttc_s=None false_blocks=0 allowlist_violations=0');
  });

  it('a /24 block (host bits set) contains a subnet flood, timed from the attack start', () => {
    const r = scoreDecisions(labels, [block(iso(S + 630_000), '45.1.2.77/24')]);
    expect(row(r, 'subnet-flood')).toEqual({ kind: 'subnet-flood', addresses: 100, principal: null, detected: true,
      contained: true, covered_share: 1, time_to_contain_s: 30 });
    expect(r).toMatchObject({ detected: 1, contained: 1, median_time_to_contain_s: 30, blocks_covering_no_attacker: 0,
      allowlist_violations: [], benign_notable_blocked: [] });
    expect(formatScore(r)).toBe('hand: detected 1/4 contained 1/4 median_ttc_s=30.0 false_blocks=0 allowlist_violations=0');
  });

  it('needs 80% of the addresses blocked one by one, and times it at the 80th percent', () => {
    const ips = labels.attackers[0].ips;
    const blocks79 = ips.slice(0, 79).map((ip, i) => block(S + 600_000 + 1000 * (i + 1), ip));
    const r79 = scoreDecisions(labels, blocks79);
    expect(row(r79, 'subnet-flood')).toMatchObject({ detected: true, contained: false, covered_share: 0.79, time_to_contain_s: null });
    const r80 = scoreDecisions(labels, [...blocks79, block(S + 600_000 + 500_000, ips[99])]);
    expect(row(r80, 'subnet-flood')).toMatchObject({ contained: true, covered_share: 0.8, time_to_contain_s: 500 });
  });

  it('a block covering the allowlist is a violation, reported as the blocked network', () => {
    const r = scoreDecisions(labels, [block(S, '10.0.0.0/8'), block(S, '10.20.0.9'), block(S, '10.21.0.0/16')]);
    expect(r.allowlist_violations).toEqual(['10.0.0.0/8', '10.20.0.9/32']);
    expect(r.benign_notable_blocked).toEqual([{ kind: 'health-checker', ip: '10.20.0.5' }]);
    expect(r.blocks_covering_no_attacker).toBe(3);
    expect(formatScore(r)).toMatch(/false_blocks=3 allowlist_violations=2$/);
  });

  it('blocking a benign notable address is a false positive; alerting on it is not', () => {
    const alerted = scoreDecisions(labels, [alert(S, '66.249.66.1')]);
    expect(alerted.benign_notable_blocked).toEqual([]);
    const blocked = scoreDecisions(labels, [block(S, '66.249.66.1'), block(S + 1, '66.249.66.1')]);
    expect(blocked.benign_notable_blocked).toEqual([{ kind: 'crawler', ip: '66.249.66.1' }]);
    expect(blocked.blocks_covering_no_attacker).toBe(1); // distinct networks
  });

  it('a principal block contains credential abuse; an alert on it only detects', () => {
    const alerted = scoreDecisions(labels, [alert(S + 1_210_000, STOLEN_ARN, 'principal')]);
    expect(row(alerted, 'stolen-credentials')).toMatchObject({ detected: true, contained: false, covered_share: 0 });
    const blocked = scoreDecisions(labels, [block(S + 1_212_250, STOLEN_ARN, 'principal')]);
    // 12.25 s rounds half to even as Python's round() does.
    expect(row(blocked, 'stolen-credentials')).toMatchObject({ contained: true, time_to_contain_s: 12.2 });
    expect(blocked.median_time_to_contain_s).toBe(12.25);
    expect(blocked.blocks_covering_no_attacker).toBe(0); // principals are not networks
  });

  it('reads IPv4-mapped targets as IPv4 and covers rotating IPv6 with its /64', () => {
    const r = scoreDecisions(labels, [
      block(S + 70_000, '::ffff:203.0.113.9'),
      block(S + 1_800_000, '2a0b:1:2:3:ffff::/64'),
      block(S + 700_000, '::ffff:45.1.2.0/120'),
    ]);
    expect(row(r, 'scanner')).toMatchObject({ contained: true, time_to_contain_s: 10 });
    expect(row(r, 'ipv6-rotating-scanner')).toMatchObject({ contained: true, time_to_contain_s: 0 });
    expect(row(r, 'subnet-flood')).toMatchObject({ contained: true, time_to_contain_s: 100 });
    // Python's sorted(ttc)[len // 2] and max.
    expect(r.median_time_to_contain_s).toBe(10);
    expect(r.max_time_to_contain_s).toBe(100);
    expect(formatScore(r)).toBe('hand: detected 3/4 contained 3/4 median_ttc_s=10.0 false_blocks=0 allowlist_violations=0');
    expect(formatScore(scoreDecisions(labels, [block(S, '2a0b:1:2:3::/64')]))).toContain('median_ttc_s=0 ');
  });

  it('counts unreadable decisions and ignores unblocks', () => {
    const { decisions, unreadable } = parseDecisionLines([
      JSON.stringify(block(S + 70_000, '203.0.113.9')).replace('"block"', '"unblock"'),
      'not json', '[1,2]', '',
      JSON.stringify({ time: 'yesterday', action: 'block', target: '203.0.113.9', targetKind: 'ip' }),
      JSON.stringify({ action: 'block', target: '203.0.113.9', targetKind: 'ip' }),
    ].join('\n'));
    expect(unreadable).toBe(2);
    const r = scoreDecisions(labels, decisions, unreadable);
    expect(r.unreadable_decisions).toBe(4);
    expect(r.detected).toBe(0);
  });

  it('prints the per-attacker rows as score.py does', () => {
    const lines = formatScoreDetails(scoreDecisions(labels, [block(S + 630_000, '45.1.2.0/24'), block(S, '66.249.66.1')]));
    expect(lines[0]).toBe(`${'subnet-flood'.padEnd(34)} addrs=  100 detected=True  contained=True  covered=1.00 ttc_s=30.0`);
    expect(lines.at(-1)).toBe('FALSE POSITIVE crawler 66.249.66.1');
  });
});

describe('roundHalfEven', () => {
  it.each([
    [12.25, 1, 12.2], [12.75, 1, 12.8], [12.35, 1, 12.3], [0.0625, 3, 0.062], [0.8125, 3, 0.812], [1 / 3, 3, 0.333],
    [2.675, 2, 2.67], [7, 1, 7],
  ])('round(%d, %d) = %d as in Python', (x, digits, expected) => {
    expect(roundHalfEven(x, digits)).toBe(expected);
  });
});

/** Decisions that exercise every branch of score.py against generated labels. */
function craftedDecisions(mixed: Labels, stolen: Labels): string[] {
  const [scan, fl, stuffing, subnet, rotating] = mixed.attackers;
  const subnetShare = Math.ceil(subnet.ips.length * 0.85);
  const crawler = mixed.benign_notable.find((b) => b.kind === 'crawler')!.ips[0];
  const nat = mixed.benign_notable.find((b) => b.kind === 'nat')!.ips[0];
  const [thief, exfil] = stolen.attackers;
  const owner = stolen.benign_notable.find((b) => b.kind === 'credential-owner')!.ips[0];
  const offsetIso = (ms: number) => new Date(ms + 2 * 3600_000).toISOString().replace('Z', '+02:00');
  const decisions: unknown[] = [
    block(iso(scan.start + 12_250), scan.ips[0]),
    alert(fl.start + 5_000, fl.ips[0]),
    block(offsetIso(stuffing.start + 61_000), `::ffff:${stuffing.ips[0]}`),
    // One by one, latest first: time to contain is the 80th percent of them.
    ...subnet.ips.slice(0, subnetShare).map((ip, i) => block(subnet.start + 100 * (subnetShare - i), ip)),
    block(iso(rotating.start + 90_500), rotating.prefix!.replace('::/64', ':77::/64')),
    block(iso(mixed.start + 1000), crawler),
    alert(mixed.start + 1000, nat),
    block(mixed.start + 2000, '10.20.0.0/16'),
    block(mixed.start + 2000, '10.20.0.9'),
    block(mixed.start + 3000, '198.51.100.7/24'),
    block(mixed.start + 3000, 'arn:aws:iam::123456789012:user/nobody', 'principal'),
    block(mixed.start + 3000, 'not-an-ip'),
    { time: iso(mixed.start), action: 'unblock', target: scan.ips[0], targetKind: 'ip' },
    { time: 'yesterday', action: 'block', target: fl.ips[0], targetKind: 'ip' },
    { action: 'block', target: fl.ips[0], targetKind: 'ip' },
    block(thief.start + 90_000, thief.principal!, 'principal'),
    ...thief.ips.slice(0, Math.floor(thief.ips.length / 2)).map((ip) => block(thief.start + 30_000, ip)),
    alert(iso(exfil.start + 45_000), exfil.principal!, 'principal'),
    block(exfil.start - 600_000, owner),
  ];
  return [...decisions.map((d) => JSON.stringify(d)), 'not json'];
}

describeSharedTools('scoreDecisions agrees with score.py', () => {
  const scorePy = sharedPath('tools/apitraffic/score.py');
  let dir: string;
  let mixed: Labels;
  let stolen: Labels;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cordon-score-'));
    // Six minutes still hold all six attackers (the late ones briefly) and keep score.py's O(n*m) loops quick.
    mixed = simulateEvents({ scenario: 'mixed', minutes: 6, seed: 7 }).labels;
    stolen = simulateEvents({ scenario: 'stolen-credentials', minutes: 10, seed: 7 }).labels;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['mixed', 'stolen-credentials'] as const)('on %s labels and crafted decisions', async (scenario) => {
    const labels = scenario === 'mixed' ? mixed : stolen;
    const labelsPath = join(dir, `${scenario}.labels.json`);
    const decisionsPath = join(dir, `${scenario}.decisions.jsonl`);
    const lines = craftedDecisions(mixed, stolen);
    await writeFile(labelsPath, JSON.stringify(labels, null, 1));
    await writeFile(decisionsPath, lines.join('\n') + '\n');

    const python = JSON.parse(execFileSync('python3', [scorePy, labelsPath, decisionsPath, '--json'], { encoding: 'utf8' }));
    const { decisions, unreadable } = parseDecisionLines(lines.join('\n'));
    const ours = scoreDecisions(labels, decisions, unreadable);
    expect(ours).toEqual(python);
    // The crafted decisions really reach the interesting cases.
    expect(ours.contained).toBeGreaterThan(0);
    expect(ours.benign_notable_blocked.length).toBeGreaterThan(0);
    expect(ours.unreadable_decisions).toBe(3);

    const text = execFileSync('python3', [scorePy, labelsPath, decisionsPath], { encoding: 'utf8' }).trimEnd().split('\n');
    expect(formatScore(ours)).toBe(text.at(-1));
    expect(formatScoreDetails(ours).slice(0, ours.per_attacker.length)).toEqual(text.slice(0, ours.per_attacker.length));
  });
});
