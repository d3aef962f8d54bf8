// Mutation testing of the engine's safety-bearing folders (`npm run mutate`; one folder: `npm run mutate -- src/net`).
// Per-folder thresholds and the list of equivalent survivors live in mutation/.
// MUTATE_TAG keeps concurrent runs (one folder each) from sharing a sandbox or a report.
const tag = process.env.MUTATE_TAG ?? 'all';
const concurrency = Number(process.env.MUTATE_CONCURRENCY ?? 2);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.unit.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  coverageAnalysis: 'perTest',
  mutate: ['src/net/**/*.ts', 'src/contain/**/*.ts', 'src/detect/**/*.ts', 'src/features/**/*.ts'],
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${tag}.json` },
  concurrency,
  timeoutMS: 20_000,
  tempDirName: `.stryker-tmp-${tag}`,
  cleanTempDir: 'always',
};
