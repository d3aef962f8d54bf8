import type { AccessEvent } from '../events.ts';
import { isIpv6, prefixOf } from '../net/ip.ts';
import { wireHash } from './distinct.ts';
import { hash32 } from './hash.ts';
import { COUNTER_NAMES, D_IPS, D_PRINCIPALS, KeyWindow, type Observation, sampleText, type SerializedKeyWindow } from './key-window.ts';
import { isLoginPath } from './login-path.ts';
import { looksLikeAttack } from './attack-payload.ts';
import { isScannerAgent } from './scanner-agent.ts';
import { ownedAddress, type PrincipalInfo, principalInfo } from './key-cache.ts';
import { ownString } from './own-string.ts';
import type { TrapRoutes } from './trap-routes.ts';

interface IpEntry {
  ip: KeyWindow;
  prefix: KeyWindow;
  /**
   * The host's wide prefixes, narrowest first (an IPv6 host's /56 and /48, a scanner hopping /64s inside them; an
   * IPv4 host's /16 when configured): absent when its family has none.
   */
  wides?: KeyWindow[];
  hash: number;
  /**
   * What the agent and the principal of this host's last event in the window work out to: most hosts keep theirs, and
   * comparing an event's text with the last one costs less than hashing it for the shared caches.
   */
  lastAgent: UserAgentInfo | undefined;
  lastPrincipal: PrincipalInfo | undefined;
}

/** All keys of one tumbling window. Prefix and principal windows are separate maps (no tagged-key strings). */
export class WindowKeys {
  readonly byIp = new Map<string, IpEntry>();
  readonly byPrefix = new Map<string, KeyWindow>();
  /** Wide prefixes (aggregation.ipv6WidePrefixes, ipv4WidePrefixes): a separate map, never counted as clients. */
  readonly byWidePrefix = new Map<string, KeyWindow>();
  readonly byPrincipal = new Map<string, KeyWindow>();
  requests = 0;
  status5xx = 0;
  constructor(readonly start: number) {}

  get keyCount(): number {
    return this.byIp.size + this.byPrefix.size + this.byWidePrefix.size + this.byPrincipal.size;
  }
}

export interface ClosedWindow {
  start: number;
  end: number;
  /** Event time at which the window closed: the newest event seen then (decisions are stamped with it). */
  closedAt: number;
  keys: WindowKeys;
}

export interface WindowerOptions {
  sizeMs: number;
  latenessMs: number;
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** Hosts also count in these wider prefixes, narrowest first (none when absent). Shorter than their family's prefix. */
  ipv6WidePrefixes?: readonly number[];
  ipv4WidePrefixes?: readonly number[];
  /** Configured trap routes, compiled (src/features/trap-routes.ts); absent or null when there are none. */
  trapRoutes?: TrapRoutes | null;
  /**
   * Hosts and principals only, no prefix windows: for an ingest whose parts leave the prefixes to the reader (wire
   * level 2), which derives each from its hosts.
   */
  hostsOnly?: boolean;
  /**
   * Hashes counted as distinct values cut short for an ingest writing wire level 4, whose parts are then smaller:
   * paths, user agents and a principal's addresses to their low 16 bits (WIRE_HASH_MASK), the principals behind an
   * address or prefix to 24 (PRINCIPAL_HASH_MASK); an address's own and its prefixes' addresses, and a principal's
   * own principal, stay whole. Every reader of this release masks the values of other writers alike (wire.ts
   * readDoc). The agent's and the principal's stay non-zero (0 means none).
   */
  shortHashes?: boolean;
  /**
   * A part's byte and latency sums rounded to a few significant bits (wire level 4; significantBits): these
   * near-random numbers were a quarter of a record's compressed bytes. Detection reads bytes as a ratio to a
   * key's baseline (against a tenfold threshold) and latency not at all (evidence only): an error of at most 1/16 a
   * part for bytes and 1/8 for latency, unbiased, costs it nothing.
   */
  roundedSums?: boolean;
}

