import { DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { z } from 'zod';
import { CrmSyncError } from '../../lambdas/domain/errors';
import { cloudFormationClient } from './clients';
import type { AwsTarget } from './target';

/** The stack exists but cannot be operated: it is being created, failed to create, or is gone. */
export class StackNotReadyError extends CrmSyncError {
  override readonly name = 'StackNotReadyError';
}

/** The stack has no crm-sync outputs (another stack of the same name), or they are malformed. */
export class NotACrmSyncStackError extends CrmSyncError {
  override readonly name = 'NotACrmSyncStackError';
}

/** One entity of a deployed stack: where its exports go and the table its runs write. */
export interface DeployedEntity {
  /** `s3://<bucket>/inbox/<entity>/` (the `InboxUrl<Entity>` output). */
  readonly inboxUrl: string;
  /** The target table (the `TargetTable<Entity>` output). */
  readonly tableName: string;
}

/** What a command needs of a deployed stack, read from its CloudFormation outputs. */
export interface DeployedStack {
  readonly stackName: string;
  /** The region the stack was found in. */
  readonly region: string;
  readonly bucket: string;
  readonly syncStateMachineArn: string;
  readonly ledgerTable: string;
  readonly snapshotStateMachineArn: string | undefined;
  readonly restoreStateMachineArn: string | undefined;
  /** The log group the RunFinished events go to (stacks deployed before it had none). */
  readonly eventsLogGroup: string | undefined;
  readonly alarmTopicArn: string | undefined;
  readonly dashboardName: string | undefined;
  /** By entity name (as in the config). */
  readonly entities: Readonly<Record<string, DeployedEntity>>;
}

/** Stack statuses whose resources are all in place (an update in progress keeps the old ones). */
const OPERABLE =
  /^(CREATE_COMPLETE|UPDATE_COMPLETE|UPDATE_ROLLBACK_COMPLETE|UPDATE_IN_PROGRESS|UPDATE_COMPLETE_CLEANUP_IN_PROGRESS|UPDATE_ROLLBACK_IN_PROGRESS|UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS|IMPORT_COMPLETE|IMPORT_ROLLBACK_COMPLETE)$/;

const arn = (service: string) =>
  z.string().regex(new RegExp(`^arn:aws[a-z-]*:${service}:`), `not a ${service} ARN`);

const outputsSchema = z.object({
  DataBucketName: z.string().min(3),
  SyncStateMachineArn: arn('states'),
  LedgerTableName: z.string().min(3),
  SnapshotStateMachineArn: arn('states').optional(),
  RestoreStateMachineArn: arn('states').optional(),
  EventsLogGroupName: z.string().min(1).optional(),
  AlarmTopicArn: arn('sns').optional(),
  DashboardName: z.string().min(1).optional(),
});

/** `s3://<bucket>/inbox/<entity>/` → the entity's name. */
const INBOX_URL = /^s3:\/\/([^/]+)\/inbox\/([^/]+)\/$/;

/** A deployed stack from its outputs (`OutputKey` → `OutputValue`), or NotACrmSyncStackError. */
export function deployedStackOf(
  stackName: string,
  region: string,
  outputs: readonly Output[],
): DeployedStack {
  const values = new Map<string, string>();
  for (const o of outputs)
    if (o.OutputKey && o.OutputValue !== undefined) values.set(o.OutputKey, o.OutputValue);
  const parsed = outputsSchema.safeParse(Object.fromEntries(values));
  if (!parsed.success) {
    const missing = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new NotACrmSyncStackError(
      `stack ${stackName} in ${region} is not a crm-sync stack (its outputs lack or garble: ${missing})`,
    );
  }
  const entities: Record<string, DeployedEntity> = {};
  for (const [key, value] of values) {
    const id = /^InboxUrl(.+)$/.exec(key)?.[1];
    if (id === undefined) continue;
    const match = INBOX_URL.exec(value);
    const tableName = values.get(`TargetTable${id}`);
    if (!match?.[2] || tableName === undefined) {
      throw new NotACrmSyncStackError(
        `stack ${stackName} in ${region}: output ${key} (${value}) has no entity inbox or no TargetTable${id}`,
      );
    }
    entities[match[2]] = { inboxUrl: value, tableName };
  }
  const o = parsed.data;
  return {
    stackName,
    region,
    bucket: o.DataBucketName,
    syncStateMachineArn: o.SyncStateMachineArn,
    ledgerTable: o.LedgerTableName,
    snapshotStateMachineArn: o.SnapshotStateMachineArn,
    restoreStateMachineArn: o.RestoreStateMachineArn,
    eventsLogGroup: o.EventsLogGroupName,
    alarmTopicArn: o.AlarmTopicArn,
    dashboardName: o.DashboardName,
    entities,
  };
}

/**
 * The deployed stack `target` names, from CloudFormation DescribeStacks: its resources are never
 * typed by hand. A stack being created, rolled back or deleted is StackNotReadyError; SDK errors
 * (unknown stack, no credentials, access denied) are left to `explainAwsError`.
 */
export async function describeDeployedStack(target: AwsTarget): Promise<DeployedStack> {
  const client = cloudFormationClient();
  const out = await client.send(new DescribeStacksCommand({ StackName: target.stackName }));
  const stack = out.Stacks?.[0];
  const region = await client.config.region();
  if (!stack) throw new StackNotReadyError(`stack ${target.stackName} not found in ${region}`);
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!OPERABLE.test(status)) {
    throw new StackNotReadyError(
      `stack ${target.stackName} in ${region} is ${status}: ` +
        (status.endsWith('_IN_PROGRESS')
          ? 'wait for it to finish, then run the command again'
          : 'deploy it again with `npx cdk deploy`'),
    );
  }
  return deployedStackOf(target.stackName, region, stack.Outputs ?? []);
}

/** The entity `name` of a deployed stack, or a UsageError-like line naming the ones it has. */
export function deployedEntity(stack: DeployedStack, name: string): DeployedEntity {
  const entity = stack.entities[name];
  if (!entity) {
    const names = Object.keys(stack.entities).sort().join(', ') || 'none';
    throw new NotACrmSyncStackError(`stack ${stack.stackName} has no entity "${name}" (it has: ${names})`);
  }
  return entity;
}
