import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { propsFromContext, stackNameFromContext } from './context.ts';
import { CordonStack } from './cordon-stack.ts';

/**
 * The cordon CDK app: one stack built from context (see cdk.json). It synthesizes offline: no lookups, and the
 * account and region stay CloudFormation pseudo-parameters, resolved at deploy time from the CLI's profile.
 */
const app = new App();
new CordonStack(app, stackNameFromContext(app.node), {
  description: 'cordon: learns normal API traffic and contains abusive clients (WAF IP sets, resource-policy deny)',
  cordon: propsFromContext(app.node),
});
// Security lint on every synth; every suppression in the construct carries its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
