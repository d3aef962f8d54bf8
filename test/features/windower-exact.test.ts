import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash32 } from '../../src/features/hash.ts';
import { KeyWindow } from '../../src/features/key-window.ts';
import { type ClosedWindow, toPartial, type WindowPartial, Windower, WindowKeys } from '../../src/features/windower.ts';
import { ev, MIN, T0 } from '../helpers/events.ts';

const opts = { sizeMs: MIN, latenessMs: 5000, ipv4Prefix: 24, ipv6Prefix: 64 };
const IP = '198.51.100.7';

const starts = (closed: ClosedWindow[]) => closed.map((c) => c.start - T0);
const ipWindow = (c: ClosedWindow, ip = IP) => c.keys.byIp.get(ip)!.ip;
const mergeInto = (map: Map<string, KeyWindow>, key: string, kw: KeyWindow): void => {
  const had = map.get(key);
  if (had) had.merge(kw);
  else map.set(key, kw);
};

describe('Windower: window boundaries and time', () => {
  it('starts a window at a multiple of its size, for any time, negative ones included', () => {
    const w = new Windower(opts);
    expect(w.windowStartOf(T0)).toBe(T0);
    expect(w.windowStartOf(T0 + 1)).toBe(T0);
    expect(w.windowStartOf(T0 + MIN - 1)).toBe(T0);
    expect(w.windowStartOf(T0 + MIN)).toBe(T0 + MIN);
    expect(w.windowStartOf(0)).toBe(0);
    expect(w.windowStartOf(59_999)).toBe(0);
    expect(w.windowStartOf(-1)).toBe(-MIN);
    expect(w.windowStartOf(-MIN)).toBe(-MIN);
    expect(w.windowStartOf(-MIN - 1)).toBe(-2 * MIN);
    const five = new Windower({ ...opts, sizeMs: 5 * MIN });
    expect(five.windowStartOf(T0 + 7 * MIN)).toBe(T0 + 5 * MIN);
    expect(five.windowStartOf(-1)).toBe(-5 * MIN);
  });

  it('counts the last millisecond of a window in it, and the next one in the next window', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 }));
    w.add(ev({ time: T0 + MIN - 1 }));
    w.add(ev({ time: T0 + MIN }));
    w.add(ev({ time: T0 + 2 * MIN - 1 }));
    w.add(ev({ time: T0 + 2 * MIN }));
    const closed = w.closeAll();
    expect(starts(closed)).toEqual([0, MIN, 2 * MIN]);
    expect(closed.map((c) => c.keys.requests)).toEqual([2, 2, 1]);
    expect(closed.map((c) => c.end - c.start)).toEqual([MIN, MIN, MIN]);
  });

  it('goes back to an earlier open window for an event still within the lateness', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + MIN + 1_000 }));
    w.add(ev({ time: T0 + MIN - 1 }));
    w.add(ev({ time: T0 + MIN + 2_000 }));
    w.add(ev({ time: T0 + 30_000 }));
    expect(w.late).toBe(0);
    expect(w.closeAll().map((c) => [c.start - T0, c.keys.requests])).toEqual([[0, 2], [MIN, 2]]);
  });

  it('the watermark is the newest event time minus the lateness, and an older event never moves it back', () => {
    const w = new Windower(opts);
    expect(w.maxTime).toBe(-Infinity);
    w.add(ev({ time: T0 + 2 * MIN }));
    w.add(ev({ time: T0 + MIN + 59_000 }));
    expect(w.maxTime).toBe(T0 + 2 * MIN);
    expect(w.watermark).toBe(T0 + 2 * MIN - 5000);
    expect(w.events).toBe(2);
  });

  it('closes exactly the windows whose end the watermark reached, oldest first, stamped with the newest event time', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 2 * MIN + 10 }));
    w.add(ev({ time: T0 + MIN + 10 }));
    w.add(ev({ time: T0 + 10 }));
    w.add(ev({ time: T0 + 3 * MIN + 4_999 }));
    expect(starts(w.closeReady())).toEqual([0, MIN]); // watermark T0 + 3 min − 1 ms: the third window stays open
    expect(w.closedUntil).toBe(T0 + 2 * MIN);
    w.add(ev({ time: T0 + 3 * MIN + 5_000 }));
    const [third] = w.closeReady();
    expect(third).toMatchObject({ start: T0 + 2 * MIN, end: T0 + 3 * MIN, closedAt: T0 + 3 * MIN + 5_000 });
    expect(w.closedUntil).toBe(T0 + 3 * MIN);
    // At the end of input every window closes, stamped no earlier than its own end.
    const [last] = w.closeAll();
    expect(last).toMatchObject({ start: T0 + 3 * MIN, end: T0 + 4 * MIN, closedAt: T0 + 4 * MIN });
    expect(w.closeAll()).toEqual([]);
  });

  it('closes several windows at once in order, whatever order they opened in', () => {
    const w = new Windower({ ...opts, latenessMs: 10 * MIN });
    for (const m of [3, 1, 4, 0, 2]) w.add(ev({ time: T0 + m * MIN }));
    const closed = w.closeAll();
    expect(starts(closed)).toEqual([0, MIN, 2 * MIN, 3 * MIN, 4 * MIN]);
    expect(closed.map((c) => c.closedAt)).toEqual([T0 + 4 * MIN, T0 + 4 * MIN, T0 + 4 * MIN, T0 + 4 * MIN, T0 + 5 * MIN]);
    expect(w.closedUntil).toBe(T0 + 5 * MIN);
  });

  it('folds a late event into the oldest open window', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 10 }));
    w.add(ev({ time: T0 + MIN + 5_000 }));
    expect(starts(w.closeReady())).toEqual([0]);
    w.add(ev({ time: T0 + 3 * MIN + 10 })); // opens a newer window, while T0 + 1 min is still open
    w.add(ev({ time: T0 + 20, ip: '192.0.2.1' })); // late
    w.add(ev({ time: T0 + 30, ip: '192.0.2.1' })); // late again
    expect(w.late).toBe(2);
    const closed = w.closeAll();
    expect(starts(closed)).toEqual([MIN, 3 * MIN]);
    expect(closed[0].keys.requests).toBe(3);
    expect(closed[0].keys.byIp.get('192.0.2.1')!.ip.requests).toBe(2);
    expect(closed[1].keys.byIp.has('192.0.2.1')).toBe(false);
  });

  it('folds a late event into the oldest open window, whichever opened first', () => {
    const w = new Windower({ ...opts, latenessMs: 10 * MIN });
    w.add(ev({ time: T0 + 10 }));
    w.add(ev({ time: T0 + 12 * MIN }));
    expect(starts(w.closeReady())).toEqual([0]);
    w.add(ev({ time: T0 + MIN + 10 })); // opened after the 12th minute's window, but older
    w.add(ev({ time: T0 + 20, ip: '192.0.2.1' })); // late
    expect(w.late).toBe(1);
    const closed = w.closeAll();
    expect(closed.map((c) => [c.start - T0, c.keys.requests])).toEqual([[MIN, 2], [12 * MIN, 1]]);
    expect(closed[0].keys.byIp.has('192.0.2.1')).toBe(true);
  });

  it('folds a late event, with nothing open, into a window at the end of what closed', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 10 }));
    w.closeAll();
    expect(w.closedUntil).toBe(T0 + MIN);
    w.add(ev({ time: T0 + 20 }));
    w.add(ev({ time: T0 + 30 }));
    expect(w.late).toBe(2);
    w.add(ev({ time: T0 + MIN + 1 })); // on time, and in that same window
    const closed = w.closeAll();
    expect(starts(closed)).toEqual([MIN]);
    expect(closed[0].keys.requests).toBe(3);
    expect(w.late).toBe(2);
  });

  it('a window that closed is never written again: the next event in its time range is late', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 10 }));
    const [first] = w.closeAll();
    w.add(ev({ time: T0 + 11 })); // same window as the previous event, which has closed
    expect(first.keys.requests).toBe(1);
    expect(w.late).toBe(1);
  });
});

