import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig, type CordonConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import { overlaps } from '../../src/net/cidr.ts';
import { LocalRunner } from '../../src/engine/local-runner.ts';
import type { IpSetPayload } from '../../src/render/waf-ipset.ts';
import { simulateEvents } from '../../src/simulate/traffic.ts';
import { figures, forceGc, heapMiB, readJsonl, removeDir, runnerHeld, tempDir, toAccessEvent, turnEventLoop } from '../helpers/robustness-sim.ts';

/**
 * A simulated day through the local runner (the deployed stages over in-process twins, as `cordon replay` runs them):
 * each hour is a fresh `mixed` hour (a new benign population of ~1,500
 * clients with their NAT, crawler and health checks, and six new attackers), so keys keep arriving and leaving.
 * Memory must plateau (idle keys evicted), two runs over the same day must decide exactly the same, and every
 * block must expire on time. Default: 6 hours (~1M events); CORDON_FULL=1: 24 hours (~4M events).
 */

const FULL = process.env.CORDON_FULL === '1';
const HOURS = Number(process.env.CORDON_LONG_HOURS ?? (FULL ? 24 : 6));
const T0 = Date.UTC(2026, 10, 2);
const HOUR = 3_600_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

interface HourSample {
  hour: number;
  heapMiB: number;
  /** Key states the runner's baselines hold in memory. */
  states: number;
  /** The most distinct keys the detect stage's open windows held after any stage pass of the hour. */
  openKeys: number;
  /** Summary records the in-process summaries stream holds. */
  summaryRecords: number;
}

interface DayRun {
  outDir: string;
  events: number;
  samples: HourSample[];
  decisions: Decision[];
  /** Per unblock by expiry: how long after its expiresAt (event time) it was emitted, in log time. */
  expiryLagMs: number[];
  /** The longest span of log time one stage pass covered (contain runs at most once a pass). */
  maxPassMs: number;
  /** The newest event time pushed. */
  lastEventTime: number;
  pipeline: LocalRunner;
  wallSeconds: number;
  peakHeapMiB: number;
}

/** What the run pushes, and what it saw at each stage pass. */
interface Feed {
  /** Newest event time pushed so far (the runner's clock, give or take the look-ahead it holds). */
  newest: number;
  lastPass: number;
  maxPassMs: number;
  hourOpenKeys: number;
}

/** One hour of events, generated and pushed inside its own frame so nothing of it survives the hour. */
async function pushHour(p: LocalRunner, hour: number, feed: Feed, measure: boolean): Promise<number> {
  const { events } = simulateEvents({ scenario: 'mixed', minutes: 60, seed: 1000 + hour, start: T0 + hour * HOUR });
  for (const e of events) {
    p.push(toAccessEvent(e));
    if (e.t > feed.newest) feed.newest = e.t;
    if (!p.ready) continue;
    await p.drain();
    await turnEventLoop();
    if (Number.isFinite(feed.lastPass)) feed.maxPassMs = Math.max(feed.maxPassMs, feed.newest - feed.lastPass);
    feed.lastPass = feed.newest;
    if (measure) feed.hourOpenKeys = Math.max(feed.hourOpenKeys, runnerHeld(p).openKeys);
  }
  return events.length;
}

