import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import type { Labels } from '../../src/simulate/labels.ts';
import { parseDecisionLines } from '../../src/simulate/score.ts';
import { writeTraffic } from '../../src/simulate/traffic.ts';

/**
 * Hours of clients that look like slow attackers and are not: service accounts at high constant rates, users who
 * mistype passwords (some behind the NAT gateway), stale links, crawlers, health checks, through the diurnal curve.
 * Evidence over ten minutes and an hour, the ramp's bounded baseline and the campaign measure all see them; none may
 * block anybody. Default 6 hours; CORDON_FULL=1: a whole day.
 */
const HOURS = process.env.CORDON_FULL === '1' ? 24 : 6;

describe(`a benign day of look-alikes (${HOURS} h, cordon simulate lookalikes)`, () => {
  it('blocks nobody and alerts on nobody', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-benign-day-'));
    const traffic = join(dir, 'traffic.log');
    const gen = await writeTraffic(traffic, { scenario: 'lookalikes', minutes: HOURS * 60, seed: 5, format: 'apigw-json' });
    const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
    expect(labels.attackers).toEqual([]);
    const summary = await runReplay({ files: [traffic], outDir: join(dir, 'out'), config: parseConfig({ allowlist: { cidrs: labels.allowlist } }) });
    const { decisions } = parseDecisionLines(readFileSync(join(dir, 'out', 'decisions.jsonl'), 'utf8'));
    console.log(`benign day: ${summary.events} requests over ${HOURS} h, ${decisions.length} decisions`);
    expect(summary.events).toBeGreaterThan(HOURS * 10_000);
    expect(decisions.map((d) => `${d.action} ${d.target}`)).toEqual([]);
  }, 300_000);
});
