import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

/**
 * Tests that read `../shared/` (real logs, the traffic generator and scorer). In CI (`CI=true`) a missing
 * shared/ is a hard failure; for a user who cloned the repo alone the tests skip with a message.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = process.env.CORDON_SHARED_DIR ?? resolve(repoRoot, '../shared');

export function sharedPath(...parts: string[]): string {
  return resolve(SHARED_DIR, ...parts);
}

export const sharedAvailable = existsSync(resolve(SHARED_DIR, 'DESIGN.md'));

if (!sharedAvailable) {
  if (process.env.CI === 'true') {
    throw new Error(`shared/ not found at ${SHARED_DIR}: CI must run with shared/ beside the repo`);
  }
  console.warn(`[cordon tests] ${SHARED_DIR} is missing: tests that read real logs or apitraffic are skipped`);
}

/** `describe` that needs ../shared: skips (with the warning above) without it, fails in CI. */
export const describeShared: typeof describe.skip = sharedAvailable ? describe : describe.skip;
