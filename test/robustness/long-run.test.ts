import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig, type CordonConfig } from '../../src/config.ts';
import type { Decision } from '../../src/decision.ts';
import { overlaps } from '../../src/net/cidr.ts';
import { LocalPipeline } from '../../src/pipeline/local-pipeline.ts';
import type { KeyState } from '../../src/ports.ts';
import type { IpSetPayload } from '../../src/render/waf-ipset.ts';
import { simulateEvents } from '../../src/simulate/traffic.ts';
import { figures, forceGc, heapMiB, readJsonl, removeDir, tempDir, toAccessEvent } from '../helpers/robustness-sim.ts';

/**
 * A simulated day through the local pipeline: each hour is a fresh `mixed` hour (a new benign population of ~1,500
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
  states: number;
  openKeys: number;
}

interface DayRun {
  outDir: string;
  events: number;
  samples: HourSample[];
  decisions: Decision[];
  /** Per unblock by expiry: how long after its expiresAt (event time) it was emitted. */
  expiryLagMs: number[];
  pipeline: LocalPipeline;
  wallSeconds: number;
  peakHeapMiB: number;
}

/** The pipeline's private parts this test watches (read-only). */
interface Internals {
  states: Map<string, KeyState>;
  windower: { openKeys: number; maxTime: number };
}

const internals = (p: LocalPipeline): Internals => p as unknown as Internals;

/** One hour of events, generated and pushed inside its own frame so nothing of it survives the hour. */
function pushHour(p: LocalPipeline, hour: number): number {
  const { events } = simulateEvents({ scenario: 'mixed', minutes: 60, seed: 1000 + hour, start: T0 + hour * HOUR });
  for (const e of events) p.push(toAccessEvent(e));
  return events.length;
}

function runDay(cfg: CordonConfig, measure: boolean): DayRun {
  const outDir = tempDir('day');
  dirs.push(outDir);
  const state = new SqliteState(join(outDir, 'state.sqlite'));
  const started = performance.now();
  const expiryLagMs: number[] = [];
  let pipeline: LocalPipeline | undefined;
  const onDecision = (d: Decision): void => {
    if (d.action === 'unblock' && d.evidence.releasedBy === 'expiry' && pipeline) {
      // Emitted when the first window closes after the expiry: the lag is at most one window plus the lateness.
      const blockExpiry = Date.parse(d.time);
      expiryLagMs.push(internals(pipeline).windower.maxTime - blockExpiry);
    }
  };
  let events = 0;
  const samples: HourSample[] = [];
  let peakHeapMiB = 0;
  try {
    pipeline = new LocalPipeline(cfg, { outDir, state, onDecision });
    for (let h = 0; h < HOURS; h++) {
      events += pushHour(pipeline, h);
      if (measure) {
        const heap = heapMiB();
        peakHeapMiB = Math.max(peakHeapMiB, process.memoryUsage().heapUsed / (1 << 20));
        samples.push({ hour: h + 1, heapMiB: heap, states: internals(pipeline).states.size, openKeys: internals(pipeline).windower.openKeys });
      }
    }
    pipeline.finish();
  } finally {
    state.close();
  }
  return { outDir, events, samples, decisions: readJsonl<Decision>(join(outDir, 'decisions.jsonl')), expiryLagMs, pipeline,
    wallSeconds: (performance.now() - started) / 1000, peakHeapMiB };
}

