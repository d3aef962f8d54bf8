import { parseCidr, formatCidr } from '../net/cidr.ts';
import type { PolicyDeny } from '../ports.ts';

/**
 * cordon's part of a REST API's resource policy, merged into whatever the operator already has.
 *
 * IAM cannot say "deny if the principal is P OR the source IP is in C" in one statement (every element of a
 * statement must match), so cordon owns up to three statements, recognised by their Sid and replaced as a whole:
 * - `CordonDenyPrincipals`: `Deny`, `Principal: {AWS: [...]}`; present only when there are principals;
 * - `CordonDenyCidrs`: `Deny`, `Principal: "*"`, `Condition: {IpAddress: {aws:SourceIp: [...]}}`; only with CIDRs;
 * - `CordonAllowAll`: `Allow` `*` to invoke. Once an API has a resource policy, API Gateway lets a caller in only
 *   if the policy allows it (for APIs without IAM auth), so a policy made of cordon's denies alone would lock
 *   everyone out. cordon adds it when it creates the policy (there was none, or only cordon's statements), and
 *   keeps it for as long as the policy exists: removing it after the operator added statements of their own
 *   could lock everyone out too.
 * Every other statement is left exactly as it was, in its order; cordon's follow it.
 */

export const CORDON_SIDS = {
  allowAll: 'CordonAllowAll',
  denyPrincipals: 'CordonDenyPrincipals',
  denyCidrs: 'CordonDenyCidrs',
} as const;

/** Sids cordon owns: its current ones and the single-statement name of its first design. */
const OWNED_SIDS: ReadonlySet<string> = new Set([...Object.values(CORDON_SIDS), 'CordonDeny']);

export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  [key: string]: unknown;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
  [key: string]: unknown;
}

export class PolicyParseError extends Error {
  override name = 'PolicyParseError';
}

/** Even with nothing of cordon's in it, the policy is over the limit: nothing cordon can write would be accepted. */
export class PolicyBudgetError extends Error {
  override name = 'PolicyBudgetError';
  constructor(
    readonly chars: number,
    readonly maxChars: number,
  ) {
    super(`the resource policy is ${chars} characters without cordon's statements, over the limit of ${maxChars}`);
  }
}

