import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { CordonConfig } from '../config.ts';
import { AlertMemory, Allowlist, decideWindow, unblockDecision } from '../contain/decide.ts';
import { LedgerBook } from '../contain/ledger-book.ts';
import { project } from '../contain/projection.ts';
import type { Decision } from '../decision.ts';
import { decodeCloudWatchData } from '../decode/cloudwatch.ts';
import { Detector, type StateView } from '../detect/detector.ts';
import { hash32 } from '../features/hash.ts';
import { ipKey, prefixKey, principalKey } from '../features/keys.ts';
import { type WindowPartial, Windower } from '../features/windower.ts';
import { prefixOf } from '../net/ip.ts';
import type { AlertPort, BaselineStore, IpSetPort, KeyState, LedgerEntry, LedgerStatus, LedgerStore, PolicyPort } from '../ports.ts';
import type { WindowStore } from '../ports-window.ts';

/**
 * The three stream stages of DESIGN §1 as plain functions over ports: the Lambda handlers in `functions/` only
 * parse their event and call these. Every stage is idempotent under Kinesis's at-least-once delivery.
 */

export interface StreamRecord {
  sequenceNumber: string;
  /** The shard the record came from: sequence numbers are unique only within a shard. */
  shardId?: string;
  /** base64, as the Lambda event carries it. */
  data: string;
}

export interface BatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

/** Structured logging of counts and ids (Powertools' Logger fits); never whole records. */
export interface Logger {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any logger taking (message, attributes) fits
  info(message: string, ...attributes: any[]): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  warn(message: string, ...attributes: any[]): void;
}

const silent: Logger = { info() {}, warn() {} };

/** Summary partitions: a prefix and all its hosts share one, so stage 2 sees a /24 with its addresses. */
export const DEFAULT_BUCKETS = 64;
/** Kinesis takes at most 1 MiB per record; stay well under it. */
const MAX_SUMMARY_BYTES = 900 * 1024;

/** One key-window partial from one source record: its id makes redelivery idempotent downstream. */
export interface SummaryPart extends WindowPartial {
  id: string;
}

function windowerFor(cfg: CordonConfig): Windower {
  return new Windower({ sizeMs: cfg.windows.sizeSeconds * 1000, latenessMs: cfg.windows.allowedLatenessSeconds * 1000,
    ipv4Prefix: cfg.aggregation.ipv4Prefix, ipv6Prefix: cfg.aggregation.ipv6Prefix });
}

// ---------------------------------------------------------------------------------------------------------------
// Stage 1: ingest
// ---------------------------------------------------------------------------------------------------------------

export interface IngestDeps {
  putter: { put(records: { partitionKey: string; data: Uint8Array }[]): Promise<unknown> };
  config: CordonConfig;
  buckets?: number;
  log?: Logger;
}

/**
 * Access-log records (CloudWatch Logs envelopes) → per-key partial summaries, one part per (source record,
 * bucket, window), packed per bucket into summary records. A poison record is counted and skipped; a failed
 * PutRecords fails the whole batch (Kinesis redelivers it, and the part ids make that harmless).
 */
