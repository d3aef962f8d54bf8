import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { LogFileError } from '../../src/decode/errors.ts';
import { readAccessLogs } from '../../src/decode/read-access-logs.ts';
import { LocalRunner } from '../../src/engine/local-runner.ts';
import { METRIC } from '../../src/engine/observe.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { runReplay, type ReplaySummary } from '../../src/pipeline/replay.ts';
import { readOnThread } from '../../src/pipeline/threaded-read.ts';
import { acceptanceProblems, generate, scoreRun } from '../helpers/apitraffic.ts';
import { hostileTraffic } from '../helpers/hostile-traffic.ts';
import { describeSharedData, describeSharedTools, sharedPath } from '../helpers/shared.ts';

/**
 * `replay --threads 2` (read, decode and ingest on a second thread; detect and contain on the main one) decides
 * exactly what a replay on one thread decides: every output file is byte for byte the same, and the summary differs
 * only in how long it took.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Files that carry no run-time figure (report.html has its generation time; summary.json is compared apart). */
const COMPARED = (f: string) => f !== 'report.html' && f !== 'summary.json' && !f.startsWith('state.sqlite');

async function bothWays(files: string[], allow: string[] = [], shards?: number) {
  const out: { dir: string; summary: ReplaySummary }[] = [];
  for (const threads of [1, 2] as const) {
    const dir = mkdtempSync(join(tmpdir(), `cordon-threads-${threads}-`));
    dirs.push(dir);
    const summary = await runReplay({ files, outDir: dir, config: parseConfig({ allowlist: { cidrs: allow } }), threads, shards });
    out.push({ dir, summary });
  }
  const [one, two] = out;
  const names = readdirSync(one.dir).filter(COMPARED).sort();
  expect(readdirSync(two.dir).filter(COMPARED).sort()).toEqual(names);
  expect(names).toContain('decisions.jsonl');
  for (const f of names) expect(readFileSync(join(two.dir, f), 'utf8'), f).toBe(readFileSync(join(one.dir, f), 'utf8'));
  const timeless = (s: ReplaySummary) => ({ ...s, wallSeconds: 0, eventsPerSecond: 0, outputs: {} });
  expect(timeless(two.summary)).toEqual(timeless(one.summary));
  return { one, two };
}

function allowlistOf(labels: string): string[] {
  return (JSON.parse(readFileSync(labels, 'utf8')) as { allowlist: string[] }).allowlist;
}

describeSharedTools('replay on two threads: the decisions of one', () => {
  for (const [scenario, seed, format] of [['mixed', 3, 'apigw-json'], ['benign', 4, 'apigw-json'], ['flash-crowd', 5, 'apigw-json'],
    ['mixed', 6, 'console-json'], ['mixed', 7, 'combined'], ['mixed', 8, 'cwl-kinesis']] as const) {
    it(`${scenario} (${format}, seed ${seed}): the same outputs, and they pass the acceptance bar`, async () => {
      const g = generate(scenario, seed, format, 30);
      const { two } = await bothWays([g.traffic], allowlistOf(g.labels));
      expect(two.summary.events).toBeGreaterThan(10_000);
      expect(acceptanceProblems(scoreRun(g.labels, join(two.dir, 'decisions.jsonl')))).toEqual([]);
    }, 120_000);
  }

  it('two shards of each stream, and hostile input (a line decades ahead, a /24 of long random paths)', async () => {
    const g = hostileTraffic(12);
    const { two } = await bothWays([g.traffic], allowlistOf(g.labels), 2);
    expect(two.summary.late.clamped).toBeGreaterThanOrEqual(g.absurdLines);
    expect(two.summary.blocks).toBeGreaterThan(0);
  }, 120_000);
});

describeSharedData('replay on two threads: real logs, several files at once', () => {
  it('the same outputs, unreadable lines and their samples included', async () => {
    const files = ['hackers-access.log', 'secrepo/access-2018-12-15.log', 'elastic_examples_apache_logs.gz'].map((f) => sharedPath('data', f));
    const { two } = await bothWays(files);
    expect(two.summary.linesRead).toBeGreaterThan(10_000);
    expect(Object.keys(two.summary.formats)).toHaveLength(3);
  }, 120_000);
});

describe('replay on two threads: failures', () => {
  it('a file that cannot be opened is the same LogFileError, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-threads-missing-'));
    dirs.push(dir);
    const missing = join(dir, 'nope.log');
    const err = await runReplay({ files: [missing], outDir: join(dir, 'out'), config: parseConfig({}), threads: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogFileError);
    expect((err as LogFileError).path).toBe(missing);
    // With its cause, as on one thread: what the file system said.
    const once = await runReplay({ files: [missing], outDir: join(dir, 'out1'), config: parseConfig({}), threads: 1 }).catch((e: unknown) => e);
    const causeOf = (e: unknown) => {
      const c = (e as Error).cause as Error & { code?: string };
      return { name: c.name, message: c.message, code: c.code };
    };
    expect(causeOf(err)).toEqual(causeOf(once));
    expect(causeOf(err).code).toBe('ENOENT');
  });
});

describeSharedTools('replay on two threads: what the stages counted', () => {
  it('ingest\'s counters, counted on the reading thread, reach the runner\'s metrics as on one thread', async () => {
    const g = generate('mixed', 9, 'apigw-json', 10);
    const config = parseConfig({ allowlist: { cidrs: allowlistOf(g.labels) } });
    const totals: [string, number][][] = [];
    for (const threads of [1, 2] as const) {
      const dir = mkdtempSync(join(tmpdir(), `cordon-threads-metrics-${threads}-`));
      dirs.push(dir);
      const state = new SqliteState(join(dir, 'state.sqlite'));
      try {
        const runner = new LocalRunner(config, { outDir: dir, state });
        if (threads === 2) await readOnThread(runner, { files: [g.traffic], config, maxSamples: 20 });
        else {
          await readAccessLogs([g.traffic], { event: (e) => runner.push(e), unreadable: () => {} }, { maxSamples: 20, afterChunk: () => runner.drain() });
          await runner.finish();
        }
        totals.push([...runner.metrics.totals].sort(([a], [b]) => a.localeCompare(b)));
      } finally {
        state.close();
      }
    }
    const [one, two] = totals;
    expect(new Map(one).get(METRIC.EventsIn)).toBeGreaterThan(1_000);
    expect(two).toEqual(one);
  }, 120_000);
});
