import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CordonStack } from '../../infra/cordon-stack.ts';
import type { CordonProps } from '../../infra/props.ts';

/** A deployment that uses every option: two protected stages (one managed, one logging to its own group), an HTTP
 * API log group, Slack, e-mail and a custom config. */
export const FULL_PROPS = {
  restApis: [
    { restApiId: 'a1b2c3d4e5', stageName: 'prod', logGroupName: 'API-Gateway-Access-Logs_a1b2c3d4e5/prod' },
    { restApiId: 'f6g7h8i9j0', stageName: 'v1' },
  ],
  logGroupNames: ['/aws/http-api/orders'],
  manageAccessLogFormat: true,
  slackSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cordon/slack-AbCdEf',
  alertEmail: 'secops@example.com',
  shards: 2,
  ipSetsPerFamily: 3,
  config: { windows: { sizeSeconds: 60 }, allowlist: { cidrs: ['10.0.0.0/8'] } },
} satisfies CordonProps;

export const WEB_ACL_ARN =
  'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/existing/0f3c2b1a-1111-2222-3333-444455556666';

export interface Synthesized {
  app: App;
  stack: CordonStack;
  template: Template;
}

/**
 * One stack with `props`. Without `bundle`, asset bundling is skipped (CDK's own `aws:cdk:bundling-stacks`
 * context), so template tests do not run esbuild; the bundling test turns it on.
 */
export function synth(props: CordonProps, opts: { bundle?: boolean; outdir?: string } = {}): Synthesized {
  const app = new App({
    outdir: opts.outdir,
    context: {
      // CDK's own CloudFormation checks at synth: findings fail the synth (cdk.json sets the same flag).
      '@aws-cdk/core:validateAgainstDefaultRules': true,
      ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const stack = new CordonStack(app, 'CordonTest', { cordon: props });
  return { app, stack, template: Template.fromStack(stack) };
}

export type Json = Record<string, any>;

export interface Statement {
  /** Logical id of the policy (or role with inline policies) holding the statement. */
  holder: string;
  /** Logical id of the role the policy is attached to. */
  role: string;
  actions: string[];
  resources: unknown[];
  sid?: string;
  effect: 'Allow' | 'Deny';
  condition?: Json;
}

const asArray = <T,>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every identity-policy statement of the template, with the role it belongs to. */
export function iamStatements(template: Template): Statement[] {
  const out: Statement[] = [];
  const resources = template.toJSON().Resources as Record<string, Json>;
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Policy') {
      for (const roleRef of asArray<Json>(r.Properties.Roles)) {
        for (const st of r.Properties.PolicyDocument.Statement as Json[]) {
          out.push({
            holder: id,
            role: roleRef.Ref,
            actions: asArray(st.Action),
            resources: asArray(st.Resource),
            sid: st.Sid,
            effect: st.Effect,
            condition: st.Condition,
          });
        }
      }
    }
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of asArray<Json>(r.Properties.Policies)) {
        for (const st of p.PolicyDocument.Statement as Json[]) {
          out.push({
            holder: id,
            role: id,
            actions: asArray(st.Action),
            resources: asArray(st.Resource),
            sid: st.Sid,
            effect: st.Effect,
            condition: st.Condition,
          });
        }
      }
    }
  }
  return out;
}

/** Logical id of the one resource of `type` whose logical id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

/** The role logical id of a function. */
export function roleOf(template: Template, functionId: string): string {
  const fn = template.toJSON().Resources[functionId] as Json;
  return fn.Properties.Role['Fn::GetAtt'][0];
}

/**
 * A CloudFormation value with its intrinsics replaced by plausible deploy-time values, so that the environment a
 * function will see can be fed to its parser: `Ref` → `ref-<id>` (or an ARN for topics), `GetAtt` → `<id>-<attr>`,
 * pseudo parameters → a fixed account and region.
 */
export function resolveIntrinsics(value: unknown, template: Template): unknown {
  const resources = template.toJSON().Resources as Record<string, Json>;
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': 'eu-west-1',
    'AWS::AccountId': '123456789012',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const o = v as Json;
      if ('Ref' in o) {
        const id = o.Ref as string;
        if (pseudo[id]) return pseudo[id];
        if (resources[id]?.Type === 'AWS::SNS::Topic') return `arn:aws:sns:eu-west-1:123456789012:${id}`;
        return `ref-${id}`;
      }
      if ('Fn::GetAtt' in o) return `${o['Fn::GetAtt'][0]}-${o['Fn::GetAtt'][1]}`;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map((p) => String(walk(p))).join(sep);
      }
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value);
}

/** The environment variables of a function as its code will see them. */
export function functionEnv(template: Template, functionId: string): Record<string, string> {
  const fn = template.toJSON().Resources[functionId] as Json;
  return resolveIntrinsics(fn.Properties.Environment?.Variables ?? {}, template) as Record<string, string>;
}
