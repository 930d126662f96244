import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { CrmSyncConfig } from '../lambdas/domain/config';
import { allowTable, KEY_ACTIONS, QueueDestination } from './grants';
import { acknowledge, acknowledgeWorkerRuntime, logicalId } from './nag';
import { WorkerFunction } from './worker-function';

export interface SyncSchedulesProps {
  /** The validated config: one schedule per entity that has `schedule`. */
  readonly config: CrmSyncConfig;
  /** Path of the config file, bundled into the function (it derives run ids with the config hash). */
  readonly configFile: string;
  /** The workers' environment (bucket, ledger and target tables). */
  readonly environment: Readonly<Record<string, string>>;
  readonly bucket: s3.IBucket;
  /** Prefix of the inboxes (`inbox/`): the function lists `<inboxPrefix><entity>/` only. */
  readonly inboxPrefix: string;
  readonly ledger: dynamodb.ITable;
  /** The run state machine the schedules start. */
  readonly stateMachine: sfn.IStateMachine;
  /** Where a tick goes that could not be delivered, or whose function failed after its retries. */
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Customer-managed key of the function's log group. The queue's and the ledger's own keys, if
   * any, are granted where they are used.
   * @default - CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * Ongoing sync on AWS: one EventBridge Scheduler schedule per entity with a `schedule`, all invoking
 * one small function (`scheduled-sync`) with `{entity, scheduledTime}`. The function lists the
 * entity's inbox, and starts the run state machine on the newest export unless the ledger holds its
 * run. It may list those inbox prefixes (object versions), read ledger items and start executions of
 * that state machine, nothing else.
 */
export class SyncSchedules extends Construct {
  readonly function: WorkerFunction;
  /** The role EventBridge Scheduler assumes to invoke the function. */
  readonly schedulerRole: iam.Role;
  /** Schedule per entity name. */
  readonly schedules: Readonly<Record<string, scheduler.Schedule>>;

  constructor(scope: Construct, id: string, props: SyncSchedulesProps) {
    super(scope, id);
    const scheduled = Object.entries(props.config.entities).filter(
      (e): e is [string, (typeof e)[1] & { schedule: string }] => e[1].schedule !== undefined,
    );
    this.function = new WorkerFunction(this, 'Function', {
      handler: 'scheduled-sync',
      configFile: props.configFile,
      environment: {
        ...props.environment,
        CRM_SYNC_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      },
      memorySize: 256,
      timeout: Duration.minutes(1),
      ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
    });
    const fn = this.function.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ListScheduledInboxes',
        actions: ['s3:ListBucketVersions'],
        resources: [props.bucket.bucketArn],
        conditions: {
          StringEquals: { 's3:prefix': scheduled.map(([name]) => `${props.inboxPrefix}${name}/`) },
        },
      }),
    );
    allowTable(fn, props.ledger, ['dynamodb:GetItem']);
    props.stateMachine.grantStartExecution(fn);
    // Scheduler invokes the function asynchronously: a tick that fails after Lambda's own retries
    // goes to the dead-letter queue too.
    fn.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new QueueDestination(props.deadLetterQueue),
    });

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'crm-sync: EventBridge Scheduler invokes the scheduled-sync function',
    });
    // Scheduler sends an undeliverable tick to the dead-letter queue as this role (its target
    // grants sqs:SendMessage only): an encrypted queue needs the key too.
    props.deadLetterQueue.encryptionMasterKey?.grant(this.schedulerRole, ...KEY_ACTIONS.encrypt);
    const schedules: Record<string, scheduler.Schedule> = {};
    for (const [name, entity] of scheduled) {
      schedules[name] = new scheduler.Schedule(this, `Schedule-${name}`, {
        description: `crm-sync: runs the newest export under ${props.inboxPrefix}${name}/ not yet run`,
        schedule: scheduler.ScheduleExpression.expression(
          entity.schedule,
          TimeZone.of(entity.scheduleTimezone ?? 'UTC'),
        ),
        target: new schedulerTargets.LambdaInvoke(fn, {
          role: this.schedulerRole,
          input: scheduler.ScheduleTargetInput.fromObject({
            entity: name,
            scheduledTime: scheduler.ContextAttribute.scheduledTime,
          }),
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    this.schedules = schedules;
    this.acknowledgeFindings();
  }

  private acknowledgeFindings(): void {
    acknowledgeWorkerRuntime(this.function);
    acknowledge(
      this.schedulerRole,
      `IAM5[Resource::<${logicalId(this.function.function)}.Arn>:*]`,
      'The scheduler target grant allows the function\'s versions and aliases (":*").',
    );
  }
}
