import { describe, expect, it } from 'vitest';
import { parseClfTime } from '../../src/decode/clf-time.ts';

describe('parseClfTime', () => {
  it.each([
    ['21/Nov/2026:10:00:00 +0000', Date.UTC(2026, 10, 21, 10, 0, 0)],
    ['21/Nov/2026:12:30:00 +0230', Date.UTC(2026, 10, 21, 10, 0, 0)],
    ['21/Nov/2026:00:00:00 -0700', Date.UTC(2026, 10, 21, 7, 0, 0)],
    ['01/jan/1995:00:00:00 +0000', Date.UTC(1995, 0, 1)],
    ['29/Feb/2024:23:59:59 +0000', Date.UTC(2024, 1, 29, 23, 59, 59)],
    ['31/Dec/2100:23:59:59 +0000', Date.UTC(2100, 11, 31, 23, 59, 59)],
  ])('reads %s', (text, ms) => {
    expect(parseClfTime(text)).toBe(ms);
  });

  it.each([
    '29/Feb/2023:00:00:00 +0000',
    '31/Apr/2026:00:00:00 +0000',
    '00/Nov/2026:00:00:00 +0000',
    '21/Foo/2026:10:00:00 +0000',
    '21/Nov/2026:24:00:00 +0000',
    '21/Nov/2026:10:60:00 +0000',
    '21/Nov/2026:10:00:00 0000',
    '21/Nov/2026:10:00:00 *0000',
    '21/Nov/2026 10:00:00 +0000',
    '21/Nov/2O26:10:00:00 +0000',
    '2026-11-21T10:00:00Z',
    '',
  ])('rejects %s', (text) => {
    expect(parseClfTime(text)).toBeNaN();
  });

  it('reads in place within a longer string', () => {
    const line = 'x [21/Nov/2026:10:00:00 +0000] y';
    expect(parseClfTime(line, 3, 29)).toBe(Date.UTC(2026, 10, 21, 10));
  });
});
