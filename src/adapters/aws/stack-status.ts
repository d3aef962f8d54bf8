import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

/**
 * Whether the stack a custom resource belongs to is rolling back. CloudFormation sends a rollback to a custom resource
 * as an Update with the properties swapped (OldResourceProperties are then the failed deploy's), and nothing in the
 * event says so: only the stack's status does (UPDATE_ROLLBACK_IN_PROGRESS, or, for a nested stack rolled back by its
 * parent, the same status on its own stack id).
 */
export interface StackStatusPort {
  isRollingBack(stackId: string): Promise<boolean>;
}

export class CloudFormationStackStatus implements StackStatusPort {
  constructor(private readonly cfn: CloudFormationClient) {}

  async isRollingBack(stackId: string): Promise<boolean> {
    const out = await this.cfn.send(new DescribeStacksCommand({ StackName: stackId }));
    const status = out.Stacks?.[0]?.StackStatus;
    if (status === undefined) throw new Error(`DescribeStacks returned no stack for ${stackId}`);
    return isRollbackStatus(status);
  }
}

/** UPDATE_ROLLBACK_IN_PROGRESS and UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS (and any other *_ROLLBACK_*). */
export function isRollbackStatus(status: string): boolean {
  return status.includes('ROLLBACK');
}
