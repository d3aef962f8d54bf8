import { type SimEvent } from '../src/simulate/builder.ts';
import { formatEvents, type TrafficFormat } from '../src/simulate/formats.ts';
import { Rng } from '../src/simulate/rng.ts';
import { simulateEvents } from '../src/simulate/traffic.ts';
import type { Labels } from '../src/simulate/labels.ts';

/**
 * The benchmark's input: the `mixed` scenario (a benign population with a NAT gateway, a crawler, health checks
 * and six attacks), so the figures are for the traffic mix the detection tests are graded on. Generated once per
 * run from the seed; the same events are rendered in every format, so formats are compared on equal content.
 */
export interface Traffic {
  events: SimEvent[];
  labels: Labels;
  minutes: number;
}

/** One Kinesis record as the ingest Lambda receives it. */
export interface CwlRecord {
  sequenceNumber: string;
  /** base64 of the gzip'd CloudWatch Logs envelope. */
  data: string;
  /** Log events inside. */
  events: number;
  /** When Kinesis received it (epoch ms), for batching like the event source mapping does. */
  arrival: number;
}

/** The file reader's chunk size (src/decode/read-access-logs.ts). */
const CHUNK_CHARS = 1 << 20;

export function simulate(minutes: number, seed: number): Traffic {
  const { events, labels } = simulateEvents({ scenario: 'mixed', minutes, seed });
  return { events, labels, minutes };
}

/**
 * The events as access-log lines of one line format, shaped as the file reader hands them out: slices of ~1 MB
 * decoded chunks. (The generator's own strings are concatenation trees, which V8 reads several times slower
 * than flat text; measuring on them would charge the decoder for the generator's shortcut.)
 */
export function linesOf(t: Traffic, format: Exclude<TrafficFormat, 'cwl-kinesis'>, seed: number): string[] {
  // Stream 1 is what `cordon simulate` formats with; any fixed stream gives deterministic lines.
  const out: string[] = [];
  let chunk: string[] = [];
  let chars = 0;
  const flush = () => {
    const text = chunk.join('\n');
    for (let from = 0; from < text.length;) {
      let nl = text.indexOf('\n', from);
      if (nl < 0) nl = text.length;
      out.push(text.slice(from, nl));
      from = nl + 1;
    }
    chunk = [];
    chars = 0;
  };
  for (const line of formatEvents(t.events, format, new Rng(seed, 1))) {
    chunk.push(line);
    chars += line.length + 1;
    if (chars >= CHUNK_CHARS) flush();
  }
  if (chunk.length) flush();
  return out;
}

/** The events as Kinesis records of CloudWatch Logs envelopes, `perRecord` log events each (CWL sends up to ~10k). */
export function cwlRecordsOf(t: Traffic, seed: number, perRecord = 200): CwlRecord[] {
  const out: CwlRecord[] = [];
  let i = 0;
  for (const line of formatEvents(t.events, 'cwl-kinesis', new Rng(seed, 1), perRecord)) {
    const k = (JSON.parse(line) as { kinesis: { sequenceNumber: string; data: string; approximateArrivalTimestamp: number } }).kinesis;
    out.push({ sequenceNumber: k.sequenceNumber, data: k.data, events: Math.min(perRecord, t.events.length - i),
      arrival: Math.round(k.approximateArrivalTimestamp * 1000) });
    i += perRecord;
  }
  return out;
}

/** Mean UTF-8 bytes of a line (what CloudWatch Logs bills as ingested data, before its per-event overhead). */
export function meanBytes(lines: readonly string[]): number {
  let n = 0;
  for (const l of lines) n += Buffer.byteLength(l, 'utf8');
  return n / lines.length;
}
