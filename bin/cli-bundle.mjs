// The CLI as one bundle of src/, made by esbuild on first use and kept in node_modules/.cache/cordon/<sources' key>/.
// Loading the TypeScript through tsx's hooks costs every command about 0.4 s (each module a round trip to the loader
// thread); the bundle saves most of that (`cordon --help`: 0.32 s against 0.56 s) and is remade, in about 0.1 s,
// whenever a file of src/ (or the TypeScript and package settings, or esbuild) changes. The reading thread of a
// threaded replay is bundled beside it under the name src/pipeline/threaded-read.ts looks for. Any failure (no
// esbuild, a read-only install, sources that do not bundle) leaves the caller on tsx: this only ever changes how fast,
// not what.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cordonRoot = dirname(dirname(fileURLToPath(import.meta.url)));
/** A bundle no command has started from for this long is removed when another is made (a run loads its files early). */
const UNUSED_FOR_MS = 7 * 24 * 3_600_000;

/**
 * The URL of the bundled CLI module of the project at `root` (built if missing), or null when it cannot be had (or
 * CORDON_NO_BUNDLE is set).
 */
export async function bundledCli(root = cordonRoot) {
  if (process.env.CORDON_NO_BUNDLE) return null;
  try {
    const src = join(root, 'src');
    const cache = join(root, 'node_modules', '.cache', 'cordon');
    const key = sourcesKey(root, src);
    const dir = join(cache, key);
    const main = join(dir, 'main.mjs');
    // Sources that did not bundle are not tried again until they change: each command would pay for esbuild first.
    if (existsSync(join(cache, `${key}.failed`))) return null;
    if (existsSync(main)) {
      // Marks it in use, so that no other build removes it as unused while this run may still load its chunks.
      const now = new Date();
      utimesSync(dir, now, now);
    } else if (!(await build(src, cache, dir))) {
      writeFileSync(join(cache, `${key}.failed`), '');
      return null;
    }
    return pathToFileURL(main).href;
  } catch {
    return null;
  }
}

/**
 * A digest of everything that shapes the bundle: every source file (path and content), the TypeScript and package
 * settings esbuild reads, esbuild's version, this file, and the Node version.
 */
function sourcesKey(root, src) {
  const h = createHash('sha256');
  h.update(`${process.version}\0`);
  for (const f of [fileURLToPath(import.meta.url), join(root, 'tsconfig.json'), join(root, 'package.json'),
    join(root, 'node_modules', 'esbuild', 'package.json')]) {
    h.update(`${f}\0`);
    if (existsSync(f)) h.update(readFileSync(f));
  }
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${p}\0`).update(readFileSync(p)).update('\0');
    }
  };
  walk(src);
  return h.digest('hex').slice(0, 16);
}

/**
 * Builds into a folder of its own, then renames it into place: a concurrent build of the same key loses nothing.
 * False when the sources do not bundle (a syntax error: tsx reports it) or read a file outside src/.
 */
async function build(src, cache, dir) {
  const { build: esbuild } = await import('esbuild');
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let metafile;
  try {
    ({ metafile } = await esbuild({
      entryPoints: { main: join(src, 'cli', 'main.ts'), 'reader-thread-entry': join(src, 'pipeline', 'reader-thread.ts') },
      outdir: tmp, outExtension: { '.js': '.mjs' }, bundle: true, splitting: true, format: 'esm', platform: 'node',
      target: `node${process.versions.node.split('.')[0]}`, packages: 'external', logLevel: 'silent', metafile: true,
      // Stacks of internal errors name the TypeScript files and lines, as they do through tsx (bin/cordon turns
      // source maps on).
      sourcemap: 'linked', absWorkingDir: dirname(src),
    }));
  } catch {
    rmSync(tmp, { recursive: true, force: true });
    return false;
  }
  // The key covers src/ alone: a bundle that took in a file from elsewhere could go stale unseen, so it is not used.
  if (Object.keys(metafile.inputs).some((f) => !f.startsWith('src/'))) {
    rmSync(tmp, { recursive: true, force: true });
    return false;
  }
  try {
    renameSync(tmp, dir);
  } catch {
    // Another process put the same bundle in place first.
    rmSync(tmp, { recursive: true, force: true });
  }
  removeUnused(cache, dir);
  return true;
}

/** Bundles of earlier sources no command has started from for a week, and builds that died, go. */
function removeUnused(cache, keep) {
  const before = Date.now() - UNUSED_FOR_MS;
  for (const e of readdirSync(cache)) {
    const p = join(cache, e);
    try {
      // (Another process may remove the same entry at the same moment: that is no failure of this one.)
      if (p !== keep && statSync(p).mtimeMs < before) rmSync(p, { recursive: true, force: true });
    } catch {
      // Left for the next build.
    }
  }
}
