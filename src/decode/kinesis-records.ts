import { decodeCloudWatchData, decodeEnvelope } from './cloudwatch.ts';
import { sanitiseExcerpt } from './excerpt.ts';
import { Reason } from './reasons.ts';
import type { DecodeSink, Origin } from './types.ts';

/**
 * One line of a file of Kinesis records: `{"data": "<base64>"}`, a Lambda event record
 * `{"kinesis": {"data": "<base64>", "sequenceNumber": …}, …}`, the CLI's `{"Data": …}`, a whole Lambda event
 * `{"Records": [...]}`, or a decompressed CloudWatch Logs envelope.
 */
export function decodeKinesisRecordLine(line: string, sink: DecodeSink, origin: Origin): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    sink.unreadable({ reason: Reason.invalidJson, excerpt: sanitiseExcerpt(line), line: origin.line, source: origin.source });
    return;
  }
  const records = asObject(parsed)?.Records;
  if (Array.isArray(records)) {
    for (const record of records) decodeRecord(record, line, sink, origin);
  } else {
    decodeRecord(parsed, line, sink, origin);
  }
}

function decodeRecord(record: unknown, line: string, sink: DecodeSink, origin: Origin): void {
  const r = asObject(record);
  const data = asObject(r?.kinesis)?.data ?? r?.data ?? r?.Data;
  if (typeof data === 'string') {
    decodeCloudWatchData(data, sink, origin);
  } else if (r !== null && Array.isArray(r.logEvents)) {
    decodeEnvelope(r, sink, origin);
  } else {
    sink.unreadable({ reason: Reason.kinesisNoData, excerpt: sanitiseExcerpt(line), line: origin.line, source: origin.source });
  }
}

function asObject(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
