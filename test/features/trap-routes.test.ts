import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { windowerFor } from '../../src/engine/ingest.ts';
import { TrapRoutes, trapRoutesOf } from '../../src/features/trap-routes.ts';
import { ev, T0 } from '../helpers/events.ts';

describe('trap routes: which paths are traps', () => {
  const traps = new TrapRoutes(['/admin-backup/*', '/.old/config.php', '/prod/wp-admin/*']);

  it.each([
    ['/.old/config.php', true],
    ['/.old/config.php?x=1', true],
    ['/.old/config.php?', true],
    ['/.old/config.php/', false],
    ['/.old/config.PHP', false], // API Gateway paths are case-sensitive
    ['/.old/config.phpx', false],
    ['/admin-backup/', true],
    ['/admin-backup/db.sql', true],
    ['/admin-backup/a/b?c=/d', true],
    ['/admin-backup', false], // a prefix is the text before its *: list the bare path too to trap it
    ['/Admin-backup/db.sql', false],
    ['/items/1?next=/admin-backup/', false], // the query string is not the path
    ['/prod/wp-admin/setup.php', true],
    ['/wp-admin/setup.php', false],
    ['', false],
    ['?/admin-backup/', false],
  ])('%j: %s', (path, trapped) => {
    expect(traps.matches(path)).toBe(trapped);
  });

  it('a prefix covered by a shorter one, or given twice, changes nothing', () => {
    const t = new TrapRoutes(['/a/b/*', '/a/*', '/a/*', '/x']);
    for (const p of ['/a/', '/a/b/c', '/a/z', '/x']) expect(t.matches(p)).toBe(true);
    for (const p of ['/a', '/b/a/', '/x/']) expect(t.matches(p)).toBe(false);
  });

  it('is compiled once per configured list, and not at all when there is none', () => {
    const cfg = parseConfig({ trapRoutes: ['/trap'] });
    expect(trapRoutesOf(cfg.trapRoutes)).toBe(trapRoutesOf(cfg.trapRoutes));
    expect(trapRoutesOf([])).toBeNull();
    expect(trapRoutesOf(undefined)).toBeNull();
  });
});

describe('trap routes: the trapHits counter', () => {
  it('counts exact and prefix matches on the IP, its prefix and its principal, ignoring query strings', () => {
    const w = windowerFor(parseConfig({ trapRoutes: ['/.env.bak', '/admin-backup/*'] }));
    const at = (s: number) => T0 + s * 1000;
    for (const e of [
      ev({ time: at(1), ip: '203.0.113.9', path: '/.env.bak', status: 404 }),
      ev({ time: at(2), ip: '203.0.113.9', path: '/.env.bak?download=1', status: 404 }),
      ev({ time: at(3), ip: '203.0.113.9', path: '/admin-backup/dump.sql', status: 403, principal: 'user-1' }),
      ev({ time: at(4), ip: '203.0.113.9', path: '/items/1?redirect=/.env.bak' }),
      ev({ time: at(5), ip: '203.0.113.9', path: '/admin-backup' }),
      ev({ time: at(6), ip: '203.0.113.10', path: '/items/2' }),
    ]) w.add(e);
    const [closed] = w.closeAll();
    expect(closed.keys.byIp.get('203.0.113.9')!.ip.features()).toMatchObject({ requests: 5, trapHits: 3 });
    expect(closed.keys.byIp.get('203.0.113.10')!.ip.features().trapHits).toBe(0);
    expect(closed.keys.byPrefix.get('203.0.113.0/24')!.features()).toMatchObject({ requests: 6, trapHits: 3 });
    expect(closed.keys.byPrincipal.get('user-1')!.features().trapHits).toBe(1);
  });

  it('without trap routes (the default) nothing is a trap hit', () => {
    const w = windowerFor(parseConfig({}));
    w.add(ev({ time: T0, path: '/admin-backup/dump.sql' }));
    const [closed] = w.closeAll();
    expect([...closed.keys.byIp.values()][0].ip.features().trapHits).toBe(0);
  });

  it('survives the trip between the stages (serialised and merged)', () => {
    const src = windowerFor(parseConfig({ trapRoutes: ['/trap'] }));
    src.add(ev({ time: T0, ip: '203.0.113.9', path: '/trap' }));
    src.add(ev({ time: T0 + 1, ip: '203.0.113.9', path: '/trap' }));
    const dst = windowerFor(parseConfig({}));
    for (const p of JSON.parse(JSON.stringify(src.drainPartials()))) dst.addPartial(p);
    const [closed] = dst.closeAll();
    expect(closed.keys.byIp.get('203.0.113.9')!.ip.features().trapHits).toBe(2);
  });
});

describe('trap routes: the config', () => {
  it('defaults to none, and takes exact paths and prefixes', () => {
    expect(parseConfig({}).trapRoutes).toEqual([]);
    expect(parseConfig({ trapRoutes: ['/admin-backup/*', '/prod/.git/config'] }).trapRoutes).toEqual(['/admin-backup/*', '/prod/.git/config']);
  });

  it.each([
    ['admin-backup/*', 'must start with /'],
    ['/admin-*/backup', 'a * may only end a trap route'],
    ['/a/**', 'a * may only end a trap route'],
    ['/trap?x=1', 'without their query string'],
    ['/trap#x', 'without their query string'],
    ['/tr ap', 'without their query string'],
    ['/trap\n', 'without their query string'],
    ['/', 'every client requests the root'],
    ['/*', 'every client requests the root'],
    [`/${'a'.repeat(256)}`, 'Too big'],
  ])('rejects %j', (route, message) => {
    let err: unknown;
    try {
      parseConfig({ trapRoutes: ['/fine', route] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issue = (err as ConfigError).issues.find((i) => i.path === 'trapRoutes.1');
    expect(issue?.message).toContain(message);
  });

  it('rejects more than a hundred, and anything but a list of strings', () => {
    const many = Array.from({ length: 101 }, (_, i) => `/trap/${i}`);
    expect(() => parseConfig({ trapRoutes: many })).toThrow(/trapRoutes/);
    expect(parseConfig({ trapRoutes: many.slice(0, 100) }).trapRoutes).toHaveLength(100);
    expect(() => parseConfig({ trapRoutes: '/trap' })).toThrow(/trapRoutes/);
    expect(() => parseConfig({ trapRoutes: [7] })).toThrow(/trapRoutes\.0/);
  });
});
