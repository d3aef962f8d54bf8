import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig } from '../../src/config.ts';
import type { AccessEvent } from '../../src/events.ts';
import { LocalRunner } from '../../src/engine/local-runner.ts';
import { cloudWatchSource, IngestStage, MAX_SUMMARY_RECORD_BYTES } from '../../src/engine/ingest.ts';
import { decodeSummaryRecord } from '../../src/engine/wire.ts';
import type { StreamRecord } from '../../src/ports/stream.ts';
import { figures, forceGc, heapMiB, mulberry32, pushAll, removeDir, runnerHeld, tempDir, turnEventLoop } from '../helpers/robustness-sim.ts';

/**
 * Load: ten times a normal rate (2,000 clients at 20 requests a minute each instead of about 2) plus one hot key
 * carrying half of all traffic (40,000 requests a minute from one address). Through the local runner (the deployed
 * stages over in-process twins) and through the ingest stage alone: nothing queues without bound, every event is accounted for, the hot key is blocked as a flood
 * and nobody else is. Default 6 minutes through the pipeline (~480k events) and 2 through ingest (~160k);
 * CORDON_FULL=1: 30 minutes each.
 */

const FULL = process.env.CORDON_FULL === '1';
const MINUTES = Number(process.env.CORDON_LOAD_MINUTES ?? (FULL ? 30 : 6));
/** The ingest stage serialises a partial per record and key (~25k events/s on one core): a shorter run by default. */
const INGEST_MINUTES = Number(process.env.CORDON_LOAD_INGEST_MINUTES ?? (FULL ? 30 : 2));
const CLIENTS = 2000;
const PER_CLIENT_PER_MIN = 20;
const HOT_PER_MIN = CLIENTS * PER_CLIENT_PER_MIN;
const HOT_IP = '203.0.113.200';
const T0 = Date.UTC(2026, 10, 2);
const MIN = 60_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

const FIRST_OCTETS = [...Array.from({ length: 77 }, (_, i) => 23 + i), ...Array.from({ length: 73 }, (_, i) => 128 + i)];
/** Client `c`'s address: every client in its own /24, in public space. */
const clientIp = (c: number): string => `${FIRST_OCTETS[c % FIRST_OCTETS.length]}.${Math.floor(c / FIRST_OCTETS.length)}.${(c * 7) % 256}.${1 + (c % 200)}`;
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0', 'okhttp/4.12.0', 'MyShopApp/5.2.1 (iOS 18.1)'];

/** The traffic, one minute at a time in time order (never all of it in memory). */
function* loadTraffic(minutes: number): Generator<AccessEvent[]> {
  const random = mulberry32(7);
  for (let m = 0; m < minutes; m++) {
    const start = T0 + m * MIN;
    const minute: AccessEvent[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const ip = clientIp(c);
      const principal = c % 10 < 3 ? `key${String(c).padStart(8, '0')}` : '';
      for (let k = 0; k < PER_CLIENT_PER_MIN; k++) {
        const status = random() < 0.02 ? 404 : 200;
        minute.push({ time: start + Math.floor(random() * MIN), ip, method: 'GET', path: `/items/${Math.floor(random() * 5000)}`,
          resource: '/items/{id}', status, bytes: status === 200 ? 900 : 48, latencyMs: 20 + Math.floor(random() * 30),
          userAgent: AGENTS[c % AGENTS.length], principal });
      }
    }
    for (let k = 0; k < HOT_PER_MIN; k++) {
      minute.push({ time: start + Math.floor((k * MIN) / HOT_PER_MIN), ip: HOT_IP, method: 'GET', path: `/search?q=${Math.floor(random() * 1e6)}`,
        resource: '/search', status: 200, bytes: 3000, latencyMs: 40, userAgent: 'Go-http-client/1.1', principal: '' });
    }
    minute.sort((a, b) => a.time - b.time);
    yield minute;
  }
}

