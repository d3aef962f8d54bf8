import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTableInput, STATE_TABLE_KEYS } from '../../src/adapters/aws/dynamodb.ts';
import { DynamoWireNoticeBoard, WIRE_NOTICE_KEY } from '../../src/adapters/aws/wire-notice.ts';
import {
  AgreedWireLevel, announced, agreedLevel, MemoryWireNoticeBoard, SETTLE_MS, STALE_MS, WireAnnouncer, type WireNoticeBoard,
} from '../../src/engine/wire-handshake.ts';
import { MemoryPartStore } from '../../src/adapters/local/memory-part-store.ts';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig } from '../../src/config.ts';
import { DetectStage } from '../../src/engine/detect.ts';
import { eventsSource, IngestStage } from '../../src/engine/ingest.ts';
import { CountingMetrics } from '../../src/engine/observe.ts';
import { BROTLI_MAGIC, decodeSummaryRecord } from '../../src/engine/wire.ts';
import { HIGHEST_LEVEL } from '../../src/engine/wire-handshake.ts';
import { spread, T0 as E0 } from '../helpers/events.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

/** Detects announcing on a board at times; returns the level ingest would write at each `at`. */
async function run(board: WireNoticeBoard, steps: ({ detect: number; at: number } | { ingest: number; at: number })[]): Promise<number[]> {
  const out: number[] = [];
  for (const s of steps) {
    if ('detect' in s) await new WireAnnouncer(board, s.detect).announce(s.at);
    else out.push(await new AgreedWireLevel(board, s.ingest).level(s.at));
  }
  return out;
}

describe('wire level handshake', () => {
  it('a first detect: level 1 until its level has stood 15 minutes, then its level, capped at what ingest writes', async () => {
    const board = new MemoryWireNoticeBoard();
    const beats = Array.from({ length: 20 }, (_, m) => ({ detect: 4, at: T0 + m * MIN }));
    const levels = await run(board, [
      { ingest: 4, at: T0 - 1 },
      ...beats.slice(0, 15),
      { ingest: 4, at: T0 + 14 * MIN + 59_000 },
      ...beats.slice(15),
      { ingest: 4, at: T0 + SETTLE_MS },
      { ingest: 3, at: T0 + SETTLE_MS },
    ]);
    expect(levels).toEqual([1, 1, 4, 3]);
  });

  it('an upgrade keeps the level agreed before until the new one has stood; a downgrade lowers it at once', () => {
    let n = announced(undefined, 2, T0)!;
    n = { ...n, since: T0 - 2 * SETTLE_MS }; // level 2 long settled
    const up = announced(n, 4, T0)!;
    expect(up).toMatchObject({ level: 4, before: 2 });
    expect(agreedLevel({ ...up, heartbeat: T0 + SETTLE_MS - 1 }, T0 + SETTLE_MS - 1)).toBe(2);
    expect(agreedLevel({ ...up, heartbeat: T0 + SETTLE_MS }, T0 + SETTLE_MS)).toBe(4);
    // A detect of an earlier (announcing) release starts while the later one still beats: ingest drops to 2 at once.
    const down = announced(up, 2, T0 + MIN)!;
    expect(agreedLevel(down, T0 + MIN)).toBe(2);
    // The later release beating again does not jump back: it must stand 15 minutes again.
    const again = announced(down, 4, T0 + 2 * MIN)!;
    expect(agreedLevel(again, T0 + 2 * MIN)).toBe(2);
    expect(agreedLevel({ ...again, heartbeat: T0 + 2 * MIN + SETTLE_MS }, T0 + 2 * MIN + SETTLE_MS)).toBe(4);
  });

  it('a notice nobody beats on counts for nothing: level 1, and a detect coming back waits again', () => {
    const n = { level: 4, since: T0 - 3 * SETTLE_MS, before: 1, heartbeat: T0 };
    expect(agreedLevel(n, T0 + STALE_MS)).toBe(4);
    expect(agreedLevel(n, T0 + STALE_MS + 1)).toBe(1);
    // e.g. a rollback to a release that does not announce, then this release deployed again: its old detects may run.
    const back = announced(n, 4, T0 + STALE_MS + 1)!;
    expect(agreedLevel(back, T0 + STALE_MS + 1)).toBe(1);
    expect(agreedLevel({ ...back, heartbeat: T0 + STALE_MS + SETTLE_MS }, T0 + STALE_MS + 1 + SETTLE_MS)).toBe(4);
  });

  it('beats at most once a minute per detect instance; ingest reads at most once a minute', async () => {
    let reads = 0;
    let swaps = 0;
    const mem = new MemoryWireNoticeBoard();
    const board: WireNoticeBoard = { read: async () => (reads++, mem.read()), swap: async (p, n) => (swaps++, mem.swap(p, n)) };
    const detect = new WireAnnouncer(board, 4);
    for (let s = 0; s < 120; s++) await detect.announce(T0 + s * 1000);
    expect(swaps).toBe(2);
    reads = 0;
    const ingest = new AgreedWireLevel(board, 4);
    for (let s = 0; s < 120; s++) await ingest.level(T0 + s * 1000);
    expect(reads).toBe(2);
  });

  it('failures: a detect that cannot write is counted and its batch goes on; an ingest that cannot read writes level 1', async () => {
    const broken: WireNoticeBoard = { read: async () => { throw new Error('throttled'); }, swap: async () => { throw new Error('throttled'); } };
    const detect = new WireAnnouncer(broken, 4);
    await expect(detect.announce(T0)).resolves.toBeUndefined();
    expect(detect.failures).toBe(1);
    const ingest = new AgreedWireLevel(broken, 4);
    expect(await ingest.level(T0)).toBe(1);
    expect(ingest.failures).toBe(1);
  });

  it('two detects racing: compare-and-swap keeps one change, the loser re-reads and only beats', async () => {
    const board = new MemoryWireNoticeBoard();
    const stale = await board.read();
    expect(await board.swap(stale, announced(stale, 4, T0)!)).toBe(true);
    expect(await board.swap(stale, announced(stale, 4, T0 + 5)!)).toBe(false);
    expect(board.notice).toMatchObject({ since: T0 });
  });
});

