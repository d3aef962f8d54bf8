/**
 * Timing helpers. Each figure is the best of N runs: on a shared machine noise only ever adds time. Both wall
 * time and the process's CPU time (user + system, all threads) are kept: on a busy machine the wall clock also
 * counts the time other processes held the core, so the CPU figure is the steadier measure of the work itself.
 */

export interface Timed<T> {
  /** Wall time of the run with the least CPU time. */
  ms: number;
  cpuMs: number;
  result: T;
}

export function bestOf<T>(runs: number, fn: () => T): Timed<T> {
  let best: Timed<T> | null = null;
  for (let i = 0; i < runs; i++) {
    collectGarbage();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = fn();
    const t = { ms: performance.now() - t0, cpuMs: cpuSince(cpu0), result };
    if (best === null || t.cpuMs < best.cpuMs) best = t;
  }
  return best!;
}

export async function bestOfAsync<T>(runs: number, fn: () => Promise<T>): Promise<Timed<T>> {
  let best: Timed<T> | null = null;
  for (let i = 0; i < runs; i++) {
    collectGarbage();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await fn();
    const t = { ms: performance.now() - t0, cpuMs: cpuSince(cpu0), result };
    if (best === null || t.cpuMs < best.cpuMs) best = t;
  }
  return best!;
}

export function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** Starts each run from a clean heap when the process allows it (--expose-gc), so runs pay only their own garbage. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export const perSecond = (count: number, ms: number): number => Math.round((count * 1000) / ms);
