import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { MemoryBlobStore } from '../../src/adapters/local/memory-blob-store.ts';
import { MemoryWindowStore } from '../../src/adapters/local/memory-window-store.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig } from '../../src/config.ts';
import { runContain } from '../../src/engine/contain.ts';
import { DetectStage } from '../../src/engine/detect.ts';
import { cloudWatchSource, IngestStage } from '../../src/engine/ingest.ts';
import { CountingMetrics, type Logger } from '../../src/engine/observe.ts';
import { EncodedPartStore } from '../../src/engine/part-store.ts';
import { decodeSummaryRecord } from '../../src/engine/wire.ts';
import { SnapshotBaselineStore } from '../../src/pipeline/snapshot-baseline-store.ts';
import type { AlertBatch, BaselineStore } from '../../src/ports.ts';
import type { StreamRecord } from '../../src/ports/stream.ts';
import type { Labels } from '../../src/simulate/labels.ts';
import { scoreDecisions } from '../../src/simulate/score.ts';
import { generateTraffic } from '../../src/simulate/traffic.ts';

const SHARDS = 2;

function sourceRecords(lines: Iterable<string>): StreamRecord[] {
  return [...lines].map((l) => {
    const r = JSON.parse(l) as { kinesis: { sequenceNumber: string; data: string } };
    return { sequenceNumber: r.kinesis.sequenceNumber, data: r.kinesis.data, shardId: 'shardId-000000000000' };
  });
}

/**
 * The stages' work resolves without a turn of the event loop (twins in memory, SQLite synchronous): left alone, a run
 * holds the loop for a minute on a busy machine and vitest's worker RPC times out ("Timeout calling onTaskUpdate").
 */
const yieldToVitest = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function batches<T>(xs: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));
}

/**
 * The deployed stage objects driven by hand over the twins (Kinesis twin, the encoded window store the Lambda uses,
 * SQLite or S3 snapshots), with deliveries an event source mapping may make: duplicated, reordered, per shard.
 */
