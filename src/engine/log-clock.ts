import type { AccessEvent } from '../events.ts';

/** Events looked ahead at to tell a real jump in a log's time (a quiet night) from one absurd line. */
const LOOKAHEAD = 16;

/**
 * The clock of a replayed log, robust to absurd lines: in AWS an event's time is bounded by its CloudWatch Logs
 * timestamp; a file has none, so its own neighbourhood bounds it. An event more than `futureMs` ahead of both the
 * clock and the median of the events around it is clamped to that; one more than `pastMs` behind them likewise. A
 * real jump (the log resumes after a gap) is followed by its neighbours and moves the clock.
 *
 * Works on batches, so it can look ahead; the last few events of a batch are held until the next (or the end).
 */
export class LogClock {
  /** The newest accepted event time. */
  now = -Infinity;
  clamped = 0;
  private held: AccessEvent[] = [];

  constructor(private readonly futureMs: number, private readonly pastMs: number) {}

  /** Bounds the times of `batch` (in place) and returns the events ready to go on; keeps a short tail for context. */
  take(batch: AccessEvent[], final = false): AccessEvent[] {
    const events = this.held.length ? [...this.held, ...batch] : batch;
    const ready = final ? events.length : Math.max(0, events.length - LOOKAHEAD);
    const times = new Float64Array(LOOKAHEAD * 2 + 1);
    for (let i = 0; i < ready; i++) {
      const e = events[i];
      // Nearly every event is near the clock: only an outlier pays for the median.
      if (e.time <= this.now + this.futureMs && e.time >= this.now - this.pastMs) {
        if (e.time > this.now) this.now = e.time;
        continue;
      }
      const lo = Math.max(0, i - LOOKAHEAD);
      const hi = Math.min(events.length, i + LOOKAHEAD + 1);
      let n = 0;
      for (let j = lo; j < hi; j++) if (j !== i) times[n++] = events[j].time;
      const median = n ? medianOf(times, n) : e.time;
      const anchor = Number.isFinite(this.now) ? Math.max(this.now, median) : median;
      if (e.time > anchor + this.futureMs) {
        e.time = anchor;
        this.clamped++;
      } else if (e.time < Math.min(Number.isFinite(this.now) ? this.now : median, median) - this.pastMs) {
        e.time = Number.isFinite(this.now) ? this.now : median;
        this.clamped++;
      }
      if (e.time > this.now) this.now = e.time;
    }
    this.held = events.slice(ready);
    return ready === events.length ? events : events.slice(0, ready);
  }
}

function medianOf(xs: Float64Array, n: number): number {
  const a = Array.from(xs.subarray(0, n)).sort((x, y) => x - y);
  return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}
