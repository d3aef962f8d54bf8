import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTableInput, DynamoLedgerStore, LEDGER_TABLE_KEYS } from '../../src/adapters/aws/dynamodb.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { Evidence } from '../../src/decision.ts';
import { LEDGER_PENDING_LOOKBACK_MS, type LedgerEntry, type LedgerStore } from '../../src/ports.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';
import { FaultInjectingHandler, type FaultRule } from './fault-handler.ts';

/**
 * What contain reads of the ledger (listOpen): the active entries, and the ones whose alert is due, and nothing else,
 * through the same cases on both stores. On DynamoDB: by querying the status index, never scanning, and with the
 * entries a stream batch names read from the table when the index lags.
 */

const NOW = 1_800_000_000_000;
const MIN = 60_000;
const DAY = 24 * 3600_000;
const evidence: Evidence = { key: 'k', keyKind: 'ip', windowStart: 0, windowEnd: MIN, findings: [], features: {}, held: '2/3' };

function entry(target: string, createdAt: number, expiresAt: number, status: LedgerEntry['status'], more: Partial<LedgerEntry> = {}): LedgerEntry {
  return { target, targetKind: 'ip', createdAt, expiresAt, status, reasons: ['flood'], score: 3, priorBlocks: 0, evidence, ...more };
}

/** The cases: which entries contain must see now, and which it must not. */
const OPEN: LedgerEntry[] = [
  entry('203.0.113.1', NOW - 5 * MIN, NOW + DAY, 'active'), // new, not alerted
  entry('203.0.113.2', NOW - DAY, NOW + DAY, 'active', { alerted: ['active'], effectiveAt: NOW - DAY }), // alerted, still in force
  entry('203.0.113.3', NOW - 3 * DAY, NOW - 2 * DAY, 'active', { alerted: ['active'] }), // ran out: contain ends it
  entry('203.0.113.4', NOW - 2 * MIN, NOW + 3600_000, 'held'), // an alert not sent yet
  entry('203.0.113.5', NOW - DAY, NOW - MIN, 'expired', { alerted: ['active'], endedAt: NOW - MIN }), // its unblock is due
  entry('203.0.113.6', NOW - 30 * DAY, NOW + DAY, 'released', { alerted: ['active'], endedAt: NOW - 10 * MIN }), // released lately
];
const CLOSED: LedgerEntry[] = [
  entry('198.51.100.1', NOW - 10 * DAY, NOW - 9 * DAY, 'expired', { alerted: ['active', 'expired'], endedAt: NOW - 9 * DAY }),
  entry('198.51.100.2', NOW - MIN, NOW + 3600_000, 'held', { alerted: ['held'] }),
  entry('198.51.100.3', NOW - DAY, NOW + DAY, 'released', { alerted: ['active', 'released'], endedAt: NOW - 2 * MIN }),
  // Ended, never alerted, but longer ago than the lookback: not alerted any more.
  entry('198.51.100.4', NOW - 20 * DAY, NOW - 19 * DAY, 'expired', { alerted: ['active'], endedAt: NOW - LEDGER_PENDING_LOOKBACK_MS - DAY }),
];

const targets = (es: LedgerEntry[]) => es.map((e) => e.target).sort();

function contract(name: string, open: () => Promise<LedgerStore>) {
  describe(name, () => {
    it('listOpen: the active entries and those whose alert is due, newest first; nothing that is done', async () => {
      const store = await open();
      for (const e of [...OPEN, ...CLOSED]) await store.put(e);
      const got = await store.listOpen(NOW);
      expect(targets(got)).toEqual(targets(OPEN));
      expect(got.map((e) => e.createdAt)).toEqual([...got.map((e) => e.createdAt)].sort((a, b) => b - a));
      // Whole entries, as put.
      expect(got.find((e) => e.target === '203.0.113.6')).toEqual(OPEN[5]);
    });

    it('listOpen: an entry leaves once its status is alerted, and comes back when its status changes', async () => {
      const store = await open();
      const e = OPEN[0];
      await store.put(e);
      await store.put({ ...e, alerted: ['active'] });
      expect(targets(await store.listOpen(NOW))).toEqual([e.target]); // still active
      await store.put({ ...e, status: 'released', endedAt: NOW, alerted: ['active'] });
      expect(targets(await store.listOpen(NOW))).toEqual([e.target]); // its release is due
      await store.put({ ...e, status: 'released', endedAt: NOW, alerted: ['active', 'released'] });
      expect(await store.listOpen(NOW)).toEqual([]);
    });
  });
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
contract('SQLite ledger', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-ledger-open-'));
  dirs.push(dir);
  return new SqliteState(join(dir, 'state.sqlite'));
});

