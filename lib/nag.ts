import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges a cdk-nag AwsSolutions finding (`L1`, `IAM5[Resource::*]`…) of a construct, with its reason. */
export function acknowledge(scope: IConstruct, finding: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${finding}`, reason });
}

/** The logical id of a construct's resource, as cdk-nag names it in a finding. */
export function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
}

/** What every worker function's role holds: the Node.js runtime, X-Ray. */
export function acknowledgeWorkerRuntime(worker: IConstruct): void {
  acknowledge(
    worker,
    'L1',
    'Workers run nodejs22.x on purpose: the runtime the project tests and runs locally.',
  );
  acknowledge(
    worker,
    'IAM5[Resource::*]',
    'X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.',
  );
}

/**
 * A worker that reads and writes objects of the data bucket: its runtime and X-Ray, and one object
 * wildcard per prefix (`why`: why the names are not known at deploy time). Its S3 actions are named
 * one by one (lib/grants.ts), so no action wildcard is acknowledged.
 */
export function acknowledgeBucketWorker(
  worker: IConstruct,
  bucket: IConstruct,
  prefixes: readonly string[],
  why: string,
): void {
  acknowledgeWorkerRuntime(worker);
  const data = logicalId(bucket);
  for (const prefix of prefixes) {
    acknowledge(worker, `IAM5[Resource::<${data}.Arn>/${prefix}/*]`, `Objects under ${prefix}/ only: ${why}`);
  }
}

/**
 * A state machine with Distributed Maps: X-Ray and logs delivery, the versions and aliases of the
 * functions it invokes, and its maps' own child executions.
 */
export function acknowledgeStateMachine(machine: IConstruct, functions: readonly IConstruct[]): void {
  acknowledge(
    machine,
    'IAM5[Resource::*]',
    'X-Ray and CloudWatch Logs delivery actions have no resource-level permissions.',
  );
  for (const fn of functions) {
    acknowledge(
      machine,
      `IAM5[Resource::<${logicalId(fn)}.Arn>:*]`,
      'LambdaInvoke allows the function\'s versions and aliases (":*").',
    );
  }
  const executions = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(machine)}"}]}]}`;
  acknowledge(machine, `IAM5[Resource::${executions}:*]`, "The Distributed Map's own child executions.");
  acknowledge(
    machine,
    `IAM5[Resource::${executions}/*:*]`,
    "The Distributed Map's own child executions (map runs).",
  );
}
