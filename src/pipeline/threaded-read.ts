import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CordonConfig } from '../config.ts';
import { LogFileError } from '../decode/errors.ts';
import type { ReadStats } from '../decode/types.ts';
import type { LocalRunner } from '../engine/local-runner.ts';
import type { ReaderMessage, ReaderThreadData } from './reader-thread.ts';

/**
 * Below this much input, a second thread's start (its modules, and its code warming up apart from the main thread's)
 * costs more than it saves: at 32 MB of recommended JSON one thread and two tie (0.88 s as a whole process); at 64 MB
 * two take 1.17 s against 1.29 s.
 */
export const THREADED_MIN_BYTES = 32 * 1024 * 1024;
/**
 * How far the reading thread may run ahead of detect: passes, and the bytes of their summary records. The two threads'
 * work per pass varies (detect closes a window every other pass; an attack's minutes cost more), so a short queue left
 * each waiting on the other about a tenth of the run: 64 passes took a tenth off the wall time of 12 hours of traffic
 * (4 passes: 4.3 to 5.2 s; 64: 3.9 to 4.5 s), 256 no more. The bytes bound the memory when passes are large.
 */
const MAX_IN_FLIGHT = 64;
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;

/** How many threads a replay of `totalBytes` uses when not told: two on a machine with two cores or more, for big input. */
export function defaultThreads(totalBytes: number): 1 | 2 {
  return availableParallelism() >= 2 && totalBytes >= THREADED_MIN_BYTES ? 2 : 1;
}

export interface ThreadedReadOptions {
  files: string[];
  config: CordonConfig;
  maxSamples: number;
  onProgress?(done: number, total: number): void;
}

/**
 * A replay on two threads, split where the stages meet in AWS: a reading thread runs the front (read, decode, log
 * clock, ingest) and sends each pass's summary records here, where `runner` runs detect and contain on them, in the
 * order they were made. The front depends only on its input, so the passes (and every decision) are those of a run
 * on one thread. Resolves with the read's figures once the runner has taken the last pass and finished.
 */
export function readOnThread(runner: LocalRunner, opts: ThreadedReadOptions): Promise<ReadStats> {
  const data: ReaderThreadData = { files: opts.files, config: opts.config, ...runner.frontShape, maxSamples: opts.maxSamples,
    maxInFlight: MAX_IN_FLIGHT, maxInFlightBytes: MAX_IN_FLIGHT_BYTES };
  const worker = new Worker(new URL('./reader-thread-entry.mjs', import.meta.url), { workerData: data });
  return new Promise<ReadStats>((resolve, reject) => {
    let settled = false;
    let queue = Promise.resolve();
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      reject(err);
    };
    const take = async (m: ReaderMessage): Promise<void> => {
      if (settled) return;
      switch (m.type) {
        case 'pass':
          for (const r of m.pass.records) r.data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
          await runner.acceptPass(m.pass);
          worker.postMessage({ type: 'taken' });
          return;
        case 'progress':
          opts.onProgress?.(m.done, m.total);
          return;
        case 'done':
          runner.metrics.addTotals(m.metrics);
          await runner.finishAfter(m.end);
          settled = true;
          resolve(m.read);
          return;
        case 'error':
          fail(readerError(m));
      }
    };
    // One message at a time, in order: a pass is taken only after the one before it.
    worker.on('message', (m: ReaderMessage) => {
      queue = queue.then(() => take(m)).catch(fail);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      // A clean exit comes after 'done' was queued: wait for the queue before calling it a loss.
      void queue.then(() => fail(new Error(`replay: the reading thread stopped before the end of the input (exit code ${code})`)));
    });
  });
}

function readerError(m: Extract<ReaderMessage, { type: 'error' }>): Error {
  let cause: (Error & { code?: string }) | undefined;
  if (m.cause) {
    cause = Object.assign(new Error(m.cause.message), { name: m.cause.name }, m.cause.code === undefined ? {} : { code: m.cause.code });
  }
  const options = cause === undefined ? undefined : { cause };
  const err = m.name === 'LogFileError' && m.path !== undefined ? new LogFileError(m.path, options) : new Error(m.message, options);
  if (m.stack) err.stack = m.stack;
  return err;
}
