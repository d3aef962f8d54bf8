import { Distinct } from './distinct.ts';
import { ownString } from './own-string.ts';

/** Counters kept for one key in one window, in a fixed order (the serialised form is this array). */
export const COUNTER_NAMES = [
  'requests', 'status4xx', 'status5xx', 'authFailures', 'notFound', 'throttled', 'bytes', 'latencySum',
  'latencyCount', 'loginPosts', 'attackPayloads', 'scannerAgentRequests', 'trapHits', 'failedLogins',
] as const;

/**
 * The figures {@link KeyWindow.features} gives for one key's window, the names rules, evidence and reports read. A
 * figure read by a name not in this list does not compile.
 */
export const FEATURE_NAMES = [
  'requests', 'status4xx', 'status5xx', 'authFailures', 'notFound', 'throttled', 'bytes', 'meanLatencyMs',
  'loginPosts', 'attackPayloads', 'scannerAgentRequests', 'trapHits', 'failedLogins', 'distinctPaths', 'distinctNotFoundPaths',
  'distinctUserAgents', 'distinctPrincipals', 'distinctIps',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];
/** One key's window in figures: counts, distinct counts, and mean latency (ms, -1 when no request carried one). */
export type Features = Record<FeatureName, number>;

const SAMPLE_PATHS = 3;
const SAMPLE_UAS = 2;
const SAMPLE_MAX_CHARS = 200;

/** What an absent sample list reads as: frozen, so a write by mistake throws instead of spreading. */
const NO_SAMPLES: string[] = Object.freeze([]) as unknown as string[];

/**
 * `samples` with `text` added, cut to SAMPLE_MAX_CHARS. A new array of the exact size (at most three entries, so
 * copying is cheap) rather than a push, which would reserve room for 17 on a key-window's first sample; frozen
 * empty lists can be shared that way too. The text is copied out of the log line it was cut from, so a sample
 * kept for the evidence does not pin the line.
 */
function withSample(samples: readonly string[], text: string): string[] {
  return withEntry(samples, sampleText(text));
}

/** `list` and `x` in a new array of exactly that size, spelled out for the short lists samples are (concat is slow). */
function withEntry(list: readonly string[], x: string): string[] {
  switch (list.length) {
    case 0: return [x];
    case 1: return [list[0], x];
    case 2: return [list[0], list[1], x];
    default: return [...list, x];
  }
}

/** `text` as a sample keeps it: at most SAMPLE_MAX_CHARS, and its own copy. */
export function sampleText(text: string): string {
  return ownString(text.length > SAMPLE_MAX_CHARS ? text.slice(0, SAMPLE_MAX_CHARS) : text);
}

/** What one request contributes; hashes are computed once per event and shared by its keys. */
export interface Observation {
  status: number;
  bytes: number;
  latencyMs: number;
  method: string;
  path: string;
  userAgent: string;
  /** The agent as a sample keeps it (see sampleText), worked out once per distinct agent. */
  userAgentSample: string;
  pathHash: number;
  uaHash: number;
  ipHash: number;
  principalHash: number; // 0 when anonymous
  loginPost: boolean;
  attackPayload: boolean;
  scannerAgent: boolean;
  /** The path is one of the configured trap routes (src/features/trap-routes.ts). */
  trapHit: boolean;
}

/**
 * One key's features in one window: counts, bounded distinct counts, and a few samples for the evidence.
 * Stage 1 (ingest) builds these from events; stage 2 (detect) merges partials of the same key and window.
 *
 * Stage 1 makes a window for nearly every event (a window per key per 200-event record), and most of a window's
 * distinct counters only ever see one value (its IP, its user agent, its principal). So each counter keeps its
 * first value in two fields here and becomes a Distinct object only with a second value, or when one is asked
 * for (then it stays one, and stays live). Before, five Distincts per window were most of the allocation of
 * ingest.
 */
