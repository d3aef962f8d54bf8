import type { ApiKeyPort, DenyListPort, IpSetPort, PolicyPort, TargetFailure } from '../ports.ts';
import { silentLogger, type Logger } from './observe.ts';

/**
 * Removing cordon (infra: `Custom::CordonTeardown`, functions/teardown.ts): every containment target brought to
 * "nothing blocked", through the same ports contain reconciles, so no block outlives the stack that would have expired
 * it (DESIGN §5: every decision expires on its own).
 *
 * - each IP set cordon owns (global and route sets) is emptied;
 * - each protected API's resource policy loses cordon's statements (the owner's stay as they were) and the stage is
 *   redeployed: what {@link PolicyPort.apply} does with an empty deny;
 * - the deny list is written empty;
 * - the API keys cordon disabled are re-enabled ({@link ApiKeyPort.apply} with nothing blocked: never a key someone
 *   else disabled or changed).
 *
 * Each target is released on its own: one failing never stops the others, and each failure is reported by name.
 */

export interface TeardownDeps {
  /** One port per IP set, so that one set failing does not keep the others blocking. */
  ipSets: { name: string; port: IpSetPort }[];
  policies: PolicyPort[];
  denyList?: DenyListPort;
  apiKeys?: ApiKeyPort;
  /**
   * The error of an IP set or a policy says it no longer exists (a deleted API, stage or IP set): nothing of cordon's
   * is left in it to release, so it is no failure. Default: no error means that.
   */
  isGone?: (err: unknown) => boolean;
  log?: Logger;
}

export interface ReleaseReport {
  /** Targets that hold nothing of cordon's now. */
  released: string[];
  /** Targets that no longer exist. */
  gone: string[];
  /** Targets that could not be released, and why. */
  failures: TargetFailure[];
  /** Keys cordon had disabled and re-enabled now. */
  reenabledKeys: string[];
  /** Keys cordon had disabled that it left disabled (someone else changed them since: theirs to turn back on). */
  keptDisabledKeys: { key: string; why: string }[];
}

export const DENY_LIST_TARGET = 'deny-list';
export const API_KEYS_TARGET = 'api-keys';
export const ipSetTarget = (name: string): string => `waf-ip-set ${name}`;
export const policyTarget = (p: PolicyPort, i: number): string => `policy ${p.name ?? i + 1}`;

const NOTHING = { principals: [], cidrs: [] };

/** One pass over every target with nothing desired. Idempotent: a second pass changes nothing and deploys nothing. */
export async function releaseAll(deps: TeardownDeps): Promise<ReleaseReport> {
  const log = deps.log ?? silentLogger;
  const report: ReleaseReport = { released: [], gone: [], failures: [], reenabledKeys: [], keptDisabledKeys: [] };
  const attempt = async (target: string, release: () => Promise<void>, mayBeGone = false): Promise<void> => {
    try {
      await release();
      report.released.push(target);
    } catch (err) {
      if (mayBeGone && deps.isGone?.(err)) {
        report.gone.push(target);
        log.info('teardown: target no longer exists', { target, error: describe(err) });
        return;
      }
      report.failures.push({ target, error: describe(err) });
      log.error('teardown: target not released', { target, error: describe(err) });
    }
  };

  for (const { name, port } of deps.ipSets) {
    await attempt(ipSetTarget(name), async () => {
      const r = await port.apply({ v4: [], v6: [], route: { v4: [], v6: [] } });
      if (r.changed) log.info('teardown: IP set emptied', { set: name });
    }, true);
  }
  for (const [i, policy] of deps.policies.entries()) {
    await attempt(policyTarget(policy, i), async () => {
      const r = await policy.apply(NOTHING);
      if (r.changed || r.deployed) log.info("teardown: cordon's statements removed", { api: policy.name, changed: r.changed, deployed: r.deployed });
    }, true);
  }
  if (deps.denyList) {
    const denyList = deps.denyList;
    await attempt(DENY_LIST_TARGET, async () => {
      await denyList.apply(NOTHING);
    });
  }
  if (deps.apiKeys) {
    const apiKeys = deps.apiKeys;
    await attempt(API_KEYS_TARGET, async () => {
      const r = await apiKeys.apply([]);
      report.reenabledKeys.push(...r.enabled);
      report.keptDisabledKeys.push(...r.skipped);
      if (r.enabled.length + r.skipped.length > 0) log.info('teardown: API keys', { reenabled: r.enabled.length, leftDisabled: r.skipped.length });
    });
  }
  return report;
}

export interface TeardownOptions {
  /**
   * How long a contain invocation already under way may still write after its triggers are gone (its timeout, plus how
   * long an event already queued for it may wait): the release is made again after that, in case it re-added a block.
   * 0: one pass only. A function is asked after the first pass (the time left then decides how long it can be).
   */
  settleMs: number | (() => number);
  sleep: (ms: number) => Promise<void>;
}

export interface TeardownReport extends ReleaseReport {
  /** Release passes made. */
  passes: number;
  /** How long it waited between them. */
  settledMs: number;
}

/**
 * Releases every target; after `settleMs`, releases them again (a contain run that was already under way when its
 * triggers were deleted may have re-added a block). The second pass decides what is reported: a target the first pass
 * could not release but the second could is released. A failure of the first pass that the second repeats is reported.
 */
export async function teardown(deps: TeardownDeps, opts: TeardownOptions): Promise<TeardownReport> {
  const log = deps.log ?? silentLogger;
  const first = await releaseAll(deps);
  log.info('teardown: first pass', { released: first.released.length, gone: first.gone.length, failed: first.failures.length });
  const settleMs = typeof opts.settleMs === 'function' ? opts.settleMs() : opts.settleMs;
  if (settleMs <= 0) return { ...first, passes: 1, settledMs: 0 };
  await opts.sleep(settleMs);
  const second = await releaseAll(deps);
  log.info('teardown: second pass', { released: second.released.length, gone: second.gone.length, failed: second.failures.length });
  return {
    ...second,
    reenabledKeys: [...first.reenabledKeys, ...second.reenabledKeys],
    keptDisabledKeys: [...first.keptDisabledKeys, ...second.keptDisabledKeys],
    passes: 2,
    settledMs: settleMs,
  };
}

/** The reason CloudFormation shows for a failed teardown: every target left holding blocks, by name. */
export function unreleasedMessage(report: ReleaseReport, maxChars = 3000): string {
  const parts = report.failures.map((f) => `${f.target} (${f.error})`);
  const text = `cordon teardown could not release ${report.failures.length} target(s), which may still block: ${parts.join('; ')}`;
  return text.length > maxChars ? `${text.slice(0, maxChars - 40)}… (full list in the function's log)` : text;
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string } | null;
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err)}`.slice(0, 300);
}
