/**
 * Kinesis as the stages see it. Put side: what ingest writes summaries with (and what a CloudWatch Logs
 * subscription writes access logs with). Read side: what an event source mapping (Lambda's poller in AWS, the
 * local runner and `rehearse` here) reads per shard.
 */

/** One record as the Lambda event carries it. */
export interface StreamRecord {
  /** Unique within its shard only. */
  sequenceNumber: string;
  /** e.g. `shardId-000000000000`. */
  shardId: string;
  /** base64 of the record's bytes, as the Lambda event carries it. */
  data: string;
  /**
   * The same bytes, when the reader holds them already (an in-process stream): a consumer that would only decode
   * `data` again reads these instead. Never set in AWS.
   */
  bytes?: Uint8Array;
  /** Epoch ms the stream accepted the record (Kinesis `approximateArrivalTimestamp`). */
  arrivedAt?: number;
}

/** What a stream handler returns: the records to deliver again (ReportBatchItemFailures), by sequence number. */
export interface BatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface PutRecord {
  partitionKey: string;
  data: Uint8Array;
  /**
   * Where in the stream's 128-bit hash space the record goes (a decimal string), instead of the MD5 of its
   * partition key: lets a writer spread a few partition keys evenly over the shards.
   */
  explicitHashKey?: string;
}

export interface PutResult {
  /** Per input record, in order: its shard and sequence number, or the error code it failed with. */
  records: ({ shardId: string; sequenceNumber: string } | { errorCode: string; errorMessage?: string })[];
  failedRecordCount: number;
}

/** How long a put may go on retrying. */
export interface PutOptions {
  /**
   * Epoch ms (on the putter's clock) by which the put must have returned. Records refused for throughput (a burst
   * over a shard's 1 MB or 1,000 records a second) are sent again, with backoff, until then instead of for a fixed
   * number of calls: a Lambda has minutes, and failing its batch would only put every record of it again.
   */
  deadline?: number;
}

/** What a put that landed had to go through. */
export interface PutOutcome {
  /** Records refused for the shard's write throughput and sent again. */
  throttled: number;
}

/**
 * PutRecords. Adapters retry partial failures themselves and throw if records are still undelivered (an error that
 * may carry `throttled`, as PutOutcome does).
 */
export interface StreamPutter {
  put(records: PutRecord[], opts?: PutOptions): Promise<PutOutcome | void>;
}

/** The read side of a stream, per shard (an event source mapping polls this). */
export interface StreamReader {
  /** Open shards, and closed ones that still hold unread records (after a reshard). */
  shardIds(): string[];
  /** Up to `limit` records after `afterSequence` (exclusive; undefined = from the start), oldest first. */
  read(shardId: string, afterSequence: string | undefined, limit: number): StreamRecord[];
}
