import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import { acceptanceProblems, scoreRun } from '../helpers/apitraffic.ts';
import { hostileTraffic } from '../helpers/hostile-traffic.ts';
import { describeSharedTools } from '../helpers/shared.ts';

const score = scoreRun;

describeSharedTools('replay: attacker-controlled bytes and absurd clocks', () => {
  it('one line stamped decades ahead and a /24 of long random paths: every line read, times clamped, every attacker contained on time', async () => {
    const g = hostileTraffic(23);
    const allow = (JSON.parse(readFileSync(g.labels, 'utf8')) as { allowlist: string[] }).allowlist;
    const out = join(g.dir, 'out');
    const summary = await runReplay({ files: [g.traffic], outDir: out, config: parseConfig({ allowlist: { cidrs: allow } }) });
    expect(summary.linesUnreadable).toBe(0);
    expect(summary.events).toBe(summary.linesRead);
    expect(summary.late.clamped).toBeGreaterThanOrEqual(g.absurdLines);
    // The clock stayed in the log's own time: no decision is dated decades ahead.
    expect(summary.logEnd! < '2030').toBe(true);
    const s = score(g.labels, join(out, 'decisions.jsonl'));
    expect(acceptanceProblems(s)).toEqual([]);
    expect(s.per_attacker.find((a) => a.kind === 'junk-subnet')?.contained).toBe(true);
  }, 180_000);
});
