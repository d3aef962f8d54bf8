import { isAscii } from 'node:buffer';
import { brotliCompressSync, brotliDecompressSync, constants as zlib, crc32, gunzipSync, gzipSync } from 'node:zlib';
import { PRINCIPAL_HASH_MASK, WIRE_HASH_MASK } from '../features/distinct.ts';
import { hash32 } from '../features/hash.ts';
import { COUNTER_NAMES, D_AGENTS, D_IPS, D_PRINCIPALS, type SerializedKeyWindow } from '../features/key-window.ts';
import type { WindowPartial } from '../features/windower.ts';

/**
 * The one wire format between the stages: summary records on the `summaries` stream (ingest → detect) and the
 * chunks detect stores for open windows. Versioned so that a rolling deploy, where old and new stages exchange
 * parts, loses nothing:
 *
 * - `v` is the compatibility level. Every change so far is additive, so it is still 1: a stage of any release reads
 *   every field it knows and ignores the rest. A reader that meets a higher `v` cannot know what it would drop, so it
 *   does not drop it: the record is reported failed and redelivered until a stage that reads it is deployed (the
 *   event source mapping's retry bounds and failure queue stop that from going on forever).
 * - `minor` names the additive revision. Revision 1 (no `minor`) is the positional form of the first release.
 *   Revision 2 adds `counters`: the names of a key window's counters, in the order its `c` holds them, so a counter
 *   added later is read by name, and one a reader does not know is counted, never misread as another.
 *   Revision 3 adds the counter `trapHits` (requests to configured trap routes): revision 2 readers drop it and count
 *   it, this release reads revision 1 and 2 parts with it at 0. A revision-1 reader (which wants exactly twelve
 *   positional counters) cannot read revision 3: a deployment of the first release moves to this one through
 *   revision 2.
 *   Revision 4 adds `q`: the wide prefixes (aggregation.ipv6WidePrefixes, ipv4WidePrefixes), kept apart from `p` so a
 *   reader of an earlier revision ignores them rather than judging a carrier's /48 as one client prefix.
 * - Level 2 (revision 5) adds the part flag `dp`: the part carries no prefix windows (`p`, `q` empty) and the reader
 *   derives them from its hosts, which share its partition by design; a prefix's window is the merge of its hosts'.
 *   That takes about a third off the summaries stream. A document with such a part is written at level 2, so a
 *   level-1 reader, which would read it without its prefixes, refuses it instead (and it is redelivered). Documents
 *   without one stay level 1. Writers use it only when told (ingest's `derivePrefixes`): a release that reads level 2
 *   must be deployed everywhere before any writer writes it.
 *   Revision 6 (still level 2; no release wrote revision 5) also leaves out of such a part what its key already says:
 *   a host window's distinct addresses (only the host itself) and a principal window's distinct principals (only the
 *   principal itself), about a fifth of the stream's bytes. The reader restores each from the key, with the hash the
 *   writer's windower gives it, so what detect holds is the same; a counter that is present (a revision-5 part, a
 *   stored chunk already restored) is kept as it is.
 *   Revision 7 (any level) adds the part flag `sp`: the part is one of a partition's parts of a batch that had to be
 *   cut across records (the partition alone over a record), so detect tells a redelivered piece from an unseen sibling
 *   by its id, not by its source sequence alone. An earlier reader ignores it (and treats such a piece as before).
 * - Level 3 changes no document, only how a record is compressed: brotli (BROTLI_MAGIC, the CRC-32 of the brotli
 *   stream, then the stream) in place of gzip, about a quarter fewer bytes on the stream for about the CPU of gzip's
 *   level 6. Brotli carries no checksum of its own (a flipped bit can decode to other numbers), hence the CRC, which
 *   gzip has. An earlier release does not know the framing and skips such a record as unreadable (it never sees a `v`
 *   it could refuse as newer), so, as for level 2, writers use it only when told (SummaryWireLevel 3), once every
 *   detect reads it. A later framing revision (the magic's second byte) is refused as newer, so it is redelivered.
 * - Level 4 changes no document and no framing (level 3's records: derived prefixes, brotli): its differences are
 *   the range of the hashes in the distinct counters and two rounded sums. Paths, missing paths, user agents and a
 *   principal's addresses are cut to their low 16 bits (WIRE_HASH_MASK in src/features/distinct.ts), the principals
 *   behind an address or prefix to 24 (PRINCIPAL_HASH_MASK: a NAT's five principals are a protection, and a collision
 *   is forever), and each part's sums of bytes and latency rounded to 4 and 3 significant bits (windower roundedSums).
 *   That takes the summaries stream from about 23% of the access logs' bytes to under 20%. Distinct counts need no
 *   more (a few per cent is what the sketch they become past 64 values gives anyway; why, see WIRE_HASH_MASK). Every
 *   reader of this release masks every exact value of every level and revision alike on read (readDoc; the user
 *   agent's and principal's never to 0, which means none), and its sketches are a function of the low 16 bits alone,
 *   so parts of level 4 and of earlier levels merge as one whatever the mix. A reader of an earlier release that reads
 *   level 3 reads level 4 too, the values being numbers to it; but it does not mask, so in a key's window that mixes
 *   parts of 32-bit writers (levels 1 to 3) and of level-4 ones it may count a value twice, inflating that window's
 *   distinct counts by up to double. Hence writers use it only once every detect is of this release: told
 *   (SummaryWireLevel 4), or agreed with detect (src/engine/wire-handshake.ts). The same holds, once, for the deploy of
 *   this release itself: a sketch of an earlier release (stored with an open window, or from an earlier ingest still on
 *   the stream) re-mixed all 32 bits, so merged with this release's for the same window it may count a value twice;
 *   exact values of any earlier release's writer are masked alike (d6ff5aa, never released, cut principals and restored
 *   keys to 16 bits; its values would not be). A key's long-horizon bitmap of missing paths
 *   (src/detect/horizons.ts), kept from 32-bit hashes, is dropped when read (it would count a path twice for an hour).
 *   Neither WIRE_LEVEL nor WIRE_MINOR changes: a reader that does not mask still reads a level-4 document correctly
 *   field by field, so refusing it would only lose records, and a revision would only mark every part as foreign.
 */
