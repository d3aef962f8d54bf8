import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Distinct } from '../../src/features/distinct.ts';
import { hash32 } from '../../src/features/hash.ts';
import { Windower } from '../../src/features/windower.ts';
import { ev, MIN, T0 } from '../helpers/events.ts';

const opts = { sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 };

describe('Windower', () => {
  it('closes a window once the watermark (newest event − lateness) passes its end', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 10_000 }));
    w.add(ev({ time: T0 + MIN + 4_000 }));
    expect(w.closeReady()).toEqual([]);
    w.add(ev({ time: T0 + MIN + 5_000 }));
    const [closed] = w.closeReady();
    expect(closed).toMatchObject({ start: T0, end: T0 + MIN, closedAt: T0 + MIN + 5_000 });
    expect(closed.keys.byIp.get('198.51.100.7')!.ip.requests).toBe(1);
  });

  it('accepts events within the lateness and counts later ones as late, folded into the oldest open window', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 30_000 }));
    w.add(ev({ time: T0 + MIN + 3_000 }));
    w.add(ev({ time: T0 + 59_000 })); // 4 s late: still its own window
    w.add(ev({ time: T0 + MIN + 6_000 }));
    const [first] = w.closeReady();
    expect(first.keys.requests).toBe(2);
    w.add(ev({ time: T0 + 1_000 })); // its window closed: late
    expect(w.late).toBe(1);
    const [second] = w.closeAll();
    expect(second.keys.requests).toBe(3);
  });

  it('marks the keys of a partial folded in late: a key made only of them is foldedOnly, one also seen on time is not', () => {
    const stage1 = (events: ReturnType<typeof ev>[]) => {
      const w = new Windower(opts);
      for (const e of events) w.add(e);
      return w.drainPartials().map((p) => JSON.parse(JSON.stringify(p)));
    };
    const w = new Windower(opts);
    for (const p of stage1([ev({ time: T0 + 30_000, ip: '192.0.2.1' }), ev({ time: T0 + MIN + 30_000, ip: '192.0.2.1' })])) w.addPartial(p);
    for (const p of stage1([ev({ time: T0 + MIN + 40_000, ip: '192.0.2.3' })])) w.addPartial(p);
    expect(w.closeReady().map((c) => c.start)).toEqual([T0]);
    // Minute 0 is decided: its stragglers go to minute 1, where 192.0.2.1 was seen on time and 192.0.2.2 was not.
    for (const p of stage1([ev({ time: T0 + 40_000, ip: '192.0.2.1' }), ev({ time: T0 + 50_000, ip: '192.0.2.2' })])) w.addPartial(p);
    // A part detect folded itself (stored with its own start, added to the window it was folded into).
    for (const p of stage1([ev({ time: T0 + 45_000, ip: '192.0.2.4' })])) w.addPartial({ ...p, w: T0 + MIN }, undefined, true);
    const [minute1] = w.closeAll();
    const ip = (a: string) => minute1.keys.byIp.get(a)!.ip;
    expect(ip('192.0.2.1')).toMatchObject({ requests: 2, lateRequests: 1, foldedOnly: false });
    expect(ip('192.0.2.2')).toMatchObject({ requests: 1, lateRequests: 1, foldedOnly: true });
    expect(ip('192.0.2.4')).toMatchObject({ requests: 1, lateRequests: 1, foldedOnly: true });
    // The /24 holds both: not folded only.
    expect(minute1.keys.byPrefix.get('192.0.2.0/24')!.foldedOnly).toBe(false);
  });

  it('keys every event by IP, prefix and principal', () => {
    const w = new Windower(opts);
    w.add(ev({ ip: '192.0.2.1', principal: 'arn:aws:iam::1:user/a' }));
    w.add(ev({ ip: '192.0.2.2', principal: 'arn:aws:iam::1:user/a' }));
    w.add(ev({ ip: '2001:db8:1:2::5' }));
    const [c] = w.closeAll();
    expect([...c.keys.byPrefix.keys()].sort()).toEqual(['192.0.2.0/24', '2001:db8:1:2::/64']);
    expect(c.keys.byPrefix.get('192.0.2.0/24')!.ips.size).toBe(2);
    expect(c.keys.byPrincipal.get('arn:aws:iam::1:user/a')!.features()).toMatchObject({ requests: 2, distinctIps: 2 });
  });

  it('partials merged in stage 2 give the same features as one pass (any split of the events)', () => {
    fc.assert(fc.property(fc.array(fc.record({ ip: fc.constantFrom('192.0.2.1', '192.0.2.2', '198.51.100.9'), status: fc.constantFrom(200, 404, 401, 503),
      path: fc.constantFrom('/a', '/b', '/.env', '/login'), method: fc.constantFrom('GET', 'POST'), offset: fc.integer({ min: 0, max: 59_999 }) }), { maxLength: 80 }),
    fc.integer({ min: 0, max: 80 }), (rows, cut) => {
      const events = rows.map((r) => ev({ ip: r.ip, status: r.status, path: r.path, method: r.method, time: T0 + r.offset }));
      const whole = new Windower(opts);
      for (const e of events) whole.add(e);
      const a = new Windower(opts);
      const b = new Windower(opts);
      events.forEach((e, i) => (i < cut ? a : b).add(e));
      const merged = new Windower(opts);
      for (const p of [...a.drainPartials(), ...b.drainPartials()]) merged.addPartial(JSON.parse(JSON.stringify(p)));
      const [x] = whole.closeAll();
      const [y] = merged.closeAll();
      if (!x) return y === undefined;
      const f = (c: typeof x) => Object.fromEntries([...c.keys.byIp].map(([k, v]) => [k, v.ip.features()]));
      expect(f(y)).toEqual(f(x));
      expect(y.keys.requests).toBe(x.keys.requests);
      return true;
    }), { numRuns: 60 });
  });
});

describe('Distinct', () => {
  it('is exact up to its cap and within a few percent beyond, in bounded memory', () => {
    for (const n of [1, 10, 64, 65, 200, 1000, 20_000]) {
      const d = new Distinct();
      for (let i = 0; i < n; i++) d.add(hash32(`/path/${i}`));
      if (n <= 64) expect(d.size).toBe(n);
      else expect(Math.abs(d.size - n) / n).toBeLessThan(0.2);
      const ser = d.toJSON();
      expect(typeof ser === 'string' ? ser.length : ser.length).toBeLessThanOrEqual(400);
    }
  });

  it('merges and round-trips', () => {
    const a = new Distinct();
    const b = new Distinct();
    for (let i = 0; i < 50; i++) a.add(hash32(`a${i}`));
    for (let i = 0; i < 50; i++) b.add(hash32(`b${i}`));
    a.merge(Distinct.fromJSON(b.toJSON()));
    expect(Math.abs(a.size - 100)).toBeLessThan(15);
    expect(() => Distinct.fromJSON('AAAA')).toThrow(TypeError);
  });
});
