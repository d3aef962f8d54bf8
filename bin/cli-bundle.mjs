// The CLI as one bundle of src/, made by esbuild on first use and kept in node_modules/.cache/cordon/<sources' key>/.
// Loading the TypeScript through tsx's hooks costs every command about 0.4 s (each module a round trip to the loader
// thread); the bundle saves most of that (`cordon --help`: 0.32 s against 0.56 s) and is remade, in about 0.1 s,
// whenever a file of src/ changes. The reading thread of a threaded replay is bundled beside it under the name
// src/pipeline/threaded-read.ts looks for. Any failure (no esbuild, a read-only install) leaves the caller on tsx:
// this only ever changes how fast, not what.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cordonRoot = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * The URL of the bundled CLI module of the project at `root` (built if missing), or null when it cannot be had (or
 * CORDON_NO_BUNDLE is set).
 */
export async function bundledCli(root = cordonRoot) {
  if (process.env.CORDON_NO_BUNDLE) return null;
  try {
    const src = join(root, 'src');
    const cache = join(root, 'node_modules', '.cache', 'cordon');
    const dir = join(cache, sourcesKey(src));
    const main = join(dir, 'main.mjs');
    if (!exists(main)) await build(src, cache, dir);
    return pathToFileURL(main).href;
  } catch {
    return null;
  }
}

/** A digest of every source file's path, size and modification time, and of this file and the Node version. */
function sourcesKey(src) {
  const h = createHash('sha256');
  h.update(`${process.version}\0${statSync(fileURLToPath(import.meta.url)).mtimeMs}\0`);
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        h.update(`${p}\0${s.size}\0${s.mtimeMs}\0`);
      }
    }
  };
  walk(src);
  return h.digest('hex').slice(0, 16);
}

function exists(p) {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Builds into a folder of its own, then renames it into place: a concurrent build of the same key loses nothing. */
async function build(src, cache, dir) {
  const { build: esbuild } = await import('esbuild');
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const { metafile } = await esbuild({
    entryPoints: { main: join(src, 'cli', 'main.ts'), 'reader-thread-entry': join(src, 'pipeline', 'reader-thread.ts') },
    outdir: tmp, outExtension: { '.js': '.mjs' }, bundle: true, splitting: true, format: 'esm', platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`, packages: 'external', logLevel: 'silent', metafile: true,
    absWorkingDir: dirname(src),
  });
  // The key covers src/ alone: a bundle that took in a file from elsewhere could go stale unseen, so it is not used.
  const outside = Object.keys(metafile.inputs).filter((f) => !f.startsWith('src/'));
  if (outside.length) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`bundle reads files outside src/: ${outside.join(', ')}`);
  }
  try {
    renameSync(tmp, dir);
  } catch {
    // Another process put the same bundle in place first.
    rmSync(tmp, { recursive: true, force: true });
  }
  // Bundles of earlier sources (and builds that died) are of no more use, once no run started from one can still need
  // its files (a replay's reading thread loads its own at start).
  const stale = Date.now() - 3_600_000;
  for (const e of readdirSync(cache)) {
    const p = join(cache, e);
    if (p !== dir && statSync(p).mtimeMs < stale) rmSync(p, { recursive: true, force: true });
  }
}
