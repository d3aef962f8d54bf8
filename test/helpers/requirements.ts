import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it, type TestFunction } from 'vitest';

/**
 * What some tests need from the machine (a tool on PATH, an emulator, data beside the repo) and what happens when it
 * is missing: locally the tests that need it are skipped, visibly (the skip reason is in the test's name and a
 * warning is printed); in CI they fail, with a message naming what is missing and how to get it. Nothing returns
 * out of a test as a pass.
 */

/** CI is any non-empty `CI` other than `false`/`0` (GitHub Actions and most runners set `true`, some `1`). */
export function isCI(value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0';
}

export const inCI = isCI(process.env.CI);

/** Whether `cmd` is an executable file in a directory of PATH. */
export function onPath(cmd: string, path: string | undefined = process.env.PATH): boolean {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

export interface Requirement {
  /** Everything is present. */
  readonly ok: boolean;
  /** What is missing (empty when ok). */
  readonly missing: readonly string[];
  /** Why the tests that need it cannot run: what is missing and how to get it (empty when ok). */
  readonly reason: string;
  /** `describe` for a suite that needs this: runs it when present; else skips it (locally) or fails it (CI). */
  describe(name: string, fn: () => void): void;
  /** `it` for one test that needs this, with the same rule. */
  it(name: string, fn: TestFunction, timeout?: number): void;
}

/**
 * A requirement named `what`, missing `missing` (nothing missing: met). `hint` says how to get it. Locally a missing
 * requirement warns once, here; in CI (see {@link isCI}) the suites and tests that need it fail with the reason.
 */
export function requirement(what: string, missing: readonly string[], hint: string, ci: boolean = inCI): Requirement {
  const ok = missing.length === 0;
  const reason = ok ? '' : `${what}: missing ${missing.join(', ')} (${hint})`;
  // The name of a skipped test names the first few; the warning and the CI failure name every one.
  const short = missing.length > 3 ? [...missing.slice(0, 3), `${missing.length - 3} more`] : missing;
  const label = `skipped, ${what}: missing ${short.join(', ')}`;
  if (!ok && !ci) console.warn(`[cordon tests] ${reason}; the tests that need it are skipped`);
  const failure = () => {
    throw new Error(`CI must have ${reason}`);
  };
  return {
    ok,
    missing,
    reason,
    describe(name, fn) {
      if (ok) describe(name, fn);
      else if (ci) describe(name, () => it(`needs ${what}`, failure));
      else describe.skip(`${name} [${label}]`, fn);
    },
    it(name, fn, timeout) {
      if (ok) it(name, fn, timeout);
      else if (ci) it(name, failure);
      else it.skip(`${name} [${label}]`, fn);
    },
  };
}

/** A command that must be on PATH. */
export function tool(cmd: string, hint: string, ci: boolean = inCI): Requirement {
  return requirement(cmd, onPath(cmd) ? [] : [`${cmd} on PATH`], hint, ci);
}
