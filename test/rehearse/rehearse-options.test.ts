import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { runRehearse } from '../../src/rehearse/rehearse.ts';

describe('runRehearse options', () => {
  it('an ingest batching window the construct would refuse is refused before any work (no output folder made)', async () => {
    for (const ingestBatchingWindowSeconds of [0, 31, 2.5]) {
      const outDir = join(tmpdir(), `cordon-rehearse-refused-${ingestBatchingWindowSeconds}-${process.pid}`);
      await expect(runRehearse({ files: ['/nonexistent.log'], outDir, config: parseConfig({}), ingestBatchingWindowSeconds }))
        .rejects.toThrow(/ingestBatchingWindowSeconds must be a whole number from 1 to 30/);
      expect(existsSync(outDir)).toBe(false);
    }
  });
});
