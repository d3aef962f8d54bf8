/**
 * The decoders: every supported access-log format in, AccessEvents (or counted reasons) out.
 * See DESIGN.md §3 for the formats.
 */
export type { DecodeSink, FileFormat, LineFormat, Origin, ReadOptions, ReadStats } from './types.ts';
export { decodeLine, decodeAnyLine } from './decode-line.ts';
export { detectLineFormat } from './detect.ts';
export { decodeCloudWatchData } from './cloudwatch.ts';
export { decodeKinesisRecordLine } from './kinesis-records.ts';
export { readAccessLogs } from './read-access-logs.ts';
export { sanitiseExcerpt } from './excerpt.ts';
export { LogFileError } from './errors.ts';
export { Reason, type ReasonText } from './reasons.ts';
