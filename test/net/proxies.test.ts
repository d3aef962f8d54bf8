import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { parseCidr } from '../../src/net/cidr.ts';
import {
  CLOUDFRONT_RANGES,
  cloudfrontRangesFrom,
  IpRangesFormatError,
  isProxy,
  PROXY_ADVICE,
  ProxyConfigError,
  ProxySet,
  proxySetFor,
} from '../../src/net/proxies.ts';
import { HELD_BACK_TEXT } from '../../src/report/format.ts';
import { project } from '../../src/contain/projection.ts';
import { entry, NOW, runner, T, MIN, verdict } from '../contain/fixtures.ts';
import { StageKit } from '../engine/stage-kit.ts';
import { spread, T0 } from '../helpers/events.ts';

describe('the shipped CloudFront ranges', () => {
  it('are dated, sourced, and say whether they are complete', () => {
    expect(CLOUDFRONT_RANGES.source).toBe('https://ip-ranges.amazonaws.com/ip-ranges.json');
    expect(CLOUDFRONT_RANGES.services).toEqual(['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING']);
    expect(CLOUDFRONT_RANGES.createDate).toMatch(/^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/);
    expect(CLOUDFRONT_RANGES.syncToken).toMatch(/^\d+$/);
    // The copy in the repository is an excerpt until refreshed; it must say so.
    if (!CLOUDFRONT_RANGES.complete) expect(CLOUDFRONT_RANGES.note).toMatch(/npm run refresh-cloudfront-ranges/);
  });

  it('hold canonical prefixes of the right family, none /0, none repeated', () => {
    for (const [list, family] of [[CLOUDFRONT_RANGES.ipv4, 4], [CLOUDFRONT_RANGES.ipv6, 6]] as const) {
      expect(list.length).toBeGreaterThan(0);
      for (const p of list) {
        const c = parseCidr(p);
        expect(c, p).not.toBeNull();
        expect(c!.family, p).toBe(family);
        expect(c!.len, p).toBeGreaterThan(0);
      }
      expect(new Set(list).size).toBe(list.length);
    }
  });
});

describe('isProxy', () => {
  it.each([
    ['13.32.0.0', true], // first address of 13.32.0.0/15
    ['13.33.255.255', true], // last address of it
    ['13.34.0.0', false], // just past it
    ['13.31.255.255', false], // just before it
    ['130.176.12.34', true],
    ['2600:9000:2000::1', true],
    ['2600:9000:5000::1', false],
    ['8.8.8.8', false],
    ['203.0.113.7', false],
  ])('%s → %s', (address, want) => {
    expect(isProxy(address)).toBe(want);
  });

  it('answers for addresses only: a block, garbage and empty input are not proxy addresses', () => {
    expect(isProxy('13.32.0.0/24')).toBe(false);
    expect(isProxy('not an ip')).toBe(false);
    expect(isProxy('')).toBe(false);
  });

  it('with a config: configured proxies, and CloudFront only when asked', () => {
    const lb = { cidrs: ['10.0.5.0/24', '2001:db8:5::7'], cloudfront: false };
    expect(isProxy('10.0.5.9', lb)).toBe(true);
    expect(isProxy('10.0.6.9', lb)).toBe(false);
    expect(isProxy('2001:db8:5::7', lb)).toBe(true);
    expect(isProxy('2001:db8:5::8', lb)).toBe(false);
    expect(isProxy('13.32.0.1', lb)).toBe(false);
    expect(isProxy('13.32.0.1', { ...lb, cloudfront: true })).toBe(true);
  });
});

