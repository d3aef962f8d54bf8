import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { overlaps } from '../../src/net/cidr.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import type { Labels } from '../../src/simulate/labels.ts';
import { parseDecisionLines } from '../../src/simulate/score.ts';
import { writeTraffic } from '../../src/simulate/traffic.ts';

/**
 * Widening never covers an allowlisted range: the /64 hopper's /48 holds an allowlisted /64 (a partner's office in the
 * same provider block), so the /48 is held as an alert and never written to WAF; what the hopper did is still seen.
 */
describe('a /48 that holds an allowlisted /64 is never blocked', () => {
  it('the hopper\'s /48 is held; no enforced block touches the allowlisted /64', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-wide-allow-'));
    const traffic = join(dir, 'traffic.log');
    const gen = await writeTraffic(traffic, { scenario: 'low-and-slow', minutes: 60, seed: 1, format: 'apigw-json', params: { rate: 5 } });
    const labels = JSON.parse(readFileSync(gen.labelsPath, 'utf8')) as Labels;
    const hopper = labels.attackers.find((a) => a.kind === 'ipv6-prefix-hopper')!;
    const wide = hopper.prefix!;
    expect(wide).toMatch(/\/48$/);
    const partner = `${wide.slice(0, wide.indexOf('::'))}:ffff::/64`;
    const run = async (allow: string[]) => {
      const out = join(dir, `out-${allow.length}`);
      await runReplay({ files: [traffic], outDir: out, config: parseConfig({ allowlist: { cidrs: allow } }) });
      return parseDecisionLines(readFileSync(join(out, 'decisions.jsonl'), 'utf8')).decisions;
    };
    const plain = await run(labels.allowlist);
    expect(plain.some((d) => d.action === 'block' && d.target === wide)).toBe(true);
    const guarded = await run([...labels.allowlist, partner]);
    const touching = guarded.filter((d) => d.action === 'block' && d.target.includes(':') && overlaps(d.target, partner));
    expect(touching.map((d) => d.target)).toEqual([]);
    expect(guarded.some((d) => d.action === 'alert' && d.target === wide)).toBe(true);
  }, 120_000);
});