export const WIRE_LEVEL = 2;
export const WIRE_MINOR = 7;

/**
 * What a deployment tells its writers (the construct prop `summaryWireLevel`): 1, what every release reads; 2, parts
 * whose prefixes detect derives; 3, level 2 in brotli records; 4, level 3 with short distinct hashes and rounded sums. Each needs a
 * detect of a release that reads it (4: of this release, to count a window that mixes levels right).
 */
export type SummaryWireLevel = 1 | 2 | 3 | 4;

/** How ingest writes at a level (IngestDeps.derivePrefixes, summaryEncoding, and its windower's shortHashes, roundedSums). */
export function writerOptions(level: SummaryWireLevel): WriterOptions {
  return { derivePrefixes: level >= 2, summaryEncoding: level >= 3 ? 'brotli' : 'gzip', shortHashes: level >= 4, roundedSums: level >= 4 };
}

/** What a level tells ingest (IngestDeps; the last two are its windower's, src/features/windower.ts). */
export interface WriterOptions {
  derivePrefixes: boolean;
  summaryEncoding: 'gzip' | 'brotli';
  shortHashes: boolean;
  roundedSums: boolean;
}

/**
 * The first bytes of a brotli record (level 3). Brotli has no magic number of its own; these can start neither a gzip
 * stream (1f 8b) nor a JSON document. The second names the framing's revision: 1 is magic, CRC-32 (big-endian) of the
 * brotli stream, the stream.
 */
export const BROTLI_MAGIC = Buffer.from([0xce, 0x01]);
const BROTLI_HEADER_BYTES = BROTLI_MAGIC.length + 4;

