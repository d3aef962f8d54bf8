import { readFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Labels, Scenario } from '../simulate/labels.ts';
import { SCENARIOS } from '../simulate/scenarios.ts';
import { formatScore, formatScoreDetails, parseDecisionLines, scoreDecisions } from '../simulate/score.ts';
import { writeTraffic } from '../simulate/traffic.ts';
import { DEFAULT_OUT, positiveInt } from './main.ts';
import { printSummary, replay } from './replay.ts';
import { paramsText, scenarioParamHelp, scenarioParamOptions, scenarioParams } from './simulate.ts';

/**
 * `npm start`: the main job on its embedded default. Generates an hour of API traffic with attacks in it, replays
 * it through the pipeline with SQLite state, and scores what cordon did against the traffic's own labels.
 */
export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('generate an hour of API traffic with attacks, replay it, and score the decisions (what `npm start` runs)')
    .addOption(new Option('--scenario <name>').choices(Object.keys(SCENARIOS)).default('mixed'))
    .option('--minutes <n>', 'length of the traffic', positiveInt, 60)
    .option('--seed <n>', 'random seed', positiveInt, 7)
    .option('--out <dir>', 'output folder', DEFAULT_OUT)
    .option('--quiet', 'print only the summary');
  for (const opt of scenarioParamOptions()) cmd.addOption(opt);
  return cmd
    .addHelpText('after', scenarioParamHelp())
    .action(async (o: { scenario: Scenario; minutes: number; seed: number; out: string; quiet?: boolean; rate?: number; members?: number }) => {
      const params = scenarioParams(o.scenario, o);
      const out = resolve(o.out);
      mkdirSync(out, { recursive: true });
      const traffic = join(out, 'traffic.log');
      process.stdout.write(`generating ${o.minutes} minutes of "${o.scenario}"${paramsText(o.scenario, params)} API traffic (seed ${o.seed})...\n`);
      const gen = await writeTraffic(traffic, { scenario: o.scenario, params, minutes: o.minutes, seed: o.seed, format: 'apigw-json' });
      const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
      process.stdout.write(`${gen.requests.toLocaleString('en')} requests, ${gen.attackers} attackers hidden in them -> ${traffic}\n`);
      process.stdout.write(`replaying through cordon (allowlist: ${labels.allowlist.join(', ') || 'none'}, fresh state)...\n\n`);
      const summary = await replay([traffic], { out, allow: labels.allowlist, allowPrincipal: [], quiet: o.quiet });
      printSummary(summary, out);
      const { decisions } = parseDecisionLines(readFileSync(join(out, 'decisions.jsonl'), 'utf8'));
      const score = scoreDecisions(labels, decisions);
      process.stdout.write(['', 'scored against the traffic\'s labels:', ...formatScoreDetails(score).map((l) => '  ' + l),
        '  ' + formatScore(score), ''].join('\n'));
    });
}
