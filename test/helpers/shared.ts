import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onPath, requirement, type Requirement } from './requirements.ts';

/**
 * Tests that read `../shared/` (real logs, the traffic generator and scorer). What they read is listed here and
 * checked file by file: a suite whose files are missing is skipped locally (the missing files in its name) and fails
 * in CI (any non-empty `CI` but `false`/`0`), naming them.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = process.env.CORDON_SHARED_DIR ?? resolve(repoRoot, '../shared');

export function sharedPath(...parts: string[]): string {
  return resolve(SHARED_DIR, ...parts);
}

/** The real logs of shared/data the tests read by name (test/decode/real-*.test.ts, test/acceptance/real-logs.test.ts). */
export const SHARED_DATA_FILES = [
  'elastic_examples_apache_logs.gz',
  'almhuette_raith_2019-10_tail10k.log.gz',
  'honeynet_redhat71_2004/httpd_access_log_2004-04-21_to_2004-10-11.log.gz',
  'dvwa_scanners/acunetix.txt.gz',
  'dvwa_scanners/netsparker.txt.gz',
  'dvwa_scanners/w3af.txt.gz',
  'hackers-access.log',
  'secrepo/access-2018-12-15.log',
  'secrepo/2021-10-22_to_2021-10-27.log.gz',
  'secrepo/access.log.2022-12-22',
  'lpdaac_logs_for_opendap.txt.gz',
  'csic2010/normalTrafficTraining.txt.gz',
  'csic2010/anomalousTrafficTest.txt.gz',
].map((f) => `data/${f}`);

/** The traffic generator and the reference scorer (test/helpers/apitraffic.ts and the tests that call them directly). */
export const SHARED_TOOLS = ['tools/apitraffic/apitraffic.py', 'tools/apitraffic/score.py'];

const HINT = `shared/ is ${SHARED_DIR}: put the shared folder beside the repo, or point CORDON_SHARED_DIR at it`;
/** The files of `files` not in shared/ (shared/ itself, when the whole folder is missing). */
function absent(files: readonly string[]): string[] {
  if (!existsSync(SHARED_DIR)) return [`the folder ${SHARED_DIR}`];
  return files.filter((f) => !existsSync(sharedPath(f))).map((f) => `shared/${f}`);
}

/** The real logs under shared/data. */
export const sharedData: Requirement = requirement('shared data', absent(SHARED_DATA_FILES), HINT);

/** apitraffic.py and score.py, and python3 to run them. */
export const sharedTools: Requirement = requirement(
  'shared tools',
  [...absent(SHARED_TOOLS), ...(onPath('python3') ? [] : ['python3 on PATH'])],
  HINT,
);

/** `describe` for tests that read the real logs of shared/data. */
export const describeSharedData = (name: string, fn: () => void): void => sharedData.describe(name, fn);

/** `describe` for tests that run apitraffic.py or score.py. */
export const describeSharedTools = (name: string, fn: () => void): void => sharedTools.describe(name, fn);
