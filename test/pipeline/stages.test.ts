import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AlertFile, IpSetFiles, PolicyFile } from '../../src/adapters/local/files.ts';
import { MemoryBlobStore } from '../../src/adapters/local/memory-blob-store.ts';
import { MemoryWindowStore } from '../../src/adapters/local/memory-window-store.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig } from '../../src/config.ts';
import { hash32 } from '../../src/features/hash.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import { SnapshotBaselineStore } from '../../src/pipeline/snapshot-baseline-store.ts';
import { decodeSummary, runContain, runDetect, runIngest, type Logger, type StreamRecord } from '../../src/pipeline/stages.ts';
import type { AlertBatch, BaselineStore } from '../../src/ports.ts';
import { generateTraffic } from '../../src/simulate/traffic.ts';
import type { Labels } from '../../src/simulate/labels.ts';
import { scoreDecisions } from '../../src/simulate/score.ts';

const SHARDS = 2;

/** Kinesis in miniature: records land on a shard by their partition key, in order. */
class FakeSummaryStream {
  readonly shards: StreamRecord[][] = Array.from({ length: SHARDS }, () => []);
  private seq = 0;
  async put(records: { partitionKey: string; data: Uint8Array }[]): Promise<void> {
    for (const r of records) {
      this.shards[hash32(r.partitionKey) % SHARDS].push({ sequenceNumber: String(++this.seq), data: Buffer.from(r.data).toString('base64') });
    }
  }
}

function sourceRecords(lines: Iterable<string>): StreamRecord[] {
  return [...lines].map((l) => {
    const r = JSON.parse(l) as { kinesis: { sequenceNumber: string; data: string } };
    return { sequenceNumber: r.kinesis.sequenceNumber, data: r.kinesis.data };
  });
}

function batches<T>(xs: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));
}

