import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, cordonHere, cordonProcess, run } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cordon-cli-'));
const out = join(dir, 'out');
const traffic = join(dir, 'traffic.log');

/**
 * Every command runs here as bin/cordon, a process of its own. A second error of a command already seen failing as a
 * process runs its `main` in this process instead (the same code, without a process start: test/helpers/cli.ts).
 */
const cordon = (...args: string[]) => cordonProcess(dir, ...args);

// The replay's output folder (beforeAll) is read by the tests and changed by none: a test that changes one works on a copy.
const decisions = (folder = out) => readFileSync(join(folder, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const v4Addresses = (folder = out) =>
  (JSON.parse(readFileSync(join(folder, 'waf-ipset-v4.json'), 'utf8')) as { Addresses: string[] }[]).flatMap((s) => s.Addresses);

describe('the cordon command', () => {
  beforeAll(async () => {
    const sim = await cordon('simulate', '--scenario', 'mixed', '--minutes', '20', '--seed', '4', '--out', traffic);
    expect(sim.code, sim.stderr).toBe(0);
    const r = await cordon('replay', traffic, '--out', out, '--allow', '10.20.0.0/24');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/BLOCK/);
    expect(r.stdout).toMatch(/report: .*report\.html/);
  }, 180_000);

  it('replay into a pipe whose reader stops early (`| head -1`): exits 0 and still writes every output', async () => {
    const piped = join(dir, 'piped');
    const r = await run('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" replay "${traffic}" --out "${piped}" --allow 10.20.0.0/24 | head -n 1`], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE/);
    expect(decisions(piped)).toEqual(decisions());
    expect(existsSync(join(piped, 'report.html'))).toBe(true);
  }, 180_000);

  it('rehearse: the same traffic on a simulated AWS clock; decisions stamped when in effect, later than replay\'s', async () => {
    const rout = join(dir, 'rehearsal');
    const r = await cordon('rehearse', traffic, '--out', rout, '--allow', '10.20.0.0/24', '--seed', '3', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/block in effect: median \d/);
    const summary = JSON.parse(readFileSync(join(rout, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ mode: 'rehearse', seed: 3, shards: 2, linesUnreadable: 0 });
    expect(summary.timeToContainSeconds.blocks).toBeGreaterThan(0);
    expect(summary.streams['access-logs'].records).toBeGreaterThan(0);
    expect(summary.delays.length).toBeGreaterThan(5);
    const replayed = new Map(decisions().filter((x) => x.action === 'block').map((x) => [x.target, Date.parse(x.time)]));
    const rehearsed = readFileSync(join(rout, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      .filter((x) => x.action === 'block');
    expect(new Set(rehearsed.map((x) => x.target))).toEqual(new Set(replayed.keys()));
    // Rehearse stamps a block when it is in effect: after the moment it was decided (an early decision says how far
    // into its window; otherwise the window's end), after delivery, contain and WAF.
    for (const x of rehearsed) {
      const early = /^unmistakable, (\d+) s into the window$/.exec(x.evidence.held ?? '');
      const decidedAt = early ? x.evidence.windowStart + Number(early[1]) * 1000 : x.evidence.windowEnd;
      expect(Date.parse(x.time), x.target).toBeGreaterThan(decidedAt);
    }
    // Replay stamps a decision in log time, at the end of the pass (30 s of log) that held the evidence: rehearse's
    // delivery and WAF's propagation come later than that on the whole.
    const lag = rehearsed.map((x) => Date.parse(x.time) - replayed.get(x.target)!).sort((a, b) => a - b);
    expect(lag[Math.floor(lag.length / 2)]).toBeGreaterThan(0);
  }, 180_000);

  it('rehearse --summary-wire-level 1 to 4 and auto, --ingest-batching-window 10: the same blocks, a smaller summaries stream each; a level or window it does not know is refused', async () => {
    const level = async (n: string, window = '2') => {
      const rout = join(dir, `rehearsal-level-${n}-${window}`);
      const r = await cordon('rehearse', traffic, '--out', rout, '--allow', '10.20.0.0/24', '--seed', '3', '--quiet', '--summary-wire-level', n,
        '--ingest-batching-window', window);
      expect(r.code, r.stderr).toBe(0);
      const summary = JSON.parse(readFileSync(join(rout, 'summary.json'), 'utf8'));
      const blocked = readFileSync(join(rout, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; target: string })
        .filter((x) => x.action === 'block').map((x) => x.target).sort();
      return { summary, blocked };
    };
    const [one, two, three, four, auto] = [await level('1'), await level('2'), await level('3'), await level('4'), await level('auto')];
    // Ingest's mapping gathering 10 s instead of 2: each key's requests of those seconds are one entry, so fewer bytes
    // again, the same blocks. A window outside 1-30 s is refused.
    const long = await level('3', '10');
    expect(long.summary.ingestBatchingWindowSeconds).toBe(10);
    expect(three.summary.ingestBatchingWindowSeconds).toBe(2);
    expect(long.blocked).toEqual(one.blocked);
    expect(long.summary.streams.summaries.bytes).toBeLessThan(three.summary.streams.summaries.bytes);
    const badWindow = await cordon('rehearse', traffic, '--out', join(dir, 'rehearsal-window-0'), '--ingest-batching-window', '0');
    expect(badWindow.code).not.toBe(0);
    expect(badWindow.stderr).toMatch(/ingest-batching-window/);
    expect(two.summary.summaryWireLevel).toBe(2);
    expect(three.summary.summaryWireLevel).toBe(3);
    expect(two.blocked).toEqual(one.blocked);
    expect(three.blocked).toEqual(one.blocked);
    expect(two.blocked.length).toBeGreaterThan(0);
    expect(two.summary.streams.summaries.bytes).toBeLessThan(one.summary.streams.summaries.bytes);
    expect(three.summary.streams.summaries.bytes).toBeLessThan(two.summary.streams.summaries.bytes);
    expect(four.blocked).toEqual(one.blocked);
    expect(four.summary.streams.summaries.bytes).toBeLessThan(three.summary.streams.summaries.bytes);
    // The default: the level detect announces, agreed as in AWS (the deployment taken to have run 15 minutes before).
    expect(auto.summary.summaryWireLevel).toBe('auto');
    expect(Object.keys(auto.summary.summaryWireLevelsWritten)).toEqual(['4']);
    expect(auto.blocked).toEqual(one.blocked);
    expect(auto.summary.streams.summaries.bytes).toBeLessThan(three.summary.streams.summaries.bytes);
    for (const s of [one, two, three, four, auto]) expect(s.summary.summaryRecordsUnreadable).toBe(0);
    const bad = await cordon('rehearse', traffic, '--out', join(dir, 'rehearsal-level-5'), '--summary-wire-level', '5');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/summary-wire-level/);
  }, 180_000);

  it('writes the output folder of DESIGN §7', () => {
    for (const f of ['decisions.jsonl', 'waf-ipset-v4.json', 'waf-ipset-v6.json', 'resource-policy.json', 'alerts.jsonl', 'summary.json', 'report.html']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const d = decisions();
    expect(d.length).toBeGreaterThan(0);
    for (const x of d) {
      expect(Object.keys(x)).toEqual(['time', 'action', 'target', 'targetKind', 'reasons', 'score', 'expiresAt', 'evidence']);
      expect(['block', 'alert', 'unblock']).toContain(x.action);
      expect(Number.isNaN(Date.parse(x.time))).toBe(false);
    }
    const blockedIps = d.filter((x) => x.action === 'block' && x.targetKind === 'ip').map((x) => `${x.target}/32`);
    expect(blockedIps.length).toBeGreaterThan(0);
    for (const ip of blockedIps) expect(v4Addresses()).toContain(ip);
    const policyText = readFileSync(join(out, 'resource-policy.json'), 'utf8').trim();
    expect(policyText.length).toBeLessThanOrEqual(8192);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ linesUnreadable: 0, blocks: d.filter((x) => x.action === 'block').length });
    expect(summary.linesRead).toBeGreaterThan(10_000);
    expect(summary.keysTracked).toBeGreaterThan(100);
    expect(summary.eventsPerSecond).toBeGreaterThan(0);
    const alerts = readFileSync(join(out, 'alerts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(alerts.flatMap((a) => a.decisions).length).toBe(d.length);
  });

  it('explains a decision with its evidence', async () => {
    const target = decisions().find((x) => x.action === 'block' && x.targetKind === 'ip').target;
    const r = await cordon('explain', target, '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(target);
    expect(r.stdout).toMatch(/score \d/);
    expect(r.stdout).toMatch(/features: .*requests=\d+/);
  });

  it('lists, extends and releases blocks; the IP sets follow the ledger', async () => {
    // Its own copy of the replay's output: a release changes the IP sets, the decisions and the state.
    const own = join(dir, 'blocks-out');
    cpSync(out, own, { recursive: true });
    const target = decisions(own).find((x) => x.action === 'block' && x.targetKind === 'ip').target;
    expect(v4Addresses(own)).toContain(`${target}/32`);
    const list = await cordon('blocks', 'list', '--out', own, '--allow', '10.20.0.0/24');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(target);

    const ext = await cordon('blocks', 'extend', target, '--minutes', '30', '--out', own, '--allow', '10.20.0.0/24');
    expect(ext.code, ext.stderr).toBe(0);
    expect(ext.stdout).toContain('extended by 30 minutes');

    const rel = await cordon('blocks', 'release', target, '--out', own, '--allow', '10.20.0.0/24');
    expect(rel.code, rel.stderr).toBe(0);
    expect(v4Addresses(own)).not.toContain(`${target}/32`);
    expect(decisions(own).at(-1)).toMatchObject({ action: 'unblock', target, evidence: { releasedBy: 'operator' } });
    expect(v4Addresses()).toContain(`${target}/32`); // the replay's own output is untouched
    const again = await cordonHere('blocks', 'release', target, '--out', own);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no active block/);
  });

  it('says clearly what is wrong with a bad config, a missing file or a missing state', async () => {
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ thresholds: { authFailures: 0 } }));
    const bad = await cordon('replay', traffic, '--out', join(dir, 'o2'), '--config', cfg);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/thresholds\.authFailures/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);

    const missing = await cordonHere('replay', join(dir, 'nope.log'), '--out', join(dir, 'o3'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read access log .*nope\.log/);

    const noState = await cordonHere('blocks', 'list', '--out', join(dir, 'never'));
    expect(noState.code).toBe(2);
    expect(noState.stderr).toMatch(/no cordon state/);
  });

  it('runs through npm too (npm run cordon -- …)', async () => {
    const r = await run('npm', ['run', '--silent', 'cordon', '--', 'explain', '203.0.113.254', '--out', out], resolve('.'));
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout;
    expect(text).toMatch(/no decision concerns 203\.0\.113\.254/);
  });
});
