import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { tickSlicesFor } from '../../src/engine/tick-slices.ts';
import { runRehearse } from '../../src/rehearse/rehearse.ts';
import type { Labels } from '../../src/simulate/labels.ts';
import { parseDecisionLines, scoreDecisions } from '../../src/simulate/score.ts';
import { writeTraffic } from '../../src/simulate/traffic.ts';

/**
 * The detect tick fanned out as the construct deploys it on many summaries shards: several ticks a minute, each over
 * its slice. A log that stops two minutes after its last attack starts leaves every shard's last windows to the ticks
 * alone; each slice has to close its own, or windows stay open and attackers undecided.
 */
describe('rehearse on twelve shards: the tick in three slices', () => {
  it('every window closed after the log stops, every attacker contained, no false block', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-rehearse-slices-'));
    const traffic = join(dir, 'traffic.log');
    const gen = await writeTraffic(traffic, { scenario: 'mixed', minutes: 20, seed: 3, format: 'apigw-json' });
    const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
    const cut = Math.max(...labels.attackers.map((a) => a.start)) + 120_000;
    const lines = readFileSync(traffic, 'utf8').trim().split('\n').filter((l) => (JSON.parse(l) as { requestTimeEpoch: number }).requestTimeEpoch < cut);
    writeFileSync(traffic, lines.join('\n') + '\n');
    labels.attackers = labels.attackers.filter((a) => a.start < cut).map((a) => ({ ...a, end: Math.min(a.end, cut) }));

    const summary = await runRehearse({ files: [traffic], outDir: join(dir, 'out'), config: parseConfig({ allowlist: { cidrs: labels.allowlist } }),
      seed: 3, shards: 12 });
    expect(tickSlicesFor(12)).toBe(3);
    expect(summary.tickSlices).toBe(3);
    expect(summary.windowsOpenAtEnd).toBe(0);
    const { decisions } = parseDecisionLines(readFileSync(join(dir, 'out', 'decisions.jsonl'), 'utf8'));
    const score = scoreDecisions(labels, decisions);
    console.log(`rehearse, 12 shards, 3 tick slices: ${score.per_attacker.map((a) => `${a.kind} ${a.time_to_contain_s ?? '-'} s`).join(', ')}`);
    expect(score.contained).toBe(score.attackers);
    expect(score.blocks_covering_no_attacker).toBe(0);
    expect(score.benign_notable_blocked).toEqual([]);
  }, 120_000);
});
