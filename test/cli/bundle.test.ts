import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (bin/ runs before any TypeScript loader), no declarations.
import { bundledCli } from '../../bin/cli-bundle.mjs';
import { writeTraffic } from '../../src/simulate/traffic.ts';
import { cordonProcess, run } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cordon-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bundled = bundledCli as (root?: string) => Promise<string | null>;

describe('bin/cordon from its bundle of src/', () => {
  it('replays on two threads as the TypeScript sources do through tsx: the same decisions and counts', async () => {
    const file = join(dir, 'traffic.log');
    await writeTraffic(file, { scenario: 'mixed', minutes: 20, seed: 3, format: 'apigw-json' });
    const allow = (JSON.parse(readFileSync(`${file}.labels.json`, 'utf8')) as { allowlist: string[] }).allowlist;
    const args = (out: string) => ['replay', file, '--out', join(dir, out), '--threads', '2', '--quiet', ...allow.flatMap((c) => ['--allow', c])];
    const fromBundle = await cordonProcess(process.cwd(), ...args('bundle'));
    const throughTsx = await run('env', ['CORDON_NO_BUNDLE=1', process.execPath, 'bin/cordon', ...args('tsx')], process.cwd());
    expect(fromBundle.stderr).toBe('');
    expect([fromBundle.code, throughTsx.code]).toEqual([0, 0]);
    const decisions = (out: string) => readFileSync(join(dir, out, 'decisions.jsonl'), 'utf8');
    expect(decisions('bundle').split('\n').filter((l) => l.includes('"block"')).length).toBeGreaterThan(0);
    expect(decisions('bundle')).toBe(decisions('tsx'));
    const counts = (out: string) => {
      const s = JSON.parse(readFileSync(join(dir, out, 'summary.json'), 'utf8')) as Record<string, unknown>;
      return { lines: s.linesRead, events: s.events, windows: s.windows, late: s.late, streams: s.streams, keys: s.keysTracked };
    };
    expect(counts('bundle')).toEqual(counts('tsx'));
  }, 120_000);

  it('is made again when a source file changes, and never served stale', async () => {
    const root = join(dir, 'project');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'src', 'pipeline'), { recursive: true });
    const main = join(root, 'src', 'cli', 'main.ts');
    writeFileSync(join(root, 'src', 'pipeline', 'reader-thread.ts'), 'export {};\n');
    writeFileSync(main, "export const main = (): string => 'first';\n");
    const first = await bundled(root);
    expect(first).not.toBeNull();
    expect((await import(first!) as { main(): string }).main()).toBe('first');
    expect(await bundled(root)).toBe(first);
    // Same size, a later modification time: still a change.
    writeFileSync(main, "export const main = (): string => 'other';\n");
    utimesSync(main, new Date(), new Date(Date.now() + 5_000));
    const second = await bundled(root);
    expect(second).not.toBe(first);
    expect((await import(second!) as { main(): string }).main()).toBe('other');
  });

  it('is not used when the sources read a file outside src/, which its key does not cover', async () => {
    const root = join(dir, 'outside');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'src', 'pipeline'), { recursive: true });
    mkdirSync(join(root, 'lib'), { recursive: true });
    writeFileSync(join(root, 'lib', 'name.ts'), "export const name = 'outside';\n");
    writeFileSync(join(root, 'src', 'pipeline', 'reader-thread.ts'), 'export {};\n');
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), "import { name } from '../../lib/name.ts';\nexport const main = (): string => name;\n");
    expect(await bundled(root)).toBeNull();
  });

  it('leaves the caller on tsx when the sources cannot be bundled', async () => {
    const root = join(dir, 'broken');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), 'export const main = (: string => 1;\n');
    expect(await bundled(root)).toBeNull();
  });
});
