import { describe, expect, it } from 'vitest';
import { type CordonConfig, parseConfig } from '../../src/config.ts';
import { AlertMemory, Allowlist, decideWindow } from '../../src/contain/decide.ts';
import { LedgerBook } from '../../src/contain/ledger-book.ts';
import { Detector, type StateView, type WindowAssessment } from '../../src/detect/detector.ts';
import { Windower } from '../../src/features/windower.ts';
import type { AccessEvent } from '../../src/events.ts';
import type { KeyState } from '../../src/ports.ts';
import { MIN, spread, T0 } from '../helpers/events.ts';

/** 200 quiet clients (2 requests each), spread over a few /24s. */
const crowd = (s: number): AccessEvent[] =>
  Array.from({ length: 200 }, (_, i) => spread(2, s, () => ({ ip: `203.0.${Math.floor(i / 100)}.${(i % 100) + 1}` }))).flat();

/** Forty servers of a partner /24, each calling twenty times a minute: 800 requests a minute from the /24. */
const partner = (s: number): AccessEvent[] =>
  Array.from({ length: 40 }, (_, i) => spread(20, s, () => ({ ip: `192.0.2.${i + 10}`, path: `/orders/${i}` }))).flat();

/** A subnet flood: sixty hosts of one /24 at 45 requests a minute each (2,700 a minute, unmistakable in volume). */
const subnetFlood = (s: number): AccessEvent[] =>
  Array.from({ length: 60 }, (_, i) => spread(45, s, () => ({ ip: `198.18.7.${i + 1}`, path: '/search' }))).flat();

/** Runs `minutes` windows through one detector and decides each, as the engine does. */
function run(minutes: number, traffic: (minute: number, start: number) => AccessEvent[], cfg: CordonConfig) {
  const map = new Map<string, KeyState>();
  const states: StateView = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
  const detector = new Detector(cfg);
  const book = new LedgerBook();
  const allowlist = new Allowlist(cfg.allowlist);
  const alerts = new AlertMemory();
  const assessments: WindowAssessment[] = [];
  const decisions = [];
  for (let m = 0; m < minutes; m++) {
    const w = new Windower({ sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 });
    for (const e of traffic(m, T0 + m * MIN)) w.add(e);
    for (const closed of w.closeAll()) {
      const a = detector.assess(closed, states);
      assessments.push(a);
      decisions.push(...decideWindow(a, book, cfg, allowlist, alerts).decisions);
    }
  }
  return { assessments, decisions, states: map, book };
}

const defaults = parseConfig({});