/**
 * What a host links to as its prefix when the windower keeps none (hostsOnly): never counted, never read, and frozen
 * so that a write by mistake throws instead of mixing every host's counts into one shared window.
 */
const NO_PREFIX = Object.freeze(new KeyWindow()) as KeyWindow;

const UA_CACHE_MAX = 20_000;

/**
 * Event-time tumbling windows. The watermark is the newest event time minus the allowed lateness; a window
 * closes once the watermark passes its end. An event for a window that already closed is counted as late and
 * folded into the oldest open window, so its volume still counts without reopening what was decided.
 */
export class Windower {
  private readonly open = new Map<number, WindowKeys>();
  private readonly obs: Observation = {
    status: 0, bytes: 0, latencyMs: -1, method: '', path: '', userAgent: '', userAgentSample: '', pathHash: 0, uaHash: 0,
    ipHash: 0, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false, trapHit: false,
  };
  private readonly traps: TrapRoutes | null;
  private readonly hostsOnly: boolean;
  private readonly shortHashes: boolean;
  /** The window of the previous event, while it is open. */
  private last: WindowKeys | null = null;
  maxTime = -Infinity;
  /** End of the newest closed window: events before it are late. */
  closedUntil = -Infinity;
  late = 0;
  events = 0;

  constructor(readonly opts: WindowerOptions) {
    this.traps = opts.trapRoutes ?? null;
    this.hostsOnly = opts.hostsOnly === true;
    this.shortHashes = opts.shortHashes === true;
  }

  windowStartOf(t: number): number {
    return t - (((t % this.opts.sizeMs) + this.opts.sizeMs) % this.opts.sizeMs);
  }

  add(e: AccessEvent): void {
    this.events++;
    const t = e.time;
    if (t > this.maxTime) this.maxTime = t;
    // Consecutive events nearly always fall in the same open window: then neither the start (two float modulos)
    // nor the map lookup is needed.
    const last = this.last;
    const w = last !== null && t >= last.start && t < last.start + this.opts.sizeMs && last.start >= this.closedUntil
      ? last : this.windowOf(t);
    const o = this.obs;
    o.status = e.status;
    o.bytes = e.bytes > 0 ? e.bytes : 0;
    o.latencyMs = e.latencyMs;
    o.method = e.method;
    o.path = e.path;
    o.userAgent = e.userAgent;
    o.pathHash = this.shortHashes ? wireHash(hash32(e.path)) : hash32(e.path);
    let entry = w.byIp.get(e.ip);
    if (entry === undefined) entry = this.newIpEntry(w, e.ip);
    if (e.userAgent === '') {
      o.uaHash = 0;
      o.scannerAgent = false;
      o.userAgentSample = '';
    } else {
      // Only an agent kept whole can be told by its sample: a cut one's sample is also a shorter agent of its own.
      let ua = entry.lastAgent;
      if (ua === undefined || !ua.whole || ua.sample !== e.userAgent) ua = entry.lastAgent = userAgentInfo(e.userAgent);
      o.uaHash = this.shortHashes ? ua.shortHash : ua.hash;
      o.scannerAgent = ua.scanner;
      o.userAgentSample = ua.sample;
    }
    o.loginPost = e.method === 'POST' && isLoginPath(e.path);
    o.attackPayload = looksLikeAttack(e.path);
    o.trapHit = this.traps !== null && this.traps.matches(e.path);
    w.requests++;
    if (e.status >= 500) w.status5xx++;

    let principalWindow: KeyWindow | undefined;
    let principalHash = 0;
    if (e.principal !== '') {
      let p = entry.lastPrincipal;
      if (p === undefined || p.key !== e.principal) p = entry.lastPrincipal = principalInfo(e.principal);
      principalWindow = w.byPrincipal.get(p.key);
      if (principalWindow === undefined) {
        principalWindow = new KeyWindow();
        w.byPrincipal.set(p.key, principalWindow);
      }
      principalHash = p.hash;
      // Behind an address or prefix, 24 bits (PRINCIPAL_HASH_MASK says why not 16).
      o.principalHash = this.shortHashes ? p.shortHash : principalHash;
    } else o.principalHash = 0;

    o.ipHash = entry.hash;
    entry.ip.add(o);
    if (!this.hostsOnly) {
      entry.prefix.add(o);
      if (entry.wides !== undefined) for (const wide of entry.wides) wide.add(o);
    }
    if (principalWindow !== undefined) {
      if (this.shortHashes) {
        // A principal's window: its own principal whole (what the reader restores), its addresses at 16 bits (only
        // more of them ever decides anything: a stolen credential used from many).
        o.principalHash = principalHash;
        o.ipHash = wireHash(entry.hash);
      }
      principalWindow.add(o);
    }
  }

