import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { CordonConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import type { AccessEvent } from '../../src/events.ts';
import { LocalRunner } from '../../src/engine/local-runner.ts';
import { principalKey, type SimEvent } from '../../src/simulate/builder.ts';
import type { AlertBatch } from '../../src/ports.ts';

/**
 * Shared plumbing of the robustness tests (test/robustness/): simulated events as AccessEvents, a local
 * runner (the deployed stages over in-process twins, as `cordon replay` runs them) into a temp folder, JSONL readers, heap measurement and a one-line figures log.
 */

/** A simulated request as the decoders would hand it to the engine (same field rules as `buildEvent`). */
export function toAccessEvent(e: SimEvent): AccessEvent {
  return {
    time: e.t,
    ip: e.ip,
    method: e.method,
    path: e.path,
    resource: e.resource,
    status: e.status,
    bytes: e.len,
    latencyMs: e.lat,
    userAgent: e.ua,
    principal: e.id ? (principalKey(e.id) ?? '') : '',
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `cordon-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

export interface PipelineRun {
  decisions: Decision[];
  alerts: AlertBatch[];
  pipeline: LocalRunner;
}

/**
 * Pushes `events` through a fresh LocalRunner writing into `outDir` (state in `statePath`, default OUT/state.sqlite),
 * the way `cordon replay` drives it: push, a stage pass whenever a batch is ready, finish at the end. Decisions are
 * published by contain (after a detect pass that decided something, once a minute of log time, and at the end).
 */
export async function runLocal(
  events: Iterable<AccessEvent>,
  config: CordonConfig,
  outDir: string,
  statePath = join(outDir, 'state.sqlite'),
  onDecision?: (d: Decision) => void,
): Promise<PipelineRun> {
  const state = new SqliteState(statePath);
  try {
    const pipeline = new LocalRunner(config, { outDir, state, onDecision });
    await pushAll(pipeline, events);
    await pipeline.finish();
    return {
      decisions: readJsonl<Decision>(join(outDir, 'decisions.jsonl')),
      alerts: readJsonl<AlertBatch>(join(outDir, 'alerts.jsonl')),
      pipeline,
    };
  } finally {
    state.close();
  }
}

/** Pushes events into a runner, running a stage pass each time a batch is ready (the caller finishes it). */
export async function pushAll(runner: LocalRunner, events: Iterable<AccessEvent>): Promise<void> {
  for (const e of events) {
    runner.push(e);
    if (runner.ready) {
      await runner.drain();
      await turnEventLoop();
    }
  }
}

let lastTurn = performance.now();
/**
 * A turn of the event loop if the last was more than `everyMs` ago. The local runner's passes resolve without one
 * (the twins are in memory, SQLite is synchronous), so a long run holds the loop: past 60 s (a long run on a busy
 * machine, with another test file on the other core) vitest's worker RPC times out ("Timeout calling
 * onTaskUpdate") and the run fails. The runner keeps no timers, so a turn changes nothing of what it decides.
 */
export async function turnEventLoop(everyMs = 1_000): Promise<void> {
  if (performance.now() - lastTurn < everyMs) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  lastTurn = performance.now();
}

/**
 * What a LocalRunner holds between passes, for the memory-bound checks ({@link LocalRunner.held}): the key states of
 * its CachedBaselines, the parts of the open windows in the detect stage's MemoryPartStore, and the records its
 * summaries twin retains.
 */
export interface RunnerHeld {
  /** Key states in memory (CachedBaselines.size). */
  keyStates: number;
  /** Windows with stored parts, over every scope. */
  openWindows: number;
  /** Distinct keys (IP, prefix, principal) of those windows, per window and scope, summed. */
  openKeys: number;
  /** Summary records the in-process summaries stream still holds. */
  summaryRecords: number;
}

export function runnerHeld(runner: LocalRunner): RunnerHeld {
  return runner.held();
}

let gcFn: (() => void) | null | undefined;

/** A full garbage collection when one can be had (exposing gc at run time works under vitest's forks pool). */
export function forceGc(): boolean {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      try {
        setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  if (!gcFn) return false;
  gcFn();
  return true;
}

/** heapUsed after a GC (when available), in MiB. */
export function heapMiB(): number {
  forceGc();
  return process.memoryUsage().heapUsed / (1 << 20);
}

export function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** The one-line summary every robustness test prints: what was fuzzed, injected and checked. */
export function figures(test: string, f: Record<string, string | number | boolean>): void {
  const parts = Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : v}`);
  console.log(`[robustness] ${test}: ${parts.join(' ')} peakRss=${mib(process.resourceUsage().maxRSS * 1024)}`);
}

export { mulberry32 } from './rng.ts';

/** A plain request; tests override what they are about. */
export function request(time: number, ip: string, over: Partial<AccessEvent> = {}): AccessEvent {
  return { time, ip, method: 'GET', path: '/items/1', resource: '/items/{id}', status: 200, bytes: 900, latencyMs: 25,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0', principal: '', ...over };
}

/** `perMin` requests a minute from `ip`, evenly spread over [from, to). */
export function steady(ip: string, from: number, to: number, perMin: number, over: Partial<AccessEvent> = {}): AccessEvent[] {
  const out: AccessEvent[] = [];
  const step = 60_000 / perMin;
  for (let t = from; t < to; t += step) out.push(request(Math.floor(t), ip, over));
  return out;
}

/** Merges event lists into time order (stable). */
export function byTime(...lists: AccessEvent[][]): AccessEvent[] {
  return lists.flat().sort((a, b) => a.time - b.time);
}
