import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, type CordonConfig } from '../../src/config.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import type { Labels, ParamScenario } from '../../src/simulate/labels.ts';
import type { ScenarioParams } from '../../src/simulate/scenarios.ts';
import { parseDecisionLines, scoreDecisions } from '../../src/simulate/score.ts';
import { TRAP_ROUTES } from '../../src/simulate/slow-attacks.ts';
import { writeTraffic } from '../../src/simulate/traffic.ts';

/**
 * Attacks that no single minute shows (DESIGN §4, "Every time scale"), from cordon's own simulator, through the same
 * replay path as test/acceptance/stolen-credentials.test.ts: each scenario at two seeds and two attack rates, one of
 * them well under today's per-minute thresholds. Every attacker must be contained, nothing benign blocked (the
 * population holds heavy SDK users, users who mistype passwords, some behind a NAT gateway, and stale links), and
 * each kind contained within its time:
 *   slow scanner, slow credential stuffing, ramping flood, IPv6 /64 hopper: 15 min; object enumeration: 10 min;
 *   a campaign whose members each try ≥ 5 passwords a minute: 5 min (a slower one: contained at all);
 *   a trap-route toucher: on its first touch (2 min).
 * The per-kind figures are printed as a table at the end.
 */

interface Run {
  base: ParamScenario;
  minutes: number;
  params: ScenarioParams;
  seed: number;
}

// Kept small (40-60 minutes, a few hundred clients): the whole file replays 16 runs in about a minute.
const PLAN: Array<{ base: ParamScenario; minutes: number; params: ScenarioParams[] }> = [
  { base: 'low-and-slow', minutes: 60, params: [{ rate: 2 }, { rate: 5 }] },
  { base: 'campaign', minutes: 50, params: [{ rate: 2 }, { rate: 6 }] },
  { base: 'ramp', minutes: 50, params: [{ rate: 1.3 }, { rate: 1.5 }] },
  { base: 'trap', minutes: 40, params: [{ rate: 1 }, { rate: 2 }] },
];
const SEEDS = [1, 2];

const RUNS: Run[] = PLAN.flatMap(({ base, minutes, params }) =>
  params.flatMap((p) => SEEDS.map((seed) => ({ base, minutes, params: p, seed }))));

/** The longest time to contain (seconds of log time from the attack's start) allowed for a kind; null: none. */
function ttcBound(kind: string, params: ScenarioParams): number | null {
  switch (kind) {
    case 'slow-scanner':
    case 'slow-credential-stuffing':
    case 'ramping-flood':
    case 'ipv6-prefix-hopper':
      return 15 * 60;
    case 'object-enumeration':
      return 10 * 60;
    case 'credential-stuffing-campaign':
      return (params.rate ?? 0) >= 5 ? 5 * 60 : null;
    case 'trap-route':
      return 2 * 60;
    default:
      throw new Error(`no time to contain for ${kind}`);
  }
}

/**
 * The config of a run: as stolen-credentials (the allowlist from the labels, the deny list on, since the enumerator
 * is a Cognito user), plus the decoys as `trapRoutes` for the trap scenario, when the config schema accepts them.
 */
function configFor(base: ParamScenario, labels: Labels): { config: CordonConfig; note: string } {
  const plain = { allowlist: { cidrs: labels.allowlist }, denyList: { enabled: true } };
  if (base !== 'trap') return { config: parseConfig(plain), note: '' };
  try {
    return { config: parseConfig({ ...plain, trapRoutes: [...TRAP_ROUTES] }), note: '' };
  } catch (e) {
    if (!String(e).includes('trapRoutes')) throw e;
    return { config: parseConfig(plain), note: 'config has no trapRoutes: run without' };
  }
}

interface Row {
  run: string;
  kind: string;
  addrs: number;
  detected: boolean;
  contained: boolean;
  covered: number;
  ttc: number | null;
  bound: number | null;
  ok: boolean;
}

