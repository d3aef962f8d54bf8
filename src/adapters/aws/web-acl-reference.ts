import { GetWebACLForResourceCommand, type Rule, type FirewallManagerRuleGroup, type WAFV2Client } from '@aws-sdk/client-wafv2';
import type { RestApiStage, WebAclReference, WebAclReferenceCheck } from '../../ports.ts';
import { awsErrorName } from './retry.ts';

/** A stage to check, with its ARN (what GetWebACLForResource names). */
export interface CheckedStage extends RestApiStage {
  stageArn: string;
}

export interface WafWebAclReferenceCheckOptions {
  /** cordon's rule group. */
  ruleGroupArn: string;
  stages: CheckedStage[];
  /**
   * How long an answer is kept per stage. Default 10 minutes (contain runs every minute); a "referenced" one for at
   * most 2, since a reference removed meanwhile would have blocks claimed in effect that are not.
   */
  ttlMs?: number;
  clock?: () => number;
}

/** How long an answer about a stage's web ACL is kept by default. */
export const WEB_ACL_CHECK_TTL_MS = 600_000;
/** At most this long for "referenced": staying wrong that way is the unsafe one. */
const REFERENCED_TTL_MS = 120_000;

/**
 * {@link WebAclReferenceCheck} over WAFv2: GetWebACLForResource on the stage (it returns the whole web ACL, rules
 * included; IAM checks GetWebACL on that web ACL too), then a rule whose RuleGroupReferenceStatement names cordon's
 * rule group. WAF allows that statement only at the top level of a rule (never nested in And/Or/Not), and in the
 * rule groups Firewall Manager adds before and after the web ACL's own rules; a reference whose action is overridden
 * to Count enforces nothing. An answer is kept per stage (see `ttlMs`); an error is never kept, nor turned into one.
 */
export class WafWebAclReferenceCheck implements WebAclReferenceCheck {
  readonly stages: readonly CheckedStage[];
  private readonly ttlMs: number;
  private readonly clock: () => number;
  private readonly cache = new Map<string, { answer: WebAclReference; at: number }>();

  constructor(private readonly client: WAFV2Client, private readonly opts: WafWebAclReferenceCheckOptions) {
    this.stages = opts.stages;
    this.ttlMs = opts.ttlMs ?? WEB_ACL_CHECK_TTL_MS;
    this.clock = opts.clock ?? Date.now;
  }

  async check(stage: RestApiStage): Promise<WebAclReference> {
    const s = this.opts.stages.find((x) => x.restApiId === stage.restApiId && x.stageName === stage.stageName);
    if (!s) throw new Error(`stage ${stage.restApiId}/${stage.stageName} is not one this check was given`);
    const now = this.clock();
    const kept = this.cache.get(s.stageArn);
    if (kept && now - kept.at < (kept.answer === 'referenced' ? Math.min(this.ttlMs, REFERENCED_TTL_MS) : this.ttlMs)) return kept.answer;
    const answer = await this.ask(s.stageArn);
    this.cache.set(s.stageArn, { answer, at: now });
    return answer;
  }

  private async ask(stageArn: string): Promise<WebAclReference> {
    let acl;
    try {
      acl = (await this.client.send(new GetWebACLForResourceCommand({ ResourceArn: stageArn }))).WebACL;
    } catch (err) {
      // Some resources answer "no web ACL" with this error rather than an empty response (as the deploy guard reads it).
      if (awsErrorName(err) === 'WAFNonexistentItemException') return 'absent';
      throw err;
    }
    if (!acl) return 'absent';
    const refs: (Rule | FirewallManagerRuleGroup)[] = [];
    for (const r of acl.Rules ?? []) if (r.Statement?.RuleGroupReferenceStatement?.ARN === this.opts.ruleGroupArn) refs.push(r);
    for (const g of [...(acl.PreProcessFirewallManagerRuleGroups ?? []), ...(acl.PostProcessFirewallManagerRuleGroups ?? [])]) {
      if (g.FirewallManagerStatement?.RuleGroupReferenceStatement?.ARN === this.opts.ruleGroupArn) refs.push(g);
    }
    if (refs.length === 0) return 'absent';
    return refs.some(enforces) ? 'referenced' : 'count-only';
  }
}

/**
 * A reference that blocks with cordon's rules as written: not overridden to Count as a whole, and none of its rules
 * excluded (counted) or given another action than Block (RuleActionOverrides): cordon's rules are all IP set rules,
 * and one turned to Count or Allow lets those addresses through.
 */
function enforces(r: Rule | FirewallManagerRuleGroup): boolean {
  if (r.OverrideAction?.Count !== undefined) return false;
  const statement = 'Statement' in r ? r.Statement?.RuleGroupReferenceStatement : r.FirewallManagerStatement?.RuleGroupReferenceStatement;
  if ((statement?.ExcludedRules ?? []).length > 0) return false;
  return (statement?.RuleActionOverrides ?? []).every((o) => o.ActionToUse?.Block !== undefined);
}
