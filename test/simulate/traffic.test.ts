import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import ipaddr from 'ipaddr.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic, simulateEvents, writeTraffic, type TrafficOptions } from '../../src/simulate/traffic.ts';
import type { Labels } from '../../src/simulate/labels.ts';

const START = 1793577600000;

interface ApigwLine {
  requestId: string;
  extendedRequestId: string;
  ip: string;
  requestTimeEpoch: number;
  httpMethod: string;
  resourcePath: string;
  path: string;
  status: number;
  responseLength: number;
  userAgent: string;
  userArn: string;
  principalId: string;
  [field: string]: unknown;
}

function generate(opts: Partial<TrafficOptions> & Pick<TrafficOptions, 'scenario' | 'minutes'>) {
  const { lines, labels } = generateTraffic({ seed: 7, format: 'apigw-json', ...opts });
  return { lines: [...lines], labels };
}

/** One hash of all lines: comparing 20k strings with toEqual is needlessly slow. */
function digest(lines: Iterable<string>): string {
  const h = createHash('sha256');
  for (const line of lines) h.update(line).update('\n');
  return h.digest('hex');
}

function parsed(lines: string[]): ApigwLine[] {
  return lines.map((l) => JSON.parse(l) as ApigwLine);
}

function inCidr(ip: string, cidr: string): boolean {
  const a = ipaddr.parse(ip);
  const range = ipaddr.parseCIDR(cidr);
  return a.kind() === range[0].kind() && a.match(range);
}

function byIp(events: ApigwLine[]): Map<string, ApigwLine[]> {
  const m = new Map<string, ApigwLine[]>();
  for (const e of events) {
    const list = m.get(e.ip) ?? [];
    list.push(e);
    m.set(e.ip, list);
  }
  return m;
}

describe('generateTraffic determinism', () => {
  it('gives the same lines and labels for the same seed, and iterating twice gives the same lines', () => {
    const a = generateTraffic({ scenario: 'mixed', minutes: 2, seed: 3, format: 'apigw-json' });
    const b = generateTraffic({ scenario: 'mixed', minutes: 2, seed: 3, format: 'apigw-json' });
    const first = [...a.lines];
    expect(first.length).toBeGreaterThan(1000);
    expect(digest(b.lines)).toBe(digest(first));
    expect(digest(a.lines)).toBe(digest(first));
    expect(b.labels).toEqual(a.labels);
  });

  it('gives different traffic for another seed', () => {
    const a = generateTraffic({ scenario: 'benign', minutes: 1, seed: 1, format: 'console-clf' }).lines;
    const b = generateTraffic({ scenario: 'benign', minutes: 1, seed: 2, format: 'console-clf' }).lines;
    expect(digest(b)).not.toBe(digest(a));
  });

  it('rejects an unknown scenario or format, and a record size that would never advance', () => {
    expect(() => generateTraffic({ scenario: 'nope' as never, minutes: 5, seed: 1, format: 'apigw-json' })).toThrow(/unknown scenario/);
    expect(() => generateTraffic({ scenario: 'benign', minutes: 1, seed: 1, format: 'cwl-kinesis', perRecord: 0 }))
      .toThrow(/perRecord/);
    expect(() => generateTraffic({ scenario: 'benign', minutes: 1, seed: 1, format: 'xml' as never })).toThrow(/unknown format/);
  });
});

