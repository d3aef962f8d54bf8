import { describe, expect, it } from 'vitest';
import { Reason, decodeAnyLine, decodeLine } from '../../src/decode/index.ts';
import { T, T_CLF, asEvent } from './fixtures.ts';

const combined = (line: string) => asEvent(decodeLine(line, 'combined'));

describe('nginx/Apache combined and common', () => {
  it('reads a combined line (elastic sample)', () => {
    const line =
      '83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36"';
    expect(combined(line)).toEqual({
      time: Date.UTC(2015, 4, 17, 10, 5, 3),
      ip: '83.149.9.216',
      method: 'GET',
      path: '/presentations/logstash-monitorama-2013/images/kibana-search.png',
      resource: '',
      status: 200,
      bytes: 203023,
      latencyMs: -1,
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36',
      principal: '',
    });
  });

  it('%u is what the client sent: one that reads as an ARN (or an address) is kept unverified, never an IAM identity', () => {
    const line = (u: string) => `198.51.100.9 - ${u} [21/Nov/2025:10:05:00 +0000] "POST /login HTTP/1.1" 401 12 "-" "curl/8"`;
    expect(combined(line('arn:aws:iam::123456789012:role/Admin')).principal).toBe('unverified:arn:aws:iam::123456789012:role/Admin');
    expect(combined(line('203.0.113.7')).principal).toBe('unverified:203.0.113.7');
    expect(combined(line('frank')).principal).toBe('frank');
  });

  it('reads common format, with %u as the principal and the zone applied', () => {
    const e = combined('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326');
    expect(e.time).toBe(Date.UTC(2000, 9, 10, 20, 55, 36));
    expect([e.principal, e.userAgent, e.bytes]).toEqual(['frank', '', 2326]);
  });

  it('ignores one extra trailing quoted field (almhuette)', () => {
    const e = combined(
      '193.106.31.130 - - [14/Oct/2019:11:01:04 +0200] "POST /administrator/index.php HTTP/1.1" 200 4494 "http://almhuette-raith.at/administrator/" "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)" "-"',
    );
    expect([e.method, e.path, e.userAgent]).toEqual(['POST', '/administrator/index.php', 'Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)']);
  });

  it('reads a line wrapped in an extra pair of quotes with a CRLF ending (dvwa)', () => {
    const e = combined('"192.168.4.164 - admin [22/Dec/2016:15:19:06 +0300] "HEAD /DVWA/.git/config HTTP/1.1" 404 139 "-" "w3af.org""\r');
    expect([e.ip, e.method, e.path, e.status, e.userAgent, e.principal]).toEqual(['192.168.4.164', 'HEAD', '/DVWA/.git/config', 404, 'w3af.org', 'admin']);
  });

  it('keeps escaped quotes of a payload in the path, raw (Apache 2)', () => {
    const e = combined(
      '"192.168.4.25 - - [22/Dec/2016:16:36:08 +0300] "GET /DVWA/vulnerabilities/fi?page=\'\\"()%26%25<acx><ScRiPt%20>H5NJ(9347)</ScRiPt> HTTP/1.1" 301 736 "http://192.168.4.161/DVWA" "Mozilla/5.0 (Windows NT 6.1; WOW64)""',
    );
    expect(e.path).toBe('/DVWA/vulnerabilities/fi?page=\'\\"()%26%25<acx><ScRiPt%20>H5NJ(9347)</ScRiPt>');
    expect([e.status, e.bytes, e.userAgent]).toEqual([301, 736, 'Mozilla/5.0 (Windows NT 6.1; WOW64)']);
  });

  it('finds the agent after a referer full of escaped quotes (netsparker)', () => {
    const e = combined(
      '192.168.4.164 - - [22/Dec/2016:15:19:14 +0300] "GET /DVWA/ HTTP/1.1" 200 1964 "() { :;}; echo \\"NS:\\" $(/bin/sh -c \\"expr 268409241 - 2\\")" "Mozilla/5.0 (Windows NT 6.3; WOW64)"',
    );
    expect([e.status, e.userAgent]).toEqual([200, 'Mozilla/5.0 (Windows NT 6.3; WOW64)']);
  });

  it('reads unescaped quotes in the request line (Apache 1.3, honeynet)', () => {
    const e = combined('68.49.152.86 - - [22/Apr/2004:11:55:13 -0400] "GET" /hostadmin/?page=\' HTTP/1.0" 501 345 "-" "Mozilla/4.75 (Nikto/1.32 )"');
    expect([e.method, e.path, e.status, e.bytes, e.userAgent]).toEqual(['GET"', "/hostadmin/?page='", 501, 345, 'Mozilla/4.75 (Nikto/1.32 )']);
  });

  it('does not let an escaped forged status in the request decide the status', () => {
    const e = combined('203.0.113.9 - - [21/Nov/2026:10:00:00 +0000] "GET /x\\" 200 1 \\"y HTTP/1.1" 404 10 "-" "curl/8.5.0"');
    expect([e.status, e.bytes, e.path, e.userAgent]).toEqual([404, 10, '/x\\" 200 1 \\"y', 'curl/8.5.0']);
  });

  it('reads a raw binary request line and a `-` size (honeynet SOCKS probe)', () => {
    const e = combined('211.196.223.10 - - [16/Jun/2004:21:32:48 -0400] "\u0005\u0001" 501 - "-" "-"');
    expect([e.method, e.path, e.status, e.bytes, e.userAgent]).toEqual(['', '\u0005\u0001', 501, 0, '']);
  });

  it('reads CONNECT and absolute-URI request lines, keeping the target as sent', () => {
    const connect = combined('62.233.157.194 - - [22/Apr/2004:04:07:13 -0400] "CONNECT 1.3.3.7:1337 HTTP/1.0" 405 309 "-" "-"');
    expect([connect.method, connect.path]).toEqual(['CONNECT', '1.3.3.7:1337']);
    const proxy = combined('65.33.181.178 - - [21/Apr/2004:21:55:26 -0400] "GET http://dc.tickerbar.net:42857/tld/pxy.m?nc=9147292 HTTP/1.0" 404 281 "-" "-"');
    expect(proxy.path).toBe('http://dc.tickerbar.net:42857/tld/pxy.m?nc=9147292');
  });

  it('reads an empty request (`"-"`, e.g. a 408) and an HTTP/0.9 request', () => {
    const empty = combined('198.51.100.4 - - [21/Nov/2026:10:00:00 +0000] "-" 408 0 "-" "-"');
    expect([empty.method, empty.path, empty.status]).toEqual(['', '', 408]);
    const old = combined('198.51.100.4 - - [21/Nov/2026:10:00:00 +0000] "GET /" 200 10');
    expect([old.method, old.path]).toEqual(['GET', '/']);
  });

  it('normalises IPv6 and IPv4-mapped clients', () => {
    expect(combined(`2001:DB8:0:0::A - - [${T_CLF}] "GET / HTTP/1.1" 200 1 "-" "-"`).ip).toBe('2001:db8::a');
    expect(combined(`::ffff:192.0.2.1 - - [${T_CLF}] "GET / HTTP/1.1" 200 1 "-" "-"`).ip).toBe('192.0.2.1');
  });

  it.each([
    ['a host name as client', `pcp740115pcs.reston01.va.comcast.net - - [${T_CLF}] "GET / HTTP/1.0" 403 304 "-" "-"`, Reason.clientNotIp],
    ['no time', '198.51.100.4 - - "GET / HTTP/1.1" 200 1', Reason.notClf],
    ['an impossible date', `198.51.100.4 - - [31/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1`, Reason.missingTime],
    ['year 1990', `198.51.100.4 - - [21/Nov/1990:10:00:00 +0000] "GET / HTTP/1.1" 200 1`, Reason.timeOutOfRange],
    ['status 000', `198.51.100.4 - - [${T_CLF}] "GET / HTTP/1.1" 000 1`, Reason.badStatus],
    ['bytes that are not a number', `198.51.100.4 - - [${T_CLF}] "GET / HTTP/1.1" 200 12ab "-" "-"`, Reason.badBytes],
    ['bytes above 1e12', `198.51.100.4 - - [${T_CLF}] "GET / HTTP/1.1" 200 9999999999999 "-" "-"`, Reason.badBytes],
    ['no status after the request', `198.51.100.4 - - [${T_CLF}] "GET / HTTP/1.1"`, Reason.noRequestLine],
  ])('rejects %s', (_name, line, reason) => {
    expect(decodeLine(line, 'combined')).toBe(reason);
  });
});

