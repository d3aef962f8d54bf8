import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readAccessLogs } from '../../src/decode/index.ts';
import { describeSharedTools, sharedPath } from '../helpers/shared.ts';
import { CollectingSink } from './fixtures.ts';

const FORMATS = ['apigw-json', 'console-json', 'console-clf', 'combined', 'cwl-kinesis'] as const;
type Generated = { path: string; requests: number };

/** Runs the shared traffic generator; returns the file and how many requests it says it wrote. */
async function generate(dir: string, format: string): Promise<Generated> {
  const path = join(dir, `traffic.${format}`);
  const script = sharedPath('tools', 'apitraffic', 'apitraffic.py');
  const args = [script, '--scenario', 'mixed', '--minutes', '1', '--seed', '7', '--format', format, '--out', path];
  const { stdout, stderr } = await promisify(execFile)('python3', args, { encoding: 'utf8' });
  return { path, requests: Number(/(\d+) requests/.exec(stdout + stderr)?.[1]) };
}

describeSharedTools('apitraffic.py output, every format', () => {
  // The generated files are the suite's fixture: written once, only read by the tests.
  let dir = '';
  const generated = new Map<string, Generated>();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-apitraffic-'));
    const all = await Promise.all(FORMATS.map((format) => generate(dir, format)));
    FORMATS.forEach((format, i) => generated.set(format, all[i]));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['apigw-json', 'apigw-json'],
    ['console-json', 'console-json'],
    ['console-clf', 'console-clf'],
    ['combined', 'combined'],
    ['cwl-kinesis', 'kinesis-records'],
  ])('%s: every request read, detected as %s', async (format, detected) => {
    const { path, requests } = generated.get(format)!;
    expect(requests).toBeGreaterThan(1000);
    const sink = new CollectingSink();
    const stats = await readAccessLogs([path], sink);
    expect(stats.formats[path]).toBe(detected);
    expect(stats.unreadable).toBe(0);
    expect(stats.events).toBe(requests);
    const times = sink.events.map((e) => e.time);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(Date.UTC(2026, 10, 2));
    expect(Math.max(...times)).toBeLessThan(Date.UTC(2026, 10, 2, 0, 2));
  });

  it('apigw-json carries principals, IPv6 clients and latencies; CLF and JSON agree on clients', async () => {
    const json = new CollectingSink();
    const clf = new CollectingSink();
    await readAccessLogs([generated.get('apigw-json')!.path], json);
    await readAccessLogs([generated.get('console-clf')!.path], clf);
    expect(json.events.some((e) => e.principal !== '')).toBe(true);
    expect(json.events.some((e) => e.ip.includes(':'))).toBe(true);
    expect(json.events.every((e) => e.latencyMs >= 0)).toBe(true);
    expect(clf.events.map((e) => [e.ip, e.status, e.time])).toEqual(json.events.map((e) => [e.ip, e.status, Math.floor(e.time / 1000) * 1000]));
  });
});
