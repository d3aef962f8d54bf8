import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { runRehearse } from '../../src/rehearse/rehearse.ts';
import { TRAP_ROUTES } from '../../src/simulate/slow-attacks.ts';
import type { Labels } from '../../src/simulate/labels.ts';
import { parseDecisionLines, scoreDecisions } from '../../src/simulate/score.ts';
import { writeTraffic } from '../../src/simulate/traffic.ts';

/**
 * The attacks no single minute shows, rehearsed: the deployed stages under the simulated AWS clock (shards, batches,
 * Lambda retries, WAF propagation), not only in log time. Every attacker contained, nothing benign blocked, and the
 * slow kinds within their times counted to a block in effect (15 minutes; 10 for enumeration; 5 for a campaign whose
 * members try five times a minute or more).
 */
describe('slow attacks through rehearse', () => {
  // The campaign runs on four shards, one 90 s behind: its members' failures arrive out of step, and still add up.
  it.each([
    ['low-and-slow', { rate: 3 }, {}],
    ['campaign', { rate: 6 }, { shards: 4, laggingShardSeconds: 90 }],
  ] as const)('%s %j %j', async (scenario, params, shards) => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-rehearse-slow-'));
    const traffic = join(dir, 'traffic.log');
    const gen = await writeTraffic(traffic, { scenario, minutes: 50, seed: 7, format: 'apigw-json', params });
    const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
    const config = parseConfig({ allowlist: { cidrs: labels.allowlist }, denyList: { enabled: true }, trapRoutes: [...TRAP_ROUTES] });
    await runRehearse({ files: [traffic], outDir: join(dir, 'out'), config, seed: 1, ...shards });
    const { decisions } = parseDecisionLines(readFileSync(join(dir, 'out', 'decisions.jsonl'), 'utf8'));
    const score = scoreDecisions(labels, decisions);
    console.log(`rehearse ${scenario} ${JSON.stringify(params)}: ${score.per_attacker.map((a) => `${a.kind} ${a.time_to_contain_s ?? '-'} s`).join(', ')}; false blocks ${score.blocks_covering_no_attacker}`);
    expect(score.contained).toBe(score.attackers);
    expect(score.blocks_covering_no_attacker).toBe(0);
    expect(score.benign_notable_blocked).toEqual([]);
    const bound = (kind: string) => kind === 'object-enumeration' ? 600 : kind === 'credential-stuffing-campaign' ? 300 : 900;
    for (const a of score.per_attacker) expect(a.time_to_contain_s, a.kind).toBeLessThanOrEqual(bound(a.kind));
  }, 180_000);
});
