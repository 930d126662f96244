import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { type StatePath, statePath } from '../lambdas/contract/workflow';
import { permanentErrorNames } from '../lambdas/domain/permanent-errors';
import { RUN_TIMEOUT_SECONDS } from '../lambdas/domain/run';
import { KEY_ACTIONS } from './grants';

/** Stable state names: the local runner binds Task states to handlers by these names. */
export const STATE = {
  claim: 'ClaimRun',
  isDuplicate: 'IsDuplicateTrigger',
  duplicate: 'DuplicateTrigger',
  notAnExport: 'NotAnExport',
  plan: 'PlanChunks',
  transformMap: 'TransformChunks',
  transform: 'TransformChunk',
  checkRejects: 'CheckRejects',
  startMerge: 'StartMerge',
  mergeMap: 'MergePartitions',
  merge: 'MergePartition',
  checkMerge: 'CheckMerge',
  isMergeDone: 'IsMergeDone',
  isMirror: 'IsMirror',
  mirrorScanMap: 'ScanTargetSegments',
  mirrorScan: 'ScanTargetSegment',
  mirrorPlanMap: 'PlanMirrorDeletes',
  mirrorPlan: 'PlanPartitionDeletes',
  checkDeletes: 'CheckMirrorDeletes',
  verifyMap: 'VerifyPartitions',
  verify: 'VerifyPartition',
  checkWritten: 'CheckWrittenDigest',
  isWrittenProven: 'IsWrittenProven',
  verifyByKeyMap: 'VerifyPartitionsByKey',
  verifyByKey: 'VerifyPartitionByKey',
  reconcile: 'Reconcile',
  isMatched: 'IsMatched',
  succeeded: 'RunSucceeded',
  mismatch: 'ReconciliationMismatch',
  emitFinished: 'EmitRunFinished',
} as const;

/** Errors no retry can fix (the input or the config is wrong): the run's PermanentError classes. */
export const PERMANENT_ERRORS: readonly string[] = permanentErrorNames('run');

/**
 * Distributed Maps whose concurrency Plan sizes per run (lambdas/domain/sizing.ts): they read it
 * from Plan's output (MaxConcurrencyPath) instead of a fixed MaxConcurrency.
 */
const CONCURRENCY_PATH: Readonly<Record<string, string>> = {
  [STATE.transformMap]: statePath('plan.layout.transformConcurrency'),
  [STATE.mergeMap]: statePath('plan.layout.mergeConcurrency'),
  [STATE.verifyMap]: statePath('plan.layout.verifyConcurrency'),
  [STATE.verifyByKeyMap]: statePath('plan.layout.verifyConcurrency'),
  // Mirror planning reads like verification: the table (a scan segment each) and the work objects.
  [STATE.mirrorScanMap]: statePath('plan.layout.verifyConcurrency'),
  [STATE.mirrorPlanMap]: statePath('plan.layout.verifyConcurrency'),
};

/** Another run of the entity holds its lock: ClaimRun waits for it with this retry. */
export const BUSY_ERROR = 'EntityBusyError';

/** Waits for the entity's lock (BUSY_ERROR) up to about two hours, then fails. */
export const BUSY_RETRY: sfn.RetryProps = {
  errors: [BUSY_ERROR],
  interval: Duration.seconds(30),
  maxAttempts: 30,
  backoffRate: 1.5,
  maxDelay: Duration.minutes(5),
  jitterStrategy: sfn.JitterType.FULL,
};

