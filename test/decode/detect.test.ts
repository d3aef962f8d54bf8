import { describe, expect, it } from 'vitest';
import { detectLineFormat } from '../../src/decode/index.ts';
import { T_CLF, apigwLine, cwlEnvelope, cwlRecordData, lambdaRecordLine } from './fixtures.ts';

const clfPreset = `198.51.100.23 - - [${T_CLF}] "GET /items/{id} HTTP/1.1" 200 512 6d4c6b7e-2f7a-4a59-9c0e-3f4f1b2a9c11`;
const combined = `198.51.100.23 - - [${T_CLF}] "GET /items/42 HTTP/1.1" 200 512 "-" "curl/8.5.0"`;

describe('detectLineFormat', () => {
  it.each([
    ['apigw-json', [apigwLine(), apigwLine().replace('"responseLength":512', '"responseLength":-')]],
    ['console-json', [JSON.stringify({ requestId: 'r', ip: '198.51.100.23', requestTime: T_CLF, httpMethod: 'GET', resourcePath: '/', status: '200', responseLength: '1' })]],
    ['console-clf', [clfPreset]],
    ['combined', [combined, `198.51.100.23 - - [${T_CLF}] "GET / HTTP/1.0" 200 2326`]],
    ['combined', [`"${combined}"\r`]],
    ['console-csv', [`198.51.100.23,-,-,${T_CLF},GET,/health,HTTP/1.1,200,2,6d4c6b7e`]],
    ['console-xml', [`<request id="x"> <ip>198.51.100.23</ip> <requestTime>${T_CLF}</requestTime> <httpMethod>GET</httpMethod> <resourcePath>/</resourcePath> <status>200</status> <responseLength>1</responseLength> </request>`]],
    ['kinesis-records', [lambdaRecordLine(cwlRecordData(cwlEnvelope([apigwLine()])))]],
    ['kinesis-records', [JSON.stringify({ data: cwlRecordData(cwlEnvelope([apigwLine()])) })]],
  ])('detects %s', (format, lines) => {
    expect(detectLineFormat(lines)).toBe(format);
  });

  it('lets the majority win over an odd or corrupt first line, and skips blank lines', () => {
    expect(detectLineFormat(['', '{"truncated', combined, combined, '   '])).toBe('combined');
  });

  it('returns null when no line is readable in any format', () => {
    expect(detectLineFormat([])).toBeNull();
    expect(detectLineFormat(['GET http://localhost:8080/tienda1/index.jsp HTTP/1.1', 'Host: localhost:8080'])).toBeNull();
    expect(detectLineFormat(['2015-02-15 05:11AM|&|0b3a0a4591c506cfecc8d53de6df54b52a68c9a3|&|ASTGTM|&|200|&|57752'])).toBeNull();
  });
});
