import { gzipSync } from 'node:zlib';
import { CachedBaselines } from '../../src/adapters/local/cached-baselines.ts';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig, type CordonConfig } from '../../src/config.ts';
import { ContainStage } from '../../src/engine/contain.ts';
import { DetectStage } from '../../src/engine/detect.ts';
import { eventsSource, IngestStage } from '../../src/engine/ingest.ts';
import { CountingMetrics } from '../../src/engine/observe.ts';
import { MemoryPartStore } from '../../src/adapters/local/memory-part-store.ts';
import type { PartStore } from '../../src/engine/part-store.ts';
import type { AccessEvent } from '../../src/events.ts';
import type { AlertBatch, IpSetDesired, PolicyDeny } from '../../src/ports.ts';
import type { StreamRecord } from '../../src/ports/stream.ts';

/** The three stages wired over in-memory twins, driven by hand with an explicit clock (tests of real-time behaviour). */
export class StageKit {
  readonly cfg: CordonConfig;
  readonly state = new SqliteState(':memory:');
  readonly summaries: KinesisTwin;
  readonly metrics = new CountingMetrics();
  readonly ingest: IngestStage;
  readonly detect: DetectStage;
  readonly contain: ContainStage;
  readonly alerts: AlertBatch[] = [];
  ipSet: IpSetDesired = { v4: [], v6: [] };
  deny: PolicyDeny = { principals: [], cidrs: [] };
  private seq = 0;
  private readonly read = new Map<string, string | undefined>();

  /** What detect reads and learns key states from: the SQLite store itself, or (`cachedBaselines`) the replay's cache over it. */
  readonly baselines: SqliteState | CachedBaselines;

  constructor(cfgInput: unknown = {}, opts: { shards?: number; windows?: PartStore; cachedBaselines?: boolean; ingestBatchingWindowSeconds?: number } = {}) {
    this.cfg = parseConfig(cfgInput);
    this.summaries = new KinesisTwin({ shards: opts.shards ?? 1, throughput: false });
    this.ingest = new IngestStage({ putter: this.summaries, config: this.cfg, metrics: this.metrics });
    this.baselines = opts.cachedBaselines ? new CachedBaselines(this.state, 30 * 60_000) : this.state;
    this.detect = new DetectStage({ windows: opts.windows ?? new MemoryPartStore(), baselines: this.baselines, ledger: this.state,
      config: this.cfg, metrics: this.metrics, ingestBatchingWindowSeconds: opts.ingestBatchingWindowSeconds });
    this.contain = new ContainStage({ ledger: this.state, config: this.cfg, metrics: this.metrics,
      ipSets: { read: async () => this.ipSet, apply: async (d) => { this.ipSet = d; return { changed: true, sets: [] }; } },
      policies: [{ read: async () => this.deny, apply: async (d) => { this.deny = d; return { changed: true, deployed: true, dropped: [], chars: 0 }; } }],
      alerts: { publish: async (b) => { this.alerts.push(b); } } });
  }

  /** Ingests events as one source record of shard `access-0`. */
  async ingestEvents(events: AccessEvent[], shard = 'shardId-access-0'): Promise<void> {
    const r = await this.ingest.handle([eventsSource(shard, String(++this.seq).padStart(8, '0'), events)]);
    if (r.batchItemFailures.length) throw new Error('ingest failed');
  }

  /** Summary records not yet read, per summaries shard. */
  pending(): Map<string, StreamRecord[]> {
    const out = new Map<string, StreamRecord[]>();
    for (const shard of this.summaries.shardIds()) {
      const records = this.summaries.read(shard, this.read.get(shard), 10_000);
      if (records.length) out.set(shard, records);
      if (records.length) this.read.set(shard, records[records.length - 1].sequenceNumber);
    }
    return out;
  }

  /** Delivers every pending summary record to detect at wall time `now`. */
  async deliver(now: number) {
    const results = [];
    for (const [, records] of this.pending()) results.push(await this.detect.handle(records, now));
    return results;
  }
}

/** A CloudWatch Logs subscription record (base64 gzip envelope) holding these messages with these log timestamps. */
export function cwlRecord(seq: string, messages: { message: string; timestamp: number }[], shardId = 'shardId-000000000000'): StreamRecord {
  const envelope = { messageType: 'DATA_MESSAGE', owner: '123456789012', logGroup: 'api', logStream: 's', subscriptionFilters: ['cordon'],
    logEvents: messages.map((m, i) => ({ id: String(36_000_000_000 + i).padStart(56, '0'), ...m })) };
  return { sequenceNumber: seq, shardId, data: gzipSync(JSON.stringify(envelope)).toString('base64') };
}