describeMoto('DynamoDB ledger on moto', () => {
  const moto = useMoto();
  const TABLE = 'cordon-ledger';
  let client: DynamoDBClient;
  beforeAll(() => {
    client = new DynamoDBClient({ ...moto.clientConfig(), maxAttempts: 3 });
  });
  afterAll(() => client?.destroy());
  beforeEach(async () => {
    await moto.reset();
    await client.send(new CreateTableCommand(createTableInput(TABLE, LEDGER_TABLE_KEYS)));
  });

  contract('contract', async () => new DynamoLedgerStore(client, TABLE));

  function watched(rule: FaultRule = () => undefined) {
    const handler = new FaultInjectingHandler(rule);
    const c = new DynamoDBClient({ ...moto.clientConfig(), maxAttempts: 3, requestHandler: handler as never });
    return { handler, store: new DynamoLedgerStore(c, TABLE), close: () => c.destroy() };
  }

  it('listOpen and listActive query the status index and never scan, however much history the ledger holds', async () => {
    const writer = new DynamoLedgerStore(client, TABLE);
    for (let i = 0; i < 120; i++) {
      await writer.put(entry(`192.0.2.${i}`, NOW - 20 * DAY + i, NOW - 19 * DAY, 'expired',
        { alerted: ['active', 'expired'], endedAt: NOW - 19 * DAY }));
    }
    for (const e of OPEN) await writer.put(e);
    const { handler, store, close } = watched();
    expect(targets(await store.listOpen(NOW))).toEqual(targets(OPEN));
    expect(targets(await store.listActive(NOW))).toEqual(['203.0.113.1', '203.0.113.2']);
    expect(handler.seen).not.toContain('Scan');
    // The index finds them; the ones contain may write back are read from the table (all but the settled block),
    // and none of the 120 done entries is.
    expect(handler.seen.filter((op) => op === 'GetItem')).toHaveLength(OPEN.length - 1);
    expect(handler.seen.every((op) => op === 'Query' || op === 'GetItem')).toBe(true);
    close();
  });

  it('an index lagging behind an operator\'s write: what contain may write back is the table\'s copy, not the index\'s', async () => {
    const writer = new DynamoLedgerStore(client, TABLE);
    const due = entry('203.0.113.50', NOW - DAY, NOW - MIN, 'active', { alerted: ['active'], effectiveAt: NOW - DAY });
    await writer.put(due);
    const extended = { ...due, expiresAt: NOW + DAY }; // `blocks extend`, just now
    await writer.put(extended);
    // The index still answers the old copy.
    const lagging: FaultRule = ({ operation, json }) => {
      if (operation !== 'Query' || !(json as { IndexName?: string }).IndexName) return undefined;
      return { forward: { editResponse: (r) => {
        const page = r as { Items?: { pk: { S: string }; expiresAt: { N: string } }[] };
        for (const it of page.Items ?? []) if (it.pk.S === due.target) it.expiresAt = { N: String(due.expiresAt) };
        return page;
      } } };
    };
    const { store, close } = watched(lagging);
    const [got] = await store.listOpen(NOW);
    expect(got.expiresAt).toBe(extended.expiresAt);
    close();
  });

  it('an index lagging behind its table: the entries a stream batch names are read from the table', async () => {
    const fresh = entry('203.0.113.99', NOW - 1_000, NOW + DAY, 'active');
    // The index has not caught up with this entry yet (DynamoDB's indexes are eventually consistent; moto's are not).
    const lagging: FaultRule = ({ operation, json }) => {
      if (operation !== 'Query' || !(json as { IndexName?: string }).IndexName) return undefined;
      return { forward: { editResponse: (r) => {
        const page = r as { Items?: { pk: { S: string } }[]; Count?: number };
        const Items = (page.Items ?? []).filter((it) => it.pk.S !== fresh.target);
        return { ...page, Items, Count: Items.length };
      } } };
    };
    await new DynamoLedgerStore(client, TABLE).put(fresh);
    const { store, handler, close } = watched(lagging);
    expect(await store.listOpen(NOW)).toEqual([]);
    expect(targets(await store.listOpen(NOW, [{ target: fresh.target, createdAt: fresh.createdAt }]))).toEqual([fresh.target]);
    expect(handler.seen).toContain('GetItem');
    // A written entry that is not open (already alerted and ended) is not returned for being named.
    const done = CLOSED[2];
    await new DynamoLedgerStore(client, TABLE).put(done);
    expect(targets(await store.listOpen(NOW, [{ target: done.target, createdAt: done.createdAt }]))).toEqual([]);
    close();
  });
});
