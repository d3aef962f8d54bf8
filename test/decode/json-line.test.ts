import { describe, expect, it } from 'vitest';
import { Reason, decodeAnyLine, decodeLine } from '../../src/decode/index.ts';
import { decodeJsonLineSlow } from '../../src/decode/json-line.ts';
import { T, T_CLF, apigwLine, asEvent } from './fixtures.ts';

describe('recommended API Gateway JSON', () => {
  it('reads every field of a REST API line', () => {
    expect(asEvent(decodeLine(apigwLine(), 'apigw-json'))).toEqual({
      time: T,
      ip: '203.0.113.7',
      method: 'GET',
      path: '/prod/items/42',
      resource: '/items/{id}',
      status: 200,
      bytes: 512,
      latencyMs: 23,
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0',
      principal: '',
    });
  });

  it('reads numbers written as quoted strings', () => {
    const e = asEvent(
      decodeLine(
        apigwLine({ requestTimeEpoch: String(T), status: '404', responseLength: '17', responseLatency: '5' }),
        'apigw-json',
      ),
    );
    expect([e.time, e.status, e.bytes, e.latencyMs]).toEqual([T, 404, 17, 5]);
  });

  it('reads the bare `-` API Gateway writes for a missing unquoted number (not valid JSON)', () => {
    const line = apigwLine().replace('"responseLength":512', '"responseLength":-').replace('"responseLatency":23', '"responseLatency": -');
    expect(() => JSON.parse(line)).toThrow();
    const e = asEvent(decodeLine(line, 'apigw-json'));
    expect(e.bytes).toBe(0);
    expect(e.latencyMs).toBe(-1);
    expect(e.status).toBe(200);
  });

  it('reads a bare `-` as the last value and an empty unquoted value', () => {
    const last = apigwLine().replace(/}$/, ',"integrationStatus":-}');
    expect(asEvent(decodeLine(last, 'apigw-json')).status).toBe(200);
    const empty = apigwLine().replace('"responseLatency":23', '"responseLatency":');
    expect(asEvent(decodeLine(empty, 'apigw-json')).latencyMs).toBe(-1);
  });

  it('leaves a `-` inside strings alone when repairing', () => {
    const line = apigwLine({ userAgent: 'x":-,"y', path: '/a:-}' }).replace('"responseLength":512', '"responseLength":-');
    const e = asEvent(decodeLine(line, 'apigw-json'));
    expect(e.userAgent).toBe('x":-,"y');
    expect(e.path).toBe('/a:-}');
  });

  it('treats `-` strings as absent: path falls back to the resource, bytes to 0', () => {
    const e = asEvent(decodeLine(apigwLine({ path: '-', responseLength: '-', userAgent: '-' }), 'apigw-json'));
    expect(e.path).toBe('/items/{id}');
    expect(e.bytes).toBe(0);
    expect(e.userAgent).toBe('');
  });

  it.each([
    [{ userArn: 'arn:aws:iam::123456789012:user/alice', principalId: 'p-1', apiKeyId: 'k-1', caller: 'AIDAEXAMPLE' }, 'arn:aws:iam::123456789012:user/alice'],
    [{ principalId: 'p-1', apiKeyId: 'k-1', caller: 'AIDAEXAMPLE' }, 'p-1'],
    [{ principalId: '', apiKeyId: 'k-1', caller: 'AIDAEXAMPLE' }, 'k-1'],
    [{ caller: 'AIDAEXAMPLE' }, 'AIDAEXAMPLE'],
    [{ user: 'AIDAUSER' }, 'AIDAUSER'],
    [{}, ''],
  ])('takes the first present principal of userArn, principalId, apiKeyId, caller (%o)', (fields, principal) => {
    expect(asEvent(decodeLine(apigwLine(fields), 'apigw-json')).principal).toBe(principal);
  });

  it.each([
    [{ userArn: 'arn:aws:sts::123456789012:assumed-role/Backend/s-1', principalId: 'p-1' }, 'arn:aws:sts::123456789012:assumed-role/Backend/s-1'],
    // A Lambda authorizer's principalId that spells an ARN is not an IAM identity: never one a policy would deny.
    [{ principalId: 'arn:aws:iam::123456789012:role/Backend' }, 'unverified:arn:aws:iam::123456789012:role/Backend'],
    [{ principalId: 'unverified:x' }, 'unverified:unverified:x'],
    [{ caller: 'arn:aws:iam::123456789012:user/alice' }, 'unverified:arn:aws:iam::123456789012:user/alice'],
    // Whatever might trim or fold it later: a space, a no-break space or a BOM in front, or upper case.
    [{ principalId: ' arn:aws:iam::123456789012:role/Admin' }, 'unverified: arn:aws:iam::123456789012:role/Admin'],
    [{ principalId: '\u00a0arn:aws:iam::123456789012:role/Admin' }, 'unverified:\u00a0arn:aws:iam::123456789012:role/Admin'],
    [{ principalId: '\ufeffarn:aws:iam::123456789012:role/Admin' }, 'unverified:\ufeffarn:aws:iam::123456789012:role/Admin'],
    [{ principalId: 'ARN:aws:iam::123456789012:role/Admin' }, 'unverified:ARN:aws:iam::123456789012:role/Admin'],
    // Named like an address: never the same target as the client at that address.
    [{ principalId: '198.51.100.7' }, 'unverified:198.51.100.7'],
    [{ principalId: '2001:db8::/64' }, 'unverified:2001:db8::/64'],
    [{ principalId: '3f2a9c1e-0b7d-4e8a-9c51-2d6f0a4b8e13' }, '3f2a9c1e-0b7d-4e8a-9c51-2d6f0a4b8e13'],
    // Shaped like an API key id: only apiKeyId (written by API Gateway) names a key contain would disable.
    [{ principalId: 'a1b2c3d4e5' }, 'unverified:a1b2c3d4e5'],
    [{ apiKeyId: 'a1b2c3d4e5' }, 'a1b2c3d4e5'],
  ])('only a userArn is taken as an IAM ARN (%o)', (fields, principal) => {
    const line = apigwLine(fields);
    expect(asEvent(decodeLine(line, 'apigw-json')).principal).toBe(principal);
    expect(asEvent(decodeJsonLineSlow(line)).principal).toBe(principal);
  });

  it('a line giving a key it reads twice (a user agent broken out of its quotes) is unreadable, never read with the second value', () => {
    const line = apigwLine({ userAgent: 'UA' }).replace('"UA"', '"curl/8","ip":"203.0.113.50"');
    expect(JSON.parse(line).ip).toBe('203.0.113.50'); // what JSON.parse alone would take as the client
    expect(decodeLine(line, 'apigw-json')).toBe(Reason.duplicateKey);
    expect(decodeJsonLineSlow(line)).toBe(Reason.duplicateKey);
    // The key escaped (JSON.parse reads \u0069p as ip) is the same key.
    const escapedKey = apigwLine({ userAgent: 'UA' }).replace('"UA"', '"curl/8","\\u0069p":"203.0.113.50"');
    expect(JSON.parse(escapedKey).ip).toBe('203.0.113.50');
    expect(decodeLine(escapedKey, 'apigw-json')).toBe(Reason.duplicateKey);
    // The same text escaped, as JSON writes it inside a value, is only text.
    const escaped = apigwLine({ userAgent: 'curl/8","ip":"203.0.113.50' });
    expect(asEvent(decodeLine(escaped, 'apigw-json')).ip).not.toBe('203.0.113.50');
    // A read key's name inside a nested object is no second key: such a custom format is read.
    const nested = apigwLine({ identity: { sourceIp: '198.51.100.77', userAgent: 'inner' } });
    expect(asEvent(decodeLine(nested, 'apigw-json')).ip).toBe(JSON.parse(nested).ip);
  });

  it.each([
    ['::ffff:198.51.100.9', '198.51.100.9'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ])('normalises the client address %s to %s', (raw, ip) => {
    expect(asEvent(decodeLine(apigwLine({ ip: raw }), 'apigw-json')).ip).toBe(ip);
  });

  it('takes a requestTimeEpoch in seconds from custom formats as seconds', () => {
    expect(asEvent(decodeLine(apigwLine({ requestTimeEpoch: T / 1000 }), 'apigw-json')).time).toBe(T);
  });

  it('reads an HTTP API line with a routeKey instead of resourcePath', () => {
    const line = apigwLine({ resourcePath: undefined, routeKey: 'GET /items/{id}', httpMethod: '-', path: '/items/42' });
    const e = asEvent(decodeLine(line, 'apigw-json'));
    expect([e.method, e.resource, e.path]).toEqual(['GET', '/items/{id}', '/items/42']);
  });
});

