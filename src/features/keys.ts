import { fnvState, hash32From } from './hash.ts';

/**
 * The keys cordon tracks: a client IP, its network prefix (/24 or /64), and the authenticated principal.
 * Keys are strings with a one-letter kind tag so one map can hold all three.
 */
export type KeyKind = 'ip' | 'prefix' | 'principal';

export const ipKey = (ip: string): string => 'i:' + ip;
export const prefixKey = (cidr: string): string => 'p:' + cidr;
export const principalKey = (principal: string): string => 'u:' + principal;

const IP_KEY_STATE = fnvState('i:');
const PREFIX_KEY_STATE = fnvState('p:');
const PRINCIPAL_KEY_STATE = fnvState('u:');
/** hash32 of a key (ipKey, prefixKey, principalKey) without building the key: a replay counts every window's keys. */
export const ipKeyHash = (ip: string): number => hash32From(IP_KEY_STATE, ip);
export const prefixKeyHash = (cidr: string): number => hash32From(PREFIX_KEY_STATE, cidr);
export const principalKeyHash = (principal: string): number => hash32From(PRINCIPAL_KEY_STATE, principal);

export function keyKind(key: string): KeyKind {
  const c = key.charCodeAt(0);
  return c === 105 /* i */ ? 'ip' : c === 112 /* p */ ? 'prefix' : 'principal';
}

/** The key without its tag: the IP, CIDR or principal it stands for. */
export const keyValue = (key: string): string => key.slice(2);
