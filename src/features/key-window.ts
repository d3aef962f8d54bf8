import { Distinct } from './distinct.ts';

/** Counters kept for one key in one window, in a fixed order (the serialised form is this array). */
export const COUNTER_NAMES = [
  'requests', 'status4xx', 'status5xx', 'authFailures', 'notFound', 'throttled', 'bytes', 'latencySum',
  'latencyCount', 'loginPosts', 'attackPayloads', 'scannerAgentRequests',
] as const;

const SAMPLE_PATHS = 3;
const SAMPLE_UAS = 2;
const SAMPLE_MAX_CHARS = 200;

/** What one request contributes; hashes are computed once per event and shared by its keys. */
export interface Observation {
  status: number;
  bytes: number;
  latencyMs: number;
  method: string;
  path: string;
  userAgent: string;
  pathHash: number;
  uaHash: number;
  ipHash: number;
  principalHash: number; // 0 when anonymous
  loginPost: boolean;
  attackPayload: boolean;
  scannerAgent: boolean;
}

/**
 * One key's features in one window: counts, bounded distinct counts, and a few samples for the evidence.
 * Stage 1 (ingest) builds these from events; stage 2 (detect) merges partials of the same key and window.
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
  attackPayloads = 0;
  scannerAgentRequests = 0;
  readonly paths = new Distinct();
  readonly notFoundPaths = new Distinct();
  readonly userAgents = new Distinct();
  readonly principals = new Distinct();
  readonly ips = new Distinct();
  samplePaths: string[] = [];
  sampleUserAgents: string[] = [];

  add(o: Observation): void {
    this.requests++;
    const s = o.status;
    if (s >= 400) {
      if (s < 500) {
        this.status4xx++;
        if (s === 404) {
          this.notFound++;
          this.notFoundPaths.add(o.pathHash);
          if (this.samplePaths.length < SAMPLE_PATHS && !this.samplePaths.includes(o.path)) {
            this.samplePaths.push(o.path.slice(0, SAMPLE_MAX_CHARS));
          }
        } else if (s === 401 || s === 403) this.authFailures++;
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
    this.paths.add(o.pathHash);
    if (o.uaHash !== 0) {
      this.userAgents.add(o.uaHash);
      if (this.sampleUserAgents.length < SAMPLE_UAS && !this.sampleUserAgents.includes(o.userAgent)) {
        this.sampleUserAgents.push(o.userAgent.slice(0, SAMPLE_MAX_CHARS));
      }
    }
    if (o.principalHash !== 0) this.principals.add(o.principalHash);
    this.ips.add(o.ipHash);
  }

  merge(o: KeyWindow): void {
    this.requests += o.requests;
    this.status4xx += o.status4xx;
    this.status5xx += o.status5xx;
    this.authFailures += o.authFailures;
    this.notFound += o.notFound;
    this.throttled += o.throttled;
    this.bytes += o.bytes;
    this.latencySum += o.latencySum;
    this.latencyCount += o.latencyCount;
    this.loginPosts += o.loginPosts;
    this.attackPayloads += o.attackPayloads;
    this.scannerAgentRequests += o.scannerAgentRequests;
    this.paths.merge(o.paths);
    this.notFoundPaths.merge(o.notFoundPaths);
    this.userAgents.merge(o.userAgents);
    this.principals.merge(o.principals);
    this.ips.merge(o.ips);
    for (const p of o.samplePaths) if (this.samplePaths.length < SAMPLE_PATHS && !this.samplePaths.includes(p)) this.samplePaths.push(p);
    for (const u of o.sampleUserAgents) {
      if (this.sampleUserAgents.length < SAMPLE_UAS && !this.sampleUserAgents.includes(u)) this.sampleUserAgents.push(u);
    }
  }

  /** The figures rules and evidence use. */
  features(): Record<string, number> {
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
      distinctPaths: this.paths.size,
      distinctNotFoundPaths: this.notFoundPaths.size,
      distinctUserAgents: this.userAgents.size,
      distinctPrincipals: this.principals.size,
      distinctIps: this.ips.size,
    };
  }

  toJSON(): SerializedKeyWindow {
    return {
      c: [this.requests, this.status4xx, this.status5xx, this.authFailures, this.notFound, this.throttled, this.bytes,
        this.latencySum, this.latencyCount, this.loginPosts, this.attackPayloads, this.scannerAgentRequests],
      d: [this.paths.toJSON(), this.notFoundPaths.toJSON(), this.userAgents.toJSON(), this.principals.toJSON(),
        this.ips.toJSON()],
      sp: this.samplePaths,
      su: this.sampleUserAgents,
    };
  }

  /** Rebuilds a window from its serialised form; throws TypeError on a malformed one (the caller counts it). */
  static fromJSON(v: SerializedKeyWindow): KeyWindow {
    if (!v || !Array.isArray(v.c) || v.c.length !== COUNTER_NAMES.length || !Array.isArray(v.d) || v.d.length !== 5) {
      throw new TypeError('malformed key window');
    }
    for (const n of v.c) if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new TypeError('bad counter');
    const w = new KeyWindow();
    [w.requests, w.status4xx, w.status5xx, w.authFailures, w.notFound, w.throttled, w.bytes, w.latencySum,
      w.latencyCount, w.loginPosts, w.attackPayloads, w.scannerAgentRequests] = v.c;
    w.paths.merge(Distinct.fromJSON(v.d[0]));
    w.notFoundPaths.merge(Distinct.fromJSON(v.d[1]));
    w.userAgents.merge(Distinct.fromJSON(v.d[2]));
    w.principals.merge(Distinct.fromJSON(v.d[3]));
    w.ips.merge(Distinct.fromJSON(v.d[4]));
    w.samplePaths = Array.isArray(v.sp) ? v.sp.filter((s) => typeof s === 'string').slice(0, SAMPLE_PATHS) : [];
    w.sampleUserAgents = Array.isArray(v.su) ? v.su.filter((s) => typeof s === 'string').slice(0, SAMPLE_UAS) : [];
    return w;
  }
}

export interface SerializedKeyWindow {
  c: number[];
  d: (number[] | string)[];
  sp: string[];
  su: string[];
}
