import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge, logicalId } from './nag';

export interface OperatorPolicyProps {
  readonly bucket: s3.IBucket;
  readonly ledger: dynamodb.ITable;
  /** The run state machine and the backup ones: the CLI starts, follows and redrives them. */
  readonly stateMachines: readonly sfn.IStateMachine[];
  /** Where the RunFinished events are kept (`crm-sync events --stack`). */
  readonly eventsLogGroup: logs.ILogGroup;
  /**
   * The stack's customer-managed key, when it has one: the operator reads reports and uploads
   * exports through it.
   * @default no KMS statement
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The managed policy a person (or CI job) who operates the stack with `crm-sync … --stack` needs,
 * and no more: read the stack's outputs, upload exports to `inbox/` and `dry-run/`, read
 * `reports/` and the inbox listing, read the ledger, start, follow and redrive the stack's own
 * state machines, and read the RunFinished events. Attach it to a role or group
 * (`OperatorPolicyArn` output).
 */
export class OperatorPolicy extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: OperatorPolicyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const executions = props.stateMachines.flatMap((m) => {
      const name = stack.splitArn(m.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName;
      return [
        stack.formatArn({
          service: 'states',
          resource: 'execution',
          resourceName: `${name}:*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
        stack.formatArn({
          service: 'states',
          resource: 'mapRun',
          resourceName: `${name}/*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ];
    });
    const statements = [
      new iam.PolicyStatement({
        sid: 'StackOutputs',
        actions: ['cloudformation:DescribeStacks'],
        resources: [stack.stackId],
      }),
      new iam.PolicyStatement({
        sid: 'UploadExports',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [props.bucket.arnForObjects('inbox/*'), props.bucket.arnForObjects('dry-run/*')],
      }),
      new iam.PolicyStatement({
        sid: 'ReadReportsAndInbox',
        // GetObject also answers HeadObject (a forced run checks the inbox object).
        actions: ['s3:GetObject'],
        resources: [props.bucket.arnForObjects('reports/*'), props.bucket.arnForObjects('inbox/*')],
      }),
      new iam.PolicyStatement({
        sid: 'ListInboxAndReports',
        actions: ['s3:ListBucket', 's3:ListBucketVersions'],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': ['inbox/*', 'reports/*'] } },
      }),
      new iam.PolicyStatement({
        sid: 'ReadLedger',
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'],
        resources: [props.ledger.tableArn],
      }),
      new iam.PolicyStatement({
        sid: 'RunStateMachines',
        actions: ['states:StartExecution', 'states:ListExecutions', 'states:ListMapRuns'],
        resources: props.stateMachines.map((m) => m.stateMachineArn),
      }),
      new iam.PolicyStatement({
        sid: 'FollowAndRedriveExecutions',
        actions: [
          'states:DescribeExecution',
          'states:GetExecutionHistory',
          'states:RedriveExecution',
          'states:ListMapRuns',
          'states:DescribeMapRun',
        ],
        resources: executions,
      }),
      new iam.PolicyStatement({
        sid: 'ReadRunEvents',
        actions: ['logs:FilterLogEvents'],
        resources: [props.eventsLogGroup.logGroupArn],
      }),
    ];
    if (props.encryptionKey) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'DataKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.encryptionKey.keyArn],
        }),
      );
    }
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `What an operator of ${stack.stackName} needs for crm-sync --stack ${stack.stackName}`,
      statements,
    });
    const bucketId = logicalId(props.bucket);
    for (const prefix of ['inbox', 'dry-run', 'reports']) {
      acknowledge(
        this.policy,
        `IAM5[Resource::<${bucketId}.Arn>/${prefix}/*]`,
        `Exports and reports of the stack's own bucket under ${prefix}/: file names and run ids are not known at deploy time.`,
      );
    }
    for (const m of props.stateMachines) {
      const name = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(m)}"}]}]}`;
      const arn = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>';
      acknowledge(
        this.policy,
        `IAM5[Resource::${arn}:execution:${name}:*]`,
        "The executions of the stack's own state machine: their names are made at run time.",
      );
      acknowledge(
        this.policy,
        `IAM5[Resource::${arn}:mapRun:${name}/*]`,
        "The Distributed Map runs of the stack's own state machine: made at run time.",
      );
    }
  }
}
