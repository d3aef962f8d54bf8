/**
 * The simulated wall clock of `cordon rehearse`: a deterministic discrete-event scheduler.
 *
 * Events are (time, seq, action) in a binary heap; ties in time run in insertion order (seq). An action may be
 * async: the loop awaits it before the next event, so the clock never moves while an action runs, and a
 * simulated duration is modelled by scheduling the action's completion later (never by real time). Times are
 * epoch ms (fractions allowed) so the clock can be aligned with the log: a request logged at `t` happens at `t`.
 *
 * Daemon events (pollers, schedules) keep running while there is work but do not keep `run()` alive on their own:
 * without `until`, the run ends when only daemon events remain and every busy check says there is nothing left.
 */

export type Action = (now: number) => void | Promise<void>;

export interface TimerHandle {
  /** When the (next) occurrence runs. */
  readonly time: number;
  /** Cancels the event (and, for `every`, all later occurrences). Cancelling twice is harmless. */
  cancel(): void;
  readonly cancelled: boolean;
}

export interface ScheduleOptions {
  /** A daemon event does not keep `run()` (without `until`) alive. Default false (`every`: true). */
  daemon?: boolean;
}

export interface EveryOptions extends ScheduleOptions {
  /** First occurrence (default: now + period). */
  start?: number;
  /** No occurrence after this time. */
  until?: number;
}

export interface RunOptions {
  /** Run every event due at or before this time, then leave the clock at `until`. */
  until?: number;
  /** Safety stop: at most this many events (default unlimited). */
  maxEvents?: number;
}

export interface RunResult {
  /** Events run by this call. */
  events: number;
  /** The clock when the run ended. */
  now: number;
  /** Why it ended. */
  reason: 'until' | 'idle' | 'empty' | 'maxEvents';
}

/** A queued event; also the handle of a one-shot event (one allocation per event). */
class Entry implements TimerHandle {
  cancelled = false;
  /** Set for `every`: the timer the entry belongs to. */
  timer: PeriodicTimer | undefined = undefined;
  constructor(
    readonly time: number,
    readonly seq: number,
    readonly action: Action,
    readonly daemon: boolean,
    private readonly owner: Scheduler,
  ) {}
  cancel(): void {
    this.owner.cancelEntry(this);
  }
}

