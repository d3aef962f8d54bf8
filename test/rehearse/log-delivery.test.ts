import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeCloudWatchData } from '../../src/decode/cloudwatch.ts';
import type { DecodeSink } from '../../src/decode/types.ts';
import type { AccessEvent, Unreadable } from '../../src/events.ts';
import type { PutRecord, StreamPutter } from '../../src/ports/stream.ts';
import { DeliveryModel } from '../../src/rehearse/delivery-model.ts';
import { LogDelivery, PUT_LOG_EVENTS_MAX_EVENTS, type LogLine } from '../../src/rehearse/log-delivery.ts';
import { Scheduler } from '../../src/rehearse/scheduler.ts';
import { T, apigwLine } from '../decode/fixtures.ts';

/** A stream that only keeps what was put, and when. */
class RecordingPutter implements StreamPutter {
  readonly puts: { at: number; record: PutRecord }[] = [];
  failures = 0;
  constructor(private readonly sched: Scheduler) {}
  async put(records: PutRecord[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('ProvisionedThroughputExceededException');
    }
    for (const record of records) this.puts.push({ at: this.sched.now(), record });
  }
}

interface Envelope {
  messageType: string;
  owner: string;
  logGroup: string;
  logStream: string;
  subscriptionFilters: string[];
  logEvents: { id: string; timestamp: number; message: string }[];
}

const envelopeOf = (r: PutRecord): Envelope => JSON.parse(gunzipSync(r.data).toString('utf8')) as Envelope;

class Sink implements DecodeSink {
  readonly events: { e: AccessEvent; logTimestamp?: number }[] = [];
  readonly rejects: Unreadable[] = [];
  event(e: AccessEvent, logTimestamp?: number): void {
    this.events.push({ e, logTimestamp });
  }
  unreadable(u: Unreadable): void {
    this.rejects.push(u);
  }
}

function lines(n: number, spreadMs: number): LogLine[] {
  return Array.from({ length: n }, (_, i) => {
    const time = T + Math.floor((i * spreadMs) / n);
    return { time, line: apigwLine({ requestTimeEpoch: time, ip: `198.51.100.${i % 250}`, path: `/prod/items/${i}`, requestId: `req-${i}` }) };
  });
}

function rig(seed = 1, opts: Partial<ConstructorParameters<typeof LogDelivery>[0]> = {}) {
  const sched = new Scheduler(T - 60_000);
  const putter = new RecordingPutter(sched);
  const delivery = new LogDelivery({ scheduler: sched, model: new DeliveryModel(seed), putter, ...opts });
  return { sched, putter, delivery };
}