describe('the three AWS stages over in-memory ports', () => {
  const opts = { scenario: 'mixed' as const, minutes: 30, seed: 5 };
  let labels: Labels;
  let records: StreamRecord[];
  let apigwFile: string;
  const dir = mkdtempSync(join(tmpdir(), 'cordon-stages-'));

  beforeAll(() => {
    const kin = generateTraffic({ ...opts, format: 'cwl-kinesis' });
    labels = kin.labels;
    records = sourceRecords(kin.lines);
    apigwFile = join(dir, 'traffic.log');
    writeFileSync(apigwFile, [...generateTraffic({ ...opts, format: 'apigw-json' }).lines].join('\n') + '\n');
  });

  async function runStages(deliver: (batch: StreamRecord[]) => StreamRecord[][], order: { swapAdjacentIngestBatches?: boolean; reverseShards?: boolean } = {},
    detectWith: { baselines?: BaselineStore; log?: Logger } = {}) {
    const cfg = parseConfig({ allowlist: { cidrs: labels.allowlist } });
    const stream = new FakeSummaryStream();
    let events = 0;
    // An ingest invocation sees a few seconds of logs (the mapping's batching window): here 3 records, ~12 s.
    const ingestBatches = batches(records, 3);
    if (order.swapAdjacentIngestBatches) {
      for (let i = 0; i + 1 < ingestBatches.length; i += 2) [ingestBatches[i], ingestBatches[i + 1]] = [ingestBatches[i + 1], ingestBatches[i]];
    }
    for (const batch of ingestBatches) {
      for (const delivery of deliver(batch)) {
        const r = await runIngest(delivery, { putter: stream, config: cfg });
        expect(r.batchItemFailures).toEqual([]);
        events += r.events;
      }
    }
    const out = mkdtempSync(join(dir, 'out-'));
    const state = new SqliteState(join(out, 'state.sqlite'));
    const windows = new MemoryWindowStore();
    const shardOrder = Array.from({ length: SHARDS }, (_, i) => i);
    if (order.reverseShards) shardOrder.reverse();
    for (const shard of shardOrder) {
      for (const batch of batches(stream.shards[shard], 20)) {
        for (const delivery of deliver(batch)) {
          const r = await runDetect(delivery.map((x) => ({ ...x, shardId: `shard-${shard}` })),
            { windows, baselines: detectWith.baselines ?? state, ledger: state, config: cfg, log: detectWith.log });
          expect(r.batchItemFailures).toEqual([]);
        }
      }
    }
    const alerts: AlertBatch[] = [];
    const alertFile = new AlertFile(join(out, 'alerts.jsonl'));
    const deps = { ledger: state, ipSets: new IpSetFiles(out, { namePrefix: 'cordon', addressesPerSet: 10_000, maxSetsPerFamily: 2 }),
      policies: [new PolicyFile(out, null, { resource: 'execute-api:/*', maxChars: 8192 })],
      alerts: { publish: async (b: AlertBatch) => { alerts.push(b); alertFile.publishSync(b); } }, config: cfg };
    const now = labels.end;
    const first = await runContain(deps, now);
    const second = await runContain(deps, now);
    const ledger = state.listAllSync();
    state.close();
    return { events, ledger, first, second, alerts, summaries: stream.shards.flat() };
  }

  it('contain every attacker, as the local pipeline does, and converge', async () => {
    const r = await runStages((b) => [b]);
    const blocks = r.ledger.filter((e) => e.status === 'active' || e.status === 'expired');
    const score = scoreDecisions(labels, blocks.map((e) => ({ time: e.createdAt, action: 'block', target: e.target, targetKind: e.targetKind })));
    expect(score.contained).toBe(score.attackers);
    expect(score.blocks_covering_no_attacker).toBe(0);
    expect(score.allowlist_violations).toEqual([]);

    const local = await runReplay({ files: [apigwFile], outDir: join(dir, 'local'), config: parseConfig({ allowlist: { cidrs: labels.allowlist } }) });
    expect(local.blocks).toBeGreaterThan(0);
    const localTargets = new Set((await import('node:fs')).readFileSync(join(dir, 'local', 'decisions.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l)).filter((d) => d.action === 'block').map((d) => d.target));
    expect(new Set(blocks.map((e) => e.target))).toEqual(localTargets);

    // Every ledger change alerted once, in one batch; a second run changes and alerts nothing.
    expect(r.first.alerted).toBe(r.ledger.length);
    expect(r.alerts).toHaveLength(1);
    expect(r.second).toMatchObject({ changedIpSets: false, changedPolicies: 0, alerted: 0 });
    // Every event decoded was summarised: the summaries' request counts add up.
    const summarised = r.summaries.flatMap((s) => decodeSummary(s.data)).reduce((n, p) => n + p.n, 0);
    expect(summarised).toBe(r.events);
  }, 120_000);

  it('duplicate delivery at both stages changes nothing', async () => {
    const once = await runStages((b) => [b]);
    const twice = await runStages((b) => [b, b.slice(0, Math.ceil(b.length / 2))]);
    const key = (e: { target: string; createdAt: number; status: string }) => `${e.target}@${e.createdAt}:${e.status}`;
    expect(twice.ledger.map(key).sort()).toEqual(once.ledger.map(key).sort());
    expect(twice.ledger.map((e) => e.evidence.features?.requests)).toEqual(once.ledger.map((e) => e.evidence.features?.requests));
  }, 120_000);

  it('baselines as S3 snapshots (the deployed store, over in-memory blobs) decide as SQLite does; a damaged one is logged, not fatal', async () => {
    const once = await runStages((b) => [b]);
    const blobs = new MemoryBlobStore();
    await blobs.put('base/shard-0', Uint8Array.from([0x1f, 0x8b, 1, 2, 3])); // a damaged snapshot, before any window
    const warnings: { message: string; fields: Record<string, number> }[] = [];
    const log: Logger = { info() {}, warn: (message, fields) => warnings.push({ message, fields }) };
    const snapshots = await runStages((b) => [b], {}, { baselines: new SnapshotBaselineStore(blobs), log });
    const key = (e: { target: string; createdAt: number; status: string }) => `${e.target}@${e.createdAt}:${e.status}`;
    expect(snapshots.ledger.map(key).sort()).toEqual(once.ledger.map(key).sort());
    const damaged = warnings.filter((w) => w.message.startsWith('detect state damaged'));
    expect(damaged).toHaveLength(1);
    expect(damaged[0].fields).toMatchObject({ baselinesCorrupt: 1, baselineCompactions: 1 }); // the rewrite that replaced it
    expect(await blobs.list('base/')).toEqual(['base/shard-0', 'base/shard-0.delta', 'base/shard-1', 'base/shard-1.delta']);
  }, 120_000);

  it('reordered delivery (adjacent ingest batches swapped, shards in any order) changes nothing', async () => {
    const once = await runStages((b) => [b]);
    const swapped = await runStages((b) => [b], { swapAdjacentIngestBatches: true, reverseShards: true });
    const key = (e: { target: string; createdAt: number; status: string }) => `${e.target}@${e.createdAt}:${e.status}`;
    expect(swapped.ledger.map(key).sort()).toEqual(once.ledger.map(key).sort());
  }, 120_000);

  it('a poison record is counted and skipped, never fails the batch', async () => {
    const cfg = parseConfig({});
    const stream = new FakeSummaryStream();
    const poison = { sequenceNumber: '1', data: Buffer.from('not gzip at all').toString('base64') };
    const r = await runIngest([poison, ...records.slice(0, 3)], { putter: stream, config: cfg });
    expect(r.batchItemFailures).toEqual([]);
    expect(r.unreadable).toBe(1);
    expect(r.events).toBeGreaterThan(0);
    const state = new SqliteState(join(mkdtempSync(join(dir, 'p-')), 's.sqlite'));
    const d = await runDetect([{ ...poison, shardId: 's' }, ...stream.shards[0]], { windows: new MemoryWindowStore(), baselines: state, ledger: state, config: cfg });
    expect(d).toMatchObject({ batchItemFailures: [], poison: 1 });
    state.close();
  });

  it('records of different shards with the same sequence number are different records', async () => {
    const stream = new FakeSummaryStream();
    const same = records[0];
    await runIngest([{ ...same, shardId: 'shardId-000000000000' }, { ...same, shardId: 'shardId-000000000001' }], { putter: stream, config: parseConfig({}) });
    const parts = stream.shards.flat().flatMap((s) => decodeSummary(s.data));
    const ids = new Set(parts.map((p) => p.id));
    expect(ids.size).toBe(parts.length);
    const windows = new MemoryWindowStore();
    await windows.add('s', parts.map((p) => ({ windowStart: p.w, partId: p.id, body: '' })));
    const stored = (await Promise.all((await windows.openWindows('s')).map((w) => windows.read('s', w)))).flat();
    expect(stored).toHaveLength(parts.length);
  });

  it('a failed PutRecords reports the whole ingest batch for redelivery', async () => {
    const r = await runIngest(records.slice(0, 3), { putter: { put: async () => { throw new Error('throttled'); } }, config: parseConfig({}) });
    expect(r.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.slice(0, 3).map((x) => x.sequenceNumber));
  });
});
