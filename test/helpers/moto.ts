import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { tool } from './requirements.ts';

/**
 * One `moto_server` per test file, on a free port of 127.0.0.1. Tests talk to it over the real wire protocol
 * with real SDK clients built from {@link MotoServer.clientConfig}. Without moto_server on PATH, suites skip with the
 * reason in their name locally and fail in CI (any non-empty `CI` but `false`/`0`; see requirements.ts).
 */
export const motoRequirement = tool('moto_server', 'pip install "moto[server]"');

export const motoAvailable = motoRequirement.ok;

/**
 * `describe` for a suite that needs moto_server: skips without it (the reason in the suite's name), fails in CI.
 * Put only the tests that talk to moto in it: tests that do not need the emulator belong outside, so they always run.
 */
export const describeMoto = (name: string, fn: () => void): void => motoRequirement.describe(name, fn);

export const TEST_REGION = 'us-east-1';
export const TEST_ACCOUNT = '123456789012';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface MotoServer {
  readonly endpoint: string;
  /** SDK client config pointing at this server: region us-east-1, dummy credentials, the endpoint. */
  clientConfig(): { region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** Clears every service's state (`POST /moto-api/reset`). */
  reset(): Promise<void>;
}

class RunningMoto implements MotoServer {
  private proc: ChildProcess | undefined;
  private stderrTail = '';
  endpoint = '';

  async start(): Promise<void> {
    for (let tries = 0; ; tries++) {
      const port = await freePort();
      this.endpoint = `http://127.0.0.1:${port}`;
      this.proc = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, PYTHONUNBUFFERED: '1' },
      });
      this.proc.stderr?.on('data', (chunk: Buffer) => {
        this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000);
      });
      if (await this.waitReady(15_000)) return;
      this.stop();
      // Another process may have taken the port between our probe and moto's bind: try another.
      if (tries >= 2) throw new Error(`moto_server did not start: ${this.stderrTail}`);
    }
  }

  private async waitReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc?.exitCode !== null) return false;
      try {
        const res = await fetch(`${this.endpoint}/moto-api/reset`, { method: 'POST' });
        if (res.ok) return true;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  clientConfig() {
    return { region: TEST_REGION, endpoint: this.endpoint, credentials: { ...CREDENTIALS } };
  }

  async reset(): Promise<void> {
    const res = await fetch(`${this.endpoint}/moto-api/reset`, { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
  }

  stop(): void {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGTERM');
    this.proc = undefined;
  }
}

/**
 * Registers beforeAll/afterAll that start and stop a moto_server for the calling test file. Use the returned
 * object inside tests (its endpoint is set once beforeAll has run).
 */
export function useMoto(): MotoServer {
  const moto = new RunningMoto();
  beforeAll(async () => {
    await moto.start();
  }, 30_000);
  afterAll(() => {
    moto.stop();
  });
  return moto;
}
