import { readFile } from 'node:fs/promises';
import ipaddr from 'ipaddr.js';
import type { Labels } from './labels.ts';

/**
 * Scores a detector's decisions against simulation labels: a port of apitraffic's score.py.
 *
 * An attacker is *detected* when a block or alert names its principal or covers its addresses, and *contained*
 * when blocks cover them: for an attacker with many addresses, at least 80% of them, or a block of its
 * principal. Time to contain = first such block minus the attack's start, in seconds of log time.
 * A benign notable client is a false positive when a block covers its address; allowlisted ranges must never
 * be covered; a block covering no attacker address at all hits the benign population.
 */

export interface DecisionLike {
  /** ISO 8601 or epoch ms: the event time of the decision. */
  time: string | number;
  action: string;
  target: string;
  targetKind: string;
}

export interface AttackerScore {
  kind: string;
  addresses: number;
  principal: string | null;
  detected: boolean;
  contained: boolean;
  covered_share: number;
  time_to_contain_s: number | null;
}

/** The same fields as `score.py --json`. */
export interface ScoreResult {
  scenario: string | null;
  attackers: number;
  detected: number;
  contained: number;
  median_time_to_contain_s: number | null;
  max_time_to_contain_s: number | null;
  benign_notable_blocked: Array<{ kind: string; ip: string }>;
  allowlist_violations: string[];
  blocks_covering_no_attacker: number;
  benign_ips: number | null;
  unreadable_decisions: number;
  per_attacker: AttackerScore[];
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

interface Network {
  address: Address;
  bits: number;
}

interface Entry {
  time: number;
  target: string;
  network: Network | null;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Epoch ms of a decision time, or null when it is neither epoch ms nor ISO 8601. */
export function decisionTime(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : null;
  // Only ISO 8601, as Python's fromisoformat: Date.parse alone would also accept "Nov 2 2026".
  if (typeof value !== 'string' || !ISO_8601.test(value)) return null;
  const ms = Date.parse(value.replace(' ', 'T').replace(',', '.'));
  return Number.isNaN(ms) ? null : ms;
}

/** An address with `::ffff:a.b.c.d` read as the IPv4 it carries. */
function parseAddress(text: string): Address | null {
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
    if (!ipaddr.IPv6.isValid(text)) return null;
    const v6 = ipaddr.IPv6.parse(text);
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
  } catch {
    return null;
  }
}

/** An IP or CIDR target as a network (host bits dropped); IPv4-mapped IPv6 ranges become IPv4 ranges. */
export function parseNetwork(target: string): Network | null {
  const slash = target.indexOf('/');
  const addressText = slash < 0 ? target : target.slice(0, slash);
  const bitsText = slash < 0 ? null : target.slice(slash + 1);
  let address: Address;
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) address = ipaddr.IPv4.parse(addressText);
    else if (ipaddr.IPv6.isValid(addressText) && !addressText.includes('%')) address = ipaddr.IPv6.parse(addressText);
    else return null;
  } catch {
    return null;
  }
  const maxBits = address.kind() === 'ipv4' ? 32 : 128;
  if (bitsText !== null && !/^\d{1,3}$/.test(bitsText)) return null;
  const bits = bitsText === null ? maxBits : Number(bitsText);
  if (bits > maxBits) return null;
  const network = networkAddress(address, bits);
  if (network.kind() === 'ipv6' && (network as ipaddr.IPv6).isIPv4MappedAddress()) {
    return { address: (network as ipaddr.IPv6).toIPv4Address(), bits: Math.max(bits - 96, 0) };
  }
  return { address: network, bits };
}

function networkAddress(address: Address, bits: number): Address {
  const bytes = address.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(Math.max(bits - i * 8, 0), 8);
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}

function networkText(n: Network): string {
  const text = n.address.kind() === 'ipv6' ? (n.address as ipaddr.IPv6).toRFC5952String() : n.address.toString();
  return `${text}/${n.bits}`;
}

function contains(n: Network, a: Address): boolean {
  return n.address.kind() === a.kind() && a.match(n.address, n.bits);
}

/** Two prefixes overlap exactly when the shorter one contains the other's network address. */
function overlaps(a: Network, b: Network): boolean {
  return a.bits <= b.bits ? contains(a, b.address) : contains(b, a.address);
}