describe('API Gateway CLF preset', () => {
  it('reads the REST preset: caller as principal, resourcePath as resource and path, request id tail', () => {
    const line = `198.51.100.23 AIDACKCEVSQ6C2EXAMPLE AIDAUSEREXAMPLE [${T_CLF}] "GET /items/{id} HTTP/1.1" 200 512 6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`;
    expect(asEvent(decodeLine(line, 'console-clf'))).toEqual({
      time: T,
      ip: '198.51.100.23',
      method: 'GET',
      path: '/items/{id}',
      resource: '/items/{id}',
      status: 200,
      bytes: 512,
      latencyMs: -1,
      userAgent: '',
      principal: 'AIDACKCEVSQ6C2EXAMPLE',
    });
  });

  it('falls back to the user when the caller is `-`, and reads the extendedRequestId variant', () => {
    const line = `198.51.100.23 - AIDAUSEREXAMPLE [${T_CLF}] "POST /orders HTTP/1.1" 201 - 6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11 Vh2cXFkJIAMEb3Q=`;
    const e = asEvent(decodeLine(line, 'console-clf'));
    expect([e.principal, e.method, e.bytes]).toEqual(['AIDAUSEREXAMPLE', 'POST', 0]);
  });

  it('reads the HTTP API preset, whose request holds the route key', () => {
    const line = `198.51.100.23 - - [${T_CLF}] "GET GET /items/{id} HTTP/1.1" 404 12 Vh2cXFkJIAMEb3Q=`;
    const e = asEvent(decodeAnyLine(line));
    expect([e.method, e.path, e.resource, e.status]).toEqual(['GET', '/items/{id}', '/items/{id}', 404]);
    const catchAll = asEvent(decodeLine(`198.51.100.23 - - [${T_CLF}] "GET $default HTTP/1.1" 200 12 Vh2cXFkJIAMEb3Q=`, 'console-clf'));
    expect(catchAll.resource).toBe('$default');
  });
});
