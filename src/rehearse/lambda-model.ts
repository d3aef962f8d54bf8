import type { Rng } from '../simulate/rng.ts';
import { DeliveryModel, LAMBDA_FACTS, SCHEDULE_FACTS } from './delivery-model.ts';
import { makeSampler, type Sampler } from './distributions.ts';
import type { Action, Scheduler, TimerHandle } from './scheduler.ts';

/**
 * A Lambda function as `rehearse` runs it: execution environments that are cold on first use, after an idle
 * reclaim or (rarely) at random, a reserved-concurrency limit, and a simulated duration made of the init (when
 * cold), the invoke overhead, the stage's own CPU time scaled to the function's memory, and whatever simulated
 * time the stage reports for its calls to AWS.
 */

export interface LambdaFunctionOptions {
  name: string;
  memoryMb: number;
  /** The function timeout (init not included). */
  timeoutMs: number;
  /** Reserved concurrency; undefined = as many environments as asked for. */
  reservedConcurrency?: number;
  /**
   * How the stage's CPU time is known: 'measured' (process CPU time around the handler, the default) or a fixed
   * figure per call (reproducible runs and tests).
   */
  cpuTime?: 'measured' | ((handlerNow: number) => number);
  /** This machine's single-core speed relative to one Lambda vCPU (default 1). */
  localSpeedup?: number;
}

export interface Invocation<R> {
  result?: R;
  error?: unknown;
  /** When the invocation was accepted (an environment claimed). */
  startedAt: number;
  /** When the handler body began (after init and overhead): the `now` it was given. */
  handlerAt: number;
  /** When the function returned (or timed out). */
  endsAt: number;
  cold: boolean;
  initMs: number;
  cpuMs: number;
  durationMs: number;
  timedOut: boolean;
}

export interface LambdaStats {
  invocations: number;
  coldStarts: number;
  errors: number;
  timeouts: number;
  /** Invocations refused for reserved concurrency (the caller tried again later). */
  throttles: number;
  /** Async events dropped after waiting longer than their maximum age. */
  droppedAsyncEvents: number;
  /** Most environments alive at once. */
  peakEnvironments: number;
}

interface Environment {
  busyUntil: number;
  lastEnd: number;
}

export class FunctionTimeoutError extends Error {
  constructor(name: string, timeoutMs: number) {
    super(`${name}: task timed out after ${timeoutMs / 1000} s`);
    this.name = 'FunctionTimeoutError';
  }
}

export class LambdaFunctionModel {
  readonly name: string;
  readonly stats: LambdaStats = {
    invocations: 0,
    coldStarts: 0,
    errors: 0,
    timeouts: 0,
    throttles: 0,
    droppedAsyncEvents: 0,
    peakEnvironments: 0,
  };
  private readonly envs: Environment[] = [];
  private readonly cpuScale: number;
  private readonly rng: Rng;
  private readonly coldStart: Sampler;
  private readonly overhead: Sampler;

  constructor(
    private readonly opts: LambdaFunctionOptions,
    model: DeliveryModel,
    private readonly scheduler: Scheduler,
  ) {
    this.name = opts.name;
    this.cpuScale = Math.max(1, LAMBDA_FACTS.memoryMbPerVcpu / opts.memoryMb) / (opts.localSpeedup ?? 1);
    this.rng = model.rng(`lambda:${opts.name}`);
    // Per-function streams, so one function's invocations never shift another's draws.
    this.coldStart = makeSampler('coldStart', model.spec('coldStart'), model.rng(`lambda:${opts.name}:coldStart`));
    this.overhead = makeSampler('invokeOverhead', model.spec('invokeOverhead'), model.rng(`lambda:${opts.name}:overhead`));
  }

  /** Whether an invocation can start at `now` within reserved concurrency. */
  canStart(now: number): boolean {
    const limit = this.opts.reservedConcurrency;
    if (limit === undefined) return true;
    let busy = 0;
    for (const e of this.envs) if (e.busyUntil > now) busy++;
    return busy < limit;
  }

  /** The earliest time at or after `now` at which an invocation can start. */
  nextFreeAt(now: number): number {
    if (this.canStart(now)) return now;
    let earliest = Infinity;
    for (const e of this.envs) if (e.busyUntil > now && e.busyUntil < earliest) earliest = e.busyUntil;
    return earliest;
  }

  /** Counts a refused invocation (the caller retries later). */
  throttled(): void {
    this.stats.throttles++;
  }

