import type { Node } from 'constructs';
import { resolveCordonProps, type CordonProps } from './props.ts';

/**
 * The CDK app's context keys (cdk.json `context`, or `-c key=value` on the command line) are the construct's
 * props under the same names. `-c` values arrive as strings, so JSON, booleans and numbers are read from them;
 * `null` or an empty string means "not set".
 */
export const CONTEXT_KEYS = [
  'restApis',
  'logGroupNames',
  'manageAccessLogFormat',
  'existingWebAclArn',
  'existingWebAcl',
  'slackSecretArn',
  'alertEmail',
  'dryRun',
  'shards',
  'summaryShards',
  'ipSetsPerFamily',
  'config',
  'logLevel',
  'logRetentionDays',
  'denyListKey',
  'summaryWireLevel',
  'detectMemoryMb',
  'ingestBatchingWindowSeconds',
] as const;

/** Reads one context value as the construct expects it. */
export function coerceContextValue(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (text === '') return undefined;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text.startsWith('[') || text.startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return value; // left as a string: validation then says what was expected
    }
  }
  return value;
}

/**
 * The construct props from the app's context, validated here so that a wrong value is reported as a context key
 * (a CordonPropsError); the construct validates them again as props.
 */
export function propsFromContext(node: Node): CordonProps {
  const raw: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const v = coerceContextValue(node.tryGetContext(key));
    if (v !== undefined) raw[key] = v;
  }
  resolveCordonProps(raw, 'cdk context (cdk.json "context" or -c key=value)');
  return raw as CordonProps;
}

/** Name of the stack (context `stackName`), default `Cordon`. */
export function stackNameFromContext(node: Node): string {
  const v = coerceContextValue(node.tryGetContext('stackName'));
  if (v === undefined) return 'Cordon';
  if (typeof v !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(v)) {
    throw new Error(`cdk context: stackName: must be a CloudFormation stack name (letters, digits, -), got ${JSON.stringify(v)}`);
  }
  return v;
}