describe(`load: 10x the normal rate with one hot key at half the traffic (${MINUTES} min)`, () => {
  it('the local runner keeps up, holds bounded state, accounts for every event and blocks only the hot key', async () => {
    const out = tempDir('load');
    dirs.push(out);
    forceGc();
    const heapStart = heapMiB();
    const state = new SqliteState(`${out}/state.sqlite`);
    let events = 0;
    let hot = 0;
    const heap: number[] = [];
    const openKeys: number[] = [];
    const openWindows: number[] = [];
    const started = performance.now();
    let gcMs = 0;
    let pipeline: LocalRunner;
    let keyStates = 0;
    let summaryRecordsHeld = 0;
    try {
      pipeline = new LocalRunner(parseConfig({}), { outDir: out, state });
      for (const minute of loadTraffic(MINUTES)) {
        for (const e of minute) if (e.ip === HOT_IP) hot++;
        await pushAll(pipeline, minute);
        events += minute.length;
        const held = runnerHeld(pipeline);
        openKeys.push(held.openKeys);
        openWindows.push(held.openWindows);
        keyStates = held.keyStates;
        summaryRecordsHeld = held.summaryRecords;
        const gcStarted = performance.now();
        heap.push(heapMiB()); // after a full GC: what the runner holds (plus this minute's events)
        gcMs += performance.now() - gcStarted;
      }
      await pipeline.finish();
    } finally {
      state.close();
    }
    const wall = (performance.now() - started - gcMs) / 1000; // generating and pushing, without the measuring GCs
    const blocks = pipeline.decisions.filter((d) => d.action === 'block');
    const others = pipeline.decisions.filter((d) => d.target !== HOT_IP && d.action !== 'unblock');
    const windowRequests = pipeline.timeline.reduce((n, w) => n + w.requests, 0);
    const keysPerMinute = CLIENTS * 2 + CLIENTS * 0.3 + 2; // IP + its own /24 each, principals, the hot IP and its /24
    figures('load local runner', {
      minutes: MINUTES, events, hotShare: hot / events, eventsPerSecond: Math.round(events / wall), wallSeconds: wall,
      peakOpenKeys: pipeline.stats.peakOpenKeys, maxOpenKeysPerMinute: Math.max(...openKeys), maxOpenWindows: Math.max(...openWindows),
      keyStates, summaryRecordsHeld, heapStartMiB: heapStart, peakHeapMiB: Math.max(...heap), heapEndMiB: heapMiB(), decisions: pipeline.decisions.length,
      late: pipeline.stats.lateEvents, heapPerMinute: heap.map((h) => h.toFixed(1)).join('/'),
    });
    // Every event accounted for: pushed = summed over the closed windows, nothing late (the log is in order).
    expect(pipeline.events).toBe(events);
    expect(windowRequests).toBe(events);
    expect(pipeline.stats.lateDropped).toBe(0);
    expect(hot / events).toBeCloseTo(0.5, 1);
    // No unbounded queue: at most two windows' keys are ever open in the detect stage (the current one and the one
    // closing), and no closed window held more than one minute's keys.
    expect(Math.max(...openWindows)).toBeLessThanOrEqual(2);
    expect(Math.max(...openKeys)).toBeLessThanOrEqual(2 * keysPerMinute);
    expect(pipeline.stats.peakOpenKeys).toBeLessThanOrEqual(keysPerMinute);
    // Memory bounded: what the run holds (after a full GC, with the current minute's 80k events) does not grow with
    // the minutes. An unbounded queue of windows would add ~15 MiB a minute.
    expect(heap[heap.length - 1]).toBeLessThan(1.5 * Math.max(...heap.slice(0, 2)));
    // The hot key is blocked as a flood in the first window, and nobody else is blocked or alerted on. The decision
    // is stamped as of the window's end plus the allowed lateness (whoever closes it).
    expect(blocks.map((d) => d.target)).toEqual([HOT_IP]);
    expect(blocks[0].reasons).toContain('flood');
    expect(Date.parse(blocks[0].time)).toBeLessThanOrEqual(T0 + MIN + 10_000);
    expect(others.map((d) => `${d.action} ${d.target} ${d.reasons.join(',')}`)).toEqual([]);
  }, 300_000);

  it('the ingest stage keeps up: summaries account for every event, stay under the Kinesis record limit, the hot key stays in one bucket', async () => {
    const cfg = parseConfig({});
    const PER_RECORD = 500; // log events per CloudWatch Logs record
    const PER_BATCH = 100; // records per Lambda invocation (the event source's batch size)
    let events = 0;
    let summed = 0;
    let hotSummed = 0;
    let records = 0;
    let batches = 0;
    let summaryRecords = 0;
    let maxSummaryBytes = 0;
    let failures = 0;
    let clamped = 0;
    const hotBuckets = new Set<string>();
    const heap: number[] = [];
    let batch: StreamRecord[] = [];
    let pending: AccessEvent[] = [];
    const started = performance.now();

    let put: { partitionKey: string; data: Uint8Array }[] = [];
    const ingest = new IngestStage({ putter: { put: async (rs) => { put.push(...rs); } }, config: cfg });
    const flushBatch = async (): Promise<void> => {
      if (batch.length === 0) return;
      await turnEventLoop();
      put = [];
      const res = await ingest.handle(batch.map(cloudWatchSource));
      failures += res.batchItemFailures.length;
      clamped += res.clamped;
      for (const r of put) {
        summaryRecords++;
        maxSummaryBytes = Math.max(maxSummaryBytes, r.data.length + Buffer.byteLength(r.partitionKey));
        for (const p of decodeSummaryRecord(r.data)) {
          summed += p.n;
          const hotEntry = p.i.find(([ip]) => ip === HOT_IP);
          if (hotEntry) {
            hotSummed += hotEntry[1].c[0];
            hotBuckets.add(r.partitionKey);
          }
        }
      }
      batches++;
      batch = [];
      heap.push(heapMiB()); // after each invocation: nothing of it may stay behind
    };
    const flushRecord = (): void => {
      if (pending.length === 0) return;
      const envelope = {
        messageType: 'DATA_MESSAGE', owner: '123456789012', logGroup: 'API-Gateway-Access-Logs_a1b2c3d4e5/prod', logStream: `s${records % 8}`,
        subscriptionFilters: ['cordon'],
        logEvents: pending.map((e, i) => ({ id: String(records * PER_RECORD + i), timestamp: e.time + 200, message: JSON.stringify({
          requestId: `r${i}`, ip: e.ip, requestTimeEpoch: e.time, httpMethod: e.method, resourcePath: e.resource, path: e.path, status: e.status,
          protocol: 'HTTP/1.1', responseLength: e.bytes, responseLatency: e.latencyMs, userAgent: e.userAgent, apiKeyId: e.principal || '-' }) })),
      };
      batch.push({ sequenceNumber: String(records++), shardId: 'shardId-000000000000', data: gzipSync(JSON.stringify(envelope)).toString('base64') });
      pending = [];
    };

    for (const minute of loadTraffic(INGEST_MINUTES)) {
      for (const e of minute) {
        pending.push(e);
        if (pending.length === PER_RECORD) {
          flushRecord();
          if (batch.length === PER_BATCH) await flushBatch();
        }
      }
      events += minute.length;
    }
    flushRecord();
    await flushBatch();
    const wall = (performance.now() - started) / 1000;
    figures('load ingest stage', {
      minutes: INGEST_MINUTES, events, records, batches, summaryRecords, maxSummaryKiB: Math.round(maxSummaryBytes / 1024),
      hotBuckets: hotBuckets.size, eventsPerSecond: Math.round(events / wall), wallSeconds: wall, peakHeapMiB: Math.max(...heap),
    });
    expect(failures).toBe(0);
    expect(clamped).toBe(0); // every line stamped by CloudWatch Logs after its request
    expect(summed).toBe(events);
    expect(hotSummed).toBe(HOT_PER_MIN * INGEST_MINUTES);
    // The hot key and its prefix hash to one bucket: one partition key, so stage 2 sees all of it in one place.
    expect(hotBuckets.size).toBe(1);
    // Sized by compressed bytes, under the stage's budget and so under Kinesis's 1 MiB record limit.
    expect(maxSummaryBytes).toBeLessThanOrEqual(MAX_SUMMARY_RECORD_BYTES + 16);
    expect(maxSummaryBytes).toBeLessThan(1024 * 1024);
    expect(heap[heap.length - 1]).toBeLessThan(1.5 * Math.max(...heap.slice(0, 2)));
  }, 300_000);
});