export class KeyWindow {
  requests = 0;
  status4xx = 0;
  status5xx = 0;
  authFailures = 0;
  notFound = 0;
  throttled = 0;
  bytes = 0;
  latencySum = 0;
  latencyCount = 0;
  loginPosts = 0;
  /** Login POSTs answered 401/403: a failed login, told apart from a refusal elsewhere. */
  failedLogins = 0;
  attackPayloads = 0;
  scannerAgentRequests = 0;
  /** Requests to a configured trap route. */
  trapHits = 0;
  /**
   * Of `requests`, those that reached detect after their own window had closed and were folded into this one (detect
   * only, never on the wire). They count as evidence against the key, but a window holding nothing else is not one
   * the key was active in: see {@link foldedOnly}.
   */
  lateRequests = 0;
  // Per distinct counter: the Distinct once there is one, else `…One` (0 or 1 values held) and `…Value` (int32).
  private pathsSet: Distinct | null = null;
  private pathsOne = 0;
  private pathsValue = 0;
  private notFoundSet: Distinct | null = null;
  private notFoundOne = 0;
  private notFoundValue = 0;
  private agentsSet: Distinct | null = null;
  private agentsOne = 0;
  private agentsValue = 0;
  private principalsSet: Distinct | null = null;
  private principalsOne = 0;
  private principalsValue = 0;
  private ipsSet: Distinct | null = null;
  private ipsOne = 0;
  private ipsValue = 0;
  /** A few paths that got a 404, for the evidence (a shared empty array until the first). */
  samplePaths: string[] = NO_SAMPLES;
  /** A few user agents, for the evidence (a shared empty array until the first). */
  sampleUserAgents: string[] = NO_SAMPLES;

  get paths(): Distinct {
    return (this.pathsSet ??= asDistinct(this.pathsOne, this.pathsValue));
  }

  get notFoundPaths(): Distinct {
    return (this.notFoundSet ??= asDistinct(this.notFoundOne, this.notFoundValue));
  }

  get userAgents(): Distinct {
    return (this.agentsSet ??= asDistinct(this.agentsOne, this.agentsValue));
  }

  get principals(): Distinct {
    return (this.principalsSet ??= asDistinct(this.principalsOne, this.principalsValue));
  }

  get ips(): Distinct {
    return (this.ipsSet ??= asDistinct(this.ipsOne, this.ipsValue));
  }

  add(o: Observation): void {
    this.requests++;
    const s = o.status;
    if (s >= 400) {
      if (s < 500) {
        this.status4xx++;
        if (s === 404) {
          this.notFound++;
          this.addNotFoundPath(o.pathHash);
          if (this.samplePaths.length < SAMPLE_PATHS && !this.samplePaths.includes(o.path)) {
            this.samplePaths = withSample(this.samplePaths, o.path);
          }
        } else if (s === 401 || s === 403) {
          this.authFailures++;
          if (o.loginPost) this.failedLogins++;
        }
        else if (s === 429) this.throttled++;
      } else this.status5xx++;
    }
    this.bytes += o.bytes;
    if (o.latencyMs >= 0) {
      this.latencySum += o.latencyMs;
      this.latencyCount++;
    }
    if (o.loginPost) this.loginPosts++;
    if (o.attackPayload) this.attackPayloads++;
    if (o.scannerAgent) this.scannerAgentRequests++;
    if (o.trapHit) this.trapHits++;
    this.addPath(o.pathHash);
    if (o.uaHash !== 0) {
      this.addAgent(o.uaHash);
      // Compared as kept (the agent's shared copy, cut to length): comparing with it is mostly a pointer compare, and
      // a long agent seen again matches the cut copy it left (its full text never would).
      if (this.sampleUserAgents.length < SAMPLE_UAS && !this.sampleUserAgents.includes(o.userAgentSample)) {
        this.sampleUserAgents = withEntry(this.sampleUserAgents, o.userAgentSample);
      }
    }
    if (o.principalHash !== 0) this.addPrincipal(o.principalHash);
    this.addIp(o.ipHash);
  }