describe('Windower: what each event counts', () => {
  it('counts requests and 5xx per window, from 500 up', () => {
    const w = new Windower(opts);
    for (const status of [200, 404, 499, 500, 503]) w.add(ev({ time: T0 + 1, status }));
    const [c] = w.closeAll();
    expect([c.keys.requests, c.keys.status5xx]).toEqual([5, 2]);
    expect(ipWindow(c).features()).toMatchObject({ requests: 5, status4xx: 2, status5xx: 2, notFound: 1 });
  });

  it('takes bytes and latency from the event, a negative size as 0', () => {
    const w = new Windower(opts);
    w.add(ev({ bytes: 100, latencyMs: 10 }));
    w.add(ev({ bytes: -1, latencyMs: -1 }));
    w.add(ev({ bytes: 0, latencyMs: 21 }));
    expect(ipWindow(w.closeAll()[0]).features()).toMatchObject({ bytes: 100, meanLatencyMs: 16 });
  });

  it('counts POSTs to a login path, attack payloads and attack-tool agents', () => {
    const w = new Windower(opts);
    w.add(ev({ method: 'POST', path: '/login' }));
    w.add(ev({ method: 'GET', path: '/login' }));
    w.add(ev({ method: 'POST', path: '/items' }));
    w.add(ev({ method: 'post', path: '/login' }));
    w.add(ev({ path: '/../../etc/passwd' }));
    w.add(ev({ userAgent: 'sqlmap/1.7' }));
    w.add(ev({ userAgent: 'sqlmap/1.7' }));
    const f = ipWindow(w.closeAll()[0]).features();
    expect(f).toMatchObject({ requests: 7, loginPosts: 1, attackPayloads: 1, scannerAgentRequests: 2, distinctUserAgents: 2, distinctPaths: 4 });
  });

  it('an event without an agent counts no agent, and is no attack tool even after one', () => {
    const w = new Windower(opts);
    w.add(ev({ userAgent: 'nikto' }));
    w.add(ev({ userAgent: '' }));
    w.add(ev({ userAgent: '', ip: '192.0.2.9' }));
    const [c] = w.closeAll();
    expect(ipWindow(c).features()).toMatchObject({ requests: 2, scannerAgentRequests: 1, distinctUserAgents: 1 });
    expect(ipWindow(c).sampleUserAgents).toEqual(['nikto']);
    expect(ipWindow(c, '192.0.2.9').features()).toMatchObject({ requests: 1, scannerAgentRequests: 0, distinctUserAgents: 0 });
    expect(ipWindow(c, '192.0.2.9').sampleUserAgents).toEqual([]);
  });

  it('keeps agent samples cut to length, the same text for every window', () => {
    const long = 'Mozilla/5.0 ' + 'z'.repeat(300);
    const w = new Windower(opts);
    w.add(ev({ userAgent: long }));
    w.add(ev({ userAgent: long, ip: '192.0.2.1' }));
    w.add(ev({ userAgent: long }));
    w.add(ev({ userAgent: 'curl/8' }));
    const [c] = w.closeAll();
    expect(ipWindow(c).sampleUserAgents).toEqual([long.slice(0, 200), 'curl/8']);
    expect(ipWindow(c).features().distinctUserAgents).toBe(2);
    expect(ipWindow(c, '192.0.2.1').sampleUserAgents).toEqual([long.slice(0, 200)]);
  });

  it("reads each event's own agent and principal when a host switches between them in a window", () => {
    const long = 'Mozilla/5.0 ' + 'q'.repeat(300);
    const w = new Windower(opts);
    const seq: [string, string][] = [['curl/8', 'alice'], ['sqlmap/1.7', 'bob'], ['curl/8', 'alice'], [long, 'alice'], [long, ''],
      ['sqlmap/1.7', 'bob'], ['', 'carol']];
    for (const [userAgent, principal] of seq) w.add(ev({ userAgent, principal }));
    const [c] = w.closeAll();
    expect(ipWindow(c).features()).toMatchObject({ requests: 7, scannerAgentRequests: 2, distinctUserAgents: 3, distinctPrincipals: 3 });
    expect(ipWindow(c).sampleUserAgents).toEqual(['curl/8', 'sqlmap/1.7']);
    expect([...c.keys.byPrincipal].map(([k, kw]) => [k, kw.requests, kw.scannerAgentRequests])).toEqual([['alice', 3, 0], ['bob', 2, 2], ['carol', 1, 0]]);
  });

  it("an agent that is another's cut sample is its own agent, never taken for the longer one", () => {
    const long = 'Mozilla/5.0 sqlmap ' + 'x'.repeat(200);
    const scanner = 'Mozilla/5.0 ' + 'y'.repeat(188) + 'sqlmap';
    const w = new Windower(opts);
    w.add(ev({ userAgent: long }));
    w.add(ev({ userAgent: long.slice(0, 200) }));
    w.add(ev({ userAgent: scanner, ip: '192.0.2.1' }));
    w.add(ev({ userAgent: scanner.slice(0, 200), ip: '192.0.2.1' }));
    const [c] = w.closeAll();
    expect(ipWindow(c).features()).toMatchObject({ distinctUserAgents: 2, scannerAgentRequests: 2 });
    expect(ipWindow(c, '192.0.2.1').features()).toMatchObject({ distinctUserAgents: 2, scannerAgentRequests: 1 });
  });

  it("counts any sequence of a host's agents and principals as events seen one at a time would", () => {
    // A fresh windower per event never reuses what a host's last event worked out; merged in order, its windows are the reference.
    const long = 'Mozilla/5.0 (X11) ' + 'w'.repeat(190) + ' sqlmap/1.7';
    const agents = ['', 'curl/8', 'sqlmap/1.7', long, long.slice(0, 200), long.slice(0, 199), 'Mozilla/5.0 (X11) ' + 'w'.repeat(182)];
    const principals = ['', 'alice', 'bob', 'arn:aws:iam::123456789012:user/alice'];
    const event = fc.record({ a: fc.nat({ max: agents.length - 1 }), p: fc.nat({ max: principals.length - 1 }), host: fc.nat({ max: 1 }) });
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 30 }), (events) => {
      const evs = events.map((x) => ev({ userAgent: agents[x.a], principal: principals[x.p], ip: x.host ? '192.0.2.1' : IP }));
      const together = new Windower(opts);
      for (const e of evs) together.add(e);
      const [c] = together.closeAll();
      const hosts = new Map<string, KeyWindow>();
      const byPrincipal = new Map<string, KeyWindow>();
      for (const e of evs) {
        const alone = new Windower(opts);
        alone.add(e);
        const [one] = alone.closeAll();
        for (const [ip, entry] of one.keys.byIp) mergeInto(hosts, ip, entry.ip);
        for (const [p, kw] of one.keys.byPrincipal) mergeInto(byPrincipal, p, kw);
      }
      expect(new Map([...c.keys.byIp].map(([ip, entry]) => [ip, entry.ip.toJSON()]))).toEqual(new Map([...hosts].map(([ip, kw]) => [ip, kw.toJSON()])));
      expect(new Map([...c.keys.byPrincipal].map(([p, kw]) => [p, kw.toJSON()]))).toEqual(new Map([...byPrincipal].map(([p, kw]) => [p, kw.toJSON()])));
    }), { numRuns: 300 });
  });

  it('keeps the IP hash of each client, so a prefix or principal counts its distinct clients', () => {
    const w = new Windower(opts);
    w.add(ev({ ip: '192.0.2.1', principal: 'alice' }));
    w.add(ev({ ip: '192.0.2.2', principal: 'alice' }));
    w.add(ev({ ip: '192.0.2.1', principal: 'alice' }));
    const [c] = w.closeAll();
    expect(c.keys.byIp.get('192.0.2.1')!.hash).toBe(hash32('192.0.2.1'));
    expect(c.keys.byPrefix.get('192.0.2.0/24')!.toJSON().d[4]).toEqual([hash32('192.0.2.1'), hash32('192.0.2.2')]);
    expect(c.keys.byPrincipal.get('alice')!.features()).toMatchObject({ requests: 3, distinctIps: 2, distinctPrincipals: 1 });
    expect(c.keys.byIp.get('192.0.2.1')!.ip.toJSON().d[3]).toEqual([hash32('alice')]);
  });

  it('keys anonymous events by IP and prefix only', () => {
    const w = new Windower(opts);
    w.add(ev({ principal: '' }));
    w.add(ev({ principal: 'bob' }));
    w.add(ev({ principal: '' }));
    const [c] = w.closeAll();
    expect([...c.keys.byPrincipal.keys()]).toEqual(['bob']);
    expect(c.keys.byPrincipal.get('bob')!.requests).toBe(1);
    expect(ipWindow(c).features()).toMatchObject({ requests: 3, distinctPrincipals: 1 });
    expect(c.keys.keyCount).toBe(3);
  });

  it('an anonymous event after a principal\'s carries no principal', () => {
    const w = new Windower(opts);
    w.add(ev({ ip: '192.0.2.1', principal: 'bob' }));
    w.add(ev({ ip: '192.0.2.2', principal: '' }));
    const [c] = w.closeAll();
    expect(c.keys.byIp.get('192.0.2.2')!.ip.features().distinctPrincipals).toBe(0);
    expect(c.keys.byIp.get('192.0.2.1')!.ip.features().distinctPrincipals).toBe(1);
    expect(c.keys.byPrefix.get('192.0.2.0/24')!.features().distinctPrincipals).toBe(1);
  });

  it('keys prefixes at the configured lengths, IPv4 and IPv6, and links every host to its prefix', () => {
    const w = new Windower({ ...opts, ipv4Prefix: 16, ipv6Prefix: 48 });
    w.add(ev({ ip: '192.0.2.1' }));
    w.add(ev({ ip: '192.0.77.1' }));
    w.add(ev({ ip: '192.1.2.1' }));
    w.add(ev({ ip: '2001:db8:1:2::5' }));
    w.add(ev({ ip: '2001:db8:1:ffff:aaaa:bbbb:cccc:dddd' }));
    w.add(ev({ ip: '2001:db8:2::1' }));
    const [c] = w.closeAll();
    expect([...c.keys.byPrefix.keys()]).toEqual(['192.0.0.0/16', '192.1.0.0/16', '2001:db8:1::/48', '2001:db8:2::/48']);
    expect(c.keys.byPrefix.get('192.0.0.0/16')!.features()).toMatchObject({ requests: 2, distinctIps: 2 });
    expect(c.keys.byPrefix.get('2001:db8:1::/48')!.features()).toMatchObject({ requests: 2, distinctIps: 2 });
    expect(c.keys.byIp.get('192.0.77.1')!.prefix).toBe(c.keys.byPrefix.get('192.0.0.0/16'));
    expect(c.keys.byIp.get('2001:db8:1:ffff:aaaa:bbbb:cccc:dddd')!.prefix).toBe(c.keys.byPrefix.get('2001:db8:1::/48'));
    expect(c.keys.keyCount).toBe(6 + 4);
  });

  it('counts the keys held open', () => {
    const w = new Windower(opts);
    expect(w.openKeys).toBe(0);
    w.add(ev({ time: T0, ip: '192.0.2.1', principal: 'a' }));
    w.add(ev({ time: T0, ip: '192.0.2.2' }));
    expect(w.openKeys).toBe(2 + 1 + 1);
    w.add(ev({ time: T0 + MIN, ip: '198.51.100.1' }));
    expect(w.openKeys).toBe(4 + 2);
    w.closeAll();
    expect(w.openKeys).toBe(0);
  });
});