  /** The open window an event at `t` counts in (created if new); a late event counts in the oldest open one. */
  private windowOf(t: number): WindowKeys {
    let start = this.windowStartOf(t);
    if (start < this.closedUntil) {
      this.late++;
      start = this.oldestOpenStart() ?? this.closedUntil;
    }
    let w = this.open.get(start);
    if (w === undefined) {
      w = new WindowKeys(start);
      this.open.set(start, w);
    }
    this.last = w;
    return w;
  }

  /** A client's first event in a window: its key-window, linked to its prefix's (created if new). */
  private newIpEntry(w: WindowKeys, rawIp: string): IpEntry {
    const ip = ownedAddress(rawIp);
    if (this.hostsOnly) {
      const entry: IpEntry = { ip: new KeyWindow(), prefix: NO_PREFIX, hash: this.ipHash(ip), lastAgent: undefined, lastPrincipal: undefined };
      w.byIp.set(ip, entry);
      return entry;
    }
    const cidr = prefixOf(ip, this.opts.ipv4Prefix, this.opts.ipv6Prefix);
    let prefix = w.byPrefix.get(cidr);
    if (prefix === undefined) {
      prefix = new KeyWindow();
      w.byPrefix.set(cidr, prefix);
    }
    const entry: IpEntry = { ip: new KeyWindow(), prefix, hash: this.ipHash(ip), lastAgent: undefined, lastPrincipal: undefined };
    this.linkWide(w, ip, entry);
    w.byIp.set(ip, entry);
    return entry;
  }

  /** An address's hash as its own window and its prefixes count it (all 32 bits at every level). */
  private ipHash(ip: string): number {
    return hash32(ip);
  }

  /** Links a host to its wide prefixes' windows (created if new), narrowest first. */
  private linkWide(w: WindowKeys, ip: string, entry: IpEntry): void {
    const v6 = isIpv6(ip);
    const widths = v6 ? this.opts.ipv6WidePrefixes : this.opts.ipv4WidePrefixes;
    if (widths === undefined || widths.length === 0) return;
    const wides: KeyWindow[] = [];
    for (const bits of widths) {
      const cidr = v6 ? prefixOf(ip, this.opts.ipv4Prefix, bits) : prefixOf(ip, bits, this.opts.ipv6Prefix);
      let wide = w.byWidePrefix.get(cidr);
      if (wide === undefined) {
        wide = new KeyWindow();
        w.byWidePrefix.set(cidr, wide);
      }
      wides.push(wide);
    }
    entry.wides = wides;
  }

  /** Whether a serialised prefix entry is a wide one (by its length: wide prefixes are shorter than their family's). */
  private isWide(cidr: string): boolean {
    const slash = cidr.lastIndexOf('/');
    const bits = Number(cidr.slice(slash + 1));
    const widths = cidr.includes(':') ? this.opts.ipv6WidePrefixes : this.opts.ipv4WidePrefixes;
    return widths !== undefined && widths.includes(bits);
  }

