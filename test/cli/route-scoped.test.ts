import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * End to end, as a user runs it: simulated API Gateway traffic with a credential stuffer (and scanners, floods), replayed
 * with `waf.routeScoped` on and off. On, the stuffer (only POSTs to /login) is in the route set and the rule that holds
 * it is written; off, it is in the global set as before.
 */

const BIN = resolve('bin/cordon');
const dir = mkdtempSync(join(tmpdir(), 'cordon-route-'));
const traffic = join(dir, 'traffic.log');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cordon(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const json = (folder: string, file: string) => JSON.parse(readFileSync(join(folder, file), 'utf8'));
const addresses = (folder: string, file: string) => (json(folder, file) as { Addresses: string[] }[]).flatMap((s) => s.Addresses);

let stuffer: string;
let scanners: string[];

beforeAll(() => {
  const sim = cordon('simulate', '--scenario', 'mixed', '--minutes', '30', '--seed', '1', '--format', 'apigw-json', '--out', traffic);
  expect(sim.code, sim.stderr).toBe(0);
  const labels = JSON.parse(readFileSync(`${traffic}.labels.json`, 'utf8')) as { attackers: { kind: string; ips: string[] }[] };
  stuffer = labels.attackers.find((a) => a.kind === 'credential-stuffing')!.ips[0];
  scanners = labels.attackers.filter((a) => a.kind === 'scanner').flatMap((a) => a.ips);
  expect(stuffer).toBeTruthy();
  expect(scanners.length).toBeGreaterThan(0);
}, 120_000);

describe('replay with waf.routeScoped', () => {
  it('on: the credential stuffer is in the route set, not the global one, nor the policy; scanners stay in the global set', () => {
    const out = join(dir, 'on');
    const config = join(dir, 'on.json');
    writeFileSync(config, JSON.stringify({ waf: { routeScoped: { enabled: true } } }));
    const r = cordon('replay', traffic, '--out', out, '--config', config);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('waf-route-rule.json');
    expect(r.stdout).toMatch(new RegExp(`BLOCK\\s+${stuffer.replace(/\./g, '\\.')}\\s.*\\[login route only\\]`));

    expect(addresses(out, 'waf-ipset-route-v4.json')).toContain(`${stuffer}/32`);
    expect(addresses(out, 'waf-ipset-v4.json')).not.toContain(`${stuffer}/32`);
    expect(readFileSync(join(out, 'resource-policy.json'), 'utf8')).not.toContain(stuffer);
    for (const ip of scanners) {
      expect(addresses(out, 'waf-ipset-v4.json'), ip).toContain(`${ip}/32`);
      expect(addresses(out, 'waf-ipset-route-v4.json'), ip).not.toContain(`${ip}/32`);
    }
    const decision = readFileSync(join(out, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      .find((d) => d.target === stuffer && d.action === 'block');
    expect(decision.evidence.scope).toEqual({ route: 'login' });

    // The rule that holds the route sets: both of them, POST only, the login paths.
    const rule = json(out, 'waf-route-rule.json');
    expect(rule).toMatchObject({ Name: 'cordon-block-login-route', Action: { Block: {} } });
    const [sets, method, path] = rule.Statement.AndStatement.Statements;
    expect(sets.OrStatement.Statements.map((s: { IPSetReferenceStatement: { ARN: string } }) => s.IPSetReferenceStatement.ARN))
      .toEqual([expect.stringContaining('/cordon-route-v4-0/'), expect.stringContaining('/cordon-route-v6-0/')]);
    expect(method.ByteMatchStatement).toMatchObject({ FieldToMatch: { Method: {} }, PositionalConstraint: 'EXACTLY', SearchString: 'POST' });
    expect(new RegExp(path.RegexMatchStatement.RegexString).test('/prod/login')).toBe(true);
    expect(json(out, 'summary.json').outputs['waf-route-rule.json']).toBe(join(out, 'waf-route-rule.json'));

    const explained = cordon('explain', stuffer, '--out', out);
    expect(explained.stdout).toContain('scope: the login route only');
  }, 120_000);

  it('off (the default): the same stuffer is in the global set, and no route file is written', () => {
    const out = join(dir, 'off');
    const r = cordon('replay', traffic, '--out', out, '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(addresses(out, 'waf-ipset-v4.json')).toContain(`${stuffer}/32`);
    for (const f of ['waf-ipset-route-v4.json', 'waf-ipset-route-v6.json', 'waf-route-rule.json']) expect(existsSync(join(out, f)), f).toBe(false);
    expect(r.stdout).not.toContain('waf-route-rule.json');
  }, 120_000);
});
