import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TrafficBuilder, type SimEvent } from './builder.ts';
import { DEFAULT_START_MS } from './catalog.ts';
import { FORMATS, formatEvents, type TrafficFormat } from './formats.ts';
import type { Labels, Scenario } from './labels.ts';
import { Rng } from './rng.ts';
import { SCENARIOS, type ScenarioParams, resolveScenarioParams } from './scenarios.ts';

export interface TrafficOptions {
  scenario: Scenario;
  /**
   * The attack parameters of a parameterised scenario (its `params`: rate, members), defaults for those not given;
   * a parameter the scenario does not take is refused (ScenarioParamError). Recorded in the labels' `params`.
   */
  params?: ScenarioParams;
  minutes: number;
  seed: number;
  format: TrafficFormat;
  /** Log events per Kinesis record (cwl-kinesis only); default 200. */
  perRecord?: number;
  /** Start of the traffic window, epoch ms; default 2026-11-02T00:00:00Z. */
  start?: number;
}

export interface GeneratedTraffic {
  /** The log lines in delivery order; iterating again yields the same lines. */
  lines: Iterable<string>;
  labels: Labels;
}

// CloudWatch delivers each log stream roughly in order: a little jitter, never minutes.
const DELIVERY_JITTER_MS = 1500;
// Output (request ids, log streams) draws from its own stream so the lines can be re-rendered identically.
const FORMAT_STREAM = 1;

function deliveryOrder(events: SimEvent[], rng: Rng): SimEvent[] {
  const keys = new Float64Array(events.length);
  for (let i = 0; i < events.length; i++) keys[i] = events[i].t + rng.uniform(0, DELIVERY_JITTER_MS);
  const order = Array.from({ length: events.length }, (_, i) => i);
  order.sort((a, b) => keys[a] - keys[b]);
  return order.map((i) => events[i]);
}

/** Simulates one scenario: the ordered events and their labels. */
export function simulateEvents(opts: Omit<TrafficOptions, 'format' | 'perRecord'>): { events: SimEvent[]; labels: Labels } {
  const spec = Object.hasOwn(SCENARIOS, opts.scenario) ? SCENARIOS[opts.scenario] : undefined;
  if (!spec) throw new Error(`unknown scenario ${opts.scenario}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  if (!(opts.minutes > 0)) throw new Error(`minutes must be positive, got ${opts.minutes}`);
  resolveScenarioParams(opts.scenario, opts.params); // refuses what the scenario does not take before any work
  const b = new TrafficBuilder(opts.seed, opts.minutes, opts.start ?? DEFAULT_START_MS);
  b.labels.scenario = opts.scenario;
  spec.build(b, opts.minutes, opts.params);
  const events = deliveryOrder(b.events, b.rng);
  b.labels.requests = events.length;
  return { events, labels: b.labels };
}

/** Labelled access-log traffic for a scenario, deterministic for a seed (same seed, same lines). */
export function generateTraffic(opts: TrafficOptions): GeneratedTraffic {
  if (!FORMATS.includes(opts.format)) throw new Error(`unknown format ${opts.format}; known: ${FORMATS.join(', ')}`);
  if (opts.perRecord !== undefined && !(Number.isInteger(opts.perRecord) && opts.perRecord >= 1)) {
    throw new Error(`perRecord must be a positive integer, got ${opts.perRecord}`);
  }
  const { events, labels } = simulateEvents(opts);
  const lines: Iterable<string> = {
    [Symbol.iterator]: () => formatEvents(events, opts.format, new Rng(opts.seed, FORMAT_STREAM), opts.perRecord),
  };
  return { lines, labels };
}

/** Joins lines into ~1 MiB chunks: one write per chunk instead of one per line. */
function* chunks(lines: Iterable<string>): Generator<string> {
  let batch: string[] = [];
  let batchChars = 0;
  for (const line of lines) {
    batch.push(line);
    batchChars += line.length + 1;
    if (batchChars >= 1 << 20) {
      yield batch.join('\n') + '\n';
      batch = [];
      batchChars = 0;
    }
  }
  if (batch.length > 0) yield batch.join('\n') + '\n';
}

/** Writes the traffic to `path` and its labels to `<path>.labels.json` (or `labelsPath`). */
export async function writeTraffic(path: string, opts: TrafficOptions & { labelsPath?: string }):
Promise<{ requests: number; attackers: number; labelsPath: string }> {
  const { lines, labels } = generateTraffic(opts);
  await pipeline(Readable.from(chunks(lines)), createWriteStream(path));
  const labelsPath = opts.labelsPath ?? `${path}.labels.json`;
  await writeFile(labelsPath, JSON.stringify(labels, null, 1) + '\n');
  return { requests: labels.requests ?? 0, attackers: labels.attackers.length, labelsPath };
}
