import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTableInput, STATE_TABLE_KEYS } from '../../src/adapters/aws/dynamodb.ts';
import { DynamoWireNoticeBoard, WIRE_NOTICE_KEY } from '../../src/adapters/aws/wire-notice.ts';
import {
  AgreedWireLevel, ANNOUNCE_ATTEMPTS, announced, agreedLevel, HEARTBEAT_MS, MemoryWireNoticeBoard, SETTLE_MS, STALE_MS, WireAnnouncer,
  type WireNotice, type WireNoticeBoard,
} from '../../src/engine/wire-handshake.ts';
import { MemoryPartStore } from '../../src/adapters/local/memory-part-store.ts';
import { KinesisTwin } from '../../src/adapters/local/kinesis-twin.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { parseConfig } from '../../src/config.ts';
import { DetectStage } from '../../src/engine/detect.ts';
import { eventsSource, IngestStage } from '../../src/engine/ingest.ts';
import { CountingMetrics, type LogFields, type Logger } from '../../src/engine/observe.ts';
import { BROTLI_MAGIC, decodeSummaryRecord } from '../../src/engine/wire.ts';
import { HIGHEST_LEVEL } from '../../src/engine/wire-handshake.ts';
import { spread, T0 as E0 } from '../helpers/events.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

/** A logger that keeps what it is told. */
function recordingLogger(): Logger & { lines: { level: string; message: string; fields?: LogFields }[] } {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) => { lines.push({ level, message, fields }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

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

  it('a downgrade while a higher level settles keeps what ingest wrote: a level that never stood is not agreed', async () => {
    // Level 4 announced at T0 (ingest writes 1 until T0 + 15 min); a level-5 detect at +3 min; a level-4 one at +5 min.
    const n = announced({ level: 4, since: T0, before: 1, heartbeat: T0 }, 5, T0 + 3 * MIN)!;
    expect(n).toMatchObject({ level: 5, before: 1 });
    const down = announced(n, 4, T0 + 5 * MIN)!;
    expect(down).toEqual({ level: 4, since: T0 + 5 * MIN, before: 1, heartbeat: T0 + 5 * MIN });
    expect(agreedLevel(down, T0 + 5 * MIN)).toBe(1);
    // 4 is agreed once it has stood 15 minutes from the downgrade, with detects beating.
    expect(agreedLevel({ ...down, heartbeat: T0 + 20 * MIN - 1 }, T0 + 20 * MIN - 1)).toBe(1);
    expect(agreedLevel({ ...down, heartbeat: T0 + 20 * MIN }, T0 + 20 * MIN)).toBe(4);
    // The same through the announcers and an ingest on a board.
    const board = new MemoryWireNoticeBoard();
    board.notice = { level: 4, since: T0, before: 1, heartbeat: T0 };
    expect(await run(board, [{ detect: 5, at: T0 + 3 * MIN }, { detect: 4, at: T0 + 5 * MIN }, { ingest: 5, at: T0 + 5 * MIN }])).toEqual([1]);
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

  it('an ingest whose read fails goes by the last notice it read, and counts the failure; level 1 once that notice is stale', async () => {
    const mem = new MemoryWireNoticeBoard();
    mem.notice = { level: 4, since: T0 - SETTLE_MS, before: 1, heartbeat: T0 };
    // Reads fail when told to (a throttled table, say).
    const failing = new Set<number>();
    let reads = 0;
    const board: WireNoticeBoard = {
      read: async () => { if (failing.has(++reads)) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }); return mem.read(); },
      swap: (p, n) => mem.swap(p, n),
    };
    const metrics = new CountingMetrics();
    const log = recordingLogger();
    const ingest = new AgreedWireLevel(board, 4, log, metrics);
    failing.add(2);
    expect(await ingest.level(T0)).toBe(4);
    // The second read fails: still 4 (not level 1, the capacity cliff: three times the bytes on a throttled table).
    expect(await ingest.level(T0 + MIN)).toBe(4);
    expect(ingest.failures).toBe(1);
    expect(metrics.get('WireNoticeFailures')).toBe(1);
    expect(log.lines).toEqual([expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ error: 'ThrottlingException', level: 4 }) })]);
    expect(await ingest.level(T0 + 2 * MIN)).toBe(4);
    expect(reads).toBe(3);
    // Failing on: the notice last read goes stale as it would for anyone reading it (no detect beat on it since T0).
    failing.add(4).add(5);
    expect(await ingest.level(T0 + STALE_MS)).toBe(4);
    expect(await ingest.level(T0 + STALE_MS + MIN)).toBe(1);
    expect(ingest.failures).toBe(3);
    // An instance that has read no notice yet writes level 1.
    const never = new AgreedWireLevel({ read: async () => { throw new Error('throttled'); }, swap: async () => false }, 4);
    expect(await never.level(T0)).toBe(1);
  });

  it('a failed read never raises the level: a notice read while it settled has not stood since, unseen', async () => {
    const mem = new MemoryWireNoticeBoard();
    mem.notice = { level: 4, since: T0, before: 1, heartbeat: T0 + 10 * MIN };
    let fail = false;
    const board: WireNoticeBoard = { read: async () => { if (fail) throw new Error('throttled'); return mem.read(); }, swap: (p, n) => mem.swap(p, n) };
    const ingest = new AgreedWireLevel(board, 4);
    expect(await ingest.level(T0 + 10 * MIN)).toBe(1);
    // A downgrade comes meanwhile (not seen: the reads fail); by the old notice 4 would have stood at T0 + 15 min.
    await new WireAnnouncer(mem, 3).announce(T0 + 12 * MIN);
    fail = true;
    expect(await ingest.level(T0 + SETTLE_MS)).toBe(1);
    expect(await ingest.level(T0 + SETTLE_MS + MIN)).toBe(1);
  });

  it('a detect that cannot announce backs off a HEARTBEAT_MS instead of trying on every batch, and counts each failure', async () => {
    let reads = 0;
    const broken: WireNoticeBoard = { read: async () => { reads++; throw new Error('throttled'); }, swap: async () => true };
    const metrics = new CountingMetrics();
    const detect = new WireAnnouncer(broken, 4, undefined, metrics);
    for (let s = 0; s < 60; s++) await detect.announce(T0 + s * 1000);
    expect({ reads, failures: detect.failures, metric: metrics.get('WireNoticeFailures') }).toEqual({ reads: 1, failures: 1, metric: 1 });
    await detect.announce(T0 + HEARTBEAT_MS);
    expect({ reads, failures: detect.failures, metric: metrics.get('WireNoticeFailures') }).toEqual({ reads: 2, failures: 2, metric: 2 });
  });

  it('a detect that loses the compare-and-swap on every attempt counts and logs a failure, and backs off too', async () => {
    const mem = new MemoryWireNoticeBoard();
    let swaps = 0;
    const contended: WireNoticeBoard = { read: () => mem.read(), swap: async () => (swaps++, false) };
    const metrics = new CountingMetrics();
    const log = recordingLogger();
    const detect = new WireAnnouncer(contended, 4, log, metrics);
    await detect.announce(T0);
    expect(swaps).toBe(ANNOUNCE_ATTEMPTS);
    expect(detect.failures).toBe(1);
    expect(metrics.get('WireNoticeFailures')).toBe(1);
    expect(log.lines).toEqual([{ level: 'warn', message: 'wire level notice not written', fields: expect.objectContaining({ error: 'CompareAndSwapLost' }) }]);
    await detect.announce(T0 + 1000);
    expect(swaps).toBe(ANNOUNCE_ATTEMPTS);
    // Nothing to write is no failure.
    mem.notice = announced(undefined, 4, T0)!;
    const quiet = new WireAnnouncer(contended, 4, log, metrics);
    await quiet.announce(T0 + 1000);
    expect(quiet.failures).toBe(0);
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

  it('an item of four numbers that make no notice (level 0) reads as none and is overwritten, by a swap on those numbers', async () => {
    const invalid = { pk: { S: WIRE_NOTICE_KEY.pk }, sk: { S: WIRE_NOTICE_KEY.sk }, level: { N: '0' }, since: { N: '1' }, before: { N: '1' }, heartbeat: { N: '1' } };
    await client.send(new PutItemCommand({ TableName: TABLE, Item: invalid }));
    const board = new DynamoWireNoticeBoard(client, TABLE);
    expect(await board.read()).toBeUndefined();
    const detect = new WireAnnouncer(board, 4);
    await detect.announce(T0);
    expect(detect.failures).toBe(0);
    expect(await board.read()).toEqual({ level: 4, since: T0, before: 1, heartbeat: T0 });
    // Still a compare-and-swap: changed since this board read it (to other numbers that make no notice), it loses.
    const stale = new DynamoWireNoticeBoard(client, TABLE);
    await client.send(new PutItemCommand({ TableName: TABLE, Item: invalid }));
    expect(await stale.read()).toBeUndefined();
    await client.send(new PutItemCommand({ TableName: TABLE, Item: { ...invalid, heartbeat: { N: '2' } } }));
    const next: WireNotice = { level: 4, since: T0, before: 1, heartbeat: T0 };
    expect(await stale.swap(undefined, next)).toBe(false);
    expect(await stale.read()).toBeUndefined();
    expect(await stale.swap(undefined, next)).toBe(true);
    // A board that has not read the item (it read a valid notice) does not overwrite such an item either.
    const other = new DynamoWireNoticeBoard(client, TABLE);
    expect(await other.read()).toEqual(next);
    await client.send(new PutItemCommand({ TableName: TABLE, Item: invalid }));
    expect(await other.swap(undefined, { ...next, heartbeat: T0 + 1 })).toBe(false);
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
  it("ingest under 'auto' writes level 1 until detect's level has stood, then level 4 (brotli, no prefixes, 16-bit path hashes)", async () => {
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
    // The paths' hashes in 16 bits (the addresses' own, restored from their keys, stay whole).
    const hashes = read.flatMap((p) => p.i.flatMap(([, w]) => (Array.isArray(w.d[0]) ? w.d[0] : [])));
    expect(hashes.length).toBeGreaterThan(0);
    expect(Math.max(...hashes)).toBeLessThanOrEqual(0xffff);
    expect(metrics.totals.get('SummaryWireLevel')).toBe(1 + 4);
  });
});
