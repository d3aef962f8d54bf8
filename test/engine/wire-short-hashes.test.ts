import { brotliDecompressSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BROTLI_MAGIC, decodeChunk, decodeSummaryRecord, encodeChunk, packSummaryRecords, readDoc, type SummaryDoc, type SummaryPart,
  WIRE_LEVEL, WIRE_MINOR, writerOptions } from '../../src/engine/wire.ts';
import { MAX_SUMMARY_RECORD_BYTES } from '../../src/engine/ingest.ts';
import type { AccessEvent } from '../../src/events.ts';
import { principalWireHash, WIRE_HASH_MASK } from '../../src/features/distinct.ts';
import { hash32 } from '../../src/features/hash.ts';
import { COUNTER_NAMES, type Features, KeyWindow, type SerializedKeyWindow } from '../../src/features/key-window.ts';
import { significantBits, type WindowPartial, Windower, type WindowerOptions } from '../../src/features/windower.ts';
import { ev, MIN, T0 } from '../helpers/events.ts';

/**
 * Wire level 4: ingest's windower counts every distinct value by the low 16 bits of its hash, and every reader of this
 * release masks the exact values of every level to them (sketches only ever read them). A key's window whose parts
 * come from writers of both kinds (a deploy changing the level, ingest instances of two settings) must count what one
 * 16-bit windower over all its requests counts: paths, missing paths, agents, principals, addresses.
 */

const OPTS: WindowerOptions = { sizeMs: MIN, latenessMs: 5_000, ipv4Prefix: 24, ipv6Prefix: 64, ipv6WidePrefixes: [56, 48], ipv4WidePrefixes: [16] };

// Found by search: strings whose hashes end in 16 zero bits, and two paths whose hashes share their low 16 bits.
const ZERO_PRINCIPAL = 'user/41310';
const ZERO_AGENT = 'agent/599';
const ZERO_IP = '10.0.179.249';
const TWIN_PATHS = ['/c/8', '/c/512'];
const ALICE = 'arn:aws:iam::123456789012:user/alice';

/** Every key's features (samples aside), per map and window: what the rules read. */
function featuresOf(w: Windower): Record<string, Record<string, Features>> {
  const out: Record<string, Record<string, Features>> = {};
  const put = (kind: string, start: number, key: string, kw: KeyWindow) => {
    (out[`${kind} ${start}`] ??= {})[key] = kw.features();
  };
  for (const c of w.closeAll()) {
    for (const [k, e] of c.keys.byIp) put('ip', c.start, k, e.ip);
    for (const [k, kw] of c.keys.byPrefix) put('prefix', c.start, k, kw);
    for (const [k, kw] of c.keys.byWidePrefix) put('wide', c.start, k, kw);
    for (const [k, kw] of c.keys.byPrincipal) put('principal', c.start, k, kw);
  }
  return out;
}

interface Writer {
  /** Level 1 sends prefixes; 2 and up leave them to the reader. */
  level: 1 | 2 | 3 | 4;
}

/** A writer's parts for `events`, as ingest makes them at `level`. */
function partsOf(events: readonly AccessEvent[], { level }: Writer): SummaryPart[] {
  const o = writerOptions(level);
  const w = new Windower({ ...OPTS, hostsOnly: o.derivePrefixes, shortHashes: o.shortHashes });
  for (const e of events) w.add({ ...e });
  return w.drainPartials().map((p, n) => ({ ...p, id: `l${level}:${n}` }));
}

/** A document of `parts` as this release writes it, through JSON (what a record or a stored chunk carries). */
function docOf(parts: SummaryPart[]): unknown {
  const v = parts.some((p) => p.dp === 1) ? 2 : 1;
  return JSON.parse(JSON.stringify({ v, minor: WIRE_MINOR, counters: COUNTER_NAMES, parts }));
}

/** Detect's windower after reading each writer's parts (a record each), in the order given. */
function detected(...writers: SummaryPart[][]): Windower {
  const w = new Windower(OPTS);
  for (const parts of writers) for (const p of readDoc(docOf(parts))) w.addPartial(p);
  return w;
}