describe('LogDelivery', () => {
  it('puts real CloudWatch Logs envelopes that decode back to the same lines', async () => {
    const { sched, putter, delivery } = rig();
    const input = lines(2_000, 120_000);
    delivery.feed(input);
    await sched.run();
    const sink = new Sink();
    for (const { record } of putter.puts) decodeCloudWatchData(Buffer.from(record.data).toString('base64'), sink);
    expect(sink.rejects).toEqual([]);
    const key = (time: number, ip: string, path: string) => `${time} ${ip} ${path}`;
    const decoded = sink.events.map(({ e }) => key(e.time, e.ip, e.path)).sort();
    const expected = input.map((l, i) => key(l.time, `198.51.100.${i % 250}`, `/prod/items/${i}`)).sort();
    expect(decoded).toEqual(expected);
    // Each event's CloudWatch timestamp is its request time.
    for (const { e, logTimestamp } of sink.events) expect(logTimestamp).toBe(e.time);
    expect(delivery.stats).toMatchObject({ lines: 2_000, controlMessages: 1, lateLines: 0 });
  });

  it('shapes each record as CloudWatch Logs does: one log stream, events in time order, 56-digit string ids', async () => {
    const { sched, putter, delivery } = rig(2, { logStreams: 4 });
    delivery.feed(lines(3_000, 60_000));
    await sched.run();
    const envelopes = putter.puts.map(({ record }) => envelopeOf(record));
    expect(envelopes[0].messageType).toBe('CONTROL_MESSAGE');
    const data = envelopes.slice(1);
    expect(data.length).toBe(delivery.stats.records);
    const ids = new Set<string>();
    for (const env of data) {
      expect(env).toMatchObject({ messageType: 'DATA_MESSAGE', owner: '123456789012', logGroup: delivery.logGroup, subscriptionFilters: ['cordon'] });
      expect(delivery.logStreamNames).toContain(env.logStream);
      expect(env.logEvents.length).toBeGreaterThan(0);
      for (const [i, ev] of env.logEvents.entries()) {
        expect(typeof ev.id).toBe('string');
        expect(ev.id).toMatch(/^\d{56}$/);
        ids.add(ev.id);
        if (i > 0) expect(ev.timestamp).toBeGreaterThanOrEqual(env.logEvents[i - 1].timestamp);
      }
    }
    expect(ids.size).toBe(3_000);
    // Many lines per record (a record per log stream per flush), spread over random partition keys.
    expect(delivery.stats.records).toBeLessThan(3_000 / 5);
    expect(new Set(putter.puts.map((p) => p.record.partitionKey)).size).toBe(putter.puts.length);
  });

  it('puts each record after its lines were made, by the two delivery delays at least', async () => {
    const { sched, putter, delivery } = rig(3);
    delivery.feed(lines(500, 30_000));
    await sched.run();
    const model = new DeliveryModel(3);
    const minDelay = (model.spec('apigwToCloudWatchLogs').minMs ?? 0) + (model.spec('subscriptionToKinesis').minMs ?? 0);
    const delays: number[] = [];
    for (const { at, record } of putter.puts.slice(1)) {
      for (const ev of envelopeOf(record).logEvents) {
        expect(at - ev.timestamp).toBeGreaterThanOrEqual(minDelay);
        delays.push(at - ev.timestamp);
      }
    }
    delays.sort((a, b) => a - b);
    // Median: flush wait (~0.5 s) + 5 s + 3 s; well under a minute, not instant.
    const median = delays[Math.floor(delays.length / 2)];
    expect(median).toBeGreaterThan(3_000);
    expect(median).toBeLessThan(30_000);
    expect(delivery.stats.maxLineDelayMs).toBe(delays[delays.length - 1]);
  });

  it('is seeded: the same seed puts the same bytes at the same times', async () => {
    const go = async (seed: number) => {
      const { sched, putter, delivery } = rig(seed);
      delivery.feed(lines(300, 20_000));
      await sched.run();
      return putter.puts.map((p) => `${p.at}:${p.record.partitionKey}:${Buffer.from(p.record.data).toString('base64')}`);
    };
    expect(await go(11)).toEqual(await go(11));
    expect(await go(11)).not.toEqual(await go(12));
  });

  it('splits a flush at PutLogEvents’ 10,000-event limit', async () => {
    const { sched, putter, delivery } = rig(4, { logStreams: 1, controlMessage: false });
    delivery.feed(lines(25_000, 500));
    await sched.run();
    const counts = putter.puts.map((p) => envelopeOf(p.record).logEvents.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(25_000);
    expect(Math.max(...counts)).toBeLessThanOrEqual(PUT_LOG_EVENTS_MAX_EVENTS);
    expect(counts.length).toBeGreaterThanOrEqual(3);
  });

  it('stamps the ingestion time instead when asked', async () => {
    const { sched, putter, delivery } = rig(5, { cwlTimestamp: 'ingested', controlMessage: false });
    delivery.feed(lines(50, 5_000));
    await sched.run();
    for (const { at, record } of putter.puts) {
      for (const ev of envelopeOf(record).logEvents) expect(ev.timestamp).toBeLessThanOrEqual(at);
    }
    const env = envelopeOf(putter.puts[0].record);
    expect(new Set(env.logEvents.map((e) => e.timestamp)).size).toBe(1);
  });

  it('feeds lines on the clock: a line is handed over no later than its request time', async () => {
    const { sched, putter, delivery } = rig(6, { controlMessage: false });
    const seen: { at: number; time: number }[] = [];
    const original = delivery.add.bind(delivery);
    delivery.add = (l: LogLine) => {
      seen.push({ at: sched.now(), time: l.time });
      original(l);
    };
    async function* slowly(): AsyncIterable<LogLine> {
      for (const l of lines(100, 3_600_000)) yield l; // an hour, with gaps between lines
    }
    delivery.feed(slowly(), { chunkMs: 1_000 });
    await sched.run();
    expect(seen).toHaveLength(100);
    for (const s of seen) {
      expect(s.at).toBeLessThanOrEqual(s.time);
      expect(s.time - s.at).toBeLessThanOrEqual(1_000);
    }
    expect(putter.puts.length).toBeGreaterThan(0);
  });

  it('delivers a line that comes after its flush (out of order) with the next one, and counts it', async () => {
    const { sched, putter, delivery } = rig(7, { controlMessage: false });
    const input = [...lines(10, 1_000), { time: T - 30_000, line: apigwLine({ requestTimeEpoch: T - 30_000, path: '/prod/late' }) }];
    delivery.feed(input);
    await sched.run();
    expect(delivery.stats.lateLines).toBe(1);
    const all = putter.puts.flatMap((p) => envelopeOf(p.record).logEvents);
    expect(all).toHaveLength(11);
    expect(all.find((e) => e.message.includes('/prod/late'))?.timestamp).toBe(T - 30_000);
  });

  it('retries a put that fails (CloudWatch Logs retries retryable errors)', async () => {
    const { sched, putter, delivery } = rig(8, { controlMessage: false });
    putter.failures = 2;
    delivery.feed(lines(20, 1_000));
    await sched.run();
    expect(delivery.stats.putRetries).toBe(2);
    expect(putter.puts.flatMap((p) => envelopeOf(p.record).logEvents)).toHaveLength(20);
  });

  it('keys records by log stream with distribution ByLogStream', async () => {
    const { sched, putter, delivery } = rig(9, { distribution: 'ByLogStream', controlMessage: false });
    delivery.feed(lines(200, 10_000));
    await sched.run();
    for (const { record } of putter.puts) expect(record.partitionKey).toBe(envelopeOf(record).logStream);
  });
});
