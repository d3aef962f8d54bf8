import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { runRehearse, type RehearseSummary } from '../../src/rehearse/rehearse.ts';
import { acceptanceProblems, generate, type PyScore, scoreRun } from '../helpers/apitraffic.ts';
import { hostileTraffic } from '../helpers/hostile-traffic.ts';
import { describeSharedTools } from '../helpers/shared.ts';

/**
 * `cordon rehearse` on apitraffic: the deployed stages on a simulated AWS clock, delays drawn from
 * src/rehearse/delivery-model.ts. Times to contain are wall clock, from an attack's first request to its block in
 * effect (WAF propagated). Each run is 30 minutes of traffic to keep CI short; README gives 60-minute figures.
 */

const score = scoreRun;

/**
 * The 30-minute apigw-json traffic of a scenario and seed, generated once per file: the mixed seed 8 traffic is
 * rehearsed on two shards and on four. Read only (the test that cuts its traffic short generates its own).
 */
const generated = new Map<string, ReturnType<typeof generate>>();
function traffic(scenario: string, seed: number): ReturnType<typeof generate> {
  const key = `${scenario} ${seed}`;
  let g = generated.get(key);
  if (!g) generated.set(key, (g = generate(scenario, seed, 'apigw-json', 30)));
  return g;
}

async function rehearse(g: { traffic: string; labels: string; dir: string }, seed: number, extra: { shards?: number; laggingShardSeconds?: number } = {}) {
  const allow = (JSON.parse(readFileSync(g.labels, 'utf8')) as { allowlist: string[] }).allowlist;
  const out = join(g.dir, `rehearse-${seed}-${extra.shards ?? 2}-${extra.laggingShardSeconds ?? 0}`);
  const summary = await runRehearse({ files: [g.traffic], outDir: out, config: parseConfig({ allowlist: { cidrs: allow } }), seed, ...extra });
  return { summary, score: score(g.labels, join(out, 'decisions.jsonl')) };
}

/** Safety and containment; time is judged over the pooled runs (a median of 6 attackers is not a figure). */
function safetyProblems(s: PyScore): string[] {
  return acceptanceProblems(s).filter((p) => !p.includes('time to contain'));
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
}