  merge(o: KeyWindow): void {
    this.requests += o.requests;
    this.lateRequests += o.lateRequests;
    this.status4xx += o.status4xx;
    this.status5xx += o.status5xx;
    this.authFailures += o.authFailures;
    this.notFound += o.notFound;
    this.throttled += o.throttled;
    this.bytes += o.bytes;
    this.latencySum += o.latencySum;
    this.latencyCount += o.latencyCount;
    this.loginPosts += o.loginPosts;
    this.failedLogins += o.failedLogins;
    this.attackPayloads += o.attackPayloads;
    this.scannerAgentRequests += o.scannerAgentRequests;
    this.trapHits += o.trapHits;
    if (o.pathsSet !== null) this.paths.merge(o.pathsSet);
    else if (o.pathsOne) this.addPath(o.pathsValue >>> 0);
    if (o.notFoundSet !== null) this.notFoundPaths.merge(o.notFoundSet);
    else if (o.notFoundOne) this.addNotFoundPath(o.notFoundValue >>> 0);
    if (o.agentsSet !== null) this.userAgents.merge(o.agentsSet);
    else if (o.agentsOne) this.addAgent(o.agentsValue >>> 0);
    if (o.principalsSet !== null) this.principals.merge(o.principalsSet);
    else if (o.principalsOne) this.addPrincipal(o.principalsValue >>> 0);
    if (o.ipsSet !== null) this.ips.merge(o.ipsSet);
    else if (o.ipsOne) this.addIp(o.ipsValue >>> 0);
    // Another window's samples are already as a sample keeps them (cut and owned: add, samplesOf), so they are shared.
    for (const p of o.samplePaths) {
      if (this.samplePaths.length < SAMPLE_PATHS && !this.samplePaths.includes(p)) this.samplePaths = withEntry(this.samplePaths, p);
    }
    for (const u of o.sampleUserAgents) {
      if (this.sampleUserAgents.length < SAMPLE_UAS && !this.sampleUserAgents.includes(u)) {
        this.sampleUserAgents = withEntry(this.sampleUserAgents, u);
      }
    }
  }

  /**
   * True when every request of this window came late, folded in from windows already decided: stragglers of an
   * earlier minute (a CloudWatch Logs flush or a shard behind the others), not a minute the key was active in. Such a
   * window is judged (its volume still counts against the key) but not learned from, and it is no member of the
   * window's population: a key's usual volume and the population's median must not sink with its stragglers.
   */
  get foldedOnly(): boolean {
    return this.lateRequests > 0 && this.lateRequests >= this.requests;
  }

  /** The figures rules and evidence use. */
  features(): Features {
    return {
      requests: this.requests,
      status4xx: this.status4xx,
      status5xx: this.status5xx,
      authFailures: this.authFailures,
      notFound: this.notFound,
      throttled: this.throttled,
      bytes: this.bytes,
      meanLatencyMs: this.latencyCount ? Math.round(this.latencySum / this.latencyCount) : -1,
      loginPosts: this.loginPosts,
      attackPayloads: this.attackPayloads,
      scannerAgentRequests: this.scannerAgentRequests,
      trapHits: this.trapHits,
      failedLogins: this.failedLogins,
      distinctPaths: this.pathsSet !== null ? this.pathsSet.size : this.pathsOne,
      distinctNotFoundPaths: this.notFoundSet !== null ? this.notFoundSet.size : this.notFoundOne,
      distinctUserAgents: this.agentsSet !== null ? this.agentsSet.size : this.agentsOne,
      distinctPrincipals: this.principalsSet !== null ? this.principalsSet.size : this.principalsOne,
      distinctIps: this.ipsSet !== null ? this.ipsSet.size : this.ipsOne,
    };
  }

