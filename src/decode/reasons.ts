/**
 * Why a record could not be read. A fixed set of texts: they become counter keys and operator messages, so
 * they never carry input text (that goes, sanitised, into the sample's excerpt).
 */
export const Reason = {
  emptyLine: 'empty line',
  lineTooLong: 'line too long',
  invalidJson: 'invalid JSON',
  truncatedJson: 'truncated JSON',
  jsonNotObject: 'JSON is not an object',
  duplicateKey: 'JSON with a key it reads given twice (a value broken out of its quotes)',
  missingClient: 'missing client address',
  clientNotIp: 'client is not an IP address',
  missingStatus: 'missing status',
  badStatus: 'status outside 100-599',
  badBytes: 'response bytes negative, absurd or not a number',
  badLatency: 'latency negative, absurd or not a number',
  missingTime: 'missing or unreadable time',
  timeOutOfRange: 'time outside 1995-2100',
  notClf: 'not a combined/common log line',
  noRequestLine: 'no request line followed by a status',
  badXml: 'incomplete XML record',
  badCsv: 'CSV record with an unexpected number of fields',
  rawHttp: 'raw HTTP request, not an access log',
  noIpInLine: 'unrecognised line with no client IP address',
  unrecognised: 'unrecognised line format',
  recordNotGzip: 'Kinesis record is neither gzip nor JSON',
  recordTooLarge: 'Kinesis record decompresses beyond the limit',
  recordCorruptGzip: 'Kinesis record has corrupt gzip data',
  envelopeNotJson: 'CloudWatch Logs envelope is not valid JSON',
  envelopeNoEvents: 'CloudWatch Logs envelope without logEvents',
  envelopeUnknownType: 'CloudWatch Logs envelope of unknown messageType',
  logEventNoMessage: 'CloudWatch Logs event without a message',
  kinesisNoData: 'Kinesis record line without data',
  fileCorruptGzip: 'corrupt or truncated gzip file',
  fileReadError: 'file read error',
} as const;

export type ReasonText = (typeof Reason)[keyof typeof Reason];