export async function runIngest(records: StreamRecord[], deps: IngestDeps): Promise<BatchResult & { events: number; unreadable: number; summaries: number }> {
  const buckets = deps.buckets ?? DEFAULT_BUCKETS;
  const log = deps.log ?? silent;
  const byBucket = new Map<number, SummaryPart[]>();
  let events = 0;
  let unreadable = 0;
  for (const r of records) {
    const windower = windowerFor(deps.config);
    decodeCloudWatchData(r.data, { event: (e) => { windower.add(e); events++; }, unreadable: () => { unreadable++; } });
    for (const partial of windower.drainPartials()) {
      for (const [bucket, part] of splitByBucket(partial, buckets, deps.config)) {
        const list = byBucket.get(bucket) ?? [];
        list.push({ ...part, id: `${r.shardId ?? '-'}:${r.sequenceNumber}/${bucket}/${part.w}` });
        byBucket.set(bucket, list);
      }
    }
  }
  const out: { partitionKey: string; data: Uint8Array }[] = [];
  for (const [bucket, parts] of byBucket) for (const data of packSummaries(parts)) out.push({ partitionKey: `b${bucket}`, data });
  if (unreadable) log.warn('unreadable access-log records skipped', { unreadable, records: records.length });
  try {
    if (out.length) await deps.putter.put(out);
  } catch (err) {
    log.warn('summaries not delivered: the batch will be retried', { error: (err as Error).name, summaries: out.length });
    return { batchItemFailures: records.map((r) => ({ itemIdentifier: r.sequenceNumber })), events, unreadable, summaries: 0 };
  }
  log.info('ingested', { records: records.length, events, unreadable, summaries: out.length });
  return { batchItemFailures: [], events, unreadable, summaries: out.length };
}

function bucketOfKey(key: string, buckets: number): number {
  return hash32(key) % buckets;
}

function splitByBucket(p: WindowPartial, buckets: number, cfg: CordonConfig): Map<number, WindowPartial> {
  const out = new Map<number, WindowPartial>();
  const part = (b: number): WindowPartial => {
    let x = out.get(b);
    if (!x) {
      x = { w: p.w, t: p.t, n: 0, e5: 0, i: [], p: [], u: [] };
      out.set(b, x);
    }
    return x;
  };
  for (const entry of p.i) {
    const x = part(bucketOfKey(prefixOf(entry[0], cfg.aggregation.ipv4Prefix, cfg.aggregation.ipv6Prefix), buckets));
    x.i.push(entry);
    x.n += entry[1].c[0];
    x.e5 += entry[1].c[2];
  }
  for (const entry of p.p) part(bucketOfKey(entry[0], buckets)).p.push(entry);
  for (const entry of p.u) part(bucketOfKey(entry[0], buckets)).u.push(entry);
  return out;
}