describe('ProxySet', () => {
  const set = new ProxySet({ cidrs: ['192.0.2.128/25'], cloudfront: true });

  it('would a block touch a proxy: an address inside, a block overlapping either way; never a principal', () => {
    expect(set.touches('192.0.2.200', 'ip')).toBe(true);
    expect(set.touches('192.0.2.0/24', 'cidr')).toBe(true); // holds the proxies
    expect(set.touches('192.0.2.192/26', 'cidr')).toBe(true); // inside them
    expect(set.touches('192.0.2.0/25', 'cidr')).toBe(false); // beside them
    expect(set.touches('13.32.7.0/24', 'cidr')).toBe(true);
    expect(set.touches('2600:9000:2000:1::/64', 'cidr')).toBe(true);
    expect(set.touches('arn:aws:iam::111122223333:user/x', 'principal')).toBe(false);
    expect(set.touches('13.32.0.1', 'principal')).toBe(false);
  });

  it('names the kind, configured first', () => {
    expect(set.kindOf('192.0.2.129')).toBe('configured');
    expect(set.kindOf('13.32.0.1')).toBe('cloudfront');
    expect(set.kindOf('198.51.100.1')).toBeNull();
    expect(new ProxySet({ cidrs: ['13.32.0.0/16'], cloudfront: true }).kindOf('13.32.0.1')).toBe('configured');
  });

  it('counts its ranges: configured ones, plus CloudFront\'s when asked', () => {
    expect(new ProxySet({ cidrs: ['10.0.0.0/8'], cloudfront: false }).size).toBe(1);
    expect(set.size).toBe(1 + CLOUDFRONT_RANGES.ipv4.length + CLOUDFRONT_RANGES.ipv6.length);
    expect(new ProxySet({ cidrs: ['10.0.0.1'], cloudfront: false }).cidrTexts).toEqual(['10.0.0.1/32']);
  });

  it('refuses what is not an address or CIDR, and /0', () => {
    expect(() => new ProxySet({ cidrs: ['nope'], cloudfront: false })).toThrow(ProxyConfigError);
    expect(() => new ProxySet({ cidrs: ['nope'], cloudfront: false })).toThrow('proxies: not an address or CIDR (configured): "nope"');
    expect(() => new ProxySet({ cidrs: ['::/0'], cloudfront: false })).toThrow('would make every address a proxy');
  });

  it('is built once per config block; no block means no proxies', () => {
    const cfg = { cidrs: ['10.0.0.0/8'], cloudfront: false };
    expect(proxySetFor(cfg)).toBe(proxySetFor(cfg));
    expect(proxySetFor(undefined).size).toBe(0);
  });
});

describe('config: proxies', () => {
  it('defaults to none, CloudFront off', () => {
    expect(parseConfig({}).proxies).toEqual({ cidrs: [], cloudfront: false });
  });
  it('takes CIDRs and the CloudFront switch, and names a bad entry', () => {
    expect(parseConfig({ proxies: { cidrs: ['10.0.0.0/8'], cloudfront: true } }).proxies).toEqual({ cidrs: ['10.0.0.0/8'], cloudfront: true });
    expect(() => parseConfig({ proxies: { cidrs: ['x'] } })).toThrow(/proxies\.cidrs\.0: not an IP address or CIDR/);
    expect(() => parseConfig({ proxies: { cloudfrnt: true } })).toThrow(/proxies/);
  });
});

describe('decide: a proxy is never blocked, and its traffic is alerted with advice', () => {
  const edge = '13.32.0.10'; // CloudFront, in the shipped ranges

  it('a flood through a CloudFront edge: an alert held back as proxy, carrying the advice; no block', () => {
    const r = runner({ proxies: { cloudfront: true } });
    const out = r.decide([verdict(edge), verdict('198.51.100.9')]);
    expect(out.decisions.map((d) => [d.target, d.action, d.evidence.heldBack])).toEqual([
      [edge, 'alert', 'proxy'],
      ['198.51.100.9', 'block', undefined],
    ]);
    expect(out.decisions[0].evidence.advice).toBe(PROXY_ADVICE);
    expect(out.blocks.map((b) => b.target)).toEqual(['198.51.100.9']);
    expect(out.held.map((h) => [h.target, h.status])).toEqual([[edge, 'held']]);
    expect(out.page).toBe(false);
    // Alerted once per period, not every window.
    expect(r.decide([verdict(edge)], { closedAt: NOW + MIN }).decisions).toEqual([]);
  });

  it('without the CloudFront switch, the same edge is blocked as any address', () => {
    const out = runner().decide([verdict(edge)]);
    expect(out.decisions.map((d) => [d.target, d.action])).toEqual([[edge, 'block']]);
  });

  it('a configured proxy: its address and a block holding it are held; even in a dry run it says proxy', () => {
    const r = runner({ dryRun: true, proxies: { cidrs: ['192.0.2.200'] } });
    const out = r.decide([verdict('192.0.2.200'), verdict('192.0.2.0/24', { score: 4 }), verdict('192.0.2.7', { score: 3 })]);
    expect(out.decisions.map((d) => [d.target, d.action, d.evidence.heldBack])).toEqual([
      ['192.0.2.200', 'alert', 'proxy'],
      ['192.0.2.0/24', 'alert', 'proxy'],
      ['192.0.2.7', 'alert', 'dry-run'],
    ]);
  });

  it('hosts blocked beside a configured proxy are not widened into a /24 that holds it', () => {
    const hosts = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((ip) => verdict(ip));
    const window = {
      establishedByPrefix: new Map([['192.0.2.0/24', 0]]),
      timeline: { start: T - MIN, requests: 10_000, errors: 0, notFound: 0, authFailures: 0, uniqueIps: 1000 },
    };
    const blocked = (config: Record<string, unknown>) =>
      runner(config).decide(hosts, window).decisions.filter((d) => d.action === 'block').map((d) => d.target);
    expect(blocked({})).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.0/24']);
    expect(blocked({ proxies: { cidrs: ['192.0.2.250'] } })).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  });

  it('blocks decided before a proxy was configured are not enforced over it: WAF and the policy are cut around it', () => {
    const active = [entry('13.32.0.10'), entry('198.51.100.9'), entry('192.0.2.0/24', { score: 3 }), entry('2600:9000:2000::/64')];
    const before = project(active, parseConfig({}));
    expect(before.ipSets).toEqual({ v4: ['13.32.0.10/32', '192.0.2.0/24', '198.51.100.9/32'], v6: ['2600:9000:2000::/64'] });
    const around = ['192.0.2.0/25', '192.0.2.128/26', '192.0.2.192/27', '192.0.2.224/28', '192.0.2.240/29', '192.0.2.248/31', '192.0.2.251/32', '192.0.2.252/30'];
    const after = project(active, parseConfig({ proxies: { cidrs: ['192.0.2.250'], cloudfront: true } }));
    expect(after.ipSets).toEqual({ v4: [...around, '198.51.100.9/32'], v6: [] });
    expect(after.deny.cidrs).toEqual(around);
  });

  it('the reports say what to do', () => {
    expect(HELD_BACK_TEXT.proxy).toBe(PROXY_ADVICE);
    expect(PROXY_ADVICE).toContain('$context.identity.sourceIp');
    expect(PROXY_ADVICE).toContain('X-Forwarded-For');
  });
});

