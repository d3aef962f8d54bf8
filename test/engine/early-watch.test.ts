import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { EarlyWatch } from '../../src/engine/early-watch.ts';
import { KeyWindow, type Observation } from '../../src/features/key-window.ts';
import type { WindowPartial } from '../../src/features/windower.ts';
import { T0 } from '../helpers/events.ts';

const cfg = parseConfig({});

/** A part of window `w` holding `n` requests (status `status`) from `ip`. */
function part(w: number, ip: string, n: number, status = 200): WindowPartial {
  const kw = new KeyWindow();
  for (let i = 0; i < n; i++) {
    const o: Observation = { status, bytes: 0, latencyMs: -1, method: 'GET', path: `/p/${i}`, userAgent: 'ua', userAgentSample: 'ua',
      pathHash: i + 1, uaHash: 2, ipHash: 3, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false, trapHit: false };
    kw.add(o);
  }
  return { w, t: w + 1_000, n, e5: 0, i: [[ip, kw.toJSON()]], p: [], u: [] };
}

describe('EarlyWatch: when an open window is worth an early look', () => {
  it('a key becomes due once its running sum reaches a rule\'s unmistakable minimum, then only after it grows by a quarter, six looks at most', () => {
    const watch = new EarlyWatch(cfg);
    const step = cfg.thresholds.floodUnmistakableRequests / 8;
    const due: number[] = [];
    for (let i = 1; i <= 80; i++) {
      watch.observe('s', part(T0, '203.0.113.9', step));
      if (watch.due('s').length) due.push(i);
    }
    // Sums of i/8 of the minimum: first due at 8/8, then at 10/8 (≥ 1.25 × 1), 13/8 (≥ 1.25 × 10/8), 17, 22, 28; no more.
    expect(due).toEqual([8, 10, 13, 17, 22, 28]);
  });

  it('5xx are the server\'s: they do not count towards a flood', () => {
    const watch = new EarlyWatch(cfg);
    watch.observe('s', part(T0, '203.0.113.9', cfg.thresholds.floodUnmistakableRequests, 503));
    expect(watch.due('s')).toEqual([]);
  });

  it('behaviour counters have their own minimum: 404s past twice the scan breadth', () => {
    const watch = new EarlyWatch(cfg);
    watch.observe('s', part(T0, '203.0.113.9', 2 * cfg.thresholds.scanDistinct404 - 1, 404));
    expect(watch.due('s')).toEqual([]);
    watch.observe('s', part(T0, '203.0.113.9', 1, 404));
    expect(watch.due('s')).toEqual([T0]);
  });

  it('one trap hit is enough: the first touch of a trap route makes its window due', () => {
    const watch = new EarlyWatch(cfg);
    watch.observe('s', part(T0, '203.0.113.9', 3));
    expect(watch.due('s')).toEqual([]);
    const touched = part(T0, '203.0.113.9', 1);
    const kw = new KeyWindow();
    kw.add({ status: 404, bytes: 0, latencyMs: -1, method: 'GET', path: '/trap', userAgent: 'ua', userAgentSample: 'ua', pathHash: 9,
      uaHash: 2, ipHash: 3, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false, trapHit: true });
    touched.i = [['203.0.113.9', kw.toJSON()]];
    watch.observe('s', touched);
    expect(watch.due('s')).toEqual([T0]);
    // Looked at; a second touch doubles its evidence (past the 1.25 regrowth), so it is looked at again, then not until it grows.
    watch.observe('s', touched);
    expect(watch.due('s')).toEqual([T0]);
    expect(watch.due('s')).toEqual([]);
  });

  it('keeps scopes and windows apart, and forgets windows once closed', () => {
    const watch = new EarlyWatch(cfg);
    const n = cfg.thresholds.floodUnmistakableRequests;
    watch.observe('a', part(T0, '203.0.113.9', n / 2));
    watch.observe('b', part(T0, '203.0.113.9', n / 2));
    watch.observe('a', part(T0 + 60_000, '203.0.113.9', n / 2));
    expect([watch.due('a'), watch.due('b')]).toEqual([[], []]);
    watch.observe('a', part(T0, '203.0.113.9', n / 2));
    expect(watch.due('a')).toEqual([T0]);
    watch.forget('a', T0 + 60_000);
    // T0 was forgotten: this part starts its sum again (0.6 of the minimum; kept, it would be 1.6 and due again).
    watch.observe('a', part(T0, '203.0.113.9', Math.round(0.6 * n)));
    expect(watch.due('a')).toEqual([]);
    // The open window T0 + 1 min is kept: half of the minimum there, and this brings it to the minimum.
    watch.observe('a', part(T0 + 60_000, '203.0.113.9', n / 2));
    expect(watch.due('a')).toEqual([T0 + 60_000]);
  });

  it('bounds the keys it tracks over every scope and window: past the bound the oldest window gives way, and one window alone stops taking keys', () => {
    const watch = new EarlyWatch(cfg, 10);
    const n = cfg.thresholds.floodUnmistakableRequests;
    for (let i = 0; i < 8; i++) watch.observe('a', part(T0, `198.51.100.${i}`, 1));
    for (let i = 0; i < 8; i++) watch.observe('b', part(T0 + 60_000, `198.51.100.${i}`, 1));
    // Window T0 of scope a (the oldest) gave way to the newer one of scope b.
    expect(watch.trackedKeys()).toBe(8);
    watch.observe('b', part(T0 + 60_000, '203.0.113.9', n));
    expect(watch.due('b')).toEqual([T0 + 60_000]);
    // A late part of the older window never pushes out the newer one: its new key is left to its close.
    watch.observe('a', part(T0, '198.51.100.77', 1));
    expect(watch.trackedKeys()).toBe(10);
    for (let i = 0; i < 5; i++) watch.observe('a', part(T0, `198.51.100.${100 + i}`, 1));
    expect(watch.trackedKeys()).toBe(10);
    // b's window kept its sums: its flood, doubled, is due again.
    watch.observe('b', part(T0 + 60_000, '203.0.113.9', n));
    expect(watch.due('b')).toEqual([T0 + 60_000]);
    // Two shards' windows of the same minute: the one holding more gives way to the other's new keys.
    const shared = new EarlyWatch(cfg, 10);
    for (let i = 0; i < 10; i++) shared.observe('busy', part(T0, `198.51.100.${i}`, 1));
    shared.observe('quiet', part(T0, '203.0.113.9', n));
    expect(shared.due('quiet')).toEqual([T0]);
    // Once one window holds the whole bound, a new key of it is left to the window's close.
    const single = new EarlyWatch(cfg, 10);
    for (let i = 0; i < 10; i++) single.observe('s', part(T0, `198.51.100.${i}`, 1));
    single.observe('s', part(T0, '203.0.113.9', n));
    expect(single.due('s')).toEqual([]);
    single.forget('s', T0 + 60_000);
    expect(single.trackedKeys()).toBe(0);
  });

  it('a malformed part is skipped without throwing (the close counts it)', () => {
    const watch = new EarlyWatch(cfg);
    const bad = { w: T0, t: T0, n: 1, e5: 0, i: [['203.0.113.9', { c: 'x' }], null], p: 'nope', u: [] } as unknown as WindowPartial;
    expect(() => watch.observe('s', bad)).not.toThrow();
    expect(watch.due('s')).toEqual([]);
  });
});
