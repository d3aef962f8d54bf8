/**
 * Trap routes (honeypot paths): decoys no legitimate client ever requests, configured as exact paths or as prefixes
 * written with a trailing `*` (`/admin-backup/*`). A request is matched on its path as the log records it, without
 * the query string, case-sensitively (API Gateway's paths are). This runs on every event when traps are configured:
 * exact paths are one Set lookup, prefixes a short list of startsWith; no regex (the path is attacker-controlled).
 */
export class TrapRoutes {
  private readonly exact: Set<string>;
  private readonly prefixes: readonly string[];

  constructor(patterns: readonly string[]) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    for (const p of patterns) {
      if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
      else exact.add(p);
    }
    this.exact = exact;
    // A prefix covered by a shorter one adds nothing; the shortest are tried first.
    this.prefixes = [...new Set(prefixes)].sort((a, b) => a.length - b.length)
      .filter((p, i, all) => !all.slice(0, i).some((q) => p.startsWith(q)));
  }

  /** Whether `path` (as logged, possibly with a query string) is a trap route. */
  matches(path: string): boolean {
    const q = path.indexOf('?');
    const bare = q < 0 ? path : path.slice(0, q);
    if (this.exact.has(bare)) return true;
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) if (bare.startsWith(prefixes[i])) return true;
    return false;
  }
}

/** Compiled once per configured list (a windower is made per source record): null when there are none. */
const compiled = new WeakMap<readonly string[], TrapRoutes>();

export function trapRoutesOf(patterns: readonly string[] | undefined): TrapRoutes | null {
  if (!patterns || patterns.length === 0) return null;
  let t = compiled.get(patterns);
  if (t === undefined) compiled.set(patterns, (t = new TrapRoutes(patterns)));
  return t;
}