  /**
   * Merges a serialised partial (from stage 1) into the window it belongs to. `noDerive`: for a part of wire level 2,
   * prefixes (`p<cidr>`, `q<cidr>`) not to derive from its hosts, because a level-1 part of the same records carries
   * them whole (detect.ts dedupeParts). `folded`: the part belongs to a window already decided and was folded into
   * this one (a part older than this windower's own closed windows is folded here, and marked so, too).
   */
  addPartial(p: WindowPartial, noDerive?: ReadonlySet<string>, folded = false): void {
    let start = p.w;
    if (start < this.closedUntil) {
      this.late++;
      start = this.oldestOpenStart() ?? this.closedUntil;
      folded = true;
    }
    const read = folded ? lateKeyWindow : KeyWindow.fromJSON;
    if (p.t > this.maxTime) this.maxTime = p.t;
    let w = this.open.get(start);
    if (w === undefined) {
      w = new WindowKeys(start);
      this.open.set(start, w);
    }
    w.requests += p.n;
    w.status5xx += p.e5;
    // A part that leaves its prefixes to the reader (wire level 2) carries none: each is the merge of its hosts'.
    const derive = p.dp === 1;
    if (!derive) {
      // Prefixes first, so each host links to its prefix's window (stage 1 partitions a prefix with its hosts).
      for (const [cidr, ser] of p.p) mergeInto(w.byPrefix, cidr, read(ser));
      // Only the widths this stage keeps: a part from a stage configured otherwise must not make keys nobody links.
      if (p.q) for (const [cidr, ser] of p.q) if (this.isWide(cidr)) mergeInto(w.byWidePrefix, cidr, read(ser));
    }
    for (const [ip, ser] of p.i) {
      const kw = read(ser);
      let entry = w.byIp.get(ip);
      if (entry) entry.ip.merge(kw);
      else {
        const cidr = prefixOf(ip, this.opts.ipv4Prefix, this.opts.ipv6Prefix);
        let prefix = w.byPrefix.get(cidr);
        if (prefix === undefined) {
          prefix = new KeyWindow();
          w.byPrefix.set(cidr, prefix);
        }
        entry = { ip: kw, prefix, hash: this.ipHash(ip), lastAgent: undefined, lastPrincipal: undefined };
        this.linkWide(w, ip, entry);
        w.byIp.set(ip, entry);
      }
      if (derive) {
        if (noDerive === undefined || noDerive.size === 0) {
          entry.prefix.merge(kw);
          if (entry.wides !== undefined) for (const wide of entry.wides) wide.merge(kw);
        } else this.deriveExcept(ip, entry, kw, noDerive);
      }
    }
    for (const [principal, ser] of p.u) mergeInto(w.byPrincipal, principal, read(ser));
  }

  /** A host's window merged into its prefixes but those `noDerive` names (rare: a retry across a wire-level change). */
  private deriveExcept(ip: string, entry: IpEntry, kw: KeyWindow, noDerive: ReadonlySet<string>): void {
    if (!noDerive.has(`p${prefixOf(ip, this.opts.ipv4Prefix, this.opts.ipv6Prefix)}`)) entry.prefix.merge(kw);
    if (entry.wides === undefined) return;
    const v6 = isIpv6(ip);
    const widths = (v6 ? this.opts.ipv6WidePrefixes : this.opts.ipv4WidePrefixes) ?? [];
    widths.forEach((bits, i) => {
      const cidr = v6 ? prefixOf(ip, this.opts.ipv4Prefix, bits) : prefixOf(ip, bits, this.opts.ipv6Prefix);
      if (!noDerive.has(`q${cidr}`)) entry.wides![i].merge(kw);
    });
  }

  get watermark(): number {
    return this.maxTime - this.opts.latenessMs;
  }