  /**
   * Runs `work` as one invocation accepted at `now` (check `canStart` first). `work` gets the simulated time its
   * handler body starts at; `simulatedMs` says how much simulated time the result reports for calls to AWS.
   */
  async invoke<R>(now: number, work: (handlerNow: number) => Promise<R>, simulatedMs?: (r: R) => number): Promise<Invocation<R>> {
    if (!this.canStart(now)) throw new Error(`${this.name}: no environment free at ${now} (reserved concurrency)`);
    const env = this.claim(now);
    const cold = env.cold;
    const initMs = cold ? this.coldStart.sample() : 0;
    const overheadMs = this.overhead.sample();
    const handlerAt = now + initMs + overheadMs;
    this.stats.invocations++;
    if (cold) this.stats.coldStarts++;

    let result: R | undefined;
    let error: unknown;
    let cpuMs: number;
    const cpuTime = this.opts.cpuTime ?? 'measured';
    const before = cpuTime === 'measured' ? process.cpuUsage() : undefined;
    try {
      result = await work(handlerAt);
    } catch (err) {
      error = err;
    }
    if (before) {
      const used = process.cpuUsage(before);
      cpuMs = (used.user + used.system) / 1000;
    } else {
      cpuMs = (cpuTime as (t: number) => number)(handlerAt);
    }
    const reported = result !== undefined && simulatedMs ? Math.max(0, simulatedMs(result)) : 0;
    let durationMs = overheadMs + cpuMs * this.cpuScale + reported;
    let timedOut = false;
    if (durationMs > this.opts.timeoutMs) {
      timedOut = true;
      durationMs = this.opts.timeoutMs;
      error = new FunctionTimeoutError(this.name, this.opts.timeoutMs);
      result = undefined;
      this.stats.timeouts++;
    }
    if (error !== undefined) this.stats.errors++;
    const endsAt = now + initMs + durationMs;
    env.env.busyUntil = endsAt;
    env.env.lastEnd = endsAt;
    return { result, error, startedAt: now, handlerAt, endsAt, cold, initMs, cpuMs, durationMs, timedOut };
  }

  /**
   * An asynchronous invocation (EventBridge → Lambda): queued while reserved concurrency is used up and dropped once
   * older than `maxEventAgeMs` (the function's async-invoke config). `onDone` runs at the invocation's end.
   */
  invokeAsync<R>(
    work: (handlerNow: number) => Promise<R>,
    opts: { maxEventAgeMs: number; simulatedMs?: (r: R) => number; onDone?: (inv: Invocation<R>) => void | Promise<void> },
  ): void {
    const enqueuedAt = this.scheduler.now();
    const attempt = async (now: number): Promise<void> => {
      if (!this.canStart(now)) {
        this.throttled();
        const next = this.nextFreeAt(now);
        if (next - enqueuedAt > opts.maxEventAgeMs) {
          this.stats.droppedAsyncEvents++;
          return;
        }
        this.scheduler.at(next, attempt);
        return;
      }
      const inv = await this.invoke(now, work, opts.simulatedMs);
      if (opts.onDone) {
        const done = opts.onDone;
        this.scheduler.at(inv.endsAt, () => done(inv));
      }
    };
    this.scheduler.at(enqueuedAt, attempt);
  }

  /** A free environment (warm if one is), or a new one. */
  private claim(now: number): { env: Environment; cold: boolean } {
    // Reclaim environments idle for too long.
    for (let i = this.envs.length - 1; i >= 0; i--) {
      const e = this.envs[i];
      if (e.busyUntil <= now && now - e.lastEnd > LAMBDA_FACTS.idleReclaimMs) this.envs.splice(i, 1);
    }
    let best: Environment | undefined;
    for (const e of this.envs) if (e.busyUntil <= now && (!best || e.lastEnd > best.lastEnd)) best = e;
    if (best) {
      // A warm environment may still have been recycled (AWS: cold starts in under 1 % of invocations).
      const recycled = this.rng.random() < LAMBDA_FACTS.recycleProbability;
      best.busyUntil = Infinity; // claimed until invoke() sets the real end
      return { env: best, cold: recycled };
    }
    const env: Environment = { busyUntil: Infinity, lastEnd: now };
    this.envs.push(env);
    this.stats.peakEnvironments = Math.max(this.stats.peakEnvironments, this.envs.length);
    return { env, cold: true };
  }
}

/**
 * Paces calls to an API with a write quota (WAF: one write per second per account and Region): `reserve(now)` gives
 * the time the next call may be made and books it.
 */
export class RateGate {
  private last = -Infinity;
  waits = 0;
  constructor(readonly intervalMs: number) {}
  reserve(now: number): number {
    const at = Math.max(now, this.last + this.intervalMs);
    if (at > now) this.waits++;
    this.last = at;
    return at;
  }
}

/**
 * An EventBridge `rate(period)` rule: fires every `periodMs` at a fixed offset within the period, drawn once per
 * rule (EventBridge runs a rule "within that minute, but not on the precise 0th second"), plus a small jitter per
 * firing. Daemon events: the schedule alone does not keep a rehearsal running.
 */
export function scheduledRule(
  scheduler: Scheduler,
  model: DeliveryModel,
  name: string,
  periodMs: number,
  action: Action,
  opts: { start?: number } = {},
): TimerHandle & { offsetMs: number } {
  const offset = makeSampler('scheduleOffset', SCHEDULE_FACTS.offsetWithinMinute, model.rng(`schedule:${name}:offset`)).sample();
  const offsetMs = (offset / 60_000) * periodMs;
  const jitter = makeSampler('scheduleJitter', model.spec('scheduleJitter'), model.rng(`schedule:${name}:jitter`));
  const start = (opts.start ?? scheduler.now()) + offsetMs;
  const timer = scheduler.every(periodMs, () => void scheduler.after(jitter.sample(), action, { daemon: true }), { start, daemon: true });
  return Object.assign(timer, { offsetMs });
}
