import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers, LedgerBook, parseTarget } from '../../src/contain/ledger-book.ts';
import { addressAt, coveredBy, sizeOf, uncovered } from '../helpers/coverage-oracle.ts';
import { DAY, entry, HOUR, MIN, T } from './fixtures.ts';

const p = (t: string) => {
  const parsed = parseTarget(t);
  if (!parsed) throw new Error(`test: ${t} does not parse`);
  return parsed;
};
const coversText = (outer: string, inner: string): boolean => covers(p(outer), p(inner));

// ---------------------------------------------------------------------------------------------------------------
// Address arithmetic written here, apart from src: a CIDR as BigInt [start, end].
const W = { 4: 32, 6: 128 } as const;
function text(family: 4 | 6, n: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  return Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
}
/** A CIDR of `family` near `base`: `base` with some low bits changed, at `bits`. */
const cidrArb = (family: 4 | 6) => fc.record({
  base: fc.bigInt({ min: 0n, max: (1n << BigInt(W[family])) - 1n }),
  bitsA: fc.integer({ min: 0, max: W[family] }),
  bitsB: fc.integer({ min: 0, max: W[family] }),
  flip: fc.bigInt({ min: 0n, max: (1n << BigInt(W[family])) - 1n }),
  flipBits: fc.integer({ min: 0, max: W[family] }),
}).map(({ base, bitsA, bitsB, flip, flipBits }) => {
  // b differs from a only in its lowest `flipBits` bits: covering pairs and near misses both come up often.
  const b = base ^ (flip & ((1n << BigInt(flipBits)) - 1n));
  return { a: `${text(family, base)}/${bitsA}`, b: `${text(family, b)}/${bitsB}`, family };
});

describe('parseTarget', () => {
  it('reads a host of either family as its full-length block, and a CIDR as written', () => {
    const v4 = p('192.0.2.7');
    expect([v4[0].toString(), v4[0].kind(), v4[1]]).toEqual(['192.0.2.7', 'ipv4', 32]);
    const v6 = p('2001:db8::7');
    expect([v6[0].toString(), v6[0].kind(), v6[1]]).toEqual(['2001:db8::7', 'ipv6', 128]);
    const c4 = p('198.51.100.0/22');
    expect([c4[0].toString(), c4[1]]).toEqual(['198.51.100.0', 22]);
    const c6 = p('2001:db8:1::/48');
    expect([c6[0].kind(), c6[1]]).toEqual(['ipv6', 48]);
  });

  it('is null, not a throw, for what is not an address or CIDR (a principal, a typo)', () => {
    for (const t of ['arn:aws:iam::1:user/a', 'nope', '192.0.2.0/33', '300.1.1.1', '', 'principal']) expect(parseTarget(t), t).toBeNull();
  });
});

