import { z } from 'zod';
import { API_KEY_RECORD_DEFAULT_KEY } from '../src/adapters/aws/api-key-record.ts';
import { DENY_LIST_DEFAULT_KEY } from '../src/authorizer/document.ts';
import { parseConfig, type CordonConfig } from '../src/config.ts';
import type { ContainWiring, DetectWiring, IngestWiring } from '../src/pipeline/aws-deps.ts';
import type { SummaryWireLevel } from '../src/engine/wire.ts';
import { MAX_INGEST_BATCHING_WINDOW_SECONDS } from '../src/engine/ingest-batching.ts';

/**
 * The environment contract between the CDK construct (infra/cordon-construct.ts sets these) and the Lambda
 * entries. Each entry parses its variables once, at cold start; a missing or malformed variable throws an
 * {@link EnvError} naming it, so the function fails at init instead of mid-batch.
 */

export class EnvError extends Error {
  override name = 'EnvError';
  constructor(
    message: string,
    readonly variables: string[],
  ) {
    super(message);
  }
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** A variable holding JSON, validated against `schema` after parsing. */
const json = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

const required = (what: string) => z.string({ error: `must name ${what}` }).min(1, `must name ${what}`);

const dryRunFlag = z.enum(['true', 'false'], { error: "must be 'true' or 'false'" }).transform((v) => v === 'true');

const common = {
  /** The engine configuration as JSON; absent means all defaults. */
  CORDON_CONFIG: z.string().optional(),
  /**
   * The construct's dry-run switch, ORed with the config's own: every stage must see it, or detect would write
   * active blocks that a later run without dry run enforces.
   */
  DRY_RUN: dryRunFlag.optional(),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((v) => (v ?? 'INFO').toUpperCase())
    .pipe(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'must be DEBUG, INFO, WARN or ERROR' })),
};

const ownedIpSets = z
  .array(z.object({ name: z.string().min(1), id: z.string().min(1) }).strict(), {
    error: 'must be a JSON array of {"name","id"}',
  })
  .min(1, 'must name at least one IP set');

const schemas = {
  ingest: z.object({
    ...common,
    SUMMARIES_STREAM_NAME: required('the summaries Kinesis stream'),
    // A fixed level; with SUMMARY_WIRE_AUTO, what a release before the agreed level writes (the construct sets '1').
    SUMMARY_WIRE_LEVEL: z.enum(['1', '2', '3', '4'], { error: "must be '1', '2', '3' or '4' (the agreed level: SUMMARY_WIRE_AUTO '1')" })
      .default('1'),
    /**
     * '1': the level every running detect reads, agreed on the state table (src/engine/wire-handshake.ts); the
     * construct's 'auto'. A variable of its own, not a value of SUMMARY_WIRE_LEVEL: Lambda updates a function's code
     * and its configuration in separate calls, and the ingest of a release before this one fails every cold start on a
     * level it does not know, while it ignores a variable it does not know (and writes SUMMARY_WIRE_LEVEL: 1).
     */
    SUMMARY_WIRE_AUTO: z.enum(['0', '1'], { error: "must be '1' (the agreed level) or '0'" }).optional(),
    /** Where detect keeps the wire level notice; required with SUMMARY_WIRE_AUTO '1' (checked below). */
    STATE_TABLE: z.string().min(1, 'must name the state DynamoDB table').optional(),
    SUMMARY_PARTITIONS: z.string().regex(/^[1-9]\d{0,3}$/, 'must be a whole number of partitions (1-9999)').default('64'),
    // Unset for an on-demand stream (its shards are AWS's to choose): each partition then has records of its own.
    SUMMARY_SHARDS: z.string().regex(/^[1-9]\d{0,3}$/, 'must be a whole number of shards (1-9999)').optional(),
  }),
  detect: z.object({
    ...common,
    STATE_TABLE: required('the state DynamoDB table'),
    STATE_BUCKET: required('the state S3 bucket'),
    LEDGER_TABLE: required('the ledger DynamoDB table'),
    /** Set by the Lambda runtime: the baseline cache is sized to it. */
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: z.string().regex(/^[1-9]\d{2,4}$/, 'must be the function\'s memory in MB').optional(),
    // Ingest's batching window: windows wait for a longer one (src/engine/ingest-batching.ts).
    INGEST_BATCHING_WINDOW_SECONDS: z.string().regex(/^[1-9]\d?$/, 'must be a whole number of seconds')
      .refine((s) => Number(s) <= MAX_INGEST_BATCHING_WINDOW_SECONDS, `must be at most ${MAX_INGEST_BATCHING_WINDOW_SECONDS} (seconds)`).optional(),
  }),
  contain: z.object({
    ...common,
    LEDGER_TABLE: required('the ledger DynamoDB table'),
    WAF_SCOPE: z.enum(['REGIONAL', 'CLOUDFRONT'], { error: 'must be REGIONAL (or CLOUDFRONT)' }),
    IPSETS_V4: json(ownedIpSets),
    IPSETS_V6: json(ownedIpSets),
    /** The route IP sets (config.waf.routeScoped); required when it is on (checked below). */
    IPSETS_ROUTE_V4: json(ownedIpSets).optional(),
    IPSETS_ROUTE_V6: json(ownedIpSets).optional(),
    REST_APIS: json(
      z.array(z.object({ restApiId: z.string().min(1), stageName: z.string().min(1), waf: z.boolean().optional() }).strict(), {
        error: 'must be a JSON array of {"restApiId","stageName"[,"waf"]}',
      }),
    ),
    ALERT_TOPIC_ARN: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN'),
    DRY_RUN: dryRunFlag,
    /** The deny list's bucket and key; the bucket is required when config.denyList.enabled (checked below). */
    DENY_LIST_BUCKET: z.string().min(1, 'must name the deny list bucket').optional(),
    DENY_LIST_KEY: z.string().min(1, 'must name the deny list object key').optional(),
    /** cordon's record of the API keys it disabled; the bucket is required when config.apiKeys.enabled (checked below). */
    API_KEY_RECORD_BUCKET: z.string().min(1, 'must name the bucket of the API-key record').optional(),
    API_KEY_RECORD_KEY: z.string().min(1, 'must name the API-key record object key').optional(),
    /** cordon's rule group and the stages whose own web ACL must reference it (both or neither: checked below). */
    RULE_GROUP_ARN: z.string().min(1, "must name cordon's rule group").optional(),
    RULE_GROUP_STAGES: json(
      z.array(z.object({ restApiId: z.string().min(1), stageName: z.string().min(1),
        stageArn: z.string().regex(/^arn:aws[a-z-]*:apigateway:[a-z0-9-]+::\/restapis\/[^/]+\/stages\/[^/]+$/, 'must be a stage ARN') }).strict(), {
        error: 'must be a JSON array of {"restApiId","stageName","stageArn"}',
      }),
    ).optional(),
  }),
  notifySlack: z.object({
    LOG_LEVEL: common.LOG_LEVEL,
    SLACK_SECRET_ARN: z
      .string({ error: 'must be the ARN of the Secrets Manager secret holding the Slack webhook URL' })
      .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN'),
  }),
};

