import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import { CloudFormationStackStatus, isRollbackStatus } from '../../src/adapters/aws/stack-status.ts';
import { describeMoto, useMoto } from '../helpers/moto.ts';

/** The teardown's question on an Update (functions/teardown.ts): is this stack rolling back? */

describe('isRollbackStatus', () => {
  it.each([
    ['UPDATE_ROLLBACK_IN_PROGRESS', true],
    ['UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS', true],
    ['ROLLBACK_IN_PROGRESS', true],
    ['UPDATE_IN_PROGRESS', false],
    ['UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', false],
    ['CREATE_COMPLETE', false],
  ])('%s → %s', (status, rolling) => {
    expect(isRollbackStatus(status)).toBe(rolling);
  });
});

describeMoto('CloudFormationStackStatus on moto', () => {
  const moto = useMoto();

  it('reads the status of the stack by its id: a stack that is not rolling back says so; one that does not exist throws', async () => {
    const cfn = new CloudFormationClient(moto.clientConfig());
    const created = await cfn.send(new CreateStackCommand({ StackName: 'cordon-status', TemplateBody: JSON.stringify({
      Resources: { Topic: { Type: 'AWS::SNS::Topic' } } }) }));
    const status = new CloudFormationStackStatus(cfn);
    expect(await status.isRollingBack(created.StackId!)).toBe(false);
    await expect(status.isRollingBack('arn:aws:cloudformation:us-east-1:123456789012:stack/none/0')).rejects.toThrow();
    cfn.destroy();
  });
});
