import type { KinesisStreamEvent } from 'aws-lambda';
import type { StreamRecord } from '../src/ports/stream.ts';

/** A Lambda Kinesis event as the stages' records. `eventID` is `shardId-000000000000:<sequence number>`. */
export function streamRecords(event: KinesisStreamEvent): StreamRecord[] {
  return event.Records.map((r) => ({
    sequenceNumber: r.kinesis.sequenceNumber,
    data: r.kinesis.data,
    shardId: r.eventID.split(':')[0],
    arrivedAt: Math.round(r.kinesis.approximateArrivalTimestamp * 1000),
  }));
}
