/**
 * Deploy-time checks and the access-log setting, run by a custom resource (`infra/deploy-guard-handler.ts`) before
 * cordon touches anything it does not own. Each check reads the account as it is at deploy time and stops the
 * deploy with a message that names the stage or log group and the choice to make; nothing here ever replaces,
 * overwrites or deletes what another owner set.
 *
 * - A stage that already has a web ACL: `AssociateWebACL` would replace that association without an error, so the
 *   owner's rules would silently stop applying (WAF API reference, AssociateWebACL; checked with
 *   GetWebACLForResource, which returns no web ACL for a stage without one).
 * - A log group that already has two subscription filters: CloudWatch Logs allows at most two per log group
 *   (CloudWatch Logs API reference, PutSubscriptionFilter), so cordon's would fail and roll the stack back.
 * - A stage whose access log already goes somewhere cordon did not set (`manageAccessLogFormat`).
 *
 * The logic is written against {@link GuardAws}, which the handler implements with the SDK and the tests with
 * moto_server or an in-memory fake.
 */

/** What cordon does about a stage's web ACL (the `existingWebAcl` prop). */
export type ExistingWebAclChoice = 'fail' | 'use-rule-group';

export interface StageRef {
  readonly restApiId: string;
  readonly stageName: string;
}

export const stageKey = (s: StageRef): string => `${s.restApiId}/${s.stageName}`;

export interface WebAclRef {
  readonly arn: string;
  readonly name: string;
}

/** A stage as the account has it, as far as cordon needs to know. */
export interface StageState {
  /** The access-log destination (a log group ARN, or a Firehose stream), when access logging is on. */
  readonly accessLogDestinationArn?: string;
  readonly accessLogFormat?: string;
}

/** The account, as the guard reads and changes it. */
export interface GuardAws {
  /** The stage, or undefined when the API or the stage does not exist. */
  getStage(stage: StageRef): Promise<StageState | undefined>;
  /** The web ACL associated with a REST API stage (its ARN), or undefined when it has none. */
  webAclOf(stageArn: string): Promise<WebAclRef | undefined>;
  /** The names of a log group's subscription filters, or undefined when the group does not exist. */
  subscriptionFilters(logGroupName: string): Promise<string[] | undefined>;
  /** Sets the stage's access-log destination and format (UpdateStage). */
  setAccessLog(stage: StageRef, destinationArn: string, format: string): Promise<void>;
  /** Sets only the stage's access-log format (UpdateStage). */
  setAccessLogFormat(stage: StageRef, format: string): Promise<void>;
  /** Turns the stage's access logging off (UpdateStage, `remove /accessLogSettings`). */
  removeAccessLog(stage: StageRef): Promise<void>;
}

