import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import { describeSharedData, sharedPath } from '../helpers/shared.ts';

/**
 * Every real log under shared/data is read without a crash (unreadable lines counted, with reasons), and the clear
 * attackers its README names are blocked while the ordinary crawlers of the elastic sample are not.
 */

/**
 * One replay of a log (a path under shared/data, or absolute) with the default config, into a fresh folder: run once
 * per file, and read by the test that reads every file and by the test of that log's attackers.
 */
const replays = new Map<string, ReturnType<typeof replayFile>>();
function replay(file: string): ReturnType<typeof replayFile> {
  const path = isAbsolute(file) ? file : sharedPath('data', file);
  let r = replays.get(path);
  if (!r) replays.set(path, (r = replayFile(path)));
  return r;
}

async function replayFile(path: string) {
  const out = mkdtempSync(join(tmpdir(), 'cordon-real-'));
  const summary = await runReplay({ files: [path], outDir: out, config: parseConfig({}) });
  const decisions = readFileSync(join(out, 'decisions.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision);
  const blocked = new Set(decisions.filter((d) => d.action === 'block').map((d) => d.target));
  return { summary, decisions, blocked };
}

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? allFiles(p) : name === 'README.md' ? [] : [p];
  });
}

describeSharedData('real access logs (shared/data)', () => {
  it('reads every file without a crash and accounts for every line', async () => {
    const files = allFiles(sharedPath('data'));
    expect(files.length).toBeGreaterThanOrEqual(13);
    for (const f of files) {
      const { summary: s } = await replay(f);
      const unreadable = Object.values(s.unreadableByReason).reduce((a, b) => a + b, 0);
      expect(unreadable, f).toBe(s.linesUnreadable);
      expect(s.linesRead, f).toBeGreaterThan(0);
      if (s.linesUnreadable) expect(s.unreadableSamples.length, f).toBeGreaterThan(0);
      console.log(`${f.split('/data/')[1]}: ${s.linesRead} lines, ${s.events} events, ${s.linesUnreadable} unreadable, ${s.blocks} blocks`);
    }
  }, 240_000);

  it('blocks the Joomla login brute force (almhuette)', async () => {
    const r = await replay('almhuette_raith_2019-10_tail10k.log.gz');
    expect(r.blocked).toContain('193.106.31.130');
    const first = r.decisions.find((d) => d.target === '193.106.31.130' && d.action === 'block')!;
    expect(first.reasons).toContain('login-bruteforce');
  });

  it('blocks the python-requests scraper flood (secrepo 2018-12-15)', async () => {
    const r = await replay('secrepo/access-2018-12-15.log');
    expect(r.blocked).toContain('198.72.227.213');
  });

  it.each([
    ['dvwa_scanners/acunetix.txt.gz', '192.168.4.25'],
    ['dvwa_scanners/netsparker.txt.gz', '192.168.4.164'],
    ['dvwa_scanners/w3af.txt.gz', '192.168.4.163'],
  ])('blocks the scanner run %s', async (file, scanner) => {
    const r = await replay(file);
    expect(r.blocked).toContain(scanner);
  });

  it('blocks the heaviest honeypot scanners', async () => {
    const r = await replay('honeynet_redhat71_2004/httpd_access_log_2004-04-21_to_2004-10-11.log.gz');
    expect(r.blocked).toContain('63.126.133.22');
    expect(r.blocked).toContain('82.82.97.119');
  });

  it('leaves the ordinary crawlers and visitors of the elastic sample alone', async () => {
    const r = await replay('elastic_examples_apache_logs.gz');
    expect(r.summary.events).toBe(10_000);
    expect([...r.blocked]).toEqual([]);
  });
});
