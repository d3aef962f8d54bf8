import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config.ts';
import { LogFileError } from '../decode/errors.ts';
import { StateFileError } from '../adapters/local/sqlite-state.ts';
import { blocksCommand } from './blocks.ts';
import { demoCommand } from './demo.ts';
import { explainCommand } from './explain.ts';
import { rehearseCommand } from './rehearse.ts';
import { replayCommand } from './replay.ts';
import { simulateCommand } from './simulate.ts';

export const DEFAULT_OUT = 'cordon-out';

export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** The `cordon` command. Returns the exit code; user errors are one clear line on stderr, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('cordon')
    .description('Learns what normal API traffic looks like and contains abusive clients: replay any access log locally.')
    .exitOverride()
    .showHelpAfterError('(cordon --help lists the commands)');
  program.addCommand(demoCommand());
  program.addCommand(replayCommand());
  program.addCommand(rehearseCommand());
  program.addCommand(simulateCommand());
  program.addCommand(blocksCommand());
  program.addCommand(explainCommand());
  program.addOption(new Option('--version').hideHelp());
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError || err instanceof LogFileError || err instanceof StateFileError || err instanceof UsageError) {
      process.stderr.write(`cordon: ${err.message}\n`);
      return 2;
    }
    // The operator's file mistakes (missing, unwritable, a folder) are one line, not a stack trace.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
      process.stderr.write(`cordon: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

export class UsageError extends Error {
  override name = 'UsageError';
}
