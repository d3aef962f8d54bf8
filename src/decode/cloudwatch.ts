import { gunzipSync } from 'node:zlib';
import { decodeAnyLineAt } from './decode-line.ts';
import { ABSENT } from './event.ts';
import { sanitiseExcerpt } from './excerpt.ts';
import { MAX_ENVELOPE_BYTES } from './limits.ts';
import { numberField } from './numbers.ts';
import { Reason, type ReasonText } from './reasons.ts';
import type { DecodeSink, Origin } from './types.ts';

const KINESIS_ORIGIN: Origin = { source: 'kinesis', line: 0 };

/**
 * One Kinesis record written by a CloudWatch Logs subscription filter: base64 text (as in a Lambda event) or raw
 * bytes, holding gzip of `{messageType, owner, logGroup, logStream, subscriptionFilters, logEvents: [{id,
 * timestamp, message}]}`. Each message is decoded in whatever line format it has. CONTROL_MESSAGE records
 * (CloudWatch checking the destination) are skipped. A bad record becomes one unreadable, a bad message one
 * unreadable, never a throw: a poison record must not block the shard. Text is decoded as UTF-8.
 */
export function decodeCloudWatchData(data: string | Uint8Array, sink: DecodeSink, origin: Origin = KINESIS_ORIGIN): void {
  const text = envelopeText(data);
  if (typeof text !== 'string') {
    sink.unreadable({ reason: text.reason, excerpt: rawExcerpt(data), line: origin.line, source: origin.source });
    return;
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    sink.unreadable({ reason: Reason.envelopeNotJson, excerpt: sanitiseExcerpt(text), line: origin.line, source: origin.source });
    return;
  }
  decodeEnvelope(envelope, sink, origin);
}

/** An already parsed CloudWatch Logs envelope (also found decompressed, one per line, in saved files). */
export function decodeEnvelope(envelope: unknown, sink: DecodeSink, origin: Origin): void {
  const env = (typeof envelope === 'object' && envelope !== null ? envelope : {}) as Record<string, unknown>;
  if (env.messageType === 'CONTROL_MESSAGE') return;
  const reject = (reason: ReasonText, text: string) =>
    sink.unreadable({ reason, excerpt: sanitiseExcerpt(text), line: origin.line, source: origin.source });
  if (env.messageType !== undefined && env.messageType !== 'DATA_MESSAGE') {
    reject(Reason.envelopeUnknownType, typeof env.messageType === 'string' ? env.messageType : '');
    return;
  }
  const logEvents = env.logEvents;
  if (!Array.isArray(logEvents)) {
    reject(Reason.envelopeNoEvents, '');
    return;
  }
  for (const logEvent of logEvents) {
    const message = typeof logEvent === 'object' && logEvent !== null ? (logEvent as Record<string, unknown>).message : undefined;
    if (typeof message !== 'string') {
      reject(Reason.logEventNoMessage, '');
      continue;
    }
    const timestamp = numberField((logEvent as Record<string, unknown>).timestamp);
    const decoded = decodeAnyLineAt(message, Number.isNaN(timestamp) ? ABSENT : timestamp);
    if (typeof decoded === 'string') reject(decoded as ReasonText, message);
    else sink.event(decoded, Number.isNaN(timestamp) ? undefined : timestamp);
  }
}

/** The envelope's JSON text, or why there is none. */
function envelopeText(data: string | Uint8Array): string | { reason: ReasonText } {
  if (typeof data === 'string' && data.trimStart().startsWith('{')) return data; // already-decoded JSON text
  const bytes =
    typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes, { maxOutputLength: MAX_ENVELOPE_BYTES, chunkSize: outputChunkSize(bytes) }).toString('utf8');
    } catch (err) {
      const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
      return { reason: tooLarge ? Reason.recordTooLarge : Reason.recordCorruptGzip };
    }
  }
  if (bytes.length > 0 && bytes[0] === 0x7b /* { */) return bytes.toString('utf8');
  return { reason: Reason.recordNotGzip };
}

/** Output chunks never smaller than zlib's default, nor larger than this, whatever a trailer claims. */
const MIN_CHUNK = 16 * 1024;
const MAX_CHUNK = 4 * 1024 * 1024;
/** The smallest gzip member: 10-byte header, an empty deflate block, 8-byte trailer. */
const MIN_GZIP_BYTES = 18;

/**
 * The output chunk for gunzip: gzip's trailer states the uncompressed size (mod 2^32), so one chunk of that size
 * spares zlib from filling 16 KB pieces and copying them together (a sixth of the decompression time for a
 * typical 150 KB envelope). The trailer is only a hint (a lying one costs memory within the clamp, never
 * correctness): maxOutputLength still bounds the output.
 */
function outputChunkSize(bytes: Buffer): number {
  if (bytes.length < MIN_GZIP_BYTES) return MIN_CHUNK;
  const stated = bytes.readUInt32LE(bytes.length - 4);
  return Math.min(Math.max(stated + 64, MIN_CHUNK), MAX_CHUNK);
}

function rawExcerpt(data: string | Uint8Array): string {
  return typeof data === 'string' ? sanitiseExcerpt(data) : sanitiseExcerpt(Buffer.from(data.subarray(0, 120)).toString('latin1'));
}
