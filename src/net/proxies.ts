import { type Cidr, compareCidr, formatCidr, overlaps, parseCidr } from './cidr.ts';
import cloudfrontRanges from './cloudfront-ranges.json' with { type: 'json' };

/**
 * Proxies in front of an API. Behind your own CloudFront distribution or a load balancer, API Gateway's
 * `$context.identity.sourceIp` is the proxy (the TCP peer), not the client: one edge address carries many users, so
 * blocking it blocks all of them, and a flood through it is some client behind it. cordon never blocks a proxy
 * address; it alerts instead, with {@link PROXY_ADVICE}. Edge-optimized APIs are not affected: API Gateway's own
 * CloudFront distribution logs the real client.
 *
 * AWS publishes CloudFront's addresses in ip-ranges.json: "search ip-ranges.json for … "service": "CLOUDFRONT""
 * (CloudFront Developer Guide, "Locations and IP address ranges of CloudFront edge servers"); the servers that
 * connect to origins are service CLOUDFRONT_ORIGIN_FACING. A dated copy of both ships in cloudfront-ranges.json
 * ({@link CLOUDFRONT_RANGES}, see its `createDate` and `complete`); `npm run refresh-cloudfront-ranges` renews it.
 */

/** The alert text for traffic through a proxy. */
export const PROXY_ADVICE =
  'this address is a CloudFront edge/proxy: configure the real client IP in the access log format ($context.identity.sourceIp vs X-Forwarded-For)';

export interface CloudFrontRanges {
  /** Where the list comes from. */
  source: string;
  /** ip-ranges.json services the list is the union of. */
  services: string[];
  /** `createDate` of the ip-ranges.json it was taken from (`YYYY-MM-DD-hh-mm-ss`, UTC). */
  createDate: string;
  syncToken: string;
  /** False for a partial copy (an excerpt): addresses outside it may still be CloudFront's. */
  complete: boolean;
  note?: string;
  ipv4: string[];
  ipv6: string[];
}

export const CLOUDFRONT_RANGES: CloudFrontRanges = cloudfrontRanges;

export interface ProxyConfig {
  /** Addresses and CIDRs of proxies of your own (load balancers, corporate proxies, another CDN). */
  cidrs: readonly string[];
  /** Also AWS's CloudFront ranges ({@link CLOUDFRONT_RANGES}). */
  cloudfront: boolean;
}

export type ProxyKind = 'cloudfront' | 'configured';

export class ProxyConfigError extends Error {
  override name = 'ProxyConfigError';
}

/** A set of proxy ranges; answers for addresses and for the blocks cordon would write. */
export class ProxySet {
  private readonly ranges: { cidr: Cidr; kind: ProxyKind }[] = [];

  constructor(cfg: ProxyConfig, cloudfront: CloudFrontRanges = CLOUDFRONT_RANGES) {
    const add = (text: string, kind: ProxyKind) => {
      const cidr = parseCidr(text);
      if (cidr === null) throw new ProxyConfigError(`proxies: not an address or CIDR (${kind}): ${JSON.stringify(text)}`);
      if (cidr.len === 0) throw new ProxyConfigError(`proxies: ${JSON.stringify(text)} would make every address a proxy`);
      this.ranges.push({ cidr, kind });
    };
    for (const c of cfg.cidrs) add(c, 'configured');
    if (cfg.cloudfront) for (const c of [...cloudfront.ipv4, ...cloudfront.ipv6]) add(c, 'cloudfront');
  }

  get size(): number {
    return this.ranges.length;
  }

  /** What kind of proxy `address` is (configured ranges first), or null. A CIDR counts when it overlaps one. */
  kindOf(address: string): ProxyKind | null {
    const c = parseCidr(address);
    if (c === null) return null;
    return this.ranges.find((r) => overlaps(r.cidr, c))?.kind ?? null;
  }

  /** True when `address` lies in a proxy range. */
  isProxy(address: string): boolean {
    const c = parseCidr(address);
    return c !== null && c.len === (c.family === 4 ? 32 : 128) && this.kindOf(address) !== null;
  }

  /**
   * True when blocking `target` would block a proxy address: an address inside a proxy range, or a CIDR that
   * overlaps one. Principals never do.
   */
  touches(target: string, kind: 'ip' | 'cidr' | 'principal'): boolean {
    if (kind === 'principal') return false;
    return this.kindOf(target) !== null;
  }

