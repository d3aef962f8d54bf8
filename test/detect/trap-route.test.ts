import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config.ts';
import { RULES } from '../../src/detect/rules/index.ts';
import type { RuleContext } from '../../src/detect/rules/rule.ts';
import { FEATURE_NAMES, type Features } from '../../src/features/key-window.ts';

const t = defaultConfig().thresholds;
const rule = RULES.find((r) => r.name === 'trap-route')!;

function features(over: Partial<Features>): Features {
  return { ...(Object.fromEntries(FEATURE_NAMES.map((n) => [n, 0])) as Features), requests: 1, distinctPaths: 1, distinctIps: 1, ...over };
}

function ctx(f: Partial<Features>, over: Partial<RuleContext> = {}): RuleContext {
  return { kind: 'ip', state: undefined, trusted: false, population: { median: Math.log1p(3), scale: 1, count: 1000 }, populationLift: 1,
    incident: false, thresholds: t, features: features(f), ...over } as RuleContext;
}

describe('trap-route', () => {
  it('is registered for addresses and principals, as behaviour', () => {
    expect(rule).toBeDefined();
    expect([...rule.kinds]).toEqual(['ip', 'principal']);
    expect(rule.basis).toBe('behaviour');
  });

  it('is silent without a trap hit, whatever else the key did', () => {
    expect(rule.evaluate(ctx({ requests: 5_000, notFound: 4_000, attackPayloads: 50 }))).toBeNull();
  });

  it('finds the first touch unmistakable, naming the count and nothing of the paths', () => {
    expect(rule.evaluate(ctx({ requests: 1, trapHits: 1 }))).toEqual({ rule: 'trap-route', score: 1, unmistakable: true,
      detail: '1 of 1 requests to trap routes' });
    expect(rule.evaluate(ctx({ requests: 40, trapHits: 3 }))).toEqual({ rule: 'trap-route', score: 3, unmistakable: true,
      detail: '3 of 40 requests to trap routes' });
  });

  it('for a principal and a trusted address with a long history alike', () => {
    expect(rule.evaluate(ctx({ trapHits: 1 }, { kind: 'principal' }))?.unmistakable).toBe(true);
    expect(rule.evaluate(ctx({ requests: 900, trapHits: 1 }, { trusted: true }))?.unmistakable).toBe(true);
  });

  it('during a server-side incident too (a trap is not a volume)', () => {
    expect(rule.evaluate(ctx({ trapHits: 1 }, { incident: true }))?.unmistakable).toBe(true);
  });

  it('behind a shared egress (natMinPrincipals principals on one address) the address is not unmistakable: its principal is', () => {
    const nat = { requests: 300, trapHits: 1, distinctPrincipals: t.natMinPrincipals };
    expect(rule.evaluate(ctx(nat))).toEqual({ rule: 'trap-route', score: 1, unmistakable: false,
      detail: `1 of 300 requests to trap routes (behind a shared egress of ${t.natMinPrincipals} principals)` });
    expect(rule.evaluate(ctx({ ...nat, distinctPrincipals: t.natMinPrincipals - 1 }))?.unmistakable).toBe(true);
    expect(rule.evaluate(ctx(nat, { thresholds: { ...t, natMinPrincipals: 50 } }))?.unmistakable).toBe(true);
    expect(rule.evaluate(ctx({ trapHits: 1, distinctIps: 30 }, { kind: 'principal' }))?.unmistakable).toBe(true);
  });
});
