import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Scenario } from '../simulate/labels.ts';
import {
  PARAM_NAMES, SCENARIOS, SCENARIO_NAMES, ScenarioParamError, type ScenarioParams, paramScenariosOf, resolveScenarioParams,
} from '../simulate/scenarios.ts';
import { writeTraffic } from '../simulate/traffic.ts';
import type { TrafficFormat } from '../simulate/formats.ts';
import { UsageError, positiveInt } from './main.ts';

export const FORMATS: TrafficFormat[] = ['apigw-json', 'console-json', 'console-clf', 'combined', 'cwl-kinesis'];

export interface SimulateOptions {
  scenario: Scenario;
  minutes: number;
  seed: number;
  format: TrafficFormat;
  out: string;
  rate?: number;
  members?: number;
}

/** A positive, finite number (a rate may be fractional: 1.5 a minute, a growth factor of 1.3). */
export const positiveNumber = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
};

/**
 * `--rate` and `--members`: the attack parameters of the scenarios that declare them (their `params`), refused for
 * the others. No default here: a scenario's own default applies when one is not given.
 */
export function scenarioParamOptions(): Option[] {
  const takers = (key: keyof ScenarioParams) => paramScenariosOf(key).join(', ');
  return [
    new Option('--rate <n>', `attack rate of a parameterised scenario (${takers('rate')}); what it counts and its default ` +
      'depend on the scenario (see below); refused for the others').argParser(positiveNumber),
    new Option('--members <n>', `addresses in the attack, for ${takers('members')} only (see below); refused for the others`)
      .argParser(positiveInt),
  ];
}

/** The help's list of which scenario takes which parameter, what it means and its default (wrapped to 100 columns). */
export function scenarioParamHelp(): string {
  const lines = ['', 'Scenario parameters (only these scenarios take --rate or --members; others refuse them):'];
  const takers = SCENARIO_NAMES.filter((n) => SCENARIOS[n].params);
  const indent = ' '.repeat(4 + Math.max(...takers.map((n) => n.length)));
  for (const name of takers) {
    Object.entries(SCENARIOS[name].params ?? {}).forEach(([key, p], i) => {
      const head = `  ${(i === 0 ? name : '').padEnd(indent.length - 4)}  `;
      lines.push(...wrap(`--${key}: ${p.describe} (default ${p.default})`, 100 - indent.length).map((l, j) => (j === 0 ? head : indent) + l));
    });
  }
  return lines.join('\n');
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/**
 * The parameters given on the command line for `scenario`, checked: one the scenario does not take, or a value it
 * cannot run at, is a usage error that says which scenarios take it.
 */
export function scenarioParams(scenario: Scenario, o: { rate?: number; members?: number }): ScenarioParams {
  const given: ScenarioParams = {};
  const declared = SCENARIOS[scenario].params ?? {};
  for (const key of PARAM_NAMES) {
    const v = o[key];
    if (v === undefined) continue;
    if (!Object.hasOwn(declared, key)) {
      const own = Object.keys(declared).map((k) => `--${k}`);
      throw new UsageError(`scenario ${scenario} takes ${own.length ? `only ${own.join(', ')}` : 'no parameters'}: ` +
        `--${key} is for ${paramScenariosOf(key).join(', ')}`);
    }
    given[key] = v;
  }
  try {
    resolveScenarioParams(scenario, given);
  } catch (err) {
    if (err instanceof ScenarioParamError) throw new UsageError(err.param ? `--${err.message}` : err.message);
    throw err;
  }
  return given;
}

/** " (rate 1.5, members 40)" for a parameterised scenario's run, "" for the others. */
export function paramsText(scenario: Scenario, params: ScenarioParams): string {
  const resolved = Object.entries(resolveScenarioParams(scenario, params));
  return resolved.length ? ` (${resolved.map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
}

export function simulateCommand(): Command {
  const cmd = new Command('simulate')
    .description('write labelled API Gateway traffic (benign population, NAT gateway, crawler, attacks) and its labels')
    .addOption(new Option('--scenario <name>', 'what the traffic holds').choices(Object.keys(SCENARIOS)).default('mixed'))
    .option('--minutes <n>', 'length of the traffic', positiveInt, 60)
    .option('--seed <n>', 'random seed (same seed, same traffic)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
      return n;
    }, 1)
    .addOption(new Option('--format <format>', 'access-log format').choices(FORMATS).default('apigw-json'))
    .option('--out <file>', 'traffic file (labels go to FILE.labels.json)', 'traffic.log');
  for (const opt of scenarioParamOptions()) cmd.addOption(opt);
  return cmd
    .addHelpText('after', scenarioParamHelp())
    .action(async (o: SimulateOptions) => {
      const params = scenarioParams(o.scenario, o);
      mkdirSync(dirname(resolve(o.out)), { recursive: true });
      const r = await writeTraffic(resolve(o.out), { scenario: o.scenario, params, minutes: o.minutes, seed: o.seed, format: o.format });
      process.stdout.write(`${o.scenario}${paramsText(o.scenario, params)}: ${r.requests.toLocaleString('en')} requests, ` +
        `${r.attackers} attackers -> ${resolve(o.out)} (labels: ${r.labelsPath})\n`);
    });
}
