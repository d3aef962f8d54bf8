import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parseCidr } from '../net/cidr.ts';
import { cidrToRange, type Range, unionRanges } from '../net/ranges.ts';
import { DENY_LIST_DEFAULT_KEY, parseDenyList } from './document.ts';

/**
 * For a team's own Lambda authorizer: is this caller on cordon's deny list? The list is the S3 object contain keeps
 * (src/ports.ts DenyListPort for its format). Bundle this file into the authorizer; it needs only
 * `@aws-sdk/client-s3` and cordon's src/net (and, through it, ipaddr.js).
 *
 *     const denied = createDenyListChecker({ bucket: process.env.DENY_LIST_BUCKET!, key: process.env.DENY_LIST_KEY });
 *     if (await denied.isDenied({ sourceIp: event.requestContext.identity.sourceIp, principal })) return deny();
 *
 * Cost: at most one GetObject per `ttlSeconds` per warm Lambda environment, conditional on the last ETag (an
 * unchanged list answers 304 with no body). Availability over blocking: if the list cannot be read, the last good
 * one stays in use and the failure is logged once; an authorizer that never read a list denies nobody on its account.
 */

export interface DenyListCheckerOptions {
  bucket: string;
  /** Default `deny-list/v1.json`, contain's default. */
  key?: string;
  /** How long a read list is used before it is read again. Default 30. */
  ttlSeconds?: number;
  /** Default: a client for the Lambda's own region. */
  s3?: S3Client;
  /** Where the one warning per failure streak goes. Default: a JSON line on console.warn. */
  log?: (message: string, fields: Record<string, unknown>) => void;
  /** Epoch ms (tests). */
  now?: () => number;
}

export interface DenyListRequest {
  /** The caller's address (REST: `requestContext.identity.sourceIp`; HTTP API: `requestContext.http.sourceIp`). */
  sourceIp?: string;
  /** The principal the authorizer is about to allow: the principalId it returns, the Cognito sub, the caller. */
  principal?: string;
}

export interface DenyListChecker {
  isDenied(req: DenyListRequest): Promise<boolean>;
  /** Reads the list now, whatever the ttl (e.g. at init). Never throws: a failure keeps the last good list. */
  refresh(): Promise<void>;
}

interface Loaded {
  principals: Set<string>;
  /** Disjoint, sorted address ranges per family: a lookup is a binary search. */
  v4: Range[];
  v6: Range[];
}

export function createDenyListChecker(opts: DenyListCheckerOptions): DenyListChecker {
  const key = opts.key ?? DENY_LIST_DEFAULT_KEY;
  const ttlMs = Math.max(0, opts.ttlSeconds ?? 30) * 1000;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? ((message, fields) => console.warn(JSON.stringify({ level: 'WARN', message, ...fields })));
  let s3 = opts.s3;
  let list: Loaded | undefined;
  let etag: string | undefined;
  let checkedAt = -Infinity;
  let warned = false;
  let inflight: Promise<void> | undefined;

  const warnOnce = (message: string, fields: Record<string, unknown>) => {
    if (warned) return;
    warned = true;
    log(message, { bucket: opts.bucket, key, keptLastGood: list !== undefined, ...fields });
  };

  async function read(): Promise<void> {
    s3 ??= new S3Client({});
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: opts.bucket, Key: key, IfNoneMatch: list ? etag : undefined }));
      const doc = parseDenyList(res.Body ? await res.Body.transformToString('utf8') : '');
      list = load(doc.principals, doc.cidrs);
      etag = res.ETag;
      warned = false;
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e?.$metadata?.httpStatusCode;
      if (status === 304 && list) {
        warned = false;
        return;
      }
      // No object yet: contain has not written one (the list is off, or it never ran). Nobody is denied.
      if (status === 404 && e?.name !== 'NoSuchBucket' && !list) {
        warnOnce('deny list not found: nobody is denied until cordon writes it', { status });
        return;
      }
      warnOnce('deny list unreadable', { error: e?.name ?? 'Error', status });
    } finally {
      // Failures too: a list that cannot be read is not asked for on every request.
      checkedAt = now();
    }
  }

  function refresh(): Promise<void> {
    inflight ??= read().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  async function isDenied(req: DenyListRequest): Promise<boolean> {
    if (now() - checkedAt >= ttlMs) await refresh();
    if (!list) return false;
    if (req.principal !== undefined && req.principal !== '' && list.principals.has(req.principal)) return true;
    // An address, never a block: a CIDR here would be matched by its first address.
    if (req.sourceIp === undefined || req.sourceIp === '' || req.sourceIp.includes('/')) return false;
    const c = parseCidr(req.sourceIp);
    if (c === null) return false;
    return covers(c.family === 4 ? list.v4 : list.v6, c.addr);
  }

  return { isDenied, refresh };
}

function load(principals: string[], cidrs: string[]): Loaded {
  const v4: Range[] = [];
  const v6: Range[] = [];
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (c) (c.family === 4 ? v4 : v6).push(cidrToRange(c));
  }
  return { principals: new Set(principals), v4: unionRanges(v4), v6: unionRanges(v6) };
}

/** Whether `addr` lies in one of `ranges` (sorted, disjoint). */
function covers(ranges: Range[], addr: bigint): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (addr < r.start) hi = mid - 1;
    else if (addr > r.end) lo = mid + 1;
    else return true;
  }
  return false;
}
