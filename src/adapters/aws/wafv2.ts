import {
  GetIPSetCommand,
  UpdateIPSetCommand,
  type GetIPSetCommandOutput,
  type Scope,
  type WAFV2Client,
} from '@aws-sdk/client-wafv2';
import { canonicalCidr } from '../../net/cidr.ts';
import type { IpSetApplyResult, IpSetDesired, IpSetPort } from '../../ports.ts';
import { planIpSets, WAF_MAX_ADDRESSES_PER_SET } from '../../render/waf-ipset.ts';
import {
  AdapterConfigError,
  AwsRejectedError,
  RetriesExhaustedError,
  WafInvalidParameterError,
  WafLimitsExceededError,
} from './errors.ts';
import { awsErrorName, backoffDelay, isThrottling, isTransient, realSleep, type Sleep } from './retry.ts';

type Family = 'v4' | 'v6';

/** One IP set cordon owns, as created by the infrastructure. */
export interface OwnedIpSet {
  name: string;
  id: string;
}

import { WritePacer } from './write-pacer.ts';

export { WritePacer };

/** The module-scope pacer used when none is given: one writer per process. */
export const sharedWafWritePacer = new WritePacer(1_000);

export interface WafIpSetAdapterOptions {
  /** REGIONAL (REST APIs) unless cordon protects a CloudFront distribution. */
  scope?: Scope;
  /** The sets cordon owns, per family, in order: set i holds the i-th slice of the sorted addresses. */
  sets: { v4: OwnedIpSet[]; v6: OwnedIpSet[] };
  /**
   * The route IP sets cordon owns (config `waf.routeScoped`), which its login-route rule references: they hold
   * `desired.route`, with the same per-set limit. Without them, route-scoped blocks are reported as overflow.
   */
  routeSets?: { v4: OwnedIpSet[]; v6: OwnedIpSet[] };
  /** Used only for the planner's set names; the names above are what is written. Default `cordon`. */
  namePrefix?: string;
  /** Addresses per set, 1..10,000. Default 10,000. */
  addressesPerSet?: number;
  pacer?: WritePacer;
  /** Get → Update attempts per set (lock conflicts, unavailable entity, throttling). Default 8. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: Sleep;
  random?: () => number;
}

export interface WafApplyResult extends IpSetApplyResult {
  /** Canonical blocks that did not fit into the owned sets (alert on these: they are not blocked). */
  overflow: string[];
  /** Entries that are not valid blocks for WAF (not addresses, or /0); never written. */
  rejected: string[];
  /** UpdateIPSet calls that succeeded. */
  writes: number;
}

interface Target {
  family: Family;
  /** A route IP set (config waf.routeScoped). */
  route: boolean;
  set: OwnedIpSet;
  desired: string[];
  current?: GetIPSetCommandOutput;
}

/**
 * {@link IpSetPort} over WAFv2 IP sets that cordon owns (and only those: it is given their names and ids and never
 * lists or touches any other set).
 *
 * apply: plan the desired addresses into the owned sets ({@link planIpSets}: sorted, deterministic slices), then
 * per set GetIPSet (content + LockToken) → compare → if different, a full-replace UpdateIPSet with that LockToken.
 * Unchanged sets are not written (apply is idempotent), so a drifted set is put back and nothing else happens.
 * - WAFOptimisticLockException (someone wrote in between): get again, compare again, retry with jittered backoff.
 * - WAFUnavailableEntityException (just created), throttling and 5xx: retried with backoff.
 * - WAFLimitsExceededException / WAFInvalidParameterException: thrown as {@link WafLimitsExceededError} /
 *   {@link WafInvalidParameterError} naming the set. Retries exhausted: {@link RetriesExhaustedError}.
 * - Every UpdateIPSet waits for the {@link WritePacer} (≤ 1 write/s by default).
 * - Sets gaining addresses are written before sets only losing some, so an address moving between sets is never
 *   left out in between.
 */
export class WafIpSetAdapter implements IpSetPort {
  private readonly scope: Scope;
  private readonly sets: { v4: OwnedIpSet[]; v6: OwnedIpSet[] };
  private readonly routeSets: { v4: OwnedIpSet[]; v6: OwnedIpSet[] };
  private readonly namePrefix: string;
  private readonly addressesPerSet: number;
  private readonly pacer: WritePacer;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;