const rows: Row[] = [];
const runNotes: string[] = [];

function table(list: readonly Row[]): string {
  const head = `${'run'.padEnd(28)} ${'kind'.padEnd(29)} addrs det  cont covered  ttc_s  bound  ok`;
  const lines = list.map((r) =>
    `${r.run.padEnd(28)} ${r.kind.padEnd(29)} ${String(r.addrs).padStart(5)} ${(r.detected ? 'yes' : 'no').padEnd(4)} ` +
    `${(r.contained ? 'yes' : 'no').padEnd(4)} ${r.covered.toFixed(2).padStart(7)} ${String(r.ttc ?? '-').padStart(6)} ` +
    `${String(r.bound ?? '-').padStart(6)}  ${r.ok ? 'ok' : 'FAIL'}`);
  return [head, ...lines].join('\n');
}

describe('attacks that no single minute shows (cordon simulate)', () => {
  afterAll(() => {
    console.log(`slow attacks, per attacker (ttc_s: seconds of log time from the attack's start to containment)\n${table(rows)}\n${runNotes.join('\n')}`);
  });

  it.each(RUNS.map((r) => [`${r.base} ${JSON.stringify(r.params)} seed ${r.seed}`, r] as const))('%s', async (_, run) => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-slow-'));
    try {
      const traffic = join(dir, 'traffic.log');
      const gen = await writeTraffic(traffic, { scenario: run.base, params: run.params, minutes: run.minutes, seed: run.seed,
        format: 'apigw-json' });
      const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
      expect(labels.params).toMatchObject(run.params);
      const { config, note } = configFor(run.base, labels);
      const started = Date.now();
      await runReplay({ files: [traffic], outDir: join(dir, 'out'), config });
      const seconds = (Date.now() - started) / 1000;
      const { decisions } = parseDecisionLines(readFileSync(join(dir, 'out', 'decisions.jsonl'), 'utf8'));
      const score = scoreDecisions(labels, decisions);

      const name = `${run.base}(${Object.entries(run.params).map(([k, v]) => `${k}=${v}`).join(',')}) s${run.seed}`;
      const mine: Row[] = score.per_attacker.map((a) => {
        const bound = ttcBound(a.kind, run.params);
        const ok = a.contained && (bound === null || (a.time_to_contain_s !== null && a.time_to_contain_s <= bound));
        return { run: name, kind: a.kind, addrs: a.addresses, detected: a.detected, contained: a.contained,
          covered: a.covered_share, ttc: a.time_to_contain_s, bound, ok };
      });
      rows.push(...mine);
      const notable = [...new Set(score.benign_notable_blocked.map((f) => f.kind))];
      const summary = `${name}: ${gen.requests} requests replayed in ${seconds.toFixed(1)} s; contained ${score.contained}/` +
        `${score.attackers}; false blocks ${score.blocks_covering_no_attacker}` +
        `${notable.length > 0 ? ` (benign notable blocked: ${notable.join(', ')})` : ''}` +
        `${score.allowlist_violations.length > 0 ? `; allowlist violations ${score.allowlist_violations.length}` : ''}` +
        `${note ? `; ${note}` : ''}`;
      runNotes.push(summary);
      console.log(`${summary}\n${table(mine)}`);

      // Soft: one run reports every attacker it missed and every false block, not just the first.
      for (const r of mine) {
        expect.soft(r.contained, `${name}: ${r.kind} contained`).toBe(true);
        if (r.contained && r.bound !== null) expect.soft(r.ttc, `${name}: ${r.kind} time to contain (s)`).toBeLessThanOrEqual(r.bound);
      }
      expect.soft(score.blocks_covering_no_attacker, `${name}: blocks covering no attacker`).toBe(0);
      expect.soft(score.benign_notable_blocked, `${name}: benign notable clients blocked`).toEqual([]);
      expect.soft(score.allowlist_violations, `${name}: allowlist violations`).toEqual([]);
      expect(score.attackers).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
