import { describe, expect, it } from 'vitest';
import { Reason, decodeAnyLine, decodeLine } from '../../src/decode/index.ts';
import { T, T_CLF, asEvent } from './fixtures.ts';

describe('API Gateway CSV presets', () => {
  it('reads the REST preset (10 fields)', () => {
    const line = `198.51.100.23,AIDACKCEVSQ6C2EXAMPLE,AIDAUSEREXAMPLE,${T_CLF},DELETE,/items/{id},HTTP/1.1,403,61,6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`;
    expect(asEvent(decodeLine(line, 'console-csv'))).toEqual({
      time: T,
      ip: '198.51.100.23',
      method: 'DELETE',
      path: '/items/{id}',
      resource: '/items/{id}',
      status: 403,
      bytes: 61,
      latencyMs: -1,
      userAgent: '',
      principal: 'AIDACKCEVSQ6C2EXAMPLE',
    });
  });

  it('reads the REST preset with extendedRequestId (11 fields) and `-` identities', () => {
    const line = `198.51.100.23,-,-,${T_CLF},GET,/health,HTTP/1.1,200,-,6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11,Vh2cXFkJIAMEb3Q=`;
    const e = asEvent(decodeLine(line, 'console-csv'));
    expect([e.principal, e.bytes, e.path]).toEqual(['', 0, '/health']);
  });

  it('reads the HTTP API preset (8 fields, route key)', () => {
    const line = `2001:db8::7,${T_CLF},POST,POST /orders,HTTP/1.1,201,88,Vh2cXFkJIAMEb3Q=\r`;
    const e = asEvent(decodeAnyLine(line));
    expect([e.ip, e.method, e.resource, e.status, e.bytes]).toEqual(['2001:db8::7', 'POST', '/orders', 201, 88]);
  });

  it('rejects a line with the wrong number of fields', () => {
    expect(decodeLine(`198.51.100.23,${T_CLF},GET,200`, 'console-csv')).toBe(Reason.badCsv);
    expect(decodeLine(','.repeat(5000), 'console-csv')).toBe(Reason.badCsv);
  });
});

describe('API Gateway XML presets', () => {
  it('reads the REST preset', () => {
    const line =
      `<request id="6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11"> <ip>198.51.100.23</ip> <caller>-</caller> <user>AIDAUSEREXAMPLE</user> ` +
      `<requestTime>${T_CLF}</requestTime> <httpMethod>PUT</httpMethod> <resourcePath>/items/{id}</resourcePath> ` +
      `<status>500</status> <protocol>HTTP/1.1</protocol> <responseLength>34</responseLength> </request>`;
    expect(asEvent(decodeLine(line, 'console-xml'))).toEqual({
      time: T,
      ip: '198.51.100.23',
      method: 'PUT',
      path: '/items/{id}',
      resource: '/items/{id}',
      status: 500,
      bytes: 34,
      latencyMs: -1,
      userAgent: '',
      principal: 'AIDAUSEREXAMPLE',
    });
  });

  it('reads the HTTP API preset with a route key', () => {
    const line =
      `<request id="Vh2cXFkJIAMEb3Q="> <ip>::ffff:203.0.113.5</ip> <requestTime>${T_CLF}</requestTime> <httpMethod>GET</httpMethod> ` +
      `<routeKey>GET /items/{id}</routeKey> <status>200</status> <protocol>HTTP/1.1</protocol> <responseLength>-</responseLength> </request>`;
    const e = asEvent(decodeAnyLine(line));
    expect([e.ip, e.method, e.resource, e.bytes]).toEqual(['203.0.113.5', 'GET', '/items/{id}', 0]);
  });

  it('rejects an incomplete record', () => {
    expect(decodeLine(`<request id="x"> <ip>198.51.100.23</ip> <requestTime>${T_CLF}</requestTime>`, 'console-xml')).toBe(Reason.badXml);
    expect(decodeLine('<request id="x"> <ip>198.51.100.23</ip> </request>', 'console-xml')).toBe(Reason.badXml);
  });
});
