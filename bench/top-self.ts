import { readFileSync } from 'node:fs';

/**
 * The functions with the most self time in a V8 .cpuprofile (what `node --cpu-prof` writes), so a profile can be
 * read in a terminal: `node --import tsx bench/top-self.ts FILE [N]`.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}

const [file, topArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const n = byId.get(profile.samples[i])!;
  const dt = profile.timeDeltas[i] ?? 0;
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
  const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25));
for (const [k, us] of top) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);

// With a third argument, who calls that function (by self time below it): `... FILE N functionName`.
const wanted = process.argv[4];
if (wanted && wanted !== 'folders') {
  const parent = new Map<number, number>();
  for (const n of profile.nodes as (ProfileNode & { children?: number[] })[]) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) hits.set(profile.samples[i], (hits.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const chains = new Map<string, number>();
  for (const [id, us] of hits) {
    if (byId.get(id)!.callFrame.functionName !== wanted) continue;
    const chain: string[] = [];
    for (let p = parent.get(id); p !== undefined && chain.length < 6; p = parent.get(p)) chain.push(byId.get(p)!.callFrame.functionName || '(anonymous)');
    const key = chain.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + us);
  }
  console.log(`\ncallers of ${wanted}:`);
  for (const [k, us] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

// With a fourth argument `folders`, self time summed by source folder (src/decode, src/features, …).
if (process.argv[5] === 'folders' || process.argv[4] === 'folders') {
  const byFolder = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const f = byId.get(profile.samples[i])!.callFrame;
    const m = /\/(src\/[^/]+|bench|node_modules\/[^/]+)\//.exec(f.url);
    const folder = m ? m[1] : f.url.startsWith('node:') ? 'node internals' : f.functionName.startsWith('(') ? f.functionName : 'native';
    byFolder.set(folder, (byFolder.get(folder) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  console.log('\nself time by folder:');
  for (const [k, us] of [...byFolder].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
