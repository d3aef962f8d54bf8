import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IpSetFiles } from '../../src/adapters/local/files.ts';
import { isLoginPath, LOGIN_MARKERS } from '../../src/features/login-path.ts';
import { LOGIN_PATH_REGEX, routeRule, routeRuleCapacity, wafApiJson } from '../../src/render/waf-route-rule.ts';

describe('the login-route rule (src/render/waf-route-rule.ts)', () => {
  const re = new RegExp(LOGIN_PATH_REGEX);

  it('its path regex matches exactly what cordon counts as a login path (lower-cased, as the rule transforms it)', () => {
    const paths = ['/prod/login', '/prod/Login', '/v1/oauth/token', '/wp-login.php', '/xmlrpc.php', '/api/sign-in', '/api/sign_in',
      '/users/me/password', '/prod/orders', '/prod/orders/42', '/health', '/', '/prod/accounts/9', '/prod/SESSION', '/log-in', '/signon'];
    for (const m of LOGIN_MARKERS) paths.push(`/x/${m}/y`, `/x/${m.toUpperCase()}`);
    for (const p of paths) expect(re.test(p.toLowerCase()), p).toBe(isLoginPath(p));
  });

  it('one set is referenced directly (WAF wants two statements in an OR), two through an OR; WCUs as documented', () => {
    const one = routeRule({ setArns: ['arn:a'], priority: 4 });
    expect(one.statement.andStatement.statements[0]).toEqual({ ipSetReferenceStatement: { arn: 'arn:a' } });
    const two = routeRule({ setArns: ['arn:a', 'arn:b'], priority: 4 });
    expect(two.statement.andStatement.statements[0]).toEqual({ orStatement: { statements: [
      { ipSetReferenceStatement: { arn: 'arn:a' } }, { ipSetReferenceStatement: { arn: 'arn:b' } }] } });
    expect(() => routeRule({ setArns: [], priority: 0 })).toThrow(RangeError);
    expect(routeRuleCapacity(2)).toBe(27);
  });

  it("in the WAF API's JSON: PascalCase, ARN and IPSetReferenceStatement spelled as WAF spells them", () => {
    const api = wafApiJson(routeRule({ setArns: ['arn:a'], priority: 0 })) as { Statement: { AndStatement: { Statements: object[] } } };
    expect(api.Statement.AndStatement.Statements[0]).toEqual({ IPSetReferenceStatement: { ARN: 'arn:a' } });
    expect(JSON.stringify(api)).not.toMatch(/"[a-z]\w*":/);
  });
});

describe('IpSetFiles: the route sets locally', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const files = (routeScoped: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-route-files-'));
    dirs.push(dir);
    return { dir, sets: new IpSetFiles(dir, { namePrefix: 'cordon', addressesPerSet: 2, maxSetsPerFamily: 1, routeScoped }) };
  };
  const read = (dir: string, f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { Name: string; Addresses: string[] }[];

  it('on: the route sets are written apart from the global ones, with the same limit; the overflow is reported', () => {
    const { dir, sets } = files(true);
    const r = sets.applySync({ v4: ['192.0.2.9'], v6: [], route: { v4: ['198.51.100.1', '198.51.100.3', '198.51.100.5'], v6: [] } });
    expect(read(dir, 'waf-ipset-v4.json')[0].Addresses).toEqual(['192.0.2.9/32']);
    expect(read(dir, 'waf-ipset-route-v4.json')).toEqual([expect.objectContaining({ Name: 'cordon-route-v4-0', Addresses: ['198.51.100.1/32', '198.51.100.3/32'] })]);
    expect(r.overflow).toEqual(['198.51.100.5/32']);
    expect(r.sets.filter((s) => s.route).map((s) => s.name)).toEqual(['cordon-route-v4-0', 'cordon-route-v6-0']);
  });

  it('off: route addresses have no set (overflow), and no route file is written', () => {
    const { dir, sets } = files(false);
    const r = sets.applySync({ v4: [], v6: [], route: { v4: ['198.51.100.1'], v6: [] } });
    expect(r.overflow).toEqual(['198.51.100.1/32']);
    expect(() => readFileSync(join(dir, 'waf-ipset-route-v4.json'))).toThrow();
  });
});
