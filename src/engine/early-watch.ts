import type { CordonConfig } from '../config.ts';
import { COUNTER_NAMES, type SerializedKeyWindow } from '../features/key-window.ts';
import type { WindowPartial } from '../features/windower.ts';
import { prefixOf } from '../net/ip.ts';

/** Counter positions in a serialised key window (`KeyWindow.toJSON().c`, in COUNTER_NAMES order). */
const at = (name: (typeof COUNTER_NAMES)[number]): number => COUNTER_NAMES.indexOf(name);
const C_REQUESTS = at('requests');
const C_5XX = at('status5xx');
const C_AUTH_FAILURES = at('authFailures');
const C_NOT_FOUND = at('notFound');
const C_LOGIN_POSTS = at('loginPosts');
const C_ATTACK_PAYLOADS = at('attackPayloads');
const C_SCANNER_AGENT = at('scannerAgentRequests');
const C_TRAP_HITS = at('trapHits');

/** The running counters an unmistakable finding needs at the least (each rule's necessary condition). */
const WATCHED = [C_REQUESTS, C_5XX, C_AUTH_FAILURES, C_NOT_FOUND, C_LOGIN_POSTS, C_ATTACK_PAYLOADS, C_SCANNER_AGENT, C_TRAP_HITS] as const;
/** Positions of the watched counters in a key's running sums (which hold only those). */
const S_REQUESTS = 0;
const S_5XX = 1;
const S_AUTH_FAILURES = 2;
const S_NOT_FOUND = 3;
const S_LOGIN_POSTS = 4;
const S_ATTACK_PAYLOADS = 5;
const S_SCANNER_AGENT = 6;
const S_TRAP_HITS = 7;

/**
 * Keys tracked at once, over every scope and open window of this instance: past it new keys are not watched (the
 * window close still judges them). About 480 bytes each: 200,000 are about 96 MB of detect's memory, whatever the
 * number of shards an instance serves or of keys a botnet brings.
 */
export const MAX_TRACKED_KEYS = 200_000;

/**
 * A key looked at and not (yet) decided is looked at again once its evidence has grown this much: counts only grow
 * within a window, so nothing can change without growth.
 */
const REGROWTH = 1.25;
/** Looks at one open window at most: a busy key that never acts (a NAT, an allowlisted address) costs a few reads. */
const MAX_LOOKS = 6;

interface WindowSums {
  /** The window's start. */
  start: number;
  /** Per kind of key (hosts, prefixes, principals): each key's running sums of the WATCHED counters. */
  sums: { i: Map<string, Float64Array>; p: Map<string, Float64Array>; u: Map<string, Float64Array> };
  /** Keys summed, of all kinds. */
  keys: number;
  /** Keys past a necessary condition, with how far past it (the largest ratio of a sum to its minimum). */
  pending: Map<string, number>;
  /** The ratio at which each key was last looked at. */
  checkedAt: Map<string, number>;
  looks: number;
  full: boolean;
}

/**
 * Watches the open windows of each scope for keys that could already be unmistakable, so detect can decide them
 * before the window closes (DESIGN §1, early decisions). It only says *when to look*: running sums of the counters in
 * the parts this instance saw (a redelivered part counts twice here, a cold start forgets) and each rule's necessary
 * condition for an unmistakable finding. Whether to act is decided on the stored, de-duplicated window by the same
 * detector and guards as at the close.
 */
export class EarlyWatch {
  private readonly scopes = new Map<string, Map<number, WindowSums>>();
  /** Keys tracked now, of every window held. */
  private tracked = 0;
  /** Each watched counter's minimum, in the order of a key's sums. */
  private readonly minimum: Float64Array;
  private readonly ipv4Prefix: number;
  private readonly ipv6Prefix: number;

  constructor(cfg: CordonConfig, private readonly maxKeys = MAX_TRACKED_KEYS) {
    const t = cfg.thresholds;
    this.ipv4Prefix = cfg.aggregation.ipv4Prefix;
    this.ipv6Prefix = cfg.aggregation.ipv6Prefix;
    this.minimum = new Float64Array(WATCHED.length).fill(Infinity);
    // flood: requests less 5xx ≥ floodUnmistakableRequests (checked on the difference below).
    this.minimum[S_REQUESTS] = t.floodUnmistakableRequests;
    // path-scan: breadth (≤ the 404s) ≥ 2 × scanDistinct404; auth and login: 3 × theirs; payloads and tools: 2 ×.
    this.minimum[S_NOT_FOUND] = 2 * t.scanDistinct404;
    this.minimum[S_AUTH_FAILURES] = 3 * t.authFailures;
    this.minimum[S_LOGIN_POSTS] = 3 * t.loginPosts;
    this.minimum[S_ATTACK_PAYLOADS] = 2 * t.attackPayloads;
    this.minimum[S_SCANNER_AGENT] = 2 * t.scannerAgentRequests;
    // trap-route: the first request to a trap route.
    this.minimum[S_TRAP_HITS] = 1;
  }

  /** Adds a part of an open window (after late parts were folded and forged times dropped). */
  observe(scope: string, part: WindowPartial): void {
    let windows = this.scopes.get(scope);
    if (!windows) this.scopes.set(scope, (windows = new Map()));
    let w = windows.get(part.w);
    if (!w) {
      w = { start: part.w, sums: { i: new Map(), p: new Map(), u: new Map() }, keys: 0, pending: new Map(), checkedAt: new Map(), looks: 0, full: false };
      windows.set(part.w, w);
    }
    // A part of wire level 2 carries no prefixes: each host's counts go to its prefix too, as ingest's would have.
    const derive = part.dp === 1;
    this.add(w, part.i, 'i', derive);
    if (!derive) this.add(w, part.p, 'p');
    this.add(w, part.u, 'u');
  }