/** Counters of revision 1, in its positional order (frozen: they are what a revision-1 writer meant). */
const REVISION1_COUNTERS: readonly string[] = [
  'requests', 'status4xx', 'status5xx', 'authFailures', 'notFound', 'throttled', 'bytes', 'latencySum',
  'latencyCount', 'loginPosts', 'attackPayloads', 'scannerAgentRequests',
];

/** One key-window partial from one source record: its id makes redelivery idempotent downstream. */
export interface SummaryPart extends WindowPartial {
  id: string;
  /** Cut from a partition too large for one record: its siblings of the same batch come in other records (revision 7). */
  sp?: 1;
}

/** The level a document of these parts is written at: 2 if any part needs its prefixes derived, else 1. */
function levelOf(parts: readonly SummaryPart[]): number {
  for (const p of parts) if (p.dp === 1) return 2;
  return 1;
}

export interface SummaryDoc {
  v: number;
  minor?: number;
  counters?: string[];
  parts: SummaryPart[];
}

/** What reading a record found besides its parts (counted by the caller). */
export interface ReadNotes {
  /** Parts written by another revision (read: known fields kept, unknown ones counted). */
  foreignParts: number;
  /** Counter values this release does not know (a newer writer's): dropped, and counted here. */
  unknownCounters: number;
}

/** A record of a newer compatibility level: report it failed so it is redelivered to a stage that reads it. */
export class NewerWireError extends Error {
  override name = 'NewerWireError';
  constructor(readonly level: number, what = `summary wire level ${level} is newer than this stage reads (${WIRE_LEVEL})`) {
    super(what);
  }
}

/** Input that is not a summary record at all (or a damaged one): count it and skip it. */
export class BadSummaryError extends Error {
  override name = 'BadSummaryError';
}

/** The document around parts already serialised (each text one part, or a unit's parts joined by commas). */
function docText(parts: readonly SummaryPart[], partTexts: readonly string[]): string {
  return docOf(`[${partTexts.join(',')}]`, levelOf(parts));
}

/**
 * The document (JSON, before any compression) around the JSON array of its parts: records and stored chunks alike.
 * Our counters keep their positional order, so revision-1 readers read a level-1 document.
 */
function docOf(partsJson: string, level: number): string {
  return `{"v":${level},"minor":${WIRE_MINOR},"counters":${COUNTERS_JSON},"parts":${partsJson}}`;
}
const COUNTERS_JSON = JSON.stringify(COUNTER_NAMES);

/**
 * Parts of one summary record (base64 text as the Lambda event carries it, or bytes). Throws BadSummaryError for
 * something that is not a record, NewerWireError for a level this release does not read.
 */
export function decodeSummaryRecord(data: string | Uint8Array, notes?: ReadNotes): SummaryPart[] {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : data;
  let doc: unknown;
  try {
    doc = JSON.parse(recordText(bytes));
  } catch (err) {
    if (err instanceof NewerWireError) throw err;
    throw new BadSummaryError(err instanceof BadSummaryError ? err.message : 'not a summary record (damaged, or not JSON)');
  }
  return readDoc(doc, notes);
}

/** Largest document a record may inflate to: a bomb is refused as damaged, not inflated. */
const MAX_DOC_BYTES = 64 * 1024 * 1024;

/**
 * The document of a record, told by its first bytes: gzip (`1f 8b`, every writer in AWS up to level 2), brotli
 * (BROTLI_MAGIC, level 3) or the JSON itself (`{`).
 */
