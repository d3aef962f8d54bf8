import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (bin/ runs before any TypeScript loader), no declarations.
import { bundledCli } from '../../bin/cli-bundle.mjs';
import { writeTraffic } from '../../src/simulate/traffic.ts';
import { cordonProcess, run } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cordon-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bundled = bundledCli as (root?: string) => Promise<string | null>;

/** A project of two sources under `dir/name`, whose main returns `says`. */
function project(name: string, says: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  mkdirSync(join(root, 'src', 'pipeline'), { recursive: true });
  writeFileSync(join(root, 'src', 'pipeline', 'reader-thread.ts'), 'export {};\n');
  writeFileSync(join(root, 'src', 'cli', 'main.ts'), `export const main = (): string => '${says}';\n`);
  return root;
}

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
    const root = project('project', 'first');
    const main = join(root, 'src', 'cli', 'main.ts');
    const stamp = new Date('2026-01-01T00:00:00Z');
    utimesSync(main, stamp, stamp);
    const first = await bundled(root);
    expect(first).not.toBeNull();
    expect((await import(first!) as { main(): string }).main()).toBe('first');
    expect(await bundled(root)).toBe(first);
    // Same size, same modification time: only the content tells, and it does.
    writeFileSync(main, "export const main = (): string => 'other';\n");
    utimesSync(main, stamp, stamp);
    expect(statSync(main).mtimeMs).toBe(stamp.getTime());
    const second = await bundled(root);
    expect(second).not.toBe(first);
    expect((await import(second!) as { main(): string }).main()).toBe('other');
  });

  it('keeps a bundle a command started from, however old, and removes those unused for a week', async () => {
    const root = project('aging', 'one');
    const main = join(root, 'src', 'cli', 'main.ts');
    const weeksAgo = new Date(Date.now() - 14 * 86_400_000);
    const one = fileURLToPath((await bundled(root))!);
    utimesSync(dirname(one), weeksAgo, weeksAgo);
    // A command starts from it (built two weeks ago) ...
    expect(fileURLToPath((await bundled(root))!)).toBe(one);
    writeFileSync(main, "export const main = (): string => 'two';\n");
    const two = fileURLToPath((await bundled(root))!);
    writeFileSync(main, "export const main = (): string => 'three';\n");
    utimesSync(dirname(two), weeksAgo, weeksAgo);
    await bundled(root);
    // ... so the build after it keeps it, while the one nobody started from for two weeks goes.
    expect(existsSync(one)).toBe(true);
    expect(existsSync(two)).toBe(false);
  });

  it('is made once by many commands started at once on an empty cache, each of them using it', async () => {
    const root = project('crowd', 'crowd');
    const loader = pathToFileURL(resolve('bin/cli-bundle.mjs')).href;
    const script = `const { bundledCli } = await import(${JSON.stringify(loader)}); console.log(await bundledCli(${JSON.stringify(root)}));`;
    const runs = await Promise.all(Array.from({ length: 30 }, () => run(process.execPath, ['--input-type=module', '-e', script], dir)));
    const urls = runs.map((r) => r.stdout.trim());
    expect(urls.every((u) => u.startsWith('file:'))).toBe(true);
    expect(new Set(urls).size).toBe(1);
    // No build left behind.
    expect(readdirSync(join(root, 'node_modules', '.cache', 'cordon')).filter((e) => e.endsWith('.tmp'))).toEqual([]);
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

  it('leaves the caller on tsx when the sources cannot be bundled, and tries again only once they change', async () => {
    const root = project('broken', 'x');
    const main = join(root, 'src', 'cli', 'main.ts');
    writeFileSync(main, 'export const main = (: string => 1;\n');
    expect(await bundled(root)).toBeNull();
    const cache = join(root, 'node_modules', '.cache', 'cordon');
    expect(readdirSync(cache).filter((e) => e.endsWith('.failed'))).toHaveLength(1);
    expect(await bundled(root)).toBeNull();
    writeFileSync(main, "export const main = (): string => 'mended';\n");
    const mended = await bundled(root);
    expect((await import(mended!) as { main(): string }).main()).toBe('mended');
  });
});
