import { gzipSync } from 'node:zlib';
import type { AccessEvent, Unreadable } from '../../src/events.ts';
import type { DecodeSink } from '../../src/decode/index.ts';

/** 2026-11-21T10:00:00Z, the time in the fixtures below. */
export const T = Date.UTC(2026, 10, 21, 10, 0, 0);
export const T_CLF = '21/Nov/2026:10:00:00 +0000';

/** Collects what a decoder emits. */
export class CollectingSink implements DecodeSink {
  readonly events: AccessEvent[] = [];
  readonly rejects: Unreadable[] = [];
  event(e: AccessEvent): void {
    this.events.push(e);
  }
  unreadable(u: Unreadable): void {
    this.rejects.push(u);
  }
}

/** A line as API Gateway writes the recommended JSON format (numbers unquoted, `-` for missing strings). */
export function apigwRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    requestId: '6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11',
    extendedRequestId: 'Vh2cXFkJIAMEb3Q=',
    ip: '203.0.113.7',
    requestTimeEpoch: T,
    httpMethod: 'GET',
    resourcePath: '/items/{id}',
    path: '/prod/items/42',
    status: 200,
    protocol: 'HTTP/1.1',
    responseLength: 512,
    responseLatency: 23,
    integrationLatency: 19,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0',
    caller: '-',
    user: '-',
    userArn: '-',
    principalId: '-',
    apiKeyId: '-',
    wafResponseCode: '-',
    apiId: 'a1b2c3d4e5',
    stage: 'prod',
    domainName: 'api.example.com',
    ...overrides,
  };
}

export function apigwLine(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify(apigwRecord(overrides));
}

/** The CloudWatch Logs subscription envelope for these messages. */
export function cwlEnvelope(messages: string[], messageType = 'DATA_MESSAGE'): Record<string, unknown> {
  return {
    messageType,
    owner: '123456789012',
    logGroup: 'API-Gateway-Access-Logs_a1b2c3d4e5/prod',
    logStream: '8f14e45fceea167a5a36dedd4bea2543',
    subscriptionFilters: ['cordon'],
    logEvents: messages.map((message, i) => ({
      id: String(37000000000000000000000000000000000000000000000000000000n + BigInt(i)),
      timestamp: T + 150,
      message,
    })),
  };
}

/** The bytes of a Kinesis record as CloudWatch Logs writes it: gzip of the envelope JSON. */
export function cwlRecordBytes(envelope: unknown): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(envelope), 'utf8'));
}

/** The record as a Lambda event carries it: base64 text. */
export function cwlRecordData(envelope: unknown): string {
  return cwlRecordBytes(envelope).toString('base64');
}

/** One line of a Kinesis-records file, shaped like a Lambda event record (as apitraffic.py writes it). */
export function lambdaRecordLine(data: string, sequence = 1): string {
  return JSON.stringify({
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
      sequenceNumber: String(49650000000000000000000000000000000000000000000000000000n + BigInt(sequence)),
      data,
      approximateArrivalTimestamp: (T + 900) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventName: 'aws:kinesis:record',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/cordon-access-logs',
    awsRegion: 'us-east-1',
  });
}

/** Asserts the decoder produced an event (and narrows the type). */
export function asEvent(r: AccessEvent | string): AccessEvent {
  if (typeof r === 'string') throw new Error(`expected an event, got the reason "${r}"`);
  return r;
}