function recordText(bytes: Uint8Array): string {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return gunzipSync(bytes, { maxOutputLength: MAX_DOC_BYTES }).toString('utf8');
  if (bytes[0] === BROTLI_MAGIC[0]) {
    // A framing revision this release does not know: not damaged, newer (redelivered until a stage reads it).
    if (bytes[1] !== BROTLI_MAGIC[1]) throw new NewerWireError(3, `brotli record framing ${bytes[1]} is newer than this stage reads (${BROTLI_MAGIC[1]})`);
    if (bytes.length < BROTLI_HEADER_BYTES) throw new BadSummaryError('brotli summary record cut short');
    const body = bytes.subarray(BROTLI_HEADER_BYTES);
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (crc32(body) !== b.readUInt32BE(BROTLI_MAGIC.length)) throw new BadSummaryError('brotli summary record damaged (CRC-32)');
    return brotliDecompressSync(body, { maxOutputLength: MAX_DOC_BYTES }).toString('utf8');
  }
  if (bytes[0] === 0x7b) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // ASCII (what the writer's JSON nearly always is) reads as latin1, the same string without UTF-8 decoding.
    return isAscii(b) ? b.toString('latin1') : b.toString('utf8');
  }
  throw new BadSummaryError('unknown summary record encoding');
}

/** Parts of a parsed document (a record, or a stored chunk), normalised to this release's counters. */
export function readDoc(doc: unknown, notes?: ReadNotes): SummaryPart[] {
  if (typeof doc !== 'object' || doc === null) throw new BadSummaryError('not a summary document');
  const d = doc as Partial<SummaryDoc>;
  if (typeof d.v !== 'number') throw new BadSummaryError('summary document without a level');
  if (d.v > WIRE_LEVEL) throw new NewerWireError(d.v);
  if (d.v < 1 || !Array.isArray(d.parts)) throw new BadSummaryError('malformed summary document');
  const names = Array.isArray(d.counters) && d.counters.every((n) => typeof n === 'string') ? d.counters : REVISION1_COUNTERS;
  const remap = counterRemap(names);
  const foreign = (d.minor ?? 1) !== WIRE_MINOR;
  for (const p of d.parts) {
    if (!isPart(p)) throw new BadSummaryError('malformed summary part');
    if (remap) for (const list of [p.i, p.p, p.u, p.q ?? []]) for (const entry of list) if (isEntry(entry)) entry[1] = remapWindow(entry[1], remap, notes);
    maskHashes(p.i, false);
    maskHashes(p.p, false);
    maskHashes(p.u, true);
    if (p.q !== undefined) maskHashes(p.q, false);
    if (p.dp === 1) restoreSelf(p);
  }
  if (notes && foreign) notes.foreignParts += d.parts.length;
  return d.parts;
}

/**
 * Every exact distinct value of these windows cut as a level-4 writer cuts it (see the header), in place, so parts of
 * every level count alike: paths, missing paths and agents to 16 bits (WIRE_HASH_MASK); in an address's or prefix's
 * window the principals to 24 (PRINCIPAL_HASH_MASK) and the addresses whole; in a principal's window its addresses to
 * 16 and its own principal whole. A user agent's or principal's value stays non-zero (0 means none there). On
 * detect's hot path: values already in range cost a compare each, and nothing is allocated. Sketches are left as they
 * are (they read the low 16 bits only); anything malformed is left for fromJSON to refuse or skip, as before.
 */
function maskHashes(entries: readonly unknown[], principals: boolean): void {
  for (const e of entries) {
    if (!isEntry(e)) continue;
    const w = e[1];
    if (typeof w !== 'object' || w === null || !Array.isArray(w.d)) continue;
    const d = w.d;
    for (let k = 0; k < d.length; k++) {
      const list = d[k];
      if (!Array.isArray(list) || list.length === 0) continue;
      if (k < D_PRINCIPALS) maskList(list, WIRE_HASH_MASK, k === D_AGENTS);
      else if (k === D_PRINCIPALS && !principals) maskList(list, PRINCIPAL_HASH_MASK, true);
      else if (k === D_IPS && principals) maskList(list, WIRE_HASH_MASK, false);
    }
  }
}

function maskList(list: unknown[], mask: number, nonZero: boolean): void {
  for (let j = 0; j < list.length; j++) {
    const v = list[j];
    // Also catches what fromJSON would read as a 32-bit value (negative, fractional): the low bits are the same.
    if (typeof v === 'number' && (v & mask) !== v) list[j] = nonZero ? (v & mask) || 1 : v & mask;
  }
}

