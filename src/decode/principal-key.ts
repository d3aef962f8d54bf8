/**
 * Which principal keys may stand for an IAM identity. Only `userArn` is written by AWS from the request's signature;
 * `principalId` is whatever a Lambda authorizer returns (often a name its user chose), and the other fields are IAM
 * ids or API key ids, never ARNs. A value that reads as an ARN but did not come from `userArn` is kept under
 * {@link UNVERIFIED_PREFIX}: no resource policy takes it as a `Principal` (src/render/resource-policy.ts), so an
 * authorizer's principalId spelling a company role can never get that role denied. It is still detected, alerted, and
 * held by the deny list, which authorizers match on their own principalId ({@link authorizerPrincipal}).
 */
export const UNVERIFIED_PREFIX = 'unverified:';

/** The key of a principal read from any field but `userArn`. A value already prefixed is prefixed again, so the mapping stays one to one. */
export function unverifiedPrincipal(value: string): string {
  return value.startsWith('arn:') || value.startsWith(UNVERIFIED_PREFIX) ? UNVERIFIED_PREFIX + value : value;
}

/** The principal as its authorizer saw it (what the deny list must hold): the key without {@link UNVERIFIED_PREFIX}. */
export function authorizerPrincipal(key: string): string {
  return key.startsWith(UNVERIFIED_PREFIX) ? key.slice(UNVERIFIED_PREFIX.length) : key;
}
