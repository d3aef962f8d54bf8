import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Labels } from '../../src/simulate/labels.ts';
import { cordonHere, cordonProcess } from '../helpers/cli.ts';

/**
 * `cordon simulate` and `cordon demo` with `--rate` and `--members`: the parameters reach the generator (the traffic
 * runs at them and its labels say so), and a value or a parameter a scenario cannot take is refused with one clear
 * line and a non-zero exit, before anything is written. Each command runs as bin/cordon at least once; the other
 * cases call the same `main` in this process (test/helpers/cli.ts), which spares a process start each.
 */

const dir = mkdtempSync(join(tmpdir(), 'cordon-sim-params-'));

const cordon = (...args: string[]) => cordonProcess(dir, ...args);

const labelsOf = (file: string) => JSON.parse(readFileSync(`${file}.labels.json`, 'utf8')) as Labels;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cordon simulate --rate / --members', () => {
  it('ramp --rate 1.5: the flood grows 1.5x a minute and the labels carry the rate', async () => {
    const out = join(dir, 'ramp.log');
    const r = await cordon('simulate', '--scenario', 'ramp', '--rate', '1.5', '--minutes', '30', '--seed', '2', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ramp \(rate 1\.5\): [\d,]+ requests, 1 attackers -> /);
    const labels = labelsOf(out);
    expect(labels.scenario).toBe('ramp');
    expect(labels.params).toEqual({ rate: 1.5 });
    const [flood] = labels.attackers;
    expect(flood.kind).toBe('ramping-flood');
    // Its requests per minute, from the attack's start: round(10 x 1.5^k), the rate given (the default is 1.3).
    const perMinute = new Array<number>(8).fill(0);
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      if (!line.includes(flood.ips[0])) continue;
      const e = JSON.parse(line) as { ip: string; requestTimeEpoch: number };
      const k = Math.floor((e.requestTimeEpoch - flood.start) / 60_000);
      if (e.ip === flood.ips[0] && k < perMinute.length) perMinute[k]++;
    }
    expect(perMinute).toEqual([10, 15, 23, 34, 51, 76, 114, 171]);
  }, 60_000);

  it('campaign --rate 2 --members 12: twelve members, both parameters in the labels', async () => {
    const out = join(dir, 'campaign.log');
    const r = await cordonHere('simulate', '--scenario', 'campaign', '--rate', '2', '--members', '12', '--minutes', '20', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^campaign \(rate 2, members 12\): /);
    const labels = labelsOf(out);
    expect(labels.params).toEqual({ rate: 2, members: 12 });
    expect(labels.attackers.map((a) => [a.kind, a.ips.length])).toEqual([['credential-stuffing-campaign', 12]]);
  }, 60_000);

  it('a parameterised scenario without them runs at its defaults, and says so', async () => {
    const out = join(dir, 'trap.log');
    const r = await cordonHere('simulate', '--scenario', 'trap', '--minutes', '10', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^trap \(rate 1\): /);
    expect(labelsOf(out).params).toEqual({ rate: 1 });
  }, 60_000);

  it.each([
    [['--scenario', 'ramp', '--rate', 'abc'], 1, /option '--rate <n>' argument 'abc' is invalid\. must be a positive number/],
    [['--scenario', 'ramp', '--rate', '0'], 1, /option '--rate <n>' argument '0' is invalid\. must be a positive number/],
    [['--scenario', 'ramp', '--rate', '-2'], 1, /'--rate <n>' argument '-2' is invalid\. must be a positive number/],
    [['--scenario', 'campaign', '--members', '2.5'], 1, /'--members <n>' argument '2\.5' is invalid\. must be a positive integer/],
    [['--scenario', 'ramp', '--rate', '1'], 2, /^cordon: --rate of scenario ramp must be above 1, got 1\n$/],
    [['--scenario', 'trap', '--rate', '1.5'], 2, /^cordon: --rate of scenario trap must be a whole number, got 1\.5\n$/],
    [['--scenario', 'ramp', '--members', '5'], 2, /^cordon: scenario ramp takes only --rate: --members is for campaign\n$/],
    [['--scenario', 'mixed', '--rate', '2'], 2,
      /^cordon: scenario mixed takes no parameters: --rate is for low-and-slow, campaign, ramp, trap\n$/],
    [['--rate', '3'], 2, /^cordon: scenario mixed takes no parameters: --rate is for /], // the default scenario takes none
  ] as const)('refuses %j with a clear message and exit %i, writing nothing', async (args, code, message) => {
    const out = join(dir, `bad-${args.join('_').replace(/[^\w.-]/g, '')}.log`);
    // Commander's own refusals exit the process (subcommands do not override exit): those run as bin/cordon does.
    const r = code === 1 ? await cordon('simulate', ...args, '--minutes', '5', '--out', out)
      : await cordonHere('simulate', ...args, '--minutes', '5', '--out', out);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('says in its help which scenarios take which parameter, with the default', async () => {
    const r = await cordon('simulate', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--rate <n> +attack rate of a parameterised scenario \(low-and-slow,\s+campaign, ramp, trap\)/);
    expect(r.stdout).toMatch(/--members <n> +addresses in the attack, for campaign only/);
    expect(r.stdout).toMatch(/Scenario parameters \(only these scenarios take --rate or --members; others refuse them\):/);
    expect(r.stdout).toMatch(/\n {2}ramp +--rate: growth factor a minute \(above 1\) \(default 1\.3\)\n/);
    expect(r.stdout).toMatch(/--members: addresses in the campaign, each in its own \/16 \(default 40\)/);
  });
});

describe('cordon demo --rate / --members', () => {
  it('generates, replays and scores the scenario at the rate given', async () => {
    const out = join(dir, 'demo-ramp');
    const r = await cordon('demo', '--scenario', 'ramp', '--rate', '1.5', '--minutes', '15', '--quiet', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^generating 15 minutes of "ramp" \(rate 1\.5\) API traffic \(seed 7\)\.\.\.\n/);
    expect(r.stdout).toMatch(/scored against the traffic's labels:/);
    expect(labelsOf(join(out, 'traffic.log')).params).toEqual({ rate: 1.5 });
  }, 120_000);

  it('refuses a parameter the scenario does not take before generating anything', async () => {
    const out = join(dir, 'demo-out');
    const r = await cordonHere('demo', '--scenario', 'benign', '--members', '10', '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('cordon: scenario benign takes no parameters: --members is for campaign\n');
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('lists the scenario parameters in its help', async () => {
    const r = await cordon('demo', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--rate <n>/);
    expect(r.stdout).toMatch(/\n {2}low-and-slow +--rate: scanner paths and stuffing attempts a minute/);
  });
});