/** Any other error of a task: three more tries, two seconds apart at first. */
export const TRANSIENT_RETRY: sfn.RetryProps = {
  errors: ['States.ALL'],
  interval: Duration.seconds(2),
  maxAttempts: 3,
  backoffRate: 2,
  maxDelay: Duration.seconds(30),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * Errors of the Lambda service, not of the function: throttling (the account's or the function's
 * concurrency is used up: Lambda.TooManyRequestsException) and the service's own transient 500s
 * (Step Functions' "Handle Lambda service exceptions"). The invocation did not run the function, so
 * waiting costs only the delays. A function's timeout or crash is Lambda.Unknown, not one of these.
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
] as const;

/** A STANDARD task throttled by Lambda: six more tries over up to about two minutes. */
export const LAMBDA_SERVICE_RETRY: sfn.RetryProps = {
  errors: [...LAMBDA_SERVICE_ERRORS],
  interval: Duration.seconds(2),
  maxAttempts: 6,
  backoffRate: 2,
  maxDelay: Duration.seconds(60),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * The one Lambda error documented as "the function did not run": the invocation was throttled
 * (the account's or the function's concurrency is used up). Lambda.ServiceException and the SDK's
 * errors may come after the function ran (its response was lost), so inside the EXPRESS budget a
 * worker treats them as attempts that ran (the catch-all retrier), and only throttling as a wait.
 */
export const THROTTLED_ERRORS = ['Lambda.TooManyRequestsException'] as const;

/**
 * A Distributed Map worker throttled by Lambda: six more tries, delays 1, 2, 4, 8, 16, 16 s (47 s
 * at most; FULL jitter draws each between 0 and that), inside the EXPRESS child's budget.
 */
export const WORKER_SERVICE_RETRY: sfn.RetryProps = {
  errors: [...THROTTLED_ERRORS],
  interval: Duration.seconds(1),
  maxAttempts: 6,
  backoffRate: 2,
  maxDelay: Duration.seconds(16),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * Any other error of a worker: two more tries. Each such attempt may run to the worker's timeout,
 * and the EXPRESS child (5 minutes) must hold all three, and the delays (EXPRESS_BUDGET_SECONDS).
 */
export const WORKER_TRANSIENT_RETRY: sfn.RetryProps = {
  errors: ['States.ALL'],
  interval: Duration.seconds(2),
  maxAttempts: 2,
  backoffRate: 2,
  maxDelay: Duration.seconds(10),
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * How much longer a Lambda task's TimeoutSeconds is than its function's timeout: the function's own
 * timeout ends a slow attempt (Lambda.Unknown) before the task's fires, so Step Functions never
 * retries an invocation that is still running.
 */
export const TASK_TIMEOUT_MARGIN_SECONDS = 5;

/** The task timeout of a Lambda task whose function times out after `functionTimeout`. */
export function lambdaTaskTimeout(functionTimeout: Duration): sfn.Timeout {
  return sfn.Timeout.duration(Duration.seconds(functionTimeout.toSeconds() + TASK_TIMEOUT_MARGIN_SECONDS));
}

/** An EXPRESS child runs 300 s at most; its worst case must end this far before (30 s margin). */
export const EXPRESS_BUDGET_SECONDS = 270;

/**
 * The longest a worker task can take with its retriers: every attempt a retrier allows runs to the
 * task's timeout, except throttling's (the function does not run: only its delays count), plus every retry's delay at its maximum (interval × backoffRate^n, capped by
 * maxDelay; FULL jitter only shortens it). Retriers count their attempts separately, so the attempts
 * are 1 + the sum of the retriers' maxAttempts.
 */
export function workerWorstCaseSeconds(
  functionTimeout: Duration,
  retries: readonly sfn.RetryProps[],
): number {
  const attemptSeconds = functionTimeout.toSeconds() + TASK_TIMEOUT_MARGIN_SECONDS;
  const service = new Set<string>(THROTTLED_ERRORS);
  let total = attemptSeconds;
  for (const r of retries) {
    const attempts = r.maxAttempts ?? 3;
    const interval = r.interval?.toSeconds() ?? 1;
    const rate = r.backoffRate ?? 2;
    const cap = r.maxDelay?.toSeconds() ?? Number.POSITIVE_INFINITY;
    for (let n = 0; n < attempts; n++) total += Math.min(interval * rate ** n, cap);
    if (!(r.errors ?? []).every((e) => service.has(e))) total += attempts * attemptSeconds;
  }
  return total;
}

/**
 * The manifest reader of the Distributed Maps: Plan writes every manifest under `work/`, so the
 * state machine reads objects there only (CDK's reader would allow the whole bucket).
 */
class WorkManifestReader extends sfn.S3JsonItemReader {
  constructor(
    private readonly manifests: s3.IBucket,
    key: string,
  ) {
    super({ bucket: manifests, key });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.manifests.arnForObjects('work/*')],
      }),
    ];
  }
}

/** The Distributed Maps' result writer, allowed its own prefix only (CDK's allows the whole bucket). */
class MapResultWriter extends sfn.ResultWriterV2 {
  constructor(
    private readonly results: s3.IBucket,
    private readonly resultPrefix: string,
  ) {
    super({ bucket: results, prefix: resultPrefix });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.results.arnForObjects(`${this.resultPrefix}/*`)],
      }),
    ];
  }
}

