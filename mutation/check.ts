// Reads Stryker's JSON report and holds each folder to its threshold (mutation/thresholds.json).
// Score = killed / (killed + survived + no coverage), as in the issue; timeouts count as killed, as Stryker does.
import { readFileSync } from 'node:fs';

interface Mutant { status: string; id: string; mutatorName: string; replacement?: string; location: { start: { line: number } } }
interface Report { files: Record<string, { mutants: Mutant[] }> }

const report = JSON.parse(readFileSync(process.argv[2] ?? 'reports/mutation/mutation.json', 'utf8')) as Report;
const thresholds = JSON.parse(readFileSync(new URL('./thresholds.json', import.meta.url), 'utf8')) as Record<string, number>;

interface Tally { killed: number; survived: number; noCoverage: number; ignored: number }
const byFolder = new Map<string, Tally>();
const byFile = new Map<string, Tally>();
const bump = (map: Map<string, Tally>, key: string, status: string): void => {
  const t = map.get(key) ?? { killed: 0, survived: 0, noCoverage: 0, ignored: 0 };
  if (status === 'Killed' || status === 'Timeout') t.killed++;
  else if (status === 'Survived') t.survived++;
  else if (status === 'NoCoverage') t.noCoverage++;
  else t.ignored++;
  map.set(key, t);
};
for (const [file, { mutants }] of Object.entries(report.files)) {
  const rel = file.replace(/^.*?(src\/)/, '$1');
  const folder = rel.split('/').slice(0, 2).join('/');
  for (const m of mutants) { bump(byFolder, folder, m.status); bump(byFile, rel, m.status); }
}
const score = (t: Tally): number => (100 * t.killed) / Math.max(1, t.killed + t.survived + t.noCoverage);
let failed = false;
console.log('| folder | mutants | killed | survived | no coverage | score | threshold |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [folder, t] of [...byFolder].sort()) {
  const bar = thresholds[folder];
  const s = score(t);
  if (bar !== undefined && s < bar) failed = true;
  console.log(`| ${folder} | ${t.killed + t.survived + t.noCoverage} | ${t.killed} | ${t.survived} | ${t.noCoverage} | ${s.toFixed(1)}% | ${bar ?? '-'}% |`);
}
console.log('\nby file:');
for (const [file, t] of [...byFile].sort()) console.log(`  ${file.padEnd(40)} ${score(t).toFixed(1).padStart(5)}%  (${t.survived} survived, ${t.noCoverage} no coverage)`);
if (failed) { console.error('\nmutation score below a folder threshold'); process.exit(1); }