describeMoto('wire notice on DynamoDB (moto)', () => {
  const moto = useMoto();
  let client: DynamoDBClient;
  const TABLE = 'cordon-state';

  beforeAll(() => {
    client = new DynamoDBClient({ ...moto.clientConfig(), maxAttempts: 2 });
  });
  afterAll(() => client?.destroy());
  beforeEach(async () => {
    await moto.reset();
    await client.send(new CreateTableCommand(createTableInput(TABLE, STATE_TABLE_KEYS)));
  });

  it('the same handshake as in memory, and a conditional write that a stale reader loses', async () => {
    const board = new DynamoWireNoticeBoard(client, TABLE);
    const beats = Array.from({ length: 16 }, (_, m) => ({ detect: 4, at: T0 + m * MIN }));
    expect(await run(board, [{ ingest: 4, at: T0 }, ...beats, { ingest: 4, at: T0 + SETTLE_MS - 1 }, { ingest: 4, at: T0 + SETTLE_MS }])).toEqual([1, 1, 4]);
    const read = await board.read();
    expect(read).toEqual({ level: 4, since: T0, before: 1, heartbeat: T0 + 15 * MIN });
    expect(await board.swap({ ...read!, heartbeat: T0 }, { ...read!, heartbeat: T0 + 99 })).toBe(false);
    expect(await board.swap(undefined, { ...read!, heartbeat: T0 + 99 })).toBe(false);
    expect(await board.swap(read, { ...read!, heartbeat: T0 + 99 })).toBe(true);
  });

  it('an item that is not a notice reads as none and is overwritten', async () => {
    await client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: WIRE_NOTICE_KEY.pk }, sk: { S: WIRE_NOTICE_KEY.sk }, level: { S: '9' } } }));
    const board = new DynamoWireNoticeBoard(client, TABLE);
    expect(await board.read()).toBeUndefined();
    expect(await new AgreedWireLevel(board, 4).level(T0)).toBe(1);
    await new WireAnnouncer(board, 4).announce(T0);
    expect(await board.read()).toEqual({ level: 4, since: T0, before: 1, heartbeat: T0 });
  });
});

describe('wire level handshake between the stages', () => {
  it("ingest under 'auto' writes level 1 until detect's level has stood, then level 4 (brotli, no prefixes, 16-bit hashes)", async () => {
    const board = new MemoryWireNoticeBoard();
    const cfg = parseConfig({});
    const summaries = new KinesisTwin({ shards: 1, throughput: false });
    let clock = E0;
    const metrics = new CountingMetrics();
    const ingest = new IngestStage({ putter: summaries, config: cfg, metrics, wireLevel: new AgreedWireLevel(board, HIGHEST_LEVEL), now: () => clock });
    const state = new SqliteState(':memory:');
    const detect = new DetectStage({ windows: new MemoryPartStore(), baselines: state, ledger: state, config: cfg,
      wireNotice: new WireAnnouncer(board, HIGHEST_LEVEL) });
    let seq = 0;
    const put = async () => {
      const events = spread(20, clock, (i) => ({ ip: `198.51.100.${i % 5}`, path: `/items/${i}` }));
      await ingest.handle([eventsSource('shardId-0', String(++seq).padStart(8, '0'), events)]);
      const records = summaries.read(summaries.shardIds()[0], undefined, 10_000);
      const data = records[records.length - 1].data;
      return typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
    };
    const first = await put();
    expect([first[0], first[1]]).toEqual([0x1f, 0x8b]); // gzip: what every release reads
    const parts = decodeSummaryRecord(first);
    expect(parts.some((p) => p.p.length > 0)).toBe(true);
    for (let m = 0; m <= 16; m++) await detect.tick(E0 + m * MIN);
    clock = E0 + 16 * MIN;
    const settled = await put();
    expect(settled.subarray(0, 2).equals(BROTLI_MAGIC)).toBe(true);
    const read = decodeSummaryRecord(settled);
    expect(read.every((p) => p.p.length === 0 && p.dp === 1)).toBe(true);
    const hashes = read.flatMap((p) => p.i.flatMap(([, w]) => w.d.flatMap((d) => (Array.isArray(d) ? d : []))));
    expect(hashes.length).toBeGreaterThan(0);
    expect(Math.max(...hashes)).toBeLessThanOrEqual(0xffff);
    expect(metrics.totals.get('SummaryWireLevel')).toBe(1 + 4);
  });
});