describe(`a simulated day (${HOURS} h) through the local pipeline`, () => {
  // CORDON_LONG_NO_EVICT=1 switches idle eviction off: the memory test must then fail (a check of the check).
  const cfg = parseConfig({ allowlist: { cidrs: ['10.20.0.0/24'] }, ...(process.env.CORDON_LONG_NO_EVICT ? { windows: { idleEvictMinutes: 1e6 } } : {}) });
  let first: DayRun;

  it('keeps memory flat: heap, key states and open window keys plateau while the population turns over', () => {
    forceGc();
    first = runDay(cfg, true);
    const s = first.samples;
    const third = s[Math.max(0, Math.floor(s.length / 3) - 1)];
    const last = s[s.length - 1];
    const maxStates = Math.max(...s.map((x) => x.states));
    const maxOpen = Math.max(...s.map((x) => x.openKeys));
    console.log(`[robustness] long run hourly: ${s.map((x) => `h${x.hour} heap=${x.heapMiB.toFixed(1)}MiB states=${x.states} open=${x.openKeys}`).join(' | ')}`);
    figures('long run memory', {
      hours: HOURS, events: first.events, keysTracked: first.pipeline.stats.keysTracked, heapAtThirdMiB: third.heapMiB,
      heapAtEndMiB: last.heapMiB, peakHeapMiB: first.peakHeapMiB, maxStates, maxOpenKeys: maxOpen,
      peakOpenKeys: first.pipeline.stats.peakOpenKeys, wallSeconds: first.wallSeconds,
    });
    // Many more distinct keys passed through than are ever held: the population really did turn over.
    expect(first.pipeline.stats.keysTracked).toBeGreaterThan(2.5 * maxStates * (HOURS / 6));
    // The late-run plateau: no linear growth of the heap (measured after a full GC).
    expect(last.heapMiB).toBeLessThan(1.5 * third.heapMiB);
    // Idle eviction bounds the in-memory key states to roughly the last half hour's keys, and the windower holds
    // only the keys of the open windows: neither grows with the length of the run.
    expect(maxStates).toBeLessThan(1.5 * s[0].states);
    expect(last.states).toBeLessThan(1.5 * third.states);
    expect(maxOpen).toBeLessThan(1.5 * s[0].openKeys);
  }, 600_000);

  it('is deterministic: a fresh run over the same day writes a byte-identical decisions.jsonl', () => {
    expect(first).toBeDefined();
    const second = runDay(cfg, false);
    const a = readFileSync(join(first.outDir, 'decisions.jsonl'), 'utf8');
    const b = readFileSync(join(second.outDir, 'decisions.jsonl'), 'utf8');
    figures('long run determinism', { events: second.events, decisions: first.decisions.length, bytes: a.length, identical: a === b, wallSeconds: second.wallSeconds });
    expect(first.decisions.length).toBeGreaterThan(HOURS * 3); // the day holds attacks, so there is something to compare
    expect(b).toBe(a);
  }, 600_000);

  it('expires every block on time: each unblock at its block’s expiresAt, within a window of it, none missing', () => {
    expect(first).toBeDefined();
    const ds = first.decisions;
    const logEnd = first.pipeline.stats.logEnd!;
    const sizeMs = cfg.windows.sizeSeconds * 1000;
    const latenessMs = cfg.windows.allowedLatenessSeconds * 1000;
    const unblocks = ds.filter((d) => d.action === 'unblock');
    const blocks = ds.filter((d) => d.action === 'block');
    let checked = 0;
    for (const b of blocks) {
      const expiresAt = Date.parse(b.expiresAt!);
      expect(expiresAt).toBeGreaterThan(Date.parse(b.time));
      const mine = unblocks.filter((u) => u.target === b.target && Date.parse(u.time) > Date.parse(b.time));
      if (expiresAt <= logEnd) {
        expect(mine.length, `unblock of ${b.target} (expired ${b.expiresAt})`).toBeGreaterThan(0);
        expect(mine[0].time).toBe(new Date(expiresAt).toISOString());
        expect(mine[0].evidence.releasedBy).toBe('expiry');
        checked++;
      } else {
        expect(mine).toEqual([]);
      }
    }
    for (const lag of first.expiryLagMs) expect(lag).toBeLessThanOrEqual(sizeMs + latenessMs);
    expect(first.expiryLagMs.length).toBe(unblocks.length);
    // At the end, the IP sets hold exactly what is still active.
    const active = blocks.filter((b) => Date.parse(b.expiresAt!) > logEnd && b.targetKind !== 'principal').map((b) => b.target);
    const sets = [join(first.outDir, 'waf-ipset-v4.json'), join(first.outDir, 'waf-ipset-v6.json')]
      .flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as IpSetPayload[]).flatMap((x) => x.Addresses));
    for (const a of sets) expect(active.some((t) => overlaps(t, a)), `IP set holds ${a}`).toBe(true);
    for (const t of active) expect(sets.some((a) => overlaps(a, t)), `active ${t} missing from the IP sets`).toBe(true);
    figures('long run expiry', { blocks: blocks.length, unblocks: unblocks.length, expiriesChecked: checked,
      maxLagSeconds: Math.max(0, ...first.expiryLagMs) / 1000, activeAtEnd: active.length, ipSetEntries: sets.length });
    expect(checked).toBeGreaterThan(0);
  });
});
