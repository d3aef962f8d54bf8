import { z } from 'zod';
import { DENY_LIST_DEFAULT_KEY } from '../src/authorizer/document.ts';
import { parseConfig, type CordonConfig } from '../src/config.ts';
import { DEFAULT_INGEST_BATCHING_WINDOW_SECONDS, MAX_INGEST_BATCHING_WINDOW_SECONDS } from '../src/engine/ingest-batching.ts';
import { routeRuleCapacity } from '../src/render/waf-route-rule.ts';
import type { ExistingWebAclChoice } from './deploy-guard.ts';

export type { ExistingWebAclChoice } from './deploy-guard.ts';

/** One REST API stage cordon protects. */
export interface ProtectedRestApi {
  /** The REST API id (10 lower-case letters and digits), e.g. `a1b2c3d4e5`. */
  readonly restApiId: string;
  readonly stageName: string;
  /**
   * The CloudWatch Logs group the stage writes its access log to. Required unless `manageAccessLogFormat` is on,
   * in which case cordon creates one (CloudFormation names it) when it is left out.
   */
  readonly logGroupName?: string;
  /** What to do if this stage already has a web ACL; overrides the top-level {@link CordonProps.existingWebAcl}. */
  readonly existingWebAcl?: ExistingWebAclChoice;
}

