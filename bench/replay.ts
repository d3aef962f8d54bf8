import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config.ts';
import { runReplay } from '../src/pipeline/replay.ts';
import type { TrafficFormat } from '../src/simulate/formats.ts';
import { writeTraffic } from '../src/simulate/traffic.ts';
import { collectGarbage, cpuSince } from './timing.ts';

const round2 = (x: number): number => Math.round(x * 100) / 100;

/**
 * `cordon replay` end to end: file read, format detection, decode, then the deployed stages over in-process twins
 * (ingest, summary records on the summaries twin, detect, contain), SQLite state, output files and the HTML report.
 * One run per file (a second run would start from the first run's SQLite state and be a different workload).
 */
export interface ReplayFigure {
  format: TrafficFormat;
  lines: number;
  events: number;
  fileBytes: number;
  /** Wall-clock seconds of runReplay (file read, pipeline, SQLite, output files, report). */
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
}

export async function replayFigure(format: TrafficFormat, minutes: number, seed: number): Promise<ReplayFigure> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-replay-'));
  try {
    const file = join(dir, `traffic.${format}`);
    await writeTraffic(file, { scenario: 'mixed', minutes, seed, format });
    const labels = (await import(`${file}.labels.json`, { with: { type: 'json' } })).default as { allowlist: string[] };
    collectGarbage();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const s = await runReplay({ files: [file], outDir: join(dir, 'out'), config: parseConfig({ allowlist: { cidrs: labels.allowlist } }) });
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = cpuSince(cpu0) / 1000;
    return { format, lines: s.linesRead, events: s.events, fileBytes: statSync(file).size, seconds: round2(seconds),
      cpuSeconds: round2(cpuSeconds), linesPerSecond: Math.round(s.linesRead / cpuSeconds),
      linesPerWallSecond: Math.round(s.linesRead / seconds), eventsPerSecond: Math.round(s.events / cpuSeconds), blocks: s.blocks,
      unreadable: s.linesUnreadable, summaryRecords: s.streams.summaries?.records ?? 0,
      summaryMb: round2((s.streams.summaries?.bytes ?? 0) / 1e6) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
