import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One temporary folder per test run, removed at its end: the tests write generated traffic and replay outputs under
 * the system's temporary folder (gigabytes over a full run), and most do not remove what they wrote. Vitest runs this
 * in its main process before it starts the test forks, which inherit TMPDIR, so `os.tmpdir()` is this folder there.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-test-run-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
