import { WAFV2Client, type WAFV2ClientConfig } from '@aws-sdk/client-wafv2';
import { contains, parseCidr, type Cidr } from '../../net/cidr.ts';
import { WAF_MAX_ADDRESSES_PER_SET } from '../../render/waf-ipset.ts';
import { LOGIN_PATH_REGEX } from '../../render/waf-route-rule.ts';

/**
 * An in-process WAFv2 (IP sets only) that the real `WafIpSetAdapter` drives, for `cordon replay` / `rehearse` and
 * tests.
 *
 * Why a request handler and not a fake `send`: {@link WafTwin.client} is a real `WAFV2Client` whose
 * `requestHandler` is this twin, which answers the awsJson1.1 wire requests (`X-Amz-Target: AWSWAF_20190729.*`) with
 * AWS-shaped HTTP responses. So the SDK's serializer, its error parsing (the errors the adapter sees are the SDK's
 * own `WAFOptimisticLockException`… with `name`, `$fault`, `$metadata`) and its retry strategy all run as in Lambda;
 * a fake `send` would bypass the three and could drift from what the SDK really hands the adapter. The price is a
 * small JSON router, and that the SDK's retries sleep in real time (see {@link WafTwin.client}).
 *
 * Operations: CreateIPSet, GetIPSet, UpdateIPSet, ListIPSets, DeleteIPSet. What it enforces, as AWS does:
 * - 10,000 addresses per set (`WAFLimitsExceededException`), 100 IP sets per scope (account quota, adjustable).
 * - Addresses in CIDR notation of the set's family, `/0` refused (`WAFInvalidParameterException`). A block with host
 *   bits set (`10.0.0.1/24`) is kept verbatim: AWS's behaviour there is not documented, and a twin must not fail
 *   what AWS might accept.
 * - LockToken optimistic locking: Update/Delete with a stale token → `WAFOptimisticLockException`; every change
 *   issues a new token. UpdateIPSet is a full replace: a Description left out is cleared.
 * - API quotas (AWS WAF quotas page and the Security Automations solution's "Quotas" page): each individual
 *   Create/Put/Update action at most 1 request per second per account and region, Get/List 5 per second, in the
 *   twin's clock. Over quota the call fails with `ThrottlingException` ("Rate exceeded", HTTP 400) — that, not
 *   `WAFLimitsExceededException` (which is the resource-limit error), is what WAFv2 returns when the write quota is
 *   hit: see aws-solutions/aws-waf-security-automations issue #152, where UpdateIPSet calls over the quota failed with
 *   "ThrottlingException: Rate exceeded". The SDK classifies that name as throttling and retries it itself.
 * - Propagation: a change is enforced only `propagationDelayMs` after it was accepted (AWS: seconds to a minute or
 *   more). {@link WafTwin.enforcedAddresses}, {@link WafTwin.isEnforced} and {@link WafTwin.effectiveAt} answer what
 *   was really blocking at a clock time. Every set counts as referenced by a rule that blocks its addresses on every
 *   request, except sets marked with {@link WafTwin.scopeToLoginRoute}: those only by cordon's login-route rule
 *   (src/render/waf-route-rule.ts), which {@link WafTwin.blocksRequest} applies.
 *
 * Fault injection: {@link WafTwin.failNext} answers the next calls of an operation with any AWS error.
 */

export const WAF_TWIN_TARGET_PREFIX = 'AWSWAF_20190729';
export const WAF_WRITE_QUOTA = { requests: 1, perMs: 1_000 };
export const WAF_READ_QUOTA = { requests: 5, perMs: 1_000 };
export const WAF_MAX_IP_SETS_PER_SCOPE = 100;
const TWIN_CREDENTIALS = { accessKeyId: 'twin', secretAccessKey: 'twin' };

// ---------------------------------------------------------------------------------------------------------------
// A minimal HTTP request handler for SDK clients (shared with the API Gateway twin)

/** What the SDK hands a request handler (structurally @smithy/protocol-http's HttpRequest). */
export interface TwinHttpRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

