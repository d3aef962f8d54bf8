import { gunzipSync } from 'node:zlib';
import { defaultConfig } from '../src/config.ts';
import { decodeCloudWatchData, decodeLine, type DecodeSink, type LineFormat } from '../src/decode/index.ts';
import type { AccessEvent } from '../src/events.ts';
import { Windower, type WindowerOptions } from '../src/features/windower.ts';
import type { CwlRecord } from './inputs.ts';
import { bestOf, perSecond, type Timed } from './timing.ts';

/**
 * Stage 1's work on one core: bytes in, per-key partial summaries out (decode, validate, aggregate, drain).
 * Each figure cycles over the same input pool until `events` access events went through.
 */

export interface IngestFigure {
  name: string;
  events: number;
  /** Per CPU-second (see timing.ts): the headline figure. */
  eventsPerSecond: number;
  /** Per wall-clock second of the same run. */
  eventsPerWallSecond: number;
  cpuMs: number;
  wallMs: number;
  /** Same input, only base64 + gunzip + JSON.parse (where the format is JSON): what any JS reader must pay. */
  floorEventsPerSecond?: number;
  /** cordon's CPU time over the floor's (1 = as fast as merely parsing). */
  floorRatio?: number;
}

/** Events per stage-1 windower for line formats: about one ingest batch (100 records of 200 events). */
const LINE_BATCH_EVENTS = 20_000;

export function windowerOptions(): WindowerOptions {
  const cfg = defaultConfig();
  return { sizeMs: cfg.windows.sizeSeconds * 1000, latenessMs: cfg.windows.allowedLatenessSeconds * 1000,
    ipv4Prefix: cfg.aggregation.ipv4Prefix, ipv6Prefix: cfg.aggregation.ipv6Prefix };
}

/**
 * CloudWatch Logs records through decodeCloudWatchData + Windower.add, draining partials every
 * `recordsPerWindower` records: 1 is what the IngestStage does (one windower per source record, so that a record's
 * part ids make redelivery idempotent); 100 is one per Lambda batch.
 */
export function ingestCwl(records: readonly CwlRecord[], target: number, recordsPerWindower: number): number {
  const opts = windowerOptions();
  let windower = new Windower(opts);
  let events = 0;
  let unreadable = 0;
  const sink: DecodeSink = {
    event: (e: AccessEvent) => windower.add(e),
    unreadable: () => { unreadable++; },
  };
  let inWindower = 0;
  for (let i = 0; events < target; i = (i + 1) % records.length) {
    decodeCloudWatchData(records[i].data, sink);
    events += records[i].events;
    if (++inWindower === recordsPerWindower) {
      windower.drainPartials();
      windower = new Windower(opts);
      inWindower = 0;
    }
  }
  windower.drainPartials();
  if (unreadable) throw new Error(`${unreadable} unreadable events in generated input`);
  return events;
}

/** The floor: base64 → gunzip → JSON.parse of the envelope → JSON.parse of every message, nothing else. */
export function floorCwl(records: readonly CwlRecord[], target: number): number {
  let events = 0;
  let sink = 0;
  for (let i = 0; events < target; i = (i + 1) % records.length) {
    const envelope = JSON.parse(gunzipSync(Buffer.from(records[i].data, 'base64')).toString('utf8')) as {
      logEvents: { message: string }[];
    };
    for (const le of envelope.logEvents) sink += (JSON.parse(le.message) as { status: number }).status;
    events += envelope.logEvents.length;
  }
  if (sink === 0) throw new Error('floor optimised away');
  return events;
}

/** Access-log lines through decodeLine + Windower.add, partials drained every LINE_BATCH_EVENTS events. */
export function ingestLines(lines: readonly string[], format: LineFormat, target: number): number {
  const opts = windowerOptions();
  let windower = new Windower(opts);
  let inWindower = 0;
  let events = 0;
  for (let i = 0; events < target; i = (i + 1) % lines.length) {
    const e = decodeLine(lines[i], format);
    if (typeof e === 'string') throw new Error(`generated ${format} line unreadable (${e}): ${lines[i]}`);
    windower.add(e);
    events++;
    if (++inWindower === LINE_BATCH_EVENTS) {
      windower.drainPartials();
      windower = new Windower(opts);
      inWindower = 0;
    }
  }
  windower.drainPartials();
  return events;
}

/**
 * Less than the floor: base64 → gunzip → UTF-8 text of every record, no JSON at all. No reader of this input can
 * be faster, so it bounds what any parser or tuning could reach on this machine.
 */
export function unpackOnlyCwl(records: readonly CwlRecord[], target: number): number {
  let events = 0;
  let sink = 0;
  for (let i = 0; events < target; i = (i + 1) % records.length) {
    sink += gunzipSync(Buffer.from(records[i].data, 'base64')).toString('utf8').length;
    events += records[i].events;
  }
  if (sink === 0) throw new Error('unpack optimised away');
  return events;
}

/** The floor for JSON lines: JSON.parse alone. */
export function floorJsonLines(lines: readonly string[], target: number): number {
  let events = 0;
  let sink = 0;
  for (let i = 0; events < target; i = (i + 1) % lines.length) {
    sink += (JSON.parse(lines[i]) as { status: number | string }) ? 1 : 0;
    events++;
  }
  if (sink === 0) throw new Error('floor optimised away');
  return events;
}

/**
 * One ingest figure, and its floor measured in the same way right after it. Runs alternate between the two, so a
 * burst of load on a shared machine hits both alike.
 */
export function figure(name: string, runs: number, fn: () => number, floor?: () => number): IngestFigure {
  fn(); // warm-up: let the JIT settle before timing
  floor?.();
  let t: Timed<number> | null = null;
  let fl: Timed<number> | null = null;
  for (let i = 0; i < runs; i++) {
    const a = bestOf(1, fn);
    if (t === null || a.cpuMs < t.cpuMs) t = a;
    if (floor) {
      const b = bestOf(1, floor);
      if (fl === null || b.cpuMs < fl.cpuMs) fl = b;
    }
  }
  const f: IngestFigure = { name, events: t!.result, eventsPerSecond: perSecond(t!.result, t!.cpuMs),
    eventsPerWallSecond: perSecond(t!.result, t!.ms), cpuMs: Math.round(t!.cpuMs), wallMs: Math.round(t!.ms) };
  if (fl) {
    f.floorEventsPerSecond = perSecond(fl.result, fl.cpuMs);
    f.floorRatio = Math.round((t!.cpuMs / t!.result / (fl.cpuMs / fl.result)) * 100) / 100;
  }
  return f;
}