describe('traffic behind CloudFront, through the stages (ingest, detect, ledger, contain)', () => {
  // Edge addresses from the shipped ranges, each carrying many users; a flood comes through two of them.
  const EDGES = ['13.32.0.10', '13.32.0.11', '130.176.9.20', '130.176.9.21', '64.252.70.5', '99.84.3.3', '143.204.1.1', '54.192.7.7'];
  const FLOODED = ['13.32.0.10', '130.176.9.20'];
  const minute = (start: number) => [
    ...EDGES.flatMap((ip, e) => spread(60, start, (i) => ({ ip, userAgent: `Mozilla/5.0 (${e}-${i % 30})` }))),
    ...Array.from({ length: 40 }, (_, i) => spread(2, start, () => ({ ip: `198.51.100.${i + 1}` }))).flat(),
    ...FLOODED.flatMap((ip) => spread(3000, start, () => ({ ip, path: '/search' }))),
    ...spread(3000, start, () => ({ ip: '203.0.113.66', path: '/search' })), // a direct client floods too
  ];
  async function run(config: unknown): Promise<StageKit> {
    const kit = new StageKit(config);
    await kit.ingestEvents(minute(T0));
    await kit.deliver(T0 + MIN + 30_000);
    await kit.detect.tick(T0 + 3 * MIN);
    await kit.contain.run(T0 + 3 * MIN);
    return kit;
  }
  const inEdge = (blocks: string[]) => EDGES.filter((ip) => blocks.some((b) => parseCidr(b) && new ProxySet({ cidrs: [b], cloudfront: false }).isProxy(ip)));

  it('no edge address is blocked, the flood through each edge is alerted with advice; the direct flood is blocked', async () => {
    const kit = await run({ proxies: { cloudfront: true } });
    expect(inEdge([...kit.ipSet.v4, ...kit.deny.cidrs])).toEqual([]);
    expect(kit.ipSet.v4).toEqual(['203.0.113.66/32']);
    const alerted = kit.alerts.flatMap((b) => b.decisions).filter((d) => d.action === 'alert');
    // Each edge, and the /24 around it (its prefix acts too), held back as a proxy.
    expect(alerted.map((d) => [d.target, d.evidence.heldBack, d.evidence.advice]).sort()).toEqual(
      ['13.32.0.0/24', '13.32.0.10', '130.176.9.0/24', '130.176.9.20'].map((t) => [t, 'proxy', PROXY_ADVICE]),
    );
    expect((await kit.state.listAll()).filter((e) => e.status === 'active').map((e) => e.target)).toEqual(['203.0.113.66']);
  });

  it('the control: without the CloudFront switch the two edges are blocked, and everyone behind them with them', async () => {
    const kit = await run({});
    expect(inEdge(kit.ipSet.v4)).toEqual(FLOODED);
  });
});