function toEntry(d: DecisionLike, time: number): Entry {
  const target = String(d.target ?? '');
  const network = d.targetKind === 'ip' || d.targetKind === 'cidr' ? parseNetwork(target) : null;
  return { time, target, network };
}

/** Earliest time at which an entry covers each address (addresses never covered are left out). */
function firstCoverTimes(ips: readonly string[], entries: readonly Entry[]): number[] {
  const times: number[] = [];
  for (const ip of ips) {
    const a = parseAddress(ip);
    if (!a) continue;
    let first = Infinity;
    for (const e of entries) if (e.network && e.time < first && contains(e.network, a)) first = e.time;
    if (first !== Infinity) times.push(first);
  }
  return times;
}

/**
 * Python's round(x, digits): half-way cases go to the even digit. A binary double is exactly half-way
 * only when x * 2^(digits+1) is an odd integer; everything else rounds to nearest, as toFixed does.
 */
export function roundHalfEven(x: number, digits: number): number {
  const scaledHalf = x * 2 ** (digits + 1);
  if (Number.isInteger(scaledHalf) && Math.abs(scaledHalf % 2) === 1) {
    const scale = 10 ** digits;
    const down = Math.floor(x * scale);
    return (down % 2 === 0 ? down : down + 1) / scale;
  }
  return Number(x.toFixed(digits));
}

function scoreAttacker(at: Labels['attackers'][number], flags: Entry[], blocks: Entry[]): { row: AttackerScore; ttc: number | null } {
  const ips = at.ips;
  const principal = at.principal || null;
  const flaggedByPrincipal = principal !== null && flags.some((e) => e.target === principal);
  const detected = flaggedByPrincipal || firstCoverTimes(ips, flags).length > 0;
  const blockTimes = firstCoverTimes(ips, blocks).sort((a, b) => a - b);
  const share = ips.length > 0 ? blockTimes.length / ips.length : 0;
  const principalBlocks = principal === null ? [] : blocks.filter((e) => e.target === principal).map((e) => e.time);
  const contained = share >= 0.8 || principalBlocks.length > 0;
  let ttc: number | null = null;
  if (contained) {
    // With many addresses the attack is contained once 80% of them are covered.
    const at80 = principalBlocks.length > 0 ? Math.min(...principalBlocks)
      : blockTimes[ips.length > 1 ? Math.trunc(0.8 * ips.length) - 1 : 0];
    ttc = Math.max(0, (at80 - at.start) / 1000);
  }
  return {
    row: {
      kind: at.kind, addresses: ips.length, principal: at.principal ?? null, detected, contained,
      covered_share: roundHalfEven(share, 3), time_to_contain_s: ttc === null ? null : roundHalfEven(ttc, 1),
    },
    ttc,
  };
}

function notableBlocked(labels: Labels, blocks: Entry[]): Array<{ kind: string; ip: string }> {
  const hits: Array<{ kind: string; ip: string }> = [];
  for (const b of labels.benign_notable ?? []) {
    for (const ip of b.ips) if (firstCoverTimes([ip], blocks).length > 0) hits.push({ kind: b.kind, ip });
  }
  return hits;
}

function allowlistViolations(labels: Labels, blocks: Entry[]): string[] {
  const allowed = (labels.allowlist ?? []).map(parseNetwork).filter((n): n is Network => n !== null);
  const hits = blocks.filter((e) => e.network && allowed.some((a) => overlaps(e.network!, a)));
  return [...new Set(hits.map((e) => networkText(e.network!)))].sort();
}

/** Distinct blocked networks that contain no attacker address at all. */
function straysOf(labels: Labels, blocks: Entry[]): string[] {
  const attackerAddresses = [...new Set(labels.attackers.flatMap((a) => a.ips))]
    .map((ip) => (ipaddr.isValid(ip) ? ipaddr.parse(ip) : null))
    .filter((a): a is Address => a !== null);
  const strays = blocks
    .filter((e) => e.network && !attackerAddresses.some((a) => contains(e.network!, a)))
    .map((e) => networkText(e.network!));
  return [...new Set(strays)].sort();
}

