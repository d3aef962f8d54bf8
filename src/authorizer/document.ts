import { canonicalCidr, compareCidr, parseCidr } from '../net/cidr.ts';

/**
 * The deny-list document: what contain writes (src/adapters/aws/deny-list.ts, src/adapters/local/deny-list.ts) and
 * what a team's Lambda authorizer reads (./deny-list.ts). Kept apart from both so the authorizer bundle carries only
 * this, src/net and the S3 client.
 */

export const DENY_LIST_VERSION = 1;

/** Where contain keeps the list in its state bucket unless told otherwise. */
export const DENY_LIST_DEFAULT_KEY = 'deny-list/v1.json';

export interface DenyListDocument {
  version: typeof DENY_LIST_VERSION;
  /** When contain wrote this content (ISO 8601). */
  updatedAt: string;
  /** Sorted, deduplicated. */
  principals: string[];
  /** Canonical CIDR text in address order (IPv4 first), deduplicated. */
  cidrs: string[];
}

/** Sorted and deduplicated lists; a string that is no address or CIDR is left out (it could never match). */
export function normaliseDenyList(input: { principals: readonly string[]; cidrs: readonly string[] }): { principals: string[]; cidrs: string[] } {
  const principals = [...new Set(input.principals.filter((p) => typeof p === 'string' && p !== ''))].sort();
  const canon = new Set<string>();
  for (const c of input.cidrs) {
    const t = typeof c === 'string' ? canonicalCidr(c) : null;
    if (t !== null) canon.add(t);
  }
  const cidrs = [...canon].sort((a, b) => compareCidr(parseCidr(a)!, parseCidr(b)!));
  return { principals, cidrs };
}

export function sameDenyList(a: { principals: readonly string[]; cidrs: readonly string[] }, b: { principals: readonly string[]; cidrs: readonly string[] }): boolean {
  const same = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return same(a.principals, b.principals) && same(a.cidrs, b.cidrs);
}

/** The document's text: normalised lists, one JSON object. */
export function renderDenyList(desired: { principals: readonly string[]; cidrs: readonly string[] }, now: number): string {
  const doc: DenyListDocument = { version: DENY_LIST_VERSION, updatedAt: new Date(now).toISOString(), ...normaliseDenyList(desired) };
  return JSON.stringify(doc) + '\n';
}

/** A stored document that cannot be read as version 1 (damaged, not JSON, a newer version). */
export class DenyListFormatError extends Error {
  override name = 'DenyListFormatError';
}

/** Reads a stored document; throws {@link DenyListFormatError} for anything but a version-1 list. */
export function parseDenyList(text: string): DenyListDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DenyListFormatError('deny list is not JSON');
  }
  const o = raw as Partial<DenyListDocument> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new DenyListFormatError('deny list is not a JSON object');
  if (o.version !== DENY_LIST_VERSION) throw new DenyListFormatError(`deny list version ${String(o.version)} is not ${DENY_LIST_VERSION}`);
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!strings(o.principals) || !strings(o.cidrs)) throw new DenyListFormatError('deny list principals and cidrs must be arrays of strings');
  return { version: DENY_LIST_VERSION, updatedAt: typeof o.updatedAt === 'string' ? o.updatedAt : '', ...normaliseDenyList({ principals: o.principals, cidrs: o.cidrs }) };
}