export interface TwinHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** An AWS error to answer with. */
export interface TwinAwsError {
  name: string;
  /** HTTP status; 400 unless given (5xx makes the SDK treat it as transient). */
  status?: number;
  message?: string;
  /** Extra members of the error body. */
  fields?: Record<string, unknown>;
  /** Extra response headers (e.g. `retry-after`). */
  headers?: Record<string, string>;
}

export class TwinHttpError extends Error {
  constructor(
    readonly error: TwinAwsError,
  ) {
    super(error.message ?? error.name);
  }
}

async function readBody(body: unknown): Promise<string> {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export function headerOf(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/**
 * The request-handler side of a twin: a real SDK client is built with `requestHandler: handler`, and every request
 * it would send over HTTP is answered in process by `answer`.
 */
export class TwinRequestHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  private requestCount = 0;

  constructor(private readonly answer: (req: TwinHttpRequest, body: string, requestId: string) => TwinHttpResponse | Promise<TwinHttpResponse>) {}

  async handle(request: TwinHttpRequest): Promise<{ response: TwinHttpResponse }> {
    const body = await readBody(request.body);
    const requestId = `00000000-0000-4000-8000-${(++this.requestCount).toString(16).padStart(12, '0')}`;
    return { response: await this.answer(request, body, requestId) };
  }

  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
  destroy(): void {}
}

export function jsonReply(status: number, json: unknown, headers: Record<string, string> = {}): TwinHttpResponse {
  const body = json === undefined ? new Uint8Array() : Buffer.from(JSON.stringify(json), 'utf8');
  return { statusCode: status, headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength), ...headers }, body };
}

/** At most `requests` accepted calls in any window of `perMs` (a call at exactly `perMs` after another is allowed). */
export class SlidingWindowQuota {
  private readonly times: number[] = [];
  constructor(
    readonly requests: number,
    readonly perMs: number,
  ) {}

  tryTake(now: number): boolean {
    while (this.times.length > 0 && this.times[0] <= now - this.perMs) this.times.shift();
    if (this.times.length >= this.requests) return false;
    this.times.push(now);
    return true;
  }

  /** Milliseconds until a call would be accepted (0 if now). */
  waitMs(now: number): number {
    const live = this.times.filter((t) => t > now - this.perMs);
    return live.length < this.requests ? 0 : live[live.length - this.requests] + this.perMs - now;
  }
}

