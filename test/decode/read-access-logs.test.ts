import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { LogFileError, Reason, readAccessLogs } from '../../src/decode/index.ts';
import { MAX_LINE_CHARS } from '../../src/decode/limits.ts';
import { CollectingSink, T, T_CLF, apigwLine, cwlEnvelope, cwlRecordData, lambdaRecordLine } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'cordon-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const combinedLine = (i: number) => `198.51.100.${i % 250} - - [${T_CLF}] "GET /items/${i} HTTP/1.1" 200 ${i} "-" "curl/8.5.0"`;

describe('readAccessLogs', () => {
  it('reads a plain file line by line and reports its format', async () => {
    const path = file('plain.log', Array.from({ length: 50 }, (_, i) => apigwLine({ responseLength: i })).join('\n') + '\n');
    const sink = new CollectingSink();
    const stats = await readAccessLogs([path], sink);
    expect(stats).toMatchObject({ lines: 50, events: 50, unreadable: 0, formats: { [path]: 'apigw-json' } });
    expect(sink.events.map((e) => e.bytes)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('detects gzip by magic bytes, not by name, and a .gz name holding plain text', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => combinedLine(i)).join('\r\n');
    const gzipped = file('access.log', gzipSync(lines));
    const plain = file('not-really.gz', lines);
    const stats = await readAccessLogs([gzipped, plain], new CollectingSink());
    expect(stats).toMatchObject({ lines: 60, events: 60, unreadable: 0, formats: { [gzipped]: 'combined', [plain]: 'combined' } });
  });

  it('reads concatenated gzip members as one stream', async () => {
    const path = file('multi.gz', Buffer.concat([gzipSync(combinedLine(1) + '\n'), gzipSync(combinedLine(2) + '\n')]));
    expect((await readAccessLogs([path], new CollectingSink())).events).toBe(2);
  });

  it('keeps what it read before a truncated gzip stream and counts the damage once', async () => {
    const whole = gzipSync(Array.from({ length: 20000 }, (_, i) => combinedLine(i)).join('\n'));
    const path = file('truncated.gz', whole.subarray(0, Math.floor(whole.length * 0.6)));
    const stats = await readAccessLogs([path], new CollectingSink());
    expect(stats.events).toBeGreaterThan(5000);
    expect(stats.events).toBeLessThan(20000);
    expect(stats.byReason[Reason.fileCorruptGzip]).toBe(1);
  });

  it('decodes a file of Kinesis records (Lambda event records and bare data records), skipping CONTROL_MESSAGE', async () => {
    const records = [
      lambdaRecordLine(cwlRecordData(cwlEnvelope([apigwLine(), apigwLine({ status: 503 })])), 1),
      lambdaRecordLine(cwlRecordData(cwlEnvelope(['CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.'], 'CONTROL_MESSAGE')), 2),
      JSON.stringify({ data: cwlRecordData(cwlEnvelope([apigwLine({ status: 404 }), 'garbage'])) }),
      JSON.stringify({ kinesis: { sequenceNumber: '3' } }),
    ];
    const path = file('records.jsonl', records.join('\n') + '\n');
    const sink = new CollectingSink();
    const stats = await readAccessLogs([path], sink);
    expect(stats.formats[path]).toBe('kinesis-records');
    expect(sink.events.map((e) => e.status)).toEqual([200, 503, 404]);
    expect(stats).toMatchObject({ lines: 4, events: 3, unreadable: 2 });
    expect(stats.byReason).toEqual({ [Reason.noIpInLine]: 1, [Reason.kinesisNoData]: 1 });
    expect(sink.rejects.map((r) => [r.source, r.line])).toEqual([[path, 3], [path, 4]]);
  });

  it('counts unreadable lines by reason with line numbers, keeps a few sanitised samples, skips blank lines', async () => {
    const lines = ['\uFEFF' + combinedLine(1), '', 'not a log line \u001b[2J', combinedLine(2), `host.example - - [${T_CLF}] "GET / HTTP/1.1" 200 1 "-" "-"`];
    for (let i = 0; i < 30; i++) lines.push('{"broken":');
    const path = file('mixed.log', lines.join('\n'));
    const sink = new CollectingSink();
    const stats = await readAccessLogs([path], sink, { maxSamples: 4 });
    expect(stats.lines).toBe(34);
    expect(stats.events).toBe(2);
    expect(stats.unreadable).toBe(32);
    expect(sink.rejects).toHaveLength(32);
    expect(stats.byReason).toEqual({ [Reason.noIpInLine]: 1, [Reason.clientNotIp]: 1, [Reason.truncatedJson]: 30 });
    expect(stats.samples.length).toBeLessThanOrEqual(5);
    expect(stats.samples[0]).toMatchObject({ line: 3, source: path, reason: Reason.noIpInLine });
    expect(stats.samples[0].excerpt).toBe('not a log line \uFFFD[2J');
    expect(stats.samples.filter((s) => s.reason === Reason.truncatedJson).length).toBeLessThanOrEqual(2);
  });

  it('skips an over-long line without holding it, and goes on with the next', async () => {
    const path = file('long.log', combinedLine(1) + '\n' + 'x'.repeat(MAX_LINE_CHARS + 10) + '\n' + combinedLine(2) + '\n');
    const stats = await readAccessLogs([path], new CollectingSink());
    expect(stats.events).toBe(2);
    expect(stats.byReason).toEqual({ [Reason.lineTooLong]: 1 });
  });

  it('reports progress in on-disk bytes up to the total', async () => {
    const a = file('p1.log', Array.from({ length: 100 }, (_, i) => combinedLine(i)).join('\n'));
    const b = file('p2.log', gzipSync(Array.from({ length: 100 }, (_, i) => combinedLine(i)).join('\n')));
    const seen: Array<[number, number]> = [];
    await readAccessLogs([a, b], new CollectingSink(), { onProgress: (read, total) => seen.push([read, total]) });
    const total = seen[0][1];
    expect(seen.at(-1)).toEqual([total, total]);
    expect(seen.every(([read, t], i) => t === total && read <= total && (i === 0 || read >= seen[i - 1][0]))).toBe(true);
  });

  it('decodes an unrecognised file line by line, so readable lines still count', async () => {
    const path = file('odd.log', ['junk one', 'junk two', 'junk three', combinedLine(7)].join('\n'));
    const stats = await readAccessLogs([path], new CollectingSink());
    expect(stats.formats[path]).toBe('combined');
    const junk = file('junk.log', 'GET / HTTP/1.1\nHost: example.com\n\n');
    const junkStats = await readAccessLogs([junk], new CollectingSink());
    expect(junkStats).toMatchObject({ lines: 2, events: 0, unreadable: 2, formats: { [junk]: 'unrecognised' } });
    expect(junkStats.byReason).toEqual({ [Reason.rawHttp]: 2 });
  });

  it('reads an empty file as empty', async () => {
    const path = file('empty.log', '');
    expect(await readAccessLogs([path], new CollectingSink())).toMatchObject({ lines: 0, events: 0, formats: { [path]: 'empty' } });
  });

  it('throws a LogFileError, before reading anything, for a file that does not exist or is a directory', async () => {
    const sink = new CollectingSink();
    const ok = file('ok.log', combinedLine(1));
    await expect(readAccessLogs([ok, join(dir, 'missing.log')], sink)).rejects.toBeInstanceOf(LogFileError);
    await expect(readAccessLogs([dir], sink)).rejects.toThrow(/cannot read access log/);
    expect(sink.events).toEqual([]);
  });

  it('reads events whose times are in the file, not the read time', async () => {
    const path = file('time.log', apigwLine());
    const sink = new CollectingSink();
    await readAccessLogs([path], sink);
    expect(sink.events[0].time).toBe(T);
  });
});

describe('readAccessLogs on concatenated logs of different formats', () => {
  it('reads lines of another format than the one detected for the file', async () => {
    const lines = [...Array.from({ length: 25 }, (_, i) => combinedLine(i)), apigwLine(), `198.51.100.23,-,-,${T_CLF},GET,/h,HTTP/1.1,200,2,r`];
    const path = file('concatenated.log', lines.join('\n'));
    const stats = await readAccessLogs([path], new CollectingSink());
    expect(stats).toMatchObject({ lines: 27, events: 27, unreadable: 0, formats: { [path]: 'combined' } });
  });
});