/**
 * A level-2 part's host and principal windows with the distinct counter their key stands for restored (revision 6
 * leaves it out): a host's own address, a principal's own principal, whole, as every windower hashes them.
 */
function restoreSelf(p: SummaryPart): void {
  // A malformed entry is left as it is: the window's close counts it damaged, as for any level.
  for (const e of p.i) if (isEntry(e) && isLeftOut(e[1], D_IPS)) e[1].d[D_IPS] = [hash32(e[0]) >>> 0];
  for (const e of p.u) if (isEntry(e) && isLeftOut(e[1], D_PRINCIPALS)) e[1].d[D_PRINCIPALS] = [(hash32(e[0]) || 1) >>> 0];
}

function isEntry(e: unknown): e is [string, SerializedKeyWindow] {
  return Array.isArray(e) && typeof e[0] === 'string';
}

/** An empty distinct counter at `at` of a well-formed window (anything malformed is left for fromJSON to refuse). */
function isLeftOut(w: SerializedKeyWindow, at: number): boolean {
  if (typeof w !== 'object' || w === null || !Array.isArray(w.d) || w.d.length !== 5) return false;
  const d = w.d[at];
  return Array.isArray(d) && d.length === 0;
}

/** null when the writer's counters are ours in our order (nothing to do). */
function counterRemap(names: readonly string[]): number[] | null {
  if (names.length === COUNTER_NAMES.length && names.every((n, i) => n === COUNTER_NAMES[i])) return null;
  return names.map((n) => (COUNTER_NAMES as readonly string[]).indexOf(n));
}

function remapWindow(w: SerializedKeyWindow, remap: number[], notes?: ReadNotes): SerializedKeyWindow {
  if (!w || !Array.isArray(w.c)) return w; // fromJSON rejects it later, counted there
  const c = new Array<number>(COUNTER_NAMES.length).fill(0);
  for (let i = 0; i < w.c.length; i++) {
    const to = remap[i] ?? -1;
    if (to >= 0) c[to] = w.c[i];
    else if (notes && w.c[i] !== 0) notes.unknownCounters++;
  }
  return { ...w, c };
}

function isPart(p: unknown): p is SummaryPart {
  const x = p as SummaryPart;
  return typeof x === 'object' && x !== null && typeof x.id === 'string' && Number.isFinite(x.w) && Number.isFinite(x.t)
    && Array.isArray(x.i) && Array.isArray(x.p) && Array.isArray(x.u) && (x.q === undefined || Array.isArray(x.q))
    && (x.dp === undefined || x.dp === 1);
}

/**
 * How summary records are written. `gzip`: always compressed (AWS, where Kinesis bills and limits the bytes).
 * `brotli`: the same, smaller, for level 3 (a detect of an earlier release cannot read it). `identity`: the JSON
 * document as it is wherever it fits a record, gzip only where it does not (an in-process stream, where compressing
 * costs CPU and saves nothing). Readers of this release read all three, telling them by their first bytes; earlier
 * releases read gzip only, so neither of the others goes on a stream they might read.
 */
export type SummaryEncoding = 'gzip' | 'brotli' | 'identity';

/**
 * Packs parts into records of at most `maxBytes` bytes as written (what Kinesis counts: compressed for gzip), each
 * part free to go in a record of its own: packSummaryUnits with every part its own unit. Never throws for size: a
 * single key's window is bounded (samples are capped), far below a record.
 */
export function packSummaryRecords(parts: SummaryPart[], maxBytes: number, encoding: SummaryEncoding = 'gzip'): Buffer[] {
  return packSummaryUnits(parts.map((p) => [p]), maxBytes, encoding);
}

