import type { CordonConfig } from '../config.ts';

/** Block duration with escalation: base × multiplier^(earlier blocks), capped. */
export function blockDurationMs(priorBlocks: number, expiry: CordonConfig['expiry']): number {
  const minutes = Math.min(expiry.baseMinutes * expiry.multiplier ** Math.max(0, priorBlocks), expiry.maxMinutes);
  return Math.round(minutes * 60_000);
}