/** The options of the {@link Cordon} construct (and, with the same names, of the CDK app's context). */
export interface CordonProps {
  /** REST API stages to watch and protect (WAF association, resource-policy deny). Default: none. */
  readonly restApis?: ProtectedRestApi[];
  /** Further access-log groups to subscribe (e.g. HTTP APIs: detected and alerted, not WAF-protected). */
  readonly logGroupNames?: string[];
  /**
   * Set the recommended access-log format (and destination) on every `restApis` stage, with an UpdateStage call
   * made by a custom resource (CloudFormation cannot own a stage another stack created). Default false.
   */
  readonly manageAccessLogFormat?: boolean;
  /**
   * A regional web ACL you already have. cordon then creates no web ACL and no associations; it creates a
   * rule group holding its IP set rules and outputs the one rule to add to your web ACL (CloudFormation cannot
   * add rules to a web ACL another stack owns).
   */
  readonly existingWebAclArn?: string;
  /**
   * What cordon does about a protected stage that already has a web ACL (a stage takes one web ACL, and
   * AssociateWebACL would silently replace it). Checked at deploy time, before anything is associated:
   *
   * - `'fail'` (default): cordon associates its own web ACL with the stage, and stops the deploy, naming the stage
   *   and this choice, if the stage already has another web ACL. It never replaces one.
   * - `'use-rule-group'`: cordon associates nothing with the stage; it creates a rule group holding its IP set
   *   rules (output `WebAclRuleToAdd`) for you to add to the stage's web ACL, which the deploy checks exists
   *   (output `RuleGroupTargets` names it).
   *
   * Set per stage with `restApis[].existingWebAcl`. Not used with `existingWebAclArn`, which associates nothing.
   */
  readonly existingWebAcl?: ExistingWebAclChoice;
  /** Complete ARN of a Secrets Manager secret holding the Slack incoming-webhook URL. Default: no Slack. */
  readonly slackSecretArn?: string;
  /** E-mail address subscribed to the alert topic (confirm the subscription mail). Default: none. */
  readonly alertEmail?: string;
  /** Detect and alert, never block. ORed with `config.dryRun`. Default false. */
  readonly dryRun?: boolean;
  /** Provisioned shards of each Kinesis stream, or `'on-demand'`. Default 1. */
  readonly shards?: number | 'on-demand';
  /**
   * Shards of the summaries stream alone, where it needs more than the access-log stream (detect's CPU and memory per
   * shard run out before the access logs' 1 MB/s does: at 100,000 requests a second of the `mixed` traffic, 6
   * access-log shards against 24 for summaries; README, Scale). Default: `shards`.
   */
  readonly summaryShards?: number | 'on-demand';
  /** WAF IP sets per address family (10,000 addresses each). 1–25 (50 reference statements per web ACL). Default 2. */
  readonly ipSetsPerFamily?: number;
  /** The engine configuration (src/config.ts), validated with `parseConfig`. Default: all defaults. */
  readonly config?: unknown;
  /** Lambda log level. Default INFO. */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Retention of the functions' log groups and of access-log groups cordon creates. Default 30 days. */
  readonly logRetentionDays?: number;
  /**
   * Alarm when no access-log event has reached `ingest` for this many minutes in a row (5-1440): the watched APIs
   * normally carry traffic, so silence means logging or the subscription broke. `false` for an API that is
   * sometimes quiet. Default 30.
   */
  readonly noDataAlarmMinutes?: number | false;
  /**
   * Key of the deny-list object in the state bucket, written by contain when `config.denyList.enabled` and read by
   * your Lambda authorizers (`grantDenyListRead`). Default `deny-list/v1.json`.
   */
  readonly denyListKey?: string;
  /**
   * The summaries stream's wire level. Default 'auto': ingest writes the highest level every running detect reads.
   * Each detect announces the level it reads on an item of the state table and beats on it every minute; ingest takes a
   * newly announced level only once it has stood 15 minutes (any detect of an earlier release is gone by then), and
   * level 1, which every release reads, while no detect beats on it (src/engine/wire-handshake.ts). So a stack update
   * that brings a new level needs nothing else, and a fresh stack writes level 1 for its first 15 minutes. (The ingest
   * function is told so by SUMMARY_WIRE_AUTO=1 beside SUMMARY_WIRE_LEVEL=1: an ingest of a release before 'auto' can
   * run with the new configuration for a moment of the update, and writes level 1 by it.)
   * A fixed level: 1, parts with prefixes, gzip'd (every release reads it); 2, ingest sends hosts and principals and
   * detect derives each prefix (a third fewer bytes; a detect of a release before level 2 refuses it); 3, level 2 in
   * brotli records (a quarter fewer again; a detect before level 3 skips them as unreadable, and the
   * SummariesUnreadable alarm fires); 4, level 3 with short distinct hashes and rounded sums (about a quarter fewer again). Set a fixed level
   * above 1 only once a release that reads it is deployed everywhere: in a deploy after the one that brings the
   * release, never in the same (detect's function is updated before ingest's, but its earlier release's instances
   * can run for minutes after; and an ingest of a release before level 4 refuses SUMMARY_WIRE_LEVEL=4 at cold start).
   */
  readonly summaryWireLevel?: 1 | 2 | 3 | 4 | 'auto';
  /**
   * Memory of the detect function, MB (1,024 to 10,240). A summaries shard that has learned its cap of a million
   * baselines keeps about 255 MB of them warm, and each window adds about 4 KB resident a key of the window: past
   * roughly 5,000 requests a second a shard of the `mixed` traffic, 1,024 MB has no room left (README, Scale). More
   * `summaryShards` shrink each window; this gives each shard room (1,769 MB and up is also a whole vCPU, so CPU-bound
   * work finishes as much sooner and costs about the same), and the baseline cache grows with it. Default 1024.
   */
  readonly detectMemoryMb?: number;
  /**
   * How long ingest's event source mapping gathers access-log records before an invocation, seconds (1 to 30). Every
   * key a batch repeats is one summary entry, so a longer window shrinks the summaries stream: at 10,000 requests a
   * second of the `mixed` traffic, wire level 3, 23% of the access-log stream's bytes at 2 s, 20% at 5 s, 19% at 10 s
   * (README, "Deploying it"). Every block waits for the batching (rehearsed: the median time to contain grew by 4 s at
   * 10 s, p95 by 4 s). Detect's windows also wait the seconds past 2 on top of `config.windows` lateness and delivery
   * delay, since each access-log shard's lines are held that much longer: a block decided only at a window's close comes
   * up to twice the difference later (most are decided early, in the open window). Changing the prop on a running
   * stack may decide or fold the last few seconds' windows once more. Past about 7 s at 10,000 requests a second a
   * shard, Lambda's 6 MB invoke payload cuts the batch first. Each invocation puts that many more summaries at once:
   * what a summaries shard refuses over its 1 MB a second, ingest puts again until it lands or its Lambda's time is
   * nearly out (counted as `SummariesThrottled`), so a burst delays that batch by its seconds instead of failing it.
   * Default 2.
   */
  readonly ingestBatchingWindowSeconds?: number;
}

