import type { AccessEvent, Unreadable } from '../events.ts';

/** The line formats cordon reads; `combined` also covers Common Log Format and its usual variants. */
export type LineFormat = 'apigw-json' | 'console-json' | 'console-clf' | 'console-csv' | 'console-xml' | 'combined';

/** What a file holds: one of the line formats, or JSON lines of Kinesis records (CloudWatch Logs envelopes). */
export type FileFormat = LineFormat | 'kinesis-records';

/** Where decoded records go. Decoders call it once per record and never throw. */
export interface DecodeSink {
  /** `logTimestamp`: the CloudWatch Logs event's own timestamp (epoch ms), where the record carries one. */
  event(e: AccessEvent, logTimestamp?: number): void;
  unreadable(u: Unreadable): void;
}

/** Where a record came from, for the operator's samples. */
export interface Origin {
  source: string;
  /** 1-based line number in its file, 0 where there is none. */
  line: number;
}

export interface ReadStats {
  /** Non-empty lines read (for Kinesis-record files: records, each holding many events). */
  lines: number;
  events: number;
  unreadable: number;
  /** Unreadable records by reason (reasons are a small fixed set, never attacker text). */
  byReason: Record<string, number>;
  /** A few unreadable records, sanitised, for the operator. */
  samples: Unreadable[];
  /** Detected format per path (`unrecognised` when none fitted). */
  formats: Record<string, string>;
}

export interface ReadOptions {
  /** Called as input is consumed; bytes are on-disk (compressed) bytes. */
  onProgress?(bytesRead: number, totalBytes: number): void;
  /**
   * Awaited after each chunk of input has gone to the sink: a consumer that works asynchronously (the stages) catches
   * up here, so reading never runs ahead of it by more than a chunk.
   */
  afterChunk?(): Promise<void>;
  /** Samples kept overall (default 20). */
  maxSamples?: number;
}
