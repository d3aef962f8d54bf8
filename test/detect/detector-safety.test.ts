import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { typicalRequests } from '../../src/detect/baseline.ts';
import { Detector, POPULATION_STATE_KEYS, type StateView, type WindowAssessment } from '../../src/detect/detector.ts';
import { RULES } from '../../src/detect/rules/index.ts';
import type { AccessEvent } from '../../src/events.ts';
import { Windower } from '../../src/features/windower.ts';
import type { KeyState } from '../../src/ports.ts';
import { ev, MIN, spread, T0 } from '../helpers/events.ts';

// The detector's safety paths, each at its boundary: k of n, unmistakable, incidents, shared egress, the learning
// period, the prefix discount, and the established traffic the blast-radius guard weighs.

type Traffic = (start: number) => AccessEvent[];

/** One detector and its state, fed one window (minute) at a time; past its learning period unless told otherwise. */
function detector(over: Record<string, unknown> = {}) {
  const cfg = parseConfig({ learning: { windows: 0 }, ...over });
  const map = new Map<string, KeyState>();
  const states: StateView = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
  const d = new Detector(cfg);
  const sizeMs = cfg.windows.sizeSeconds * 1000;
  return {
    cfg, map, states,
    /** Assesses the window of minute `m` holding `traffic`. */
    at(m: number, traffic: Traffic): WindowAssessment {
      const w = new Windower({ sizeMs, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
      for (const e of traffic(T0 + m * sizeMs)) w.add(e);
      const closed = w.closeAll();
      expect(closed).toHaveLength(1);
      return d.assess(closed[0], states);
    },
  };
}

const verdict = (a: WindowAssessment, value: string) => a.verdicts.find((v) => v.value === value);
const rules = (a: WindowAssessment, value: string) => verdict(a, value)?.findings.map((f) => f.rule);

/** `n` quiet anonymous clients of 203.0.0.0/24 (2 requests each). */
const crowd = (n = 100): Traffic => (s) => Array.from({ length: n }, (_, i) => spread(2, s, () => ({ ip: `203.0.0.${i + 1}` }))).flat();
const flood = (ip: string, n: number, over: Partial<AccessEvent> = {}): Traffic => (s) => spread(n, s, () => ({ ip, ...over }));
const both = (...ts: Traffic[]): Traffic => (s) => ts.flatMap((t) => t(s));
/** A path scanner: `n` requests for distinct missing paths. */
const scanner = (ip: string, n = 40): Traffic => (s) => spread(n, s, (i) => ({ ip, path: `/wp-${s}-${i}`, status: 404 }));

afterEach(() => vi.restoreAllMocks());

describe('hysteresis: k of the last n windows', () => {
  const heavy = both(crowd(), flood('192.0.2.10', 700));

  it('a finding held in two of three windows acts, also across a window the key was absent from', () => {
    const d = detector();
    const first = d.at(0, heavy);
    expect(verdict(first, '192.0.2.10')).toMatchObject({ act: false, held: '1/3' });
    // A host that does not act yet is not weighed for widening to its prefix either.
    expect(first.establishedByPrefix.size).toBe(0);
    expect(verdict(d.at(1, crowd()), '192.0.2.10')).toBeUndefined();
    expect(verdict(d.at(2, heavy), '192.0.2.10')).toMatchObject({ act: true, held: '2/3' });
    expect(verdict(d.at(3, heavy), '192.0.2.10')).toMatchObject({ act: true, held: '2/3' });
    expect(verdict(d.at(4, heavy), '192.0.2.10')).toMatchObject({ act: true, held: '3/3' });
  });

  it('a finding three windows back has left the last three', () => {
    const d = detector();
    d.at(0, heavy);
    expect(verdict(d.at(3, heavy), '192.0.2.10')).toMatchObject({ act: false, held: '1/3' });
    expect(d.map.get('i:192.0.2.10')!.flags).toBe(0b1001);
  });

  it('a quiet window in between is not a flagged one', () => {
    const d = detector();
    d.at(0, heavy);
    d.at(1, both(crowd(), flood('192.0.2.10', 5)));
    expect(d.map.get('i:192.0.2.10')!.flags).toBe(0b10);
    expect(verdict(d.at(2, heavy), '192.0.2.10')).toMatchObject({ act: true, held: '2/3' });
  });

  it('reads k and n from the config', () => {
    const once = detector({ learning: { windows: 0 }, hysteresis: { k: 1, n: 1 } });
    expect(verdict(once.at(0, heavy), '192.0.2.10')).toMatchObject({ act: true, held: '1/1' });
    const three = detector({ learning: { windows: 0 }, hysteresis: { k: 3, n: 4 } });
    expect(verdict(three.at(0, heavy), '192.0.2.10')).toMatchObject({ act: false, held: '1/4' });
    expect(verdict(three.at(1, heavy), '192.0.2.10')).toMatchObject({ act: false, held: '2/4' });
    expect(verdict(three.at(3, heavy), '192.0.2.10')).toMatchObject({ act: true, held: '3/4' });
    const short = detector({ learning: { windows: 0 }, hysteresis: { k: 2, n: 2 } });
    short.at(0, heavy);
    expect(verdict(short.at(2, heavy), '192.0.2.10')).toMatchObject({ act: false, held: '1/2' });
  });

  it('counts windows of the configured size', () => {
    // Half-minute windows: the crowd and the heavy client spread over 30 seconds.
    const half = (ip: string, n: number): Traffic => (s) => Array.from({ length: n }, (_, i) => ev({ time: s + Math.floor((i * 30_000) / n), ip }));
    const heavy30 = both(...Array.from({ length: 100 }, (_, i) => half(`203.0.0.${i + 1}`, 2)), half('192.0.2.10', 700));
    const d = detector({ learning: { windows: 0 }, windows: { sizeSeconds: 30 } });
    expect(d.at(0, heavy30)).toMatchObject({ start: T0, end: T0 + 30_000 });
    expect(verdict(d.at(2, heavy30), '192.0.2.10')).toMatchObject({ act: true, held: '2/3' });
    expect(d.map.get('i:192.0.2.10')!.flags).toBe(0b101);
  });

  it('an unmistakable finding acts in its first window', () => {
    const d = detector();
    expect(verdict(d.at(0, both(crowd(), flood('192.0.2.11', 1500))), '192.0.2.11')).toMatchObject({ act: true, held: 'unmistakable' });
    expect(verdict(d.at(0, both(crowd(), flood('192.0.2.12', 1499))), '192.0.2.12')).toMatchObject({ act: false, held: '1/3' });
  });

  it('one unmistakable finding among others is enough to act at once', () => {
    const d = detector({ learning: { windows: 0 }, thresholds: { scanDistinct404: 300 } });
    // 1,500 requests, 750 of them 404 over 20 paths: an unmistakable flood, and a path scan (breadth 375, 1.25) that is not.
    const a = d.at(0, both(crowd(), (s) => spread(1500, s, (i) => ({ ip: '192.0.2.14', path: `/x${i % 20}`, status: i % 2 ? 404 : 200 }))));
    expect(verdict(a, '192.0.2.14')!.findings.map((f) => [f.rule, f.unmistakable])).toEqual([['flood', true], ['path-scan', false]]);
    expect(verdict(a, '192.0.2.14')).toMatchObject({ act: true, held: 'unmistakable' });
  });

  it('the score is the highest of the findings', () => {
    const d = detector({ learning: { windows: 0 }, thresholds: { scanDistinct404: 2000 } });
    // 3,000 requests, all 404 over a few paths: a flood (score 5); as a path scan, breadth 1,500 of 2,000: none.
    const few = (s: number) => spread(3000, s, (i) => ({ ip: '192.0.2.13', path: `/x${i % 5}`, status: 404 }));
    expect(rules(d.at(0, both(crowd(), few)), '192.0.2.13')).toEqual(['flood']);
    const d2 = detector({ learning: { windows: 0 }, thresholds: { scanDistinct404: 500 } });
    // Breadth 1,500 over 500: a path scan of score 3 beside the flood of score 5.
    const a = d2.at(0, both(crowd(), few));
    expect(verdict(a, '192.0.2.13')!.findings.map((f) => [f.rule, f.score])).toEqual([['flood', 5], ['path-scan', 3]]);
    expect(verdict(a, '192.0.2.13')!.score).toBe(5);
  });
});

describe('incident: the server failing for everybody blames no client', () => {
  /** `clients` clients of `per` requests each; client i has its first fails[i] answered 503. */
  const outage = (clients: number, per: number, fails: number[]): Traffic => (s) =>
    Array.from({ length: clients }, (_, i) => spread(per, s, (j) => ({ ip: `203.0.1.${i + 1}`, status: j < (fails[i] ?? 0) ? 503 : 200 }))).flat();

  it('from 100 requests, three clients seeing 5xx and a 5xx share of incident5xxShare (0.2), each at its boundary', () => {
    const d = detector();
    // 10 clients × 10 requests; four clients with five 5xx each: 20 of 100.
    expect(d.at(0, outage(10, 10, [5, 5, 5, 5])).incident).toBe(true);
    // Three clients are enough (21 of 100); two are not (20 of 100).
    expect(d.at(1, outage(10, 10, [7, 7, 7])).incident).toBe(true);
    expect(d.at(2, outage(10, 10, [10, 10])).incident).toBe(false);
    // 19 of 100 is not.
    expect(d.at(3, outage(10, 10, [5, 5, 5, 4])).incident).toBe(false);
    // 20 of 99 requests: too few requests to call it.
    expect(d.at(4, both(outage(9, 11, [5, 5, 5, 5]))).incident).toBe(false);
  });

  it('reads incident5xxShare from the config', () => {
    const d = detector({ learning: { windows: 0 }, thresholds: { incident5xxShare: 0.5 } });
    expect(d.at(0, outage(10, 10, [10, 10, 10, 10, 9])).incident).toBe(false);
    expect(d.at(1, outage(10, 10, [10, 10, 10, 10, 10])).incident).toBe(true);
  });

  it('during an incident no flood is found, nothing is learned, and the population history does not grow', () => {
    const d = detector();
    d.at(0, crowd());
    const before = { ...d.map.get('i:203.0.0.1')! };
    const pop = d.map.get('~pop:ip')!.windows;
    const a = d.at(1, both(outage(200, 5, Array(200).fill(5)), crowd(), flood('192.0.2.11', 2000, { status: 200 })));
    expect(a.incident).toBe(true);
    expect(verdict(a, '192.0.2.11')).toBeUndefined();
    expect(d.map.get('i:203.0.0.1')).toMatchObject({ windows: before.windows, reqMean: before.reqMean, lastWindow: T0 + MIN });
    expect(d.map.get('~pop:ip')!.windows).toBe(pop);
    // A client first seen during the incident is kept, without history.
    expect(d.map.get('i:203.0.1.1')).toMatchObject({ windows: 0, lastWindow: T0 + MIN });
  });

  it('a single client provoking 5xx is not an incident, and is blamed by the server-errors rule', () => {
    const d = detector();
    const a = d.at(0, both(crowd(), (s) => spread(100, s, (i) => ({ ip: '192.0.2.30', path: `/p${i % 10}`, status: 500 }))));
    expect(a.incident).toBe(false);
    expect(rules(a, '192.0.2.30')).toEqual(['server-errors']);
  });
});

describe('shared egress (NAT): the rate per principal counts', () => {
  /** `n` principals behind one address, `each` requests each. */
  const nat = (ip: string, n: number, each: number): Traffic => (s) =>
    Array.from({ length: n }, (_, p) => spread(each, s, () => ({ ip, principal: `user-${p}` }))).flat();

  it('120 users behind a NAT sending 20 a minute each are not a flood; five principals at 600 each are', () => {
    const d = detector();
    const a = d.at(0, both(crowd(), nat('192.0.2.40', 120, 20)));
    expect(verdict(a, '192.0.2.40')).toBeUndefined();
    const b = d.at(1, both(crowd(), nat('192.0.2.41', 5, 600)));
    expect(verdict(b, '192.0.2.41')).toMatchObject({ findings: [{ rule: 'flood', score: 1, unmistakable: false }], clients: 5 });
    expect(verdict(b, '192.0.2.41')!.findings[0].detail).toContain('per principal (5 principals)');
  });

  it('counts each principal behind an address as a client of the window', () => {
    const d = detector();
    expect(d.at(0, both(crowd(10), nat('192.0.2.40', 7, 2))).totalClients).toBe(17);
    // An IPv6 /64 counts once, or by its principals.
    expect(d.at(1, both(crowd(10), (s) => spread(8, s, (i) => ({ ip: `2001:db8::${i + 1}`, principal: `u${i % 4}` })))).totalClients).toBe(14);
    expect(d.at(2, both(crowd(10), (s) => spread(8, s, (i) => ({ ip: `2001:db8:0:${i}::1` })))).totalClients).toBe(18);
  });
});

describe('the learning period (config learning.windows)', () => {
  it('lasts until the population has learning.windows windows of history; incidents do not count', () => {
    const d = detector({ learning: { windows: 2 } });
    expect(d.at(0, crowd()).learning).toBe(true);
    expect(d.at(1, crowd()).learning).toBe(true);
    expect(d.at(2, crowd()).learning).toBe(false);
    const e = detector({ learning: { windows: 2 } });
    e.at(0, crowd());
    const failing: Traffic = (s) => Array.from({ length: 50 }, (_, i) => spread(4, s, () => ({ ip: `203.0.0.${i + 1}`, status: 503 }))).flat();
    expect(e.at(1, failing).incident).toBe(true);
    expect(e.at(2, crowd()).learning).toBe(true);
    expect(e.at(3, crowd()).learning).toBe(false);
  });

  it('a volume finding on a key without history is held as learning: not acting, learned, no hysteresis bit', () => {
    const d = detector({ learning: { windows: 60 } });
    d.at(0, crowd());
    const a = d.at(1, both(crowd(), flood('192.0.2.50', 700)));
    expect(a.learning).toBe(true);
    // Quiet keys make no verdict while learning either.
    expect(a.verdicts.map((v) => v.value)).toEqual(['192.0.2.50']);
    expect(verdict(a, '192.0.2.50')).toMatchObject({ act: false, learning: true, held: 'learning (1/60 windows)' });
    expect(d.map.get('i:192.0.2.50')).toMatchObject({ windows: 1, flags: 0, reqMean: Math.log1p(700) });
    expect(verdict(d.at(2, both(crowd(), flood('192.0.2.50', 700))), '192.0.2.50')).toMatchObject({ act: false, held: 'learning (2/60 windows)' });
  });

  it('an unmistakable flood of one address, or of one principal, acts at once', () => {
    const d = detector({ learning: { windows: 60 } });
    const a = d.at(0, both(crowd(), flood('192.0.2.51', 1500), flood('192.0.2.52', 1500, { principal: 'svc' })));
    expect(verdict(a, '192.0.2.51')).toMatchObject({ act: true, held: 'unmistakable' });
    expect(verdict(a, '192.0.2.51')).not.toHaveProperty('learning');
    expect(a.verdicts.find((v) => v.kind === 'principal' && v.value === 'svc')).toMatchObject({ act: true, held: 'unmistakable' });
  });

  it('a behaviour finding beside a volume one acts at once', () => {
    const d = detector({ learning: { windows: 60 }, hysteresis: { k: 1, n: 3 }, thresholds: { scanDistinct404: 300 } });
    // 700 requests, all 404 over 20 paths: a flood (1.17) and a path scan (breadth 350, 1.17), neither unmistakable.
    const a = d.at(0, both(crowd(), (s) => spread(700, s, (i) => ({ ip: '192.0.2.53', path: `/x${i % 20}`, status: 404 }))));
    expect(rules(a, '192.0.2.53')).toEqual(['flood', 'path-scan']);
    expect(verdict(a, '192.0.2.53')).toMatchObject({ act: true, held: '1/3' });
    expect(verdict(a, '192.0.2.53')).not.toHaveProperty('learning');
  });

  it('a key with a trusted history of its own is judged as usual while the population is still learning', () => {
    const d = detector({ learning: { windows: 60 }, baseline: { minWindows: 2 } });
    d.at(0, both(crowd(), flood('192.0.2.54', 20)));
    d.at(1, both(crowd(), flood('192.0.2.54', 20)));
    const a = d.at(2, both(crowd(), flood('192.0.2.54', 1499)));
    expect(a.learning).toBe(true);
    expect(verdict(a, '192.0.2.54')).toMatchObject({ act: false, held: '1/3', baseline: { meanRequests: 20, windows: 2 } });
    // Its history is what the rules read: 75 times its usual is also a volume anomaly.
    expect(rules(a, '192.0.2.54')).toEqual(['flood', 'volume-anomaly']);
    expect(verdict(a, '192.0.2.54')).not.toHaveProperty('learning');
    expect(verdict(d.at(3, both(crowd(), flood('192.0.2.54', 1499))), '192.0.2.54')).toMatchObject({ act: true, held: '2/3' });
  });

  /** A subnet flood: 40 hosts of 198.18.7.0/24 at 45 requests each (1,800, unmistakable as a prefix). */
  const subnet: Traffic = (s) => Array.from({ length: 40 }, (_, i) => spread(45, s, () => ({ ip: `198.18.7.${i + 1}` }))).flat();

  it('a prefix new after baseline.minWindows windows of population acts on an unmistakable flood; earlier, it is held', () => {
    const late = detector({ learning: { windows: 60 }, baseline: { minWindows: 3 } });
    for (let m = 0; m < 3; m++) late.at(m, crowd());
    expect(verdict(late.at(3, both(crowd(), subnet)), '198.18.7.0/24')).toMatchObject({ act: true, held: 'unmistakable' });
    const early = detector({ learning: { windows: 60 }, baseline: { minWindows: 3 } });
    for (let m = 0; m < 2; m++) early.at(m, crowd());
    expect(verdict(early.at(2, both(crowd(), subnet)), '198.18.7.0/24')).toMatchObject({ act: false, learning: true,
      held: 'learning (2/60 windows)' });
  });

  it('a prefix seen before is held however late it floods, and so is a flood not unmistakable', () => {
    const d = detector({ learning: { windows: 60 }, baseline: { minWindows: 3 } });
    const neighbours: Traffic = (s) => [...spread(2, s, () => ({ ip: '198.18.7.1' })), ...spread(2, s, () => ({ ip: '198.18.7.2' }))];
    // The /24 was seen (one window, not enough to be trusted), then floods after the population's first windows.
    for (let m = 0; m < 4; m++) d.at(m, m === 2 ? both(crowd(), neighbours) : crowd());
    expect(d.map.get('p:198.18.7.0/24')!.windows).toBe(1);
    expect(verdict(d.at(4, both(crowd(), subnet)), '198.18.7.0/24')).toMatchObject({ act: false, learning: true });
    const e = detector({ learning: { windows: 60 }, baseline: { minWindows: 3 } });
    for (let m = 0; m < 4; m++) e.at(m, crowd());
    const modest: Traffic = (s) => Array.from({ length: 20 }, (_, i) => spread(45, s, () => ({ ip: `198.18.9.${i + 1}` }))).flat();
    expect(verdict(e.at(4, both(crowd(), modest)), '198.18.9.0/24')).toMatchObject({ act: false, learning: true });
  });

  it('while learning, the neighbours of an acting host count with all their traffic, held ones too; flagged hosts do not', () => {
    const traffic = both(crowd(), scanner('192.0.2.1'), scanner('192.0.2.2'), flood('192.0.2.50', 700), flood('192.0.2.60', 10));
    const learning = detector({ learning: { windows: 60 } }).at(0, traffic);
    expect(verdict(learning, '192.0.2.1')?.act).toBe(true);
    expect(verdict(learning, '192.0.2.50')).toMatchObject({ learning: true });
    expect([...learning.establishedByPrefix]).toEqual([['192.0.2.0/24', 710]]);
    // A neighbour with a trusted history counts up to its usual rate (20), not all it sends (30), even while learning.
    // (A tiny alpha, past the baseline's warm-up of ten windows, keeps its usual at 20 whether or not this window is
    // learned first.)
    const d = detector({ learning: { windows: 60 }, baseline: { minWindows: 2, alpha: 0.001 } });
    for (let m = 0; m < 12; m++) d.at(m, both(crowd(), flood('192.0.2.60', 20)));
    const trusted = d.at(12, both(crowd(), scanner('192.0.2.1'), flood('192.0.2.60', 30)));
    expect(trusted.learning).toBe(true);
    expect(typicalRequests(d.map.get('i:192.0.2.60')!)).toBeCloseTo(20, 1);
    expect(trusted.establishedByPrefix.get('192.0.2.0/24')).toBeCloseTo(20, 1);
    // Past the learning period, neighbours without a trusted history weigh nothing.
    const after = detector().at(0, traffic);
    expect([...after.establishedByPrefix]).toEqual([['192.0.2.0/24', 0]]);
  });
});

describe('while learning, an acting prefix weighs neighbours seen in earlier windows with all their traffic', () => {
  /** Hosts .1-.4 of 198.18.7.0/24, nine missing paths each: no finding for any of them, a path scan for the /24. */
  const quietScanners: Traffic = (s) => [1, 2, 3, 4].flatMap((h) => spread(9, s, (i) => ({ ip: `198.18.7.${h}`, path: `/q-${s}-${h}-${i}`, status: 404 })));

  it('trusted hosts up to their usual, untrusted ones seen before with all they send, new and flagged ones nothing', () => {
    // Twelve windows of history: past the baseline's warm-up (ten windows), the tiny alpha holds .50's usual at 20.
    const history = (m: number): Traffic => both(crowd(),
      flood('198.18.7.50', 20), // in every window: trusted from the fourth (baseline.minWindows 3)
      m === 11 ? flood('198.18.7.51', 5) : () => [], // seen in one earlier window only
      m >= 10 ? flood('198.18.7.60', 2) : () => []); // seen in two earlier windows, a scanner in the last
    const now: Traffic = both(crowd(), quietScanners, flood('198.18.7.50', 30), flood('198.18.7.51', 7), flood('198.18.7.52', 3),
      scanner('198.18.7.60', 12));
    const run = (learningWindows: number) => {
      const d = detector({ learning: { windows: learningWindows }, baseline: { minWindows: 3, alpha: 0.001 } });
      for (let m = 0; m < 12; m++) d.at(m, history(m));
      return d.at(12, now);
    };
    const learning = run(60);
    expect(learning.learning).toBe(true);
    expect(verdict(learning, '198.18.7.60')).toMatchObject({ findings: [{ rule: 'path-scan' }] });
    const prefix = verdict(learning, '198.18.7.0/24')!;
    expect(prefix).toMatchObject({ act: true, findings: [{ rule: 'path-scan' }] });
    // .50 up to its usual 20, .51 all its 7; .52 (new), .60 (flagged) and the scanners (new) nothing.
    expect(prefix.establishedRequests).toBeCloseTo(27, 1);
    // Past the learning period, only the trusted count.
    const after = verdict(run(0), '198.18.7.0/24')!;
    expect(after).toMatchObject({ act: true });
    expect(after.establishedRequests).toBeCloseTo(20, 1);
  });

  it('a neighbour held for learning is not flagged: it counts; hosts that came with the flood do not', () => {
    const principal = (s: number) => Array.from({ length: 20 }, (_, i) => spread(1, s, () => ({ ip: `203.0.0.${i + 1}`, principal: '198.18.8.53' }))).flat();
    const d = detector({ learning: { windows: 60 }, baseline: { minWindows: 4 } });
    d.at(0, crowd());
    d.at(1, crowd());
    // .53 alone in its /24 (which is therefore not judged, and unknown) for two windows.
    d.at(2, both(crowd(), flood('198.18.8.53', 2)));
    d.at(3, both(crowd(), flood('198.18.8.53', 2)));
    const newcomers: Traffic = (s) => Array.from({ length: 40 }, (_, i) => spread(45, s, () => ({ ip: `198.18.8.${i + 100}` }))).flat();
    const a = d.at(4, both(crowd(), flood('198.18.8.53', 700), newcomers, principal));
    expect(verdict(a, '198.18.8.53')).toMatchObject({ learning: true, act: false });
    // A principal named like the neighbour, flagged, does not stand for it.
    expect(a.verdicts.find((v) => v.kind === 'principal')).toMatchObject({ value: '198.18.8.53', act: true });
    expect(verdict(a, '198.18.8.0/24')).toMatchObject({ act: true, held: 'unmistakable', establishedRequests: 700 });
  });
});

describe('prefix discount: a prefix explained by its flagged hosts does not act', () => {
  /** `n` hosts of 198.18.5.0/24 (from .11) sending `each` requests. */
  const hosts = (n: number, each: number): Traffic => (s) =>
    Array.from({ length: n }, (_, i) => spread(each, s, () => ({ ip: `198.18.5.${i + 11}` }))).flat();

  it('flagged hosts carrying half its traffic or more explain it', () => {
    const d = detector();
    const half = d.at(0, both(crowd(), flood('198.18.5.1', 800), hosts(4, 200)));
    expect(verdict(half, '198.18.5.1')).toMatchObject({ act: false, findings: [{ rule: 'flood' }] });
    expect(verdict(half, '198.18.5.0/24')).toMatchObject({ act: false, held: 'explained by 50% flagged hosts' });
    const less = d.at(1, both(crowd(), flood('198.18.6.1', 799), (s) => Array.from({ length: 4 }, (_, i) =>
      spread(i === 0 ? 201 : 200, s, () => ({ ip: `198.18.6.${i + 11}` }))).flat()));
    expect(verdict(less, '198.18.6.0/24')).toMatchObject({ act: true, held: 'unmistakable' });
    expect(verdict(less, '198.18.6.0/24')!.features.requests).toBe(1600);
  });

  it('a host flagged without acting still explains its prefix', () => {
    const d = detector({ learning: { windows: 0 }, hysteresis: { k: 1, n: 1 } });
    // The host's finding (a flood of 700) acts at once here (k = 1); with a 2-of-3 detector it would wait, and still explain.
    const a = detector().at(0, both(crowd(), flood('198.18.5.1', 900), hosts(4, 200)));
    expect(verdict(a, '198.18.5.1')).toMatchObject({ act: false });
    expect(verdict(a, '198.18.5.0/24')).toMatchObject({ act: false, held: 'explained by 53% flagged hosts' });
    expect(verdict(d.at(0, both(crowd(), flood('198.18.5.1', 900), hosts(4, 200))), '198.18.5.0/24')?.act).toBe(false);
  });

  it('needs aggregation.ipv4Offenders hosts (3), read from the config', () => {
    const k1 = { learning: { windows: 0 }, hysteresis: { k: 1, n: 1 } };
    expect(verdict(detector(k1).at(0, both(crowd(), hosts(3, 250))), '198.18.5.0/24')).toMatchObject({ act: true, held: '1/1' });
    expect(verdict(detector(k1).at(0, both(crowd(), hosts(2, 400))), '198.18.5.0/24'))
      .toMatchObject({ act: false, held: 'explained by 0% flagged hosts' });
    const two = detector({ ...k1, aggregation: { ipv4Offenders: 2 } });
    expect(verdict(two.at(0, both(crowd(), hosts(2, 400))), '198.18.5.0/24')).toMatchObject({ act: true });
    const four = detector({ ...k1, aggregation: { ipv4Offenders: 4 } });
    expect(verdict(four.at(0, both(crowd(), hosts(3, 250))), '198.18.5.0/24')).toMatchObject({ act: false });
  });

  it('an IPv6 prefix is not discounted: a client rotates freely inside its /64', () => {
    const d = detector();
    const v6: Traffic = (s) => [...spread(800, s, () => ({ ip: '2001:db8:5::1' })),
      ...Array.from({ length: 4 }, (_, i) => spread(200, s, () => ({ ip: `2001:db8:5::${i + 11}` }))).flat()];
    const a = d.at(0, both(crowd(), v6));
    expect(verdict(a, '2001:db8:5::1')?.act).toBe(false);
    expect(verdict(a, '2001:db8:5::/64')).toMatchObject({ act: true, held: 'unmistakable', clients: 1 });
    expect(a.establishedByPrefix.size).toBe(0);
    // An acting IPv6 host is blocked with its /64 (src/contain/decide.ts): what that would cut is measured, its
    // neighbours' established traffic (none here: the neighbour has no history).
    const b = d.at(1, both(crowd(), flood('2001:db8:6::1', 3000), flood('2001:db8:6::2', 5)));
    expect(verdict(b, '2001:db8:6::1')).toMatchObject({ act: true });
    expect([...b.establishedByPrefix]).toEqual([['2001:db8:6::/64', 0]]);
  });

  it("while learning, an IPv6 host's /64 counts only neighbours seen before: the attacker's own rotating addresses never hold back its block", () => {
    const d = detector({ learning: { windows: 60 } });
    const rotating: Traffic = (s) => Array.from({ length: 30 }, (_, i) => spread(15, s, () => ({ ip: `2001:db8:9::${(i + 2).toString(16)}` }))).flat();
    const a = d.at(0, both(crowd(), scanner('2001:db8:9::1'), rotating));
    expect(verdict(a, '2001:db8:9::1')?.act).toBe(true);
    expect(a.establishedByPrefix.get('2001:db8:9::/64')).toBe(0);
  });

  it("an acting IPv6 host's /64 counts its trusted neighbours up to their usual rate (the /64 is what a block cuts)", () => {
    const d = detector({ learning: { windows: 0 }, baseline: { minWindows: 2 } });
    const usual: Traffic = both(crowd(), flood('2001:db8:7::20', 40));
    d.at(0, usual);
    d.at(1, usual);
    const a = d.at(2, both(crowd(), flood('2001:db8:7::1', 3000), flood('2001:db8:7::20', 40)));
    expect(verdict(a, '2001:db8:7::1')).toMatchObject({ act: true });
    expect(a.establishedByPrefix.get('2001:db8:7::/64')).toBeCloseTo(40, 0);
  });

  it('a prefix holding a single host is left to that host; from two hosts it is judged', () => {
    const d = detector();
    expect(verdict(d.at(0, both(crowd(), flood('198.18.5.1', 3000))), '198.18.5.0/24')).toBeUndefined();
    const a = d.at(1, both(crowd(), flood('198.18.5.1', 3000), flood('198.18.5.2', 1)));
    expect(verdict(a, '198.18.5.0/24')).toMatchObject({ act: false, held: 'explained by 100% flagged hosts', clients: 2 });
  });
});

describe('established traffic: what a block would cut (the blast-radius guard)', () => {
  const cfg = { learning: { windows: 0 }, baseline: { minWindows: 2 } };

  it('an acting host counts up to its usual rate if trusted, nothing otherwise; so do its /24 neighbours', () => {
    const d = detector(cfg);
    const usual: Traffic = both(crowd(), flood('192.0.2.7', 20), flood('192.0.2.8', 20), flood('192.0.2.9', 20));
    d.at(0, usual);
    d.at(1, usual);
    const a = d.at(2, both(crowd(), flood('192.0.2.7', 3000), flood('192.0.2.8', 20), flood('192.0.2.9', 5), flood('192.0.2.100', 50)));
    // Two windows of history: exactly baseline.minWindows, trusted.
    expect(verdict(a, '192.0.2.7')).toMatchObject({ act: true, held: 'unmistakable', establishedRequests: 20,
      baseline: { meanRequests: 20, windows: 2 } });
    // Itself up to its usual 20, .8 its usual 20, .9 the 5 it sent; .100 is new and counts nothing.
    expect([...a.establishedByPrefix]).toEqual([['192.0.2.0/24', 45]]);
    // The /24 is explained by its host and does not act: its collateral is not measured.
    expect(verdict(a, '192.0.2.0/24')).toMatchObject({ act: false, establishedRequests: 0 });
  });

  it('a flagged trusted key below its usual rate counts its requests; an untrusted one nothing', () => {
    const d = detector({ ...cfg, hysteresis: { k: 1, n: 1 } });
    d.at(0, both(crowd(), flood('192.0.2.7', 200)));
    d.at(1, both(crowd(), flood('192.0.2.7', 200)));
    const a = d.at(2, both(crowd(), scanner('192.0.2.7', 40), scanner('192.0.2.8', 40)));
    expect(verdict(a, '192.0.2.7')).toMatchObject({ act: true, establishedRequests: 40 });
    expect(verdict(a, '192.0.2.8')).toMatchObject({ act: true, establishedRequests: 0 });
    expect(verdict(a, '192.0.2.8')).not.toHaveProperty('baseline.meanRequests');
    expect([...a.establishedByPrefix]).toEqual([['192.0.2.0/24', 40]]);
  });

  it('an acting prefix counts its trusted hosts up to their usual rate', () => {
    const d = detector(cfg);
    const regulars = (from: number): Traffic => (s) => Array.from({ length: 6 - from }, (_, i) => spread(20, s, () => ({ ip: `198.18.7.${i + from}` }))).flat();
    d.at(0, both(crowd(), regulars(1)));
    d.at(1, both(crowd(), regulars(1)));
    // .1 turns scanner (flagged, its two windows of history exactly enough to trust), .2-.5 go on as usual, 55 new hosts flood.
    const attackers: Traffic = (s) => Array.from({ length: 55 }, (_, i) => spread(45, s, () => ({ ip: `198.18.7.${i + 6}` }))).flat();
    const a = d.at(2, both(crowd(), scanner('198.18.7.1', 40), regulars(2), attackers));
    expect(verdict(a, '198.18.7.1')).toMatchObject({ findings: [{ rule: 'path-scan' }], establishedRequests: 20 });
    expect(verdict(a, '198.18.7.0/24')).toMatchObject({ act: true, held: 'unmistakable', establishedRequests: 100, clients: 60 });
    // Only the rules for prefixes look at a prefix (principal-many-ips would see 60 addresses).
    expect(rules(a, '198.18.7.0/24')).toEqual(['flood']);
  });
});

describe('what a verdict and an assessment carry', () => {
  it('the window timeline: requests, errors, 404s, refusals, addresses', () => {
    const d = detector();
    const a = d.at(0, both(crowd(10), scanner('192.0.2.1', 12), flood('192.0.2.2', 7, { status: 401 }), flood('192.0.2.3', 3, { status: 403 }),
      flood('192.0.2.4', 5, { status: 502 }), flood('192.0.2.5', 4, { status: 429 })));
    expect(a.timeline).toEqual({ start: T0, requests: 51, errors: 31, notFound: 12, authFailures: 10, uniqueIps: 15 });
    expect(a).toMatchObject({ start: T0, end: T0 + MIN, incident: false, ruleErrors: 0, learning: false });
    expect(a.closedAt).toBe(T0 + MIN);
    // 15 IPs, their 2 prefixes (203.0.0.0/24 and 192.0.2.0/24), no principals.
    expect(a.keys).toBe(17);
  });

  it('a verdict carries its evidence: features, baseline, the population median, samples and clients', () => {
    const d = detector({ learning: { windows: 0 }, baseline: { minWindows: 1 } });
    // Clients answering for 2 requests each: a 5xx is not theirs.
    const crowd3: Traffic = (s) => Array.from({ length: 20 }, (_, i) => spread(3, s, (j) => ({ ip: `203.0.0.${i + 1}`, status: j === 0 ? 500 : 200 }))).flat();
    d.at(0, both(crowd3, flood('192.0.2.1', 16)));
    const a = d.at(1, both(crowd3, (s) => spread(30, s, (i) => ({ ip: '192.0.2.1', path: `/x/${i}`, status: 404, userAgent: `ua-${i % 3}` }))));
    const v = verdict(a, '192.0.2.1')!;
    expect(v).toMatchObject({ kind: 'ip', findings: [{ rule: 'path-scan' }], populationMedianRequests: 2, clients: 1,
      baseline: { meanRequests: 16, windows: 1 } });
    expect(v.features).toMatchObject({ requests: 30, notFound: 30, distinctNotFoundPaths: 30 });
    expect(v.samples).toEqual({ paths: ['/x/0', '/x/1', '/x/2'], userAgents: ['ua-0', 'ua-1'] });
    expect(v).not.toHaveProperty('learning');
  });

  it('keys are kept under their kind, the population under ~pop, and only kinds present in the window', () => {
    const d = detector();
    d.at(0, both(crowd(3), flood('198.51.100.1', 2, { principal: 'alice' }), flood('198.51.100.2', 2)));
    expect([...d.map.keys()].sort()).toEqual(['i:198.51.100.1', 'i:198.51.100.2', 'i:203.0.0.1', 'i:203.0.0.2', 'i:203.0.0.3',
      'p:198.51.100.0/24', 'p:203.0.0.0/24', 'u:alice', ...POPULATION_STATE_KEYS].sort());
    const e = detector();
    e.at(0, crowd(3));
    // The usual failed logins across the API are kept whatever the window holds: a window without any teaches it too.
    expect([...e.map.keys()].filter((k) => k.startsWith('~')).sort()).toEqual(['~pop:failed-logins', '~pop:ip', '~pop:prefix']);
    expect(e.map.get('~pop:ip')).toMatchObject({ windows: 1, reqMean: Math.log1p(2), lastWindow: T0 });
    e.at(3, crowd(3));
    expect(e.map.get('~pop:ip')).toMatchObject({ windows: 2, lastWindow: T0 + 3 * MIN });
    expect(POPULATION_STATE_KEYS).toEqual(['~pop:ip', '~pop:prefix', '~pop:principal', '~pop:failed-logins']);
  });

  it('quiet keys are learned from what they answer for, at the configured alpha', () => {
    const d = detector({ learning: { windows: 0 }, baseline: { alpha: 0.5 } });
    d.at(0, flood('192.0.2.1', 9, { bytes: 99, status: 200 }));
    d.at(1, (s) => spread(12, s, (i) => ({ ip: '192.0.2.1', bytes: 0, status: i < 3 ? 503 : 200 })));
    const s = d.map.get('i:192.0.2.1')!;
    expect(s.windows).toBe(2);
    expect(s.reqMean).toBeCloseTo(Math.log1p(9), 12);
    expect(s.bytesMean).toBeCloseTo((Math.log1p(9 * 99) + Math.log1p(0)) / 2, 12);
    expect(s.ipsMean).toBe(1);
    expect(s.lastWindow).toBe(T0 + MIN);
  });

  it('a key first seen in a window gets a state from that window', () => {
    const d = detector();
    d.at(5, flood('192.0.2.1', 3));
    expect(d.map.get('i:192.0.2.1')).toMatchObject({ windows: 1, flags: 0, lastWindow: T0 + 5 * MIN, reqMean: Math.log1p(3) });
    const a = d.at(6, both(crowd(), flood('192.0.2.2', 2000)));
    expect(d.map.get('i:192.0.2.2')).toMatchObject({ windows: 0, flags: 1, lastWindow: T0 + 6 * MIN });
    expect(verdict(a, '192.0.2.2')).not.toHaveProperty('baseline.windows');
  });

  it('principals: one client each, judged on their own and against their population', () => {
    const d = detector();
    const a = d.at(0, both(crowd(), (s) => spread(40, s, (i) => ({ ip: `198.51.100.${i + 1}`, principal: 'stolen' }))));
    const v = a.verdicts.find((x) => x.kind === 'principal')!;
    expect(v).toMatchObject({ value: 'stolen', clients: 1, findings: [{ rule: 'principal-many-ips', score: 4, unmistakable: true }] });
    expect(v.establishedRequests).toBe(0);
  });

  it('a rule that throws is counted and skipped; the other rules still find', () => {
    const scan = RULES.find((r) => r.name === 'path-scan')!;
    vi.spyOn(scan, 'evaluate').mockImplementation(() => { throw new Error('broken rule'); });
    const d = detector();
    const a = d.at(0, both(crowd(10), scanner('192.0.2.1', 700)));
    expect(rules(a, '192.0.2.1')).toEqual(['flood']);
    // Thrown once per key the rule looks at: 11 IPs and the crowd's /24 (the scanner's /24 holds one host: not judged).
    expect(a.ruleErrors).toBe(12);
  });

  it('a rule turned off finds nothing; one counting still finds', () => {
    const off = detector({ learning: { windows: 0 }, rules: { flood: 'off' } });
    expect(verdict(off.at(0, both(crowd(), flood('192.0.2.1', 3000))), '192.0.2.1')).toBeUndefined();
    const count = detector({ learning: { windows: 0 }, rules: { flood: 'count' } });
    expect(rules(count.at(0, both(crowd(), flood('192.0.2.1', 3000))), '192.0.2.1')).toEqual(['flood']);
  });
});

describe('the population lift: a flash crowd is not theft', () => {
  /** 20 principals, each on its own address, at `each` requests; `target` at `mine`. */
  const principals = (each: number, mine = each): Traffic => (s) => Array.from({ length: 20 }, (_, i) =>
    spread(i === 0 ? mine : each, s, () => ({ ip: `198.51.100.${i + 1}`, principal: `p${i}` }))).flat();
  const cfg = { learning: { windows: 0 }, baseline: { minWindows: 2 } };
  const principalVerdict = (a: WindowAssessment) => a.verdicts.find((v) => v.kind === 'principal' && v.value === 'p0');

  it('after five windows of population history, a principal rising with everyone is not flagged', () => {
    const d = detector(cfg);
    for (let m = 0; m < 5; m++) d.at(m, principals(10));
    expect(principalVerdict(d.at(5, principals(30, 200)))).toBeUndefined();
    const e = detector(cfg);
    for (let m = 0; m < 5; m++) e.at(m, principals(10));
    const f = principalVerdict(e.at(5, principals(30, 400)))?.findings[0];
    expect(f).toMatchObject({ rule: 'principal-volume' });
    expect(f!.detail).toMatch(/while everyone is 2\.8x busier$/);
  });

  it('with four windows of population history, the lift is not trusted yet', () => {
    const d = detector(cfg);
    for (let m = 0; m < 4; m++) d.at(m, principals(10));
    expect(principalVerdict(d.at(4, principals(30, 200)))?.findings[0]).toMatchObject({ rule: 'principal-volume', score: 2 });
  });
});

describe('keys of different kinds never stand for one another', () => {
  /** Principal `name` used from 20 of the crowd's addresses: principal-many-ips, unmistakable (score 2). */
  const stolen = (name: string): Traffic => (s) => Array.from({ length: 20 }, (_, i) => spread(1, s, () => ({ ip: `203.0.0.${i + 1}`, principal: name }))).flat();
  const principalVerdict = (a: WindowAssessment, name: string) => a.verdicts.find((v) => v.kind === 'principal' && v.value === name);

  it('a flagged principal named like a host does not explain that host\'s prefix', () => {
    const d = detector();
    const hosts: Traffic = (s) => Array.from({ length: 4 }, (_, i) => spread(i === 0 ? 201 : 200, s, () => ({ ip: `198.18.6.${i + 11}` }))).flat();
    const a = d.at(0, both(crowd(), stolen('198.18.6.11'), flood('198.18.6.1', 799), hosts));
    expect(principalVerdict(a, '198.18.6.11')).toMatchObject({ act: true });
    expect(verdict(a, '198.18.6.0/24')).toMatchObject({ act: true, held: 'unmistakable' });
  });

  it('while learning, a flagged principal named like a neighbour does not take the neighbour out of the count', () => {
    const d = detector({ learning: { windows: 60 } });
    const a = d.at(0, both(crowd(), stolen('192.0.2.60'), scanner('192.0.2.1'), flood('192.0.2.60', 10)));
    expect(principalVerdict(a, '192.0.2.60')).toMatchObject({ act: true });
    expect([...a.establishedByPrefix]).toEqual([['192.0.2.0/24', 10]]);
  });

  it('an acting principal named like a prefix or a host is not measured as either', () => {
    const d = detector({ learning: { windows: 0 }, baseline: { minWindows: 2 } });
    const regulars: Traffic = both(flood('198.18.7.1', 20), flood('198.18.7.2', 20));
    d.at(0, both(crowd(), regulars));
    d.at(1, both(crowd(), regulars));
    const a = d.at(2, both(crowd(), regulars, stolen('198.18.7.0/24'), stolen('198.18.7.1')));
    expect(principalVerdict(a, '198.18.7.0/24')).toMatchObject({ act: true, establishedRequests: 0 });
    // Nor is one named like a host widened to the host's prefix.
    expect(principalVerdict(a, '198.18.7.1')).toMatchObject({ act: true });
    expect(a.establishedByPrefix.size).toBe(0);
  });
});
