import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { API_KEY_ID_SHAPE, UNVERIFIED_PREFIX, unverifiedPrincipal } from '../../src/decode/principal-key.ts';
import { parseCidr } from '../../src/net/cidr.ts';

/** What unverifiedPrincipal gives when every value that starts with a digit or holds a colon is parsed as an address. */
function parsingEvery(value: string): string {
  if (value === '') return value;
  const lead = value.trimStart();
  const head = lead.slice(0, UNVERIFIED_PREFIX.length).toLowerCase();
  if (head.startsWith('arn:') || head.startsWith(UNVERIFIED_PREFIX)) return UNVERIFIED_PREFIX + value;
  const c = lead.charCodeAt(0);
  if (((c >= 48 && c <= 57) || lead.includes(':')) && parseCidr(value) !== null) return UNVERIFIED_PREFIX + value;
  return API_KEY_ID_SHAPE.test(value) ? UNVERIFIED_PREFIX + value : value;
}

/** Text made of what addresses, blocks and the ids around them are made of, so that many values come near one. */
const addressish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF.:/%[]- \u00a0xyz'.split('')), maxLength: 45 });

describe('unverifiedPrincipal', () => {
  it('reads a value as an address only when it has a dot or a colon, and so keeps every result of parsing them all', () => {
    fc.assert(fc.property(fc.oneof(addressish, fc.string(), fc.uuid()), (v) => {
      expect(unverifiedPrincipal(v)).toBe(parsingEvery(v));
    }), { numRuns: 20_000 });
  });

  it('takes no address for an id, and every address for one', () => {
    expect(unverifiedPrincipal('000ea9c6-abcf-4aca-ae7d-7787de03759f')).toBe('000ea9c6-abcf-4aca-ae7d-7787de03759f');
    for (const a of ['198.51.100.7', ' 198.51.100.7', '198.51.100.0/24', '2001:db8::1', '::ffff:10.0.0.1', '1.2.3.4%eth0']) {
      expect(unverifiedPrincipal(a)).toBe(UNVERIFIED_PREFIX + a);
    }
  });
});
