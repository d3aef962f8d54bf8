import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CachedBaselines } from '../../src/adapters/local/cached-baselines.ts';
import { SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { KeyState } from '../../src/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'cordon-cached-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const state = (lastWindow: number): KeyState => ({ reqMean: 1, reqVar: 0.5, bytesMean: 6, bytesVar: 1, ipsMean: 1, windows: 3, flags: 0, lastWindow });

describe('replay: baselines cached over SQLite', () => {
  it('asks SQLite once for a key it does not hold, and finds the key again once it has been written', async () => {
    const sqlite = new SqliteState(join(dir, 'state.sqlite'));
    try {
      sqlite.putBaselinesSync([['ip:192.0.2.1', state(0)]]);
      const asked: string[] = [];
      const get = sqlite.getBaselineSync.bind(sqlite);
      sqlite.getBaselineSync = (key: string) => { asked.push(key); return get(key); };
      const cache = new CachedBaselines(sqlite, 60_000);
      for (let w = 0; w < 3; w++) await cache.getMany(['ip:192.0.2.1', 'ip:192.0.2.2']);
      expect(asked).toEqual(['ip:192.0.2.1', 'ip:192.0.2.2']);
      // 192.0.2.2 learns, goes idle (written to SQLite, dropped from memory), and is read back from SQLite.
      await cache.putMany(new Map([['ip:192.0.2.2', state(1_000)]]));
      expect(cache.evictIdle(10 * 60_000)).toBe(2);
      const back = await cache.getMany(['ip:192.0.2.2']);
      expect(back.get('ip:192.0.2.2')).toEqual(state(1_000));
      expect(asked).toEqual(['ip:192.0.2.1', 'ip:192.0.2.2', 'ip:192.0.2.2']);
    } finally {
      sqlite.close();
    }
  });

  it('asks a store that started empty only for the keys it has written since', async () => {
    const sqlite = new SqliteState(join(dir, 'empty.sqlite'));
    try {
      const asked: string[] = [];
      const get = sqlite.getBaselineSync.bind(sqlite);
      sqlite.getBaselineSync = (key: string) => { asked.push(key); return get(key); };
      const cache = new CachedBaselines(sqlite, 60_000);
      await cache.putMany(new Map([['ip:192.0.2.1', state(1_000)]]));
      expect(cache.evictIdle(10 * 60_000)).toBe(1);
      // Written once (so the store now holds baselines), but not these one-off visitors.
      for (let w = 0; w < 3; w++) expect((await cache.getMany(['ip:192.0.2.7', 'ip:192.0.2.8'])).size).toBe(0);
      expect(asked).toEqual([]);
      const back = await cache.getMany(['ip:192.0.2.1', 'ip:192.0.2.7']);
      expect(back.get('ip:192.0.2.1')).toEqual(state(1_000));
      expect(asked).toEqual(['ip:192.0.2.1']);
    } finally {
      sqlite.close();
    }
  });
});