function parse<S extends z.ZodType>(fn: string, schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => {
    const name = i.path.map(String).join('.') || '(environment)';
    const unset = i.path.length === 1 && env[String(i.path[0])] === undefined;
    return `  ${name}: ${unset ? `is not set; ${i.message}` : i.message}`;
  });
  const vars = [...new Set(result.error.issues.map((i) => String(i.path[0] ?? '')))];
  throw new EnvError(`cordon ${fn}: invalid environment\n${lines.join('\n')}`, vars);
}

function configOf(fn: string, text: string | undefined, dryRun = false): CordonConfig {
  const config = parseConfigText(fn, text);
  return dryRun ? { ...config, dryRun: true } : config;
}

function parseConfigText(fn: string, text: string | undefined): CordonConfig {
  if (text === undefined || text.trim() === '') return parseConfig({}, 'CORDON_CONFIG');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new EnvError(`cordon ${fn}: invalid environment\n  CORDON_CONFIG: is not valid JSON`, ['CORDON_CONFIG']);
  }
  try {
    return parseConfig(raw, 'CORDON_CONFIG');
  } catch (err) {
    throw new EnvError(`cordon ${fn}: invalid environment\n  ${(err as Error).message}`, ['CORDON_CONFIG']);
  }
}

export interface CommonEnv {
  config: CordonConfig;
  logLevel: LogLevel;
}

export interface IngestEnv extends CommonEnv, IngestWiring {}

export interface DetectEnv extends CommonEnv, DetectWiring {}

export interface ContainEnv extends CommonEnv, ContainWiring {}

export interface NotifySlackEnv {
  logLevel: LogLevel;
  slackSecretArn: string;
}

export function parseIngestEnv(env: NodeJS.ProcessEnv = process.env): IngestEnv {
  const e = parse('ingest', schemas.ingest, env);
  const config = configOf('ingest', e.CORDON_CONFIG, e.DRY_RUN);
  const auto = e.SUMMARY_WIRE_AUTO === '1';
  if (auto && !e.STATE_TABLE) {
    throw new EnvError("cordon ingest: invalid environment\n  STATE_TABLE: is not set; SUMMARY_WIRE_AUTO '1' reads detect's wire level notice there",
      ['STATE_TABLE']);
  }
  return { config, logLevel: e.LOG_LEVEL, summariesStreamName: e.SUMMARIES_STREAM_NAME,
    summaryWireLevel: auto ? 'auto' : Number(e.SUMMARY_WIRE_LEVEL) as SummaryWireLevel,
    ...(e.STATE_TABLE ? { stateTable: e.STATE_TABLE } : {}), summaryPartitions: Number(e.SUMMARY_PARTITIONS),
    ...(e.SUMMARY_SHARDS === undefined ? {} : { summaryShards: Number(e.SUMMARY_SHARDS) }) };
}