/** One 16-bit windower over all the requests: what a window of level-4 parts alone stands for. */
function reference(events: readonly AccessEvent[]): Record<string, Record<string, Features>> {
  const w = new Windower({ ...OPTS, shortHashes: true });
  for (const e of events) w.add({ ...e });
  return featuresOf(w);
}

/** Every exact distinct value of the parts' windows, and the sketches. */
function valuesOf(parts: readonly WindowPartial[]): { exact: number[]; sketches: string[] } {
  const exact: number[] = [];
  const sketches: string[] = [];
  for (const p of parts) {
    for (const [, w] of [...p.i, ...p.p, ...p.u, ...(p.q ?? [])]) {
      for (const d of w.d) {
        if (typeof d === 'string') sketches.push(d);
        else exact.push(...d);
      }
    }
  }
  return { exact, sketches };
}

/** Each counter's bits at level 4: `[i/p/q windows, u windows]` per distinct counter (paths, missing, agents, principals, addresses). */
const LEVEL4_BITS: readonly (readonly [number, number])[] = [[0xffff, 0xffff], [0xffff, 0xffff], [0xffff, 0xffff], [0xffffff, 0xffffffff], [0xffffffff, 0xffff]];

/** Whether every exact value of the parts is within what a level-4 writer (and a reader of this release) keeps. */
function level4Shaped(parts: readonly WindowPartial[]): boolean {
  for (const p of parts) {
    for (const [list, u] of [[p.i, 0], [p.p, 0], [p.q ?? [], 0], [p.u, 1]] as const) {
      for (const [, w] of list) {
        for (let k = 0; k < 5; k++) {
          const d = w.d[k];
          if (typeof d !== 'string' && !d.every((v) => Number.isInteger(v) && v >= 0 && v <= LEVEL4_BITS[k][u])) return false;
        }
      }
    }
  }
  return true;
}

/**
 * Traffic of one window with every distinct counter past the exact cap somewhere, and the values a mask could get
 * wrong: an agent, a principal and an address whose hashes end in 16 zero bits, two paths that become one value.
 */
function traffic(): AccessEvent[] {
  const events: AccessEvent[] = [];
  const at = (i: number) => T0 + (i % 50_000);
  // A scanner: 150 paths, 100 of them missing, three agents, three principals (one of them anonymous).
  for (let i = 0; i < 150; i++) {
    events.push(ev({ time: at(i), ip: '198.51.100.7', path: `/scan/${i}`, status: i % 3 === 0 ? 200 : 404,
      userAgent: ['Mozilla/5.0', 'curl/8.0', ZERO_AGENT][i % 3], principal: ['', ZERO_PRINCIPAL, ALICE][i % 3] }));
  }
  // The address whose hash ends in zeros, asking the twin paths (missing), with the principal whose hash does.
  for (let i = 0; i < 6; i++) {
    events.push(ev({ time: at(200 + i), ip: ZERO_IP, path: TWIN_PATHS[i % 2], status: 404, principal: ZERO_PRINCIPAL, userAgent: ZERO_AGENT }));
  }
  // Alice from 80 addresses, each in a /64 of its own in one /48 (some of them share their hashes' low 16 bits).
  for (let i = 0; i < 80; i++) events.push(ev({ time: at(300 + i), ip: `2001:db8:0:${i.toString(16)}::1`, principal: ALICE, path: TWIN_PATHS[i % 2] }));
  // A /24 of 70 hosts (distinct addresses past the cap), one of them the scanner.
  for (let i = 1; i <= 70; i++) events.push(ev({ time: at(400 + i), ip: `198.51.100.${i}`, path: `/items/${i % 9}` }));
  return events;
}

