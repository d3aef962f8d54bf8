import { randomUUID } from 'node:crypto';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent, KinesisStreamRecord, ScheduledEvent, SNSEvent } from 'aws-lambda';
import { TEST_ACCOUNT, TEST_REGION } from './moto.ts';

/**
 * What the Lambda service hands cordon's functions, built from what the emulated services really hold: Kinesis
 * records read back with GetRecords become the event an event source mapping would deliver, an SNS envelope read
 * from SQS becomes the event an SNS subscription would deliver.
 */

/** A minimal Lambda context (what Powertools' Logger reads from it). */
export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${TEST_REGION}:${TEST_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/11/21/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => 60_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** One Kinesis record as an event source mapping delivers it (data base64, arrival time in seconds). */
export interface ShardRecord {
  shardId: string;
  record: KinesisStreamRecord;
}

/**
 * Reads a stream the way an event source mapping does: per shard, from TRIM_HORIZON, each call to {@link readNew}
 * returning what arrived since the previous one (GetRecords until caught up), already shaped as Kinesis Lambda
 * event records.
 */
export class StreamReader {
  private readonly iterators = new Map<string, string | undefined>();

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    private readonly streamArn: string,
  ) {}

  async readNew(): Promise<Map<string, KinesisStreamRecord[]>> {
    const out = new Map<string, KinesisStreamRecord[]>();
    const shards = (await this.kinesis.send(new ListShardsCommand({ StreamName: this.streamName }))).Shards ?? [];
    for (const shard of shards) {
      const shardId = shard.ShardId!;
      let iterator = this.iterators.get(shardId);
      if (!this.iterators.has(shardId)) {
        iterator = (
          await this.kinesis.send(new GetShardIteratorCommand({ StreamName: this.streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))
        ).ShardIterator;
      }
      const records: KinesisStreamRecord[] = [];
      for (let calls = 0; iterator && calls < 1_000; calls++) {
        const page = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const r of page.Records ?? []) records.push(this.lambdaRecord(shardId, r));
        iterator = page.NextShardIterator ?? iterator;
        if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
      }
      this.iterators.set(shardId, iterator);
      out.set(shardId, records);
    }
    return out;
  }

  private lambdaRecord(
    shardId: string,
    r: { PartitionKey?: string; SequenceNumber?: string; Data?: Uint8Array; ApproximateArrivalTimestamp?: Date },
  ): KinesisStreamRecord {
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: r.PartitionKey!,
        sequenceNumber: r.SequenceNumber!,
        data: Buffer.from(r.Data!).toString('base64'),
        approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${r.SequenceNumber!}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: `arn:aws:iam::${TEST_ACCOUNT}:role/cordon-function`,
      awsRegion: TEST_REGION,
      eventSourceARN: this.streamArn,
    };
  }
}

/** Every record `stream` holds, per shard in order. */
export async function readStream(kinesis: KinesisClient, streamName: string, streamArn: string): Promise<Map<string, KinesisStreamRecord[]>> {
  return new StreamReader(kinesis, streamName, streamArn).readNew();
}

export function kinesisEvent(records: KinesisStreamRecord[]): KinesisStreamEvent {
  return { Records: records };
}

/** Consecutive slices of at most `size` (an event source mapping's BatchSize). */
export function batchesOf<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * The EventBridge event of a one-minute schedule rule: contain's, or detect's clock tick. The handlers read no field
 * of it (they take the time from their own clock); `time` and `rule` only make the event what EventBridge sends.
 */
export function scheduledEvent(time = new Date(), rule = 'cordon-contain-schedule'): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: TEST_ACCOUNT,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: TEST_REGION,
    resources: [`arn:aws:events:${TEST_REGION}:${TEST_ACCOUNT}:rule/${rule}`],
    detail: {},
  };
}

/** The JSON body SNS delivers to a subscribed SQS queue (raw message delivery off). */
export interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  SignatureVersion?: string;
  Signature?: string;
  SigningCertURL?: string;
  UnsubscribeURL?: string;
  MessageAttributes?: Record<string, { Type: string; Value: string }>;
}

/** The Lambda event of an SNS subscription carrying the same message as `env`. */
export function snsEventFrom(env: SnsEnvelope): SNSEvent {
  return {
    Records: [
      {
        EventVersion: '1.0',
        EventSubscriptionArn: `${env.TopicArn}:${randomUUID()}`,
        EventSource: 'aws:sns',
        Sns: {
          SignatureVersion: env.SignatureVersion ?? '1',
          Timestamp: env.Timestamp,
          Signature: env.Signature ?? 'EXAMPLE',
          SigningCertUrl: env.SigningCertURL ?? 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem',
          MessageId: env.MessageId,
          Message: env.Message,
          MessageAttributes: env.MessageAttributes ?? {},
          Type: env.Type,
          UnsubscribeUrl: env.UnsubscribeURL ?? 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe',
          TopicArn: env.TopicArn,
          Subject: env.Subject,
        },
      },
    ],
  };
}
