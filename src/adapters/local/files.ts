import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipSetName, planIpSets } from '../../render/waf-ipset.ts';
import { ROUTE_IP_SETS_PER_FAMILY, routeRule, wafApiJson } from '../../render/waf-route-rule.ts';
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
  private lastRoutePlan: ReturnType<typeof planIpSets> | null = null;
  overflow: string[] = [];

  /**
   * `routeScoped` (config waf.routeScoped): also the route IP sets, one per family as the stack creates them
   * (`waf-ipset-route-v4.json`, `waf-ipset-route-v6.json`), and the WAF rule that refuses their addresses on the login
   * route (`waf-route-rule.json`). Without it, route-scoped blocks have no set, and are overflow.
   */
  constructor(private readonly dir: string, private readonly opts: { namePrefix: string; addressesPerSet: number; maxSetsPerFamily: number;
    routeScoped?: boolean }) {
    if (opts.routeScoped) {
      const arn = (family: 'v4' | 'v6') => `arn:aws:wafv2:<region>:<account>:regional/ipset/${ipSetName(this.routePrefix, family, 0)}/<id>`;
      // After the global sets' rules, as in the stack (infra/cordon-construct.ts).
      const rule = routeRule({ setArns: [arn('v4'), arn('v6')], priority: 2 * opts.maxSetsPerFamily });
      writeFileSync(join(dir, 'waf-route-rule.json'), JSON.stringify(wafApiJson(rule), null, 1) + '\n');
    }
    this.applySync(this.current);
  }

  private get routePrefix(): string {
    return `${this.opts.namePrefix}-route`;
  }

  applySync(desired: IpSetDesired): IpSetApplyResult {
    const route = desired.route ?? { v4: [], v6: [] };
    const was = this.current.route ?? { v4: [], v6: [] };
    const changed = !sameList(desired.v4, this.current.v4) || !sameList(desired.v6, this.current.v6);
    const routeChanged = !sameList(route.v4, was.v4) || !sameList(route.v6, was.v6);
    // Unchanged sets are not rewritten (contain reconciles every minute), as UpdateIPSet is not called for them.
    const plan = changed || !this.lastPlan ? planIpSets(desired, this.opts) : this.lastPlan;
    this.lastPlan = plan;
    const routePlan = routeChanged || !this.lastRoutePlan
      ? planIpSets(route, { namePrefix: this.routePrefix, addressesPerSet: this.opts.addressesPerSet, maxSetsPerFamily: ROUTE_IP_SETS_PER_FAMILY })
      : this.lastRoutePlan;
    this.lastRoutePlan = routePlan;
    // Without the route sets, every route-scoped block is one nothing holds (canonical, as the AWS adapter says it).
    const routeOverflow = this.opts.routeScoped ? routePlan.overflow
      : [...routePlan.v4, ...routePlan.v6].flatMap((p) => p.Addresses).concat(routePlan.overflow);
    this.overflow = [...plan.overflow, ...routeOverflow];
    if (changed || !this.written) {
      writeFileSync(join(this.dir, 'waf-ipset-v4.json'), JSON.stringify(plan.v4, null, 1) + '\n');
      writeFileSync(join(this.dir, 'waf-ipset-v6.json'), JSON.stringify(plan.v6, null, 1) + '\n');
    }
    if (this.opts.routeScoped && (routeChanged || !this.written)) {
      writeFileSync(join(this.dir, 'waf-ipset-route-v4.json'), JSON.stringify(routePlan.v4, null, 1) + '\n');
      writeFileSync(join(this.dir, 'waf-ipset-route-v6.json'), JSON.stringify(routePlan.v6, null, 1) + '\n');
    }
    this.written = true;
    this.current = { v4: [...desired.v4], v6: [...desired.v6], ...(desired.route ? { route: { v4: [...route.v4], v6: [...route.v6] } } : {}) };
    const setsOf = (p: ReturnType<typeof planIpSets>, isRoute: boolean) => [...p.v4, ...p.v6].map((s) => ({ name: s.Name,
      family: s.IPAddressVersion === 'IPV4' ? 'v4' as const : 'v6' as const, addresses: s.Addresses.length, ...(isRoute ? { route: true } : {}) }));
    return {
      changed: changed || (routeChanged && this.opts.routeScoped === true),
      sets: [...setsOf(plan, false), ...(this.opts.routeScoped ? setsOf(routePlan, true) : [])],
      overflow: this.overflow,
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