  toJSON(): SerializedKeyWindow {
    return {
      c: [this.requests, this.status4xx, this.status5xx, this.authFailures, this.notFound, this.throttled, this.bytes,
        this.latencySum, this.latencyCount, this.loginPosts, this.attackPayloads, this.scannerAgentRequests, this.trapHits,
        this.failedLogins],
      d: [
        this.pathsSet !== null ? this.pathsSet.toJSON() : exactJSON(this.pathsOne, this.pathsValue),
        this.notFoundSet !== null ? this.notFoundSet.toJSON() : exactJSON(this.notFoundOne, this.notFoundValue),
        this.agentsSet !== null ? this.agentsSet.toJSON() : exactJSON(this.agentsOne, this.agentsValue),
        this.principalsSet !== null ? this.principalsSet.toJSON() : exactJSON(this.principalsOne, this.principalsValue),
        this.ipsSet !== null ? this.ipsSet.toJSON() : exactJSON(this.ipsOne, this.ipsValue),
      ],
      sp: this.samplePaths,
      su: this.sampleUserAgents,
    };
  }

  /**
   * Rebuilds a window from its serialised form, counters in this release's COUNTER_NAMES order (the wire reads other
   * revisions' counters by name into that order first); throws TypeError on a malformed one (the caller counts it).
   */
  static fromJSON(v: SerializedKeyWindow): KeyWindow {
    if (!v || !Array.isArray(v.c) || v.c.length !== COUNTER_NAMES.length || !Array.isArray(v.d) || v.d.length !== 5) {
      throw new TypeError('malformed key window');
    }
    for (const n of v.c) if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new TypeError('bad counter');
    const w = new KeyWindow();
    const c = v.c;
    w.requests = c[0];
    w.status4xx = c[1];
    w.status5xx = c[2];
    w.authFailures = c[3];
    w.notFound = c[4];
    w.throttled = c[5];
    w.bytes = c[6];
    w.latencySum = c[7];
    w.latencyCount = c[8];
    w.loginPosts = c[9];
    w.attackPayloads = c[10];
    w.scannerAgentRequests = c[11];
    w.trapHits = c[12];
    w.failedLogins = c[13];
    // A counter of one value (most of them) stays inline, as add() keeps it: no Distinct to allocate. The values and
    // their order are the same either way (what features, merge and toJSON read).
    const d = v.d;
    let k = held(d[0]);
    if (k === MANY) w.pathsSet = nonEmpty(Distinct.fromJSON(d[0]));
    else if (k === ONE) {
      w.pathsOne = 1;
      w.pathsValue = heldValue;
    }
    k = held(d[1]);
    if (k === MANY) w.notFoundSet = nonEmpty(Distinct.fromJSON(d[1]));
    else if (k === ONE) {
      w.notFoundOne = 1;
      w.notFoundValue = heldValue;
    }
    k = held(d[2]);
    if (k === MANY) w.agentsSet = nonEmpty(Distinct.fromJSON(d[2]));
    else if (k === ONE) {
      w.agentsOne = 1;
      w.agentsValue = heldValue;
    }
    k = held(d[3]);
    if (k === MANY) w.principalsSet = nonEmpty(Distinct.fromJSON(d[3]));
    else if (k === ONE) {
      w.principalsOne = 1;
      w.principalsValue = heldValue;
    }
    k = held(d[4]);
    if (k === MANY) w.ipsSet = nonEmpty(Distinct.fromJSON(d[4]));
    else if (k === ONE) {
      w.ipsOne = 1;
      w.ipsValue = heldValue;
    }
    w.samplePaths = samplesOf(v.sp, SAMPLE_PATHS);
    w.sampleUserAgents = samplesOf(v.su, SAMPLE_UAS);
    return w;
  }

  // One adder per counter, spelled out: a shared helper would need the counter as an object again.

  private addPath(h: number): void {
    if (this.pathsSet !== null) this.pathsSet.add(h);
    else if (this.pathsOne === 0) {
      this.pathsValue = h | 0;
      this.pathsOne = 1;
    } else if (this.pathsValue !== (h | 0)) this.pathsSet = pair(this.pathsValue, h);
  }

