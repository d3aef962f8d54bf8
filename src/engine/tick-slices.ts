import { hash32 } from '../features/hash.ts';

/**
 * Detect's clock tick on many summaries shards: the construct schedules several ticks a minute at once, each over its
 * slice of the shards (DetectStage.tick), so a silence on every shard is decided within a minute or two however many
 * there are. Here: how many slices, which slice a shard is in, and the slice a scheduled event asks for.
 */

/** One of `of` ticks that run at once, each over its share of the scopes. */
export interface TickSlice {
  slice: number;
  of: number;
}

/**
 * The tick slice a scope belongs to: a Kinesis shard id's number modulo `of` (shards are numbered in order, so every
 * slice gets as many), else a hash of the name.
 */
export function tickSliceOf(scope: string, of: number): number {
  // The trailing digits, read from the end (a regex anchored at the end retries from every start: quadratic).
  let from = scope.length;
  while (from > 0 && scope.charCodeAt(from - 1) >= 48 && scope.charCodeAt(from - 1) <= 57) from--;
  return (from < scope.length ? Number(scope.slice(Math.max(from, scope.length - 9))) : hash32(scope)) % of;
}

/** Summaries shards a tick slice is sized for: four month-old shards' turns (about 19 s each) fit in one tick. */
const SHARDS_PER_TICK = 4;
/** Slices at most: five EventBridge rules of five targets. */
const MAX_TICK_SLICES = 25;
/** Slices for an on-demand summaries stream, whose shard count is not known at deploy time. */
const ON_DEMAND_TICK_SLICES = 16;

/** How many ticks the construct runs at once for a summaries stream of `shards` shards (1 up to four shards). */
export function tickSlicesFor(shards: number | 'on-demand'): number {
  if (shards === 'on-demand') return ON_DEMAND_TICK_SLICES;
  return Math.min(MAX_TICK_SLICES, Math.max(1, Math.ceil(shards / SHARDS_PER_TICK)));
}

/** EventBridge takes five targets a rule. */
export const TARGETS_PER_RULE = 5;

/**
 * The schedule the construct deploys for `slices` ticks: its rules in order (`DetectSchedule`, `DetectSchedule2`, …),
 * each with the slices its targets carry. One slice: one rule whose target carries none (every shard).
 */
export function tickRules(slices: number): { name: string; slices: (TickSlice | undefined)[] }[] {
  const rules: { name: string; slices: (TickSlice | undefined)[] }[] = [];
  for (let first = 0; first < slices; first += TARGETS_PER_RULE) {
    rules.push({
      name: first === 0 ? 'DetectSchedule' : `DetectSchedule${first / TARGETS_PER_RULE + 1}`,
      slices: Array.from({ length: Math.min(TARGETS_PER_RULE, slices - first) }, (_, i) => (slices > 1 ? { slice: first + i, of: slices } : undefined)),
    });
  }
  return rules;
}

/** A tick slice as the schedule's target input carries it (`{ "tick": { "slice": i, "of": n } }`), or null if malformed. */
export function parseTickSlice(input: unknown): TickSlice | null {
  if (typeof input !== 'object' || input === null) return null;
  const { slice, of } = input as { slice?: unknown; of?: unknown };
  if (!Number.isInteger(of) || !Number.isInteger(slice)) return null;
  return (of as number) >= 1 && (of as number) <= MAX_TICK_SLICES && (slice as number) >= 0 && (slice as number) < (of as number)
    ? { slice: slice as number, of: of as number } : null;
}

/**
 * The slice a scheduled event asks for: none (every shard) for a plain scheduled event, as with four shards or fewer;
 * none either, and `unreadable`, for a `tick` input that cannot be read (more work for one tick, never a shard left out).
 */
export function tickSliceOfEvent(event: unknown): { slice?: TickSlice; unreadable: boolean } {
  const given = typeof event === 'object' && event !== null ? (event as { tick?: unknown }).tick : undefined;
  if (given === undefined) return { unreadable: false };
  const slice = parseTickSlice(given);
  return slice ? { slice, unreadable: false } : { unreadable: true };
}