async function runDay(cfg: CordonConfig, measure: boolean): Promise<DayRun> {
  const outDir = tempDir('day');
  dirs.push(outDir);
  const state = new SqliteState(join(outDir, 'state.sqlite'));
  const started = performance.now();
  const expiryLagMs: number[] = [];
  const feed: Feed = { newest: -Infinity, lastPass: -Infinity, maxPassMs: 0, hourOpenKeys: 0 };
  const onDecision = (d: Decision): void => {
    if (d.action === 'unblock' && d.evidence.releasedBy === 'expiry') {
      // Published by the first contain run at or after the expiry: contain runs in the stage pass after a decision
      // and once a minute of log time, so at most about one pass (plus a minute) late.
      expiryLagMs.push(feed.newest - Date.parse(d.time));
    }
  };
  let events = 0;
  const samples: HourSample[] = [];
  let peakHeapMiB = 0;
  let pipeline: LocalRunner;
  try {
    pipeline = new LocalRunner(cfg, { outDir, state, onDecision });
    for (let h = 0; h < HOURS; h++) {
      feed.hourOpenKeys = 0;
      events += await pushHour(pipeline, h, feed, measure);
      if (measure) {
        const heap = heapMiB();
        peakHeapMiB = Math.max(peakHeapMiB, process.memoryUsage().heapUsed / (1 << 20));
        const held = runnerHeld(pipeline);
        samples.push({ hour: h + 1, heapMiB: heap, states: held.keyStates, openKeys: feed.hourOpenKeys, summaryRecords: held.summaryRecords });
      }
    }
    await pipeline.finish();
  } finally {
    state.close();
  }
  return { outDir, events, samples, decisions: readJsonl<Decision>(join(outDir, 'decisions.jsonl')), expiryLagMs, maxPassMs: feed.maxPassMs,
    lastEventTime: feed.newest, pipeline, wallSeconds: (performance.now() - started) / 1000, peakHeapMiB };
}

