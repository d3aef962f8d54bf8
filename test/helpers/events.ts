import type { AccessEvent } from '../../src/events.ts';

/** A well-formed event with sensible defaults; tests override what they are about. */
export function ev(over: Partial<AccessEvent> = {}): AccessEvent {
  return { time: 1_793_577_600_000, ip: '198.51.100.7', method: 'GET', path: '/items/1', resource: '/items/{id}', status: 200,
    bytes: 900, latencyMs: 30, userAgent: 'Mozilla/5.0', principal: '', ...over };
}

export const T0 = 1_793_577_600_000;
export const MIN = 60_000;

/** `n` events spread evenly over one minute starting at `start`. */
export function spread(n: number, start: number, make: (i: number) => Partial<AccessEvent>): AccessEvent[] {
  return Array.from({ length: n }, (_, i) => ev({ time: start + Math.floor((i * MIN) / Math.max(n, 1)), ...make(i) }));
}