  /** The proxy ranges, canonical. */
  get cidrTexts(): string[] {
    return this.ranges.map((r) => formatCidr(r.cidr));
  }
}

const cache = new WeakMap<object, ProxySet>();
const NO_PROXIES: ProxyConfig = Object.freeze({ cidrs: [], cloudfront: false });
const CLOUDFRONT_ONLY: ProxyConfig = Object.freeze({ cidrs: [], cloudfront: true });

/**
 * The {@link ProxySet} of a config block, built once per block (decide runs every window). A missing block (a
 * config object made before proxies existed) has no proxies.
 */
export function proxySetFor(cfg: ProxyConfig | undefined): ProxySet {
  const key = cfg ?? NO_PROXIES;
  let set = cache.get(key);
  if (!set) {
    set = new ProxySet(key);
    cache.set(key, set);
  }
  return set;
}

/**
 * True when `address` is a proxy address: by default, one of CloudFront's published ranges; with `cfg`, those of
 * the config (configured CIDRs, and CloudFront's if `cloudfront`). A pure function of its arguments and the shipped
 * ranges.
 */
export function isProxy(address: string, cfg: ProxyConfig = CLOUDFRONT_ONLY): boolean {
  return proxySetFor(cfg).isProxy(address);
}

/** The ip-ranges.json services whose prefixes are CloudFront's. */
export const CLOUDFRONT_SERVICES = ['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING'] as const;

export class IpRangesFormatError extends Error {
  override name = 'IpRangesFormatError';
}

/**
 * The complete {@link CloudFrontRanges} of an ip-ranges.json document (as AWS publishes it: `syncToken`,
 * `createDate`, `prefixes[].ip_prefix`, `ipv6_prefixes[].ipv6_prefix`, each with its `service`): the union of the
 * CLOUDFRONT and CLOUDFRONT_ORIGIN_FACING prefixes, canonical, without duplicates, in address order. Throws
 * {@link IpRangesFormatError} on a document of another shape, or one without CloudFront prefixes of both
 * families (a truncated download must not replace a good copy).
 */
export function cloudfrontRangesFrom(doc: unknown, source = 'https://ip-ranges.amazonaws.com/ip-ranges.json'): CloudFrontRanges {
  const obj = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new IpRangesFormatError(`${what} is not an object`);
    return v as Record<string, unknown>;
  };
  const d = obj(doc, 'the document');
  const text = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || v === '') throw new IpRangesFormatError(`${what} is missing`);
    return v;
  };
  const createDate = text(d.createDate, 'createDate');
  if (!/^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/.test(createDate)) throw new IpRangesFormatError(`createDate ${JSON.stringify(createDate)} is not YYYY-MM-DD-hh-mm-ss`);
  const syncToken = text(d.syncToken, 'syncToken');
  const pick = (list: unknown, key: 'ip_prefix' | 'ipv6_prefix', family: 4 | 6): string[] => {
    if (!Array.isArray(list)) throw new IpRangesFormatError(`${key === 'ip_prefix' ? 'prefixes' : 'ipv6_prefixes'} is not a list`);
    const found = new Map<string, Cidr>();
    for (const [i, raw] of list.entries()) {
      const e = obj(raw, `${key} entry ${i}`);
      if (!(CLOUDFRONT_SERVICES as readonly unknown[]).includes(e.service)) continue;
      const c = parseCidr(text(e[key], `${key} of entry ${i}`));
      if (c === null || c.family !== family || c.len === 0) throw new IpRangesFormatError(`entry ${i}: ${JSON.stringify(e[key])} is not an IPv${family} prefix`);
      found.set(formatCidr(c), c);
    }
    if (found.size === 0) throw new IpRangesFormatError(`no CloudFront IPv${family} prefix in the document`);
    return [...found.values()].sort(compareCidr).map(formatCidr);
  };
  return {
    source,
    services: [...CLOUDFRONT_SERVICES],
    createDate,
    syncToken,
    complete: true,
    ipv4: pick(d.prefixes, 'ip_prefix', 4),
    ipv6: pick(d.ipv6_prefixes, 'ipv6_prefix', 6),
  };
}