export interface SyncStateMachineProps {
  readonly bucket: s3.IBucket;
  readonly planFunction: lambda.IFunction;
  readonly transformFunction: lambda.IFunction;
  readonly mergeFunction: lambda.IFunction;
  readonly verifyFunction: lambda.IFunction;
  /** Mirror mode: scans the target's keys and finds the delete candidates. */
  readonly mirrorFunction: lambda.IFunction;
  /** The reject gate: refuses a run whose rows are mostly rejected, before anything is written. */
  readonly checkRejectsFunction: lambda.IFunction;
  readonly reconcileFunction: lambda.IFunction;
  /**
   * Chunks transformed at once, and partitions merged at once.
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * Chunks handed to one child execution.
   * @default 1
   */
  readonly chunksPerBatch?: number;
  /**
   * Share of chunk batches that may fail (after retries) without failing the Map. Failed chunks'
   * rows then show as missing in reconciliation, so the run still fails unless they are redriven.
   * @default 0
   */
  readonly toleratedFailurePercentage?: number;
  /**
   * Timeout of the functions the STANDARD tasks invoke (ClaimRun, PlanChunks, CheckRejects,
   * Reconcile…): each task's TimeoutSeconds is TASK_TIMEOUT_MARGIN_SECONDS longer, so that the
   * function's own timeout ends an attempt and Step Functions never retries one still running.
   * @default Duration.minutes(10)
   */
  readonly taskTimeout?: Duration;
  /**
   * Timeout of the Distributed Map workers' functions (TransformChunk, MergePartition, mirror and
   * verify); their tasks get TASK_TIMEOUT_MARGIN_SECONDS more. They run in EXPRESS children (5
   * minutes at most), so the worst case of the workers' retriers (workerWorstCaseSeconds: three
   * attempts to the timeout, the throttling and transient delays) must stay within
   * EXPRESS_BUDGET_SECONDS: at most 67 seconds.
   * @default Duration.seconds(60) (FUNCTIONS.transform.timeoutSeconds in lambdas/domain/sizing.ts)
   */
  readonly workerTimeout?: Duration;
  /**
   * Log retention of the state machine's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer-managed key of the state machine's log group (its key policy must let CloudWatch Logs
   * use it). The bucket's own key, if any, is granted for the maps' manifests and results.
   * @default - CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The run workflow: ClaimRun → PlanChunks → TransformChunks (Distributed Map over the chunk
 * manifest) → CheckRejects → MergePartitions (Distributed Map over the key partitions, again over the
 * partitions a pass left at the workers' deadline: CheckMerge, IsMergeDone) → VerifyPartitions (the
 * same partitions, and table scan segments) → Reconcile. No state catches a failure: a failed task
 * fails the execution there, so a redrive re-runs it; the stack's recorder of execution status
 * changes records the failed run.
 */
export class SyncStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: SyncStateMachineProps) {
    super(scope, id);
    const taskTimeout = lambdaTaskTimeout(props.taskTimeout ?? Duration.minutes(10));
    const workerLimit = props.workerTimeout ?? Duration.seconds(60);
    const workerTimeout = lambdaTaskTimeout(workerLimit);
    const workerRetries = [WORKER_SERVICE_RETRY, WORKER_TRANSIENT_RETRY];
    const worstCase = workerWorstCaseSeconds(workerLimit, workerRetries);
    if (worstCase > EXPRESS_BUDGET_SECONDS) {
      // The worst case grows by one second per attempt that runs: the longest timeout that fits.
      const fixed = workerWorstCaseSeconds(Duration.seconds(0), workerRetries);
      const perSecond = workerWorstCaseSeconds(Duration.seconds(1), workerRetries) - fixed;
      throw new Error(
        `workerTimeout of ${workerLimit.toSeconds()} s is too long: with its retries a worker may take ` +
          `${worstCase} s, and its EXPRESS child must end within ${EXPRESS_BUDGET_SECONDS} s (5 minutes ` +
          `less a margin); use at most ${Math.floor((EXPRESS_BUDGET_SECONDS - fixed) / perSecond)} seconds`,
      );
    }
    const noRetry: sfn.RetryProps = { errors: [...PERMANENT_ERRORS], maxAttempts: 0 };

    const claim = new tasks.LambdaInvoke(this, STATE.claim, {
      lambdaFunction: props.planFunction,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
      payload: sfn.TaskInput.fromObject({
        action: 'claim',
        source: sfn.JsonPath.entirePayload,
        executionId: sfn.JsonPath.executionId,
      }),
      resultPath: statePath('claim'),
      taskTimeout,
    });
    // One run per entity at a time: wait for the running one (up to about two hours), then fail.
    claim.addRetry(noRetry).addRetry(BUSY_RETRY).addRetry(LAMBDA_SERVICE_RETRY).addRetry(TRANSIENT_RETRY);