/** gzip'd JSON `{v:1, parts}` records under the Kinesis record limit (one part per record if it must). */
function packSummaries(parts: SummaryPart[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let batch: SummaryPart[] = [];
  const flush = () => {
    if (batch.length) out.push(gzipSync(JSON.stringify({ v: 1, parts: batch })));
    batch = [];
  };
  let size = 0;
  for (const p of parts) {
    const bytes = JSON.stringify(p).length;
    if (size + bytes > MAX_SUMMARY_BYTES * 3) {
      // JSON of partials compresses about 4:1; splitting on uncompressed size keeps every record under 1 MiB.
      flush();
      size = 0;
    }
    batch.push(p);
    size += bytes;
  }
  flush();
  return out;
}

export function decodeSummary(data: string | Uint8Array): SummaryPart[] {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : data;
  const doc = JSON.parse(gunzipSync(bytes).toString('utf8')) as { v?: number; parts?: SummaryPart[] };
  if (doc.v !== 1 || !Array.isArray(doc.parts)) throw new TypeError('not a cordon summary record');
  for (const p of doc.parts) {
    if (typeof p.id !== 'string' || !Number.isFinite(p.w) || !Number.isFinite(p.t) || !Array.isArray(p.i) || !Array.isArray(p.p) || !Array.isArray(p.u)) {
      throw new TypeError('malformed summary part');
    }
  }
  return doc.parts;
}

// ---------------------------------------------------------------------------------------------------------------
// Stage 2: detect
// ---------------------------------------------------------------------------------------------------------------

export interface DetectDeps {
  windows: WindowStore;
  baselines: BaselineStore;
  ledger: LedgerStore;
  config: CordonConfig;
  log?: Logger;
}

/**
 * Summary records → open windows (stored, idempotent per part) → windows closed by the event-time watermark →
 * scores → decisions into the ledger (blocks `active`, held-back alerts `held`).
 */
export async function runDetect(records: StreamRecord[], deps: DetectDeps): Promise<BatchResult & { decisions: number; poison: number; windowsClosed: number; late: number }> {
  const log = deps.log ?? silent;
  const cfg = deps.config;
  const scope = records[0]?.shardId ?? 'default';
  const decoded: SummaryPart[] = [];
  let poison = 0;
  for (const r of records) {
    try {
      decoded.push(...decodeSummary(r.data));
    } catch {
      poison++;
    }
  }
  if (poison) log.warn('poison summary records skipped', { poison, records: records.length });
  const sizeMs = cfg.windows.sizeSeconds * 1000;
  const latenessMs = (cfg.windows.allowedLatenessSeconds + cfg.windows.stageLatenessSeconds) * 1000;
  const countersBefore = stateCounters(deps);
  try {
    const previous = await deps.windows.getWatermark(scope);
    // Parts of windows that already closed are late (or redelivered): reopening such a window would decide it a
    // second time on part of its traffic. They are counted and dropped.
    const closedBefore = previous - latenessMs;
    const byWindow = new Map<number, SummaryPart[]>();
    let late = 0;
    let newest = 0;
    for (const p of decoded) {
      if (p.w + sizeMs <= closedBefore) {
        late++;
        continue;
      }
      const list = byWindow.get(p.w) ?? [];
      list.push(p);
      byWindow.set(p.w, list);
      if (p.t > newest) newest = p.t;
    }
    if (late) log.info('late or redelivered summary parts dropped', { late });
    const batchId = `${records[0]?.sequenceNumber ?? '0'}-${records.at(-1)?.sequenceNumber ?? '0'}`;
    const parts = [...byWindow].flatMap(([w, list]) => packWindowParts(w, batchId, list));
    if (parts.length) await deps.windows.add(scope, parts);
    if (newest > previous) await deps.windows.setWatermark(scope, newest);
    const watermark = Math.max(previous, newest) - latenessMs;
    let decisions = 0;
    let windowsClosed = 0;
    for (const start of await deps.windows.openWindows(scope)) {
      if (start + sizeMs > watermark) break;
      decisions += await closeWindow(scope, start, Math.max(previous, newest), deps);
      windowsClosed++;
    }
    log.info('detected', { records: records.length, parts: parts.length, windowsClosed, decisions });
    logStateCounters(log, countersBefore, stateCounters(deps));
    return { batchItemFailures: [], decisions, poison, windowsClosed, late };
  } catch (err) {
    // A dependency failed: report the whole batch so Kinesis redelivers it; stored parts make the retry idempotent.
    log.warn('detect failed: the batch will be retried', { error: (err as Error).name });
    return { batchItemFailures: records.map((r) => ({ itemIdentifier: r.sequenceNumber })), decisions: 0, poison, windowsClosed: 0, late: 0 };
  }
}

function stateCounters(deps: DetectDeps): Record<string, number> {
  return { ...deps.windows.counters?.(), ...deps.baselines.counters?.() };
}

/** What the state stores skipped or did this invocation: damaged state as a warning (it is data lost), the rest as info. */
function logStateCounters(log: Logger, before: Record<string, number>, after: Record<string, number>): void {
  const changed = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, d]) => d !== 0));
  if (Object.keys(changed).length === 0) return;
  const damaged = Object.keys(changed).some((k) => k.endsWith('Corrupt') || k.endsWith('Missing'));
  if (damaged) log.warn('detect state damaged: affected keys relearn (counts this invocation)', changed);
  else log.info('detect state maintenance (counts this invocation)', changed);
}

/** Stored chunks stay well under DynamoDB's 400 KB item limit (base64 of gzip'd JSON). */
const MAX_CHUNK_CHARS = 300 * 1024;