describe('wire level 4: 16-bit distinct hashes', () => {
  it('the fixtures are what they say: hashes ending in 16 zero bits, two paths of one 16-bit value', () => {
    expect(hash32(ZERO_PRINCIPAL) & 0xffff).toBe(0);
    expect((hash32(ZERO_AGENT) >>> 1) & 0xffff).toBe(0);
    expect(hash32(ZERO_IP) & 0xffff).toBe(0);
    expect(hash32(TWIN_PATHS[0])).not.toBe(hash32(TWIN_PATHS[1]));
    expect(hash32(TWIN_PATHS[0]) & 0xffff).toBe(hash32(TWIN_PATHS[1]) & 0xffff);
    expect(WIRE_HASH_MASK).toBe(0xffff);
  });

  it('a 16-bit windower counts every hash in 16 bits, an agent\'s and a principal\'s never as 0; without the option nothing changes', () => {
    const events = traffic();
    const short = partsOf(events, { level: 4 });
    const { exact, sketches } = valuesOf(short);
    expect(exact.length).toBeGreaterThan(100);
    expect(level4Shaped(short)).toBe(true);
    expect(sketches.length).toBeGreaterThan(0);
    const zeroPrincipal = short.flatMap((p) => p.u).find(([k]) => k === ZERO_PRINCIPAL)![1];
    expect(zeroPrincipal.d[4]).toContain(0); // an address's 0 is a value like any other
    const zeroHost = short.flatMap((p) => p.i).find(([k]) => k === ZERO_IP)![1];
    expect(zeroHost.d[2]).toEqual([1]);
    expect(zeroHost.d[0]).toEqual([hash32(TWIN_PATHS[0]) & 0xffff]); // two paths, one value
    const scannerOf = (parts: WindowPartial[]) => parts.flatMap((p) => p.i).find(([k]) => k === '198.51.100.7')![1];
    // The principal whose hash ends in 16 zero bits, in 24 behind an address.
    expect(scannerOf(short).d[3]).toContain(principalWireHash(hash32(ZERO_PRINCIPAL)));
    expect(principalWireHash(hash32(ZERO_PRINCIPAL))).toBeGreaterThan(0xffff);
    // Without the option: the 32-bit hashes, as before.
    const long = new Windower({ ...OPTS, hostsOnly: true });
    for (const e of events) long.add({ ...e });
    const [p32] = long.drainPartials();
    expect(p32.i.find(([k]) => k === ZERO_IP)![1].d[2]).toEqual([(hash32(ZERO_AGENT) >>> 1) || 1]);
    expect(p32.i.find(([k]) => k === ZERO_IP)![1].d[0]).toEqual(TWIN_PATHS.map(hash32));
    expect(p32.u.find(([k]) => k === ZERO_PRINCIPAL)![1].d[4]).toContain(hash32(ZERO_IP));
  });

  for (const split of ['alternate', 'halves'] as const) {
    for (const level of [1, 2, 3] as const) {
      it(`a window of a level-${level} (32-bit) part and a level-4 (16-bit) part counts as one 16-bit windower (${split} of the requests each)`, () => {
        const events = traffic();
        const [a, b] = split === 'alternate'
          ? [events.filter((_, i) => i % 2 === 0), events.filter((_, i) => i % 2 === 1)]
          : [events.slice(0, 100), events.slice(100)];
        const wide = partsOf(a, { level });
        const short = partsOf(b, { level: 4 });
        // The parts are what they should be: 32-bit values in one (the scanner's paths a sketch when it has 100 of them),
        // none in the other.
        expect(valuesOf(wide).exact.some((v) => v > 0xffff)).toBe(true);
        expect(level4Shaped(short)).toBe(true);
        if (split === 'halves') expect(typeof wide[0].i.find(([k]) => k === '198.51.100.7')![1].d[0]).toBe('string');

        const want = reference(events);
        const scanner = want[`ip ${T0}`]['198.51.100.7'];
        expect(scanner.distinctPaths).toBeGreaterThan(64);
        expect(scanner.distinctNotFoundPaths).toBeGreaterThan(64);
        expect(want[`principal ${T0}`][ALICE].distinctIps).toBeGreaterThan(64);
        expect(want[`prefix ${T0}`]['198.51.100.0/24'].distinctIps).toBeGreaterThan(64);
        expect(want[`ip ${T0}`][ZERO_IP]).toMatchObject({ distinctPaths: 1, distinctNotFoundPaths: 1, distinctUserAgents: 1, distinctPrincipals: 1 });
        // Read in either order, as records of two writers arrive.
        expect(featuresOf(detected(wide, short))).toEqual(want);
        expect(featuresOf(detected(short, wide))).toEqual(want);
        // And a window of 32-bit parts alone counts the same too, once read.
        expect(featuresOf(detected(partsOf(a, { level }), partsOf(b, { level })))).toEqual(want);
      });
    }
  }

  it('any traffic, any split between a 32-bit and a 16-bit writer: detect counts what one 16-bit windower counts', () => {
    const v4 = fc.tuple(fc.constantFrom('198.51.100', '203.0.113', '10.0.179'), fc.integer({ min: 1, max: 40 })).map(([p, h]) => `${p}.${h}`);
    const v6 = fc.tuple(fc.constantFrom('2001:db8:0:1', '2001:db8:0:2', '2001:db8:1:1'), fc.integer({ min: 1, max: 30 }))
      .map(([p, h]) => `${p}::${h.toString(16)}`);
    const event = fc.record({
      offset: fc.integer({ min: 0, max: 2 * MIN - 1 }),
      ip: fc.oneof(v4, v6, fc.constant(ZERO_IP)),
      status: fc.constantFrom(200, 200, 401, 404, 404, 500),
      path: fc.oneof(fc.constantFrom('/login', '/items/1', '/.env', ...TWIN_PATHS), fc.string({ maxLength: 20 }).map((s) => `/${s}`)),
      userAgent: fc.constantFrom('Mozilla/5.0', 'curl/8.0', '', ZERO_AGENT),
      principal: fc.constantFrom('', '', ALICE, ZERO_PRINCIPAL),
      short: fc.boolean(),
    });
    // No two of the addresses share their low 16 bits (a principal may see them all, past the exact cap).
    const addresses = [ZERO_IP, ...['198.51.100', '203.0.113', '10.0.179'].flatMap((p) => Array.from({ length: 40 }, (_, h) => `${p}.${h + 1}`)),
      ...['2001:db8:0:1', '2001:db8:0:2', '2001:db8:1:1'].flatMap((p) => Array.from({ length: 30 }, (_, h) => `${p}::${(h + 1).toString(16)}`))];
    expect(new Set(addresses.map((a) => hash32(a) & 0xffff)).size).toBe(new Set(addresses).size);
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 250 }), fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>, (rows, level) => {
      const all = rows.map((r) => ({ ...ev({ time: T0 + r.offset, ip: r.ip, status: r.status, path: r.path, userAgent: r.userAgent, principal: r.principal }), short: r.short }));
      // Values that share their low 16 bits count once either way (the twin paths), except at the exact cap: a 32-bit
      // part of 65 values is a sketch where 16 bits hold 64 exactly. Not what this checks: no key has 65 paths then.
      const paths = [...new Set(all.map((e) => e.path))];
      fc.pre(paths.length <= 64 || new Set(paths.map((p) => hash32(p) & 0xffff)).size === paths.length);
      const wide = partsOf(all.filter((e) => !e.short), { level });
      const short = partsOf(all.filter((e) => e.short), { level: 4 });
      expect(level4Shaped(short)).toBe(true);
      const want = reference(all);
      expect(featuresOf(detected(wide, short))).toEqual(want);
      expect(featuresOf(detected(short, wide))).toEqual(want);
    }), { numRuns: 120 });
  });

  it('a level-4 record: level 3\'s document and framing, every exact hash at most 0xffff, and what the reader restores is what a 16-bit windower counted', () => {
    const events = traffic();
    const parts = partsOf(events, { level: 4 });
    expect(parts.every((p) => p.dp === 1)).toBe(true);
    const records = packSummaryRecords(parts, MAX_SUMMARY_RECORD_BYTES, writerOptions(4).summaryEncoding);
    expect(records).toHaveLength(1);
    expect([records[0][0], records[0][1]]).toEqual([...BROTLI_MAGIC]);
    const doc = JSON.parse(brotliDecompressSync(records[0].subarray(6)).toString('utf8')) as SummaryDoc;
    expect([doc.v, doc.minor]).toEqual([2, WIRE_MINOR]);
    expect(WIRE_LEVEL).toBe(2);
    expect(level4Shaped(doc.parts)).toBe(true);
    // Left out on the wire: a host's own address, a principal's own principal.
    expect(doc.parts.every((p) => p.i.every(([, w]) => (w.d[4] as number[]).length === 0) && p.u.every(([, w]) => (w.d[3] as number[]).length === 0))).toBe(true);

    const [read] = decodeSummaryRecord(records[0]);
    expect(level4Shaped([read])).toBe(true);
    // The same windower keeping its hosts' own addresses and principals' own principals (what level 1 sends).
    const full = new Windower({ ...OPTS, shortHashes: true });
    for (const e of events) full.add({ ...e });
    const [whole] = full.drainPartials();
    expect(read.i).toEqual(whole.i);
    expect(read.u).toEqual(whole.u);
    // Restored from the key, whole: a host's address, a principal's principal, as every windower hashes them.
    for (const [ip, w] of read.i) expect(w.d[4]).toEqual([hash32(ip)]);
    for (const [principal, w] of read.u) expect(w.d[3]).toEqual([hash32(principal) || 1]);
    // A stored chunk of what was read reads back the same.
    expect(decodeChunk(encodeChunk([read]))[0].i).toEqual(read.i);
  });
});