describe('console JSON presets', () => {
  const rest = JSON.stringify({
    requestId: '6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11',
    ip: '198.51.100.23',
    caller: 'AIDACKCEVSQ6C2EXAMPLE',
    user: 'AIDACKCEVSQ6C2EXAMPLE',
    requestTime: T_CLF,
    httpMethod: 'POST',
    resourcePath: '/orders',
    status: '201',
    protocol: 'HTTP/1.1',
    responseLength: '88',
  });
  const http = JSON.stringify({
    requestId: 'Vh2cXFkJIAMEb3Q=',
    ip: '198.51.100.23',
    requestTime: '21/Nov/2026:12:30:00 +0230',
    httpMethod: 'GET',
    routeKey: 'GET /items/{id}',
    status: '404',
    protocol: 'HTTP/1.1',
    responseLength: '-',
  });

  it('reads the REST preset: requestTime as CLF text, status as a string, resourcePath as the path', () => {
    expect(asEvent(decodeLine(rest, 'console-json'))).toEqual({
      time: T,
      ip: '198.51.100.23',
      method: 'POST',
      path: '/orders',
      resource: '/orders',
      status: 201,
      bytes: 88,
      latencyMs: -1,
      userAgent: '',
      principal: 'AIDACKCEVSQ6C2EXAMPLE',
    });
  });

  it('reads the HTTP API preset with its routeKey and a zone offset', () => {
    const e = asEvent(decodeLine(http, 'console-json'));
    expect(e.time).toBe(T);
    expect([e.method, e.resource, e.path, e.status, e.bytes]).toEqual(['GET', '/items/{id}', '/items/{id}', 404, 0]);
  });

  it('is also read by decodeAnyLine', () => {
    expect(decodeAnyLine(rest)).toEqual(decodeLine(rest, 'console-json'));
  });
});

