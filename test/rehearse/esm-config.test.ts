import { describe, expect, it } from 'vitest';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { CONSUMER_TUNING, STREAM_RETENTION, dynamoConsumerProps, kinesisConsumerProps } from '../../infra/stream-defaults.ts';
import { CORDON_ESM_CONFIG, esmConfigFromConsumerProps } from '../../src/rehearse/esm-config.ts';

/** The on-failure destination does not shape delivery; the props helpers only carry it. */
const dlq = {} as lambda.IEventSourceDlq;

describe('the event source mappings rehearse simulates', () => {
  it('are the construct’s own (infra/stream-defaults.ts), number for number', () => {
    expect(esmConfigFromConsumerProps(kinesisConsumerProps(CONSUMER_TUNING.ingest, dlq), 'kinesis')).toEqual(CORDON_ESM_CONFIG.ingest);
    expect(esmConfigFromConsumerProps(kinesisConsumerProps(CONSUMER_TUNING.detect, dlq), 'kinesis')).toEqual(CORDON_ESM_CONFIG.detect);
    expect(esmConfigFromConsumerProps(dynamoConsumerProps(CONSUMER_TUNING.contain, dlq), 'dynamodb')).toEqual(CORDON_ESM_CONFIG.contain);
  });

  it('poll Kinesis once a second and DynamoDB streams four times a second, and give up before retention ends', () => {
    expect(CORDON_ESM_CONFIG.ingest.pollIntervalMs).toBe(1_000);
    expect(CORDON_ESM_CONFIG.contain.pollIntervalMs).toBe(250);
    for (const c of Object.values(CORDON_ESM_CONFIG)) expect(c.maximumRecordAgeMs).toBeLessThan(STREAM_RETENTION.toMilliseconds());
  });

  it('fill in AWS’s defaults for props the construct leaves out', () => {
    expect(esmConfigFromConsumerProps({}, 'kinesis')).toMatchObject({
      batchSize: 100,
      maximumBatchingWindowMs: 0,
      parallelizationFactor: 1,
      maximumRetryAttempts: -1,
      maximumRecordAgeMs: -1,
      bisectBatchOnFunctionError: false,
      reportBatchItemFailures: false,
    });
  });
});
