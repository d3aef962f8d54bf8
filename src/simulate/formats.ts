import { gzipSync } from 'node:zlib';
import type { SimEvent } from './builder.ts';
import { ACCOUNT } from './catalog.ts';
import type { Rng } from './rng.ts';

/** Output formats, as in apitraffic.py (DESIGN §3). */
export const FORMATS = ['apigw-json', 'console-json', 'console-clf', 'combined', 'cwl-kinesis'] as const;
export type TrafficFormat = (typeof FORMATS)[number];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LOG_GROUP = 'API-Gateway-Execution-Logs_a1b2c3d4e5/prod';
const STREAM_ARN = `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/cordon-access-logs`;
// Large decimal ids as CloudWatch Logs and Kinesis print them; BigInt because they exceed 2^53.
const FIRST_LOG_EVENT_ID = 37000000000000000000000000000000000000000000000000000000n;
const FIRST_SEQUENCE_NUMBER = 49650000000000000000000000000000000000000000000000000000n;

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** `$context.requestTime`: `02/Nov/2026:00:00:00 +0000`. */
export function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:` +
    `${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
}

/** The recommended API Gateway access-log fields (DESIGN §3.1), `-` where a value is missing. */
export function accessLogFields(e: SimEvent, rng: Rng) {
  const id = e.id;
  return {
    requestId: `${rng.hex(8)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(12)}`,
    extendedRequestId: rng.bytes(6).toString('base64') + '=',
    ip: e.ip,
    requestTimeEpoch: e.t,
    httpMethod: e.method,
    resourcePath: e.resource,
    path: e.path,
    status: e.status,
    protocol: 'HTTP/1.1',
    responseLength: e.len,
    responseLatency: e.lat,
    integrationLatency: Math.max(e.lat - 3, 0),
    userAgent: e.ua,
    caller: id?.caller ?? '-',
    user: id?.user ?? '-',
    userArn: id?.userArn ?? '-',
    principalId: id?.principalId ?? '-',
    apiKeyId: id?.apiKeyId ?? '-',
    wafResponseCode: '-',
    apiId: 'a1b2c3d4e5',
    stage: 'prod',
    domainName: 'api.example.com',
  };
}

const q = JSON.stringify; // quotes and escapes one string

/** JSON.stringify(d) spelled out: the same text, about twice as fast on the hot path of a big file. */
function apigwJson(d: ReturnType<typeof accessLogFields>): string {
  return `{"requestId":"${d.requestId}","extendedRequestId":"${d.extendedRequestId}","ip":${q(d.ip)},` +
    `"requestTimeEpoch":${d.requestTimeEpoch},"httpMethod":${q(d.httpMethod)},"resourcePath":${q(d.resourcePath)},` +
    `"path":${q(d.path)},"status":${d.status},"protocol":"${d.protocol}","responseLength":${d.responseLength},` +
    `"responseLatency":${d.responseLatency},"integrationLatency":${d.integrationLatency},"userAgent":${q(d.userAgent)},` +
    `"caller":${q(d.caller)},"user":${q(d.user)},"userArn":${q(d.userArn)},"principalId":${q(d.principalId)},` +
    `"apiKeyId":${q(d.apiKeyId)},"wafResponseCode":"${d.wafResponseCode}","apiId":"${d.apiId}","stage":"${d.stage}",` +
    `"domainName":"${d.domainName}"}`;
}

/** One access-log line of `e` in a line format (every format but cwl-kinesis, which wraps apigw-json). */
export function formatLine(e: SimEvent, format: Exclude<TrafficFormat, 'cwl-kinesis'>, rng: Rng): string {
  const d = accessLogFields(e, rng);
  switch (format) {
    case 'apigw-json':
      return apigwJson(d);
    case 'console-json':
      // The console preset: requestTime as text and every number as a string.
      return JSON.stringify({
        requestId: d.requestId, ip: d.ip, caller: d.caller, user: d.user, requestTime: clfTime(e.t),
        httpMethod: d.httpMethod, resourcePath: d.resourcePath, status: String(d.status), protocol: d.protocol,
        responseLength: String(d.responseLength),
      });
    case 'console-clf':
      return `${d.ip} ${d.caller} ${d.user} [${clfTime(e.t)}] "${d.httpMethod} ${d.resourcePath} ${d.protocol}" ` +
        `${d.status} ${d.responseLength} ${d.requestId}`;
    case 'combined':
      return `${d.ip} - - [${clfTime(e.t)}] "${d.httpMethod} ${d.path} ${d.protocol}" ${d.status} ` +
        `${d.responseLength} "-" "${d.userAgent.replaceAll('"', "'")}"`;
  }
}

/**
 * One Kinesis record as a Lambda receives it from a CloudWatch Logs subscription: `data` is the base64 of the
 * gzip'd DATA_MESSAGE envelope holding `chunk` as apigw-json log events.
 * `firstIndex` numbers the events across the whole file so every log event id is unique.
 */
export function kinesisRecordLine(chunk: readonly SimEvent[], firstIndex: number, recordIndex: number, rng: Rng): string {
  const envelope = {
    messageType: 'DATA_MESSAGE',
    owner: ACCOUNT,
    logGroup: LOG_GROUP,
    logStream: rng.hex(32),
    subscriptionFilters: ['cordon'],
    logEvents: chunk.map((e, j) => ({
      id: String(FIRST_LOG_EVENT_ID + BigInt(firstIndex + j)),
      timestamp: e.t + 200, // ingestion lags the request a little
      message: formatLine(e, 'apigw-json', rng),
    })),
  };
  const data = gzipSync(Buffer.from(JSON.stringify(envelope), 'utf8')).toString('base64');
  return JSON.stringify({
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: rng.hex(32),
      sequenceNumber: String(FIRST_SEQUENCE_NUMBER + BigInt(recordIndex + 1)),
      data,
      approximateArrivalTimestamp: (chunk[chunk.length - 1].t + 900) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventName: 'aws:kinesis:record',
    eventSourceARN: STREAM_ARN,
    awsRegion: 'us-east-1',
  });
}

/** The lines of a whole (already ordered) event list in `format`. */
export function* formatEvents(events: readonly SimEvent[], format: TrafficFormat, rng: Rng, perRecord = 200): Generator<string> {
  if (format !== 'cwl-kinesis') {
    for (const e of events) yield formatLine(e, format, rng);
    return;
  }
  for (let i = 0, record = 0; i < events.length; i += perRecord, record++) {
    yield kinesisRecordLine(events.slice(i, i + perRecord), i, record, rng);
  }
}