/**
 * Packs units of parts (each unit the parts of one partition) into records of at most `maxBytes` as written, never
 * cutting a unit across records unless it alone is over the limit (then packSummaryRecords cuts it). Detect takes a
 * partition's part from a source batch it has already seen for a redelivery, so one batch's parts of a partition must
 * arrive together, in one record, as they did when each partition had records of its own.
 */
export function packSummaryUnits(units: SummaryPart[][], maxBytes: number, encoding: SummaryEncoding = 'gzip'): Buffer[] {
  const out: Buffer[] = [];
  // Units are gathered while their JSON stays under a budget, then encoded and measured; a record that came out too
  // large is halved by units. Our summaries gzip about 9:1 (an attacker's random paths 1.5:1), so compressed records
  // are gathered up to four times the limit of JSON (halved at most twice when it compresses badly); identity records
  // stay JSON where they fit, so they are gathered up to the limit and a fifth (what comes out over it is gzip'd).
  const rawBudget = maxBytes * (encoding === 'identity' ? 1.2 : 4);
  const texts = units.map((u) => u.map((p) => JSON.stringify(p)).join(','));
  let first = 0;
  let raw = 0;
  for (let i = 0; i <= units.length; i++) {
    if (i === units.length || (raw + texts[i].length > rawBudget && i > first)) {
      if (i > first) emitUnits(units.slice(first, i), texts.slice(first, i), maxBytes, encoding, out);
      first = i;
      raw = 0;
    }
    if (i < units.length) raw += texts[i].length + 1;
  }
  return out;
}

function emitUnits(units: SummaryPart[][], texts: string[], maxBytes: number, encoding: SummaryEncoding, out: Buffer[]): void {
  const parts = units.flat();
  if (parts.length === 0) return;
  const bytes = encodeDoc(docText(parts, texts.filter((t) => t.length > 0)), maxBytes, encoding);
  if (bytes.length <= maxBytes) {
    out.push(bytes);
    return;
  }
  if (units.length > 1) {
    const half = Math.ceil(units.length / 2);
    emitUnits(units.slice(0, half), texts.slice(0, half), maxBytes, encoding, out);
    emitUnits(units.slice(half), texts.slice(half), maxBytes, encoding, out);
    return;
  }
  // One partition alone over a record (a flood of long random paths from one /24 compresses badly): cut, its parts
  // apart and then a part by key (ids derived from its own, so a redelivered source record is still recognised), each
  // saying so, since they now arrive in records of their own.
  const cut = units[0].map((p): SummaryPart => (p.sp === 1 ? p : { ...p, sp: 1 }));
  if (cut.length > 1) {
    emitUnits(cut.map((p) => [p]), cut.map((p) => JSON.stringify(p)), maxBytes, encoding, out);
    return;
  }
  const [a, b] = splitPart(cut[0]);
  if (!b) throw new RangeError(`one key's summary is ${bytes.length} bytes compressed, over ${maxBytes}`);
  emitUnits([[a]], [JSON.stringify(a)], maxBytes, encoding, out);
  emitUnits([[b]], [JSON.stringify(b)], maxBytes, encoding, out);
}

/**
 * A document as record bytes. Identity: its UTF-8 bytes when they fit (uncompressed ≤ limit, so no need to compress
 * to know), else gzip as always. The same records are cut either way; only their bytes differ.
 */
function encodeDoc(text: string, maxBytes: number, encoding: SummaryEncoding): Buffer {
  if (encoding === 'identity') {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length <= maxBytes) return bytes;
  }
  if (encoding === 'brotli') return brotliRecord(text);
  return gzipSync(text, { level: 6 });
}

/**
 * Quality 5: on the `mixed` population at 10,000 requests a second, a quarter to a third fewer bytes than gzip's level
 * 6 for about as much CPU (quality 4: a fifth fewer for two thirds of it; 6 and up: a per cent or two more, for much
 * more). An attacker's random text comes out about as large as gzip's.
 */
const BROTLI_QUALITY = 5;