/** A check that failed: the deploy stops with this message (all failures of one run, one per line). */
export class DeployCheckError extends Error {
  override name = 'DeployCheckError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** CloudWatch Logs allows at most this many subscription filters per log group. */
export const SUBSCRIPTION_FILTERS_PER_LOG_GROUP = 2;

// ------------------------------------------------------------------------------------------------ resources

/** The custom resource types the guard serves (the construct creates them, the handler dispatches on them). */
export const PREFLIGHT_TYPE = 'Custom::CordonPreflight';
export const ACCESS_LOG_TYPE = 'Custom::CordonAccessLog';

/** Properties of `Custom::CordonPreflight` as the construct writes them (CloudFormation passes scalars as strings). */
export interface PreflightProps {
  Stages?: { RestApiId: string; StageName: string; StageArn: string; ExistingWebAcl?: ExistingWebAclChoice }[];
  OwnWebAclArn?: string;
  OwnWebAclName?: string;
  LogGroups?: string[];
  FilterName: string;
  AccessLogs?: { RestApiId: string; StageName: string; DestinationArn: string }[];
}

/** Properties of `Custom::CordonAccessLog`. */
export interface AccessLogProps {
  RestApiId: string;
  StageName: string;
  DestinationArn: string;
  Format: string;
}

// ------------------------------------------------------------------------------------------------ preflight

export interface PreflightStage extends StageRef {
  readonly stageArn: string;
  /** Absent in attach mode (`existingWebAclArn`): cordon associates nothing and checks only that the stage exists. */
  readonly existingWebAcl?: ExistingWebAclChoice;
}

export interface PreflightAccessLog extends StageRef {
  /** The destination cordon sets. */
  readonly destinationArn: string;
  /** The destination cordon set for this stage before this update (a destination cordon may move). */
  readonly previousDestinationArn?: string;
}

export interface PreflightInput {
  readonly stages: readonly PreflightStage[];
  /** cordon's own web ACL (absent in attach mode). */
  readonly ownWebAcl?: WebAclRef;
  /** Log groups cordon subscribes but did not create. */
  readonly logGroups: readonly string[];
  /** The name of cordon's subscription filter (its own filter is not counted against the limit). */
  readonly filterName: string;
  /** Stages whose access logging cordon manages (`manageAccessLogFormat`). */
  readonly accessLogs: readonly PreflightAccessLog[];
}

export interface PreflightResult {
  /** For each `use-rule-group` stage, the web ACL to add cordon's rule group to: `<api>/<stage>: <web ACL ARN>`. */
  readonly ruleGroupTargets: string[];
}

/**
 * Whether a destination is the fixed-name group earlier versions of cordon created for a managed stage
 * (`/aws/apigateway/cordon/<restApiId>/<stageName>`): cordon set it, so it may move the stage off it.
 */
export function isLegacyCordonDestination(stage: StageRef, destinationArn: string | undefined): boolean {
  return destinationArn?.replace(/:\*$/, '').endsWith(`:log-group:/aws/apigateway/cordon/${stage.restApiId}/${stage.stageName}`) ?? false;
}

const isOwn = (acl: WebAclRef, own: WebAclRef | undefined): boolean =>
  own !== undefined && (acl.arn === own.arn || acl.name === own.name);

/** The message for a stage that already has another web ACL: what cordon will not do, and the choices. */
export function existingWebAclMessage(stage: StageRef, acl: WebAclRef): string {
  return (
    `stage ${stageKey(stage)} already has web ACL "${acl.name}" (${acl.arn}); cordon will not replace it ` +
    `(AssociateWebACL would, silently, and its rules would stop applying). Choose one: ` +
    `existingWebAcl: 'use-rule-group' for this stage (restApis[].existingWebAcl, or the top-level default), ` +
    `then add cordon's rule group to "${acl.name}" (output WebAclRuleToAdd); ` +
    `or existingWebAclArn: "${acl.arn}" (attach mode: cordon creates only the rule group); ` +
    `or take the stage out of restApis.`
  );
}

/**
 * Reads every stage, web ACL, log group and access-log destination the deploy is about to depend on, and stops the
 * deploy (a {@link DeployCheckError} listing every problem) before anything is created that would replace,
 * overwrite or fail on them.
 */
export async function preflight(input: PreflightInput, aws: GuardAws): Promise<PreflightResult> {
  const problems: string[] = [];
  const ruleGroupTargets: string[] = [];
  const stages = new Map<string, StageState | undefined>();
  const stageOf = async (s: StageRef) => {
    const key = stageKey(s);
    if (!stages.has(key)) stages.set(key, await aws.getStage(s));
    return stages.get(key);
  };

  for (const s of input.stages) {
    if (!(await stageOf(s))) {
      problems.push(`stage ${stageKey(s)} does not exist (GetStage found no such REST API stage in this account and region); check restApis.`);
      continue;
    }
    if (!s.existingWebAcl) continue;
    const acl = await aws.webAclOf(s.stageArn);
    if (s.existingWebAcl === 'fail') {
      if (acl && !isOwn(acl, input.ownWebAcl)) problems.push(existingWebAclMessage(s, acl));
    } else if (!acl) {
      problems.push(
        `stage ${stageKey(s)} is set to existingWebAcl: 'use-rule-group' but has no web ACL, so cordon's WAF blocks would ` +
          `not reach it. Set existingWebAcl: 'fail' for it (cordon associates its own web ACL), or associate your web ACL first.`,
      );
    } else if (isOwn(acl, input.ownWebAcl)) {
      problems.push(
        `stage ${stageKey(s)} is set to existingWebAcl: 'use-rule-group' but is protected by cordon's own web ACL "${acl.name}", ` +
          `which this deploy removes from it, leaving it with none. Associate your web ACL with the stage first, ` +
          `or keep existingWebAcl: 'fail' for it.`,
      );
    } else {
      ruleGroupTargets.push(`${stageKey(s)}: ${acl.arn}`);
    }
  }

  for (const group of input.logGroups) {
    const filters = await aws.subscriptionFilters(group);
    if (filters === undefined) {
      problems.push(
        `log group "${group}" does not exist, so cordon cannot subscribe to it. Create it (or let the stage write its ` +
          `first access log), or correct restApis[].logGroupName / logGroupNames.`,
      );
      continue;
    }
    const others = filters.filter((f) => f !== input.filterName);
    if (others.length >= SUBSCRIPTION_FILTERS_PER_LOG_GROUP) {
      problems.push(
        `log group "${group}" already has ${others.length} subscription filters (${others.join(', ')}); CloudWatch Logs ` +
          `allows ${SUBSCRIPTION_FILTERS_PER_LOG_GROUP} per log group, so cordon's would fail and roll the stack back. ` +
          `Remove or merge one of them, or take the group out of restApis / logGroupNames.`,
      );
    }
  }

  for (const a of input.accessLogs) {
    const stage = await stageOf(a);
    if (!stage) {
      if (!input.stages.some((s) => stageKey(s) === stageKey(a))) {
        problems.push(`stage ${stageKey(a)} does not exist (GetStage found no such REST API stage in this account and region); check restApis.`);
      }
      continue;
    }
    const current = stage.accessLogDestinationArn;
    if (current && current !== a.destinationArn && current !== a.previousDestinationArn && !isLegacyCordonDestination(a, current)) {
      problems.push(accessLogDestinationMessage(a, current));
    }
  }

  if (problems.length > 0) throw new DeployCheckError(problems);
  return { ruleGroupTargets };
}

/** The message for a stage that already logs somewhere cordon did not set. */
export function accessLogDestinationMessage(stage: StageRef, current: string): string {
  const group = /:log-group:([^:]+)(:\*)?$/.exec(current)?.[1];
  return (
    `stage ${stageKey(stage)} already writes its access log to ${current}; cordon does not overwrite a destination ` +
    `it did not set (manageAccessLogFormat). Choose one: ` +
    (group
      ? `set this stage's logGroupName to "${group}" (cordon then subscribes that group and sets only the format there); `
      : '') +
    `or turn manageAccessLogFormat off, give cordon the stage's log group as logGroupName and apply the recommended ` +
    `format yourself (accessLogCliCommand in infra/access-log-format.ts).`
  );
}

// ------------------------------------------------------------------------------------------------ access log

export interface AccessLogRequest extends StageRef {
  readonly destinationArn: string;
  readonly format: string;
}

/**
 * Whether cordon set the stage's destination (`set`: it had none; cordon turns logging off again on delete) or
 * only its format (`format`: the stage already logged to the group named as its logGroupName; left as is on
 * delete). Kept in the custom resource's physical id, so a later update or delete knows.
 */
export type AccessLogOwnership = 'set' | 'format';

export const accessLogPhysicalId = (stage: StageRef, ownership: AccessLogOwnership): string =>
  `${stageKey(stage)}/access-log/${ownership}`;

export function ownershipOf(physicalId: string | undefined): AccessLogOwnership | undefined {
  const m = /\/access-log\/(set|format)$/.exec(physicalId ?? '');
  return m ? (m[1] as AccessLogOwnership) : undefined;
}

/**
 * Create or update: sets the recommended format, and the destination when the stage has none (or still has the
 * one cordon set). Refuses (a {@link DeployCheckError}) a stage that logs somewhere cordon did not set.
 *
 * @param previous on update, the resource's old properties and physical id.
 * @returns the ownership to record.
 */
export async function applyAccessLog(
  req: AccessLogRequest,
  aws: GuardAws,
  previous?: { req: AccessLogRequest; physicalId: string },
): Promise<AccessLogOwnership> {
  const stage = await aws.getStage(req);
  if (!stage) throw new DeployCheckError([`stage ${stageKey(req)} does not exist; check restApis.`]);
  const sameStage = previous !== undefined && stageKey(previous.req) === stageKey(req);
  const before = sameStage ? ownershipOf(previous.physicalId) : undefined;
  const current = stage.accessLogDestinationArn;
  // cordon's own destination: set by this resource before (and not changed since by anyone else).
  const ownCurrent = (before === 'set' && current === previous?.req.destinationArn) || isLegacyCordonDestination(req, current);
  if (!current || ownCurrent) {
    if (current !== req.destinationArn || stage.accessLogFormat !== req.format) {
      await aws.setAccessLog(req, req.destinationArn, req.format);
    }
    return 'set';
  }
  if (current === req.destinationArn) {
    if (stage.accessLogFormat !== req.format) await aws.setAccessLogFormat(req, req.format);
    return before ?? 'format';
  }
  throw new DeployCheckError([accessLogDestinationMessage(req, current)]);
}

/**
 * Delete: turns access logging off when cordon turned it on and the stage still logs to cordon's destination (the
 * stage is then as it was before cordon); otherwise leaves the stage as it is.
 */
export async function removeAccessLog(req: AccessLogRequest, aws: GuardAws, physicalId: string): Promise<boolean> {
  if (ownershipOf(physicalId) !== 'set') return false;
  const stage = await aws.getStage(req);
  if (!stage || stage.accessLogDestinationArn !== req.destinationArn) return false;
  await aws.removeAccessLog(req);
  return true;
}