describe('Windower: partials', () => {
  it('serialises every key of a window, and the newest event time', () => {
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 5, ip: '192.0.2.1', principal: 'p', status: 503 }));
    w.add(ev({ time: T0 + 6, ip: '192.0.2.2' }));
    const [p] = w.drainPartials();
    expect(p.w).toBe(T0);
    expect(p.t).toBe(T0 + 6);
    expect([p.n, p.e5]).toEqual([2, 1]);
    expect(p.i.map(([k]) => k)).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(p.p.map(([k]) => k)).toEqual(['192.0.2.0/24']);
    expect(p.u.map(([k]) => k)).toEqual(['p']);
    expect(p.i[0][1].c[0]).toBe(1);
    expect(p.p[0][1].c[0]).toBe(2);
    expect(p.u[0][1].c.slice(0, 3)).toEqual([1, 0, 1]);
    const keys = new WindowKeys(T0);
    expect(toPartial(keys, 7)).toEqual({ w: T0, t: 7, n: 0, e5: 0, i: [], p: [], u: [] });
  });

  it('drains windows oldest first, and starts afresh after', () => {
    const w = new Windower({ ...opts, latenessMs: 10 * MIN });
    for (const m of [2, 0, 1]) w.add(ev({ time: T0 + m * MIN }));
    expect(w.drainPartials().map((p) => p.w - T0)).toEqual([0, MIN, 2 * MIN]);
    expect(w.openKeys).toBe(0);
    expect(w.drainPartials()).toEqual([]);
    w.add(ev({ time: T0 + 2 * MIN + 1 })); // the window of the previous event, drained: a new one
    const again = w.drainPartials();
    expect(again.map((p) => [p.w - T0, p.n])).toEqual([[2 * MIN, 1]]);
  });

  it('merges partials into their window: counts, prefixes, hosts linked to their prefix, principals', () => {
    const a = new Windower(opts);
    a.add(ev({ time: T0 + 1, ip: '192.0.2.1', principal: 'p', status: 500 }));
    a.add(ev({ time: T0 + 2, ip: '192.0.2.2' }));
    const b = new Windower(opts);
    b.add(ev({ time: T0 + 3, ip: '192.0.2.1', principal: 'p' }));
    b.add(ev({ time: T0 + 4, ip: '203.0.113.9', principal: 'q', status: 502 }));
    const merged = new Windower(opts);
    for (const p of [...a.drainPartials(), ...b.drainPartials()]) merged.addPartial(JSON.parse(JSON.stringify(p)) as WindowPartial);
    expect(merged.maxTime).toBe(T0 + 4);
    const [c] = merged.closeAll();
    expect(c.start).toBe(T0);
    expect([c.keys.requests, c.keys.status5xx]).toEqual([4, 2]);
    expect(c.keys.byIp.get('192.0.2.1')!.ip.requests).toBe(2);
    expect(c.keys.byIp.get('192.0.2.1')!.hash).toBe(hash32('192.0.2.1'));
    expect(c.keys.byPrefix.get('192.0.2.0/24')!.features()).toMatchObject({ requests: 3, distinctIps: 2 });
    expect(c.keys.byIp.get('192.0.2.2')!.prefix).toBe(c.keys.byPrefix.get('192.0.2.0/24'));
    expect(c.keys.byIp.get('203.0.113.9')!.prefix).toBe(c.keys.byPrefix.get('203.0.113.0/24'));
    expect(c.keys.byPrincipal.get('p')!.requests).toBe(2);
    expect(c.keys.byPrincipal.get('q')!.requests).toBe(1);
    expect(merged.late).toBe(0);
  });

  it('links a host without its prefix in the partial to a prefix of the configured length, created once', () => {
    const host = new KeyWindow();
    const partial: WindowPartial = {
      w: T0, t: T0 + 1, n: 2, e5: 0,
      i: [['10.1.2.3', host.toJSON()], ['10.1.9.9', host.toJSON()], ['2001:db8:1:2::1', host.toJSON()]],
      p: [], u: [],
    };
    const w = new Windower({ ...opts, ipv4Prefix: 16, ipv6Prefix: 32 });
    w.addPartial(partial);
    const [c] = w.closeAll();
    expect([...c.keys.byPrefix.keys()]).toEqual(['10.1.0.0/16', '2001:db8::/32']);
    expect(c.keys.byIp.get('10.1.2.3')!.prefix).toBe(c.keys.byPrefix.get('10.1.0.0/16'));
    expect(c.keys.byIp.get('10.1.9.9')!.prefix).toBe(c.keys.byPrefix.get('10.1.0.0/16'));
  });

  it('keeps the newest time across partials, and folds a late partial into the oldest open window', () => {
    const src = new Windower(opts);
    src.add(ev({ time: T0 + 10 }));
    const [early] = src.drainPartials();
    src.add(ev({ time: T0 + 2 * MIN + 10 }));
    const [newer] = src.drainPartials();
    const w = new Windower(opts);
    w.addPartial(newer);
    w.addPartial(early); // older producer time: the newest stays
    expect(w.maxTime).toBe(T0 + 2 * MIN + 10);
    w.add(ev({ time: T0 + 3 * MIN + 10 }));
    const closed = w.closeReady();
    expect(starts(closed)).toEqual([0]);
    w.addPartial(early); // its window closed: late, folded into the oldest open (T0 + 2 min)
    expect(w.late).toBe(1);
    const rest = w.closeAll();
    expect(rest.map((c) => [c.start - T0, c.keys.requests])).toEqual([[2 * MIN, 2], [3 * MIN, 1]]);
  });

  it('takes a partial for the window right after what closed as on time', () => {
    const src = new Windower(opts);
    src.add(ev({ time: T0 + MIN + 10 }));
    const [p] = src.drainPartials();
    const w = new Windower(opts);
    w.add(ev({ time: T0 + 10 }));
    w.closeAll();
    expect(w.closedUntil).toBe(T0 + MIN);
    w.addPartial(p);
    expect(w.late).toBe(0);
    const [c] = w.closeAll();
    expect([c.start, c.keys.requests]).toEqual([T0 + MIN, 1]);
  });

  it('folds a late partial, with nothing open, into a window at the end of what closed', () => {
    const src = new Windower(opts);
    src.add(ev({ time: T0 + 10 }));
    const [p] = src.drainPartials();
    const w = new Windower(opts);
    w.add(ev({ time: T0 + MIN + 10 }));
    w.closeAll();
    w.addPartial(p);
    expect(w.late).toBe(1);
    const [c] = w.closeAll();
    expect(c.start).toBe(T0 + 2 * MIN);
    expect(c.keys.requests).toBe(1);
  });
});
