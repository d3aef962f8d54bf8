import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { LogFileError } from './errors.ts';
import { FileDecoder } from './file-decoder.ts';
import { LineSplitter } from './line-splitter.ts';
import { Reason, type ReasonText } from './reasons.ts';
import { Sampler } from './sampler.ts';
import type { DecodeSink, ReadOptions, ReadStats } from './types.ts';

const CHUNK_BYTES = 1 << 20;
const DEFAULT_MAX_SAMPLES = 20;

/**
 * Streams access-log files (plain or gzip, told by magic bytes, never by name) into the sink, one line at a time
 * in constant memory, detecting the format per file. Unreadable lines are counted, a few sampled, none thrown;
 * a corrupt gzip stream keeps what was read before it and counts one unreadable. Only a file that cannot be
 * opened at all throws (LogFileError), before anything is read.
 */
export async function readAccessLogs(paths: string[], sink: DecodeSink, opts: ReadOptions = {}): Promise<ReadStats> {
  const sizes = await Promise.all(paths.map(fileSize));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const stats: ReadStats = { lines: 0, events: 0, unreadable: 0, byReason: {}, samples: [], formats: {} };
  const sampler = new Sampler(opts.maxSamples ?? DEFAULT_MAX_SAMPLES, paths.length);
  let doneBytes = 0;
  for (let i = 0; i < paths.length; i++) {
    sampler.startFile();
    const decoder = new FileDecoder(paths[i], sink, stats, sampler);
    await readFile(paths[i], decoder, (bytes) => opts.onProgress?.(doneBytes + bytes, totalBytes), opts.afterChunk);
    doneBytes += sizes[i];
    opts.onProgress?.(doneBytes, totalBytes);
  }
  stats.samples = sampler.samples;
  return stats;
}

async function readFile(path: string, decoder: FileDecoder, progress: (bytesRead: number) => void,
  afterChunk?: () => Promise<void>): Promise<void> {
  const gzip = await hasGzipMagic(path);
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  let input: Readable = file;
  if (gzip) {
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
    file.on('error', (err) => gunzip.destroy(err));
    input = file.pipe(gunzip);
  }
  const text = new ChunkText();
  let lastLine = 0;
  const splitter = new LineSplitter(
    (line, n) => {
      lastLine = n;
      decoder.line(line, n);
    },
    (head, n) => {
      lastLine = n;
      decoder.reject(Reason.lineTooLong, head, n);
    },
  );
  let failure: ReasonText | null = null;
  let consumerError: { err: unknown } | null = null;
  try {
    for await (const chunk of input) {
      splitter.push(text.write(chunk as Buffer));
      progress(file.bytesRead);
      if (afterChunk) {
        // The consumer's own failure is not a read error: it ends the read and goes to the caller as it is.
        try {
          await afterChunk();
        } catch (err) {
          consumerError = { err };
          break;
        }
      }
    }
    splitter.push(text.end());
  } catch {
    failure = gzip ? Reason.fileCorruptGzip : Reason.fileReadError;
  } finally {
    file.destroy();
    input.destroy();
  }
  if (consumerError) throw consumerError.err;
  splitter.end();
  decoder.finish();
  if (failure !== null) decoder.reject(failure, '', lastLine + 1);
}

/**
 * UTF-8 text of each chunk. An ASCII chunk (nearly every access log) decodes as latin1, the same string several times
 * faster than the UTF-8 decoder; any other chunk, or one after a character split across chunks, goes through the
 * decoder, which carries the split character over.
 */
class ChunkText {
  private readonly utf8 = new StringDecoder('utf8');
  private clean = true;

  write(chunk: Buffer): string {
    if (this.clean && isAscii(chunk)) return chunk.toString('latin1');
    const s = this.utf8.write(chunk);
    // Bytes of a character still expected (Node's decoder has said so since v8; if it ever does not, stay on it).
    this.clean = (this.utf8 as unknown as { lastNeed?: number }).lastNeed === 0;
    return s;
  }

  end(): string {
    return this.utf8.end();
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error('not a regular file');
    return s.size;
  } catch (err) {
    throw new LogFileError(path, { cause: err });
  }
}

async function hasGzipMagic(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } catch (err) {
    throw new LogFileError(path, { cause: err });
  } finally {
    await handle?.close();
  }
}
