import { z } from 'zod';

/**
 * The contract between the construct's `Custom::CordonTeardown` resource (infra/cordon-construct.ts `addTeardown`) and
 * its function (functions/teardown.ts): what cordon enforces on, as the resource's properties. CloudFormation hands
 * the properties of the last successful deploy to the Delete, so the teardown releases exactly what contain was
 * last told to write.
 */
export const TEARDOWN_TYPE = 'Custom::CordonTeardown';

/** The resource's properties (CloudFormation's spelling; it turns numbers into strings). */
export interface TeardownProps {
  WafScope: 'REGIONAL' | 'CLOUDFRONT';
  /** Every IP set cordon owns: the global sets and the route sets. */
  IpSets: { Name: string; Id: string; Family: 'v4' | 'v6' }[];
  RestApis: { RestApiId: string; StageName: string }[];
  /** The deny-list object (config.denyList.enabled). */
  DenyList?: { Bucket: string; Key: string };
  /** cordon's record of the API keys it disabled (config.apiKeys.enabled). */
  ApiKeyRecord?: { Bucket: string; Key: string };
  /** How long a contain run under way when its triggers went may still write (see TeardownOptions.settleMs). */
  SettleSeconds: number | string;
  /**
   * '1': the stack holds the release permissions a second time, in a policy updated after this resource, so an update
   * may release what it drops (functions/teardown.ts). Absent in the properties of a release before it: an update from
   * one has no such policy yet, and releases nothing.
   */
  ReleaseOnUpdate?: '1';
}

const object = <T extends z.ZodRawShape>(shape: T) => z.object(shape);
const s3Object = object({ Bucket: z.string().min(1), Key: z.string().min(1) });
const propsSchema = object({
  WafScope: z.enum(['REGIONAL', 'CLOUDFRONT']),
  IpSets: z.array(object({ Name: z.string().min(1), Id: z.string().min(1), Family: z.enum(['v4', 'v6']) })),
  RestApis: z.array(object({ RestApiId: z.string().min(1), StageName: z.string().min(1) })).default([]),
  DenyList: s3Object.optional(),
  ApiKeyRecord: s3Object.optional(),
  SettleSeconds: z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number).pipe(z.number().int().min(0).max(900)),
  ReleaseOnUpdate: z.literal('1').optional(),
});

export interface TeardownWiring {
  wafScope: 'REGIONAL' | 'CLOUDFRONT';
  ipSets: { name: string; id: string; family: 'v4' | 'v6' }[];
  restApis: { restApiId: string; stageName: string }[];
  denyList?: { bucket: string; key: string };
  apiKeyRecord?: { bucket: string; key: string };
  settleMs: number;
  /** See TeardownProps.ReleaseOnUpdate. */
  releaseOnUpdate?: boolean;
}

/** The properties of the resource, validated; throws naming what is wrong. */
export function parseTeardownProps(raw: unknown): TeardownWiring {
  const r = propsSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(properties)'}: ${i.message}`);
    throw new Error(`cordon teardown: invalid resource properties: ${issues.join('; ')}`);
  }
  const p = r.data;
  return {
    wafScope: p.WafScope,
    ipSets: p.IpSets.map((s) => ({ name: s.Name, id: s.Id, family: s.Family })),
    restApis: p.RestApis.map((a) => ({ restApiId: a.RestApiId, stageName: a.StageName })),
    ...(p.DenyList ? { denyList: { bucket: p.DenyList.Bucket, key: p.DenyList.Key } } : {}),
    ...(p.ApiKeyRecord ? { apiKeyRecord: { bucket: p.ApiKeyRecord.Bucket, key: p.ApiKeyRecord.Key } } : {}),
    settleMs: p.SettleSeconds * 1000,
    releaseOnUpdate: p.ReleaseOnUpdate === '1',
  };
}

/** Time the teardown keeps for its second pass and its answer: the wait before it is cut short, never the answer. */
export const SECOND_PASS_RESERVE_MS = 8 * 60_000;

/**
 * What an update stops enforcing on, to be released as the stack is updated (functions/teardown.ts): the stages of
 * an API no longer protected at all, the deny list when it is turned off, the key record when API keys are. A stage
 * whose API stays protected through another stage is not released: the resource policy is the API's, and its
 * statements still hold the blocks of the stages that stay. IP sets are left out: a set dropped from the template is
 * deleted by CloudFormation, and what it blocked with it.
 */
export function droppedTargets(before: TeardownWiring, after: TeardownWiring): TeardownWiring {
  const stillProtected = new Set(after.restApis.map((a) => a.restApiId));
  const same = (a?: { bucket: string; key: string }, b?: { bucket: string; key: string }) =>
    a !== undefined && b !== undefined && a.bucket === b.bucket && a.key === b.key;
  return {
    wafScope: before.wafScope,
    ipSets: [],
    restApis: before.restApis.filter((a) => !stillProtected.has(a.restApiId)),
    ...(before.denyList && !same(before.denyList, after.denyList) ? { denyList: before.denyList } : {}),
    ...(before.apiKeyRecord && !same(before.apiKeyRecord, after.apiKeyRecord) ? { apiKeyRecord: before.apiKeyRecord } : {}),
    settleMs: after.settleMs,
  };
}

/** Whether a wiring names no target at all. */
export function isEmptyWiring(w: TeardownWiring): boolean {
  return w.ipSets.length === 0 && w.restApis.length === 0 && w.denyList === undefined && w.apiKeyRecord === undefined;
}