describeSharedTools('rehearse: the deployed path on a simulated AWS clock', () => {
  // Twelve seeds, 72 attackers (the slow scanner included, though the target is for fast attacks): a 95th percentile
  // needs a sample whose tail is more than two values. Seeds 5–8 alone put it at 241 s, their second-slowest WAF
  // propagation draw; 40 seeds of 30 and of 60 minutes through `cordon rehearse` put it near 150 s (README).
  it('mixed traffic, twelve seeds: every attacker contained, no false block; median ≤ 120 s and p95 ≤ 240 s to a block in effect, cordon\'s share ≤ 120 s', async () => {
    const times: number[] = [];
    let cordonWorst = 0;
    for (let seed = 5; seed <= 16; seed++) {
      const { score: s, summary } = await rehearse(traffic('mixed', seed), seed);
      expect(safetyProblems(s)).toEqual([]);
      expect(summary.late.dropped).toBe(0);
      expect(summary.delivery.toFailureQueue).toBe(0);
      expect(summary.streams['access-logs'].records).toBeGreaterThan(0);
      expect(summary.streams.summaries.bytes).toBeGreaterThan(0);
      for (const a of s.per_attacker) {
        times.push(a.time_to_contain_s!);
        if (a.time_to_contain_s! > 200) console.log(`[rehearse] seed ${seed} ${a.kind}: ${a.time_to_contain_s} s`);
      }
      cordonWorst = Math.max(cordonWorst, summary.timeToApplySeconds.worst!);
      // Only seed 8 is rehearsed again (on four shards below): the others' traffic (70 MB each) is let go now.
      if (seed !== 8) {
        rmSync(traffic('mixed', seed).dir, { recursive: true, force: true });
        generated.delete(`mixed ${seed}`);
      }
    }
    console.log(`[rehearse] mixed, 12 seeds, ${times.length} attackers: median ${quantile(times, 0.5)} s, p95 ${quantile(times, 0.95)} s, worst ${Math.max(...times)} s; cordon's share worst ${cordonWorst} s`);
    expect(times).toHaveLength(72);
    expect(quantile(times, 0.5)).toBeLessThanOrEqual(120);
    // The tail is WAF's own propagation ("a few seconds to a number of minutes": p95 150 s, at most 10 min in the
    // model), drawn per IP set write, on top of cordon's share.
    expect(quantile(times, 0.95)).toBeLessThanOrEqual(240);
    // From an attack's first request to cordon's write accepted: every one, not just the 95th.
    expect(cordonWorst).toBeLessThanOrEqual(120);
  }, 900_000);

  it('benign and flash-crowd traffic: no block at all on the innocent', async () => {
    for (const scenario of ['benign', 'flash-crowd']) {
      const { score: s } = await rehearse(traffic(scenario, 7), 7);
      expect(safetyProblems(s)).toEqual([]);
    }
  }, 240_000);

  it('four shards, one 90 s behind: nothing dropped, every attacker contained', async () => {
    const { score: s, summary } = await rehearse(traffic('mixed', 8), 8, { shards: 4, laggingShardSeconds: 90 });
    expect(safetyProblems(s)).toEqual([]);
    expect(summary.late.dropped).toBe(0);
    expect(summary.late.folded).toBeGreaterThan(0); // the lagging shard's data arrived late, and counted
    expect(summary.delivery.toFailureQueue).toBe(0);
  }, 240_000);

  it('the whole stream ten minutes behind (a consumer catching up): late, not silent; every attacker contained, ten minutes later', async () => {
    const { score: s, summary } = await rehearse(traffic('mixed', 8), 8, { shards: 1, laggingShardSeconds: 600 });
    expect(safetyProblems(s)).toEqual([]);
    expect(summary.late.dropped).toBe(0);
    // The tick no longer closes windows ahead of their data: what comes late is what comes late on time too, not all of it.
    expect(summary.late.folded).toBeLessThan(20_000);
    console.log(`[rehearse] whole stream 600 s behind: folded ${summary.late.folded}; ${s.per_attacker.map((a) => `${a.kind} ${a.time_to_contain_s} s`).join(", ")}; cordon's share worst ${summary.timeToApplySeconds.worst} s`);
    // cordon's share is the lag and its usual share on top (the total adds WAF's propagation draw).
    expect(summary.timeToApplySeconds.worst!).toBeLessThanOrEqual(600 + 120);
  }, 240_000);

  it('a log that ends two minutes after an attack starts: the attack is still contained (the clock closes its window)', async () => {
    const g = generate('mixed', 9, 'apigw-json', 30);
    const labels = JSON.parse(readFileSync(g.labels, 'utf8')) as { attackers: { kind: string; start: number; end: number }[] };
    const flood = labels.attackers.find((a) => a.kind === 'flood')!;
    const cut = flood.start + 120_000;
    const lines = readFileSync(g.traffic, 'utf8').trim().split('\n').filter((l) => (JSON.parse(l) as { requestTimeEpoch: number }).requestTimeEpoch < cut);
    writeFileSync(g.traffic, lines.join('\n') + '\n');
    labels.attackers = labels.attackers.filter((a) => a.start < cut).map((a) => ({ ...a, end: Math.min(a.end, cut) }));
    writeFileSync(g.labels, JSON.stringify(labels));
    const { score: s, summary } = await rehearse(g, 9);
    expect(Date.parse(summary.logEnd!)).toBeLessThan(cut);
    const flooded = s.per_attacker.find((a) => a.kind === 'flood')!;
    expect(flooded.contained).toBe(true);
    expect(flooded.time_to_contain_s!).toBeLessThanOrEqual(240);
    expect(safetyProblems(s)).toEqual([]);
  }, 240_000);

  it('a line decades ahead and a /24 of long random paths: every line read or counted, no batch failed, every attacker contained', async () => {
    const g = hostileTraffic(31);
    const { score: s, summary } = await rehearse(g, 31);
    const checks: Partial<RehearseSummary> = { linesUnreadable: 0 };
    expect(summary).toMatchObject(checks);
    expect(summary.late.clamped).toBeGreaterThanOrEqual(g.absurdLines);
    expect(summary.delivery).toMatchObject({ retried: 0, bisected: 0, toFailureQueue: 0 });
    expect(safetyProblems(s)).toEqual([]);
    expect(s.per_attacker.every((a) => a.contained)).toBe(true);
  }, 240_000);
});