/** Deterministic UUID-shaped ids (AWS's LockTokens and IP set ids are UUIDs). */
export function twinUuid(kind: number, n: number): string {
  return `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** One pending AWS error per call, per operation. */
export class FaultQueue {
  private readonly queued = new Map<string, TwinAwsError[]>();
  add(operation: string, error: TwinAwsError, times: number): void {
    const list = this.queued.get(operation) ?? [];
    for (let i = 0; i < times; i++) list.push(error);
    this.queued.set(operation, list);
  }
  take(operation: string): TwinAwsError | undefined {
    return this.queued.get(operation)?.shift();
  }
  clear(): void {
    this.queued.clear();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// WAFv2

type Scope = 'REGIONAL' | 'CLOUDFRONT';
type Version = 'IPV4' | 'IPV6';

interface Revision {
  /** Clock time the change was accepted. */
  writtenAt: number;
  /** Clock time it is enforced from. */
  effectiveAt: number;
  addresses: string[];
  blocks: Cidr[];
}

interface TwinIpSet {
  scope: Scope;
  name: string;
  id: string;
  arn: string;
  description?: string;
  version: Version;
  addresses: string[];
  lockToken: string;
  revisions: Revision[];
  deleted: boolean;
  /** Referenced by the login-route rule only (config waf.routeScoped): blocks POSTs to login paths, nothing else. */
  loginRoute: boolean;
}

export interface WafTwinOptions {
  /** Epoch ms. Default Date.now. */
  clock?: () => number;
  /** Delay between an accepted change and its enforcement; a function may vary it per change. Default 0. */
  propagationDelayMs?: number | ((set: { name: string; id: string }, writtenAt: number) => number);
  /** `false` turns the API quotas off. Defaults: 1 write/s per action, 5 reads/s per action. */
  quotas?: false | { write?: { requests: number; perMs: number }; read?: { requests: number; perMs: number } };
  /** Default 10,000 (AWS's fixed limit). */
  maxAddressesPerSet?: number;
  /** Default 100. */
  maxIpSetsPerScope?: number;
  region?: string;
  account?: string;
}

export interface WafTwinSetInfo {
  scope: Scope;
  name: string;
  id: string;
  version: Version;
  addresses: string[];
  description?: string;
  lockToken: string;
}

/** The SDK client config a twin client accepts (everything but the request handler). */
export type WafTwinClientConfig = Omit<WAFV2ClientConfig, 'requestHandler'>;

export class WafTwin {
  readonly handler: TwinRequestHandler;
  readonly region: string;
  readonly account: string;
  private readonly clock: () => number;
  private readonly propagation: (set: { name: string; id: string }, writtenAt: number) => number;
  private readonly quotasOn: boolean;
  private readonly writeQuota: { requests: number; perMs: number };
  private readonly readQuota: { requests: number; perMs: number };
  private readonly quotas = new Map<string, SlidingWindowQuota>();
  private readonly maxAddresses: number;
  private readonly maxSets: number;
  private readonly sets = new Map<string, TwinIpSet>();
  private readonly faults = new FaultQueue();
  private ids = 0;
  private tokens = 0;
  /** Calls that reached the twin, per operation (throttled and failed ones included). */
  readonly calls: Record<string, number> = {};
  /** Calls refused with ThrottlingException, per operation. */
  readonly throttled: Record<string, number> = {};
  /** Successful UpdateIPSet calls. */
  writes = 0;

  constructor(opts: WafTwinOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    const delay = opts.propagationDelayMs ?? 0;
    this.propagation = typeof delay === 'function' ? delay : () => delay;
    this.quotasOn = opts.quotas !== false;
    this.writeQuota = (opts.quotas !== false && opts.quotas?.write) || WAF_WRITE_QUOTA;
    this.readQuota = (opts.quotas !== false && opts.quotas?.read) || WAF_READ_QUOTA;
    this.maxAddresses = opts.maxAddressesPerSet ?? WAF_MAX_ADDRESSES_PER_SET;
    this.maxSets = opts.maxIpSetsPerScope ?? WAF_MAX_IP_SETS_PER_SCOPE;
    this.region = opts.region ?? 'us-east-1';
    this.account = opts.account ?? '123456789012';
    this.handler = new TwinRequestHandler((req, body, requestId) => this.answer(req, body, requestId));
  }

  /**
   * A real WAFV2Client wired to this twin. `maxAttempts` defaults to 1 (no SDK retries): the SDK's retry delays are
   * real time and cannot outwait a quota on a simulated clock. Pass `maxAttempts` to have the SDK retry as in Lambda.
   */
  client(config: WafTwinClientConfig = {}): WAFV2Client {
    return new WAFV2Client({ region: this.region, credentials: TWIN_CREDENTIALS, maxAttempts: 1, ...config, requestHandler: this.handler as never });
  }

  /** Creates a set directly (no quota, no wire): fixtures and the local runner's setup. */
  createIpSet(input: { name: string; version: Version; addresses?: string[]; description?: string; scope?: Scope }): { name: string; id: string; arn: string } {
    const set = this.create(input.scope ?? 'REGIONAL', input.name, input.version, input.addresses ?? [], input.description);
    return { name: set.name, id: set.id, arn: set.arn };
  }

  /** Current content of a set (what GetIPSet returns), or undefined if there is no such set. */
  ipSet(id: string, scope: Scope = 'REGIONAL'): WafTwinSetInfo | undefined {
    const s = this.sets.get(key(scope, id));
    if (!s || s.deleted) return undefined;
    return { scope: s.scope, name: s.name, id: s.id, version: s.version, addresses: [...s.addresses], description: s.description, lockToken: s.lockToken };
  }

  listIpSets(scope: Scope = 'REGIONAL'): WafTwinSetInfo[] {
    return [...this.sets.values()].filter((s) => s.scope === scope && !s.deleted).map((s) => this.ipSet(s.id, scope)!);
  }

  /** The addresses a set enforces at clock time `at` (default now): the last change whose propagation is done. */
  enforcedAddresses(id: string, at: number = this.clock(), scope: Scope = 'REGIONAL'): string[] {
    const s = this.sets.get(key(scope, id));
    if (!s) return [];
    return [...(this.revisionAt(s, at)?.addresses ?? [])];
  }

  /** Marks a set as one the login-route rule references: its addresses are blocked on POSTs to login paths only. */
  scopeToLoginRoute(id: string, scope: Scope = 'REGIONAL'): void {
    const s = this.sets.get(key(scope, id));
    if (!s) throw new Error(`WafTwin: no IP set ${id} in ${scope}`);
    s.loginRoute = true;
  }

  /**
   * Whether the web ACL blocks this request at clock time `at`: a set blocking the address everywhere, or a login-route
   * set when the request is a POST whose URL-decoded, lower-cased path matches the rule's regex.
   */
  blocksRequest(request: { ip: string; method: string; path: string }, at: number = this.clock(), scope: Scope = 'REGIONAL'): boolean {
    if (this.isEnforced(request.ip, at, scope)) return true;
    if (request.method !== 'POST' || !LOGIN_PATH.test(urlDecoded(request.path).toLowerCase())) return false;
    return this.holds(request.ip, at, scope, true);
  }

  /** Whether any set of the scope blocks `address` (an IP or a CIDR inside a blocked one) on every request at `at`. */
  isEnforced(address: string, at: number = this.clock(), scope: Scope = 'REGIONAL'): boolean {
    return this.holds(address, at, scope, false);
  }

  private holds(address: string, at: number, scope: Scope, loginRoute: boolean): boolean {
    const target = parseCidr(address);
    if (!target) return false;
    for (const s of this.sets.values()) {
      if (s.scope !== scope || s.loginRoute !== loginRoute) continue;
      const rev = this.revisionAt(s, at);
      if (rev?.blocks.some((b) => b.family === target.family && contains(b, target))) return true;
    }
    return false;
  }

  /**
   * From when `address` has been (or will be, once pending changes propagate) continuously enforced, by the twin's
   * history of changes; undefined if the last known state does not enforce it.
   */
  effectiveAt(address: string, scope: Scope = 'REGIONAL'): number | undefined {
    const times = new Set<number>();
    for (const s of this.sets.values()) if (s.scope === scope) for (const r of s.revisions) times.add(r.effectiveAt);
    const sorted = [...times].sort((a, b) => a - b);
    let since: number | undefined;
    for (const t of sorted) {
      const on = this.isEnforced(address, t, scope);
      if (on && since === undefined) since = t;
      if (!on) since = undefined;
    }
    return since;
  }

  /** Answers the next `times` calls of `operation` (e.g. `UpdateIPSet`) with an AWS error. */
  failNext(operation: string, error: TwinAwsError, times = 1): void {
    this.faults.add(operation, error, times);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Wire

  private answer(req: TwinHttpRequest, body: string, requestId: string): TwinHttpResponse {
    const target = headerOf(req.headers, 'x-amz-target') ?? '';
    const operation = target.startsWith(`${WAF_TWIN_TARGET_PREFIX}.`) ? target.slice(WAF_TWIN_TARGET_PREFIX.length + 1) : target;
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId };
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
    try {
      let input: Record<string, unknown>;
      try {
        input = body ? (JSON.parse(body) as Record<string, unknown>) : {};
      } catch {
        throw new TwinHttpError({ name: 'SerializationException', message: 'Request body is not JSON' });
      }
      const fault = this.faults.take(operation);
      if (fault) throw new TwinHttpError(fault);
      this.throttle(operation);
      return jsonReply(200, this.dispatch(operation, input), headers);
    } catch (err) {
      if (!(err instanceof TwinHttpError)) throw err;
      const e = err.error;
      return jsonReply(
        e.status ?? 400,
        { __type: e.name, Message: e.message ?? e.name, ...e.fields },
        { ...headers, ...e.headers, 'x-amzn-errortype': e.name },
      );
    }
  }

  private throttle(operation: string): void {
    if (!this.quotasOn) return;
    const write = /^(Create|Put|Update)/.test(operation);
    const read = /^(Get|List)/.test(operation);
    if (!write && !read) return;
    let q = this.quotas.get(operation);
    if (!q) {
      const spec = write ? this.writeQuota : this.readQuota;
      q = new SlidingWindowQuota(spec.requests, spec.perMs);
      this.quotas.set(operation, q);
    }
    if (!q.tryTake(this.clock())) {
      this.throttled[operation] = (this.throttled[operation] ?? 0) + 1;
      throw new TwinHttpError({ name: 'ThrottlingException', message: 'Rate exceeded' });
    }
  }

  private dispatch(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'CreateIPSet': {
        const set = this.create(scopeOf(input), str(input.Name, 'Name'), versionOf(input.IPAddressVersion), list(input.Addresses), optStr(input.Description));
        return { Summary: this.summary(set) };
      }
      case 'GetIPSet': {
        const set = this.find(input);
        return {
          IPSet: { Name: set.name, Id: set.id, ARN: set.arn, Description: set.description, IPAddressVersion: set.version, Addresses: [...set.addresses] },
          LockToken: set.lockToken,
        };
      }
      case 'UpdateIPSet': {
        const set = this.find(input);
        const addresses = list(input.Addresses);
        this.validateAddresses(addresses, set.version);
        if (str(input.LockToken, 'LockToken') !== set.lockToken) throw lockError();
        set.addresses = [...addresses];
        set.description = optStr(input.Description);
        set.lockToken = this.newToken();
        this.addRevision(set);
        this.writes++;
        return { NextLockToken: set.lockToken };
      }
      case 'ListIPSets': {
        const scope = scopeOf(input);
        const all = [...this.sets.values()].filter((s) => s.scope === scope && !s.deleted);
        const start = input.NextMarker === undefined ? 0 : Number(input.NextMarker);
        const limit = typeof input.Limit === 'number' ? input.Limit : 100;
        const page = all.slice(start, start + limit);
        const next = start + limit < all.length ? String(start + limit) : undefined;
        return { IPSets: page.map((s) => this.summary(s)), NextMarker: next };
      }
      case 'DeleteIPSet': {
        const set = this.find(input);
        if (str(input.LockToken, 'LockToken') !== set.lockToken) throw lockError();
        set.deleted = true;
        set.addresses = [];
        this.addRevision(set);
        return {};
      }
      default:
        throw new TwinHttpError({ name: 'UnknownOperationException', message: `WafTwin does not implement ${operation}` });
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Model

  private create(scope: Scope, name: string, version: Version, addresses: string[], description: string | undefined): TwinIpSet {
    if (!/^[\w-]{1,128}$/.test(name)) throw invalidParameter('NAME', name, 'NOT_VALID');
    const live = [...this.sets.values()].filter((s) => s.scope === scope && !s.deleted);
    if (live.some((s) => s.name === name)) {
      throw new TwinHttpError({ name: 'WAFDuplicateItemException', message: 'AWS WAF couldn’t perform the operation because some resource in your request is a duplicate of an existing one.' });
    }
    if (live.length >= this.maxSets) throw limitsError(`the account holds ${live.length} IP sets in ${scope}`);
    this.validateAddresses(addresses, version);
    const id = twinUuid(0x1f5e7, ++this.ids);
    const arn = `arn:aws:wafv2:${this.region}:${this.account}:${scope === 'CLOUDFRONT' ? 'global' : 'regional'}/ipset/${name}/${id}`;
    const set: TwinIpSet = { scope, name, id, arn, description, version, addresses: [...addresses], lockToken: this.newToken(), revisions: [],
      deleted: false, loginRoute: false };
    this.sets.set(key(scope, id), set);
    this.addRevision(set);
    return set;
  }

  private find(input: Record<string, unknown>): TwinIpSet {
    const scope = scopeOf(input);
    const id = str(input.Id, 'Id');
    const set = this.sets.get(key(scope, id));
    if (!set || set.deleted || set.name !== input.Name) {
      throw new TwinHttpError({ name: 'WAFNonexistentItemException', message: 'AWS WAF couldn’t perform the operation because your resource doesn’t exist.' });
    }
    return set;
  }

  private validateAddresses(addresses: string[], version: Version): void {
    for (const a of addresses) {
      const c = typeof a === 'string' && a.includes('/') && a === a.trim() ? parseCidr(a) : null;
      if (!c || (c.family === 4) !== (version === 'IPV4') || c.len === 0) throw invalidParameter('IP_ADDRESS', String(a), 'NOT_VALID');
    }
    if (addresses.length > this.maxAddresses) {
      throw limitsError(`an IP set holds at most ${this.maxAddresses} addresses (got ${addresses.length})`);
    }
  }

  private addRevision(set: TwinIpSet): void {
    const writtenAt = this.clock();
    const effectiveAt = writtenAt + Math.max(0, this.propagation({ name: set.name, id: set.id }, writtenAt));
    const blocks = set.addresses.map((a) => parseCidr(a)).filter((c): c is Cidr => c !== null);
    set.revisions.push({ writtenAt, effectiveAt, addresses: [...set.addresses], blocks });
  }

  /** The revision enforced at `at`: the latest accepted one whose propagation is complete. */
  private revisionAt(set: TwinIpSet, at: number): Revision | undefined {
    let best: Revision | undefined;
    for (const r of set.revisions) if (r.effectiveAt <= at && (!best || r.writtenAt >= best.writtenAt)) best = r;
    return best;
  }

  private summary(s: TwinIpSet) {
    return { Name: s.name, Id: s.id, Description: s.description, LockToken: s.lockToken, ARN: s.arn };
  }

  private newToken(): string {
    return twinUuid(0x10c4, ++this.tokens);
  }
}

const LOGIN_PATH = new RegExp(LOGIN_PATH_REGEX);

/** WAF's URL_DECODE: %XX sequences decoded; a malformed one is left as it is (WAF does not fail the request). */
function urlDecoded(path: string): string {
  return path.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

function key(scope: Scope, id: string): string {
  return `${scope}/${id}`;
}

function scopeOf(input: Record<string, unknown>): Scope {
  if (input.Scope === 'REGIONAL' || input.Scope === 'CLOUDFRONT') return input.Scope;
  throw invalidParameter('SCOPE_VALUE', String(input.Scope), 'NOT_VALID');
}

function versionOf(v: unknown): Version {
  if (v === 'IPV4' || v === 'IPV6') return v;
  throw invalidParameter('IP_ADDRESS_VERSION', String(v), 'NOT_VALID');
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw invalidParameter(field.toUpperCase(), String(v), 'NOT_VALID');
  return v;
}

function optStr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalidParameter('IP_ADDRESS', String(v), 'NOT_VALID');
  return v as string[];
}

function invalidParameter(field: string, parameter: string, reason: string): TwinHttpError {
  return new TwinHttpError({
    name: 'WAFInvalidParameterException',
    message: `Error reason: The parameter contains formatting that isn't valid., field: ${field}, parameter: ${parameter}`,
    fields: { Field: field, Parameter: parameter, Reason: reason },
  });
}

function limitsError(detail: string): TwinHttpError {
  return new TwinHttpError({ name: 'WAFLimitsExceededException', message: `AWS WAF couldn’t perform the operation because you exceeded your resource limit (${detail}).` });
}

function lockError(): TwinHttpError {
  return new TwinHttpError({
    name: 'WAFOptimisticLockException',
    message: 'AWS WAF couldn’t save your changes because someone changed the resource after you started to edit it. Reapply your changes.',
  });
}