/**
 * Scores decisions against labels. Decisions whose time cannot be read are counted as unreadable (added to
 * `unreadable`, e.g. lines of a JSONL file that did not parse); only `block` and `alert` count.
 */
export function scoreDecisions(labels: Labels, decisions: Iterable<DecisionLike>, unreadable = 0): ScoreResult {
  const flags: Entry[] = [];
  const blocks: Entry[] = [];
  let bad = unreadable;
  for (const d of decisions) {
    const time = decisionTime(d?.time);
    if (time === null) {
      bad++;
      continue;
    }
    if (d.action !== 'block' && d.action !== 'alert') continue;
    const entry = toEntry(d, time);
    flags.push(entry);
    if (d.action === 'block') blocks.push(entry);
  }
  const scored = labels.attackers.map((at) => scoreAttacker(at, flags, blocks));
  const ttcs = scored.map((s) => s.ttc).filter((t): t is number => t !== null).sort((a, b) => a - b);
  return {
    scenario: labels.scenario ?? null,
    attackers: labels.attackers.length,
    detected: scored.filter((s) => s.row.detected).length,
    contained: scored.filter((s) => s.row.contained).length,
    median_time_to_contain_s: ttcs.length > 0 ? ttcs[Math.floor(ttcs.length / 2)] : null,
    max_time_to_contain_s: ttcs.length > 0 ? ttcs[ttcs.length - 1] : null,
    benign_notable_blocked: notableBlocked(labels, blocks),
    allowlist_violations: allowlistViolations(labels, blocks),
    blocks_covering_no_attacker: straysOf(labels, blocks).length,
    benign_ips: labels.benign_ips ?? null,
    unreadable_decisions: bad,
    per_attacker: scored.map((s) => s.row),
  };
}

/** Decisions from JSONL text; lines that are not JSON objects are counted, not thrown. */
export function parseDecisionLines(text: string): { decisions: DecisionLike[]; unreadable: number } {
  const decisions: DecisionLike[] = [];
  let unreadable = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    try {
      const d: unknown = JSON.parse(line);
      if (d && typeof d === 'object' && !Array.isArray(d)) decisions.push(d as DecisionLike);
      else unreadable++;
    } catch {
      unreadable++;
    }
  }
  return { decisions, unreadable };
}

/** score.py LABELS DECISIONS, from files. */
export async function scoreFiles(labelsPath: string, decisionsPath: string): Promise<ScoreResult> {
  const labels = JSON.parse(await readFile(labelsPath, 'utf8')) as Labels;
  const { decisions, unreadable } = parseDecisionLines(await readFile(decisionsPath, 'utf8'));
  return scoreDecisions(labels, decisions, unreadable);
}

/** A number as Python prints it (`None`, `0`, `12.0`, `12.5`), so the summary reads like score.py's. */
function pythonNumber(x: number | null): string {
  if (x === null) return 'None';
  if (x === 0) return '0';
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

const pythonBool = (b: boolean): string => (b ? 'True' : 'False');

/** score.py's one-line summary. */
export function formatScore(r: ScoreResult): string {
  return `${r.scenario ?? 'None'}: detected ${r.detected}/${r.attackers} contained ${r.contained}/${r.attackers} ` +
    `median_ttc_s=${pythonNumber(r.median_time_to_contain_s)} false_blocks=${r.blocks_covering_no_attacker} ` +
    `allowlist_violations=${r.allowlist_violations.length}`;
}

/** score.py's per-attacker table and findings, without the summary line. */
export function formatScoreDetails(r: ScoreResult): string[] {
  const rows = r.per_attacker.map((a) =>
    `${a.kind.padEnd(34)} addrs=${String(a.addresses).padStart(5)} detected=${pythonBool(a.detected).padEnd(5)} ` +
    `contained=${pythonBool(a.contained).padEnd(5)} covered=${a.covered_share.toFixed(2)} ttc_s=${pythonNumber(a.time_to_contain_s)}`);
  return [
    ...rows,
    ...r.benign_notable_blocked.map((f) => `FALSE POSITIVE ${f.kind} ${f.ip}`),
    ...r.allowlist_violations.map((v) => `ALLOWLIST VIOLATION ${v}`),
  ];
}
