import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfigFile, parseConfig, withoutApiKeys } from '../src/config.ts';
import { RULES } from '../src/detect/rules/index.ts';

describe('config', () => {
  it('works without a file: every field has a default', () => {
    const c = defaultConfig();
    expect(c.windows.sizeSeconds).toBe(60);
    expect(c.thresholds.floodMinRequests).toBe(600);
    expect(c.expiry).toMatchObject({ baseMinutes: 60, multiplier: 4 });
    expect(c.dryRun).toBe(false);
  });

  it('keeps defaults for the fields a partial config leaves out', () => {
    const c = parseConfig({ thresholds: { authFailures: 50 } });
    expect(c.thresholds.authFailures).toBe(50);
    expect(c.thresholds.scanDistinct404).toBe(10);
  });

  it.each([
    [{ windows: { sizeSeconds: 'x' } }, 'windows.sizeSeconds'],
    [{ thresholds: { authFailures: -1 } }, 'thresholds.authFailures'],
    [{ rules: { flood: 'block-everything' } }, 'rules.flood'],
    [{ allowlist: { cidrs: ['10.0.0.0/33'] } }, 'allowlist.cidrs.0'],
    [{ hysteresis: { k: 4, n: 3 } }, 'hysteresis'],
    [{ blastRadiusShare: 2 }, 'blastRadiusShare'],
    [{ thresholds: { floodMinRequest: 5 } }, 'thresholds'],
  ])('rejects %j naming %s', (input, field) => {
    let err: unknown;
    try {
      parseConfig(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.path)).toContain(field);
    expect((err as Error).message).toContain(field);
  });

  it('takes a mode for every rule of the registry, and rejects a rule that is not there naming the valid ones', () => {
    const modes = Object.fromEntries(RULES.map((r) => [r.name, 'count']));
    expect(parseConfig({ rules: modes }).rules).toEqual(modes);
    let err: unknown;
    try {
      parseConfig({ rules: { flood: 'count', flod: 'off' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issue = (err as ConfigError).issues.find((i) => i.path === 'rules');
    expect(issue?.message).toContain('not a rule: "flod"');
    for (const r of RULES) expect(issue?.message).toContain(r.name);
    expect((err as Error).message).toContain('rules: not a rule: "flod" (the rules are flood, path-scan,');
  });

  it('keeps allowlist entries in the canonical form WAF, the policy and the allowlist read', () => {
    const c = parseConfig({ allowlist: { cidrs: [' 203.0.113.9', '[2001:db8::1]', '::ffff:198.51.100.7', '10.20.0.0/24'],
      principals: [' arn:aws:iam::123456789012:role/monitoring'] } });
    expect(c.allowlist).toEqual({ cidrs: ['203.0.113.9/32', '2001:db8::1/128', '198.51.100.7/32', '10.20.0.0/24'],
      principals: ['arn:aws:iam::123456789012:role/monitoring'] });
    expect(parseConfig(c).allowlist).toEqual(c.allowlist);
    // The mapped range read as IPv4 would be 0.0.0.0/0: an entry that named no client never comes to exempt all of IPv4.
    expect(() => parseConfig({ allowlist: { cidrs: ['::ffff:0:0/96'] } })).toThrow(/allowlist\.cidrs\.0: an IPv4-mapped block shorter than \/104/);
    expect(parseConfig({ allowlist: { cidrs: ['::ffff:10.0.0.0/104'] } }).allowlist.cidrs).toEqual(['10.0.0.0/8']);
  });

  it('block durations stay between a minute and a year (no block that never expires, no date past what can be written)', () => {
    for (const expiry of [{ maxMinutes: 1e12 }, { baseMinutes: 1e-9 }, { multiplier: 1e9 }, { lookbackDays: 1e9 }]) {
      expect(() => parseConfig({ expiry }), JSON.stringify(expiry)).toThrow(/expiry/);
    }
    expect(parseConfig({ expiry: { baseMinutes: 1, maxMinutes: 366 * 24 * 60 } }).expiry).toMatchObject({ baseMinutes: 1, maxMinutes: 527_040 });
    // A cap under the default base stays valid, as before: every block lasts the cap.
    expect(parseConfig({ expiry: { maxMinutes: 30 } }).expiry).toMatchObject({ baseMinutes: 60, maxMinutes: 30 });
  });

  it('a file that is not JSON is a clear error naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-config-'));
    const path = join(dir, 'cordon.config.json');
    writeFileSync(path, '{ "windows": ');
    expect(() => loadConfigFile(path)).toThrow(/cordon\.config\.json: cannot read config/);
  });
});

describe('withoutApiKeys: the local runners contain without the API-key target', () => {
  it('turns the target off and leaves everything else as configured; a config without it is returned as is', () => {
    const on = parseConfig({ apiKeys: { enabled: true }, denyList: { enabled: true } });
    const local = withoutApiKeys(on);
    expect(local.apiKeys.enabled).toBe(false);
    expect({ ...local, apiKeys: on.apiKeys }).toEqual(on);
    const off = parseConfig({});
    expect(withoutApiKeys(off)).toBe(off);
  });
});
