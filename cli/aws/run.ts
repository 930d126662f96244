import { basename } from 'node:path';
import { NotFound } from '@aws-sdk/client-s3';
import { Ledger } from '../../lambdas/adapters/ledger';
import { headObject, readTextIfExists } from '../../lambdas/adapters/s3';
import { SUCCESS_MARKER } from '../../lambdas/domain/export-folder';
import { DRY_RUN_PREFIX } from '../../lambdas/domain/run';
import type { LocalRunResult } from '../../local/local-stack';
import { type AnyRunSummary, emptyResult, withSummary } from '../../local/run-result';
import { compactTimestamp } from '../export-paths';
import { UsageError } from '../options';
import { type DeployedStack, deployedEntity } from './deployed-stack';
import {
  describeExecution,
  type ExecutionEnd,
  findTriggeredExecution,
  followExecution,
  redriveExecution,
  startExecution,
  type Waiting,
} from './executions';
import { putMarker, uploadFile } from './upload';

/** How a command against a stack reports progress and waits. */
export interface AwsRunContext {
  readonly onProgress?: ((line: string) => void) | undefined;
  readonly waiting: Waiting;
  /** How long `run` waits for the inbox rule to start the upload's execution. */
  readonly triggerTimeoutMs?: number | undefined;
}

export interface AwsRunOptions {
  readonly entity: string;
  /** Return once the execution is found (or started), without following it. */
  readonly noWait?: boolean | undefined;
  readonly rerun?: string | undefined;
  readonly force?: boolean | undefined;
  readonly forceDeletes?: boolean | undefined;
}

/** A run that was started but not followed (`--no-wait`): where to look at it. */
export interface StartedRun {
  readonly entity: string;
  readonly executionArn: string;
  readonly key: string;
}

/** A run's execution in the console: the URL a person opens. */
export function consoleUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/**
 * The account of a finished execution, as a local run's: its run id (from its output or the
 * ledger), its summary.json (counts, reconciliation, decisions) and its reports as s3:// URLs.
 */
export async function accountOf(
  stack: DeployedStack,
  entity: string,
  end: ExecutionEnd,
  started: number,
): Promise<LocalRunResult> {
  const output =
    typeof end.output === 'object' && end.output !== null ? (end.output as Record<string, unknown>) : {};
  const runId =
    (typeof output.runId === 'string' ? output.runId : undefined) ??
    (await new Ledger(stack.ledgerTable).runOfExecution(end.executionArn)) ??
    null;
  const durationMs = Date.now() - started;
  if (end.status === 'SUCCEEDED' && output.duplicate === true) {
    const note =
      output.existingStatus === 'SUCCEEDED'
        ? `this file already ran as run ${runId} (SUCCEEDED): nothing to do; --rerun runs it again`
        : `this file already has run ${runId} (${String(output.existingStatus)}): see \`crm-sync status ${runId} --stack ${stack.stackName}\``;
    return {
      ...emptyResult(runId, entity, 'DUPLICATE_TRIGGER'),
      durationMs,
      earlier: { outcome: 'already-ran', message: note },
    };
  }
  const status = end.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED';
  let result: LocalRunResult = { ...emptyResult(runId, entity, status), durationMs };
  if (end.error) result.error = end.error;
  else if (status === 'FAILED')
    result.error = { name: `Execution${end.status}`, message: `the execution ended ${end.status}` };
  if (runId) {
    const text = await readTextIfExists({ bucket: stack.bucket, key: `reports/${runId}/summary.json` });
    if (text) {
      const summary = JSON.parse(text) as AnyRunSummary;
      result = withSummary(result, summary);
      result.reports = Object.fromEntries(
        Object.entries(summary.reports)
          .filter((e): e is [string, string] => typeof e[1] === 'string')
          .map(([name, key]) => [name, `s3://${stack.bucket}/${key}`]),
      );
    }
  }
  result.reports = { ...result.reports, execution: consoleUrl(stack.region, end.executionArn) };
  return result;
}

/**
 * The inbox object a forced run or rerun starts on: the file as the stack already holds it (an
 * export folder's marker: `size` undefined, any size).
 */
async function inboxObject(stack: DeployedStack, key: string, file: string, size: number | undefined) {
  try {
    const head = await headObject({ bucket: stack.bucket, key });
    if (size !== undefined && head.size !== size) {
      throw new UsageError(
        `s3://${stack.bucket}/${key} (${head.size} bytes) is not ${file} (${size} bytes): run the new file without --rerun/--force first`,
      );
    }
    return { key, ...head };
  } catch (err) {
    if (err instanceof NotFound || (err as Error).name === 'NotFound') {
      throw new UsageError(
        `--rerun, --force and --force-deletes run a file the stack already holds: s3://${stack.bucket}/${key} does not exist (run ${file} without them first)`,
      );
    }
    throw err;
  }
}