describe('learning period for fresh state', () => {
  it('is on by default for an hour of windows', () => {
    expect(defaults.learning.windows).toBe(60);
  });

  it('a busy partner /24 present from the first minute is alerted while learning and never blocked, before or after', () => {
    const r = run(75, (_, s) => [...crowd(s), ...partner(s)], defaults);
    expect(r.decisions.filter((d) => d.action === 'block')).toEqual([]);
    const alerts = r.decisions.filter((d) => d.target === '192.0.2.0/24');
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.every((d) => d.action === 'alert' && d.evidence.heldBack === 'learning' && d.reasons.includes('flood'))).toBe(true);
    // Its traffic was learned meanwhile: after the learning period it is normal for this /24.
    expect(r.assessments[0].learning).toBe(true);
    expect(r.assessments[74].learning).toBe(false);
    expect(r.states.get('p:192.0.2.0/24')!.windows).toBeGreaterThanOrEqual(60);
    expect(r.assessments.slice(65).flatMap((a) => a.verdicts).filter((v) => v.value === '192.0.2.0/24')).toEqual([]);
  });

  it('without a learning period the same /24 is blocked as a subnet flood in minute two (the day-one bug)', () => {
    const r = run(3, (_, s) => [...crowd(s), ...partner(s)], parseConfig({ learning: { windows: 0 } }));
    expect(r.decisions.find((d) => d.action === 'block')?.target).toBe('192.0.2.0/24');
  });

  it('a flood of one address unmistakable in volume is blocked at once while learning', () => {
    const r = run(2, (m, s) => [...crowd(s), ...(m === 1 ? spread(3000, s, () => ({ ip: '192.0.2.200' })) : [])], defaults);
    expect(r.decisions).toMatchObject([{ action: 'block', target: '192.0.2.200', reasons: ['flood'] }]);
  });

  it('a client above the flood threshold but not unmistakable is alerted, learned and not blocked while learning', () => {
    const r = run(4, (_, s) => [...crowd(s), ...spread(700, s, () => ({ ip: '192.0.2.201' }))], defaults);
    expect(r.decisions.filter((d) => d.action === 'block')).toEqual([]);
    expect(r.decisions[0]).toMatchObject({ action: 'alert', target: '192.0.2.201', evidence: { heldBack: 'learning' } });
    expect(r.states.get('i:192.0.2.201')!.windows).toBe(4);
  });

  it('after learning, the same client needs k of n windows as usual and is blocked', () => {
    const cfg = parseConfig({ learning: { windows: 3 } });
    const r = run(8, (m, s) => [...crowd(s), ...(m >= 4 ? spread(700, s, () => ({ ip: '192.0.2.202' })) : [])], cfg);
    expect(r.decisions.filter((d) => d.action === 'block').map((d) => [d.target, d.time])).toEqual([
      ['192.0.2.202', new Date(T0 + 6 * MIN).toISOString()]]);
  });

  it('a subnet flood arriving after the first windows is blocked while learning', () => {
    const r = run(14, (m, s) => [...crowd(s), ...(m >= 12 ? subnetFlood(s) : [])], defaults);
    expect(r.assessments[12].learning).toBe(true);
    expect(r.decisions.filter((d) => d.action === 'block').map((d) => d.target)).toEqual(['198.18.7.0/24']);
  });

  it('a subnet flood present from the first minute is held as an alert, not blocked, while learning', () => {
    const r = run(3, (_, s) => [...crowd(s), ...subnetFlood(s)], defaults);
    expect(r.decisions.filter((d) => d.action === 'block')).toEqual([]);
    expect(r.decisions.some((d) => d.target === '198.18.7.0/24' && d.evidence.heldBack === 'learning')).toBe(true);
  });

  it('behaviour rules act at once: a path scanner with no history is blocked in the first minutes', () => {
    const scan = (s: number) => spread(60, s, (i) => ({ ip: '192.0.2.203', path: `/.git/probe-${s}-${i}`, status: 404 }));
    const r = run(3, (_, s) => [...crowd(s), ...scan(s)], defaults);
    const block = r.decisions.find((d) => d.action === 'block');
    expect(block).toMatchObject({ target: '192.0.2.203', reasons: expect.arrayContaining(['path-scan']) });
    expect(Date.parse(block!.time)).toBeLessThanOrEqual(T0 + 2 * MIN + 5000);
  });

  it('while learning, three scanners of a /24 are not widened to the /24 over busy neighbours without history', () => {
    const scanners = (s: number) => [1, 2, 3].flatMap((h) => spread(60, s, (i) => ({ ip: `192.0.2.${h}`, path: `/wp-${s}-${i}`, status: 404 })));
    const r = run(4, (_, s) => [...crowd(s), ...partner(s), ...scanners(s)], defaults);
    const blocked = r.decisions.filter((d) => d.action === 'block').map((d) => d.target).sort();
    expect(blocked).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    // The neighbours' traffic, all of it while nobody has history, is what widening would cut.
    const a = r.assessments[1];
    expect(a.establishedByPrefix.get('192.0.2.0/24')).toBe(800);
    expect(800 / a.timeline.requests).toBeGreaterThan(defaults.blastRadiusShare);
  });

  it('while learning, three scanners alone in their /24 are widened to it', () => {
    const scanners = (s: number) => [1, 2, 3].flatMap((h) => spread(60, s, (i) => ({ ip: `198.51.100.${h}`, path: `/wp-${s}-${i}`, status: 404 })));
    const r = run(4, (_, s) => [...crowd(s), ...scanners(s)], defaults);
    expect(r.decisions.filter((d) => d.action === 'block').map((d) => d.target)).toContain('198.51.100.0/24');
  });
});
