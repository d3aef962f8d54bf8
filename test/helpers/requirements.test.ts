import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCI, onPath, requirement } from './requirements.ts';

describe('isCI', () => {
  it.each(['true', '1', 'yes', 'TRUE', ' true '])('CI=%j is CI', (value) => {
    expect(isCI(value)).toBe(true);
  });

  it.each([undefined, '', '  ', 'false', 'FALSE', '0'])('CI=%j is not', (value) => {
    expect(isCI(value)).toBe(false);
  });
});

describe('onPath', () => {
  it('finds an executable file in a PATH directory, and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cordon-path-'));
    try {
      writeFileSync(join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
      writeFileSync(join(dir, 'plain'), 'not executable', { mode: 0o644 });
      expect(onPath('tool', `/nonexistent:${dir}`)).toBe(true);
      expect(onPath('plain', dir)).toBe(false);
      expect(onPath('tool', '')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('requirement', () => {
  it('met: no reason', () => {
    expect(requirement('openssl', [], 'apt-get install -y openssl', true)).toMatchObject({ ok: true, missing: [], reason: '' });
  });

  it('missing: the reason names every missing thing and how to get it', () => {
    const r = requirement('shared data', ['../shared/data/a.log', '../shared/data/b.log'], 'put shared beside the repo', true);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('shared data: missing ../shared/data/a.log, ../shared/data/b.log (put shared beside the repo)');
  });
});
