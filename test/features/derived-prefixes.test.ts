import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { EarlyWatch } from '../../src/engine/early-watch.ts';
import { decodeSummaryRecord, encodeChunk, decodeChunk, NewerWireError, packSummaryRecords, readDoc, type SummaryPart, WIRE_LEVEL, WIRE_MINOR } from '../../src/engine/wire.ts';
import type { AccessEvent } from '../../src/events.ts';
import type { KeyWindow } from '../../src/features/key-window.ts';
import { type WindowPartial, Windower, type WindowerOptions } from '../../src/features/windower.ts';
import { ev, MIN, T0 } from '../helpers/events.ts';

/**
 * Wire level 2: ingest sends hosts and principals only, and detect derives every prefix (and wide prefix) as the
 * merge of its hosts. What detect then holds must be what it held when ingest sent the prefixes: every counter and
 * distinct count of every key, whatever the traffic and however it was cut into parts.
 */

const OPTS: WindowerOptions = { sizeMs: MIN, latenessMs: 5_000, ipv4Prefix: 24, ipv6Prefix: 64, ipv6WidePrefixes: [56, 48], ipv4WidePrefixes: [16] };

/** Every key's features (samples aside: they are evidence text, and their order may differ), per map. */
function featuresOf(w: Windower): Record<string, Record<string, unknown>> {
  const closed = w.closeAll();
  const out: Record<string, Record<string, unknown>> = {};
  const put = (kind: string, start: number, key: string, kw: KeyWindow) => {
    (out[`${kind} ${start}`] ??= {})[key] = kw.features();
  };
  for (const c of closed) {
    for (const [k, e] of c.keys.byIp) put('ip', c.start, k, e.ip);
    for (const [k, kw] of c.keys.byPrefix) put('prefix', c.start, k, kw);
    for (const [k, kw] of c.keys.byWidePrefix) put('wide', c.start, k, kw);
    for (const [k, kw] of c.keys.byPrincipal) put('principal', c.start, k, kw);
    out[`totals ${c.start}`] = { requests: c.keys.requests, status5xx: c.keys.status5xx };
  }
  return out;
}

/** Ingest's parts for `events` cut into batches of `cut` (a windower per batch, as ingest has per invocation). */
function partsOf(events: AccessEvent[], cut: number, hostsOnly: boolean): WindowPartial[] {
  const out: WindowPartial[] = [];
  for (let i = 0; i < events.length; i += cut) {
    const w = new Windower({ ...OPTS, hostsOnly });
    for (const e of events.slice(i, i + cut)) w.add({ ...e });
    out.push(...w.drainPartials());
  }
  return out;
}

/** Detect's view: the parts merged into a windower of its own, read through the wire (JSON, readDoc), as in AWS. */
function detected(parts: WindowPartial[]): Windower {
  const w = new Windower(OPTS);
  const doc = { v: WIRE_LEVEL, minor: WIRE_MINOR, parts: parts.map((p, n) => ({ ...p, id: `t:${n}` })) };
  for (const p of readDoc(JSON.parse(JSON.stringify(doc)))) w.addPartial(p);
  return w;
}

const v4 = fc.tuple(fc.constantFrom('198.51.100', '198.51.7', '203.0.113', '192.0.2'), fc.integer({ min: 1, max: 40 })).map(([p, h]) => `${p}.${h}`);
const v6 = fc.tuple(fc.constantFrom('2001:db8:0:1', '2001:db8:0:2', '2001:db8:1:1', '2001:db9:0:1'), fc.integer({ min: 1, max: 30 }))
  .map(([p, h]) => `${p}::${h.toString(16)}`);
const event = fc.record({
  offset: fc.integer({ min: 0, max: 3 * MIN - 1 }),
  ip: fc.oneof(v4, v6),
  status: fc.constantFrom(200, 200, 200, 401, 403, 404, 429, 500, 503),
  path: fc.oneof(fc.constantFrom('/login', '/items/1', '/items/2', '/admin', '/.env', '/wp-login.php'), fc.string({ maxLength: 30 }).map((s) => `/${s}`)),
  method: fc.constantFrom('GET', 'POST'),
  userAgent: fc.constantFrom('Mozilla/5.0', 'curl/8.0', 'sqlmap/1.7', '', 'python-requests/2.31'),
  principal: fc.constantFrom('', '', 'arn:aws:iam::123456789012:user/a', 'arn:aws:iam::123456789012:user/b'),
}).map((r) => ev({ time: T0 + r.offset, ip: r.ip, status: r.status, path: r.path, method: r.method, userAgent: r.userAgent, principal: r.principal }));

