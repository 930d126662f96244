import {
  type RestoreInput,
  restoreInputSchema,
  restoreSummarySchema,
  type SnapshotInput,
  snapshotInputSchema,
  snapshotSummarySchema,
} from '../../lambdas/contract/backup';
import { manifestKey, snapshotPrefix } from '../../lambdas/domain/snapshot';
import type { LocalBackupResult } from '../../local/snapshot';
import { UsageError } from '../options';
import { type DeployedStack, deployedEntity } from './deployed-stack';
import { type ExecutionEnd, followExecution, startExecution } from './executions';
import type { AwsRunContext } from './run';

/** The backup state machine of a stack, or a line saying the stack predates it. */
function machineOf(stack: DeployedStack, kind: 'snapshot' | 'restore'): string {
  const arn = kind === 'snapshot' ? stack.snapshotStateMachineArn : stack.restoreStateMachineArn;
  const output = kind === 'snapshot' ? 'SnapshotStateMachineArn' : 'RestoreStateMachineArn';
  if (!arn)
    throw new UsageError(
      `stack ${stack.stackName} has no ${output} output: deploy it again (\`npx cdk deploy\`)`,
    );
  return arn;
}

/** The error of an execution that did not succeed: its own, else how it ended (timed out, aborted). */
function failureOf(end: ExecutionEnd, succeeded: boolean): Pick<LocalBackupResult, 'error'> {
  if (end.error) return { error: end.error };
  return succeeded
    ? {}
    : { error: { name: `Execution${end.status}`, message: `the execution ended ${end.status}` } };
}

/** Runs a backup state machine on `input` and follows it to its end. */
async function runBackup(
  stack: DeployedStack,
  kind: 'snapshot' | 'restore',
  input: SnapshotInput | RestoreInput,
  ctx: AwsRunContext,
) {
  const arn = await startExecution(machineOf(stack, kind), input);
  ctx.onProgress?.(`execution ${arn}`);
  return followExecution(arn, { onProgress: ctx.onProgress, waiting: ctx.waiting });
}

/**
 * `crm-sync snapshot --stack`: the Snapshot state machine on the entity's table (a consistent
 * point in time: the entity is locked meanwhile), its summary as a local snapshot's.
 */
export async function snapshotOnStack(
  stack: DeployedStack,
  options: {
    entity: string;
    snapshotId?: string | undefined;
    formats?: Array<'jsonl' | 'csv'> | undefined;
    segments?: number | undefined;
  },
  ctx: AwsRunContext,
): Promise<LocalBackupResult> {
  const started = Date.now();
  const table = deployedEntity(stack, options.entity).tableName;
  const input = snapshotInputSchema.parse({
    entity: options.entity,
    ...(options.snapshotId !== undefined ? { snapshotId: options.snapshotId } : {}),
    ...(options.formats !== undefined ? { formats: options.formats } : {}),
    ...(options.segments !== undefined ? { segments: options.segments } : {}),
  });
  const end = await runBackup(stack, 'snapshot', input, ctx);
  const out = end.status === 'SUCCEEDED' ? snapshotSummarySchema.parse(end.output) : undefined;
  return {
    kind: 'snapshot',
    status: out ? 'SUCCEEDED' : 'FAILED',
    entity: options.entity,
    table,
    snapshotId: out?.snapshotId ?? options.snapshotId ?? null,
    items: out?.items ?? null,
    digest: out?.digest ?? null,
    manifest: out ? `s3://${stack.bucket}/${out.manifestKey}` : null,
    durationMs: Date.now() - started,
    ...failureOf(end, out !== undefined),
  };
}

/**
 * `crm-sync restore <snapshotId> --stack`: the Restore state machine loads a snapshot the bucket
 * holds (`snapshots/<entity>/<id>/`) into the entity's empty table and checks it item by item.
 */
export async function restoreOnStack(
  stack: DeployedStack,
  options: { entity: string; snapshot: string; fromEntity?: string | undefined },
  ctx: AwsRunContext,
): Promise<LocalBackupResult> {
  const started = Date.now();
  const table = deployedEntity(stack, options.entity).tableName;
  if (!/^[\w.:-]+$/.test(options.snapshot)) {
    throw new UsageError(
      `restore --stack takes the id of a snapshot in the stack's bucket (snapshots/<entity>/<id>/), not "${options.snapshot}"`,
    );
  }
  const input = restoreInputSchema.parse({
    entity: options.entity,
    snapshotId: options.snapshot,
    ...(options.fromEntity !== undefined ? { fromEntity: options.fromEntity } : {}),
  });
  const end = await runBackup(stack, 'restore', input, ctx);
  const out = end.status === 'SUCCEEDED' ? restoreSummarySchema.parse(end.output) : undefined;
  const prefix = out?.prefix ?? snapshotPrefix(options.fromEntity ?? options.entity, options.snapshot);
  return {
    kind: 'restore',
    status: out ? 'SUCCEEDED' : 'FAILED',
    entity: options.entity,
    table,
    snapshotId: out?.snapshotId ?? options.snapshot,
    restoreId: out?.restoreId ?? null,
    items: out?.items ?? null,
    digest: out?.digest ?? null,
    manifest: `s3://${stack.bucket}/${manifestKey(prefix)}`,
    durationMs: Date.now() - started,
    ...failureOf(end, out !== undefined),
  };
}
