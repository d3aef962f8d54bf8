import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config.ts';
import { runReplay } from '../src/pipeline/replay.ts';
import type { TrafficFormat } from '../src/simulate/formats.ts';
import { writeTraffic } from '../src/simulate/traffic.ts';
import { collectGarbage, cpuSince } from './timing.ts';

const round2 = (x: number): number => Math.round(x * 100) / 100;

/**
 * `cordon replay` end to end: file read, format detection, decode, then the deployed stages over in-process twins
 * (ingest, summary records on the summaries twin, detect, contain), SQLite state, output files and the HTML report.
 * One run per file and thread count, each from a fresh SQLite state.
 */
export interface ReplayFigure {
  format: TrafficFormat;
  /** Threads of the replay: 1, or 2 (read, decode and ingest on a second thread; detect and contain on the main). */
  threads: 1 | 2;
  lines: number;
  events: number;
  fileBytes: number;
  /** Wall-clock seconds of runReplay (file read, pipeline, SQLite, output files, report): one run. */
  seconds: number;
  cpuSeconds: number;
  /** Per CPU-second (see timing.ts). */
  linesPerSecond: number;
  linesPerWallSecond: number;
  eventsPerSecond: number;
  blocks: number;
  unreadable: number;
  /** Records and MB put on the summaries stream between ingest and detect (uncompressed JSON in a replay). */
  summaryRecords: number;
  summaryMb: number;
  /**
   * The floor, same file, same run: one thread reading its lines and JSON.parse'ing each, nothing else (lines per
   * wall second). Only for line-per-request JSON files.
   */
  floorLinesPerSecond?: number;
  /**
   * `cordon replay` as a user runs it, a whole process (Node's start, the modules, the reading thread's start, the
   * outputs): wall seconds and lines per wall second, best of two. Only for line-per-request JSON files.
   */
  process?: ProcessFigure;
}

export interface ProcessFigure {
  seconds: number;
  linesPerSecond: number;
  /** The same command over the file's first START_LINES lines: what every replay pays whatever its length. */
  startSeconds: number;
  /** Lines per wall second past that start: (lines − START_LINES) / (seconds − startSeconds). */
  steadyLinesPerSecond: number;
}

/** Figures of a replay of `minutes` of traffic on one thread and on two, with the JSON.parse floor of the same file. */
export async function replayFigures(format: TrafficFormat, minutes: number, seed: number): Promise<ReplayFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-replay-'));
  try {
    const file = join(dir, `traffic.${format}`);
    await writeTraffic(file, { scenario: 'mixed', minutes, seed, format });
    const labels = (await import(`${file}.labels.json`, { with: { type: 'json' } })).default as { allowlist: string[] };
    const floor = format === 'apigw-json' ? await jsonParseFloor(file) : undefined;
    const out: ReplayFigure[] = [];
    for (const threads of [1, 2] as const) {
      collectGarbage();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const s = await runReplay({ files: [file], outDir: join(dir, `out-${threads}`), threads,
        config: parseConfig({ allowlist: { cidrs: labels.allowlist } }) });
      const seconds = (performance.now() - t0) / 1000;
      // Both threads' CPU: process.cpuUsage is the process's.
      const cpuSeconds = cpuSince(cpu0) / 1000;
      out.push({ format, threads, lines: s.linesRead, events: s.events, fileBytes: statSync(file).size, seconds: round2(seconds),
        cpuSeconds: round2(cpuSeconds), linesPerSecond: Math.round(s.linesRead / cpuSeconds),
        linesPerWallSecond: Math.round(s.linesRead / seconds), eventsPerSecond: Math.round(s.events / cpuSeconds), blocks: s.blocks,
        unreadable: s.linesUnreadable, summaryRecords: s.streams.summaries?.records ?? 0,
        summaryMb: round2((s.streams.summaries?.bytes ?? 0) / 1e6), floorLinesPerSecond: floor });
    }
    if (format === 'apigw-json') {
      const head = join(dir, `head.${format}`);
      await writeHead(file, head, START_LINES);
      for (const f of out) f.process = processFigure(file, head, f.threads, f.lines, labels.allowlist, dir);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lines of the short replay that measures a whole process's fixed start. */
const START_LINES = 2_000;
const CORDON = fileURLToPath(new URL('../bin/cordon', import.meta.url));

/** `cordon replay` of `file` as its own process (best of two), and of its first lines, on `threads` threads. */
function processFigure(file: string, head: string, threads: 1 | 2, lines: number, allow: string[], dir: string): ProcessFigure {
  const run = (input: string): number => {
    let best = Infinity;
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [CORDON, 'replay', input, '--out', join(dir, 'out-process'), '--threads', String(threads), '--quiet',
        ...allow.flatMap((c) => ['--allow', c])], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`cordon replay exited ${r.status}: ${r.stderr.toString().slice(0, 500)}`);
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    return best;
  };
  const seconds = run(file);
  const startSeconds = run(head);
  return { seconds: round2(seconds), linesPerSecond: Math.round(lines / seconds), startSeconds: round2(startSeconds),
    steadyLinesPerSecond: Math.round((lines - START_LINES) / Math.max(seconds - startSeconds, 1e-3)) };
}

/** The first `lines` lines of `file` into `to` (read as a stream: the file may be larger than a string can be). */
async function writeHead(file: string, to: string, lines: number): Promise<void> {
  const out: string[] = [];
  const input = createReadStream(file);
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    out.push(line);
    if (out.length === lines) break;
  }
  input.destroy();
  writeFileSync(to, out.join('\n') + '\n');
}

/** Lines per wall second of one thread that reads the file's lines and JSON.parses each (nothing kept). */
async function jsonParseFloor(file: string): Promise<number> {
  collectGarbage();
  const t0 = performance.now();
  let n = 0;
  let sink = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line) continue;
    sink += (JSON.parse(line) as { status?: number }).status ?? 0;
    n++;
  }
  if (sink === 0) throw new Error('floor optimised away');
  return Math.round(n / ((performance.now() - t0) / 1000));
}
