import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explain } from '../../src/cli/explain.ts';
import { decisions, horizonDecision } from '../report/fixture.ts';

/** `cordon explain`: each finding with the horizon that decided it, said once. */
describe('cordon explain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-explain-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the horizon beside the rule of a finding judged over ten minutes or an hour, not again in its detail', () => {
    const findings = explain(horizonDecision()).split('\n').filter((l) => l.startsWith('  - '));
    expect(findings).toEqual([
      '  - path-scan (over the last hour): score 1.6: 24 distinct missing paths, 27 of 31 requests answered 404',
      '  - auth-failures (over the last 10 minutes): score 1.2: 12 failed logins, 12 of 15 requests refused with 401/403',
      "  - scanner-agent: score 1: 1 of 4 requests sent with an attack tool's user agent",
    ]);
  });

  it('leaves a finding on its window alone as it was', () => {
    const scan = decisions().find((d) => d.target === '203.0.113.66' && d.action === 'block')!;
    expect(explain(scan).split('\n')[2]).toBe('  - path-scan: score 7.3: 402 distinct 404 paths (97% of 690 requests are 404)');
  });

  it('shows a horizon it does not know through the detail only (stored by another release)', () => {
    const d = horizonDecision();
    d.evidence.findings = [{ ...d.evidence.findings[0], horizon: '1d' as never, detail: 'over the last day: 40 distinct missing paths' }];
    expect(explain(d).split('\n')[2]).toBe('  - path-scan: score 1.6: over the last day: 40 distinct missing paths');
  });

  it('prints it from decisions.jsonl through the command', () => {
    const out = join(dir, 'out');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'decisions.jsonl'), [...decisions(), horizonDecision()].map((d) => JSON.stringify(d)).join('\n') + '\n');
    const r = spawnSync(process.execPath, [resolve('bin/cordon'), 'explain', '203.0.113.9', '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('  - path-scan (over the last hour): score 1.6: 24 distinct missing paths');
    expect(r.stdout).toContain('  - auth-failures (over the last 10 minutes): score 1.2: 12 failed logins');
    expect(r.stdout.match(/over the last hour/g)).toHaveLength(1);
    expect(r.stdout.match(/over the last 10 minutes/g)).toHaveLength(1);
  });
});