/** An ip-ranges.json shaped as AWS publishes it, with documentation addresses. */
const ipRanges = (over: Record<string, unknown> = {}) => ({
  syncToken: '1790000000',
  createDate: '2026-10-01-12-00-00',
  prefixes: [
    { ip_prefix: '198.51.100.0/24', region: 'GLOBAL', service: 'CLOUDFRONT', network_border_group: 'GLOBAL' },
    { ip_prefix: '198.51.100.0/24', region: 'GLOBAL', service: 'AMAZON', network_border_group: 'GLOBAL' },
    { ip_prefix: '192.0.2.0/26', region: 'GLOBAL', service: 'CLOUDFRONT_ORIGIN_FACING', network_border_group: 'GLOBAL' },
    { ip_prefix: '198.51.100.0/24', region: 'GLOBAL', service: 'CLOUDFRONT_ORIGIN_FACING', network_border_group: 'GLOBAL' },
    { ip_prefix: '203.0.113.0/24', region: 'us-east-1', service: 'EC2', network_border_group: 'us-east-1' },
    { ip_prefix: '10.0.0.0/8', region: 'GLOBAL', service: 'CLOUDFRONT', network_border_group: 'GLOBAL' },
  ],
  ipv6_prefixes: [
    { ipv6_prefix: '2001:DB8:2::/48', region: 'GLOBAL', service: 'CLOUDFRONT', network_border_group: 'GLOBAL' },
    { ipv6_prefix: '2001:db8:1::/48', region: 'GLOBAL', service: 'CLOUDFRONT_ORIGIN_FACING', network_border_group: 'GLOBAL' },
    { ipv6_prefix: '2001:db8:9::/48', region: 'eu-west-1', service: 'S3', network_border_group: 'eu-west-1' },
  ],
  ...over,
});

describe('cloudfrontRangesFrom', () => {
  it('keeps the CloudFront services of both families: canonical, once each, in address order, dated', () => {
    expect(cloudfrontRangesFrom(ipRanges())).toEqual({
      source: 'https://ip-ranges.amazonaws.com/ip-ranges.json',
      services: ['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING'],
      createDate: '2026-10-01-12-00-00',
      syncToken: '1790000000',
      complete: true,
      ipv4: ['10.0.0.0/8', '192.0.2.0/26', '198.51.100.0/24'],
      ipv6: ['2001:db8:1::/48', '2001:db8:2::/48'],
    });
  });

  it.each([
    ['not an object', [], /the document is not an object/],
    ['no createDate', ipRanges({ createDate: undefined }), /createDate is missing/],
    ['a createDate of another form', ipRanges({ createDate: '2026-10-01' }), /is not YYYY-MM-DD-hh-mm-ss/],
    ['no syncToken', ipRanges({ syncToken: '' }), /syncToken is missing/],
    ['no prefixes list', ipRanges({ prefixes: {} }), /prefixes is not a list/],
    ['no CloudFront IPv6 (a truncated file)', ipRanges({ ipv6_prefixes: [] }), /no CloudFront IPv6 prefix/],
    ['an IPv6 prefix among the IPv4 ones', ipRanges({ prefixes: [{ ip_prefix: '2001:db8::/32', service: 'CLOUDFRONT' }] }), /is not an IPv4 prefix/],
    ['a broken prefix', ipRanges({ prefixes: [{ ip_prefix: '13.32.0.0/33', service: 'CLOUDFRONT' }] }), /"13.32.0.0\/33" is not an IPv4 prefix/],
  ])('refuses %s', (_label, doc, message) => {
    expect(() => cloudfrontRangesFrom(doc)).toThrow(IpRangesFormatError);
    expect(() => cloudfrontRangesFrom(doc)).toThrow(message);
  });
});

describe('npm run refresh-cloudfront-ranges', () => {
  it('rewrites the file from a downloaded copy, and leaves it alone when the copy is unusable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-cf-'));
    const from = join(dir, 'ip-ranges.json');
    const out = join(dir, 'cloudfront-ranges.json');
    writeFileSync(from, JSON.stringify(ipRanges()));
    const script = join(import.meta.dirname, '../../scripts/refresh-cloudfront-ranges.ts');
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', script, '--from', from, '--out', out], { encoding: 'utf8' });
    expect(stdout).toContain('3 IPv4 and 2 IPv6 prefixes, ip-ranges.json of 2026-10-01-12-00-00 (syncToken 1790000000)');
    const written = readFileSync(out, 'utf8');
    expect(JSON.parse(written)).toEqual(cloudfrontRangesFrom(ipRanges()));
    expect(written.endsWith('}\n')).toBe(true);

    writeFileSync(from, JSON.stringify(ipRanges({ ipv6_prefixes: [] })));
    let failed: { status: number; stderr: string } | null = null;
    try {
      execFileSync(process.execPath, ['--import', 'tsx', script, '--from', from, '--out', out], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      failed = err as { status: number; stderr: string };
    }
    expect(failed?.status).toBe(1);
    expect(failed?.stderr).toContain('refresh-cloudfront-ranges: no CloudFront IPv6 prefix in the document');
    expect(readFileSync(out, 'utf8')).toBe(written);
  }, 60_000);
});
