import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { partitionPrefixOf, widestPrefixes } from '../../src/engine/ingest.ts';

// A wide prefix is judged where all its hosts and narrower prefixes meet: ingest partitions by the widest prefix kept.
describe('the prefix ingest partitions a key by', () => {
  it('IPv6: hosts, /64s, /56s and the /48 of one /48 share it; IPv4 stays per /24 by default', () => {
    const [w4, w6] = widestPrefixes(parseConfig({}));
    expect([w4, w6]).toEqual([24, 48]);
    const keys = ['2001:db8:77:1::5', '2001:db8:77:ff00::9', '2001:db8:77:1::/64', '2001:db8:77:ff00::/56', '2001:db8:77::/48'];
    expect(new Set(keys.map((k) => partitionPrefixOf(k, w4, w6)))).toEqual(new Set(['2001:db8:77::/48']));
    expect(partitionPrefixOf('198.18.7.9', w4, w6)).toBe('198.18.7.0/24');
    expect(partitionPrefixOf('198.18.8.9', w4, w6)).toBe('198.18.8.0/24');
  });

  it('IPv4 /16 opt-in: hosts and /24s of a /16 meet; wide widths not shorter than the family prefix are ignored', () => {
    const [w4, w6] = widestPrefixes(parseConfig({ aggregation: { ipv4WidePrefixes: [16] } }));
    expect(new Set(['198.18.7.9', '198.18.200.1', '198.18.7.0/24', '198.18.0.0/16'].map((k) => partitionPrefixOf(k, w4, w6))))
      .toEqual(new Set(['198.18.0.0/16']));
    expect(widestPrefixes(parseConfig({ aggregation: { ipv6Prefix: 56 } }))).toEqual([24, 48]);
    expect(widestPrefixes(parseConfig({ aggregation: { ipv6Prefix: 48 } }))).toEqual([24, 48]);
    expect(widestPrefixes(parseConfig({ aggregation: { ipv6WidePrefixes: [] } }))).toEqual([24, 64]);
  });
});

describe('wide prefixes on the wire (revision 4: `q`)', () => {
  it('travel apart from the client prefixes, survive packing and splitting, and are read only for the widths kept', async () => {
    const { windowerFor } = await import('../../src/engine/ingest.ts');
    const { decodeSummaryRecord, packSummaryRecords } = await import('../../src/engine/wire.ts');
    const { ev } = await import('../helpers/events.ts');
    const cfg = parseConfig({});
    const w = windowerFor(cfg);
    for (const ip of ['2001:db8:77:1::5', '2001:db8:77:2::5', '2001:db8:77:300::5']) w.add(ev({ ip, status: 404 }));
    const [partial] = w.drainPartials();
    expect(partial.p.map(([k]) => k).sort()).toEqual(['2001:db8:77:1::/64', '2001:db8:77:2::/64', '2001:db8:77:300::/64']);
    expect(partial.q!.map(([k]) => k).sort()).toEqual(['2001:db8:77:300::/56', '2001:db8:77::/48', '2001:db8:77::/56']);
    // A record limit so small that the part is split key by key: every wide prefix still arrives, once.
    const records = packSummaryRecords([{ ...partial, id: 'r1' }], 400, 'identity');
    expect(records.length).toBeGreaterThan(1);
    const parts = records.flatMap((r) => decodeSummaryRecord(r));
    expect(parts.flatMap((p) => (p.q ?? []).map(([k]) => k)).sort()).toEqual(partial.q!.map(([k]) => k).sort());
    const keeps = windowerFor(cfg);
    const ignores = windowerFor(parseConfig({ aggregation: { ipv6WidePrefixes: [] } }));
    for (const p of parts) {
      keeps.addPartial(p);
      ignores.addPartial(p);
    }
    expect([...keeps.closeAll()[0].keys.byWidePrefix.keys()].sort()).toEqual(partial.q!.map(([k]) => k).sort());
    const closed = ignores.closeAll()[0];
    expect(closed.keys.byWidePrefix.size).toBe(0);
    expect(closed.keys.byPrefix.size).toBe(3);
  });
});