/** `w` with its exact values as a reader of this release holds them (LEVEL4_BITS), agents' and principals' never 0. */
function maskedWindow(w: SerializedKeyWindow, u: 0 | 1): SerializedKeyWindow {
  return { ...w, d: w.d.map((d, k) => (typeof d === 'string' ? d
    : d.map((v) => (k === 2 || k === 3 ? ((v & LEVEL4_BITS[k][u]) >>> 0) || 1 : (v & LEVEL4_BITS[k][u]) >>> 0)))) };
}

function maskedPart<P extends WindowPartial>(p: P): P {
  const m = (list: [string, SerializedKeyWindow][], u: 0 | 1): [string, SerializedKeyWindow][] => list.map(([k, w]) => [k, maskedWindow(w, u)]);
  return { ...p, i: m(p.i, 0), p: m(p.p, 0), u: m(p.u, 1), ...(p.q ? { q: m(p.q, 0) } : {}) };
}

describe('wire level 4: every reader of this release masks every level', () => {
  const events = traffic();
  /** A 32-bit writer's level-1 part (prefixes, wide prefixes and all), as JSON carries it. */
  const level1 = (): SummaryPart => JSON.parse(JSON.stringify(partsOf(events, { level: 1 })[0])) as SummaryPart;

  it('the document forms of every revision: each exact list masked, the sketches as they were', () => {
    const p = level1();
    expect(p.q?.length).toBeGreaterThan(0);
    expect(valuesOf([p]).exact.some((v) => v > 0xffff)).toBe(true);
    const want = maskedPart(p);
    expect(valuesOf([p]).sketches.length).toBeGreaterThan(0);
    const positional = (x: SummaryPart): SummaryPart => {
      const cut = (list: [string, SerializedKeyWindow][]): [string, SerializedKeyWindow][] => list.map(([k, w]) => [k, { ...w, c: w.c.slice(0, 12) }]);
      return { id: x.id, w: x.w, t: x.t, n: x.n, e5: x.e5, i: cut(x.i), p: cut(x.p), u: cut(x.u) };
    };
    const docs: [string, unknown, SummaryPart][] = [
      ['revision 1 (positional counters)', { v: 1, parts: [positional(level1())] }, positional(want)],
      ['revision 2 (named counters)', { v: 1, minor: 2, counters: COUNTER_NAMES.slice(0, 12), parts: [positional(level1())] }, positional(want)],
      ['this revision, level 1', { v: 1, minor: WIRE_MINOR, counters: COUNTER_NAMES, parts: [level1()] }, want],
      ['a later revision', { v: 1, minor: WIRE_MINOR + 1, counters: [...COUNTER_NAMES, 'later'], parts: [level1()] }, want],
    ];
    // The distinct counters of every key (counters are another test's: they differ by revision).
    const distincts = (x: SummaryPart) => [x.i, x.p, x.u, x.q ?? []].map((list) => list.map(([k, w]) => [k, w.d]));
    for (const [what, doc, expected] of docs) {
      const [read] = readDoc(doc);
      expect(distincts(read), what).toEqual(distincts(expected));
      expect(valuesOf([read]).sketches, what).toEqual(valuesOf([expected]).sketches);
    }
    // A stored chunk of an earlier form (a bare array of parts), and this release's.
    expect(valuesOf(decodeChunk(gzipSync(JSON.stringify([level1()])).toString('base64'))).exact).toEqual(valuesOf([want]).exact);
    expect(valuesOf(decodeChunk(encodeChunk([level1()]))).exact).toEqual(valuesOf([want]).exact);
  });

  it('a level-2 part of a 32-bit writer (prefixes derived, its own address and principal left out): masked and restored alike', () => {
    const [p] = JSON.parse(JSON.stringify(partsOf(events, { level: 3 }))) as SummaryPart[];
    const [read] = readDoc({ v: 2, minor: WIRE_MINOR, counters: COUNTER_NAMES, parts: [p] });
    const [short] = readDoc(docOf(partsOf(events, { level: 4 })));
    // As windows (the twin paths are two equal values in a list masked on read, one to a 16-bit windower).
    expect(read.i.find(([k]) => k === ZERO_IP)![1].d[0]).toEqual([hash32(TWIN_PATHS[0]) & 0xffff, hash32(TWIN_PATHS[0]) & 0xffff]);
    const windows = (list: [string, SerializedKeyWindow][]) => list.map(([k, w]) => [k, KeyWindow.fromJSON(w).toJSON()]);
    expect(windows(read.i)).toEqual(windows(short.i));
    expect(windows(read.u)).toEqual(windows(short.u));
  });

  it('masks in place and cheaply: lists already in range are not touched, nor copied; the agent\'s and principal\'s 0 become 1', () => {
    const w = (d: (number[] | string)[]): SerializedKeyWindow => ({ c: new Array<number>(COUNTER_NAMES.length).fill(0), d, sp: [], su: [] });
    const inRange = [5, 0xffff, 0];
    const wide = [0x1234_5678, 7, 0xffff_0000];
    const agents = [0xabcd_0000, 0x0001_0002];
    const principals = [0x8000_0000, 3];
    const sketch = Buffer.alloc(256, 1).toString('base64');
    const doc = { v: 1, minor: WIRE_MINOR, counters: COUNTER_NAMES, parts: [{ id: 'x', w: T0, t: T0, n: 1, e5: 0,
      i: [['198.51.100.1', w([inRange, wide, agents, principals, sketch])]], p: [], u: [], q: [['2001:db8::/48', w([[], [], [], [], [0x1_0001]])]] }] };
    const [read] = readDoc(doc);
    const d = read.i[0][1].d;
    expect(d[0]).toBe(inRange);
    expect(d[0]).toEqual([5, 0xffff, 0]);
    expect(d[1]).toBe(wide);
    expect(d[1]).toEqual([0x5678, 7, 0]);
    expect(d[2]).toEqual([1, 2]);
    expect(d[3]).toBe(principals); // 24 bits behind an address: in range
    expect(d[3]).toEqual([0x8000_0000 & 0xffffff || 1, 3]);
    expect(d[4]).toBe(sketch);
    expect(read.q![0][1].d[4]).toEqual([0x1_0001]); // a prefix's addresses stay whole
    // Malformed values are left for KeyWindow.fromJSON, which skips them as before.
    const odd = { v: 1, minor: WIRE_MINOR, counters: COUNTER_NAMES, parts: [{ id: 'y', w: T0, t: T0, n: 1, e5: 0,
      i: [['198.51.100.1', w([['x', null, 0x1_0005] as unknown as number[], [], [], [], []])], ['198.51.100.2', null], [7, {}]], p: [], u: [] }] };
    expect(() => readDoc(odd)).not.toThrow();
    expect(readDoc(odd)[0].i[0][1].d[0]).toEqual(['x', null, 5]);
  });
});