  /** Windows whose end the watermark has passed, oldest first. */
  closeReady(): ClosedWindow[] {
    return this.close((start) => start + this.opts.sizeMs <= this.watermark);
  }

  /** Closes every open window (end of input). */
  closeAll(): ClosedWindow[] {
    return this.close(() => true);
  }

  get openKeys(): number {
    let n = 0;
    for (const w of this.open.values()) n += w.keyCount;
    return n;
  }

  /** Everything open, as partials (stage 1 hands these to stage 2). */
  drainPartials(): WindowPartial[] {
    const out: WindowPartial[] = [];
    for (const w of [...this.open.values()].sort((a, b) => a.start - b.start)) {
      out.push(toPartial(w, this.maxTime, this.hostsOnly, this.opts.roundedSums === true));
    }
    this.open.clear();
    this.last = null;
    return out;
  }

  private close(ready: (start: number) => boolean): ClosedWindow[] {
    const starts = [...this.open.keys()].filter(ready).sort((a, b) => a - b);
    const closed: ClosedWindow[] = [];
    for (const start of starts) {
      const keys = this.open.get(start)!;
      this.open.delete(start);
      if (this.last === keys) this.last = null;
      const end = start + this.opts.sizeMs;
      if (end > this.closedUntil) this.closedUntil = end;
      closed.push({ start, end, closedAt: Math.max(this.maxTime, end), keys });
    }
    return closed;
  }

  private oldestOpenStart(): number | undefined {
    let min: number | undefined;
    for (const s of this.open.keys()) if (min === undefined || s < min) min = s;
    return min;
  }

}

/** What is worked out once per distinct user agent. */
interface UserAgentInfo {
  /** Never 0 (0 means no agent). */
  hash: number;
  /** The hash as a windower of short hashes counts it (its low 16 bits, see wireHash); never 0 either. */
  shortHash: number;
  /** An attack tool's agent. */
  scanner: boolean;
  /** The agent as kept in evidence samples: cut to length and copied out of its log line, shared by every window. */
  sample: string;
  /** The sample is the whole agent (it was not cut). */
  whole: boolean;
}

/**
 * Per distinct user agent, shared by all windowers: clients repeat their agent, and stage 1 builds a windower per
 * source record, so a per-windower cache would start cold every 200 events.
 */
const userAgents = new Map<string, UserAgentInfo>();

function userAgentInfo(ua: string): UserAgentInfo {
  let info = userAgents.get(ua);
  if (info === undefined) {
    if (userAgents.size >= UA_CACHE_MAX) userAgents.clear();
    const sample = sampleText(ua);
    const h = hash32(ua) >>> 1;
    info = { hash: h || 1, shortHash: wireHash(h) || 1, scanner: isScannerAgent(ua), sample, whole: sample.length === ua.length };
    userAgents.set(info.whole ? sample : ownString(ua), info);
  }
  return info;
}

/** A key's window from a part folded in late: all its requests are late ones (see KeyWindow.lateRequests). */
function lateKeyWindow(ser: SerializedKeyWindow): KeyWindow {
  const kw = KeyWindow.fromJSON(ser);
  kw.lateRequests = kw.requests;
  return kw;
}

function mergeInto(map: Map<string, KeyWindow>, key: string, kw: KeyWindow): void {
  const existing = map.get(key);
  if (existing) existing.merge(kw);
  else map.set(key, kw);
}

/** Stage 1's output for one window: every key it saw, serialised (JSON-safe). */
export interface WindowPartial {
  /** Window start, epoch ms. */
  w: number;
  /** Newest event time seen by the producer (drives stage 2's watermark). */
  t: number;
  n: number;
  e5: number;
  i: [string, SerializedKeyWindow][];
  p: [string, SerializedKeyWindow][];
  u: [string, SerializedKeyWindow][];
  /**
   * Wide prefixes (wire revision 4), apart from `p`: a reader of an earlier revision ignores them instead of judging a
   * carrier's /48 like a /64 (on volume too).
   */
  q?: [string, SerializedKeyWindow][];
  /** Wire level 2: no prefix windows (`p`, `q` empty); the reader derives each from its hosts' (src/engine/wire.ts). */
  dp?: 1;
}