  constructor(
    private readonly client: WAFV2Client,
    opts: WafIpSetAdapterOptions,
  ) {
    this.scope = opts.scope ?? 'REGIONAL';
    this.sets = { v4: [...opts.sets.v4], v6: [...opts.sets.v6] };
    this.routeSets = { v4: [...(opts.routeSets?.v4 ?? [])], v6: [...(opts.routeSets?.v6 ?? [])] };
    this.namePrefix = opts.namePrefix ?? 'cordon';
    this.addressesPerSet = opts.addressesPerSet ?? WAF_MAX_ADDRESSES_PER_SET;
    this.pacer = opts.pacer ?? sharedWafWritePacer;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.baseDelayMs = opts.baseDelayMs ?? 200;
    this.maxDelayMs = opts.maxDelayMs ?? 5_000;
    this.sleep = opts.sleep ?? realSleep;
    this.random = opts.random ?? Math.random;
    if (this.sets.v4.length + this.sets.v6.length === 0) throw new AdapterConfigError('WafIpSetAdapter needs at least one owned IP set');
    const all = [...this.sets.v4, ...this.sets.v6, ...this.routeSets.v4, ...this.routeSets.v6];
    if (new Set(all.map((s) => s.id)).size !== all.length) throw new AdapterConfigError('owned IP sets must have distinct ids');
    try {
      // Fails now, not at the first apply, on a bad name prefix or set size.
      planIpSets({ v4: [], v6: [] }, { namePrefix: this.namePrefix, addressesPerSet: this.addressesPerSet, maxSetsPerFamily: 1 });
    } catch (err) {
      throw new AdapterConfigError(`WafIpSetAdapter: ${(err as Error).message}`, { cause: err });
    }
  }

  async read(): Promise<IpSetDesired> {
    const out: IpSetDesired = await this.readGroup(this.sets);
    if (this.routeSets.v4.length + this.routeSets.v6.length > 0) out.route = await this.readGroup(this.routeSets);
    return out;
  }

  private async readGroup(sets: { v4: OwnedIpSet[]; v6: OwnedIpSet[] }): Promise<{ v4: string[]; v6: string[] }> {
    const out = { v4: [] as string[], v6: [] as string[] };
    for (const family of ['v4', 'v6'] as const) {
      for (const set of sets[family]) {
        const res = await this.get(set);
        out[family].push(...(res.IPSet?.Addresses ?? []));
      }
      out[family].sort();
    }
    return out;
  }

  async apply(desired: IpSetDesired): Promise<WafApplyResult> {
    const { targets, overflow, rejected } = this.plan(desired);
    // Read everything first, so that sets gaining addresses can be written before sets losing them.
    for (const t of targets) t.current = await this.get(t.set);
    const gains = (t: Target) => {
      const cur = new Set((t.current?.IPSet?.Addresses ?? []).map(canon));
      return t.desired.some((a) => !cur.has(canon(a)));
    };
    const ordered = [...targets.filter(gains), ...targets.filter((t) => !gains(t))];
    let writes = 0;
    for (const t of ordered) if (await this.sync(t)) writes++;
    return {
      changed: writes > 0,
      writes,
      sets: targets.map((t) => ({ name: t.set.name, family: t.family, addresses: t.desired.length, ...(t.route ? { route: true } : {}) })),
      overflow,
      rejected,
    };
  }

  /**
   * Desired addresses per owned set; a family's blocks beyond its sets' room go to overflow. The route sets are
   * planned apart from the global ones, from `desired.route`, with the same limits.
   */
  private plan(desired: IpSetDesired): { targets: Target[]; overflow: string[]; rejected: string[] } {
    const targets: Target[] = [];
    const overflow: string[] = [];
    const rejected: string[] = [];
    const groups = [
      { route: false, owned: this.sets, want: desired, namePrefix: this.namePrefix },
      { route: true, owned: this.routeSets, want: desired.route ?? { v4: [], v6: [] }, namePrefix: `${this.namePrefix.slice(0, 114)}-route` },
    ];
    for (const g of groups) {
      let groupRejected: string[] = [];
      for (const family of ['v4', 'v6'] as const) {
        const owned = g.owned[family];
        const plan = planIpSets(g.want, {
          namePrefix: g.namePrefix,
          addressesPerSet: this.addressesPerSet,
          maxSetsPerFamily: Math.max(1, owned.length),
        });
        groupRejected = plan.rejected;
        const isFamily = (a: string) => (family === 'v6') === a.includes(':');
        overflow.push(...plan.overflow.filter(isFamily));
        const payloads = plan[family];
        if (owned.length === 0) {
          for (const p of payloads) overflow.push(...p.Addresses);
          continue;
        }
        owned.forEach((set, i) => targets.push({ family, route: g.route, set, desired: payloads[i]?.Addresses ?? [] }));
      }
      rejected.push(...groupRejected);
    }
    return { targets, overflow: overflow.sort(), rejected };
  }