/** Props after validation, with defaults applied. */
export interface ResolvedCordonProps {
  readonly restApis: { restApiId: string; stageName: string; logGroupName?: string; existingWebAcl?: ExistingWebAclChoice }[];
  readonly logGroupNames: string[];
  readonly manageAccessLogFormat: boolean;
  readonly existingWebAclArn?: string;
  /** The default for stages that set none (absent with `existingWebAclArn`). */
  readonly existingWebAcl?: ExistingWebAclChoice;
  readonly slackSecretArn?: string;
  readonly alertEmail?: string;
  readonly dryRun: boolean;
  readonly shards: number | 'on-demand';
  /** The summaries stream's shards: `summaryShards`, else `shards`. */
  readonly summaryShards: number | 'on-demand';
  readonly ipSetsPerFamily: number;
  readonly config: CordonConfig;
  /** The config exactly as given (defaults left to the functions), for the CORDON_CONFIG variable. */
  readonly rawConfig?: unknown;
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  readonly logRetentionDays: number;
  readonly noDataAlarmMinutes: number | false;
  readonly denyListKey: string;
  readonly summaryWireLevel: 1 | 2 | 3 | 4 | 'auto';
  readonly detectMemoryMb: number;
  readonly ingestBatchingWindowSeconds: number;
}

/** Reference statements (IP sets, rule groups) a web ACL or a rule group may hold: a fixed WAF quota. */
export const MAX_REFERENCE_STATEMENTS = 50;

