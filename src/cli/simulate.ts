import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Scenario } from '../simulate/labels.ts';
import { SCENARIOS } from '../simulate/scenarios.ts';
import { writeTraffic } from '../simulate/traffic.ts';
import type { TrafficFormat } from '../simulate/formats.ts';
import { positiveInt } from './main.ts';

export const FORMATS: TrafficFormat[] = ['apigw-json', 'console-json', 'console-clf', 'combined', 'cwl-kinesis'];

export interface SimulateOptions {
  scenario: Scenario;
  minutes: number;
  seed: number;
  format: TrafficFormat;
  out: string;
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('write labelled API Gateway traffic (benign population, NAT gateway, crawler, attacks) and its labels')
    .addOption(new Option('--scenario <name>', 'what the traffic holds').choices(Object.keys(SCENARIOS)).default('mixed'))
    .option('--minutes <n>', 'length of the traffic', positiveInt, 60)
    .option('--seed <n>', 'random seed (same seed, same traffic)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
      return n;
    }, 1)
    .addOption(new Option('--format <format>', 'access-log format').choices(FORMATS).default('apigw-json'))
    .option('--out <file>', 'traffic file (labels go to FILE.labels.json)', 'traffic.log')
    .action(async (o: SimulateOptions) => {
      mkdirSync(dirname(resolve(o.out)), { recursive: true });
      const r = await writeTraffic(resolve(o.out), o);
      process.stdout.write(`${o.scenario}: ${r.requests.toLocaleString('en')} requests, ${r.attackers} attackers -> ${resolve(o.out)} (labels: ${r.labelsPath})\n`);
    });
}