export function isCordonStatement(s: PolicyStatement): boolean {
  return typeof s.Sid === 'string' && OWNED_SIDS.has(s.Sid);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading what GetRestApi returns

/** One layer of decoding; a string result means the text was JSON-encoded once more. */
function decodeLayer(s: string): unknown {
  const t = s.trim();
  try {
    return JSON.parse(t);
  } catch {
    /* not plain JSON */
  }
  // AWS's form, `{\"Version\":...,\"Resource\":\"arn:...\/*\"}`, is the body of a JSON string without its quotes.
  try {
    return JSON.parse(`"${t}"`);
  } catch {
    /* partly escaped, or raw newlines inside */
  }
  // Last resort: undo the escapes AWS uses and read what is left.
  try {
    return JSON.parse(t.replace(/\\(["\\/])/g, '$1'));
  } catch {
    throw new PolicyParseError(`the resource policy is not JSON, escaped or not (${t.length} characters)`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toDocument(v: unknown): PolicyDocument {
  if (!isPlainObject(v)) throw new PolicyParseError('the resource policy is not a JSON object');
  const st = v.Statement;
  // IAM allows a single statement object; cordon always works on the array form.
  const statements = Array.isArray(st) ? st : isPlainObject(st) ? [st] : null;
  if (statements === null || !statements.every(isPlainObject))
    throw new PolicyParseError('the resource policy has no Statement list of objects');
  return { ...v, Statement: statements as PolicyStatement[] };
}

/**
 * Reads the `policy` of GetRestApi: AWS returns it JSON-escaped (`{\"Version\":...}`, `\/` for `/`) with
 * `execute-api:/...` resources rewritten to `arn:aws:execute-api:REGION:ACCOUNT:API_ID/...`; emulators return it
 * verbatim. Both are read. Returns null when there is no policy; throws {@link PolicyParseError} on anything
 * unreadable, because writing over a policy cordon could not read would destroy the operator's statements.
 */
export function parseApiGatewayPolicy(policy: string | undefined | null): PolicyDocument | null {
  if (policy === undefined || policy === null || policy.trim() === '') return null;
  let value: unknown = policy;
  for (let depth = 0; typeof value === 'string' && depth < 4; depth++) value = decodeLayer(value);
  return toDocument(value);
}

/** What cordon's statements of a policy deny now (for reconciliation and `cordon status`). */
export function readCordonDeny(doc: PolicyDocument | null): PolicyDeny {
  const list = (v: unknown): string[] =>
    typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const find = (sid: string) => doc?.Statement.find((s) => s.Sid === sid);
  const p = find(CORDON_SIDS.denyPrincipals)?.Principal;
  const c = find(CORDON_SIDS.denyCidrs)?.Condition;
  return {
    principals: isPlainObject(p) ? list(p.AWS) : [],
    cidrs: isPlainObject(c) && isPlainObject(c.IpAddress) ? list(c.IpAddress['aws:SourceIp']) : [],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Comparing

const EXECUTE_API_ARN = /^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+\//;

/** A form where AWS's rewrites do not show: sorted keys, one-element lists as scalars, `execute-api:/` resources. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 1 ? canonical(v[0]) : v.map(canonical);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  if (typeof v === 'string') return v.replace(EXECUTE_API_ARN, 'execute-api:/');
  return v;
}

/** True when the two policies mean the same once AWS's rewriting of the stored form is undone. */
export function policyEquivalent(a: PolicyDocument | null, b: PolicyDocument | null): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

// ---------------------------------------------------------------------------------------------------------------
// Merging

export interface MergeOptions {
  /** Resource of cordon's statements: `execute-api:/*`, or the ARN form AWS stores (then `chars` is exact). */
  resource: string;
  /** Limit of the policy text (AWS: 8,192). */
  maxChars: number;
  /**
   * May cordon create a policy with its `CordonAllowAll`? Default true. Turn off for APIs with IAM auth, where
   * identity policies grant access and an allow for `*` would also let in principals of other accounts.
   */
  allowAllWhenCreating?: boolean;
}

export interface MergeResult {
  /** null: the API should have no resource policy (nothing to deny, and nothing but cordon's was there). */
  policy: PolicyDocument | null;
  /** Compact JSON of `policy`, '' when null. */
  text: string;
  chars: number;
  /** What the statements deny: prefixes of the cleaned input lists. */
  kept: PolicyDeny;
  /** Left out to stay within maxChars, lowest priority first. */
  dropped: string[];
  /** Entries that cannot go into a policy: not an IAM principal (or `*`), not a CIDR, or `/0`. */
  rejected: string[];
  /** Whether `policy` differs in meaning from `existing` (see {@link policyEquivalent}). */
  changed: boolean;
}

/** Account ids and ARNs of IAM users, roles, role sessions and federated users; never `*`. */
const DENYABLE_PRINCIPAL =
  /^(?:\d{12}|arn:aws(?:-[a-z]+)*:(?:iam::\d{12}:(?:root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)|sts::\d{12}:(?:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+|federated-user\/[\w+=,.@-]+)))$/;

export function isDenyablePrincipal(p: string): boolean {
  return DENYABLE_PRINCIPAL.test(p);
}

interface CleanDeny {
  principals: string[];
  cidrs: string[];
  rejected: string[];
}

/** Deduplicated (first occurrence wins, so priority order holds), canonical, and only what IAM accepts. */
function cleanDeny(deny: PolicyDeny): CleanDeny {
  const principals = new Set<string>();
  const cidrs = new Set<string>();
  const rejected: string[] = [];
  for (const raw of deny.principals) {
    const p = raw.trim();
    if (isDenyablePrincipal(p)) principals.add(p);
    else rejected.push(raw);
  }
  for (const raw of deny.cidrs) {
    const c = parseCidr(raw);
    if (c === null || c.len === 0) rejected.push(raw);
    else cidrs.add(formatCidr(c));
  }
  return { principals: [...principals], cidrs: [...cidrs], rejected };
}

const INVOKE = 'execute-api:Invoke';

function allowAllStatement(resource: string): PolicyStatement {
  return { Sid: CORDON_SIDS.allowAll, Effect: 'Allow', Principal: '*', Action: INVOKE, Resource: resource };
}

function denyPrincipalsStatement(resource: string, principals: string[]): PolicyStatement {
  return { Sid: CORDON_SIDS.denyPrincipals, Effect: 'Deny', Principal: { AWS: principals }, Action: INVOKE, Resource: resource };
}

function denyCidrsStatement(resource: string, cidrs: string[]): PolicyStatement {
  return {
    Sid: CORDON_SIDS.denyCidrs,
    Effect: 'Deny',
    Principal: '*',
    Action: INVOKE,
    Resource: resource,
    Condition: { IpAddress: { 'aws:SourceIp': cidrs } },
  };
}

/**
 * The policy with cordon's statements set to deny `deny` (principals first, then CIDRs, each in priority order),
 * within `maxChars`: when it does not fit, entries are dropped from the end (CIDRs before any principal).
 * Merging the same deny twice gives the same policy.
 */
export function mergeDenyStatement(existing: PolicyDocument | null, deny: PolicyDeny, opts: MergeOptions): MergeResult {
  if (typeof opts.resource !== 'string' || opts.resource === '') throw new RangeError('resource must be a non-empty string');
  if (!Number.isInteger(opts.maxChars) || opts.maxChars < 1) throw new RangeError(`maxChars must be a positive integer, got ${opts.maxChars}`);
  const others = existing ? existing.Statement.filter((s) => !isCordonStatement(s)) : [];
  const hadAllowAll = existing?.Statement.some((s) => s.Sid === CORDON_SIDS.allowAll) ?? false;
  const { principals, cidrs, rejected } = cleanDeny(deny);
  const total = principals.length + cidrs.length;

  const build = (n: number): { policy: PolicyDocument | null; text: string } => {
    const pk = Math.min(n, principals.length);
    const ck = n - pk;
    const statements = [...others];
    const withAllow = others.length === 0 ? n > 0 && (hadAllowAll || opts.allowAllWhenCreating !== false) : hadAllowAll;
    if (withAllow) statements.push(allowAllStatement(opts.resource));
    if (pk > 0) statements.push(denyPrincipalsStatement(opts.resource, principals.slice(0, pk)));
    if (ck > 0) statements.push(denyCidrsStatement(opts.resource, cidrs.slice(0, ck)));
    if (statements.length === 0) return { policy: null, text: '' };
    const policy: PolicyDocument = existing ? { ...existing, Statement: statements } : { Version: '2012-10-17', Statement: statements };
    return { policy, text: JSON.stringify(policy) };
  };

  let n = total;
  let best = build(n);
  if (best.text.length > opts.maxChars) {
    const bare = build(0);
    if (bare.text.length > opts.maxChars) throw new PolicyBudgetError(bare.text.length, opts.maxChars);
    // The text grows with every entry kept, so the most that fit is found by bisection.
    let lo = 0; // fits
    let hi = total; // does not fit
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (build(mid).text.length <= opts.maxChars) lo = mid;
      else hi = mid;
    }
    n = lo;
    best = build(n);
  }
  const pk = Math.min(n, principals.length);
  return {
    policy: best.policy,
    text: best.text,
    chars: best.text.length,
    kept: { principals: principals.slice(0, pk), cidrs: cidrs.slice(0, n - pk) },
    dropped: [...principals.slice(pk), ...cidrs.slice(n - pk)].reverse(),
    rejected,
    changed: !policyEquivalent(existing, best.policy),
  };
}
