import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planIpSets } from '../../render/waf-ipset.ts';
import { mergeDenyStatement, type PolicyDocument } from '../../render/resource-policy.ts';
import type {
  AlertBatch, AlertPort, IpSetApplyResult, IpSetDesired, IpSetPort, PolicyApplyResult, PolicyDeny, PolicyPort,
} from '../../ports.ts';

/**
 * The local stand-ins for WAF, the resource policy and SNS: files holding exactly what would be written to AWS.
 * Synchronous underneath (the local pipeline calls the *Sync methods); the async methods are the ports.
 */
export class IpSetFiles implements IpSetPort {
  private current: IpSetDesired = { v4: [], v6: [] };
  private written = false;
  private lastPlan: ReturnType<typeof planIpSets> | null = null;
  overflow: string[] = [];

  constructor(private readonly dir: string, private readonly opts: { namePrefix: string; addressesPerSet: number; maxSetsPerFamily: number }) {
    this.applySync(this.current);
  }

  applySync(desired: IpSetDesired): IpSetApplyResult {
    const changed = !sameList(desired.v4, this.current.v4) || !sameList(desired.v6, this.current.v6);
    // Unchanged sets are not rewritten (contain reconciles every minute), as UpdateIPSet is not called for them.
    const plan = changed || !this.lastPlan ? planIpSets(desired, this.opts) : this.lastPlan;
    this.lastPlan = plan;
    this.overflow = plan.overflow;
    if (changed || !this.written) {
      writeFileSync(join(this.dir, 'waf-ipset-v4.json'), JSON.stringify(plan.v4, null, 1) + '\n');
      writeFileSync(join(this.dir, 'waf-ipset-v6.json'), JSON.stringify(plan.v6, null, 1) + '\n');
      this.written = true;
    }
    this.current = { v4: [...desired.v4], v6: [...desired.v6] };
    return {
      changed,
      sets: [...plan.v4, ...plan.v6].map((p) => ({ name: p.Name, family: p.IPAddressVersion === 'IPV4' ? 'v4' : 'v6', addresses: p.Addresses.length })),
      overflow: plan.overflow,
    };
  }

  async read(): Promise<IpSetDesired> {
    return this.current;
  }
  async apply(desired: IpSetDesired): Promise<IpSetApplyResult> {
    return this.applySync(desired);
  }
}

export class PolicyFile implements PolicyPort {
  readonly name = 'resource-policy.json';
  private current: PolicyDeny = { principals: [], cidrs: [] };
  last: PolicyApplyResult = { changed: false, deployed: false, dropped: [], chars: 0 };
  private written = false;

  constructor(
    private readonly dir: string,
    private readonly base: PolicyDocument | null,
    private readonly opts: { resource: string; maxChars: number },
  ) {
    this.applySync(this.current);
  }

  applySync(deny: PolicyDeny): PolicyApplyResult {
    const changed = !sameList(deny.principals, this.current.principals) || !sameList(deny.cidrs, this.current.cidrs);
    if (!changed && this.written) {
      this.last = { ...this.last, changed: false, deployed: false };
      return this.last;
    }
    const merged = mergeDenyStatement(this.base, deny, this.opts);
    writeFileSync(join(this.dir, 'resource-policy.json'), (merged.policy ? merged.text : 'null') + '\n');
    this.written = true;
    this.current = merged.kept;
    // Locally a "deployment" is the file being rewritten; in AWS it is CreateDeployment on the stage.
    this.last = { changed, deployed: changed, dropped: merged.dropped, rejected: merged.rejected, chars: merged.chars };
    return this.last;
  }

  async read(): Promise<PolicyDeny> {
    return this.current;
  }
  async apply(deny: PolicyDeny): Promise<PolicyApplyResult> {
    return this.applySync(deny);
  }
}

/** alerts.jsonl: one line per decision batch, as the SNS message would carry it. */
export class AlertFile implements AlertPort {
  published = 0;
  constructor(private readonly path: string, opts: { append?: boolean } = {}) {
    if (!opts.append) writeFileSync(path, '');
  }
  publishSync(batch: AlertBatch): void {
    appendFileSync(this.path, JSON.stringify(batch) + '\n');
    this.published++;
  }
  async publish(batch: AlertBatch): Promise<void> {
    this.publishSync(batch);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
