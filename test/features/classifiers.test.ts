import { describe, expect, it } from 'vitest';
import { looksLikeAttack } from '../../src/features/attack-payload.ts';
import { hash32 } from '../../src/features/hash.ts';
import { ownedAddress, principalInfo } from '../../src/features/key-cache.ts';
import { ipKey, keyKind, keyValue, prefixKey, principalKey } from '../../src/features/keys.ts';
import { isLoginPath } from '../../src/features/login-path.ts';
import { ownString } from '../../src/features/own-string.ts';
import { isScannerAgent } from '../../src/features/scanner-agent.ts';

describe('hash32', () => {
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('FNV-1a of %j is the published value', (s, h) => {
    expect(hash32(s)).toBe(h);
  });

  it('is unsigned and tells neighbours apart', () => {
    expect(hash32('/items/1')).not.toBe(hash32('/items/2'));
    for (const s of ['a', 'foobar', '/x', 'é', '\u{1F600}']) {
      expect(hash32(s)).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(hash32(s))).toBe(true);
    }
  });
});

describe('keys', () => {
  it('tags each kind with its own letter, and reads it back', () => {
    expect(ipKey('203.0.113.7')).toBe('i:203.0.113.7');
    expect(prefixKey('203.0.113.0/24')).toBe('p:203.0.113.0/24');
    expect(principalKey('arn:aws:iam::1:user/a')).toBe('u:arn:aws:iam::1:user/a');
    expect(keyKind(ipKey('2001:db8::1'))).toBe('ip');
    expect(keyKind(prefixKey('2001:db8::/64'))).toBe('prefix');
    expect(keyKind(principalKey('p'))).toBe('principal');
    expect(keyValue(ipKey('2001:db8::1'))).toBe('2001:db8::1');
    expect(keyValue(prefixKey('10.0.0.0/8'))).toBe('10.0.0.0/8');
    expect(keyValue(principalKey('i:p'))).toBe('i:p');
  });
});

describe('isLoginPath', () => {
  it.each(['/login', '/api/LOGON', '/signin', '/sign-in', '/sign_in', '/oauth/token', '/auth', '/session', '/administrator/index.php',
    '/wp-login.php', '/xmlrpc.php', '/reset-password', '/passwd', '/account/new'])('%s takes credentials', (p) => {
    expect(isLoginPath(p)).toBe(true);
  });

  it.each(['/items/1', '/', '', '/search?q=lo-gin', '/logo.png', '/users/{accountId}/orders', '/files/{token}', '/a/{session+}'])('%s does not', (p) => {
    expect(isLoginPath(p)).toBe(false);
  });

  it('a route template is judged by its literal segments, not its variables\' names', () => {
    expect(isLoginPath('/users/{id}/login')).toBe(true);
    expect(isLoginPath('/{proxy+}')).toBe(false);
    expect(isLoginPath('/x{unclosed/login')).toBe(true);
  });

  it('looks at the first 256 characters only', () => {
    expect(isLoginPath('x'.repeat(251) + 'login')).toBe(true); // ends at 256
    expect(isLoginPath('x'.repeat(252) + 'login')).toBe(false);
    expect(isLoginPath('LOGIN' + 'x'.repeat(300))).toBe(true);
  });
});

describe('isScannerAgent', () => {
  it.each(['sqlmap/1.7.2#stable (https://sqlmap.org)', 'Mozilla/5.00 (Nikto/2.1.6)', 'Nuclei - Open-source project', 'masscan/1.3',
    'Fuzz Faster U Fool v2.1.0 ffuf', 'WPScan v3.8.22', 'gobuster/3.6', 'Mozilla/5.0 zgrab/0.x'])('%s is an attack tool', (ua) => {
    expect(isScannerAgent(ua)).toBe(true);
  });

  it.each(['Mozilla/5.0 (X11; Linux x86_64)', 'curl/8.5.0', 'python-requests/2.31', 'Go-http-client/1.1', ''])('%s is not', (ua) => {
    expect(isScannerAgent(ua)).toBe(false);
  });

  it('looks at the first 300 characters only', () => {
    expect(isScannerAgent('x'.repeat(294) + 'sqlmap')).toBe(true);
    expect(isScannerAgent('x'.repeat(295) + 'sqlmap')).toBe(false);
    expect(isScannerAgent('SQLMAP' + 'x'.repeat(400))).toBe(true);
  });
});

