import { parseCidr } from '../net/cidr.ts';

/**
 * Which principal keys may stand for an IAM identity. Only `userArn` is written by AWS from the request's signature;
 * `principalId` is whatever a Lambda authorizer returns (often a name its user chose), and the other fields are IAM
 * ids or API key ids, never ARNs. A value that reads as an ARN but did not come from `userArn` is kept under
 * {@link UNVERIFIED_PREFIX}: no resource policy takes it as a `Principal` (src/render/resource-policy.ts), so an
 * authorizer's principalId spelling a company role can never get that role denied. It is still detected, alerted, and
 * held by the deny list, which authorizers match on their own principalId ({@link authorizerPrincipal}).
 */
export const UNVERIFIED_PREFIX = 'unverified:';

/**
 * The key of a principal read from any field but `userArn`. A value already prefixed is prefixed again, so the mapping
 * stays one to one; one that reads as an ARN once trimmed, in any case (` arn:…`, `ARN:…`, a no-break space or BOM in
 * front), is prefixed too, since something down the line may trim it.
 */
export function unverifiedPrincipal(value: string): string {
  if (value === '') return value;
  const lead = value.trimStart();
  const head = lead.slice(0, UNVERIFIED_PREFIX.length).toLowerCase();
  if (head.startsWith('arn:') || head.startsWith(UNVERIFIED_PREFIX)) return UNVERIFIED_PREFIX + value;
  // Nor may a principal named like an address share a target with that address (its ledger history, its cover by a
  // block, its escalation): `198.51.100.7` as an authorizer's principalId is kept apart from the client 198.51.100.7.
  if (looksLikeAddress(lead) && parseCidr(value) !== null) return UNVERIFIED_PREFIX + value;
  // Nor one shaped like an API key id be taken for one (contain disables the key of that id): only apiKeyId names keys.
  return API_KEY_ID_SHAPE.test(value) ? UNVERIFIED_PREFIX + value : value;
}

/** What an API Gateway API key id looks like (contain disables a blocked principal of this shape: src/adapters/aws/api-keys.ts). */
export const API_KEY_ID_SHAPE = /^[a-z0-9]{10,32}$/;

/**
 * Cheap first look before parsing: a (trimmed) value that starts with a digit or holds a colon, and holds a dot or a
 * colon, which every address does (a UUID, what authorizers mostly return, starts with a digit half the time: parsing
 * each was most of this function's cost).
 */
function looksLikeAddress(lead: string): boolean {
  if (lead.includes(':')) return true;
  const c = lead.charCodeAt(0);
  return c >= 48 && c <= 57 && lead.includes('.');
}

/** The principal as its authorizer saw it (what the deny list must hold): the key without {@link UNVERIFIED_PREFIX}. */
export function authorizerPrincipal(key: string): string {
  return key.startsWith(UNVERIFIED_PREFIX) ? key.slice(UNVERIFIED_PREFIX.length) : key;
}
