import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../src/config.ts';
import { runReplay } from '../src/pipeline/replay.ts';
import { writeTraffic } from '../src/simulate/traffic.ts';
import { parseArgs } from './args.ts';
import { bigWindow, detectFigure, mixedWindows } from './detect.ts';
import { floorCwl, ingestCwl, ingestLines } from './ingest.ts';
import { cwlRecordsOf, linesOf, simulate } from './inputs.ts';

/**
 * One workload alone, for a CPU profile without the rest of the bench in it:
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts WORKLOAD [--events N] [other bench options]
 * WORKLOAD: cwl | cwl-batch | floor | apigw-json | console-json | console-clf | combined | detect | replay |
 *   replay-cwl | replay-combined
 * then summarise the profile with `node --import tsx bench/top-self.ts /tmp/prof/<file>.cpuprofile`.
 */
const [workload = 'cwl', ...rest] = process.argv.slice(2);
const a = parseArgs(rest);
const t = simulate(a.minutes, a.seed);
const run = await prepare(workload);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const n = await run();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(`${workload}: ${n} in ${Math.round(ms)} ms wall, ${Math.round(cpuMs)} ms CPU ` +
  `(${Math.round((n * 1000) / ms)}/s wall, ${Math.round((n * 1000) / cpuMs)}/s CPU; input generation excluded)`);

/** Builds the input first, so the timed part and the profile's hot spots are the workload alone. */
async function prepare(w: string): Promise<() => number | Promise<number>> {
  switch (w) {
    case 'replay': case 'replay-cwl': case 'replay-combined': {
      const format = w === 'replay' ? 'apigw-json' : w === 'replay-cwl' ? 'cwl-kinesis' : 'combined';
      const dir = mkdtempSync(join(tmpdir(), 'cordon-profile-'));
      const file = join(dir, `traffic.${format}`);
      await writeTraffic(file, { scenario: 'mixed', minutes: a.replayMinutes, seed: a.seed, format });
      return async () => (await runReplay({ files: [file], outDir: join(dir, 'out'), config: defaultConfig() })).events;
    }
    case 'cwl': case 'cwl-batch': {
      const records = cwlRecordsOf(t, a.seed);
      return () => ingestCwl(records, a.events, w === 'cwl' ? 1 : 100);
    }
    case 'floor': {
      const records = cwlRecordsOf(t, a.seed);
      return () => floorCwl(records, a.events);
    }
    case 'apigw-json': case 'console-json': case 'console-clf': case 'combined': {
      const lines = linesOf(t, w, a.seed);
      return () => ingestLines(lines, w, a.events);
    }
    case 'detect': {
      const windows = mixedWindows(linesOf(t, 'apigw-json', a.seed));
      const big = bigWindow(a.detectKeys);
      return () => detectFigure('mixed', windows, a.repeat).keys + detectFigure('big', [big], a.repeat).keys;
    }
    default: throw new Error(`unknown workload ${w}`);
  }
}