describe('covers: every address of the inner block is in the outer one', () => {
  it('a block covers itself, its hosts and narrower blocks inside it, never a wider or a neighbouring one', () => {
    expect(coversText('192.0.2.0/24', '192.0.2.0/24')).toBe(true);
    expect(coversText('192.0.2.0/24', '192.0.2.255')).toBe(true);
    expect(coversText('192.0.2.0/24', '192.0.2.128/25')).toBe(true);
    expect(coversText('192.0.2.7', '192.0.2.7')).toBe(true);
    // A narrower block never covers the wider one around it, not even its own first half.
    expect(coversText('192.0.2.0/25', '192.0.2.0/24')).toBe(false);
    expect(coversText('192.0.2.7', '192.0.2.0/24')).toBe(false);
    expect(coversText('192.0.2.0/32', '192.0.2.0/31')).toBe(false);
    expect(coversText('192.0.2.0/24', '192.0.3.0/24')).toBe(false);
    expect(coversText('192.0.2.0/24', '192.0.3.1')).toBe(false);
    expect(coversText('2001:db8:1:2::/64', '2001:db8:1:2::ffff')).toBe(true);
    expect(coversText('2001:db8:1:2::/64', '2001:db8:1::/48')).toBe(false);
    expect(coversText('2001:db8:1:2::/64', '2001:db8:1:2::/64')).toBe(true);
  });

  it('never across families, even at /0 (and without throwing)', () => {
    expect(coversText('0.0.0.0/0', '2001:db8::1')).toBe(false);
    expect(coversText('::/0', '192.0.2.1')).toBe(false);
    expect(coversText('::/0', '0.0.0.0/0')).toBe(false);
    expect(coversText('0.0.0.0/0', '::/0')).toBe(false);
    expect(coversText('0.0.0.0/0', '192.0.2.1')).toBe(true);
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: covers(a, b) ⇔ the oracle finds no address of b outside a`, () => {
      fc.assert(fc.property(cidrArb(family), ({ a, b }) => {
        expect(coversText(a, b)).toBe(uncovered(b, [a]).length === 0);
      }), { numRuns: 600 });
    });
  }

  it('cross-family pairs never cover, whatever their lengths', () => {
    fc.assert(fc.property(cidrArb(4), cidrArb(6), (x, y) => {
      expect(coversText(x.a, y.b)).toBe(false);
      expect(coversText(y.a, x.b)).toBe(false);
    }), { numRuns: 200 });
  });
});

describe('LedgerBook', () => {
  it('keeps one entry per target and decision time: a later write of the same decision replaces it', () => {
    const book = new LedgerBook([entry('192.0.2.1', { createdAt: T }), entry('192.0.2.1', { createdAt: T - DAY })]);
    // The newest of the target (index 0 once sorted) is replaced, not added again.
    book.record(entry('192.0.2.1', { createdAt: T, status: 'released', endedAt: T + MIN }));
    // The older one, too.
    book.record(entry('192.0.2.1', { createdAt: T - DAY, status: 'expired', endedAt: T - DAY + HOUR }));
    expect(book.entries().map((e) => [e.createdAt, e.status])).toEqual([[T, 'released'], [T - DAY, 'expired']]);
    expect(book.active(T)).toEqual([]);
  });

  it('lists every entry of every target, and nothing for an empty book', () => {
    expect(new LedgerBook().entries()).toEqual([]);
    const a = entry('192.0.2.1');
    const b = entry('arn:aws:iam::1:user/x');
    expect(new LedgerBook([a, b]).entries()).toEqual([a, b]);
  });

  it('latest is the most recently decided entry of a target, in whatever order they were recorded', () => {
    const book = new LedgerBook();
    for (const at of [T - 2 * DAY, T, T - DAY]) book.record(entry('192.0.2.1', { createdAt: at }));
    expect(book.latest('192.0.2.1')?.createdAt).toBe(T);
    expect(book.entries().map((e) => e.createdAt)).toEqual([T, T - DAY, T - 2 * DAY]);
    expect(book.latest('192.0.2.2')).toBeUndefined();
  });

  it('active: status active and not yet expired (an entry is over at its expiresAt)', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { expiresAt: T + HOUR }),
      entry('192.0.2.2', { status: 'held', expiresAt: T + HOUR }),
      entry('192.0.2.3', { status: 'released', expiresAt: T + HOUR }),
      entry('192.0.2.4', { status: 'expired', expiresAt: T + HOUR }),
    ]);
    expect(book.active(T + HOUR - 1).map((e) => e.target)).toEqual(['192.0.2.1']);
    expect(book.active(T + HOUR)).toEqual([]);
  });

  it('due: active entries whose time is up, at their expiresAt exactly, soonest first; never held or ended ones', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { expiresAt: T + 3 * HOUR }),
      entry('192.0.2.2', { expiresAt: T + HOUR }),
      entry('192.0.2.3', { expiresAt: T + 2 * HOUR }),
      entry('192.0.2.4', { expiresAt: T + 4 * HOUR }),
      entry('192.0.2.5', { status: 'held', expiresAt: T }),
      entry('192.0.2.6', { status: 'released', expiresAt: T }),
    ]);
    expect(book.due(T + HOUR - 1)).toEqual([]);
    expect(book.due(T + HOUR).map((e) => e.target)).toEqual(['192.0.2.2']);
    expect(book.due(T + 3 * HOUR).map((e) => e.target)).toEqual(['192.0.2.2', '192.0.2.3', '192.0.2.1']);
  });

  it('hasEnded: an entry decided at that very time that is no longer active', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { createdAt: T, status: 'released' }),
      entry('192.0.2.2', { createdAt: T, status: 'active' }),
      entry('192.0.2.3', { createdAt: T, status: 'held' }),
      entry('192.0.2.4', { createdAt: T, status: 'expired' }),
    ]);
    expect(book.hasEnded('192.0.2.1', T)).toBe(true);
    expect(book.hasEnded('192.0.2.1', T + 1)).toBe(false);
    expect(book.hasEnded('192.0.2.2', T)).toBe(false);
    expect(book.hasEnded('192.0.2.3', T)).toBe(true);
    expect(book.hasEnded('192.0.2.4', T)).toBe(true);
    expect(book.hasEnded('192.0.2.9', T)).toBe(false);
  });

  it('hasEnded looks at the entry of that time among all the target\'s entries', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { createdAt: T, status: 'released' }),
      entry('192.0.2.1', { createdAt: T - DAY, status: 'expired' }),
      entry('192.0.2.1', { createdAt: T + DAY, status: 'active' }),
    ]);
    expect(book.hasEnded('192.0.2.1', T)).toBe(true);
    expect(book.hasEnded('192.0.2.1', T - DAY)).toBe(true);
    expect(book.hasEnded('192.0.2.1', T + DAY)).toBe(false);
  });

  it('priorBlocks: blocks of the target decided at or after `since`', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { createdAt: T - 30 * DAY, status: 'expired' }),
      entry('192.0.2.1', { createdAt: T - 30 * DAY - 1, status: 'expired' }),
      entry('192.0.2.1', { createdAt: T - DAY, status: 'released' }),
      entry('192.0.2.2', { createdAt: T - DAY, status: 'expired' }),
    ]);
    // The block an operator released is not an offence: releasing a false block never makes the next one longer.
    expect(book.priorBlocks('192.0.2.1', T - 30 * DAY)).toBe(1);
    expect(book.priorBlocks('192.0.2.1', T - 30 * DAY - 1)).toBe(2);
    expect(book.priorBlocks('192.0.2.1', T - DAY + 1)).toBe(0);
    expect(book.priorBlocks('192.0.2.9', 0)).toBe(0);
  });

  it('priorBlocks: a held alert was never a block and does not count', () => {
    const book = new LedgerBook([
      entry('192.0.2.1', { createdAt: T - HOUR, status: 'held' }),
      entry('192.0.2.1', { createdAt: T - 2 * HOUR, status: 'held' }),
      entry('192.0.2.1', { createdAt: T - DAY, status: 'expired' }),
      entry('192.0.2.1', { createdAt: T - MIN, status: 'active' }),
    ]);
    expect(book.priorBlocks('192.0.2.1', T - 30 * DAY)).toBe(2);
  });

  describe('activeCovering', () => {
    it('the target\'s own active block, not an expired or ended one', () => {
      const own = entry('192.0.2.1', { expiresAt: T + HOUR });
      const book = new LedgerBook([own, entry('192.0.2.1', { createdAt: T - DAY, expiresAt: T + 2 * HOUR, status: 'released' })]);
      expect(book.activeCovering('192.0.2.1', 'ip', T)).toBe(own);
      expect(book.activeCovering('192.0.2.1', 'ip', T + HOUR)).toBeUndefined();
    });

    it('a wider active CIDR covers its hosts and narrower blocks; a narrower one never covers the wider target', () => {
      const wide = entry('192.0.2.0/24');
      const book = new LedgerBook([wide, entry('198.51.100.0/25'), entry('203.0.113.7')]);
      expect(book.activeCovering('192.0.2.77', 'ip', T)).toBe(wide);
      expect(book.activeCovering('192.0.2.128/26', 'cidr', T)).toBe(wide);
      expect(book.activeCovering('198.51.100.0/24', 'cidr', T)).toBeUndefined();
      expect(book.activeCovering('198.51.100.200', 'ip', T)).toBeUndefined();
      expect(book.activeCovering('198.51.100.5', 'ip', T)?.target).toBe('198.51.100.0/25');
      expect(book.activeCovering('192.0.3.1', 'ip', T)).toBeUndefined();
      expect(book.activeCovering('192.0.2.77', 'ip', T + HOUR)).toBeUndefined();
    });

    it('an IPv6 /64 covers its addresses only', () => {
      const book = new LedgerBook([entry('2001:db8:1:2::/64')]);
      expect(book.activeCovering('2001:db8:1:2::99', 'ip', T)?.target).toBe('2001:db8:1:2::/64');
      expect(book.activeCovering('2001:db8:1:3::99', 'ip', T)).toBeUndefined();
      expect(book.activeCovering('2001:db8:1::/48', 'cidr', T)).toBeUndefined();
    });

    it('a host block covers nothing but itself', () => {
      const book = new LedgerBook([entry('192.0.2.0')]);
      expect(book.activeCovering('192.0.2.0/24', 'cidr', T)).toBeUndefined();
      expect(book.activeCovering('192.0.2.0/32', 'cidr', T)).toBeUndefined();
    });

    it('a principal is covered only by its own block, never by an address block, even one its name reads as', () => {
      const book = new LedgerBook([entry('0.0.0.0/0'), entry('arn:aws:iam::1:user/a')]);
      expect(book.activeCovering('arn:aws:iam::1:user/a', 'principal', T)?.target).toBe('arn:aws:iam::1:user/a');
      expect(book.activeCovering('arn:aws:iam::1:user/b', 'principal', T)).toBeUndefined();
      // A principal whose name happens to read as an address (an API key id, a Cognito user name).
      expect(book.activeCovering('10.1.2.3', 'principal', T)).toBeUndefined();
      expect(book.activeCovering('10.1.2.3', 'ip', T)?.target).toBe('0.0.0.0/0');
    });

    it('skips what it cannot read: a target that is no address, a ledger row whose CIDR is corrupt', () => {
      const book = new LedgerBook([entry('not-a-cidr/99', { targetKind: 'cidr' }), entry('192.0.2.0/24')]);
      expect(book.activeCovering('garbage', 'ip', T)).toBeUndefined();
      expect(book.activeCovering('192.0.2.9', 'ip', T)?.target).toBe('192.0.2.0/24');
      expect(book.activeCovering('198.51.100.9', 'ip', T)).toBeUndefined();
    });

    it('an active principal or host entry never stands in for a CIDR that would cover', () => {
      const book = new LedgerBook([entry('arn:aws:iam::1:user/a'), entry('192.0.2.1'), entry('192.0.2.0/24', { status: 'held' })]);
      expect(book.activeCovering('192.0.2.2', 'ip', T)).toBeUndefined();
    });

    it('agrees with the address oracle on random ledgers and targets', () => {
      const octet = fc.integer({ min: 0, max: 3 });
      const cidr = fc.tuple(octet, octet, fc.integer({ min: 22, max: 32 })).map(([x, y, bits]) => `10.0.${x}.${y * 64}/${bits}`);
      fc.assert(fc.property(fc.array(cidr, { maxLength: 6 }), cidr, fc.integer({ min: 0, max: 255 }), (blocks, target, pick) => {
        const book = new LedgerBook(blocks.map((t, i) => entry(t, { createdAt: T + i, targetKind: 'cidr' })));
        const host = addressAt(target, BigInt(pick) % sizeOf(target));
        const hit = book.activeCovering(target, 'cidr', T + 10);
        const expected = blocks.some((b) => uncovered(target, [b]).length === 0);
        expect(hit !== undefined).toBe(expected);
        if (hit) expect(uncovered(target, [hit.target])).toEqual([]);
        const hostHit = book.activeCovering(host, 'ip', T + 10);
        expect(hostHit !== undefined).toBe(coveredBy(host, blocks));
      }), { numRuns: 300 });
    });
  });
});