export function parseDetectEnv(env: NodeJS.ProcessEnv = process.env): DetectEnv {
  const e = parse('detect', schemas.detect, env);
  return {
    config: configOf('detect', e.CORDON_CONFIG, e.DRY_RUN),
    logLevel: e.LOG_LEVEL,
    stateTable: e.STATE_TABLE,
    stateBucket: e.STATE_BUCKET,
    ledgerTable: e.LEDGER_TABLE,
    ...(e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ? { memoryMb: Number(e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE) } : {}),
    ...(e.INGEST_BATCHING_WINDOW_SECONDS ? { ingestBatchingWindowSeconds: Number(e.INGEST_BATCHING_WINDOW_SECONDS) } : {}),
  };
}

export function parseContainEnv(env: NodeJS.ProcessEnv = process.env): ContainEnv {
  const e = parse('contain', schemas.contain, env);
  const config = configOf('contain', e.CORDON_CONFIG, e.DRY_RUN);
  if (config.denyList.enabled && !e.DENY_LIST_BUCKET) {
    throw new EnvError('cordon contain: invalid environment\n  DENY_LIST_BUCKET: is not set; config.denyList.enabled needs the bucket authorizers read',
      ['DENY_LIST_BUCKET']);
  }
  if (config.waf.routeScoped.enabled && (!e.IPSETS_ROUTE_V4 || !e.IPSETS_ROUTE_V6)) {
    const missing = [...(e.IPSETS_ROUTE_V4 ? [] : ['IPSETS_ROUTE_V4']), ...(e.IPSETS_ROUTE_V6 ? [] : ['IPSETS_ROUTE_V6'])];
    throw new EnvError(`cordon contain: invalid environment\n${missing.map((v) => `  ${v}: is not set; config.waf.routeScoped.enabled needs the route IP sets`).join('\n')}`,
      missing);
  }
  if (config.apiKeys.enabled && !e.API_KEY_RECORD_BUCKET) {
    throw new EnvError('cordon contain: invalid environment\n  API_KEY_RECORD_BUCKET: is not set; config.apiKeys.enabled needs the bucket of the record of the keys cordon disabled',
      ['API_KEY_RECORD_BUCKET']);
  }
  if ((e.RULE_GROUP_ARN === undefined) !== (e.RULE_GROUP_STAGES === undefined)) {
    const missing = e.RULE_GROUP_ARN === undefined ? 'RULE_GROUP_ARN' : 'RULE_GROUP_STAGES';
    throw new EnvError(`cordon contain: invalid environment\n  ${missing}: is not set; RULE_GROUP_ARN and RULE_GROUP_STAGES go together`, [missing]);
  }
  return {
    config,
    logLevel: e.LOG_LEVEL,
    ledgerTable: e.LEDGER_TABLE,
    wafScope: e.WAF_SCOPE,
    ipSets: { v4: e.IPSETS_V4, v6: e.IPSETS_V6 },
    ...(e.IPSETS_ROUTE_V4 && e.IPSETS_ROUTE_V6 ? { routeIpSets: { v4: e.IPSETS_ROUTE_V4, v6: e.IPSETS_ROUTE_V6 } } : {}),
    restApis: e.REST_APIS,
    alertTopicArn: e.ALERT_TOPIC_ARN,
    dryRun: e.DRY_RUN || config.dryRun,
    ...(e.DENY_LIST_BUCKET ? { denyList: { bucket: e.DENY_LIST_BUCKET, key: e.DENY_LIST_KEY ?? DENY_LIST_DEFAULT_KEY } } : {}),
    ...(e.API_KEY_RECORD_BUCKET
      ? { apiKeyRecord: { bucket: e.API_KEY_RECORD_BUCKET, key: e.API_KEY_RECORD_KEY ?? API_KEY_RECORD_DEFAULT_KEY } }
      : {}),
    ...(e.RULE_GROUP_ARN && e.RULE_GROUP_STAGES ? { ruleGroupCheck: { ruleGroupArn: e.RULE_GROUP_ARN, stages: e.RULE_GROUP_STAGES } } : {}),
  };
}

export function parseNotifySlackEnv(env: NodeJS.ProcessEnv = process.env): NotifySlackEnv {
  const e = parse('notify-slack', schemas.notifySlack, env);
  return { logLevel: e.LOG_LEVEL, slackSecretArn: e.SLACK_SECRET_ARN };
}