/**
 * One stored item per detect invocation and window (not one per part): DynamoDB bills writes by item, so this is
 * what keeps the window store's cost down. Each chunk is gzip'd JSON of the parts, ids included, so redelivery is
 * still counted once (see closeWindow).
 */
function packWindowParts(windowStart: number, batchId: string, parts: SummaryPart[]): { windowStart: number; partId: string; body: string }[] {
  const out: { windowStart: number; partId: string; body: string }[] = [];
  const encode = (list: SummaryPart[]): string => gzipSync(JSON.stringify(list)).toString('base64');
  const pending = [parts];
  while (pending.length) {
    const list = pending.shift()!;
    const body = encode(list);
    if (body.length > MAX_CHUNK_CHARS && list.length > 1) {
      const half = Math.ceil(list.length / 2);
      pending.unshift(list.slice(0, half), list.slice(half));
      continue;
    }
    out.push({ windowStart, partId: `${batchId}#${out.length}`, body });
  }
  return out;
}

/** A stored chunk: base64 gzip'd JSON of parts, or (as written before chunking) one part as plain JSON. */
function unpackWindowParts(body: string): SummaryPart[] {
  if (body.startsWith('{')) return [JSON.parse(body) as SummaryPart];
  const parts = JSON.parse(gunzipSync(Buffer.from(body, 'base64')).toString('utf8')) as SummaryPart[];
  if (!Array.isArray(parts)) throw new TypeError('not a chunk of parts');
  return parts;
}

async function closeWindow(scope: string, start: number, newest: number, deps: DetectDeps): Promise<number> {
  const cfg = deps.config;
  const windower = windowerFor(cfg);
  // A part redelivered in a differently cut batch sits in two stored chunks: its id makes it count once.
  const seen = new Set<string>();
  for (const { body } of await deps.windows.read(scope, start)) {
    let stored: SummaryPart[];
    try {
      stored = unpackWindowParts(body);
    } catch {
      continue; // A damaged stored chunk is skipped: it can only lower counts, never make anyone look worse.
    }
    for (const p of stored) {
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      try {
        windower.addPartial(p);
      } catch {
        // as above
      }
    }
  }
  const [closed] = windower.closeAll();
  if (!closed) {
    await deps.windows.drop(scope, start);
    return 0;
  }
  closed.closedAt = Math.max(closed.end, Math.min(newest, closed.end + (cfg.windows.allowedLatenessSeconds + cfg.windows.stageLatenessSeconds) * 1000));
  const keys = [
    ...[...closed.keys.byIp.keys()].map(ipKey),
    ...[...closed.keys.byPrefix.keys()].map(prefixKey),
    ...[...closed.keys.byPrincipal.keys()].map(principalKey),
  ];
  const states = await deps.baselines.getMany(keys, scope);
  const touched = new Map<string, KeyState>();
  const view: StateView = { get: (k) => states.get(k), set: (k, s) => { states.set(k, s); touched.set(k, s); } };
  const assessment = new Detector(cfg).assess(closed, view);
  const now = closed.closedAt;
  const acting = assessment.verdicts.filter((v) => v.act);
  const book = new LedgerBook(await deps.ledger.listActive(now));
  const memory = new AlertMemory();
  // Every target a decision could name: the key itself, an IPv6 address's /64, an IPv4 host's /24 (aggregation).
  const targets = new Set<string>();
  for (const v of acting) {
    targets.add(v.value);
    if (v.kind === 'ip') targets.add(prefixOf(v.value, cfg.aggregation.ipv4Prefix, cfg.aggregation.ipv6Prefix));
  }
  for (const target of targets) {
    for (const e of await deps.ledger.history(target)) {
      book.record(e);
      if (e.status === 'held') memory.remember(e.target, e.expiresAt);
    }
  }
  const decided = decideWindow(assessment, book, cfg, new Allowlist(cfg.allowlist), memory);
  for (const e of [...decided.blocks, ...decided.held]) await deps.ledger.put(e);
  // Only keys that learned something are written back: one-off visitors cost no write.
  await deps.baselines.putMany(new Map([...touched].filter(([, s]) => s.windows > 0 || s.flags !== 0)), scope);
  await deps.windows.drop(scope, start);
  return decided.decisions.length;
}

