import type { AccessEvent } from '../events.ts';
import { prefixOf } from '../net/ip.ts';
import { hash32 } from './hash.ts';
import { KeyWindow, type Observation, type SerializedKeyWindow } from './key-window.ts';
import { isLoginPath } from './login-path.ts';
import { looksLikeAttack } from './attack-payload.ts';
import { isScannerAgent } from './scanner-agent.ts';

interface IpEntry {
  ip: KeyWindow;
  prefix: KeyWindow;
  hash: number;
}

/** All keys of one tumbling window. Prefix and principal windows are separate maps (no tagged-key strings). */
export class WindowKeys {
  readonly byIp = new Map<string, IpEntry>();
  readonly byPrefix = new Map<string, KeyWindow>();
  readonly byPrincipal = new Map<string, KeyWindow>();
  requests = 0;
  status5xx = 0;
  constructor(readonly start: number) {}

  get keyCount(): number {
    return this.byIp.size + this.byPrefix.size + this.byPrincipal.size;
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
}

const UA_CACHE_MAX = 20_000;

/**
 * Event-time tumbling windows. The watermark is the newest event time minus the allowed lateness; a window
 * closes once the watermark passes its end. An event for a window that already closed is counted as late and
 * folded into the oldest open window, so its volume still counts without reopening what was decided.
 */
export class Windower {
  private readonly open = new Map<number, WindowKeys>();
  /** Per distinct user agent: its hash, negated when it is an attack tool's (both computed once per agent). */
  private readonly uaHashes = new Map<string, number>();
  private readonly obs: Observation = {
    status: 0, bytes: 0, latencyMs: -1, method: '', path: '', userAgent: '', pathHash: 0, uaHash: 0, ipHash: 0,
    principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false,
  };
  maxTime = -Infinity;
  /** End of the newest closed window: events before it are late. */
  closedUntil = -Infinity;
  late = 0;
  events = 0;

  constructor(readonly opts: WindowerOptions) {}

  windowStartOf(t: number): number {
    return t - (((t % this.opts.sizeMs) + this.opts.sizeMs) % this.opts.sizeMs);
  }

  add(e: AccessEvent): void {
    this.events++;
    if (e.time > this.maxTime) this.maxTime = e.time;
    let start = this.windowStartOf(e.time);
    if (start < this.closedUntil) {
      this.late++;
      start = this.oldestOpenStart() ?? this.closedUntil;
    }
    let w = this.open.get(start);
    if (w === undefined) {
      w = new WindowKeys(start);
      this.open.set(start, w);
    }
    const o = this.obs;
    o.status = e.status;
    o.bytes = e.bytes > 0 ? e.bytes : 0;
    o.latencyMs = e.latencyMs;
    o.method = e.method;
    o.path = e.path;
    o.userAgent = e.userAgent;
    o.pathHash = hash32(e.path);
    const ua = e.userAgent === '' ? 0 : this.uaHash(e.userAgent);
    o.uaHash = ua < 0 ? -ua : ua;
    o.scannerAgent = ua < 0;
    o.loginPost = e.method === 'POST' && isLoginPath(e.path);
    o.attackPayload = looksLikeAttack(e.path);
    w.requests++;
    if (e.status >= 500) w.status5xx++;

    let principalWindow: KeyWindow | undefined;
    if (e.principal !== '') {
      principalWindow = w.byPrincipal.get(e.principal);
      if (principalWindow === undefined) {
        principalWindow = new KeyWindow();
        w.byPrincipal.set(e.principal, principalWindow);
      }
      o.principalHash = hash32(e.principal) || 1;
    } else o.principalHash = 0;

    let entry = w.byIp.get(e.ip);
    if (entry === undefined) {
      const cidr = prefixOf(e.ip, this.opts.ipv4Prefix, this.opts.ipv6Prefix);
      let prefix = w.byPrefix.get(cidr);
      if (prefix === undefined) {
        prefix = new KeyWindow();
        w.byPrefix.set(cidr, prefix);
      }
      entry = { ip: new KeyWindow(), prefix, hash: hash32(e.ip) };
      w.byIp.set(e.ip, entry);
    }
    o.ipHash = entry.hash;
    entry.ip.add(o);
    entry.prefix.add(o);
    if (principalWindow !== undefined) principalWindow.add(o);
  }

  /** Merges a serialised partial (from stage 1) into the window it belongs to. */
  addPartial(p: WindowPartial): void {
    let start = p.w;
    if (start < this.closedUntil) {
      this.late++;
      start = this.oldestOpenStart() ?? this.closedUntil;
    }
    if (p.t > this.maxTime) this.maxTime = p.t;
    let w = this.open.get(start);
    if (w === undefined) {
      w = new WindowKeys(start);
      this.open.set(start, w);
    }
    w.requests += p.n;
    w.status5xx += p.e5;
    // Prefixes first, so each host links to its prefix's window (stage 1 partitions a prefix with its hosts).
    for (const [cidr, ser] of p.p) mergeInto(w.byPrefix, cidr, KeyWindow.fromJSON(ser));
    for (const [ip, ser] of p.i) {
      const kw = KeyWindow.fromJSON(ser);
      const entry = w.byIp.get(ip);
      if (entry) {
        entry.ip.merge(kw);
        continue;
      }
      const cidr = prefixOf(ip, this.opts.ipv4Prefix, this.opts.ipv6Prefix);
      let prefix = w.byPrefix.get(cidr);
      if (prefix === undefined) {
        prefix = new KeyWindow();
        w.byPrefix.set(cidr, prefix);
      }
      w.byIp.set(ip, { ip: kw, prefix, hash: hash32(ip) });
    }
    for (const [principal, ser] of p.u) mergeInto(w.byPrincipal, principal, KeyWindow.fromJSON(ser));
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
    for (const w of [...this.open.values()].sort((a, b) => a.start - b.start)) out.push(toPartial(w, this.maxTime));
    this.open.clear();
    return out;
  }

  private close(ready: (start: number) => boolean): ClosedWindow[] {
    const starts = [...this.open.keys()].filter(ready).sort((a, b) => a - b);
    const closed: ClosedWindow[] = [];
    for (const start of starts) {
      const keys = this.open.get(start)!;
      this.open.delete(start);
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

  private uaHash(ua: string): number {
    let h = this.uaHashes.get(ua);
    if (h === undefined) {
      if (this.uaHashes.size >= UA_CACHE_MAX) this.uaHashes.clear();
      h = (hash32(ua) >>> 1) || 1;
      if (isScannerAgent(ua)) h = -h;
      this.uaHashes.set(ua, h);
    }
    return h;
  }
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
}

export function toPartial(w: WindowKeys, maxTime: number): WindowPartial {
  return {
    w: w.start,
    t: maxTime,
    n: w.requests,
    e5: w.status5xx,
    i: [...w.byIp].map(([k, e]) => [k, e.ip.toJSON()]),
    p: [...w.byPrefix].map(([k, v]) => [k, v.toJSON()]),
    u: [...w.byPrincipal].map(([k, v]) => [k, v.toJSON()]),
  };
}
