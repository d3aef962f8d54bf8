import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnResource, Lazy, type Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The four Lambda entries in `functions/`, the deploy-time guard behind cordon's custom resources, and the teardown
 * that releases every block when cordon is removed.
 */
export type CordonEntry = 'ingest' | 'detect' | 'contain' | 'notify-slack' | 'deploy-guard' | 'teardown';

/** Where each entry's handler lives. */
const ENTRY_FILES: Record<CordonEntry, string> = {
  ingest: 'functions/ingest.ts',
  detect: 'functions/detect.ts',
  contain: 'functions/contain.ts',
  'notify-slack': 'functions/notify-slack.ts',
  'deploy-guard': 'infra/deploy-guard-handler.ts',
  teardown: 'functions/teardown.ts',
};

/**
 * A function's Powertools service name (POWERTOOLS_SERVICE_NAME): the `service` key of its log lines and the
 * `service` dimension of its `Cordon` metrics, which the alarms and the dashboard name (infra/observability.ts).
 */
export const serviceNameOf = (entry: CordonEntry): string => `cordon-${entry}`;

/** The runtime every cordon function uses (a test pins it). */
export const CORDON_RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * ESM bundles still meet CommonJS dependencies that call `require` (Node built-ins inside the AWS SDK, for
 * instance); this gives them one.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __cordonCreateRequire } from 'node:module'; const require = __cordonCreateRequire(import.meta.url);";

export interface CordonFunctionProps {
  /** Which handler to bundle (see ENTRY_FILES). */
  readonly entryName: CordonEntry;
  readonly description: string;
  /** Function-specific variables, on top of LOG_LEVEL, POWERTOOLS_SERVICE_NAME and NODE_OPTIONS. */
  readonly environment: Record<string, string>;
  readonly logLevel: string;
  readonly logRetentionDays: number;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** Cap on concurrent executions (contain: 1, the single WAF writer). */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Every cordon Lambda, set up once (after Powertools' `function-with-logstream-construct`): nodejs22.x on ARM64,
 * bundled locally by esbuild (no Docker) into a minified ESM file with a source map, its own log group with a
 * retention, X-Ray tracing, and its own role that may write only to that log group; each stage then grants
 * the role exactly the resources it uses.
 */
export class CordonFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: CordonFunctionProps) {
    // The log group and role are created beside the function (not inside it) because both must exist before
    // the function does: its LoggingConfig names the group and its role's policy names the group's ARN.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetentionDays as logs.RetentionDays,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `cordon ${props.entryName} function`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'OwnLogGroupOnly',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    super(scope, id, {
      entry: resolve(REPO_ROOT, ENTRY_FILES[props.entryName]),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: resolve(REPO_ROOT, 'package-lock.json'),
      runtime: CORDON_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      environment: {
        LOG_LEVEL: props.logLevel,
        POWERTOOLS_SERVICE_NAME: serviceNameOf(props.entryName),
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT, // a linked .map file beside the bundle
        sourcesContent: false,
        // Bundle the SDK too: the versions the lockfile pins are the versions the tests ran against.
        bundleAwsSDK: true,
        forceDockerBundling: false,
      },
    });

    dropRedundantRoleDependency(this.node.defaultChild as CfnResource, role.node.defaultChild as CfnResource);
  }
}

/**
 * Lambda makes a function depend on its whole role, but the function's `Role: GetAtt` already orders the two; the
 * redundant DependsOn is what cfn-lint reports as W3005. This keeps every other dependency (the role's policy).
 */
export function dropRedundantRoleDependency(cfnFunction: CfnResource, cfnRole: CfnResource): void {
  cfnFunction.addOverride(
    'DependsOn',
    Lazy.list({
      produce: () =>
        cfnFunction
          .obtainDependencies()
          .filter((d): d is CfnResource => CfnResource.isCfnResource(d) && d !== cfnRole)
          .map((d) => d.logicalId),
    }),
  );
}