describe('the three stages, delivered as Kinesis may deliver', () => {
  const opts = { scenario: 'mixed' as const, minutes: 30, seed: 5 };
  let labels: Labels;
  let records: StreamRecord[];
  const dir = mkdtempSync(join(tmpdir(), 'cordon-stages-'));

  beforeAll(() => {
    const kin = generateTraffic({ ...opts, format: 'cwl-kinesis' });
    labels = kin.labels;
    records = sourceRecords(kin.lines);
  });

  /** How an event source mapping hands a batch over: once, or once and then its first half again. */
  type Delivery = (batch: StreamRecord[]) => StreamRecord[][];
  const deliveries: Record<'plain' | 'twice', Delivery> = {
    plain: (b) => [b],
    twice: (b) => [b, b.slice(0, Math.ceil(b.length / 2))],
  };

  /**
   * The ingest stage over the source records, delivered as named, into the Kinesis twin: the summary records of each
   * shard and the events ingest counted. Ingest reads no detect setting (early decisions are detect's), so the ingest
   * of a delivery is the same for every detect run given it: it is run once per delivery and read by each of them.
   */
  const ingested = new Map<string, Promise<{ events: number; byShard: Map<string, StreamRecord[]> }>>();
  function ingestOnce(delivery: keyof typeof deliveries, swapAdjacentIngestBatches: boolean) {
    const key = `${delivery} ${swapAdjacentIngestBatches}`;
    let r = ingested.get(key);
    if (!r) {
      r = (async () => {
        const stream = new KinesisTwin({ shards: SHARDS, throughput: false });
        const ingest = new IngestStage({ putter: stream, config: parseConfig({ allowlist: { cidrs: labels.allowlist } }) });
        let events = 0;
        // An ingest invocation sees a few seconds of logs (the mapping's batching window): here 3 records, ~12 s.
        const ingestBatches = batches(records, 3);
        if (swapAdjacentIngestBatches) {
          for (let i = 0; i + 1 < ingestBatches.length; i += 2) [ingestBatches[i], ingestBatches[i + 1]] = [ingestBatches[i + 1], ingestBatches[i]];
        }
        for (const batch of ingestBatches) {
          await yieldToVitest();
          for (const d of deliveries[delivery](batch)) {
            const res = await ingest.handle(d.map(cloudWatchSource));
            expect(res.batchItemFailures).toEqual([]);
            events += res.events;
          }
        }
        return { events, byShard: new Map(stream.shardIds().map((shard) => [shard, stream.read(shard, undefined, 100_000)])) };
      })();
      ingested.set(key, r);
    }
    return r;
  }

  async function runStages(delivery: keyof typeof deliveries, order: { swapAdjacentIngestBatches?: boolean; reverseShards?: boolean } = {},
    detectWith: { baselines?: BaselineStore; log?: Logger; earlyDecisions?: boolean } = {}) {
    const cfg = parseConfig({ allowlist: { cidrs: labels.allowlist }, windows: { earlyDecisions: detectWith.earlyDecisions ?? true } });
    const deliver = deliveries[delivery];
    const { events, byShard } = await ingestOnce(delivery, order.swapAdjacentIngestBatches ?? false);
    const out = mkdtempSync(join(dir, 'out-'));
    const state = new SqliteState(join(out, 'state.sqlite'));
    const detect = new DetectStage({ windows: new EncodedPartStore(new MemoryWindowStore()), baselines: detectWith.baselines ?? state,
      ledger: state, config: cfg, log: detectWith.log });
    const shardIds = [...byShard.keys()];
    if (order.reverseShards) shardIds.reverse();
    const summaries: StreamRecord[] = [];
    for (const shard of shardIds) {
      const all = byShard.get(shard)!;
      summaries.push(...all);
      for (const batch of batches(all, 20)) {
        await yieldToVitest();
        for (const delivery of deliver(batch)) {
          const r = await detect.handle(delivery, labels.end);
          expect(r.batchItemFailures).toEqual([]);
        }
      }
    }
    // The schedule's tick after the log: every window closes, whatever shard it is on.
    await detect.tick(labels.end + 10 * 60_000);
    const alerts: AlertBatch[] = [];
    let ipSets = { v4: [] as string[], v6: [] as string[] };
    const deps = { ledger: state, config: cfg,
      ipSets: { read: async () => ipSets, apply: async (d: typeof ipSets) => { const changed = JSON.stringify(d) !== JSON.stringify(ipSets); ipSets = d; return { changed, sets: [] }; } },
      policies: [], alerts: { publish: async (b: AlertBatch) => { alerts.push(b); } } };
    const now = labels.end + 10 * 60_000;
    const first = await runContain(deps, now);
    const second = await runContain(deps, now);
    const ledger = state.listAllSync();
    state.close();
    return { events, ledger, first, second, alerts, summaries, ipSets };
  }

  const key = (e: { target: string; createdAt: number; status: string }) => `${e.target}@${e.createdAt}:${e.status}`;
  /** The plain delivery, run once and compared against by the others. */
  let plain: ReturnType<typeof runStages> | undefined;
  const once = () => (plain ??= runStages('plain'));

  it('contain every attacker and converge; every event summarised', async () => {
    const r = await once();
    const blocks = r.ledger.filter((e) => e.status === 'active' || e.status === 'expired');
    const score = scoreDecisions(labels, blocks.map((e) => ({ time: e.createdAt, action: 'block', target: e.target, targetKind: e.targetKind })));
    expect(score.contained).toBe(score.attackers);
    expect(score.blocks_covering_no_attacker).toBe(0);
    expect(score.allowlist_violations).toEqual([]);
    // Every ledger change alerted once, in one batch; a second run changes and alerts nothing.
    expect(r.first.alerted).toBe(r.ledger.length);
    expect(r.alerts).toHaveLength(1);
    expect(r.second).toMatchObject({ changedIpSets: false, alerted: 0 });
    const summarised = r.summaries.flatMap((s) => decodeSummaryRecord(s.data)).reduce((n, p) => n + p.n, 0);
    expect(summarised).toBe(r.events);
  }, 120_000);

  // Decided at each window's close, a run does not depend on how it was delivered. Early decisions do by design (when
  // the evidence is held depends on when it arrives): the test after these holds them to the same targets, once each.
  let closeOnly: ReturnType<typeof runStages> | undefined;
  const onceAtClose = () => (closeOnly ??= runStages('plain', {}, { earlyDecisions: false }));

  it('duplicate delivery at both stages changes nothing', async () => {
    const base = await onceAtClose();
    const twice = await runStages('twice', {}, { earlyDecisions: false });
    expect(twice.ledger.map(key).sort()).toEqual(base.ledger.map(key).sort());
    expect(twice.ledger.map((e) => e.evidence.features?.requests)).toEqual(base.ledger.map((e) => e.evidence.features?.requests));
  }, 120_000);

  it('baselines as S3 snapshots (the deployed store, over in-memory blobs) decide as SQLite does; a damaged one is logged, not fatal', async () => {
    const base = await once();
    const blobs = new MemoryBlobStore();
    const shard0 = new KinesisTwin({ shards: SHARDS }).shardIds()[0];
    await blobs.put(`base/${shard0}`, Uint8Array.from([0x1f, 0x8b, 1, 2, 3])); // a damaged snapshot, before any window
    const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
    const log: Logger = { info() {}, error() {}, warn: (message, fields) => warnings.push({ message, fields }) };
    const snapshots = await runStages('plain', {}, { baselines: new SnapshotBaselineStore(blobs), log });
    expect(snapshots.ledger.map(key).sort()).toEqual(base.ledger.map(key).sort());
    const damaged = warnings.filter((w) => w.message.startsWith('detect state damaged'));
    expect(damaged).toHaveLength(1);
    expect(damaged[0].fields).toMatchObject({ baselinesCorrupt: 1, baselineCompactions: 1 }); // the rewrite that replaced it
  }, 120_000);

  it('reordered delivery (adjacent ingest batches swapped, shards in any order) changes nothing', async () => {
    const base = await onceAtClose();
    const swapped = await runStages('plain', { swapAdjacentIngestBatches: true, reverseShards: true }, { earlyDecisions: false });
    expect(swapped.ledger.map(key).sort()).toEqual(base.ledger.map(key).sort());
  }, 120_000);

  it('with early decisions, duplicated and reordered deliveries block the same targets, each once', async () => {
    const base = await once();
    const targets = (r: Awaited<ReturnType<typeof runStages>>) => r.ledger.filter((e) => e.status === 'active').map((e) => e.target).sort();
    const twice = await runStages('twice');
    const swapped = await runStages('plain', { swapAdjacentIngestBatches: true, reverseShards: true });
    expect(targets(base).length).toBeGreaterThan(0);
    expect(new Set(targets(base)).size).toBe(targets(base).length);
    expect(targets(twice)).toEqual(targets(base));
    expect(targets(swapped)).toEqual(targets(base));
    // The plain run decided some of them before their window closed (stamped with the delivery's clock).
    expect(base.ledger.some((e) => e.evidence.held?.startsWith('unmistakable,'))).toBe(true);
  }, 120_000);

  it('a poison record is counted and skipped, never fails the batch', async () => {
    const cfg = parseConfig({});
    const stream = new KinesisTwin({ shards: 1, throughput: false });
    const poison = { sequenceNumber: '1', shardId: 'shardId-000000000000', data: Buffer.from('not gzip at all').toString('base64') };
    const r = await new IngestStage({ putter: stream, config: cfg }).handle([poison, ...records.slice(0, 3)].map(cloudWatchSource));
    expect(r.batchItemFailures).toEqual([]);
    expect(r.unreadable).toBe(1);
    expect(r.events).toBeGreaterThan(0);
    const state = new SqliteState(':memory:');
    const summaries = stream.read(stream.shardIds()[0], undefined, 100);
    const d = await new DetectStage({ windows: new EncodedPartStore(new MemoryWindowStore()), baselines: state, ledger: state, config: cfg })
      .handle([{ ...poison, sequenceNumber: '0' }, ...summaries], labels.end);
    expect(d).toMatchObject({ batchItemFailures: [], unreadable: 1 });
    state.close();
  });

  it('records of different shards with the same sequence number are different parts', async () => {
    const stream = new KinesisTwin({ shards: 1, throughput: false });
    const same = records[0];
    await new IngestStage({ putter: stream, config: parseConfig({}) })
      .handle([{ ...same, shardId: 'shardId-000000000000' }, { ...same, shardId: 'shardId-000000000001' }].map(cloudWatchSource));
    const parts = stream.read(stream.shardIds()[0], undefined, 100).flatMap((s) => decodeSummaryRecord(s.data));
    expect(new Set(parts.map((p) => p.id)).size).toBe(parts.length);
  });

  it('summaries over the stream\'s per-second throughput: ingest puts them until its deadline, not fails the batch', async () => {
    // A stream that takes 64 KB a second, so one batch's summaries take several of its seconds (as a long batching
    // window's do on a real shard at a high rate); the putter's sleep moves the twin's clock.
    const clock = { t: 1_700_000_000_000 };
    const slow = () => new KinesisTwin({ shards: 1, clock: () => clock.t, throughput: { bytesPerSecond: 64 * 1024 },
      putter: { sleep: async (ms) => { clock.t += ms; }, random: () => 1 } });
    const batch = records.slice(0, 60).map(cloudWatchSource);
    const config = parseConfig({});

    const without = slow();
    const failed = await new IngestStage({ putter: without, config }).handle(batch);
    expect(failed.batchItemFailures).toHaveLength(60);

    const stream = slow();
    const metrics = new CountingMetrics();
    const t0 = clock.t;
    const r = await new IngestStage({ putter: stream, config, metrics }).handle(batch, { deadline: t0 + 100_000 });
    expect(r.batchItemFailures).toEqual([]);
    const landed = stream.read(stream.shardIds()[0], undefined, 1_000);
    expect(landed.length).toBe(r.summaries);
    expect(landed.reduce((n, x) => n + Buffer.from(x.data, 'base64').length, 0)).toBe(r.summaryBytes);
    expect(r.summaryBytes).toBeGreaterThan(3 * 64 * 1024);
    expect(metrics.get('SummariesThrottled')).toBe(stream.stats().throttled);
    expect(metrics.get('SummariesThrottled')).toBeGreaterThan(0);
    expect(clock.t - t0).toBeGreaterThan(2_000);
  });

  it('a failed PutRecords (a dependency down) reports the ingest batch for redelivery', async () => {
    const down = Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
    const r = await new IngestStage({ putter: { put: async () => { throw down; } }, config: parseConfig({}) }).handle(records.slice(0, 3).map(cloudWatchSource));
    expect(r.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.slice(0, 3).map((x) => x.sequenceNumber));
  });
});
