import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, DeleteBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqliteState, SCHEMA_VERSION, StateFileError } from '../../src/adapters/local/sqlite-state.ts';
import { createTableInput, DynamoLedgerStore, LEDGER_TABLE_KEYS, STATE_TABLE_KEYS } from '../../src/adapters/aws/dynamodb.ts';
import { AwsRejectedError } from '../../src/adapters/aws/errors.ts';
import { S3BlobStore } from '../../src/adapters/aws/s3.ts';
import { DynamoWindowStore } from '../../src/adapters/aws/window-store.ts';
import { encodeKeyState } from '../../src/detect/baseline.ts';
import { encodeSnapshot, SnapshotBaselineStore } from '../../src/pipeline/snapshot-baseline-store.ts';
import { parseConfig } from '../../src/config.ts';
import type { Decision, Evidence } from '../../src/decision.ts';
import type { AccessEvent } from '../../src/events.ts';
import { runReplay } from '../../src/pipeline/replay.ts';
import type { KeyState, LedgerEntry } from '../../src/ports.ts';
import type { IpSetPayload } from '../../src/render/waf-ipset.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';
import { byTime, figures, readJsonl, removeDir, steady, tempDir } from '../helpers/robustness-sim.ts';

/**
 * Faults in cordon's own state: damaged rows in the SQLite file, files from older and newer releases, files that
 * are not SQLite at all; damaged ledger items and missing tables in DynamoDB, damaged baseline snapshots and a
 * missing bucket in S3 (on moto). Bad rows are skipped and never block anyone; version mismatches are migrated or
 * refused with a named error; nothing crashes with a stack dump.
 */

const dir = tempDir('state-faults');
afterAll(() => removeDir(dir));
let seq = 0;
const sub = (name: string): string => join(dir, `${name}-${seq++}`);

const T0 = Date.UTC(2026, 10, 2);
const MIN = 60_000;
const BUSY_PRINCIPAL = 'arn:aws:iam::123456789012:user/svc-busy';

/**
 * 15 minutes of a quiet population (40 clients at 10 requests a minute) and one busy service principal at 120 a
 * minute from one address: nothing here deserves a block.
 */
function quietTraffic(from = T0): AccessEvent[] {
  const clients = Array.from({ length: 40 }, (_, i) => steady(`198.51.100.${10 + i}`, from + i * 97, from + 15 * MIN, 10));
  const busy = steady('198.51.100.200', from + 5, from + 15 * MIN, 120, { principal: BUSY_PRINCIPAL, path: '/users/1', resource: '/users/{id}' });
  return byTime(...clients, busy);
}

/** Writes `events` as recommended-format JSON lines (what runReplay reads). */
function logFile(events: AccessEvent[], path: string): string {
  writeFileSync(path, events.map((e) => JSON.stringify({ requestId: 'r', ip: e.ip, requestTimeEpoch: e.time, httpMethod: e.method,
    resourcePath: e.resource, path: e.path, status: e.status, protocol: 'HTTP/1.1', responseLength: e.bytes, responseLatency: e.latencyMs,
    userAgent: e.userAgent, userArn: e.principal || '-' })).join('\n') + '\n');
  return path;
}

function ipSetAddresses(out: string): string[] {
  return ['waf-ipset-v4.json', 'waf-ipset-v6.json'].flatMap((f) => (JSON.parse(readFileSync(join(out, f), 'utf8')) as IpSetPayload[]).flatMap((s) => s.Addresses));
}

const evidence = (key: string): Evidence => ({ key, keyKind: 'ip', windowStart: T0, windowEnd: T0 + MIN, findings: [], features: {}, held: '2/3' });

/** The v1 schema exactly as sqlite-state.ts's first migration creates it (an older release's file). */
const V1_SCHEMA = `
  CREATE TABLE IF NOT EXISTS baselines (key TEXT PRIMARY KEY, req_mean REAL, req_var REAL, bytes_mean REAL,
    bytes_var REAL, ips_mean REAL, windows INTEGER, flags INTEGER, last_window INTEGER);
  CREATE TABLE IF NOT EXISTS ledger (target TEXT NOT NULL, created_at INTEGER NOT NULL, kind TEXT NOT NULL,
    expires_at INTEGER NOT NULL, status TEXT NOT NULL, ended_at INTEGER, reasons TEXT NOT NULL, score REAL NOT NULL,
    prior_blocks INTEGER NOT NULL, evidence TEXT NOT NULL, PRIMARY KEY (target, created_at));`;