    // A task after the claim: permanent errors are not retried. No task catches: a failure fails the
    // execution at the task, where a redrive takes it up (the recorder of the execution's status
    // changes records the failed run, its report and RunFinished, and frees the lock).
    const runTask = (
      id: string,
      fn: lambda.IFunction,
      payload: Record<string, unknown>,
      resultPath: string,
    ) => {
      const task = new tasks.LambdaInvoke(this, id, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
        payload: sfn.TaskInput.fromObject(payload),
        resultPath,
        taskTimeout,
      });
      task.addRetry(noRetry).addRetry(LAMBDA_SERVICE_RETRY).addRetry(TRANSIENT_RETRY);
      return task;
    };

    const plan = runTask(
      STATE.plan,
      props.planFunction,
      {
        action: 'plan',
        runId: sfn.JsonPath.stringAt(statePath('claim.runId')),
        source: sfn.JsonPath.objectAt(statePath('claim.source')),
      },
      statePath('plan'),
    );

    // A Distributed Map's worker task: its child is EXPRESS (5 minutes at most), so its retries fit
    // in EXPRESS_BUDGET_SECONDS (checked above).
    const workerTask = (id: string, fn: lambda.IFunction) => {
      const task = new tasks.LambdaInvoke(this, id, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false, // LAMBDA_SERVICE_RETRY instead, inside the budgets
        taskTimeout: workerTimeout,
      });
      task.addRetry(noRetry);
      for (const retry of workerRetries) task.addRetry(retry);
      return task;
    };
    const transform = workerTask(STATE.transform, props.transformFunction);

    const transformMap = this.distributedMap(
      STATE.transformMap,
      transform,
      'plan.manifestKey',
      statePath('transform'),
      props,
    );

    // The reject gate, before anything is written (and before mirror mode's scans): a file whose
    // rows are all, or more than maxRejectRatio, rejected (or that has none) fails the run here.
    const checkRejects = runTask(
      STATE.checkRejects,
      props.checkRejectsFunction,
      {
        runId: sfn.JsonPath.stringAt(statePath('claim.runId')),
        plan: sfn.JsonPath.objectAt(statePath('plan')),
        transform: sfn.JsonPath.objectAt(statePath('transform')),
      },
      statePath('rejects'),
    );

    // The merge loop: each pass merges its partitions until the workers' deadline (their remaining
    // time less a margin) and hands back those it did not finish; CheckMerge writes them as the next
    // pass's items, until none is left. Passes without progress are bounded (MergeStalledError), so
    // no worker must finish a partition within its timeout however slowly the table takes writes.
    const startMerge = new sfn.Pass(this, STATE.startMerge, {
      parameters: { 'manifestKey.$': statePath('plan.partitionsKey'), pass: 1, stalled: 0 },
      resultPath: statePath('mergeLoop'),
    });
    const merge = workerTask(STATE.merge, props.mergeFunction);
    const mergeMap = this.distributedMap(
      STATE.mergeMap,
      merge,
      'mergeLoop.manifestKey',
      statePath('mergePass'),
      {
        ...props,
        chunksPerBatch: 1,
      },
    );
    const checkMerge = runTask(
      STATE.checkMerge,
      props.reconcileFunction,
      {
        action: 'check-merge',
        runId: sfn.JsonPath.stringAt(statePath('claim.runId')),
        workPrefix: sfn.JsonPath.stringAt(statePath('plan.job.workPrefix')),
        pass: sfn.JsonPath.objectAt(statePath('mergePass')),
        loop: sfn.JsonPath.objectAt(statePath('mergeLoop')),
      },
      statePath('mergeLoop'),
    );
    const isMergeDone = new sfn.Choice(this, STATE.isMergeDone);

    // Mirror mode, before anything is written: scan the target's keys (segments sized by Plan from
    // the table: $.plan.segmentsKey),
    // find each partition's delete candidates, then let CheckMirrorDeletes refuse the run when they
    // are too many. Merge mode goes straight to the merge.
    const mirrorScanMap = this.distributedMap(
      STATE.mirrorScanMap,
      workerTask(STATE.mirrorScan, props.mirrorFunction),
      'plan.segmentsKey',
      statePath('mirrorScan'),
      { ...props, chunksPerBatch: 1 },
      { 'job.$': statePath('plan.job'), action: 'scan' },
    );
    const mirrorPlanMap = this.distributedMap(
      STATE.mirrorPlanMap,
      workerTask(STATE.mirrorPlan, props.mirrorFunction),
      'plan.partitionsKey',
      statePath('mirrorCandidates'),
      { ...props, chunksPerBatch: 1 },
      { 'job.$': statePath('plan.job'), action: 'plan' },
    );
    const checkDeletes = runTask(
      STATE.checkDeletes,
      props.reconcileFunction,
      {
        action: 'check-deletes',
        runId: sfn.JsonPath.stringAt(statePath('claim.runId')),
        plan: sfn.JsonPath.objectAt(statePath('plan')),
        transform: sfn.JsonPath.objectAt(statePath('transform')),
        scan: sfn.JsonPath.objectAt(statePath('mirrorScan')),
        candidates: sfn.JsonPath.objectAt(statePath('mirrorCandidates')),
      },
      statePath('mirror'),
    );
    const isMirror = new sfn.Choice(this, STATE.isMirror)
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent(statePath('plan.job.mirror')),
          sfn.Condition.booleanEquals(statePath('plan.job.mirror'), true),
        ),
        mirrorScanMap.next(mirrorPlanMap).next(checkDeletes).next(startMerge),
      )
      .otherwise(startMerge);

    // Verification fans out with the table: one worker per table scan segment (Plan sizes them from
    // the table, at least one per partition; worker i also verifies partition i).
    // In full mode the workers prove the run's puts by a digest of what the scan found written by
    // the run; only when the digests differ does a second pass read every decision by key, to name
    // the keys (and the run goes on to Reconcile either way).
    const verify = workerTask(STATE.verify, props.verifyFunction);
    const verifyMap = this.distributedMap(
      STATE.verifyMap,
      verify,
      'plan.segmentsKey',
      statePath('verify'),
      { ...props, chunksPerBatch: 1 },
      { 'job.$': statePath('plan.job'), 'rows.$': statePath('plan.rows') },
    );
    const checkWritten = runTask(
      STATE.checkWritten,
      props.reconcileFunction,
      {
        action: 'check-written',
        runId: sfn.JsonPath.stringAt(statePath('claim.runId')),
        verify: sfn.JsonPath.objectAt(statePath('verify')),
      },
      statePath('written'),
    );
    const verifyByKeyMap = this.distributedMap(
      STATE.verifyByKeyMap,
      workerTask(STATE.verifyByKey, props.verifyFunction),
      'plan.segmentsKey',
      statePath('verify'),
      { ...props, chunksPerBatch: 1 },
      { 'job.$': statePath('plan.job'), 'rows.$': statePath('plan.rows'), byKey: true },
    );

    const reconcile = runTask(
      STATE.reconcile,
      props.reconcileFunction,
      {
        runId: sfn.JsonPath.stringAt(statePath('claim.runId')),
        plan: sfn.JsonPath.objectAt(statePath('plan')),
        transform: sfn.JsonPath.objectAt(statePath('transform')),
        merge: sfn.JsonPath.objectAt(statePath('mergeLoop.results')),
        verify: sfn.JsonPath.objectAt(statePath('verify')),
        written: sfn.JsonPath.objectAt(statePath('written')),
      },
      statePath('summary'),
    );

    const succeeded = new sfn.Succeed(this, STATE.succeeded, { outputPath: statePath('summary') });
    const mismatch = new sfn.Fail(this, STATE.mismatch, {
      error: 'ReconciliationMismatch',
      cause: 'The target does not match the source; see reports/<runId>/summary.json',
    });
    const emitFinished = this.runFinishedEvent(STATE.emitFinished, {
      runId: sfn.JsonPath.stringAt(statePath('summary.runId')),
      entity: sfn.JsonPath.stringAt(statePath('summary.entity')),
      status: sfn.JsonPath.stringAt(statePath('summary.status')),
      reconciliation: sfn.JsonPath.stringAt(statePath('summary.reconciliation.status')),
      counts: sfn.JsonPath.objectAt(statePath('summary.counts')),
      // Reconcile always says it: a rule can tell a dry run (nothing written) from a load.
      dryRun: sfn.JsonPath.stringAt(statePath('summary.dryRun')),
      summary: sfn.JsonPath.stringAt(statePath('summary.reports.summary')),
    });
    const isMatched = new sfn.Choice(this, STATE.isMatched)
      .when(sfn.Condition.stringEquals(statePath('summary.reconciliation.status'), 'MATCHED'), succeeded)
      .otherwise(mismatch);

    const duplicate = new sfn.Succeed(this, STATE.duplicate, { outputPath: statePath('claim') });
    // A folder marker, an empty object or a hidden file (`_SUCCESS`, `.DS_Store`): ClaimRun made no
    // run and took no lock (`ignored`), and the execution ends without one.
    const notAnExport = new sfn.Succeed(this, STATE.notAnExport, { outputPath: statePath('claim') });
    const isDuplicate = new sfn.Choice(this, STATE.isDuplicate)
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent(statePath('claim.ignored')),
          sfn.Condition.booleanEquals(statePath('claim.ignored'), true),
        ),
        notAnExport,
      )
      .when(sfn.Condition.booleanEquals(statePath('claim.duplicate'), true), duplicate)
      .otherwise(plan.next(transformMap).next(checkRejects).next(isMirror));
    emitFinished.addCatch(isMatched, { resultPath: statePath('eventError') });
    const isWrittenProven = new sfn.Choice(this, STATE.isWrittenProven)
      .when(sfn.Condition.booleanEquals(statePath('written.byKey'), true), verifyByKeyMap.next(reconcile))
      .otherwise(reconcile);
    startMerge.next(mergeMap).next(checkMerge).next(isMergeDone);
    isMergeDone
      .when(sfn.Condition.booleanEquals(statePath('mergeLoop.done'), false), mergeMap)
      .otherwise(verifyMap.next(checkWritten).next(isWrittenProven));
    reconcile.next(emitFinished).next(isMatched);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(claim.next(isDuplicate)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      tracingEnabled: true,
      // Execution data is not logged: payloads carry keys and file names, never rows, but
      // logs are kept to events so that no customer data can reach CloudWatch.
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      timeout: Duration.seconds(RUN_TIMEOUT_SECONDS),
    });
    // The Distributed Maps read their manifests (WorkManifestReader) and write their results
    // (MapResultWriter) as the state machine's role: with an encrypted bucket, through its key.
    props.bucket.encryptionKey?.grant(this.stateMachine, ...KEY_ACTIONS.encrypt);
  }

  /**
   * `RunFinished` on the account's default event bus (source `crm-sync`): what ended, how, and
   * where its summary is. Retried like any transient step.
   */
  private runFinishedEvent(id: string, detail: Record<string, unknown>): tasks.EventBridgePutEvents {
    const task = new tasks.EventBridgePutEvents(this, id, {
      entries: [{ source: 'crm-sync', detailType: 'RunFinished', detail: sfn.TaskInput.fromObject(detail) }],
      resultPath: sfn.JsonPath.DISCARD,
    });
    task.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(2),
      maxAttempts: 3,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    return task;
  }

  /**
   * A Distributed Map over a JSON manifest written by Plan: batches, bounded concurrency, results
   * written to S3 (never into the state's payload), EXPRESS children.
   */
  private distributedMap(
    id: string,
    processor: sfn.IChainable,
    manifestKeyPath: StatePath,
    resultPath: string,
    props: SyncStateMachineProps,
    // What every worker needs: source object, header, delimiter, partitions, config hash.
    batchInput: Record<string, string | boolean> = { 'job.$': statePath('plan.job') },
  ): sfn.DistributedMap {
    const map = new sfn.DistributedMap(this, id, {
      itemReader: new WorkManifestReader(props.bucket, sfn.JsonPath.stringAt(statePath(manifestKeyPath))),
      itemBatcher: new sfn.ItemBatcher({
        maxItemsPerBatch: props.chunksPerBatch ?? 1,
        batchInput,
      }),
      ...(CONCURRENCY_PATH[id]
        ? { maxConcurrencyPath: CONCURRENCY_PATH[id] }
        : { maxConcurrency: props.maxConcurrency ?? 10 }),
      toleratedFailurePercentage: props.toleratedFailurePercentage ?? 0,
      resultWriterV2: new MapResultWriter(props.bucket, 'work/map-results'),
      mapExecutionType: sfn.StateMachineType.EXPRESS,
      resultPath,
    });
    map.itemProcessor(processor);
    map.addRetry({ errors: ['States.ItemReaderFailed', 'States.ResultWriterFailed'], maxAttempts: 2 });
    return map;
  }
}