  private async get(set: OwnedIpSet): Promise<GetIPSetCommandOutput> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.send(new GetIPSetCommand({ Name: set.name, Id: set.id, Scope: this.scope }));
      } catch (err) {
        if (awsErrorName(err) === 'WAFNonexistentItemException') {
          throw new AwsRejectedError(`IP set ${set.name} (${set.id}) does not exist in ${this.scope}`, 'wafv2', 'GetIPSet', { set: set.name, id: set.id }, { cause: err });
        }
        await this.backoffOrThrow(err, attempt, 'GetIPSet', set);
      }
    }
  }

  /** Brings one set to its desired addresses; true if it wrote. */
  private async sync(t: Target): Promise<boolean> {
    const want = new Set(t.desired.map(canon));
    for (let attempt = 0; ; attempt++) {
      const current = t.current ?? (await this.get(t.set));
      t.current = undefined; // a retry reads again: the LockToken and content may have moved on
      const have = (current.IPSet?.Addresses ?? []).map(canon);
      if (have.length === want.size && new Set(have).size === want.size && have.every((a) => want.has(a))) return false;
      if (!current.LockToken) {
        throw new AwsRejectedError(`GetIPSet ${t.set.name} returned no LockToken`, 'wafv2', 'GetIPSet', { set: t.set.name });
      }
      await this.pacer.wait();
      try {
        await this.client.send(
          new UpdateIPSetCommand({
            Name: t.set.name,
            Id: t.set.id,
            Scope: this.scope,
            Addresses: t.desired,
            LockToken: current.LockToken,
            Description: current.IPSet?.Description || undefined,
          }),
        );
        return true;
      } catch (err) {
        const name = awsErrorName(err);
        const context = { set: t.set.name, id: t.set.id, family: t.family, addresses: t.desired.length };
        if (name === 'WAFLimitsExceededException') {
          throw new WafLimitsExceededError(`UpdateIPSet ${t.set.name}: WAF limit exceeded with ${t.desired.length} addresses`, 'wafv2', 'UpdateIPSet', context, { cause: err });
        }
        if (name === 'WAFInvalidParameterException') {
          throw new WafInvalidParameterError(`UpdateIPSet ${t.set.name}: WAF rejected a parameter (${(err as Error).message})`, 'wafv2', 'UpdateIPSet', context, { cause: err });
        }
        await this.backoffOrThrow(err, attempt, 'UpdateIPSet', t.set);
      }
    }
  }

  private async backoffOrThrow(err: unknown, attempt: number, operation: string, set: OwnedIpSet): Promise<void> {
    const name = awsErrorName(err);
    const retryable =
      name === 'WAFOptimisticLockException' || name === 'WAFUnavailableEntityException' || isThrottling(err) || isTransient(err) || name === 'WAFInternalErrorException';
    if (!retryable) throw err;
    if (attempt + 1 >= this.maxAttempts) {
      throw new RetriesExhaustedError(
        `${operation} ${set.name}: ${name} persisted through ${attempt + 1} attempts`,
        'wafv2',
        operation,
        { set: set.name, id: set.id, attempts: attempt + 1, lastError: name },
        { cause: err },
      );
    }
    await this.sleep(backoffDelay(attempt, { baseDelayMs: this.baseDelayMs, maxDelayMs: this.maxDelayMs, random: this.random }));
  }
}

/** Canonical text for comparison; WAF (and moto) may hand back text we did not write, kept verbatim then. */
function canon(a: string): string {
  return canonicalCidr(a) ?? a;
}
