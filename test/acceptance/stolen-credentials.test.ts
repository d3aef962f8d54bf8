import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, describe } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import { parseDecisionLines, scoreDecisions } from '../../src/simulate/score.ts';
import { writeTraffic } from '../../src/simulate/traffic.ts';
import type { Labels } from '../../src/simulate/labels.ts';

/**
 * The principal-keyed attacks apitraffic.py lacks, from cordon's own simulator: credentials used from dozens of
 * addresses at once, and a principal with a normal history that starts pulling twenty times its volume. The
 * exfiltrator signs in with Cognito, which no resource policy can name: it is contained through the deny list its
 * authorizers consult (without one it is alerted as not enforced: test/robustness/invariants.test.ts).
 */
describe('stolen credentials and exfiltration (cordon simulate)', () => {
  it.each([1, 2])('seed %i', async (seed) => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-stolen-'));
    const traffic = join(dir, 'traffic.log');
    const gen = await writeTraffic(traffic, { scenario: 'stolen-credentials', minutes: 60, seed, format: 'apigw-json' });
    const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
    await runReplay({ files: [traffic], outDir: join(dir, 'out'), config: parseConfig({ allowlist: { cidrs: labels.allowlist }, denyList: { enabled: true } }) });
    const { decisions } = parseDecisionLines(readFileSync(join(dir, 'out', 'decisions.jsonl'), 'utf8'));
    const score = scoreDecisions(labels, decisions);
    console.log(`stolen-credentials seed ${seed}: contained ${score.contained}/${score.attackers} median_ttc=${score.median_time_to_contain_s}s max_ttc=${score.max_time_to_contain_s}s false_blocks=${score.blocks_covering_no_attacker}`);
    expect(score.contained).toBe(score.attackers);
    expect(score.max_time_to_contain_s).toBeLessThanOrEqual(180);
    expect(score.blocks_covering_no_attacker).toBe(0);
    expect(score.benign_notable_blocked).toEqual([]);
    const principalBlocks = decisions.filter((d) => d.action === 'block' && d.targetKind === 'principal').map((d) => d.target);
    expect(new Set(principalBlocks)).toEqual(new Set(labels.attackers.map((a) => a.principal)));
    const denyList = JSON.parse(readFileSync(join(dir, 'out', 'deny-list.json'), 'utf8')) as { principals: string[] };
    const exfiltrator = labels.attackers.find((a) => a.kind === 'exfiltration')!.principal!;
    expect(exfiltrator.startsWith('arn:')).toBe(false);
    expect(denyList.principals).toContain(exfiltrator);
  }, 120_000);
});