describe('mixed scenario: labels agree with the lines', () => {
  const { lines, labels } = generate({ scenario: 'mixed', minutes: 10 });
  const events = parsed(lines);
  const ips = byIp(events);

  it('labels every request, the window and six attackers', () => {
    expect(labels.requests).toBe(lines.length);
    expect(labels.start).toBe(START);
    expect(labels.end).toBe(START + 10 * 60000);
    expect(labels.attackers.map((a) => a.kind)).toEqual([
      'scanner', 'flood', 'credential-stuffing', 'subnet-flood', 'ipv6-rotating-scanner', 'scanner',
    ]);
    expect(labels.benign_ips).toBe(1500);
  });

  it('puts every attacker address in the traffic inside its window, and nowhere else', () => {
    const problems: string[] = [];
    for (const at of labels.attackers) {
      expect(at.ips.length, at.kind).toBeGreaterThan(0);
      for (const ip of at.ips) {
        const times = (ips.get(ip) ?? []).map((e) => e.requestTimeEpoch);
        if (times.length === 0) problems.push(`${at.kind} ${ip} absent`);
        if (!times.every((t) => t >= at.start && t < at.end)) problems.push(`${at.kind} ${ip} outside its window`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('keeps rotating and subnet attackers inside their labelled prefix', () => {
    const rotating = labels.attackers.filter((a) => a.prefix);
    expect(rotating.map((a) => a.kind)).toEqual(['subnet-flood', 'ipv6-rotating-scanner']);
    for (const at of rotating) {
      expect(at.ips.every((ip) => inCidr(ip, at.prefix!)), at.kind).toBe(true);
    }
    expect(rotating[1].ips.length).toBeGreaterThan(500); // a new address for nearly every request
  });

  it('allowlists the health checkers, which stay inside 10.20.0.0/24', () => {
    expect(labels.allowlist).toEqual(['10.20.0.0/24']);
    const checker = labels.benign_notable.find((b) => b.kind === 'health-checker')!;
    expect(checker.ips).toHaveLength(3);
    for (const ip of checker.ips) {
      expect(inCidr(ip, '10.20.0.0/24')).toBe(true);
      expect(ips.get(ip)!.every((e) => e.path === '/health')).toBe(true);
    }
  });

  it('has a NAT address carrying many principals and a crawler from Googlebot space', () => {
    const nat = labels.benign_notable.find((b) => b.kind === 'nat')!;
    const principals = new Set(ips.get(nat.ips[0])!.map((e) => e.principalId));
    expect(principals.size).toBeGreaterThan(60);
    const crawler = labels.benign_notable.find((b) => b.kind === 'crawler')!;
    expect(inCidr(crawler.ips[0], '66.249.64.0/19')).toBe(true);
    expect(ips.get(crawler.ips[0])!.every((e) => e.userAgent.includes('Googlebot'))).toBe(true);
  });

  it('delivers lines in time order up to a little jitter', () => {
    let latest = 0;
    let outOfOrder = 0;
    let worstLag = 0;
    for (const e of events) {
      if (e.requestTimeEpoch < latest) outOfOrder++;
      worstLag = Math.max(worstLag, latest - e.requestTimeEpoch);
      latest = Math.max(latest, e.requestTimeEpoch);
    }
    expect(worstLag).toBeLessThan(1500);
    expect(outOfOrder).toBeGreaterThan(0); // the jitter is really there
  });
});

describe('other scenarios', () => {
  it('benign has no attackers and flash-crowd hides one flood in a burst', () => {
    expect(generate({ scenario: 'benign', minutes: 2 }).labels.attackers).toEqual([]);
    const { events, labels } = simulateEvents({ scenario: 'flash-crowd', minutes: 15, seed: 7 });
    expect(labels.attackers.map((a) => a.kind)).toEqual(['flood']);
    expect(labels.attackers[0].start).toBe(START + 8 * 60000);
    const perMinute = new Map<number, number>();
    for (const e of events) {
      const m = Math.floor((e.t - START) / 60000);
      if (e.ip !== labels.attackers[0].ips[0]) perMinute.set(m, (perMinute.get(m) ?? 0) + 1);
    }
    // Benign traffic in the burst (from minute 6) is several times that before it.
    expect(perMinute.get(7)! / perMinute.get(3)!).toBeGreaterThan(3);
  });
});

describe('stolen-credentials scenario', () => {
  const { lines, labels } = generate({ scenario: 'stolen-credentials', minutes: 20 });
  const events = parsed(lines);
  const principalOf = (e: ApigwLine) => (e.userArn !== '-' ? e.userArn : e.principalId);

  it('labels a leaked IAM principal used from 30+ addresses within minutes', () => {
    const stolen = labels.attackers.find((a) => a.kind === 'stolen-credentials')!;
    expect(stolen.principal).toMatch(/^arn:aws:iam::123456789012:user\//);
    expect(stolen.ips.length).toBeGreaterThanOrEqual(30);
    expect(stolen.end - stolen.start).toBeLessThanOrEqual(5 * 60000);
    const thiefLines = events.filter((e) => stolen.ips.includes(e.ip));
    expect(thiefLines.every((e) => e.userArn === stolen.principal)).toBe(true);
    expect(thiefLines.every((e) => e.requestTimeEpoch >= stolen.start && e.requestTimeEpoch < stolen.end)).toBe(true);
    expect(new Set(thiefLines.map((e) => e.ip)).size).toBe(stolen.ips.length);
    // The rightful owner keeps using it from one other address all along.
    const owner = labels.benign_notable.find((b) => b.kind === 'credential-owner')!;
    const ownerLines = events.filter((e) => e.ip === owner.ips[0]);
    expect(ownerLines.length).toBeGreaterThan(30);
    expect(ownerLines.every((e) => e.userArn === stolen.principal)).toBe(true);
  });

  it('labels a principal that pulls about 20x its usual volume and bytes after a normal history', () => {
    const exfil = labels.attackers.find((a) => a.kind === 'exfiltration')!;
    expect(exfil.principal).not.toBeNull();
    const mine = events.filter((e) => principalOf(e) === exfil.principal);
    expect(mine.every((e) => e.ip === exfil.ips[0])).toBe(true);
    const before = mine.filter((e) => e.requestTimeEpoch < exfil.start);
    const during = mine.filter((e) => e.requestTimeEpoch >= exfil.start && e.requestTimeEpoch < exfil.end);
    expect(before.length).toBeGreaterThan(20);
    const perMinute = (list: ApigwLine[], minutes: number) => list.length / minutes;
    const bytesPerMinute = (list: ApigwLine[], minutes: number) =>
      list.reduce((sum, e) => sum + e.responseLength, 0) / minutes;
    const beforeMin = (exfil.start - START) / 60000;
    const duringMin = (exfil.end - exfil.start) / 60000;
    expect(perMinute(during, duringMin) / perMinute(before, beforeMin)).toBeGreaterThan(12);
    expect(bytesPerMinute(during, duringMin) / bytesPerMinute(before, beforeMin)).toBeGreaterThan(12);
  });
});

describe('output formats', () => {
  const opts = { scenario: 'mixed', minutes: 2, seed: 11 } as const;
  const requests = generateTraffic({ ...opts, format: 'apigw-json' }).labels.requests!;

  it('apigw-json carries every recommended field, numbers unquoted', () => {
    const first = JSON.parse([...generateTraffic({ ...opts, format: 'apigw-json' }).lines][0]) as ApigwLine;
    expect(Object.keys(first)).toEqual([
      'requestId', 'extendedRequestId', 'ip', 'requestTimeEpoch', 'httpMethod', 'resourcePath', 'path', 'status',
      'protocol', 'responseLength', 'responseLatency', 'integrationLatency', 'userAgent', 'caller', 'user', 'userArn',
      'principalId', 'apiKeyId', 'wafResponseCode', 'apiId', 'stage', 'domainName',
    ]);
    expect(first.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(first.extendedRequestId).toMatch(/^[A-Za-z0-9+/]{8}=$/);
    expect(typeof first.status).toBe('number');
    expect(typeof first.responseLength).toBe('number');
    expect(first.requestTimeEpoch).toBeGreaterThanOrEqual(START);
  });

  it('console-json has requestTime as text and status as a string', () => {
    const lines = [...generateTraffic({ ...opts, format: 'console-json' }).lines];
    expect(lines).toHaveLength(requests);
    const first = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual([
      'requestId', 'ip', 'caller', 'user', 'requestTime', 'httpMethod', 'resourcePath', 'status', 'protocol',
      'responseLength',
    ]);
    expect(first.requestTime).toMatch(/^02\/Nov\/2026:00:0[0-2]:\d\d \+0000$/);
    expect(typeof first.status).toBe('string');
  });

  it('console-clf and combined match their line grammars', () => {
    const clf = /^(\S+) (\S+) (\S+) \[(\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000)\] "(\S+) (\S+) (HTTP\/1\.1)" (\d{3}) (\d+) ([0-9a-f-]{36})$/;
    const clfLines = [...generateTraffic({ ...opts, format: 'console-clf' }).lines];
    expect(clfLines).toHaveLength(requests);
    expect(clfLines.filter((l) => !clf.test(l))).toEqual([]);
    const combined = /^(\S+) - - \[[^\]]+\] "(\S+) (\S+) HTTP\/1\.1" (\d{3}) (\d+) "-" "([^"]*)"$/;
    const combinedLines = [...generateTraffic({ ...opts, format: 'combined' }).lines];
    expect(combinedLines.filter((l) => !combined.test(l))).toEqual([]);
  });

  it('cwl-kinesis lines are Lambda Kinesis records of gzip\'d CloudWatch Logs envelopes', () => {
    const lines = [...generateTraffic({ ...opts, format: 'cwl-kinesis', perRecord: 100 }).lines];
    expect(lines).toHaveLength(Math.ceil(requests / 100));
    const ids = new Set<string>();
    let events = 0;
    let badEvents = 0;
    for (const line of lines) {
      const record = JSON.parse(line);
      expect(record).toMatchObject({ eventSource: 'aws:kinesis', eventName: 'aws:kinesis:record', awsRegion: 'us-east-1' });
      expect(record.kinesis.kinesisSchemaVersion).toBe('1.0');
      expect(record.kinesis.sequenceNumber).toMatch(/^\d{56}$/);
      const envelope = JSON.parse(gunzipSync(Buffer.from(record.kinesis.data, 'base64')).toString('utf8'));
      expect(envelope).toMatchObject({ messageType: 'DATA_MESSAGE', owner: '123456789012', subscriptionFilters: ['cordon'] });
      expect(envelope.logGroup).toBe('API-Gateway-Execution-Logs_a1b2c3d4e5/prod');
      expect(envelope.logStream).toMatch(/^[0-9a-f]{32}$/);
      expect(envelope.logEvents.length).toBeLessThanOrEqual(100);
      for (const ev of envelope.logEvents) {
        ids.add(ev.id);
        const message = JSON.parse(ev.message) as ApigwLine;
        if (typeof ev.id !== 'string' || ev.timestamp !== message.requestTimeEpoch + 200) badEvents++;
        events++;
      }
      expect(record.kinesis.approximateArrivalTimestamp).toBeCloseTo(
        (JSON.parse(envelope.logEvents.at(-1).message).requestTimeEpoch + 900) / 1000, 3);
    }
    expect(events).toBe(requests);
    expect(badEvents).toBe(0);
    expect(ids.size).toBe(requests); // unique across records, unlike apitraffic.py's
  });
});

describe('writeTraffic', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cordon-sim-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the lines and <path>.labels.json', async () => {
    const path = join(dir, 'traffic.log');
    const opts = { scenario: 'mixed', minutes: 2, seed: 5, format: 'apigw-json' } as const;
    const result = await writeTraffic(path, opts);
    expect(result.labelsPath).toBe(`${path}.labels.json`);
    const written = (await readFile(path, 'utf8')).split('\n');
    expect(written.pop()).toBe('');
    expect(digest(written)).toBe(digest(generateTraffic(opts).lines));
    expect(result.requests).toBe(written.length);
    const labels = JSON.parse(await readFile(result.labelsPath, 'utf8')) as Labels;
    expect(labels).toEqual(generateTraffic(opts).labels);
    expect(result.attackers).toBe(labels.attackers.length);
    expect(Object.keys(labels)).toEqual([
      'scenario', 'seed', 'start', 'end', 'attackers', 'benign_notable', 'allowlist', 'benign_ips',
      'benign_principals', 'requests',
    ]);
  });
});
