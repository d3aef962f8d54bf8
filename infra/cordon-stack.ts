import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Cordon } from './cordon-construct.ts';
import type { CordonProps } from './props.ts';

export interface CordonStackProps extends StackProps {
  readonly cordon: CordonProps;
}

/** One cordon per account and region: the {@link Cordon} construct in a stack of its own. */
export class CordonStack extends Stack {
  readonly cordon: Cordon;

  constructor(scope: Construct, id: string, props: CordonStackProps) {
    super(scope, id, props);
    this.cordon = new Cordon(this, 'Cordon', props.cordon);
  }
}