export function toPartial(w: WindowKeys, maxTime: number, hostsOnly = false, roundedSums = false): WindowPartial {
  const i: [string, SerializedKeyWindow][] = [];
  for (const [k, e] of w.byIp) {
    const ser = e.ip.toJSON();
    // Level 2 leaves out what the key itself says: a host's one address (the reader restores it, src/engine/wire.ts).
    if (hostsOnly) ser.d[D_IPS] = SELF_LEFT_OUT;
    if (roundedSums) roundSums(ser);
    i.push([k, ser]);
  }
  const partial: WindowPartial = { w: w.start, t: maxTime, n: w.requests, e5: w.status5xx, i, p: serialised(w.byPrefix, -1, roundedSums),
    u: serialised(w.byPrincipal, hostsOnly ? D_PRINCIPALS : -1, roundedSums) };
  if (w.byWidePrefix.size > 0) partial.q = serialised(w.byWidePrefix, -1, roundedSums);
  if (hostsOnly) partial.dp = 1;
  return partial;
}

const C_BYTES = COUNTER_NAMES.indexOf('bytes');
const C_LATENCY_SUM = COUNTER_NAMES.indexOf('latencySum');

/**
 * Significant bits kept of a part's sums (WindowerOptions.roundedSums): bytes to 4 (off by at most 1/16 of itself,
 * 6.25%; detection compares a byte ratio with a tenfold threshold, and learns bytes on a log scale, where that is 0.06),
 * latency to 3 (at most 1/8: it is only ever shown, as a mean over the window's parts).
 */
const BYTES_BITS = 4;
const LATENCY_BITS = 3;

/** A serialised window's byte and latency sums rounded (WindowerOptions.roundedSums). */
function roundSums(ser: SerializedKeyWindow): void {
  ser.c[C_BYTES] = significantBits(ser.c[C_BYTES], BYTES_BITS);
  ser.c[C_LATENCY_SUM] = significantBits(ser.c[C_LATENCY_SUM], LATENCY_BITS);
}

/**
 * `v` rounded half up to `bits` significant binary digits (exact below 2^bits): at 4, 130,997 → 131,072 and
 * 858 → 832. Off by at most 2^-bits of itself; unbiased over varied values. Far fewer distinct values than the sums
 * themselves, so brotli takes more off them.
 */
export function significantBits(v: number, bits: number): number {
  if (!(v >= 2 ** bits)) return v;
  // Integers below 2^31 (nearly every sum of a part) in integer arithmetic: log2 and pow were 3% of ingest.
  if (v < 0x80000000 && (v | 0) === v) {
    const shift = 32 - Math.clz32(v) - bits;
    return ((v + (1 << (shift - 1))) >>> shift) * (1 << shift);
  }
  const step = 2 ** (Math.floor(Math.log2(v)) - bits + 1);
  return Math.round(v / step) * step;
}

/** A distinct counter left out for the reader to restore (never mutated: JSON only reads it). */
const SELF_LEFT_OUT: number[] = [];

/**
 * The map's windows in their serialised form, without the intermediate entry arrays a spread would build; `selfAt`
 * names the distinct counter that holds only the key itself (a principal's own principal), left out at level 2.
 */
function serialised(map: Map<string, KeyWindow>, selfAt = -1, roundedSums = false): [string, SerializedKeyWindow][] {
  const out: [string, SerializedKeyWindow][] = [];
  for (const [k, v] of map) {
    const ser = v.toJSON();
    if (roundedSums) roundSums(ser);
    if (selfAt >= 0) ser.d[selfAt] = SELF_LEFT_OUT;
    out.push([k, ser]);
  }
  return out;
}