describe(`a simulated day (${HOURS} h) through the local runner`, () => {
  // CORDON_LONG_NO_EVICT=1 switches idle eviction off: the memory test must then fail (a check of the check).
  const cfg = parseConfig({ allowlist: { cidrs: ['10.20.0.0/24'] }, ...(process.env.CORDON_LONG_NO_EVICT ? { windows: { idleEvictMinutes: 1e6 } } : {}) });
  let first: DayRun;

  it('keeps memory flat: heap, key states and open window keys plateau while the population turns over', async () => {
    forceGc();
    first = await runDay(cfg, true);
    const s = first.samples;
    const third = s[Math.max(0, Math.floor(s.length / 3) - 1)];
    const last = s[s.length - 1];
    const maxStates = Math.max(...s.map((x) => x.states));
    const maxOpen = Math.max(...s.map((x) => x.openKeys));
    console.log(`[robustness] long run hourly: ${s.map((x) => `h${x.hour} heap=${x.heapMiB.toFixed(1)}MiB states=${x.states} open=${x.openKeys} summaryRecords=${x.summaryRecords}`).join(' | ')}`);
    figures('long run memory', {
      hours: HOURS, events: first.events, keysTracked: first.pipeline.stats.keysTracked, heapAtThirdMiB: third.heapMiB,
      heapAtEndMiB: last.heapMiB, peakHeapMiB: first.peakHeapMiB, maxStates, maxOpenKeys: maxOpen,
      peakOpenKeys: first.pipeline.stats.peakOpenKeys, summaryRecordsAtEnd: last.summaryRecords,
      summaryMiBPut: (first.pipeline.stats.streams.summaries?.bytes ?? 0) / (1 << 20), wallSeconds: first.wallSeconds,
    });
    // Many more distinct keys passed through than are ever held: the population really did turn over.
    expect(first.pipeline.stats.keysTracked).toBeGreaterThan(2.5 * maxStates * (HOURS / 6));
    // The late-run plateau: no linear growth of the heap (measured after a full GC).
    expect(last.heapMiB).toBeLessThan(1.5 * third.heapMiB);
    // Idle eviction bounds the in-memory key states to roughly the last half hour's keys, and the detect stage's part
    // store holds only the keys of the open windows: neither grows with the length of the run.
    expect(maxStates).toBeLessThan(1.5 * s[0].states);
    expect(last.states).toBeLessThan(1.5 * third.states);
    expect(maxOpen).toBeLessThan(1.5 * s[0].openKeys);
    // The summaries stream between ingest and detect holds what detect has not yet read, not the whole run: in AWS
    // Kinesis's retention bounds it; the runner's in-process stream must not grow with the length of the log.
    expect(last.summaryRecords).toBeLessThanOrEqual(1.5 * third.summaryRecords);
  }, 600_000);

  it('is deterministic: a fresh run over the same day writes a byte-identical decisions.jsonl', async () => {
    expect(first).toBeDefined();
    const second = await runDay(cfg, false);
    const a = readFileSync(join(first.outDir, 'decisions.jsonl'), 'utf8');
    const b = readFileSync(join(second.outDir, 'decisions.jsonl'), 'utf8');
    figures('long run determinism', { events: second.events, decisions: first.decisions.length, bytes: a.length, identical: a === b, wallSeconds: second.wallSeconds });
    expect(first.decisions.length).toBeGreaterThan(HOURS * 3); // the day holds attacks, so there is something to compare
    expect(b).toBe(a);
  }, 600_000);

  it('expires every block on time: each unblock at its block’s expiresAt, within a stage pass of it, none missing', () => {
    expect(first).toBeDefined();
    const ds = first.decisions;
    const logEnd = first.pipeline.stats.logEnd!;
    const unblocks = ds.filter((d) => d.action === 'unblock');
    const blocks = ds.filter((d) => d.action === 'block');
    // Contain's last run (at the end of input) is at least at the newest event time; it is at most at the newest
    // decision's time (a window's decisions are stamped at its end plus the allowed lateness).
    const lastContainAtLeast = first.lastEventTime;
    const lastContainAtMost = Math.max(first.lastEventTime, logEnd + cfg.windows.allowedLatenessSeconds * 1000);
    let checked = 0;
    const activeAtEnd: string[] = [];
    for (const b of blocks) {
      const expiresAt = Date.parse(b.expiresAt!);
      // Expiry counts from enforcement (contain's first run after the decision): never less than the base duration.
      expect(expiresAt - Date.parse(b.time)).toBeGreaterThanOrEqual(cfg.expiry.baseMinutes * 60_000);
      const mine = unblocks.filter((u) => u.target === b.target && Date.parse(u.time) > Date.parse(b.time));
      if (expiresAt <= lastContainAtLeast) {
        expect(mine.length, `unblock of ${b.target} (expired ${b.expiresAt})`).toBeGreaterThan(0);
        expect(mine[0].time).toBe(new Date(expiresAt).toISOString());
        expect(mine[0].evidence.releasedBy).toBe('expiry');
        checked++;
      } else if (expiresAt > lastContainAtMost) {
        expect(mine).toEqual([]);
      }
      if (mine.length === 0 && b.targetKind !== 'principal') activeAtEnd.push(b.target);
    }
    // Each unblock came from the first contain run at or after its expiry: contain runs after a detect pass that
    // decided something and once a minute of log time, so at most one stage pass (plus a minute) late.
    for (const lag of first.expiryLagMs) {
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThanOrEqual(first.maxPassMs + 60_000);
    }
    expect(first.expiryLagMs.length).toBe(unblocks.length);
    // At the end, the IP sets hold exactly what is still active (blocked, and not unblocked since).
    const sets = [join(first.outDir, 'waf-ipset-v4.json'), join(first.outDir, 'waf-ipset-v6.json')]
      .flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as IpSetPayload[]).flatMap((x) => x.Addresses));
    for (const a of sets) expect(activeAtEnd.some((t) => overlaps(t, a)), `IP set holds ${a}`).toBe(true);
    for (const t of activeAtEnd) expect(sets.some((a) => overlaps(a, t)), `active ${t} missing from the IP sets`).toBe(true);
    figures('long run expiry', { blocks: blocks.length, unblocks: unblocks.length, expiriesChecked: checked,
      maxLagSeconds: Math.max(0, ...first.expiryLagMs) / 1000, maxPassSeconds: first.maxPassMs / 1000, activeAtEnd: activeAtEnd.length,
      ipSetEntries: sets.length });
    expect(checked).toBeGreaterThan(0);
  });
});
