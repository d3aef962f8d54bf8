import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfigFile, parseConfig } from '../src/config.ts';

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

  it('a file that is not JSON is a clear error naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-config-'));
    const path = join(dir, 'cordon.config.json');
    writeFileSync(path, '{ "windows": ');
    expect(() => loadConfigFile(path)).toThrow(/cordon\.config\.json: cannot read config/);
  });
});