describe('wire level 2: prefixes derived at detect from their hosts', () => {
  it('detect holds the same features for every key, whether ingest sent the prefixes or detect derived them', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 120 }), (events, cut) => {
      const sent = featuresOf(detected(partsOf(events, cut, false)));
      const derived = featuresOf(detected(partsOf(events, cut, true)));
      expect(derived).toEqual(sent);
      expect(Object.keys(derived).some((k) => k.startsWith('wide'))).toBe(true);
    }), { numRuns: 150 });
  });

  it('a window of parts of both levels (a rolling deploy) counts every request once in each prefix', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 2, maxLength: 200 }), fc.integer({ min: 1, max: 60 }), (events, cut) => {
      const half = Math.floor(events.length / 2);
      const mixed = [...partsOf(events.slice(0, half), cut, false), ...partsOf(events.slice(half), cut, true)];
      expect(featuresOf(detected(mixed))).toEqual(featuresOf(detected(partsOf(events, cut, false))));
    }), { numRuns: 100 });
  });

  it('a part of level 2 carries no prefix windows, and a part that says it does not is never counted twice', () => {
    const events = Array.from({ length: 20 }, (_, i) => ev({ time: T0 + i * 1000, ip: `198.51.100.${1 + (i % 4)}` }));
    const [part] = partsOf(events, 100, true);
    expect(part.dp).toBe(1);
    expect(part.p).toEqual([]);
    expect(part.q).toBeUndefined();
    // A (forged or buggy) level-2 part that also carries prefixes: they are ignored, the hosts' counts are what counts.
    const [withPrefixes] = partsOf(events, 100, false);
    const forged = { ...withPrefixes, dp: 1 as const };
    const closed = detected([forged]).closeAll()[0];
    expect(closed.keys.byPrefix.get('198.51.100.0/24')!.requests).toBe(20);
  });

  it('records and stored chunks with a level-2 part are written at level 2; those without stay at level 1 for older readers', () => {
    const events = Array.from({ length: 5 }, (_, i) => ev({ time: T0 + i, ip: `198.51.100.${i + 1}` }));
    const v2: SummaryPart[] = partsOf(events, 100, true).map((p) => ({ ...p, id: 'a:1/0/0' }));
    const v1: SummaryPart[] = partsOf(events, 100, false).map((p) => ({ ...p, id: 'a:1/0/0' }));
    const level = (b: Uint8Array) => (JSON.parse(Buffer.from(b).toString('utf8')) as { v: number }).v;
    expect(packSummaryRecords(v2, 900 * 1024, 'identity').map(level)).toEqual([2]);
    expect(packSummaryRecords(v1, 900 * 1024, 'identity').map(level)).toEqual([1]);
    expect(WIRE_LEVEL).toBe(2);
    // Read back, level 2 keeps its flag (records and chunks alike), so detect derives; a level above is refused.
    expect(decodeSummaryRecord(packSummaryRecords(v2, 900 * 1024, 'gzip')[0])[0].dp).toBe(1);
    expect(decodeChunk(encodeChunk(v2))[0].dp).toBe(1);
    expect(() => decodeSummaryRecord(Buffer.from(JSON.stringify({ v: 3, parts: [] })))).toThrow(NewerWireError);
  });

  it('a level-2 part leaves out what its key says (a host\'s own address, a principal\'s own principal); the reader restores it', () => {
    const alice = 'arn:aws:iam::123456789012:user/alice';
    const events = [
      ...Array.from({ length: 6 }, (_, i) => ev({ time: T0 + i, ip: '198.51.100.7', principal: alice, path: `/items/${i}` })),
      ev({ time: T0 + 9, ip: '2001:db8::1', principal: alice }),
    ];
    const [sent] = partsOf(events, 100, false);
    const [compact] = partsOf(events, 100, true);
    // On the wire: the host's addresses and the principal's principals are empty, everything else as sent.
    for (const [, w] of compact.i) expect(w.d[4]).toEqual([]);
    expect(compact.u[0][1].d[3]).toEqual([]);
    expect(compact.u[0][1].d[4]).toHaveLength(2);
    // Read back: the same windows as level 1 sends them, read back (every hash masked to 16 bits), hash for hash.
    const [read] = readDoc(JSON.parse(JSON.stringify({ v: 2, minor: WIRE_MINOR, parts: [{ ...compact, id: 'a:1' }] })));
    const [sentRead] = readDoc(JSON.parse(JSON.stringify({ v: 1, minor: WIRE_MINOR, parts: [{ ...sent, id: 'a:0' }] })));
    expect(read.i).toEqual(sentRead.i);
    expect(read.u).toEqual(sentRead.u);
    // A counter that is present is kept as written (a stored chunk already restored, a revision-5 writer).
    const forged = structuredClone(compact);
    forged.i[0][1].d[4] = [12345];
    const [kept] = readDoc({ v: 2, minor: 5, parts: [{ ...forged, id: 'a:2' }] });
    expect(kept.i[0][1].d[4]).toEqual([12345]);
    // Level 1 parts are never touched: an empty counter there stays empty.
    const odd = structuredClone(sent);
    odd.i[0][1].d[4] = [];
    expect(readDoc({ v: 1, minor: WIRE_MINOR, parts: [{ ...odd, id: 'a:3' }] })[0].i[0][1].d[4]).toEqual([]);
    // And the same document round-trips through a stored chunk unchanged.
    expect(decodeChunk(encodeChunk([read]))[0].i).toEqual(sentRead.i);
  });

  it('a level-2 part with malformed entries is read as a level-1 one is: stored, and counted damaged at its close, never a failed batch', () => {
    for (const bad of [null, 5, [7, {}], ['198.51.100.1', null]]) {
      const doc = { v: 2, minor: WIRE_MINOR, parts: [{ id: 'a:1/0/0', w: T0, t: T0, n: 1, e5: 0, i: [bad], p: [], u: [bad], dp: 1 }] };
      expect(() => decodeSummaryRecord(Buffer.from(JSON.stringify(doc))), JSON.stringify(bad)).not.toThrow();
    }
  });

  it('a part cut in pieces keeps its level: each piece still says its prefixes are to be derived', () => {
    const events = Array.from({ length: 400 }, (_, i) => ev({ time: T0 + i, ip: `198.51.${i % 200}.${1 + (i % 7)}`, path: `/${'x'.repeat(150)}${i}` }));
    const parts: SummaryPart[] = partsOf(events, 1000, true).map((p) => ({ ...p, id: 'a:1/0/0' }));
    const records = packSummaryRecords(parts, 1024, 'gzip');
    expect(records.length).toBeGreaterThan(2);
    const pieces = records.flatMap((r) => decodeSummaryRecord(r));
    expect(pieces.every((p) => p.dp === 1)).toBe(true);
    expect(featuresOf(detected(pieces))).toEqual(featuresOf(detected(partsOf(events, 1000, false))));
  });

  it('a level-2 part with a host key that is no address is not watched, and never throws (the window close counts it)', () => {
    const cfg = parseConfig({ aggregation: { ipv4Prefix: 22 } });
    const [part] = partsOf([ev({ time: T0 })], 10, true);
    const bad = { ...part, i: [...part.i, ['x:y', part.i[0][1]], ['not-an-address', part.i[0][1]]] as WindowPartial['i'] };
    const watch = new EarlyWatch(cfg);
    expect(() => watch.observe('s', bad)).not.toThrow();
  });

  it('the early watch sees a distributed flood of one /24 in level-2 parts as it does in level-1 parts', () => {
    const cfg = parseConfig({});
    const flood = Array.from({ length: cfg.thresholds.floodUnmistakableRequests + 100 }, (_, i) =>
      ev({ time: T0 + (i % 50_000), ip: `203.0.113.${1 + (i % 50)}` }));
    for (const hostsOnly of [false, true]) {
      const watch = new EarlyWatch(cfg);
      for (const p of partsOf(flood, 500, hostsOnly)) watch.observe('s', p);
      expect(watch.due('s'), `hostsOnly ${hostsOnly}`).toEqual([T0]);
    }
  });
});
