import ipaddr from 'ipaddr.js';

/**
 * Client addresses as keys. Every address is normalised once, at decode time, so that the same client always
 * yields the same key: dotted IPv4 without leading zeros, `::ffff:a.b.c.d` as the IPv4 it carries, and IPv6
 * compressed lower-case (RFC 5952).
 */

/** True for a strict dotted-quad without leading zeros: the common case, checked without allocating. */
function isCanonicalIpv4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let digits = 0;
  let value = 0;
  let first = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || value > 255 || (digits > 1 && first === 48)) return false;
      parts++;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 0) first = c;
      value = value * 10 + (c - 48);
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return parts === 4;
}

/** Addresses that needed the slow path (IPv6, mapped, bracketed), remembered: clients repeat. */
const slowPathCache = new Map<string, string | null>();
const SLOW_PATH_CACHE_MAX = 50_000;

/** The normalised form of an address, or null if it is not one. */
export function normaliseIp(raw: string): string | null {
  if (isCanonicalIpv4(raw)) return raw;
  if (raw.length === 0 || raw.length > 64) return null;
  let cached = slowPathCache.get(raw);
  if (cached === undefined) {
    cached = normaliseSlow(raw);
    if (slowPathCache.size >= SLOW_PATH_CACHE_MAX) slowPathCache.clear();
    slowPathCache.set(ownCopy(raw), cached);
  }
  return cached;
}

/**
 * A copy of a cache key that does not pin the log text it was cut from (V8 keeps a slice of 13+ characters as a
 * view into the whole line or read chunk); see features/own-string.ts.
 */
function ownCopy(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

function normaliseSlow(raw: string): string | null {
  let s = raw;
  if (s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93) s = s.slice(1, -1);
  // A zone index (`fe80::1%eth0`) is local to one host: it cannot identify a client across the internet.
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  try {
    // Only dotted text can be IPv4 (ipaddr answers an IPv6 address by throwing inside, which is slow).
    if (s.indexOf(':') < 0 && ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s).toString();
    if (!ipaddr.IPv6.isValid(s)) return null;
    // An embedded IPv4 (`::ffff:10.0.0.1`) in four plain decimal parts, as a bare IPv4 must be: ipaddr reads `010`, `0x7f`
    // or `00001` there too, where the allowlist's parser (src/net/cidr.ts) refuses them.
    if (s.indexOf('.') >= 0 && !ipaddr.IPv4.isValidFourPartDecimal(s.slice(s.lastIndexOf(':') + 1))) return null;
    const v6 = ipaddr.IPv6.parse(s);
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
    return v6.toRFC5952String();
  } catch {
    return null;
  }
}

export function isIpv6(ip: string): boolean {
  return ip.indexOf(':') >= 0;
}

/**
 * The network prefix an address belongs to, as CIDR text (`203.0.113.0/24`, `2001:db8:1:2::/64`).
 * `ip` must already be normalised.
 */
export function prefixOf(ip: string, v4Bits = 24, v6Bits = 64): string {
  if (!isIpv6(ip)) {
    if (v4Bits === 24) return ip.slice(0, ip.lastIndexOf('.')) + '.0/24';
    // Other widths (a /16 wide prefix, a configured ipv4Prefix) parse the address: remembered like IPv6 below.
    return cachedPrefix(ip, v4Bits, 4);
  }
  // Parsing IPv6 text is slow and every window asks again for each of its clients: remembered, like normaliseIp, per
  // prefix length (a host's /64 and its wide /48 are both asked for).
  return cachedPrefix(ip, v6Bits, 6);
}

function cachedPrefix(ip: string, bits: number, family: 4 | 6): string {
  const slot = family === 4 ? -bits : bits;
  let cache = prefixCaches.get(slot);
  if (cache === undefined) prefixCaches.set(slot, (cache = new Map()));
  let prefix = cache.get(ip);
  if (prefix === undefined) {
    prefix = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${bits}`).toString() + `/${bits}`
      : ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${bits}`).toRFC5952String() + `/${bits}`;
    if (cache.size >= SLOW_PATH_CACHE_MAX) cache.clear();
    cache.set(ownCopy(ip), prefix);
  }
  return prefix;
}

/** Prefixes by family and length (IPv4 under the negated length), then address: a handful of configured lengths. */
const prefixCaches = new Map<number, Map<string, string>>();
