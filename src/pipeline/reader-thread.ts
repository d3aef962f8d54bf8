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
}

/** Messages from the reading thread, in the order it sends them. */
export type ReaderMessage =
  | { type: 'pass'; pass: PassRecords }
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; read: Awaited<ReturnType<typeof readAccessLogs>>; end: { now: number; clamped: number } }
  | { type: 'error'; name: string; message: string; path?: string; stack?: string };

/**
 * The reading thread of a replay on two threads: file read, decode, the log clock and ingest (the front), whose
 * summary records go to the main thread, which runs detect and contain on them. See src/pipeline/threaded-read.ts.
 */
const port = parentPort!;
const data = workerData as ReaderThreadData;
let sent = 0;
let taken = 0;
let wake: (() => void) | null = null;
port.on('message', (m: { type: 'taken' }) => {
  if (m.type !== 'taken') return;
  taken++;
  wake?.();
  wake = null;
});
const post = (m: ReaderMessage): void => port.postMessage(m);

const front = new ReplayFront(data.config, { shards: data.shards, buckets: data.buckets, metrics: new CountingMetrics(),
  onPass: async (pass) => {
    post({ type: 'pass', pass });
    sent++;
    while (sent - taken > data.maxInFlight) await new Promise<void>((resolve) => (wake = resolve));
  } });
/** Not top-level await: the module is loaded as CommonJS (reader-thread-entry.cjs). */
async function run(): Promise<void> {
  try {
    const read = await readAccessLogs(data.files, { event: (e) => front.push(e), unreadable: () => {} },
      { maxSamples: data.maxSamples, onProgress: (done, total) => post({ type: 'progress', done, total }), afterChunk: () => front.drain() });
    const end = await front.finish();
    post({ type: 'done', read, end });
  } catch (err) {
    const e = err as Error & { path?: string };
    post({ type: 'error', name: e.name ?? 'Error', message: e.message ?? String(err), path: e.path, stack: e.stack });
  }
  // Nothing more to wait for: the thread ends once its messages are out.
  port.unref();
}

void run();
