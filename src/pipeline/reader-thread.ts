import { parentPort, workerData } from 'node:worker_threads';
import type { CordonConfig } from '../config.ts';
import { readAccessLogs } from '../decode/read-access-logs.ts';
import { type PassRecords, ReplayFront } from '../engine/replay-front.ts';
import { CountingMetrics } from '../engine/observe.ts';

/** What the replay's main thread hands the reading thread. */
export interface ReaderThreadData {
  files: string[];
  config: CordonConfig;
  shards: number;
  buckets: number;
  maxSamples: number;
  /** Passes sent and not yet taken by the main thread, at most: bounds the memory of a reader that runs ahead. */
  maxInFlight: number;
  /** Bytes of summary records sent and not yet taken, at most (a pass goes out whatever its size when none are). */
  maxInFlightBytes: number;
}

/** Messages from the reading thread, in the order it sends them. */
export type ReaderMessage =
  | { type: 'pass'; pass: PassRecords }
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; read: Awaited<ReturnType<typeof readAccessLogs>>; end: { now: number; clamped: number }; metrics: [string, number][] }
  | { type: 'error'; name: string; message: string; path?: string; stack?: string; cause?: { name: string; message: string; code?: string } };

/**
 * The reading thread of a replay on two threads: file read, decode, the log clock and ingest (the front), whose
 * summary records go to the main thread, which runs detect and contain on them. See src/pipeline/threaded-read.ts.
 */
const port = parentPort!;
const data = workerData as ReaderThreadData;
/** Bytes of each pass sent and not yet taken, oldest first (the main thread takes them in order). */
const inFlight: number[] = [];
let inFlightBytes = 0;
let wake: (() => void) | null = null;
port.on('message', (m: { type: 'taken' }) => {
  if (m.type !== 'taken') return;
  inFlightBytes -= inFlight.shift() ?? 0;
  wake?.();
  wake = null;
});
const post = (m: ReaderMessage): void => port.postMessage(m);

/** Ingest's counters on this thread, handed to the main thread's at the end. */
const metrics = new CountingMetrics();
const front = new ReplayFront(data.config, { shards: data.shards, buckets: data.buckets, metrics,
  onPass: async (pass) => {
    const bytes = pass.records.reduce((n, r) => n + r.data.byteLength, 0);
    post({ type: 'pass', pass });
    inFlight.push(bytes);
    inFlightBytes += bytes;
    while (inFlight.length > data.maxInFlight || (inFlight.length > 1 && inFlightBytes > data.maxInFlightBytes)) {
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } });
/** Runs the read; its failures go to the main thread as a message (see threaded-read.ts). */
async function run(): Promise<void> {
  try {
    const read = await readAccessLogs(data.files, { event: (e) => front.push(e), unreadable: () => {} },
      { maxSamples: data.maxSamples, onProgress: (done, total) => post({ type: 'progress', done, total }), afterChunk: () => front.drain() });
    const end = await front.finish();
    post({ type: 'done', read, end, metrics: [...metrics.totals] });
  } catch (err) {
    const e = err as Error & { path?: string };
    // The cause (a file system error, mostly) as plain data: an Error does not cross threads with its fields.
    const c = e.cause as (Error & { code?: string }) | undefined;
    const cause = c === undefined ? undefined : { name: c.name ?? 'Error', message: c.message ?? String(c), code: c.code };
    post({ type: 'error', name: e.name ?? 'Error', message: e.message ?? String(err), path: e.path, stack: e.stack, cause });
  }
  // Nothing more to wait for: the thread ends once its messages are out.
  port.unref();
}

void run();