describe('JSON lines that are rejected', () => {
  it.each([
    ['truncated', apigwLine().slice(0, 140), Reason.truncatedJson],
    ['not JSON', '{"ip": 203.0.113.7 }', Reason.invalidJson],
    ['an array', '[1,2,3]', Reason.jsonNotObject],
    ['no client', apigwLine({ ip: '-' }), Reason.missingClient],
    ['a host name as client', apigwLine({ ip: 'evil.example.com' }), Reason.clientNotIp],
    ['two addresses as client', apigwLine({ ip: '203.0.113.7, 10.0.0.1' }), Reason.clientNotIp],
    ['status 600', apigwLine({ status: 600 }), Reason.badStatus],
    ['status 99', apigwLine({ status: '99' }), Reason.badStatus],
    ['status as hex text', apigwLine({ status: '0xC8' }), Reason.badStatus],
    ['no status', apigwLine({ status: '-' }), Reason.missingStatus],
    ['negative bytes', apigwLine({ responseLength: -5 }), Reason.badBytes],
    ['bytes above 1e12', apigwLine({ responseLength: 2e12 }), Reason.badBytes],
    ['bytes as an object', apigwLine({ responseLength: { n: 1 } }), Reason.badBytes],
    ['latency above a day', apigwLine({ responseLatency: 90_000_000 }), Reason.badLatency],
    ['negative latency text', apigwLine({ responseLatency: '-3' }), Reason.badLatency],
    ['year 1970', apigwLine({ requestTimeEpoch: 1000 }), Reason.timeOutOfRange],
    ['year 2200', apigwLine({ requestTimeEpoch: Date.UTC(2200, 0, 1) }), Reason.timeOutOfRange],
    ['no time', apigwLine({ requestTimeEpoch: '-' }), Reason.missingTime],
    ['an unreadable requestTime', apigwLine({ requestTimeEpoch: undefined, requestTime: '2026-11-21T10:00:00Z' }), Reason.missingTime],
  ])('%s', (_name, line, reason) => {
    expect(decodeLine(line, 'apigw-json')).toBe(reason);
  });
});
