import { expect, it } from 'vitest';
import { acceptanceProblems, replayAndScore } from '../helpers/apitraffic.ts';
import { describeSharedTools } from '../helpers/shared.ts';

/** The same bar when the traffic arrives as Kinesis records or in the console presets (no principals, no paths). */
describeSharedTools('apitraffic, other input formats', () => {
  const cases = ['cwl-kinesis', 'console-json', 'console-clf'].flatMap((format) =>
    ['mixed', 'benign', 'flash-crowd'].map((scenario) => ({ format, scenario, seed: 44 })));
  it.each(cases)('$format $scenario', async ({ format, scenario, seed }) => {
    const { score, summary } = await replayAndScore(scenario, seed, format);
    console.log(`${format} ${scenario}: detected ${score.detected}/${score.attackers} contained ${score.contained}/${score.attackers} ` +
      `median_ttc=${score.median_time_to_contain_s}s max_ttc=${score.max_time_to_contain_s}s false_blocks=${score.blocks_covering_no_attacker}`);
    expect(acceptanceProblems(score)).toEqual([]);
    expect(summary.linesUnreadable).toBe(0);
    expect(Object.values(summary.formats)[0]).toBe(format === 'cwl-kinesis' ? 'kinesis-records' : format);
  }, 120_000);
});
