import ipaddr from 'ipaddr.js';
import type { TargetKind } from '../decision.ts';
import type { LedgerEntry } from '../ports.ts';
import { isRouteScoped } from './route-scope.ts';

type Parsed = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseTarget(target: string): Parsed | null {
  try {
    if (target.includes('/')) return ipaddr.parseCIDR(target);
    const a = ipaddr.parse(target);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return null;
  }
}

function covers(outer: Parsed, inner: Parsed): boolean {
  if (outer[0].kind() !== inner[0].kind() || outer[1] > inner[1]) return false;
  return (inner[0] as ipaddr.IPv4).match(outer as [ipaddr.IPv4, number]);
}

/**
 * An in-memory view of the ledger for deciding: which targets are blocked now, and how often each was blocked
 * before (escalation). Built from a store's entries; the store stays the source of truth.
 */
export class LedgerBook {
  private readonly byTarget = new Map<string, LedgerEntry[]>();
  private readonly parsed = new Map<string, Parsed | null>();

  constructor(entries: Iterable<LedgerEntry> = []) {
    for (const e of entries) this.record(e);
  }

  record(entry: LedgerEntry): void {
    const list = this.byTarget.get(entry.target) ?? [];
    const i = list.findIndex((e) => e.createdAt === entry.createdAt);
    if (i >= 0) list[i] = entry;
    else list.push(entry);
    list.sort((a, b) => b.createdAt - a.createdAt);
    this.byTarget.set(entry.target, list);
  }

  entries(): LedgerEntry[] {
    return [...this.byTarget.values()].flat();
  }

  active(now: number): LedgerEntry[] {
    const out: LedgerEntry[] = [];
    for (const list of this.byTarget.values()) {
      for (const e of list) if (e.status === 'active' && e.expiresAt > now) out.push(e);
    }
    return out;
  }

  /** Active entries whose time is up (the store may not have deleted them yet). */
  due(now: number): LedgerEntry[] {
    const out: LedgerEntry[] = [];
    for (const list of this.byTarget.values()) for (const e of list) if (e.status === 'active' && e.expiresAt <= now) out.push(e);
    return out.sort((a, b) => a.expiresAt - b.expiresAt);
  }

  latest(target: string): LedgerEntry | undefined {
    return this.byTarget.get(target)?.[0];
  }

  /**
   * True when `target` has an entry decided at `createdAt` that is no longer active (released, expired or held), or,
   * given `windowStart`, a block of that same window that ended: an early decision released before its window closed
   * is not decided again at the close on the same evidence.
   */
  hasEnded(target: string, createdAt: number, windowStart?: number, opts: { everywhere?: boolean } = {}): boolean {
    // Of the same window, only an operator's release (a block that expired within its window ran its time: the attack
    // going on is new evidence), and with `everywhere` not a release of a login-route block (scanning since is too).
    const releasedInWindow = (e: LedgerEntry) => windowStart !== undefined && e.status === 'released'
      && e.evidence?.windowStart === windowStart && !(opts.everywhere && isRouteScoped(e));
    return this.byTarget.get(target)?.some((e) => e.status !== 'active' && (e.createdAt === createdAt || releasedInWindow(e))) ?? false;
  }

  /** When an operator last released `target` (its latest released entry's end), if ever. */
  releasedAt(target: string): number | undefined {
    const ends = (this.byTarget.get(target) ?? []).filter((e) => e.status === 'released').map((e) => e.endedAt ?? e.createdAt);
    return ends.length > 0 ? Math.max(...ends) : undefined;
  }

  /**
   * Blocks of `target` decided at or after `since` that count as offences: not a held alert (never a block), nor a
   * block an operator released (their judgement that it should not stand: it does not make the next one longer).
   */
  priorBlocks(target: string, since: number): number {
    return (this.byTarget.get(target) ?? []).filter((e) => e.status !== 'held' && e.status !== 'released' && e.createdAt >= since).length;
  }

  /**
   * The active block that already covers `target` (the same target, or a wider CIDR), if any. With `everywhere`, only
   * a block of every route counts: one confined to the login route (src/contain/route-scope.ts) does not cover a
   * block the target now needs everywhere.
   */
  activeCovering(target: string, kind: TargetKind, now: number, opts: { everywhere?: boolean } = {}): LedgerEntry | undefined {
    const counts = (e: LedgerEntry) => e.status === 'active' && e.expiresAt > now && !(opts.everywhere && isRouteScoped(e));
    const own = this.byTarget.get(target)?.find(counts);
    if (own || kind === 'principal') return own;
    const inner = this.parse(target);
    if (!inner) return undefined;
    for (const e of this.active(now)) {
      if (e.targetKind !== 'cidr' || !counts(e)) continue;
      const outer = this.parse(e.target);
      if (outer && covers(outer, inner)) return e;
    }
    return undefined;
  }

  private parse(target: string): Parsed | null {
    let p = this.parsed.get(target);
    if (p === undefined) {
      p = parseTarget(target);
      this.parsed.set(target, p);
    }
    return p;
  }
}

export { parseTarget, covers };
