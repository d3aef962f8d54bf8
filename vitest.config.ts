import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (seconds on a 2-core machine, beforeAll included), slowest first. Vitest starts the
 * files it has no timings for by size (a clean clone, as in CI, has none), which left the heaviest of them, short
 * files that run long, to the end: one fork still busy while the other sat idle. These start first; the rest
 * follow in vitest's own order. Only the order changes: a file missing here, or listed and gone, changes nothing.
 */
const HEAVIEST_FIRST = [
  'test/acceptance/rehearse.test.ts', // 190
  'test/infra/synth.test.ts', // 99
  'test/acceptance/apitraffic-formats.test.ts', // 90
  'test/engine/stages.test.ts', // 85
  'test/acceptance/apitraffic-json.test.ts', // 83
  'test/robustness/invariants.test.ts', // 83
  'test/robustness/long-run.test.ts', // 69
  'test/robustness/crash-contain.test.ts', // 61
  'test/acceptance/slow-attacks.test.ts', // 58
  'test/acceptance/rehearse-slow-attacks.test.ts', // 55
  'test/cli/cli.test.ts', // 50
  'test/acceptance/real-logs.test.ts', // 31
  'test/infra/cordon-construct.test.ts', // 31
  'test/robustness/benign-day.test.ts', // 31
  'test/cli/simulate-params.test.ts', // 30
  'test/infra/deny-list.test.ts', // 25
  'test/robustness/state-faults.test.ts', // 23
  'test/robustness/load.test.ts', // 21
  'test/infra/api-keys.test.ts', // 20
  'test/infra/observability.test.ts', // 15
  'test/adapters/s3.test.ts', // 14
  'test/acceptance/stolen-credentials.test.ts', // 14
];

class HeaviestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = HEAVIEST_FIRST.indexOf(relative(this.ctx.config.root, f.moduleId).split('\\').join('/'));
      return i < 0 ? HEAVIEST_FIRST.length : i;
    };
    return [...rest].sort((a, b) => rank(a) - rank(b)); // stable: the unlisted keep vitest's order
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One fork per core. Vitest's default is one fewer than the cores, which on a 2-core machine (CI) is a single
    // fork: every file in turn. `--maxWorkers` on the command line still overrides this.
    maxWorkers: availableParallelism(),
    sequence: { sequencer: HeaviestFirst },
    globalSetup: ['test/setup/temp-dir.ts'],
  },
});
