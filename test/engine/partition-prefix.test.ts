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