describe('wire level 4: byte and latency sums to a few significant bits', () => {
  it('rounds half up to that many significant bits, exact below 2^bits, never off by more than 2^-bits', () => {
    expect([0, 7, 15, 16, 17, 18, 858, 1_450, 5_264, 130_997].map((v) => significantBits(v, 4)))
      .toEqual([0, 7, 15, 16, 18, 18, 832, 1_408, 5_120, 131_072]);
    expect([0, 7, 8, 9, 13, 36, 1_423].map((v) => significantBits(v, 3))).toEqual([0, 7, 8, 10, 14, 40, 1_536]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 8 }), (v, bits) => {
      const r = significantBits(v, bits);
      expect(Number.isSafeInteger(r)).toBe(true);
      expect(Math.abs(r - v)).toBeLessThanOrEqual(v * 2 ** -bits);
    }));
  });

  it('its integer arithmetic gives what the floating-point definition gives, at every magnitude', () => {
    const byDefinition = (v: number, bits: number): number => {
      if (!(v >= 2 ** bits)) return v;
      const step = 2 ** (Math.floor(Math.log2(v)) - bits + 1);
      return Math.round(v / step) * step;
    };
    const values = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 + 5 }), fc.integer({ min: 0, max: 40 }).map((e) => 2 ** e),
      fc.integer({ min: 1, max: 40 }).map((e) => 2 ** e - 1), fc.integer({ min: 0, max: 2 ** 31 }).map((v) => v + 0.5),
      fc.double({ min: 0, max: 2 ** 45, noNaN: true }));
    fc.assert(fc.property(values, fc.integer({ min: 1, max: 8 }), (v, bits) => {
      expect(significantBits(v, bits)).toBe(byDefinition(v, bits));
    }), { numRuns: 20_000 });
  });

  it("a level-4 writer's parts carry rounded sums and every other counter exact; totals stay within 1%", () => {
    const events = Array.from({ length: 3_000 }, (_, n) => ev({ ip: `198.51.${n % 7}.${n % 251}`, principal: n % 3 ? `user/${n % 40}` : '',
      time: T0 + (n % 120) * 500, bytes: 200 + ((n * 7919) % 90_000), latencyMs: 3 + ((n * 104729) % 900) }));
    const o = writerOptions(4);
    expect(o.roundedSums).toBe(true);
    const w = new Windower({ ...OPTS, hostsOnly: o.derivePrefixes, shortHashes: o.shortHashes, roundedSums: o.roundedSums });
    for (const e of events) w.add({ ...e });
    const parts = w.drainPartials();
    const exact = new Windower({ ...OPTS, hostsOnly: true });
    for (const e of events) exact.add({ ...e });
    const truth = exact.drainPartials();
    const B = COUNTER_NAMES.indexOf('bytes');
    const L = COUNTER_NAMES.indexOf('latencySum');
    let bytes = 0;
    let trueBytes = 0;
    for (const [p, t] of parts.map((p, n) => [p, truth[n]] as const)) {
      for (const [list, tList] of [[p.i, t.i], [p.u, t.u]] as const) {
        expect(list.map(([k]) => k)).toEqual(tList.map(([k]) => k));
        list.forEach(([, kw], n) => {
          const c = tList[n][1].c;
          expect(kw.c[B]).toBe(significantBits(c[B], 4));
          expect(kw.c[L]).toBe(significantBits(c[L], 3));
          expect(kw.c.filter((_, j) => j !== B && j !== L)).toEqual(c.filter((_, j) => j !== B && j !== L));
          if (list === p.i) {
            bytes += kw.c[B];
            trueBytes += c[B];
          }
        });
      }
    }
    expect(bytes).not.toBe(trueBytes);
    expect(Math.abs(bytes - trueBytes) / trueBytes).toBeLessThan(0.01);
  });
});

describe('wire level 4: what protects a shared egress stays whole enough', () => {
  it('a NAT of five principals, two of whose hashes share their low 16 bits, still reads five principals (24 bits behind an address)', () => {
    const twins = ['user/emp271', 'user/emp1300'];
    expect(hash32(twins[0]) & 0xffff).toBe(hash32(twins[1]) & 0xffff);
    const principals = [...twins, 'user/a', 'user/b', 'user/c'];
    const events = Array.from({ length: 1_500 }, (_, n) => ev({ time: T0 + n * 30, ip: '203.0.113.9', principal: principals[n % 5], path: '/items' }));
    for (const level of [1, 4] as const) {
      const w = new Windower(OPTS);
      for (const p of readDoc(docOf(partsOf(events, { level })))) w.addPartial(p);
      const [closed] = w.closeAll();
      expect(closed.keys.byIp.get('203.0.113.9')!.ip.features().distinctPrincipals, `level ${level}`).toBe(5);
      expect(closed.keys.byPrefix.get('203.0.113.0/24')!.features().distinctPrincipals, `level ${level}`).toBe(5);
    }
  });
});