describe('SQLite state faults (local)', () => {
  it('damaged baseline and ledger rows are skipped: the replay runs and blocks nobody because of them', async () => {
    const out = sub('corrupt');
    const statePath = join(dir, `corrupt-${seq++}.sqlite`);
    new SqliteState(statePath).close(); // a current-schema file
    const db = new Database(statePath);
    const badBaselines: [string, unknown[]][] = [
      // NaN is stored as NULL by SQLite; text in REAL columns stays text; Infinity survives as a REAL.
      [`u:${BUSY_PRINCIPAL}.nan`, [NaN, 'garbage', null, 1, 0, 500, 0, T0 - MIN]],
      ['i:198.51.100.200', ['x', 'y', 'z', null, Infinity, 500, 0, T0 - MIN]],
      ['i:198.51.100.10', [-Infinity, 0.1, 5, 0.1, 0, 500, 0, T0 - MIN]],
      ['p:198.51.100.0/24', [Buffer.from('blob'), 0.1, 5, 0.1, 0, 500, 0xffffffff, T0 - MIN]],
      // Impossible but finite: log-scale means below zero, negative variance and window counts.
      ['i:198.51.100.11', [-30, -1, -30, -1, -5, -7, -1, T0 - MIN]],
      // Impossible but finite, with a trusted window count: a usual rate of "expm1(-30)" requests would make the
      // busy principal's 120 a minute look like exfiltration (it was blocked before the plausibility check).
      [`u:${BUSY_PRINCIPAL}`, [-30, 0.01, -30, 0.01, 0, 500, 0, T0 - MIN]],
    ];
    const putBase = db.prepare(`INSERT OR REPLACE INTO baselines (key, req_mean, req_var, bytes_mean, bytes_var, ips_mean,
      windows, flags, last_window) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const [key, v] of badBaselines) putBase.run(key, ...v.map((x) => (typeof x === 'number' && Number.isNaN(x) ? null : x)));
    // A sound baseline whose evidence over time is damaged: the whole row is refused, never half trusted.
    db.prepare('INSERT OR REPLACE INTO baselines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run('i:198.51.100.17', Math.log1p(5), 0.1, 5, 0.1, 0, 500, 0, T0 - MIN, '1,2,x');
    const putLedger = db.prepare('INSERT OR REPLACE INTO ledger (target, created_at, kind, expires_at, status, ended_at, reasons, score, prior_blocks, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const until = T0 + 600 * MIN;
    const badLedger: unknown[][] = [
      ['198.51.100.12', T0 - MIN, 'ip', until, 'active', null, '["flood"]', 3, 0, '{not json'],
      ['198.51.100.13', T0 - MIN, 'ip', until, 'zombie', null, '["flood"]', 3, 0, JSON.stringify(evidence('198.51.100.13'))],
      ['198.51.100.14', T0 - MIN, 'wormhole', until, 'active', null, '["flood"]', 3, 0, JSON.stringify(evidence('198.51.100.14'))],
      ['198.51.100.15', T0 - MIN, 'ip', until, 'active', null, 'flood', 3, 0, JSON.stringify(evidence('198.51.100.15'))],
      ['198.51.100.16', T0 - MIN, 'ip', until, 'active', null, '["flood"]', 3, 0, JSON.stringify(evidence('198.51.100.16'))],
    ];
    for (const row of badLedger) putLedger.run(...row);
    db.close();
    const before = new SqliteState(statePath);
    expect(before.getBaselineSync('i:198.51.100.17')).toBeUndefined();
    before.close();

    const summary = await runReplay({ files: [logFile(quietTraffic(), `${out}.jsonl`)], outDir: out, config: parseConfig({}), statePath });
    const decisions = readJsonl<Decision>(join(out, 'decisions.jsonl'));
    const addresses = ipSetAddresses(out);
    figures('corrupt SQLite rows', { badBaselines: badBaselines.length, badLedgerRows: badLedger.length - 1, events: summary.events,
      decisions: decisions.length, ipSetEntries: addresses.length });
    expect(summary.events).toBe(quietTraffic().length);
    // The one sound ledger row (198.51.100.16, the control) is read and projected; the damaged ones are not.
    expect(addresses).toEqual(['198.51.100.16/32']);
    // No client with a damaged baseline is blocked or alerted on. (The control row was written without alert marks, so
    // contain announces it once, as it would any ledger entry it has not announced yet.)
    expect(decisions.filter((d) => d.action !== 'unblock' && d.target !== '198.51.100.16').map((d) => `${d.action} ${d.target} ${d.reasons.join(',')}`)).toEqual([]);
    // The damaged baselines were replaced by what this run learned.
    const state = new SqliteState(statePath);
    try {
      expect(state.getBaselineSync(`u:${BUSY_PRINCIPAL}`)?.windows).toBeGreaterThan(0);
      expect(state.listAllSync().map((e) => e.target).sort()).toEqual(['198.51.100.16']);
    } finally {
      state.close();
    }
  });

  it('a state file of an older release (schema v1) is migrated in place and its baselines and blocks are used', async () => {
    const statePath = join(dir, `v1-${seq++}.sqlite`);
    const db = new Database(statePath);
    db.exec(V1_SCHEMA);
    db.pragma('user_version = 1');
    const learned: KeyState = { reqMean: Math.log1p(10), reqVar: 0.05, bytesMean: Math.log1p(9000), bytesVar: 0.05, ipsMean: 1, windows: 40, flags: 0, lastWindow: T0 - MIN };
    db.prepare('INSERT INTO baselines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run('i:198.51.100.10', learned.reqMean, learned.reqVar, learned.bytesMean,
      learned.bytesVar, learned.ipsMean, learned.windows, learned.flags, learned.lastWindow);
    db.prepare('INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run('203.0.113.99', T0 - 5 * MIN, 'ip', T0 + 10 * MIN, 'active', null,
      '["flood"]', 4.2, 0, JSON.stringify(evidence('203.0.113.99')));
    db.close();

    const out = sub('v1');
    await runReplay({ files: [logFile(quietTraffic(), `${out}.jsonl`)], outDir: out, config: parseConfig({}), statePath });
    const check = new Database(statePath, { readonly: true });
    const version = check.pragma('user_version', { simple: true });
    const columns = (check.prepare('PRAGMA table_info(ledger)').all() as { name: string }[]).map((c) => c.name);
    check.close();
    const decisions = readJsonl<Decision>(join(out, 'decisions.jsonl'));
    const state = new SqliteState(statePath);
    const baseline = state.getBaselineSync('i:198.51.100.10');
    const ledger = state.historySync('203.0.113.99');
    state.close();
    figures('v1 state file', { fromVersion: 1, toVersion: Number(version), decisions: decisions.length, baselineWindows: baseline?.windows ?? -1 });
    expect(version).toBe(SCHEMA_VERSION);
    expect(columns).toContain('alerted');
    // The v1 block was in force from the start and expired on time, ten minutes in.
    expect(decisions.filter((d) => d.target === '203.0.113.99').map((d) => [d.action, d.time])).toEqual([['unblock', new Date(T0 + 10 * MIN).toISOString()]]);
    expect(ledger.map((e) => e.status)).toEqual(['expired']);
    // The v1 baseline was read and learned on (40 windows before, plus this run's).
    expect(baseline!.windows).toBeGreaterThan(learned.windows);
  });

  it('a state file of a newer release is refused with a StateFileError naming both versions, and left untouched', async () => {
    const statePath = join(dir, `v99-${seq++}.sqlite`);
    const db = new Database(statePath);
    db.exec('CREATE TABLE future (x)');
    db.pragma('user_version = 99');
    db.close();
    const before = readFileSync(statePath);
    const out = sub('v99');
    const err = await runReplay({ files: [logFile(quietTraffic(), `${out}.jsonl`)], outDir: out, config: parseConfig({}), statePath }).then(() => null, (e: unknown) => e);
    figures('newer state file', { userVersion: 99, refused: err instanceof StateFileError });
    expect(err).toBeInstanceOf(StateFileError);
    expect((err as Error).message).toMatch(new RegExp(`v99.*newer.*v${SCHEMA_VERSION}`));
    expect(readFileSync(statePath).equals(before)).toBe(true);
  });

  const notSqlite: [string, Buffer][] = [
    ['a text file', Buffer.from('this is not a database\n'.repeat(200))],
    ['random bytes', Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 2654435761) >>> 24))],
    ['a gzip file', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, ...Array.from({ length: 500 }, () => 0x41)])],
  ];

  it.each(notSqlite)('%s given as the state file: a StateFileError, and from the CLI one line on stderr, no stack trace', async (_name, content) => {
    const statePath = join(dir, `junk-${seq++}.sqlite`);
    writeFileSync(statePath, content);
    const out = sub('junk');
    const input = logFile(quietTraffic(), `${out}.jsonl`);
    const err = await runReplay({ files: [input], outDir: out, config: parseConfig({}), statePath }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(StateFileError);
    expect((err as Error).message).toContain(statePath);
    const cli = spawnSync(process.execPath, ['bin/cordon', 'replay', input, '--out', out, '--state', statePath], { encoding: 'utf8', timeout: 60_000 });
    figures('not a state file', { kind: _name, bytes: content.length, exitCode: cli.status ?? -1, stderrLines: cli.stderr.trim().split('\n').length });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toMatch(/^cordon: .*cannot open cordon state/m);
    expect(cli.stderr).not.toMatch(/\n\s+at /);
  });

  it('a truncated SQLite file (half of a real one) is a StateFileError too, not a raw SqliteError mid-run', async () => {
    // A real state file with enough rows to span many pages, cut in half.
    const full = join(dir, `full-${seq++}.sqlite`);
    const s = new SqliteState(full);
    s.putBaselinesSync(Array.from({ length: 5000 }, (_, i): [string, KeyState] => [`i:10.${i >> 8}.${i & 255}.1`,
      { reqMean: 1, reqVar: 0.1, bytesMean: 5, bytesVar: 0.1, ipsMean: 1, windows: 20, flags: 0, lastWindow: T0 }]));
    s.putLedgerSync(Array.from({ length: 500 }, (_, i): LedgerEntry => ({ target: `203.0.${i >> 8}.${i & 255}`, targetKind: 'ip', createdAt: T0 - MIN,
      expiresAt: T0 + 60 * MIN, status: 'active', reasons: ['flood'], score: 3, priorBlocks: 0, evidence: evidence('x') })));
    s.close();
    const statePath = join(dir, `half-${seq++}.sqlite`);
    copyFileSync(full, statePath);
    writeFileSync(statePath, readFileSync(statePath).subarray(0, Math.floor(statSync(full).size / 2)));
    const out = sub('half');
    const err = await runReplay({ files: [logFile(quietTraffic(), `${out}.jsonl`)], outDir: out, config: parseConfig({}), statePath }).then(() => null, (e: unknown) => e);
    figures('truncated state file', { bytes: Math.floor(statSync(full).size / 2), error: err === null ? 'none' : (err as Error).name });
    expect(err).toBeInstanceOf(StateFileError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// DynamoDB and S3 on moto
// ---------------------------------------------------------------------------------------------------------------

const STATE = 'cordon-state';
const LEDGER = 'cordon-ledger';
const STATE_BUCKET = 'cordon-state-bucket';

describeMoto('DynamoDB and S3 state faults (moto)', () => {
  const moto = useMoto();
  let client: DynamoDBClient;
  let s3: S3Client;

  beforeAll(() => {
    client = new DynamoDBClient({ ...moto.clientConfig(), maxAttempts: 2 });
    s3 = new S3Client({ ...moto.clientConfig(), forcePathStyle: true, maxAttempts: 2 });
  });
  afterAll(() => {
    client?.destroy();
    s3?.destroy();
  });
  beforeEach(async () => {
    await moto.reset();
    await client.send(new CreateTableCommand(createTableInput(STATE, STATE_TABLE_KEYS)));
    await client.send(new CreateTableCommand(createTableInput(LEDGER, LEDGER_TABLE_KEYS)));
    await s3.send(new CreateBucketCommand({ Bucket: STATE_BUCKET }));
  });

  /** Stores `body` raw as the baseline snapshot of `scope`, where SnapshotBaselineStore (default prefix) reads it. */
  const putSnapshot = (scope: string, body: Uint8Array | string) =>
    s3.send(new PutObjectCommand({ Bucket: STATE_BUCKET, Key: `base/${scope}`, Body: body }));

  const good: KeyState = { reqMean: 1, reqVar: 0.2, bytesMean: 7, bytesVar: 0.3, ipsMean: 1, windows: 12, flags: 0, lastWindow: T0 };

  it('SnapshotBaselineStore.getMany skips damaged snapshot entries, returns the sound ones, never throws', async () => {
    const store = new SnapshotBaselineStore(new S3BlobStore(s3, STATE_BUCKET));
    const scopes = ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002', 'shardId-000000000003'];
    const keys = [...Array.from({ length: 30 }, (_, i) => `i:198.51.100.${i + 1}`), 'u:alice', 'p:198.51.100.0/24'];
    // Damaged states of requested keys (counted when read): not a state at all, wrong field counts, non-numeric,
    // non-finite, and finite but impossible (a reqMean of -30, negative variances and window counts).
    const damagedStates = [
      'garbage', 'NaN,NaN,NaN,NaN,NaN,NaN,NaN,NaN', '1,2,3', '', 'Infinity,1,1,1,1,1,1,1', '-30,0.01,-30,0.01,0,500,0,0',
      `1,0.2,high,0.3,1,12,0,${T0}`, `1,0.2,7,0.3,1,12.5,0,${T0}`, `-1,-1,-1,-1,-5,-7,-1,${T0}`, '1,2,3,4,5,6,7,8,9',
    ];
    // Lines of the wrong shape (counted when the snapshot is read, whoever asks): no tab, no key, a quoted key that
    // is not valid JSON or not a string, a bare tab.
    const malformed = ['u:flat', '\t' + encodeKeyState(good), '"u:unterminated\t1,2', '"\\u12\t1', '\t', 'null'];
    // One snapshot per scope (summaries shard), written raw: each holds one sound key and damaged ones of every kind.
    const byScope = new Map<string, string[]>();
    keys.forEach((k, i) => byScope.set(scopes[i % scopes.length], [...(byScope.get(scopes[i % scopes.length]) ?? []), k]));
    let injected = 0;
    const sound = new Set<string>();
    for (const [scope, ks] of byScope) {
      const entries = ks.map((k, i): [string, string] => {
        if (i > 0) return [k, damagedStates[injected++ % damagedStates.length]];
        sound.add(k);
        return [k, encodeKeyState(good)];
      });
      // A snapshot is concatenated gzip members: the damaged lines come as one more member.
      await putSnapshot(scope, Buffer.concat([encodeSnapshot(entries), gzipSync(malformed.join('\n') + '\n')]));
    }
    const got = new Map<string, KeyState>();
    const failures: unknown[] = [];
    for (const [scope, ks] of byScope) {
      await store.getMany(ks, scope).then((m) => m.forEach((v, k) => got.set(k, v)), (e: unknown) => failures.push(e));
    }
    figures('s3 corrupt baseline entries', { keys: keys.length, damagedEntries: injected + malformed.length * scopes.length, read: got.size, corruptCounted: store.corrupt });
    expect(failures).toEqual([]);
    expect([...got.keys()].sort()).toEqual([...sound].sort());
    for (const k of sound) expect(got.get(k)).toEqual(good);
    // Infinity, NaN, impossible values and wrong types are all refused (a damaged baseline must not make anyone look anomalous).
    for (const s of got.values()) expect(Object.values(s).every(Number.isFinite)).toBe(true);
    expect(injected).toBeGreaterThanOrEqual(damagedStates.length); // every kind of damage was injected
    expect(store.corrupt).toBe(injected + malformed.length * scopes.length);
    // Writing to the damaged snapshots works (conditional on the damaged object's tag) and resets them: the
    // damaged entries are gone, every key has its fresh state.
    for (const [scope, ks] of byScope) await store.putMany(new Map(ks.map((k): [string, KeyState] => [k, { ...good, windows: 13 }])), scope);
    const fresh = new SnapshotBaselineStore(new S3BlobStore(s3, STATE_BUCKET));
    let after = 0;
    for (const [scope, ks] of byScope) after += [...(await fresh.getMany(ks, scope)).values()].filter((s) => s.windows === 13).length;
    expect(after).toBe(keys.length);
    expect(fresh.corrupt).toBe(0);
  });

  const damagedSnapshots: [string, Uint8Array | string][] = [
    ['not gzip', 'this is not a snapshot\n'],
    ['random bytes', Uint8Array.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24))],
    ['an empty object', new Uint8Array()],
    ['truncated gzip', encodeSnapshot([['u:alice', '1,0.2,7,0.3,1,12,0,0']]).subarray(0, 20)],
    ['gzip of lines without the header', gzipSync('u:alice\t1,0.2,7,0.3,1,12,0,0\n')],
    ['gzip of JSON null', gzipSync('null')],
    ['gzip of a JSON string', gzipSync('"base"')],
    ['gzip of a snapshot of an unknown version', gzipSync('cordon-baselines 3\nu:alice\t1,0.2,7,0.3,1,12,0,0\n')],
    ['gzip of a JSON document (the format of earlier builds)', gzipSync(JSON.stringify({ v: 1, scope: 's', entries: [['u:alice', '1,0.2,7,0.3,1,12,0,0']] }))],
  ];

  it.each(damagedSnapshots)('a damaged snapshot object (%s) reads as never seen, is counted, and is replaced by the next write', async (_name, body) => {
    const scope = 'shardId-000000000000';
    await putSnapshot(scope, body);
    const store = new SnapshotBaselineStore(new S3BlobStore(s3, STATE_BUCKET));
    const keys = ['i:198.51.100.1', 'u:alice'];
    const got = await store.getMany(keys, scope).then((m) => m, (e: unknown) => e);
    figures('s3 damaged snapshot', { kind: _name, bytes: body.length, read: got instanceof Map ? got.size : -1, corruptCounted: store.corrupt });
    expect(got).toEqual(new Map());
    expect(store.corrupt).toBe(1);
    await store.putMany(new Map(keys.map((k): [string, KeyState] => [k, good])), scope);
    const fresh = new SnapshotBaselineStore(new S3BlobStore(s3, STATE_BUCKET));
    expect(await fresh.getMany(keys, scope)).toEqual(new Map(keys.map((k) => [k, good])));
    expect(fresh.corrupt).toBe(0);
  });

  it('a missing bucket fails baseline reads and writes with an AwsRejectedError naming the bucket, never an empty read', async () => {
    await s3.send(new DeleteBucketCommand({ Bucket: STATE_BUCKET }));
    const store = new SnapshotBaselineStore(new S3BlobStore(s3, STATE_BUCKET));
    const started = performance.now();
    const errors = await Promise.all([
      store.getMany(['i:198.51.100.1'], 'shardId-000000000000').then(() => null, (e: Error) => e),
      store.putMany(new Map([['i:198.51.100.1', good]]), 'shardId-000000000001').then(() => null, (e: Error) => e),
    ]);
    figures('missing bucket', { calls: errors.length, errors: [...new Set(errors.map((e) => e?.name ?? 'none'))].join(','), ms: Math.round(performance.now() - started) });
    for (const e of errors) {
      expect(e).toBeInstanceOf(AwsRejectedError);
      expect(e).toMatchObject({ service: 's3', cause: { name: 'NoSuchBucket' } });
      expect(e?.message).toContain(STATE_BUCKET);
    }
    expect(store.corrupt).toBe(0);
  });

  it('DynamoLedgerStore.listActive / history / listAll skip damaged ledger items instead of throwing', async () => {
    const store = new DynamoLedgerStore(client, LEDGER);
    const until = T0 + 60 * MIN;
    const entry = (target: string): LedgerEntry => ({ target, targetKind: 'ip', createdAt: T0, expiresAt: until, status: 'active', reasons: ['flood'], score: 3, priorBlocks: 0, evidence: evidence(target) });
    await store.put(entry('203.0.113.1')); // the sound one
    const raw = (target: string, extra: Record<string, unknown>) =>
      client.send(new PutItemCommand({ TableName: LEDGER, Item: { pk: { S: target }, sk: { N: String(T0) }, targetKind: { S: 'ip' }, expiresAt: { N: String(until) },
        status: { S: 'active' }, reasons: { L: [{ S: 'flood' }] }, score: { N: '3' }, priorBlocks: { N: '0' }, evidence: { S: JSON.stringify(evidence(target)) }, ...extra } as never }));
    await raw('203.0.113.2', { evidence: { S: '{not json' } });
    await raw('203.0.113.3', { status: { S: 'zombie' } });
    await raw('203.0.113.4', { targetKind: { S: 'wormhole' } });
    await raw('203.0.113.5', { evidence: { N: '7' } });
    await raw('203.0.113.6', { score: { S: 'high' } });
    const attempt = async <T>(f: () => Promise<T>): Promise<T | Error> => f().then((x) => x, (e: Error) => e);
    const active = await attempt(() => store.listActive(T0));
    const all = await attempt(() => store.listAll());
    const history = await attempt(() => store.history('203.0.113.2'));
    figures('dynamo corrupt ledger', { damagedItems: 5, listActive: active instanceof Error ? active.name : active.length, listAll: all instanceof Error ? all.name : all.length });
    expect(active).not.toBeInstanceOf(Error);
    expect(all).not.toBeInstanceOf(Error);
    expect(history).not.toBeInstanceOf(Error);
    expect((active as LedgerEntry[]).map((e) => e.target)).toEqual(['203.0.113.1']);
    expect((all as LedgerEntry[]).map((e) => e.target)).toEqual(['203.0.113.1']);
    expect(history).toEqual([]);
  });

  const missingTableErrors = async (): Promise<(Error | null)[]> => {
    await client.send(new DeleteTableCommand({ TableName: STATE }));
    await client.send(new DeleteTableCommand({ TableName: LEDGER }));
    return Promise.all([
      // The state table now holds window parts, markers and watermarks (baselines are S3 snapshots, see above).
      new DynamoWindowStore(client, STATE).openWindows('shardId-000000000000').then(() => null, (e: Error) => e),
      new DynamoWindowStore(client, STATE).add('shardId-000000000000', [{ windowStart: T0, partId: 'p0', body: '{}' }]).then(() => null, (e: Error) => e),
      new DynamoLedgerStore(client, LEDGER).listActive(T0).then(() => null, (e: Error) => e),
      new DynamoLedgerStore(client, LEDGER).put({ target: '203.0.113.1', targetKind: 'ip', createdAt: T0, expiresAt: T0 + MIN, status: 'active', reasons: [], score: 1, priorBlocks: 0, evidence: evidence('x') }).then(() => null, (e: Error) => e),
    ]);
  };

  it('a missing table fails every adapter call at once with a named error (never swallowed, never retried forever)', async () => {
    const started = performance.now();
    const errors = await missingTableErrors();
    figures('missing table', { calls: errors.length, errors: [...new Set(errors.map((e) => e?.name ?? 'none'))].join(','), ms: Math.round(performance.now() - started) });
    for (const e of errors) expect(e).toMatchObject({ name: 'AwsRejectedError', service: 'dynamodb', cause: { name: 'ResourceNotFoundException' } });
  });

  /** The SDK says only "Requested resource not found"; the adapters name the missing table. */
  it('a missing table error names the table', async () => {
    for (const e of await missingTableErrors()) expect(e?.message).toMatch(/cordon-(state|ledger)/);
  });
});
