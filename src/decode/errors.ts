/** An input file that cannot be opened at all (missing, a directory, no permission): the operator's mistake, thrown before reading. */
export class LogFileError extends Error {
  override readonly name = 'LogFileError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot read access log ${path}`, options);
  }
}
