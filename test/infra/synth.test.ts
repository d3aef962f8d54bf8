import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonProps } from '../../infra/props.ts';
import { requirement } from '../helpers/requirements.ts';
import { FULL_PROPS, WEB_ACL_ARN, synth, type Json } from './fixtures.ts';

/**
 * The synthesized templates as CloudFormation sees them: `cfn-lint` on them, the app itself synthesized offline
 * from cdk.json (no AWS credentials, no lookups), and the four Lambda bundles built by local esbuild.
 */

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dirs: string[] = [];
const tempDir = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `cordon-${name}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Skipped (visibly) without cfn-lint locally; a failure in CI. */
const cfnLint = requirement(
  'cfn-lint',
  spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0 ? [] : ['a runnable cfn-lint on PATH'],
  'pip install cfn-lint',
);

/**
 * Runs a command without blocking the test worker (a long spawnSync starves vitest's own RPC). Resolves with the exit
 * status and the output whatever the status.
 */
async function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const { timeoutMs = 120_000, ...rest } = opts;
    const { stdout, stderr } = await promisify(execFile)(file, args, { ...rest, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
    return { status: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { status: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/**
 * cfn-lint's exit code is a bit mask: 2 error, 4 warning, 8 informational (32 = cfn-lint itself failed); only
 * informational findings are accepted.
 */
async function expectLintClean(template: string): Promise<void> {
  const { status, stdout, stderr } = await run('cfn-lint', ['--format', 'parseable', '--', template]);
  expect(status & ~8, `${stdout}${stderr}`).toBe(0);
}

/** The full deployment, synthesized once with real bundling: its bundles and its template are checked below. */
let bundled: { outdir: string; templateFile: string; artifactId: string };

beforeAll(async () => {
  const outdir = tempDir('full');
  // In a child process (test/infra/synth-bundled.ts): five esbuild runs would block this worker for minutes.
  const r = await run(process.execPath, ['--import', 'tsx', join(REPO, 'test/infra/synth-bundled.ts'), outdir], {
    cwd: REPO,
    timeoutMs: 280_000,
  });
  if (r.status !== 0) throw new Error(`bundled synth failed:\n${r.stdout}\n${r.stderr}`);
  const line = /^SYNTHESIZED (.+)$/m.exec(r.stdout)?.[1];
  if (!line) throw new Error(`bundled synth printed no result:\n${r.stdout}\n${r.stderr}`);
  const { templateFile, artifactId } = JSON.parse(line) as { templateFile: string; artifactId: string };
  bundled = { outdir, templateFile: join(outdir, templateFile), artifactId };
}, 300_000);

cfnLint.describe('cfn-lint', () => {
  it('the full template lints clean', async () => {
    await expectLintClean(bundled.templateFile);
  }, 180_000);

  it('the attach-mode template lints clean', async () => {
    const outdir = tempDir('attach');
    const { app, stack } = synth(
      { existingWebAclArn: WEB_ACL_ARN, restApis: [{ restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'g' }] },
      { outdir },
    );
    app.synth();
    await expectLintClean(join(outdir, stack.templateFile));
  }, 180_000); // a synth and a lint, on a busy machine

  it("the templates with 'use-rule-group' stages (some, and all of them) lint clean", async () => {
    const variants: [string, CordonProps][] = [
      ['mixed', { ...FULL_PROPS, restApis: [FULL_PROPS.restApis[0], { ...FULL_PROPS.restApis[1], existingWebAcl: 'use-rule-group' }] }],
      ['all-rule-group', { ...FULL_PROPS, existingWebAcl: 'use-rule-group' }],
      ['log-groups-only', { logGroupNames: ['/aws/http-api/orders'] }],
    ];
    for (const [name, props] of variants) {
      await new Promise((r) => setImmediate(r)); // each synth blocks for seconds: let vitest's messages through
      const outdir = tempDir(name);
      const { app, stack } = synth(props, { outdir });
      app.synth();
      await expectLintClean(join(outdir, stack.templateFile));
    }
  }, 180_000);

  it('the template the app synthesizes from cdk.json lints clean', async () => {
    const { outdir, ...r } = await synthApp(); // below
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    await expectLintClean(join(outdir, 'Cordon.template.json'));
  }, 180_000); // the app's synth, when this test asks for it first, and the lint
});

/**
 * The app synthesized offline from cdk.json, once, by whichever test asks first (the app test and the cfn-lint of
 * its template): each test asks for it itself, so neither depends on the other having run.
 */
let appSynth: Promise<{ outdir: string; status: number; stdout: string; stderr: string }> | undefined;
function synthApp() {
  appSynth ??= (async () => {
    const outdir = tempDir('app');
    const cdkJson = JSON.parse(readFileSync(join(REPO, 'cdk.json'), 'utf8'));
    // The CLI passes cdk.json context to the app this way; bundling is left to the bundling test below.
    const context = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && k !== 'CDK_DEFAULT_ACCOUNT'));
    const r = await run(process.execPath, ['--import', 'tsx', join(REPO, 'infra/app.ts')], {
      cwd: REPO,
      env: { ...env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
    });
    return { outdir, ...r };
  })();
  return appSynth;
}

describe('the CDK app (infra/app.ts with cdk.json)', () => {
  it('synthesizes offline with the cdk.json defaults: no credentials, no lookups, cdk-nag clean', async () => {
    const { outdir, ...r } = await synthApp();
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    const stack = manifest.artifacts.Cordon as Json;
    expect(stack.type).toBe('aws:cloudformation:stack');
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
    expect(manifest.missing ?? []).toEqual([]); // no context lookups
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
    const violations = (report.pluginReports ?? []).flatMap((p: Json) => p.violations ?? []);
    expect(violations).toEqual([]);
    const template = JSON.parse(readFileSync(join(outdir, 'Cordon.template.json'), 'utf8'));
    // cdk.json starts in dry run: nothing is blocked until the operator turns it off.
    const contain = Object.values(template.Resources as Record<string, Json>).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.WAF_SCOPE,
    );
    expect(contain?.Properties.Environment.Variables.DRY_RUN).toBe('true');
  }, 120_000);

  it('a bad context value stops the synth with the key named', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', join(REPO, 'infra/app.ts')], {
      cwd: REPO,
      env: { ...process.env, CDK_OUTDIR: tempDir('bad'), CDK_CONTEXT_JSON: JSON.stringify({ ipSetsPerFamily: '30' }) },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cdk context .*invalid value\n\s+ipSetsPerFamily: at most 25/s);
  });
});

describe('bundling (local esbuild, no Docker)', () => {
  it('bundles the six functions (the four stages, the deploy guard and the teardown) into minified ESM with the createRequire banner and a source map', () => {
    const { outdir } = bundled;
    const template = JSON.parse(readFileSync(bundled.templateFile, 'utf8'));
    const assets = JSON.parse(readFileSync(join(outdir, `${bundled.artifactId}.assets.json`), 'utf8')).files as Json;
    const fns = Object.entries(template.Resources as Record<string, Json>).filter(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('Cordon'),
    );
    expect(fns.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'CordonContain',
      'CordonDeployGuard',
      'CordonDetect',
      'CordonIngest',
      'CordonNotifySlack',
      'CordonTeardownHandler',
    ]);
    for (const [id, fn] of fns) {
      const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
      const asset = join(outdir, assets[hash].source.path);
      expect(existsSync(asset), id).toBe(true);
      const files = readdirSync(asset).sort();
      expect(files, id).toEqual(['index.mjs', 'index.mjs.map']);
      const code = readFileSync(join(asset, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire as __cordonCreateRequire } from 'node:module';"), id).toBe(true);
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      // Minified: long lines (the few line breaks left are inside template literals).
      expect(code.length / code.split('\n').length, `${id} is minified`).toBeGreaterThan(2000);
      expect(code).not.toContain('better-sqlite3');
    }
  });
});