/** WCUs reserved by the rule group in attach mode: fixed, because changing a rule group's capacity replaces it. */
export const RULE_GROUP_CAPACITY = 50;

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const REST_API_ID = /^[a-z0-9]{10}$/;
const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const LOG_GROUP_NAME = /^[A-Za-z0-9_\-/.#]{1,512}$/;
const WEB_ACL_ARN = /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/[A-Za-z0-9_-]{1,128}\/[a-f0-9-]{36}$/;
/** A complete secret ARN ends with `-` and the six random characters Secrets Manager appends. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** S3's safe key characters (an IAM resource ARN names it verbatim, so no wildcards either). */
const DENY_LIST_KEY = /^[A-Za-z0-9!_.'()-][A-Za-z0-9!_.'()/-]{0,511}$/;

const SHARDS_MESSAGE = "must be a whole number of shards (1-500) or 'on-demand'";
/** CloudWatch evaluates an alarm over at most one day (1,440 one-minute periods). */
const NO_DATA_MESSAGE = 'must be a whole number of minutes (5-1440), or false to turn the no-data alarm off';

const EXISTING_WEB_ACL_MESSAGE = "must be 'fail' (stop the deploy if the stage has another web ACL) or 'use-rule-group'";
const existingWebAclSchema = z.enum(['fail', 'use-rule-group'], { error: EXISTING_WEB_ACL_MESSAGE });

const restApiSchema = z
  .object({
    restApiId: z.string().regex(REST_API_ID, 'must be a REST API id: 10 lower-case letters and digits'),
    stageName: z.string().regex(STAGE_NAME, 'must be a stage name: letters, digits, - and _ (1-128)'),
    logGroupName: z.string().regex(LOG_GROUP_NAME, 'must be a CloudWatch Logs group name').optional(),
    existingWebAcl: existingWebAclSchema.optional(),
  })
  .strict();

const propsSchema = z
  .object({
    restApis: z.array(restApiSchema).default([]),
    logGroupNames: z
      .array(z.string().regex(LOG_GROUP_NAME, 'must be a CloudWatch Logs group name'))
      .default([]),
    manageAccessLogFormat: z.boolean().default(false),
    existingWebAclArn: z
      .string()
      .regex(WEB_ACL_ARN, 'must be the ARN of a REGIONAL web ACL (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)')
      .optional(),
    existingWebAcl: existingWebAclSchema.optional(),
    slackSecretArn: z
      .string()
      .regex(SECRET_ARN, 'must be the complete ARN of a Secrets Manager secret (ending in -XXXXXX)')
      .optional(),
    alertEmail: z.string().regex(EMAIL, 'must be an e-mail address').optional(),
    dryRun: z.boolean().default(false),
    shards: z
      .union([z.number().int(SHARDS_MESSAGE).min(1, SHARDS_MESSAGE).max(500, SHARDS_MESSAGE), z.literal('on-demand')], {
        error: SHARDS_MESSAGE,
      })
      .default(1),
    summaryShards: z
      .union([z.number().int(SHARDS_MESSAGE).min(1, SHARDS_MESSAGE).max(500, SHARDS_MESSAGE), z.literal('on-demand')], {
        error: SHARDS_MESSAGE,
      })
      .optional(),
    ipSetsPerFamily: z
      .number()
      .int()
      .min(1)
      .max(25, 'at most 25: a web ACL takes 50 IP set reference statements, and there are two families')
      .default(2),
    config: z.unknown().optional(),
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    logRetentionDays: z
      .number()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
    noDataAlarmMinutes: z
      .union([z.number().int(NO_DATA_MESSAGE).min(5, NO_DATA_MESSAGE).max(1440, NO_DATA_MESSAGE), z.literal(false)], {
        error: NO_DATA_MESSAGE,
      })
      .default(30),
    denyListKey: z
      .string()
      .regex(DENY_LIST_KEY, 'must be an S3 key of letters, digits and ! - _ . \' ( ) / (1-512), not starting with /')
      // detect's prefixes: win/ objects expire after 2 days, and detect deletes under both.
      .refine((k) => !k.startsWith('win/') && !k.startsWith('base/'), "must not be under detect's prefixes win/ or base/")
      .default(DENY_LIST_DEFAULT_KEY),
    summaryWireLevel: z.union([z.literal('auto'), z.literal(1), z.literal(2), z.literal(3), z.literal(4)], { error: "must be 'auto', 1, 2, 3 or 4" })
      .default('auto'),
    detectMemoryMb: z.number().int('must be a whole number of MB').min(1024, 'must be at least 1024 (MB)')
      .max(10240, 'must be at most 10240 (MB, Lambda\'s maximum)').default(1024),
    ingestBatchingWindowSeconds: z.number().int('must be a whole number of seconds').min(1, 'must be at least 1 (second)')
      .max(MAX_INGEST_BATCHING_WINDOW_SECONDS, `must be at most ${MAX_INGEST_BATCHING_WINDOW_SECONDS} (seconds: every block waits for it)`)
      .default(DEFAULT_INGEST_BATCHING_WINDOW_SECONDS),
  })
  .strict()
  .superRefine((p, ctx) => {
    const attach = 'has no effect with existingWebAclArn (attach mode associates nothing with the stages)';
    if (p.existingWebAclArn && p.existingWebAcl) ctx.addIssue({ code: 'custom', path: ['existingWebAcl'], message: attach });
    const seen = new Set<string>();
    p.restApis.forEach((api, i) => {
      if (p.existingWebAclArn && api.existingWebAcl) {
        ctx.addIssue({ code: 'custom', path: ['restApis', i, 'existingWebAcl'], message: attach });
      }
      const key = `${api.restApiId}/${api.stageName}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['restApis', i], message: `duplicate stage ${key}` });
      seen.add(key);
      if (!api.logGroupName && !p.manageAccessLogFormat) {
        ctx.addIssue({
          code: 'custom',
          path: ['restApis', i, 'logGroupName'],
          message: `required for ${key} unless manageAccessLogFormat is true (cordon must know where the stage logs)`,
        });
      }
    });
    const groups = new Set<string>();
    p.logGroupNames.forEach((g, i) => {
      if (groups.has(g)) ctx.addIssue({ code: 'custom', path: ['logGroupNames', i], message: `duplicate log group ${g}` });
      groups.add(g);
    });
  });

/** A bad prop or context value; the message names each wrong key. */
export class CordonPropsError extends Error {
  override name = 'CordonPropsError';
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(message);
  }
}

/**
 * Validates props (construct or context), applies defaults and validates `config` with `parseConfig`.
 * @param source how to name the input in messages, e.g. `Cordon props` or `cdk context`.
 */
export function resolveCordonProps(input: unknown, source = 'Cordon props'): ResolvedCordonProps {
  const result = propsSchema.safeParse(input ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({
      path: i.path.length ? i.path.map(String).join('.') : '(top level)',
      message: i.code === 'unrecognized_keys' ? `unknown key(s): ${i.keys.join(', ')}` : i.message,
    }));
    throw new CordonPropsError(
      `${source}: invalid value\n` + issues.map((i) => `  ${i.path}: ${i.message}`).join('\n'),
      issues,
    );
  }
  const p = result.data;
  let config: CordonConfig;
  try {
    config = parseConfig(p.config, `${source}: config`);
  } catch (err) {
    const e = err as Error & { issues?: { path: string; message: string }[] };
    throw new CordonPropsError(
      e.message,
      (e.issues ?? []).map((i) => ({ path: `config.${i.path}`, message: i.message })),
    );
  }
  // A web ACL and a rule group each take at most 50 reference statements (WAF quotas, fixed): one per IP set, and the
  // route rule's two (config.waf.routeScoped) on top.
  const references = 2 * p.ipSetsPerFamily + (config.waf.routeScoped.enabled ? 2 : 0);
  if (references > MAX_REFERENCE_STATEMENTS) {
    const message = `at most ${(MAX_REFERENCE_STATEMENTS - 2) / 2} with config.waf.routeScoped: its IP sets and route sets would need ` +
      `${references} reference statements, and a web ACL or rule group takes ${MAX_REFERENCE_STATEMENTS}`;
    throw new CordonPropsError(`${source}: invalid value\n  ipSetsPerFamily: ${message}`, [{ path: 'ipSetsPerFamily', message }]);
  }
  // The rule group holds every rule in a fixed capacity: the route rule (config.waf.routeScoped) must fit beside the
  // IP set rules (1 WCU each).
  const ruleGroup = p.existingWebAclArn !== undefined || p.existingWebAcl === 'use-rule-group'
    || p.restApis.some((a) => a.existingWebAcl === 'use-rule-group');
  const wcus = 2 * p.ipSetsPerFamily + routeRuleCapacity(2);
  if (config.waf.routeScoped.enabled && ruleGroup && wcus > RULE_GROUP_CAPACITY) {
    const most = Math.floor((RULE_GROUP_CAPACITY - routeRuleCapacity(2)) / 2);
    const message = `at most ${most} with config.waf.routeScoped and a rule group: its rules would need ${wcus} of its ${RULE_GROUP_CAPACITY} WCUs`;
    throw new CordonPropsError(`${source}: invalid value\n  ipSetsPerFamily: ${message}`, [{ path: 'ipSetsPerFamily', message }]);
  }
  return {
    restApis: p.restApis,
    logGroupNames: p.logGroupNames,
    manageAccessLogFormat: p.manageAccessLogFormat,
    existingWebAclArn: p.existingWebAclArn,
    existingWebAcl: p.existingWebAclArn ? undefined : (p.existingWebAcl ?? 'fail'),
    slackSecretArn: p.slackSecretArn,
    alertEmail: p.alertEmail,
    dryRun: p.dryRun || config.dryRun,
    shards: p.shards,
    summaryShards: p.summaryShards ?? p.shards,
    ipSetsPerFamily: p.ipSetsPerFamily,
    config,
    rawConfig: p.config,
    logLevel: p.logLevel,
    logRetentionDays: p.logRetentionDays,
    noDataAlarmMinutes: p.noDataAlarmMinutes,
    denyListKey: p.denyListKey,
    summaryWireLevel: p.summaryWireLevel,
    detectMemoryMb: p.detectMemoryMb,
    ingestBatchingWindowSeconds: p.ingestBatchingWindowSeconds,
  };
}
