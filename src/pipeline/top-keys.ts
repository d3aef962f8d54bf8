import type { KeyWindow } from '../features/key-window.ts';
import type { WindowKeys } from '../features/windower.ts';

export interface TopKey {
  key: string;
  kind: 'ip' | 'prefix' | 'principal';
  requests: number;
  errors: number;
}

/**
 * The heaviest keys of a replay for the report, in bounded memory: totals are kept for at most `4 × size`
 * keys per kind; when full, the lighter half is dropped (a key that matters comes back and is counted again).
 */
export class TopKeys {
  private readonly totals = { ip: new Map<string, TopKey>(), prefix: new Map<string, TopKey>(), principal: new Map<string, TopKey>() };

  constructor(private readonly size: number) {}

  addWindow(w: WindowKeys): void {
    for (const [ip, e] of w.byIp) this.add('ip', ip, e.ip);
    for (const [cidr, kw] of w.byPrefix) if (kw.ips.size > 1) this.add('prefix', cidr, kw);
    for (const [cidr, kw] of w.byWidePrefix) if (kw.ips.size > 1) this.add('prefix', cidr, kw);
    for (const [p, kw] of w.byPrincipal) this.add('principal', p, kw);
  }

  top(): TopKey[] {
    return (['ip', 'prefix', 'principal'] as const).flatMap((kind) =>
      [...this.totals[kind].values()].sort((a, b) => b.requests - a.requests).slice(0, kind === 'ip' ? this.size : Math.ceil(this.size / 2)));
  }

  private add(kind: TopKey['kind'], key: string, kw: KeyWindow): void {
    const map = this.totals[kind];
    const t = map.get(key);
    if (t) {
      t.requests += kw.requests;
      t.errors += kw.status4xx + kw.status5xx;
      return;
    }
    if (map.size >= this.size * 4) {
      const keep = [...map.values()].sort((a, b) => b.requests - a.requests).slice(0, this.size * 2);
      map.clear();
      for (const k of keep) map.set(k.key, k);
    }
    map.set(key, { key, kind, requests: kw.requests, errors: kw.status4xx + kw.status5xx });
  }
}
