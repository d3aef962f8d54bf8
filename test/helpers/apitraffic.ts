import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config.ts';
import { runReplay, type ReplaySummary } from '../../src/pipeline/replay.ts';
import { sharedPath } from './shared.ts';

export interface PyScore {
  scenario: string;
  attackers: number;
  detected: number;
  contained: number;
  median_time_to_contain_s: number | null;
  max_time_to_contain_s: number | null;
  benign_notable_blocked: { kind: string; ip: string }[];
  allowlist_violations: string[];
  blocks_covering_no_attacker: number;
  per_attacker: { kind: string; detected: boolean; contained: boolean; time_to_contain_s: number | null }[];
  /** Ours, not score.py's: principals blocked that belong to no attacker. */
  principals_blocked_not_attacking?: string[];
}

/** Writes apitraffic.py traffic to a temp folder; returns the traffic and labels paths. */
export function generate(scenario: string, seed: number, format: string, minutes = 60): { traffic: string; labels: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), `cordon-${scenario}-${seed}-${format}-`));
  const traffic = join(dir, `traffic.${format}`);
  execFileSync('python3', [sharedPath('tools/apitraffic/apitraffic.py'), '--scenario', scenario, '--minutes', String(minutes),
    '--seed', String(seed), '--format', format, '--out', traffic], { stdio: 'pipe' });
  return { traffic, labels: `${traffic}.labels.json`, dir };
}

/** Replays the traffic with the scenario's allowlist and scores the decisions with the reference score.py. */
export async function replayAndScore(scenario: string, seed: number, format: string, minutes = 60): Promise<{ score: PyScore; summary: ReplaySummary }> {
  const g = generate(scenario, seed, format, minutes);
  const labels = JSON.parse(readFileSync(g.labels, 'utf8')) as { allowlist: string[] };
  const out = join(g.dir, 'out');
  const summary = await runReplay({ files: [g.traffic], outDir: out, config: parseConfig({ allowlist: { cidrs: labels.allowlist } }) });
  return { score: scoreRun(g.labels, join(out, 'decisions.jsonl')), summary };
}

/**
 * score.py's verdict on a decisions file, plus what it does not judge: a block of a principal that belongs to no
 * attacker (score.py only looks at addresses).
 */
export function scoreRun(labelsPath: string, decisionsPath: string): PyScore {
  const json = execFileSync('python3', [sharedPath('tools/apitraffic/score.py'), labelsPath, decisionsPath, '--json'], { encoding: 'utf8' });
  const score = JSON.parse(json) as PyScore;
  const labels = JSON.parse(readFileSync(labelsPath, 'utf8')) as { attackers: { principal: string | null }[] };
  const attackerPrincipals = new Set(labels.attackers.map((a) => a.principal).filter((p): p is string => !!p));
  const text = readFileSync(decisionsPath, 'utf8').trim();
  score.principals_blocked_not_attacking = (text ? text.split('\n') : []).map((l) => JSON.parse(l) as { action: string; targetKind: string; target: string })
    .filter((d) => d.action === 'block' && d.targetKind === 'principal' && !attackerPrincipals.has(d.target)).map((d) => d.target);
  return score;
}

/** The acceptance bar of the engine issue, as one readable failure message. */
export function acceptanceProblems(s: PyScore): string[] {
  const p: string[] = [];
  if (s.detected !== s.attackers) p.push(`detected ${s.detected}/${s.attackers}`);
  if (s.contained !== s.attackers) p.push(`contained ${s.contained}/${s.attackers}: ${JSON.stringify(s.per_attacker.filter((a) => !a.contained))}`);
  if (s.attackers > 0 && (s.median_time_to_contain_s ?? Infinity) > 90) p.push(`median time to contain ${s.median_time_to_contain_s}s > 90s`);
  if (s.attackers > 0 && (s.max_time_to_contain_s ?? Infinity) > 180) p.push(`worst time to contain ${s.max_time_to_contain_s}s > 180s`);
  if (s.benign_notable_blocked.length) p.push(`benign clients blocked: ${JSON.stringify(s.benign_notable_blocked)}`);
  if (s.blocks_covering_no_attacker) p.push(`${s.blocks_covering_no_attacker} blocks cover no attacker`);
  if (s.allowlist_violations.length) p.push(`allowlist violations: ${s.allowlist_violations.join(', ')}`);
  if (s.principals_blocked_not_attacking?.length) p.push(`principals blocked that attack nobody: ${s.principals_blocked_not_attacking.join(', ')}`);
  return p;
}