  private addNotFoundPath(h: number): void {
    if (this.notFoundSet !== null) this.notFoundSet.add(h);
    else if (this.notFoundOne === 0) {
      this.notFoundValue = h | 0;
      this.notFoundOne = 1;
    } else if (this.notFoundValue !== (h | 0)) this.notFoundSet = pair(this.notFoundValue, h);
  }

  private addAgent(h: number): void {
    if (this.agentsSet !== null) this.agentsSet.add(h);
    else if (this.agentsOne === 0) {
      this.agentsValue = h | 0;
      this.agentsOne = 1;
    } else if (this.agentsValue !== (h | 0)) this.agentsSet = pair(this.agentsValue, h);
  }

  private addPrincipal(h: number): void {
    if (this.principalsSet !== null) this.principalsSet.add(h);
    else if (this.principalsOne === 0) {
      this.principalsValue = h | 0;
      this.principalsOne = 1;
    } else if (this.principalsValue !== (h | 0)) this.principalsSet = pair(this.principalsValue, h);
  }

  private addIp(h: number): void {
    if (this.ipsSet !== null) this.ipsSet.add(h);
    else if (this.ipsOne === 0) {
      this.ipsValue = h | 0;
      this.ipsOne = 1;
    } else if (this.ipsValue !== (h | 0)) this.ipsSet = pair(this.ipsValue, h);
  }
}

/** A counter's inline state (0 or 1 value) as a Distinct, for a reader or a second value. */
function asDistinct(one: number, value: number): Distinct {
  const d = new Distinct();
  if (one) d.add(value >>> 0);
  return d;
}

/** A counter's first value (int32) and a second one, as a Distinct, in that order. */
function pair(first: number, second: number): Distinct {
  const d = new Distinct();
  d.add(first >>> 0);
  d.add(second);
  return d;
}

/** The serialised form of a counter held inline: what Distinct.toJSON gives for the same values. */
function exactJSON(one: number, value: number): number[] {
  return one ? [value >>> 0] : NO_VALUES;
}

/** An empty counter serialised: one frozen array for all of them (most counters of a window are empty). */
const NO_VALUES: number[] = Object.freeze([]) as unknown as number[];

const NONE = 0;
const ONE = 1;
const MANY = 2;
/** The value {@link held} found, when it found ONE. */
let heldValue = 0;

/**
 * How a serialised counter holds its values: none, one (then in `heldValue`, int32 as add() keeps it), or MANY for
 * anything else (more values, a sketch, something malformed), which Distinct.fromJSON reads as it always has.
 */
function held(d: unknown): number {
  if (!Array.isArray(d) || d.length > 1) return MANY;
  if (d.length === 0 || typeof d[0] !== 'number') return NONE;
  heldValue = d[0] | 0;
  return ONE;
}

/**
 * The first `max` strings of a serialised sample list, in a new array (the shared empty one when there are none), as a
 * sample keeps them: JSON.parse's strings are already their own copies, so only one over the length (a writer that did
 * not cut it) is cut.
 */
function samplesOf(list: unknown, max: number): string[] {
  if (!Array.isArray(list)) return NO_SAMPLES;
  let out: string[] = NO_SAMPLES;
  for (let i = 0; i < list.length && out.length < max; i++) {
    const s: unknown = list[i];
    if (typeof s === 'string') out = withEntry(out, s.length > SAMPLE_MAX_CHARS ? sampleText(s) : s);
  }
  return out;
}

function nonEmpty(d: Distinct): Distinct | null {
  return d.size > 0 ? d : null;
}

/** Positions in SerializedKeyWindow.d (toJSON's order) of the distinct user agents, principals and addresses. */
export const D_AGENTS = 2;
export const D_PRINCIPALS = 3;
export const D_IPS = 4;

export interface SerializedKeyWindow {
  c: number[];
  d: (number[] | string)[];
  sp: string[];
  su: string[];
}