/** Follows an execution to its end, or returns what was started (`--no-wait`). */
async function finish(
  stack: DeployedStack,
  entity: string,
  executionArn: string,
  key: string,
  opts: { noWait?: boolean | undefined },
  ctx: AwsRunContext,
  started: number,
  redrive?: { count: number },
): Promise<LocalRunResult | StartedRun> {
  ctx.onProgress?.(`execution ${executionArn}`);
  if (opts.noWait) return { entity, executionArn, key };
  const end = await followExecution(executionArn, {
    onProgress: ctx.onProgress,
    waiting: ctx.waiting,
    redrive,
  });
  return accountOf(stack, entity, end, started);
}

/**
 * `crm-sync run <file> --stack`: uploads the file to the entity's inbox (multipart above a part)
 * and follows the execution the inbox rule starts for it. `--rerun`, `--force` and
 * `--force-deletes` start an execution with those flags on the file the inbox already holds (an
 * upload would start a plain run as well): a refused run is run again forced without a second upload.
 */
export async function runOnStack(
  stack: DeployedStack,
  file: string,
  size: number,
  opts: AwsRunOptions,
  ctx: AwsRunContext,
): Promise<LocalRunResult | StartedRun> {
  const started = Date.now();
  deployedEntity(stack, opts.entity);
  if (opts.rerun !== undefined || opts.force || opts.forceDeletes) {
    return startForced(stack, `inbox/${opts.entity}/${basename(file)}`, file, size, opts, ctx, started);
  }
  const uploadStart = new Date(ctx.waiting.now());
  const key = `inbox/${opts.entity}/${basename(file)}`;
  ctx.onProgress?.(`uploading ${file} to s3://${stack.bucket}/${key}`);
  const object = await uploadFile(stack.bucket, key, file, ctx.onProgress);
  const arn = await triggeredExecution(stack, opts.entity, object, uploadStart, ctx);
  return finish(stack, opts.entity, arn, key, opts, ctx, started);
}

/** The execution the inbox rule started for `object` (uploaded at `since`), or a one-line error after the trigger timeout. */
function triggeredExecution(
  stack: DeployedStack,
  entity: string,
  object: Parameters<typeof findTriggeredExecution>[1],
  since: Date,
  ctx: AwsRunContext,
): Promise<string> {
  return findTriggeredExecution(stack.syncStateMachineArn, object, {
    since,
    timeoutMs: ctx.triggerTimeoutMs ?? 60_000,
    waiting: ctx.waiting,
    dlqHint: `check the stack's Inbox-${entity} EventBridge rule and its dead-letter queue (TriggerDlq)`,
  });
}

/** Uploads an export's parts into `folder`, one after the other, a progress line each. */
async function uploadParts(
  stack: DeployedStack,
  folder: string,
  files: readonly string[],
  ctx: AwsRunContext,
): Promise<void> {
  for (const [i, file] of files.entries()) {
    const key = `${folder}${basename(file)}`;
    ctx.onProgress?.(`uploading part ${i + 1} of ${files.length}: ${file} to s3://${stack.bucket}/${key}`);
    await uploadFile(stack.bucket, key, file, ctx.onProgress);
  }
}

