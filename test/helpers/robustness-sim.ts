import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { CordonConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import type { AccessEvent } from '../../src/events.ts';
import { LocalPipeline } from '../../src/pipeline/local-pipeline.ts';
import { principalKey, type SimEvent } from '../../src/simulate/builder.ts';
import type { AlertBatch } from '../../src/ports.ts';

/**
 * Shared plumbing of the robustness tests (test/robustness/): simulated events as AccessEvents, a local
 * pipeline run into a temp folder, JSONL readers, heap measurement and a one-line figures log.
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
  pipeline: LocalPipeline;
}

/** Pushes `events` through a fresh LocalPipeline writing into `outDir` (state in `statePath`, default OUT/state.sqlite). */
export function runLocal(
  events: Iterable<AccessEvent>,
  config: CordonConfig,
  outDir: string,
  statePath = join(outDir, 'state.sqlite'),
  onDecision?: (d: Decision) => void,
): PipelineRun {
  const state = new SqliteState(statePath);
  try {
    const pipeline = new LocalPipeline(config, { outDir, state, onDecision });
    for (const e of events) pipeline.push(e);
    pipeline.finish();
    return {
      decisions: readJsonl<Decision>(join(outDir, 'decisions.jsonl')),
      alerts: readJsonl<AlertBatch>(join(outDir, 'alerts.jsonl')),
      pipeline,
    };
  } finally {
    state.close();
  }
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