// ---------------------------------------------------------------------------------------------------------------
// Stage 3: contain
// ---------------------------------------------------------------------------------------------------------------

export interface ContainDeps {
  ledger: LedgerStore;
  ipSets: IpSetPort;
  policies: PolicyPort[];
  alerts: AlertPort;
  config: CordonConfig;
  log?: Logger;
}

export interface ContainResult {
  changedIpSets: boolean;
  changedPolicies: number;
  alerted: number;
  expired: number;
}

/**
 * Reconciles WAF and the resource policies with the ledger (expiring what is due), then alerts every ledger change
 * not yet alerted, in one message. Convergent: run twice, the second run changes nothing; a drifted IP set is put
 * back. The alert marks are written after the publish (all at once, with a store that has markAlerted), so a crash
 * between the two re-sends the same batch, same id and same decisions, rather than losing it or splitting it.
 */
export async function runContain(deps: ContainDeps, now: number): Promise<ContainResult> {
  const log = deps.log ?? silent;
  const all = await deps.ledger.listAll();
  let expired = 0;
  for (const e of all) {
    if (e.status === 'active' && e.expiresAt <= now) {
      Object.assign(e, { status: 'expired' as const, endedAt: e.expiresAt });
      await deps.ledger.put(e);
      expired++;
    }
  }
  const active = all.filter((e) => e.status === 'active' && e.expiresAt > now);
  // In dry run nothing is enforced, whatever the ledger holds (the detect stage already holds blocks as alerts).
  const p = project(deps.config.dryRun ? [] : active, deps.config);
  const ip = await deps.ipSets.apply(p.ipSets);
  let changedPolicies = 0;
  for (const policy of deps.policies) if ((await policy.apply(p.deny)).changed) changedPolicies++;
  const pending = all.filter((e) => !(e.alerted ?? []).includes(e.status));
  if (pending.length) {
    const decisions = pending.map((e) => asDecision(e)).sort((a, b) => a.time.localeCompare(b.time));
    const id = createHash('sha256').update(pending.map((e) => `${e.target}#${e.createdAt}#${e.status}`).sort().join('\n')).digest('hex').slice(0, 32);
    await deps.alerts.publish({ id, time: new Date(now).toISOString(), decisions,
      page: pending.some((e) => e.status === 'held' && (e.evidence.heldBack === 'blast-radius' || e.evidence.heldBack === 'cap')) });
    const marked = pending.map((e) => ({ ...e, alerted: [...new Set<LedgerStatus>([...(e.alerted ?? []), e.status])] }));
    // All marks at once where the store can: marks written one by one and cut short by a crash would leave part of
    // the batch pending, and the next run would alert that part again under a different batch id.
    if (deps.ledger.markAlerted) await deps.ledger.markAlerted(marked);
    else for (const e of marked) await deps.ledger.put(e);
  }
  log.info('contained', { active: active.length, expired, ipSetsChanged: ip.changed, changedPolicies, alerted: pending.length });
  return { changedIpSets: ip.changed, changedPolicies, alerted: pending.length, expired };
}

function asDecision(e: LedgerEntry): Decision {
  if (e.status === 'expired' || e.status === 'released') {
    return unblockDecision(e, e.endedAt ?? e.expiresAt, e.status === 'released' ? 'operator' : 'expiry');
  }
  return { time: new Date(e.createdAt).toISOString(), action: e.status === 'held' ? 'alert' : 'block', target: e.target,
    targetKind: e.targetKind, reasons: e.reasons, score: e.score, expiresAt: new Date(e.expiresAt).toISOString(), evidence: e.evidence };
}