/** `--rerun`, `--force`, `--force-deletes`: an execution with those flags on the object the inbox holds. */
async function startForced(
  stack: DeployedStack,
  key: string,
  label: string,
  size: number | undefined,
  opts: AwsRunOptions,
  ctx: AwsRunContext,
  started: number,
): Promise<LocalRunResult | StartedRun> {
  const object = await inboxObject(stack, key, label, size);
  const arn = await startExecution(stack.syncStateMachineArn, {
    bucket: stack.bucket,
    key: object.key,
    versionId: object.versionId,
    etag: object.etag,
    size: object.size,
    entity: opts.entity,
    label,
    ...(opts.rerun !== undefined ? { rerun: opts.rerun } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(opts.forceDeletes ? { forceDeletes: true } : {}),
  });
  return finish(stack, opts.entity, arn, object.key, opts, ctx, started);
}

/**
 * `crm-sync run <dir-or-files...> --stack`: a multi-file export. Uploads the parts to
 * `inbox/<entity>/<name>/`, then the folder's empty `_SUCCESS`, and follows the execution the
 * marker starts (matched on the marker's key and version; each part's own execution ends at once,
 * ignored as a part). `--rerun`, `--force` and `--force-deletes` run the folder the inbox already
 * holds, from its marker.
 */
export async function runExportOnStack(
  stack: DeployedStack,
  files: readonly string[],
  name: string,
  label: string,
  opts: AwsRunOptions,
  ctx: AwsRunContext,
): Promise<LocalRunResult | StartedRun> {
  const started = Date.now();
  deployedEntity(stack, opts.entity);
  const folder = `inbox/${opts.entity}/${name}/`;
  const markerKey = `${folder}${SUCCESS_MARKER}`;
  if (opts.rerun !== undefined || opts.force || opts.forceDeletes) {
    return startForced(stack, markerKey, label, undefined, opts, ctx, started);
  }
  await uploadParts(stack, folder, files, ctx);
  const uploadStart = new Date(ctx.waiting.now());
  const marker = await putMarker(stack.bucket, markerKey);
  ctx.onProgress?.(`wrote s3://${stack.bucket}/${markerKey}`);
  const arn = await triggeredExecution(stack, opts.entity, marker, uploadStart, ctx);
  return finish(stack, opts.entity, arn, markerKey, opts, ctx, started);
}

/**
 * `crm-sync diff <file> --stack`: a dry run in AWS. The file goes under `dry-run/<entity>/` (no
 * rule starts a run there) and an execution with `dryRun` classifies each key, writing nothing.
 */
export async function diffOnStack(
  stack: DeployedStack,
  file: string,
  opts: { entity: string; noWait?: boolean | undefined },
  ctx: AwsRunContext,
): Promise<LocalRunResult | StartedRun> {
  const started = Date.now();
  deployedEntity(stack, opts.entity);
  const key = `${DRY_RUN_PREFIX}${opts.entity}/${basename(file)}`;
  ctx.onProgress?.(`uploading ${file} to s3://${stack.bucket}/${key}`);
  const object = await uploadFile(stack.bucket, key, file, ctx.onProgress);
  const arn = await startExecution(stack.syncStateMachineArn, {
    bucket: stack.bucket,
    key,
    versionId: object.versionId,
    etag: object.etag,
    size: object.size,
    entity: opts.entity,
    label: file,
    dryRun: true,
  });
  return finish(stack, opts.entity, arn, key, opts, ctx, started);
}

/**
 * `crm-sync diff <dir-or-files...> --stack`: a dry run of a multi-file export in AWS. The parts go
 * to `dry-run/<entity>/<name>-<UTC timestamp>/` (a folder of this dry run alone: no part of an
 * earlier one is read with them), then its empty `_SUCCESS`, and an execution with `dryRun` on the
 * marker reads them as one export, writing nothing.
 */
export async function diffExportOnStack(
  stack: DeployedStack,
  files: readonly string[],
  name: string,
  opts: { entity: string; noWait?: boolean | undefined },
  ctx: AwsRunContext,
): Promise<LocalRunResult | StartedRun> {
  const started = Date.now();
  deployedEntity(stack, opts.entity);
  const folder = `${DRY_RUN_PREFIX}${opts.entity}/${name}-${compactTimestamp(new Date(ctx.waiting.now()))}/`;
  await uploadParts(stack, folder, files, ctx);
  const markerKey = `${folder}${SUCCESS_MARKER}`;
  const marker = await putMarker(stack.bucket, markerKey);
  const arn = await startExecution(stack.syncStateMachineArn, {
    bucket: stack.bucket,
    key: markerKey,
    versionId: marker.versionId,
    etag: marker.etag,
    entity: opts.entity,
    dryRun: true,
  });
  return finish(stack, opts.entity, arn, markerKey, opts, ctx, started);
}

/** Execution statuses RedriveExecution accepts (Step Functions: failed, timed out or aborted). */
const REDRIVABLE = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/**
 * `crm-sync redrive <runId> --stack`: Step Functions' own resume. The run's execution is redriven
 * (RedriveExecution): it continues from the state that failed and a Distributed Map reruns only its
 * children that did not succeed. Refused in one line, changing nothing, when the run did not fail
 * or Step Functions cannot redrive its execution (older than 14 days, a redrive running, …).
 */
export async function redriveOnStack(
  stack: DeployedStack,
  runId: string,
  opts: { noWait?: boolean | undefined },
  ctx: AwsRunContext,
): Promise<LocalRunResult | StartedRun> {
  const started = Date.now();
  const run = await new Ledger(stack.ledgerTable).getRun(runId);
  const refuse = (entity: string, message: string): LocalRunResult => ({
    ...emptyResult(runId, entity, 'REFUSED'),
    durationMs: Date.now() - started,
    error: { name: 'RunNotResumableError', message },
  });
  if (!run)
    throw new UsageError(
      `no run ${runId} in the ledger of stack ${stack.stackName} (see crm-sync runs --stack ${stack.stackName})`,
    );
  if (run.status !== 'FAILED')
    return refuse(run.entity, `run ${runId} is ${run.status}: only a failed run can be resumed`);
  if (!run.executionId)
    return refuse(run.entity, `run ${runId} has no execution recorded: start it anew with --rerun`);
  const d = await describeExecution(run.executionId);
  if (!REDRIVABLE.has(d.status ?? '') || (d.redriveStatus && d.redriveStatus !== 'REDRIVABLE')) {
    const reason = d.redriveStatusReason ?? `its execution is ${d.status}`;
    return refuse(run.entity, `run ${runId} cannot be redriven: ${reason}; start it anew with --rerun`);
  }
  await redriveExecution(run.executionId);
  const count = (d.redriveCount ?? 0) + 1;
  ctx.onProgress?.(`redriving run ${runId} (redrive ${count})`);
  return finish(stack, run.entity, run.executionId, run.source.key, opts, ctx, started, { count });
}