class PeriodicTimer implements TimerHandle {
  current: Entry | undefined;
  stopped = false;
  constructor(
    readonly period: number,
    readonly until: number,
    readonly action: Action,
    readonly daemon: boolean,
    private readonly owner: Scheduler,
  ) {}
  get time(): number {
    return this.current ? this.current.time : Number.NaN;
  }
  get cancelled(): boolean {
    return this.stopped;
  }
  cancel(): void {
    this.stopped = true;
    if (this.current) this.owner.cancelEntry(this.current);
    this.current = undefined;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

export class Scheduler {
  /** The heap, struct-of-arrays: times and sequence numbers in typed arrays (cache-friendly comparisons). */
  private heap: Entry[] = [];
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private size = 0;
  private clock: number;
  private seq = 0;
  /** Queued, not cancelled, non-daemon entries. */
  private liveWork = 0;
  private running = false;
  private readonly busyChecks: (() => boolean)[] = [];
  /** Events run since construction. */
  eventsRun = 0;

  constructor(startTime = 0) {
    this.clock = startTime;
  }

  now(): number {
    return this.clock;
  }

  /** Queued events, counting cancelled ones not yet dropped from the heap. */
  get pending(): number {
    return this.heap.length;
  }

  /** Runs `action` at `time` (a time in the past runs at the current time, after what is already due then). */
  at(time: number, action: Action, opts: ScheduleOptions = {}): TimerHandle {
    if (Number.isNaN(time)) throw new RangeError('scheduler: time is NaN');
    return this.push(Math.max(time, this.clock), action, opts.daemon ?? false);
  }

  after(delayMs: number, action: Action, opts: ScheduleOptions = {}): TimerHandle {
    return this.at(this.clock + Math.max(0, delayMs), action, opts);
  }

  /**
   * Runs `action` every `periodMs` from `start` (default now + period), on a fixed grid (no drift however long an
   * action takes). A daemon by default.
   */
  every(periodMs: number, action: Action, opts: EveryOptions = {}): TimerHandle {
    if (!(periodMs > 0)) throw new RangeError('scheduler: every() needs a positive period');
    const timer = new PeriodicTimer(periodMs, opts.until ?? Infinity, action, opts.daemon ?? true, this);
    const start = opts.start ?? this.clock + periodMs;
    if (start <= timer.until) timer.current = this.pushPeriodic(timer, Math.max(start, this.clock));
    else timer.stopped = true;
    return timer;
  }

  /** `check()` true means "work is still under way" (e.g. records in a stream nobody read yet): see the class doc. */
  addBusyCheck(check: () => boolean): void {
    this.busyChecks.push(check);
  }

  async run(opts: RunOptions = {}): Promise<RunResult> {
    if (this.running) throw new Error('scheduler: run() is already running');
    this.running = true;
    const until = opts.until ?? Infinity;
    const maxEvents = opts.maxEvents ?? Infinity;
    let events = 0;
    let reason: RunResult['reason'] = 'empty';
    try {
      for (;;) {
        const top = this.size > 0 ? this.heap[0] : undefined;
        if (top === undefined) {
          reason = until === Infinity ? 'empty' : 'until';
          break;
        }
        if (top.cancelled) {
          this.pop();
          continue;
        }
        if (top.time > until) {
          reason = 'until';
          break;
        }
        if (until === Infinity && this.liveWork === 0 && !this.anyBusy()) {
          reason = 'idle';
          break;
        }
        if (events >= maxEvents) {
          reason = 'maxEvents';
          break;
        }
        this.pop();
        if (!top.daemon) this.liveWork--;
        top.cancelled = true; // spent: a late cancel() is a no-op
        this.clock = top.time;
        const timer = top.timer;
        if (timer) {
          timer.current = undefined;
          const next = top.time + timer.period;
          if (!timer.stopped && next <= timer.until) timer.current = this.pushPeriodic(timer, next);
        }
        events++;
        this.eventsRun++;
        const out = top.action(top.time);
        if (isThenable(out)) await out;
      }
      if (until !== Infinity && reason === 'until' && this.clock < until) this.clock = until;
      return { events, now: this.clock, reason };
    } finally {
      this.running = false;
    }
  }

  /** @internal */
  cancelEntry(entry: Entry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    if (!entry.daemon) this.liveWork--;
  }

  private anyBusy(): boolean {
    for (const check of this.busyChecks) if (check()) return true;
    return false;
  }

  private pushPeriodic(timer: PeriodicTimer, time: number): Entry {
    const entry = this.push(time, timer.action, timer.daemon);
    entry.timer = timer;
    return entry;
  }

  private push(time: number, action: Action, daemon: boolean): Entry {
    const entry = new Entry(time, this.seq++, action, daemon, this);
    if (!daemon) this.liveWork++;
    let i = this.size++;
    if (i === this.times.length) this.grow();
    const times = this.times;
    const seqs = this.seqs;
    const entries = this.heap;
    const seq = entry.seq;
    // sift up
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent];
      if (pt < time || (pt === time && seqs[parent] < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent];
      entries[i] = entries[parent];
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    entries[i] = entry;
    return entry;
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const times = new Float64Array(cap);
    times.set(this.times);
    const seqs = new Float64Array(cap);
    seqs.set(this.seqs);
    this.times = times;
    this.seqs = seqs;
  }

  private pop(): void {
    const n = --this.size;
    const entries = this.heap;
    if (n === 0) {
      entries.pop();
      return;
    }
    const times = this.times;
    const seqs = this.seqs;
    const lastTime = times[n];
    const lastSeq = seqs[n];
    const last = entries[n];
    entries.pop();
    // sift down
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (times[r] < times[l] || (times[r] === times[l] && seqs[r] < seqs[l]))) c = r;
      const ct = times[c];
      if (lastTime < ct || (lastTime === ct && lastSeq < seqs[c])) break;
      times[i] = ct;
      seqs[i] = seqs[c];
      entries[i] = entries[c];
      i = c;
    }
    times[i] = lastTime;
    seqs[i] = lastSeq;
    entries[i] = last;
  }
}
