import { defineConfig } from 'vitest/config';

// Unit and property tests of the engine's pure parts: what `npm run mutate` runs against each mutant.
// Kept apart from the full suite because Stryker re-runs these thousands of times.
export default defineConfig({
  test: {
    include: [
      'test/net/**/*.test.ts',
      'test/contain/**/*.test.ts',
      'test/detect/**/*.test.ts',
      'test/features/**/*.test.ts',
      'test/decode/**/*.test.ts',
      'test/render/**/*.test.ts',
    ],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
