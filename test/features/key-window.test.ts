import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COUNTER_NAMES, FEATURE_NAMES, KeyWindow, type Observation, sampleText, type SerializedKeyWindow } from '../../src/features/key-window.ts';

/** One request with nothing special about it; tests override what they are about. */
function obs(over: Partial<Observation> = {}): Observation {
  return {
    status: 200, bytes: 0, latencyMs: -1, method: 'GET', path: '/x', userAgent: 'ua', userAgentSample: 'ua', pathHash: 1,
    uaHash: 2, ipHash: 3, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false, trapHit: false, ...over,
  };
}

function windowOf(...list: Partial<Observation>[]): KeyWindow {
  const kw = new KeyWindow();
  for (const o of list) kw.add(obs(o));
  return kw;
}

const EMPTY_FEATURES = Object.fromEntries(FEATURE_NAMES.map((n) => [n, 0]));

describe('KeyWindow.features', () => {
  it('gives exactly the named features, in their order', () => {
    const kw = new KeyWindow();
    kw.add({ status: 404, bytes: 10, latencyMs: 5, method: 'GET', path: '/x', userAgent: 'ua', userAgentSample: 'ua', pathHash: 1,
      uaHash: 2, ipHash: 3, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false, trapHit: false });
    const f = kw.features();
    expect(Object.keys(f)).toEqual([...FEATURE_NAMES]);
    expect(f).toMatchObject({ requests: 1, notFound: 1, distinctNotFoundPaths: 1, meanLatencyMs: 5, distinctPrincipals: 0 });
    expect(new KeyWindow().features().meanLatencyMs).toBe(-1);
  });

  it('of an empty window: all zero, no mean latency', () => {
    expect(new KeyWindow().features()).toEqual({ ...EMPTY_FEATURES, meanLatencyMs: -1 });
  });

  it.each([
    [200, {}],
    [302, {}],
    [399, {}],
    [400, { status4xx: 1 }],
    [401, { status4xx: 1, authFailures: 1 }],
    [402, { status4xx: 1 }],
    [403, { status4xx: 1, authFailures: 1 }],
    [404, { status4xx: 1, notFound: 1, distinctNotFoundPaths: 1 }],
    [405, { status4xx: 1 }],
    [428, { status4xx: 1 }],
    [429, { status4xx: 1, throttled: 1 }],
    [430, { status4xx: 1 }],
    [499, { status4xx: 1 }],
    [500, { status5xx: 1 }],
    [503, { status5xx: 1 }],
    [599, { status5xx: 1 }],
  ])('counts status %i as exactly %j', (status, counted) => {
    const f = windowOf({ status }).features();
    expect(f).toEqual({ ...EMPTY_FEATURES, requests: 1, distinctPaths: 1, distinctUserAgents: 1, distinctIps: 1, meanLatencyMs: -1, ...counted });
  });

  it('sums bytes, and averages latency over the requests that carry one (0 ms included, rounded)', () => {
    const f = windowOf({ bytes: 100, latencyMs: 0 }, { bytes: 23, latencyMs: -1 }, { bytes: 0, latencyMs: 3 }, { latencyMs: 2 }).features();
    expect(f.bytes).toBe(123);
    expect(f.meanLatencyMs).toBe(2); // (0 + 3 + 2) / 3 = 1.67
    expect(windowOf({ latencyMs: 1 }, { latencyMs: 2 }).features().meanLatencyMs).toBe(2); // 1.5 rounds up
    expect(windowOf({ latencyMs: 1 }, { latencyMs: 1 }, { latencyMs: 2 }).features().meanLatencyMs).toBe(1); // 1.33
    expect(windowOf({ latencyMs: 0 }).features().meanLatencyMs).toBe(0);
    expect(windowOf({ latencyMs: -1 }).features().meanLatencyMs).toBe(-1);
    expect(windowOf({ latencyMs: 0 }).toJSON().c).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('counts login posts, attack payloads, attack-tool agents and trap hits, each on its own', () => {
    const f = windowOf(
      { loginPost: true },
      { attackPayload: true },
      { attackPayload: true },
      { scannerAgent: true },
      { scannerAgent: true },
      { scannerAgent: true },
      { trapHit: true },
      { trapHit: true },
      { trapHit: true },
      { trapHit: true },
    ).features();
    expect([f.loginPosts, f.attackPayloads, f.scannerAgentRequests, f.trapHits, f.requests]).toEqual([1, 2, 3, 4, 10]);
  });

  it('counts distinct paths, 404 paths, agents, principals and IPs; 0 means no agent and no principal', () => {
    const kw = windowOf(
      { pathHash: 10, uaHash: 0, principalHash: 0, ipHash: 7 },
      { pathHash: 10, uaHash: 5, principalHash: 9, ipHash: 7 },
      { pathHash: 11, uaHash: 5, principalHash: 9, ipHash: 8, status: 404 },
      { pathHash: 12, uaHash: 6, principalHash: 0, ipHash: 8, status: 404 },
      { pathHash: 12, uaHash: 0, principalHash: 4, ipHash: 8, status: 404 },
    );
    expect(kw.features()).toMatchObject({ distinctPaths: 3, distinctNotFoundPaths: 2, distinctUserAgents: 2, distinctPrincipals: 2, distinctIps: 2 });
    expect(windowOf({ uaHash: 0 }).features().distinctUserAgents).toBe(0);
    expect(windowOf({ uaHash: 0 }).sampleUserAgents).toEqual([]);
  });

  it.each([
    ['one value', [5], 1],
    ['the same value twice', [5, 5], 1],
    ['two values', [5, 6], 2],
    ['two values, the first again', [5, 6, 5], 2],
    ['three values', [5, 6, 7], 3],
    ['a hash past 2^31 twice', [0x8000_0001, 0x8000_0001], 1],
    ['a hash past 2^31 and another', [0x8000_0001, 0xffff_ffff, 0x8000_0001], 2],
  ])('each distinct counter holds %s exactly', (_name, hashes, size) => {
    const kw = windowOf(...hashes.map((h) => ({ status: 404, pathHash: h, uaHash: h, principalHash: h, ipHash: h })));
    expect(kw.features()).toMatchObject({ distinctPaths: size, distinctNotFoundPaths: size, distinctUserAgents: size, distinctPrincipals: size, distinctIps: size });
    const unique = [...new Set(hashes)];
    expect(kw.toJSON().d).toEqual([unique, unique, unique, unique, unique]);
    for (const d of [kw.paths, kw.notFoundPaths, kw.userAgents, kw.principals, kw.ips]) {
      expect(d.size).toBe(size);
      expect(d.toJSON()).toEqual(unique);
    }
  });

  it('a counter asked for stays live: later values land in the one it gave', () => {
    const kw = new KeyWindow();
    const readers = [kw.paths, kw.notFoundPaths, kw.userAgents, kw.principals, kw.ips];
    expect(readers.map((d) => d.size)).toEqual([0, 0, 0, 0, 0]);
    kw.add(obs({ status: 404, pathHash: 1, uaHash: 1, principalHash: 1, ipHash: 1 }));
    expect(readers.map((d) => d.size)).toEqual([1, 1, 1, 1, 1]);
    expect([kw.paths, kw.notFoundPaths, kw.userAgents, kw.principals, kw.ips]).toEqual(readers);
    expect(kw.paths).toBe(readers[0]);
    kw.add(obs({ status: 404, pathHash: 2, uaHash: 2, principalHash: 2, ipHash: 2 }));
    expect(readers.map((d) => d.size)).toEqual([2, 2, 2, 2, 2]);
    expect(kw.features()).toMatchObject({ distinctPaths: 2, distinctNotFoundPaths: 2, distinctUserAgents: 2, distinctPrincipals: 2, distinctIps: 2 });
    // Asked for after one inline value: the value is carried over.
    const one = windowOf({ status: 404, pathHash: 9, uaHash: 9, principalHash: 9, ipHash: 9 });
    expect([one.paths, one.notFoundPaths, one.userAgents, one.principals, one.ips].map((d) => d.toJSON())).toEqual([[9], [9], [9], [9], [9]]);
  });
});

describe('KeyWindow samples', () => {
  it('keeps the first three distinct 404 paths, in order', () => {
    const kw = windowOf(
      { status: 200, path: '/ok' },
      { status: 404, path: '/a' },
      { status: 404, path: '/a' },
      { status: 403, path: '/forbidden' },
      { status: 404, path: '/b' },
      { status: 404, path: '/c' },
      { status: 404, path: '/d' },
    );
    expect(kw.samplePaths).toEqual(['/a', '/b', '/c']);
  });

  it('keeps the first two distinct agents, in order, and none for requests without one', () => {
    const kw = windowOf(
      { uaHash: 0, userAgent: '', userAgentSample: '' },
      { uaHash: 1, userAgent: 'one', userAgentSample: 'one' },
      { uaHash: 1, userAgent: 'one', userAgentSample: 'one' },
      { uaHash: 2, userAgent: 'two', userAgentSample: 'two' },
      { uaHash: 3, userAgent: 'three', userAgentSample: 'three' },
    );
    expect(kw.sampleUserAgents).toEqual(['one', 'two']);
  });

  it('cuts samples to 200 characters', () => {
    const long = 'p'.repeat(201);
    const kw = windowOf({ status: 404, path: long }, { status: 404, path: 'q'.repeat(200) });
    expect(kw.samplePaths).toEqual(['p'.repeat(200), 'q'.repeat(200)]);
    expect(sampleText('x'.repeat(201))).toBe('x'.repeat(200));
    expect(sampleText('x'.repeat(200))).toBe('x'.repeat(200));
    expect(sampleText('')).toBe('');
  });

  it('a long agent seen twice is one sample, and leaves room for the next agent', () => {
    const long = 'A'.repeat(250);
    const kw = windowOf(
      { uaHash: 1, userAgent: long, userAgentSample: sampleText(long) },
      { uaHash: 1, userAgent: long, userAgentSample: sampleText(long) },
      { uaHash: 2, userAgent: 'curl', userAgentSample: 'curl' },
    );
    expect(kw.sampleUserAgents).toEqual(['A'.repeat(200), 'curl']);
  });

  it('an empty window shares a frozen empty sample list', () => {
    const kw = new KeyWindow();
    expect(kw.samplePaths).toEqual([]);
    expect(Object.isFrozen(kw.samplePaths)).toBe(true);
    expect(Object.isFrozen(kw.sampleUserAgents)).toBe(true);
  });
});

describe('KeyWindow.merge', () => {
  it('adds every counter', () => {
    const a = windowOf({ status: 404, bytes: 3, latencyMs: 10, loginPost: true }, { status: 401, bytes: 4 });
    const b = windowOf({ status: 403, loginPost: true }, { status: 429, attackPayload: true, scannerAgent: true, latencyMs: 20 }, { status: 500, bytes: 5, trapHit: true });
    a.merge(b);
    expect(a.toJSON().c).toEqual([5, 4, 1, 2, 1, 1, 12, 30, 2, 2, 1, 1, 1, 1]);
    // Every counter is read from its own slot: distinct values per slot make a crossed wire visible.
    const x = new KeyWindow();
    const y = KeyWindow.fromJSON({ c: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], d: [[], [], [], [], []], sp: [], su: [] });
    x.merge(y);
    x.merge(y);
    expect(x.toJSON().c).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
  });

  // Every pairing of the three forms a counter takes: empty, one inline value, a Distinct.
  const forms: Record<string, number[]> = { empty: [], one: [5], same: [5, 5], two: [5, 6], other: [7], three: [6, 7, 8] };
  const build = (hashes: number[]) => windowOf(...hashes.map((h) => ({ status: 404, pathHash: h, uaHash: h, principalHash: h, ipHash: h })));
  const live = (hashes: number[]) => {
    const kw = build(hashes);
    void [kw.paths, kw.notFoundPaths, kw.userAgents, kw.principals, kw.ips]; // forced into Distinct objects
    return kw;
  };
  for (const [an, ah] of Object.entries(forms)) {
    for (const [bn, bh] of Object.entries(forms)) {
      it(`merges distinct counters: ${an} + ${bn}`, () => {
        const expected = [...new Set([...ah, ...bh])];
        for (const [x, y] of [[build(ah), build(bh)], [live(ah), build(bh)], [build(ah), live(bh)], [live(ah), live(bh)]]) {
          x.merge(y);
          const f = x.features();
          expect([f.distinctPaths, f.distinctNotFoundPaths, f.distinctUserAgents, f.distinctPrincipals, f.distinctIps]).toEqual(Array(5).fill(expected.length));
          expect(x.toJSON().d).toEqual(Array(5).fill(expected));
        }
      });
    }
  }

  it('merges counters past the exact cap as sketches', () => {
    const many = Array.from({ length: 100 }, (_, i) => i * 7919 + 1);
    const a = build(many.slice(0, 80));
    const b = build(many.slice(20));
    a.merge(b);
    const f = a.features();
    for (const v of [f.distinctPaths, f.distinctNotFoundPaths, f.distinctUserAgents, f.distinctPrincipals, f.distinctIps]) {
      expect(Math.abs(v - 100)).toBeLessThanOrEqual(15);
    }
    const c = build([1]);
    c.merge(build(many));
    expect(typeof c.toJSON().d[0]).toBe('string');
  });

  it('merges samples: distinct, in order, up to three paths and two agents, cut to length', () => {
    const a = windowOf({ status: 404, path: '/a' }, { uaHash: 1, userAgent: 'one', userAgentSample: 'one' });
    const b = KeyWindow.fromJSON({ c: Array(14).fill(0), d: [[], [], [], [], []], sp: ['/a', '/b', 'x'.repeat(300)], su: ['one', 'y'.repeat(300), 'three'] });
    // Read as a sample keeps them: cut to length, so a merge can share them as they are.
    expect(b.samplePaths).toEqual(['/a', '/b', 'x'.repeat(200)]);
    expect(b.sampleUserAgents).toEqual(['one', 'y'.repeat(200)]);
    a.merge(b);
    expect(a.samplePaths).toEqual(['/a', '/b', 'x'.repeat(200)]);
    expect(a.sampleUserAgents).toEqual(['ua', 'one']);
    const c = new KeyWindow();
    c.merge(b);
    c.merge(windowOf({ status: 404, path: '/z' }));
    expect(c.samplePaths).toEqual(['/a', '/b', 'x'.repeat(200)]);
    expect(c.sampleUserAgents).toEqual(['one', 'y'.repeat(200)]);
    const d = windowOf({ status: 404, path: '/q' });
    d.merge(KeyWindow.fromJSON({ c: Array(14).fill(0), d: [[], [], [], [], []], sp: ['/q', '/r'], su: [] }));
    expect(d.samplePaths).toEqual(['/q', '/r']);
  });
});

describe('KeyWindow serialised form', () => {
  it('is the counters in order, the distinct values, and the samples', () => {
    expect(new KeyWindow().toJSON()).toEqual({ c: Array(14).fill(0), d: [[], [], [], [], []], sp: [], su: [] });
    const kw = windowOf(
      { status: 404, bytes: 7, latencyMs: 4, path: '/nf', pathHash: 3, uaHash: 0, ipHash: 0x9000_0000, principalHash: 11, loginPost: true },
      { status: 503, bytes: 1, latencyMs: -1, pathHash: 4, uaHash: 5, userAgent: 'u', userAgentSample: 'u', ipHash: 0x9000_0000, principalHash: 0, scannerAgent: true, trapHit: true },
    );
    expect(kw.toJSON()).toEqual({
      c: [2, 1, 1, 0, 1, 0, 8, 4, 1, 1, 0, 1, 1, 0],
      d: [[3, 4], [3], [5], [11], [0x9000_0000]],
      sp: ['/nf'],
      su: ['u'],
    });
    expect(COUNTER_NAMES).toHaveLength(14);
  });

  it('round-trips exactly', () => {
    const kw = windowOf(
      { status: 404, bytes: 7, latencyMs: 4, path: '/nf', pathHash: 3, uaHash: 0, ipHash: 0xffff_ffff, principalHash: 11 },
      { status: 401, bytes: 1, latencyMs: 6, pathHash: 4, uaHash: 5, userAgent: 'u', userAgentSample: 'u', ipHash: 2, principalHash: 0 },
    );
    const back = KeyWindow.fromJSON(JSON.parse(JSON.stringify(kw.toJSON())) as SerializedKeyWindow);
    expect(back.toJSON()).toEqual(kw.toJSON());
    expect(back.features()).toEqual(kw.features());
    // What was read back counts on: a value already held is not counted twice, a new one is.
    back.add(obs({ pathHash: 3, uaHash: 5, ipHash: 0xffff_ffff, principalHash: 11, status: 404 }));
    expect(back.features()).toMatchObject({ requests: 3, distinctPaths: 2, distinctNotFoundPaths: 1, distinctUserAgents: 1, distinctIps: 2, distinctPrincipals: 1 });
    back.add(obs({ pathHash: 30, uaHash: 50, ipHash: 20, principalHash: 110, status: 404 }));
    expect(back.features()).toMatchObject({ distinctPaths: 3, distinctNotFoundPaths: 2, distinctUserAgents: 2, distinctIps: 3, distinctPrincipals: 2 });
    const empty = KeyWindow.fromJSON(new KeyWindow().toJSON());
    expect(empty.features()).toEqual({ ...EMPTY_FEATURES, meanLatencyMs: -1 });
    empty.add(obs({ pathHash: 1, uaHash: 1, ipHash: 1, principalHash: 1 }));
    expect(empty.features()).toMatchObject({ distinctPaths: 1, distinctUserAgents: 1, distinctIps: 1, distinctPrincipals: 1 });
  });

  it('round-trips any window built from observations', () => {
    const o = fc.record({
      status: fc.constantFrom(200, 401, 404, 429, 500),
      bytes: fc.nat(10_000),
      latencyMs: fc.integer({ min: -1, max: 500 }),
      pathHash: fc.integer({ min: 1, max: 6 }),
      uaHash: fc.integer({ min: 0, max: 3 }),
      principalHash: fc.integer({ min: 0, max: 3 }),
      ipHash: fc.constantFrom(1, 2, 0xffff_fffe),
      trapHit: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(o, { maxLength: 20 }), (list) => {
        const kw = windowOf(...list);
        const back = KeyWindow.fromJSON(JSON.parse(JSON.stringify(kw.toJSON())) as SerializedKeyWindow);
        expect(back.features()).toEqual(kw.features());
        expect(back.toJSON()).toEqual(kw.toJSON());
      }),
      { numRuns: 100 },
    );
  });

  it('reads samples leniently: non-strings dropped, at most three paths and two agents, none when absent', () => {
    const base = { c: Array(14).fill(0), d: [[], [], [], [], []] };
    const kw = KeyWindow.fromJSON({ ...base, sp: ['/a', 5, '/b', null, '/c', '/d'], su: [1, 'one', 'two', 'three'] } as unknown as SerializedKeyWindow);
    expect(kw.samplePaths).toEqual(['/a', '/b', '/c']);
    expect(kw.sampleUserAgents).toEqual(['one', 'two']);
    const none = KeyWindow.fromJSON(base as unknown as SerializedKeyWindow);
    expect(none.samplePaths).toEqual([]);
    expect(none.sampleUserAgents).toEqual([]);
    const odd = KeyWindow.fromJSON({ ...base, sp: 'x', su: { 0: 'y' } } as unknown as SerializedKeyWindow);
    expect(odd.samplePaths).toEqual([]);
    expect(odd.sampleUserAgents).toEqual([]);
  });

  it('reads each distinct counter on its own: none, one, several, in any mix', () => {
    const base = { c: Array(14).fill(0), sp: [], su: [] };
    const kw = KeyWindow.fromJSON({ ...base, d: [[5], [], [6, 7], [], [0xffff_fff8]] });
    expect(kw.features()).toMatchObject({ distinctPaths: 1, distinctNotFoundPaths: 0, distinctUserAgents: 2, distinctPrincipals: 0, distinctIps: 1 });
    expect(kw.toJSON().d).toEqual([[5], [], [6, 7], [], [0xffff_fff8]]);
    const other = KeyWindow.fromJSON({ ...base, d: [[], [9], [], [10, 11, 12], []] });
    expect(other.features()).toMatchObject({ distinctPaths: 0, distinctNotFoundPaths: 1, distinctUserAgents: 0, distinctPrincipals: 3, distinctIps: 0 });
    expect(other.toJSON().d).toEqual([[], [9], [], [10, 11, 12], []]);
    // Read back and added to: a value held already is not counted twice.
    kw.add(obs({ pathHash: 5, uaHash: 7, ipHash: 0xffff_fff8, principalHash: 0 }));
    expect(kw.features()).toMatchObject({ distinctPaths: 1, distinctUserAgents: 2, distinctIps: 1 });
  });

  it('reads a counter that is not a list of numbers leniently: non-numbers skipped, anything else empty', () => {
    const base = { c: Array(14).fill(0), sp: [], su: [] };
    const kw = KeyWindow.fromJSON({ ...base, d: [null, 5, { 0: 1 }, true, undefined] } as unknown as SerializedKeyWindow);
    expect(kw.features()).toMatchObject({ distinctPaths: 0, distinctNotFoundPaths: 0, distinctUserAgents: 0, distinctPrincipals: 0, distinctIps: 0 });
    expect(kw.toJSON().d).toEqual([[], [], [], [], []]);
    const odd = KeyWindow.fromJSON({ ...base, d: [['x'], [1.7], ['x', 3], [null], [2, 'y', 2]] } as unknown as SerializedKeyWindow);
    expect(odd.features()).toMatchObject({ distinctPaths: 0, distinctNotFoundPaths: 1, distinctUserAgents: 1, distinctPrincipals: 0, distinctIps: 1 });
    expect(odd.toJSON().d).toEqual([[], [1], [3], [], [2]]);
  });

  it('reads counters at zero, and a sketch', () => {
    const many = windowOf(...Array.from({ length: 70 }, (_, i) => ({ pathHash: i + 1 })));
    const ser = many.toJSON();
    expect(typeof ser.d[0]).toBe('string');
    const back = KeyWindow.fromJSON(JSON.parse(JSON.stringify(ser)) as SerializedKeyWindow);
    expect(back.features().distinctPaths).toBe(many.features().distinctPaths);
    expect(back.toJSON().d[0]).toBe(ser.d[0]);
  });

  const good = (): SerializedKeyWindow => ({ c: Array(14).fill(0), d: [[], [], [], [], []], sp: [], su: [] });
  it.each([
    ['null', () => null, 'malformed key window'],
    ['no counters', () => ({ ...good(), c: undefined }), 'malformed key window'],
    ['counters not an array', () => ({ ...good(), c: 'x'.repeat(12) }), 'malformed key window'],
    ['twelve counters (fromJSON reads this release\'s order: the wire remaps others by name first)', () => ({ ...good(), c: Array(12).fill(0) }), 'malformed key window'],
    ['fifteen counters', () => ({ ...good(), c: Array(15).fill(0) }), 'malformed key window'],
    ['no distincts', () => ({ ...good(), d: undefined }), 'malformed key window'],
    ['distincts not an array', () => ({ ...good(), d: 'xxxxx' }), 'malformed key window'],
    ['four distincts', () => ({ ...good(), d: [[], [], [], []] }), 'malformed key window'],
    ['six distincts', () => ({ ...good(), d: [[], [], [], [], [], []] }), 'malformed key window'],
    ['a counter as text', () => ({ ...good(), c: [...Array(13).fill(0), '1'] }), 'bad counter'],
    ['a counter NaN', () => ({ ...good(), c: [NaN, ...Array(13).fill(0)] }), 'bad counter'],
    ['a counter infinite', () => ({ ...good(), c: [...Array(5).fill(0), Infinity, ...Array(8).fill(0)] }), 'bad counter'],
    ['a counter negative', () => ({ ...good(), c: [...Array(6).fill(0), -1, ...Array(7).fill(0)] }), 'bad counter'],
    ['a sketch of the wrong size', () => ({ ...good(), d: [[], [], 'AAAA', [], []] }), 'distinct sketch has the wrong size'],
  ])('rejects a malformed window: %s', (_name, make, message) => {
    expect(() => KeyWindow.fromJSON(make() as unknown as SerializedKeyWindow)).toThrow(new TypeError(message));
  });

  it('accepts fractional and zero counters (only negatives and non-finite are malformed)', () => {
    const kw = KeyWindow.fromJSON({ ...good(), c: [0, 0, 0, 0, 0, 0, 0, 0.5, 1, 0, 0, 0, 0, 0] });
    expect(kw.features().meanLatencyMs).toBe(1);
  });
});