  private add(w: WindowSums, entries: readonly [string, SerializedKeyWindow][], tag: 'i' | 'p' | 'u', derivePrefixes = false): void {
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      const c = entry?.[1]?.c;
      if (!Array.isArray(c)) continue; // the window close counts a malformed part; here it is only not watched
      const key = entry[0];
      this.sum(w, tag, key, c);
      if (derivePrefixes) {
        const prefix = this.prefixOfHost(key);
        if (prefix !== null) this.sum(w, 'p', prefix, c);
      }
    }
  }

  /**
   * A host key's prefix, or null for a key that is no address (a damaged or foreign part: the window close counts it;
   * here it is only not watched, and never fails the batch).
   */
  private prefixOfHost(key: unknown): string | null {
    if (typeof key !== 'string') return null;
    try {
      return prefixOf(key, this.ipv4Prefix, this.ipv6Prefix);
    } catch {
      return null;
    }
  }

  /** Adds a key's counters to its running sums; marks it pending once past a condition. */
  private sum(w: WindowSums, tag: 'i' | 'p' | 'u', key: string, c: readonly unknown[]): void {
    // Keyed per kind, so no key string is built for the many keys that never get near a condition.
    const byKey = w.sums[tag];
    let sums = byKey.get(key);
    if (!sums) {
      // Full: the oldest window, if older than this one, gives way (its close, at most a minute off, still judges its
      // keys); else this window takes no new keys.
      if (this.tracked >= this.maxKeys && !this.dropOlderThan(w.start, w)) {
        w.full = true;
        return;
      }
      byKey.set(key, (sums = new Float64Array(WATCHED.length)));
      w.keys++;
      this.tracked++;
    }
    for (let s = 0; s < WATCHED.length; s++) {
      const v = c[WATCHED[s]];
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) sums[s] += v;
    }
    const level = this.level(sums);
    if (level >= 1) w.pending.set(tag + key, level);
  }

  /** How far past its nearest condition a key is: ≥ 1 means some rule could find it unmistakable. */
  private level(s: Float64Array): number {
    const m = this.minimum;
    return Math.max((s[S_REQUESTS] - s[S_5XX]) / m[S_REQUESTS], s[S_NOT_FOUND] / m[S_NOT_FOUND], s[S_AUTH_FAILURES] / m[S_AUTH_FAILURES],
      s[S_LOGIN_POSTS] / m[S_LOGIN_POSTS], s[S_ATTACK_PAYLOADS] / m[S_ATTACK_PAYLOADS], s[S_SCANNER_AGENT] / m[S_SCANNER_AGENT],
      s[S_TRAP_HITS] / m[S_TRAP_HITS]);
  }

  /**
   * The open windows (oldest first) worth an early look now: those with a key past its condition that was not looked
   * at yet, or whose evidence grew by REGROWTH since, up to MAX_LOOKS per window. Marks those keys looked at.
   */
  due(scope: string): number[] {
    const windows = this.scopes.get(scope);
    if (!windows) return [];
    const out: number[] = [];
    for (const [start, w] of [...windows].sort((a, b) => a[0] - b[0])) {
      let due = false;
      if (w.looks >= MAX_LOOKS) w.pending.clear();
      for (const [key, level] of w.pending) {
        const at = w.checkedAt.get(key);
        if (at !== undefined && level < at * REGROWTH) continue;
        w.checkedAt.set(key, level);
        due = true;
      }
      w.pending.clear();
      if (!due) continue;
      w.looks++;
      out.push(start);
    }
    return out;
  }

  /** Forgets windows that closed (start before `closedUntil`), and every scope but the few most recent ones. */
  forget(scope: string, closedUntil: number): void {
    const windows = this.scopes.get(scope);
    if (!windows) return;
    for (const [start, w] of windows) {
      if (start >= closedUntil) continue;
      this.tracked -= w.keys;
      windows.delete(start);
    }
    if (windows.size === 0) this.scopes.delete(scope);
    // A Lambda instance sees a few shards; a long-lived one after resharding must not keep every parent's windows.
    if (this.scopes.size > 64) this.forget(this.scopes.keys().next().value!, Infinity);
  }

  /** Keys tracked now, over every scope and window. */
  trackedKeys(): number {
    return this.tracked;
  }

  /**
   * Forgets the window with the earliest start, of any scope, if it starts before `start` (a late part of an old
   * window never pushes out a newer one); else the largest of another scope's windows of the same minute, if larger
   * than `keep` (one shard's busy minute does not leave another's without early looks); false if there is none.
   */
  private dropOlderThan(start: number, keep: WindowSums): boolean {
    let oldest: { windows: Map<number, WindowSums>; start: number; scope: string; keys: number } | undefined;
    for (const [scope, windows] of this.scopes) {
      for (const [s, w] of windows) {
        if (w === keep || w.keys === 0 || s > start || (s === start && w.keys <= keep.keys + 1)) continue;
        if (!oldest || s < oldest.start || (s === oldest.start && w.keys > oldest.keys)) oldest = { windows, start: s, scope, keys: w.keys };
      }
    }
    if (!oldest) return false;
    this.tracked -= oldest.windows.get(oldest.start)!.keys;
    oldest.windows.delete(oldest.start);
    if (oldest.windows.size === 0) this.scopes.delete(oldest.scope);
    return true;
  }
}
