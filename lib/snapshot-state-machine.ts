import { CfnOutput, Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { permanentErrorNames } from '../lambdas/domain/permanent-errors';
import { RUN_TIMEOUT_SECONDS } from '../lambdas/domain/run';
import {
  allowList,
  allowObjects,
  allowTable,
  BUCKET_ACTIONS,
  KEY_ACTIONS,
  LEDGER_ACTIONS,
  TABLE_ACTIONS,
} from './grants';
import { acknowledge, acknowledgeBucketWorker, acknowledgeStateMachine, logicalId } from './nag';
import { BUSY_RETRY, LAMBDA_SERVICE_RETRY, lambdaTaskTimeout, TRANSIENT_RETRY } from './sync-state-machine';
import { WorkerFunction } from './worker-function';

/** Stable state names of the Snapshot state machine (the local runner binds Tasks by name). */
export const SNAPSHOT_STATE = {
  prepare: 'PrepareSnapshot',
  map: 'ExportSegments',
  worker: 'ExportSegment',
  finish: 'FinishSnapshot',
  succeeded: 'SnapshotSucceeded',
  abort: 'AbortSnapshot',
  failed: 'SnapshotFailed',
} as const;

/** Stable state names of the Restore state machine. */
export const RESTORE_STATE = {
  prepare: 'PrepareRestore',
  verifyMap: 'VerifyParts',
  verify: 'VerifyPart',
  loadMap: 'LoadParts',
  load: 'LoadPart',
  checkMap: 'CheckTarget',
  check: 'CheckSegment',
  finish: 'FinishRestore',
  succeeded: 'RestoreSucceeded',
  abort: 'AbortRestore',
  failed: 'RestoreFailed',
} as const;

/** Errors of snapshots and restores that no retry can fix: their PermanentError classes. */
export const BACKUP_PERMANENT_ERRORS: readonly string[] = permanentErrorNames('backup');

/** Where snapshots live in the data bucket. */
export const SNAPSHOTS_PREFIX = 'snapshots/';

export interface SnapshotStateMachinesProps {
  readonly bucket: s3.IBucket;
  readonly ledger: dynamodb.ITable;
  /** The target table of each entity. */
  readonly targetTables: Readonly<Record<string, dynamodb.ITable>>;
  /** Path of the config file, bundled into the functions. */
  readonly configFile: string;
  /** Environment of the functions (bucket, ledger, target tables). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Segments exported, or parts verified and loaded, at once.
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * Time limit of one function invocation; its task's is TASK_TIMEOUT_MARGIN_SECONDS longer.
   * @default Duration.minutes(10)
   */
  readonly timeout?: Duration;
  /**
   * Log retention of the state machines' log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer-managed key of the functions' and state machines' log groups (its key policy must let
   * CloudWatch Logs use it). The bucket's and tables' own keys, if any, are granted where they are used.
   * @default - CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * Backup and restore of the target tables, as two small state machines beside the sync workflow.
 *
 * Snapshot (input `{entity, snapshotId?, formats?, segments?}`): PrepareSnapshot takes the entity's
 * lock in the ledger (no sync run writes meanwhile: one point in time), ExportSegments scans the
 * table in parallel segments (Distributed Map) into gzip JSONL (and CSV) parts under
 * `snapshots/<entity>/<snapshotId>/`, FinishSnapshot writes `manifest.json` and gives the lock back
 * (AbortSnapshot does on any failure).
 *
 * Restore (input `{entity, snapshotId, fromEntity?}` or `{entity, prefix}`): PrepareRestore checks
 * the manifest, takes the lock and refuses a non-empty table; VerifyParts checks every part against
 * the manifest before LoadParts writes anything; CheckTarget scans the restored table and
 * FinishRestore requires its item count and digest to equal the manifest's.
 */
export class SnapshotStateMachines extends Construct {
  readonly snapshotFunction: WorkerFunction;
  readonly restoreFunction: WorkerFunction;
  readonly snapshotMachine: sfn.StateMachine;
  readonly restoreMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: SnapshotStateMachinesProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.minutes(10);
    const common = {
      configFile: props.configFile,
      environment: props.environment,
      timeout,
      ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
    };
    this.snapshotFunction = new WorkerFunction(this, 'SnapshotFunction', {
      ...common,
      handler: 'snapshot',
      memorySize: 1769, // gzip and hashing are CPU-bound: one full vCPU
    });
    this.restoreFunction = new WorkerFunction(this, 'RestoreFunction', {
      ...common,
      handler: 'restore',
      memorySize: 1769,
    });

    // Least privilege: the snapshot reads the tables and writes snapshots/ (parts in multipart
    // uploads); only the restore writes the tables, and it only reads snapshots/. Both keep
    // per-segment results under work/. A HEAD or GET of a key that may be missing (is the snapshot id
    // taken? is the manifest there?) needs the listing of its prefix to see NoSuchKey.
    const bucket = props.bucket;
    const snapshot = this.snapshotFunction.function;
    allowObjects(snapshot, bucket, BUCKET_ACTIONS.read, [`${SNAPSHOTS_PREFIX}*`, 'work/*']);
    allowObjects(snapshot, bucket, BUCKET_ACTIONS.upload, [`${SNAPSHOTS_PREFIX}*`]);
    allowObjects(snapshot, bucket, BUCKET_ACTIONS.write, ['work/*']);
    allowList(snapshot, bucket, [SNAPSHOTS_PREFIX, 'work/']);
    allowTable(snapshot, props.ledger, LEDGER_ACTIONS.backup);
    const restore = this.restoreFunction.function;
    allowObjects(restore, bucket, BUCKET_ACTIONS.read, [`${SNAPSHOTS_PREFIX}*`, 'work/*']);
    allowObjects(restore, bucket, BUCKET_ACTIONS.write, ['work/*']);
    allowList(restore, bucket, [SNAPSHOTS_PREFIX, 'work/']);
    allowTable(restore, props.ledger, LEDGER_ACTIONS.backup);
    for (const table of Object.values(props.targetTables)) {
      table.grantReadData(snapshot);
      allowTable(restore, table, TABLE_ACTIONS.readWrite);
    }

    const taskTimeout = lambdaTaskTimeout(timeout);
    const maxConcurrency = props.maxConcurrency ?? 10;
    const permanent: sfn.RetryProps = { errors: [...BACKUP_PERMANENT_ERRORS], maxAttempts: 0 };
    const execution = {
      name: sfn.JsonPath.stringAt('$$.Execution.Name'),
      startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
    };

    /** A machine: prepare → maps → finish → succeed; any failure → abort (frees the lock) → fail. */
    const machine = (
      machineId: string,
      names: { prepare: string; finish: string; succeeded: string; abort: string; failed: string },
      fn: lambda.IFunction,
      jobPath: string,
      maps: Array<{ map: string; worker: string; action: string }>,
    ): sfn.StateMachine => {
      const fail = new sfn.Fail(this, names.failed, {
        errorPath: sfn.JsonPath.stringAt('$.error.Error'),
        causePath: sfn.JsonPath.stringAt('$.error.Cause'),
      });
      const abort = new tasks.LambdaInvoke(this, names.abort, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
        payload: sfn.TaskInput.fromObject({
          action: 'abort',
          input: sfn.JsonPath.objectAt('$$.Execution.Input'),
          execution,
          error: sfn.JsonPath.objectAt('$.error'),
        }),
        resultPath: sfn.JsonPath.DISCARD,
        taskTimeout,
      });
      abort.addRetry(LAMBDA_SERVICE_RETRY).addRetry(TRANSIENT_RETRY);
      abort.next(fail);

      const prepare = new tasks.LambdaInvoke(this, names.prepare, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
        payload: sfn.TaskInput.fromObject({
          action: 'prepare',
          input: sfn.JsonPath.objectAt('$$.Execution.Input'),
          execution,
        }),
        resultPath: jobPath,
        taskTimeout,
      });
      // The entity is busy while a sync run (or another snapshot or restore) holds its lock: wait for
      // it like ClaimRun does (about two hours), then fail.
      prepare
        .addRetry(permanent)
        .addRetry(BUSY_RETRY)
        .addRetry(LAMBDA_SERVICE_RETRY)
        .addRetry(TRANSIENT_RETRY);
      prepare.addCatch(abort, { resultPath: '$.error' });

      let start: sfn.Chain = sfn.Chain.start(prepare);
      for (const m of maps) {
        const worker = new tasks.LambdaInvoke(this, m.worker, {
          lambdaFunction: fn,
          payloadResponseOnly: true,
          retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
          taskTimeout,
        });
        worker.addRetry(permanent).addRetry(LAMBDA_SERVICE_RETRY).addRetry(TRANSIENT_RETRY);
        const map = new sfn.DistributedMap(this, m.map, {
          // One item per segment: the list is small (at most 1000 numbers) and rides in the payload.
          itemsPath: `${jobPath}.segmentList`,
          itemBatcher: new sfn.ItemBatcher({
            maxItemsPerBatch: 1,
            batchInput: { action: m.action, 'job.$': jobPath },
          }),
          maxConcurrency,
          toleratedFailurePercentage: 0,
          // STANDARD children: a segment may take longer than an EXPRESS child's 5 minutes.
          mapExecutionType: sfn.StateMachineType.STANDARD,
          // The children's outputs go to S3, never into the state (up to 1,000 segments' outputs
          // would pass the 256 KiB payload limit): the Map's result is then only the results'
          // manifest, and even that is dropped. The workers write their own per-segment results,
          // which FinishSnapshot / FinishRestore read.
          resultWriterV2: new sfn.ResultWriterV2({ bucket: props.bucket, prefix: 'work/map-results' }),
          resultPath: sfn.JsonPath.DISCARD,
        });
        map.itemProcessor(worker);
        map.addRetry({ errors: ['States.ResultWriterFailed'], maxAttempts: 2 });
        map.addCatch(abort, { resultPath: '$.error' });
        start = start.next(map);
      }

      const finish = new tasks.LambdaInvoke(this, names.finish, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
        payload: sfn.TaskInput.fromObject({ action: 'finish', job: sfn.JsonPath.objectAt(jobPath) }),
        resultPath: '$.result',
        taskTimeout,
      });
      finish.addRetry(permanent).addRetry(LAMBDA_SERVICE_RETRY).addRetry(TRANSIENT_RETRY);
      finish.addCatch(abort, { resultPath: '$.error' });
      const succeeded = new sfn.Succeed(this, names.succeeded, { outputPath: '$.result' });

      const logGroup = new logs.LogGroup(this, `${machineId}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
      });
      const stateMachine = new sfn.StateMachine(this, machineId, {
        definitionBody: sfn.DefinitionBody.fromChainable(start.next(finish).next(succeeded)),
        stateMachineType: sfn.StateMachineType.STANDARD,
        tracingEnabled: true,
        // No execution data in the logs: payloads carry names and counts, never items.
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
        timeout: Duration.seconds(RUN_TIMEOUT_SECONDS),
      });
      // The maps write their children's results to the bucket (ResultWriterV2): through its key.
      props.bucket.encryptionKey?.grant(stateMachine, ...KEY_ACTIONS.encrypt);
      return stateMachine;
    };

    this.snapshotMachine = machine('Snapshot', SNAPSHOT_STATE, snapshot, '$.snapshot', [
      { map: SNAPSHOT_STATE.map, worker: SNAPSHOT_STATE.worker, action: 'segment' },
    ]);
    this.restoreMachine = machine('Restore', RESTORE_STATE, restore, '$.restore', [
      { map: RESTORE_STATE.verifyMap, worker: RESTORE_STATE.verify, action: 'verify' },
      { map: RESTORE_STATE.loadMap, worker: RESTORE_STATE.load, action: 'load' },
      { map: RESTORE_STATE.checkMap, worker: RESTORE_STATE.check, action: 'check' },
    ]);

    new CfnOutput(this, 'SnapshotStateMachineArn', {
      value: this.snapshotMachine.stateMachineArn,
      description: 'Snapshot a target table: aws stepfunctions start-execution --input {"entity":"<name>"}',
    });
    new CfnOutput(this, 'RestoreStateMachineArn', {
      value: this.restoreMachine.stateMachineArn,
      description: 'Restore a snapshot into an empty table: --input {"entity":"<name>","snapshotId":"<id>"}',
    });
    this.acknowledgeFindings(props.bucket);
  }

  /** cdk-nag findings of these resources, each acknowledged with its reason (no `*` action). */
  private acknowledgeFindings(bucket: s3.IBucket): void {
    for (const worker of [this.snapshotFunction, this.restoreFunction]) {
      acknowledgeBucketWorker(
        worker,
        bucket,
        ['snapshots', 'work'],
        'snapshot ids are not known at deploy time.',
      );
    }
    acknowledgeStateMachine(this.snapshotMachine, [this.snapshotFunction.function]);
    acknowledgeStateMachine(this.restoreMachine, [this.restoreFunction.function]);
    for (const machine of [this.snapshotMachine, this.restoreMachine]) {
      acknowledge(
        machine,
        `IAM5[Resource::arn:<AWS::Partition>:s3:::<${logicalId(bucket)}>/*]`,
        'Distributed Map ResultWriter grant of CDK: the child results under work/map-results/.',
      );
    }
  }
}