describe('looksLikeAttack', () => {
  it.each([
    '/api/../../etc/passwd',
    '/a/..\\..\\win.ini',
    '/a/..%2F..%2Fetc',
    '/%2e%2e/%2e%2e/etc',
    '/files?name=boot.ini',
    '/cgi-bin/cmd.exe',
    '/run?cmd=id',
    '/q?x=<script>alert(1)</script>',
    '/q?x=<SCRIPT>',
    '/img?src=x onerror=alert',
    '/body onload=go',
    '/go?u=javascript:alert',
    "/items?id=1' OR '1'='1",
    "/items?id=1'--",
    '/items?id=1%27%20or%201=1',
    '/items?id=1%27--',
    '/items?id=1 UNION SELECT password',
    '/items?id=1+union+select+1',
    '/items?id=1%20union%20select%201',
    '/items?id=sleep(5)',
    '/items?id=benchmark(1000000,md5(1))',
    "/items?id=1;waitfor delay '0:0:5'",
    '/items?id=1;exec xp_cmdshell(1)',
    '/x?a=${jndi:ldap://evil/a}',
    '/x?a=%24%7Bjndi:ldap',
    '/x?a=<?php echo 1',
    '/x?f=php://input',
    '/phpinfo.php',
    '/file%00.jpg',
    '/.env',
    '/.git/config',
    '/.svn/entries',
    '/.aws/credentials',
    '/wp-config.php.bak',
    '/home/.ssh/id_rsa',
    '/.htpasswd',
    '/a/../etc/shadow',
    '/default.ida?NNNN',
    '/_vti_bin/shtml.dll',
    '/msadc/msadcs.dll',
    '/hello?name={{7*7}}',
    '/x?c=base64_decode(abc)',
    '/root.exe?/c+dir',
    '/bin/sh?x=1',
  ])('%s carries an attack', (p) => {
    expect(looksLikeAttack(p)).toBe(true);
  });

  it.each(['/items/1', '/', '', '/index.html', '/search?q=shoes', '/a.b.c', "/o'brien", '/f(x)', '/$price', '/{id}', '/a\\b', '/100%'])(
    '%s does not',
    (p) => {
      expect(looksLikeAttack(p)).toBe(false);
    },
  );

  // Markers without a gate character were once never looked for (found by mutation testing): a path without
  // . % < ' ( $ { \\ = skipped the check, so these went unflagged.
  it.each(['/phpinfo', '/PhpInfo', '/etc/pAsswd', '/wp-config', '/WP-Config', '/etc/passwd', '/bin/sh', '/msadc/x', '/_vti_bin/x', '/home/id_rsa',
    '/x;xp_cmdshell', '/go?u=javascript:x', '/items/1 union select 1', '/items/1+UNION+SELECT+1', '/decode/base64_decode'])(
    '%s carries an attack though it holds no gate character', (p) => {
      expect(looksLikeAttack(p)).toBe(true);
    });

  it.each(['/user-profile/settings', '/order_items/42', '/v1/ETC/list', '/Bin/items', '/php/info', '/api:v2/x', '/a+b c'])(
    '%s, with capitals or punctuation but no marker, does not', (p) => {
      expect(looksLikeAttack(p)).toBe(false);
    });

  it('looks at the first 512 characters only', () => {
    expect(looksLikeAttack('/' + 'x'.repeat(506) + '/.env')).toBe(true); // ends at 512
    expect(looksLikeAttack('/' + 'x'.repeat(507) + '/.env')).toBe(false);
    expect(looksLikeAttack('.' + 'x'.repeat(600) + '/.env')).toBe(false); // a marker past the cut is not looked for
    expect(looksLikeAttack('/ETC/PASSWD.' + 'x'.repeat(600))).toBe(true);
  });

  it('each character of the first pass opens the marker check on its own', () => {
    expect(looksLikeAttack('/.git/')).toBe(true); // .
    expect(looksLikeAttack('/a%00')).toBe(true); // %
    expect(looksLikeAttack('/<script')).toBe(true); // <
    expect(looksLikeAttack("/a' or 1")).toBe(true); // '
    expect(looksLikeAttack('/sleep(5')).toBe(true); // (
    expect(looksLikeAttack('/a{{b')).toBe(true); // {
    expect(looksLikeAttack('/cmd=id')).toBe(true); // =
  });
});

describe('key cache and owned strings', () => {
  it('gives each principal its key and a non-zero hash, the same on every call', () => {
    const p = 'arn:aws:iam::123456789012:user/alice';
    const info = principalInfo(p);
    expect(info).toEqual({ key: p, hash: hash32(p), shortHash: hash32(p) & 0xffffff });
    expect(principalInfo(p)).toBe(info);
    expect(principalInfo('bob')).toEqual({ key: 'bob', hash: hash32('bob'), shortHash: hash32('bob') & 0xffffff });
    // A principal whose hash ends in 16 zero bits still has a short hash (0 would read as anonymous).
    expect(hash32('user/41310') & 0xffff).toBe(0);
    expect(principalInfo('user/41310')).toEqual({ key: 'user/41310', hash: hash32('user/41310'), shortHash: hash32('user/41310') & 0xffffff });
  });

  it('keeps addresses as they are', () => {
    expect(ownedAddress('203.0.113.7')).toBe('203.0.113.7');
    const long = '2001:db8:aaaa:bbbb::1';
    expect(ownedAddress(long)).toBe(long);
    expect(ownedAddress(long)).toBe(ownedAddress(long));
  });

  it('copies strings without changing them', () => {
    for (const s of ['', 'short', 'x'.repeat(13), 'lone \ud800 surrogate and more', '"quoted"\n']) expect(ownString(s)).toBe(s);
  });
});