function brotliRecord(text: string): Buffer {
  const body = brotliCompressSync(text, { params: { [zlib.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: text.length } });
  const header = Buffer.alloc(BROTLI_HEADER_BYTES);
  BROTLI_MAGIC.copy(header);
  header.writeUInt32BE(crc32(body), BROTLI_MAGIC.length);
  return Buffer.concat([header, body]);
}

/** A part with many keys as two parts of half the keys each (ids `<id>.0` and `<id>.1`); null for a single key. */
function splitPart(p: SummaryPart): [SummaryPart, SummaryPart | null] {
  const keys = p.i.length + p.p.length + p.u.length + (p.q?.length ?? 0);
  if (keys <= 1) return [p, null];
  const entries: ['i' | 'p' | 'u' | 'q', [string, SerializedKeyWindow]][] = [
    ...(p.q ?? []).map((e) => ['q', e] as ['q', [string, SerializedKeyWindow]]),
    ...p.p.map((e) => ['p', e] as ['p', [string, SerializedKeyWindow]]),
    ...p.i.map((e) => ['i', e] as ['i', [string, SerializedKeyWindow]]),
    ...p.u.map((e) => ['u', e] as ['u', [string, SerializedKeyWindow]]),
  ];
  const half = Math.ceil(entries.length / 2);
  const make = (list: typeof entries, suffix: string): SummaryPart => {
    const part: SummaryPart = { id: `${p.id}.${suffix}`, w: p.w, t: p.t, n: 0, e5: 0, i: [], p: [], u: [], ...(p.dp === 1 ? { dp: 1 } : {}),
      ...(p.sp === 1 ? { sp: 1 } : {}) };
    for (const [kind, entry] of list) (part[kind] ??= []).push(entry);
    // Window totals travel with the host windows (what stage 1 counts them from).
    for (const [, kw] of part.i) {
      part.n += kw.c[0];
      part.e5 += kw.c[2];
    }
    return part;
  };
  return [make(entries.slice(0, half), '0'), make(entries.slice(half), '1')];
}

/** A stored chunk of an open window: gzip'd JSON document, base64 (DynamoDB strings). */
export function encodeChunk(parts: SummaryPart[]): string {
  // Stored state is read back once: the fastest level is worth more than a few per cent of size.
  return gzipSync(docOf(JSON.stringify(parts), levelOf(parts)), { level: 1 }).toString('base64');
}

/**
 * The ids of a stored chunk's parts, in order, read from its text without building the parts: an `"id"` member can
 * only be a part's (keys and windows have none, and JSON escapes every quote inside a string). An id written with
 * escapes is not matched; the caller sees the count differ from the parts' and reads the chunk whole. Throws
 * BadSummaryError for a body that is not a chunk.
 */
export function chunkPartIds(body: string): string[] {
  let text: string;
  try {
    text = body.startsWith('{') || body.startsWith('[') ? body : gunzipSync(Buffer.from(body, 'base64')).toString('utf8');
  } catch {
    throw new BadSummaryError('damaged window chunk');
  }
  const ids: string[] = [];
  for (const m of text.matchAll(PART_ID)) ids.push(m[1]);
  return ids;
}
const PART_ID = /"id":"([^"\\]*)"/g;

/**
 * Parts of a stored chunk: this release's document, the bare array of parts an earlier release stored, or (older
 * still) one part as plain JSON. Throws BadSummaryError for a damaged chunk.
 */
export function decodeChunk(body: string, notes?: ReadNotes): SummaryPart[] {
  let doc: unknown;
  try {
    doc = body.startsWith('{') ? JSON.parse(body) : JSON.parse(gunzipSync(Buffer.from(body, 'base64')).toString('utf8'));
  } catch {
    throw new BadSummaryError('damaged window chunk');
  }
  if (Array.isArray(doc)) return readDoc({ v: 1, parts: doc }, notes);
  if (typeof doc === 'object' && doc !== null && 'id' in doc) return readDoc({ v: 1, parts: [doc] }, notes);
  return readDoc(doc, notes);
}
