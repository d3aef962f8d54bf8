import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { vi } from 'vitest';
import { main } from '../../src/cli/main.ts';

export const BIN = resolve('bin/cordon');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `bin/cordon …` as a process of its own, in `cwd`: exit code, stdout and stderr. Asynchronous: while it runs, the
 * test's event loop stays free (a synchronous spawn of a minute on a busy machine times out vitest's worker RPC).
 */
export function cordonProcess(cwd: string, ...args: string[]): Promise<CliResult> {
  return run(process.execPath, [BIN, ...args], cwd);
}

/** A command's exit code, stdout and stderr (killed after two minutes, as a hung command would be). */
export function run(command: string, args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The same command run in this process (what bin/cordon runs, without a process start per case, ~1.5 s of CPU
 * each): exit code and what it wrote to stdout and stderr. Not for what exits the process itself (Commander's own
 * refusals and help of a subcommand): those run as bin/cordon does.
 */
export async function cordonHere(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((x) => { stdout += String(x); return true; });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((x) => { stderr += String(x); return true; });
  try {
    return { code: await main([process.execPath, 'cordon', ...args]), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
