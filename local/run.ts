import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GetObjectCommand, NoSuchKey, PutObjectCommand } from '@aws-sdk/client-s3';
import { configHash, getEntity } from '../lambdas/domain/config';
import { RunNotResumableError } from '../lambdas/domain/errors';
import { type ExportPart, partsDigest, SUCCESS_MARKER } from '../lambdas/domain/export-folder';
import type { FailedRunSummary, RunSummary } from '../lambdas/domain/report';
import { DRY_RUN_PREFIX, deriveRunId, forcedRerun, sourceName } from '../lambdas/domain/run';
import { deleteLocalFolder } from './emulators';
import { type ExecutionRecord, loadExecution } from './executions';
import { failInterruptedRuns, type InterruptedRun, priorRunAction, redriveCommand } from './interrupted';
import type { LocalRunResult, LocalStack } from './local-stack';
import { pruneRunWork } from './prune';
import { withFailureReport } from './report';
import { emptyResult, lambdaMessage, withSummary } from './run-result';
import { localLedger } from './runs';

export interface LocalRunOptions {
  entity: string;
  /** Classify and report what the run would do (diff.csv), writing nothing to the target. */
  dryRun?: boolean | undefined;
  /** Ask for a deliberate second run of the same file (a new run id). */
  rerun?: string | undefined;
  /** Mirror mode: delete the items the export leaves out even above maxDeleteRatio. */
  forceDeletes?: boolean | undefined;
  /** Load the valid rows even above maxRejectRatio, or a file with no data row. */
  force?: boolean | undefined;
  stateDir: string;
}

/** The run's summary.json, or undefined when the run failed before Reconcile wrote one. */
async function readSummary(stack: LocalStack, runId: string): Promise<RunSummary | undefined> {
  try {
    const out = await stack.s3Client.send(
      new GetObjectCommand({ Bucket: stack.bucket, Key: `reports/${runId}/summary.json` }),
    );
    return JSON.parse((await out.Body?.transformToString('utf8')) ?? '') as RunSummary;
  } catch (err) {
    if (err instanceof NoSuchKey || (err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Copies a run's reports out of the emulated bucket into `<stateDir>/reports/<runId>/`. */
async function copyReports(
  stack: LocalStack,
  summary: Pick<RunSummary | FailedRunSummary, 'runId' | 'reports'>,
  stateDir: string,
): Promise<Record<string, string>> {
  const dir = join(stateDir, 'reports', summary.runId);
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const [name, key] of Object.entries(summary.reports)) {
    if (!key) continue;
    const out = await stack.s3Client.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
    const path = join(dir, key.split('/').pop() ?? name);
    writeFileSync(path, Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array()));
    files[name] = path;
  }
  return files;
}

/**
 * A plain run of an export that already has a run (lambdas: ClaimRun would call it a duplicate):
 * an interrupted one (a crash, Ctrl-C) is resumed as `local redrive` does, saying so; one that
 * failed for a reason of its own is reported FAILED, not run again, with the command that resumes
 * it. Undefined: the run goes on as a trigger would (new, succeeded, or running).
 */
async function earlierRun(
  stack: LocalStack,
  runId: string,
  name: string,
  interrupted: readonly InterruptedRun[],
  config: Parameters<typeof getEntity>[0],
  options: { entity: string; stateDir: string },
): Promise<LocalRunResult | undefined> {
  const run = await localLedger().getRun(runId);
  const action = priorRunAction(run);
  if (!run || (action !== 'resume' && action !== 'refuse')) return undefined;
  if (action === 'resume') {
    const state = interrupted.find((r) => r.runId === runId)?.state ?? lastState(stack, run.executionId);
    const message = `run ${runId} of ${name} did not finish (process ended${state ? ` at ${state}` : ''}); resuming it`;
    stack.progress(message);
    const result = await redriveLocalRun(stack, runId, config, { stateDir: options.stateDir });
    return { ...result, earlier: { outcome: 'resumed', message } };
  }
  const error = run.error ?? run.status;
  const message =
    `run ${runId} of ${name} ${run.status === 'FAILED' ? 'failed' : `ended ${run.status}`} (${error}) and is not run again by itself: ` +
    `resume it with \`${redriveCommand(runId)}\`, or run the file anew with --rerun`;
  return {
    ...emptyResult(runId, options.entity, 'FAILED'),
    error: { name: error, message: lambdaMessage(run.cause ?? '') || error },
    earlier: { outcome: 'failed-before', message },
  };
}

/** The state an execution last entered, from its record. */
function lastState(stack: LocalStack, executionId: string | undefined): string | undefined {
  return executionId ? loadExecution(stack.stateDir, executionId)?.state?.name : undefined;
}

/** Uploads a file to the local inbox and runs the state machine on it, like an S3 trigger. */
export async function runLocalFile(
  stack: LocalStack,
  file: string,
  config: Parameters<typeof getEntity>[0],
  options: LocalRunOptions,
): Promise<LocalRunResult> {
  const started = Date.now();
  const entity = getEntity(config, options.entity);
  // A dry run's file goes under dry-run/: no later run or sync takes it for an export to load.
  const { key, etag } = await stack.upload(file, options.entity, { dryRun: options.dryRun === true });
  // A dry run's id includes its execution: it is known from its summary.
  const runId = options.dryRun
    ? null
    : deriveRunId(
        { bucket: stack.bucket, key, etag },
        options.entity,
        configHash(entity),
        forcedRerun(options),
      );
  const interrupted = await failInterruptedRuns(stack, options.entity);
  const earlier = runId && (await earlierRun(stack, runId, basename(file), interrupted, config, options));
  if (earlier) return earlier;
  const input = {
    bucket: stack.bucket,
    key,
    etag,
    entity: options.entity,
    label: file,
    rerun: options.rerun,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.forceDeletes ? { forceDeletes: true } : {}),
    ...(options.force ? { force: true } : {}),
  };
  return executeRun(stack, input, runId, options.stateDir, started);
}

/**
 * Uploads the parts of a multi-file export to `inbox/<entity>/<name>/`, then its empty `_SUCCESS`
 * marker, and runs the state machine on the marker, like its S3 trigger: one run over every part.
 * A dry run (`local diff`) puts them under `dry-run/<entity>/<name>/` instead, the folder emptied
 * first (a part of an earlier dry run of the name is not one of this export): its own run over the
 * same parts, writing nothing to the target.
 */
export async function runLocalExport(
  stack: LocalStack,
  files: readonly string[],
  name: string,
  config: Parameters<typeof getEntity>[0],
  options: LocalRunOptions,
): Promise<LocalRunResult> {
  const started = Date.now();
  const entity = getEntity(config, options.entity);
  const dryRun = options.dryRun === true;
  const folder = `${dryRun ? DRY_RUN_PREFIX : 'inbox/'}${options.entity}/${name}/`;
  if (dryRun) deleteLocalFolder(stack.stateDir, stack.bucket, folder);
  const parts: ExportPart[] = [];
  for (const file of files) {
    const up = await stack.upload(file, options.entity, { folder: name, dryRun });
    parts.push({ key: up.key, size: up.size, etag: up.etag });
  }
  const key = `${folder}${SUCCESS_MARKER}`;
  const marker = await stack.s3Client.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: new Uint8Array() }),
  );
  const etag = (marker.ETag ?? '').replaceAll('"', '');
  const base = {
    bucket: stack.bucket,
    key,
    etag,
    entity: options.entity,
    ...(options.forceDeletes ? { forceDeletes: true } : {}),
    ...(options.force ? { force: true } : {}),
  };
  // A dry run's id includes its execution: it is known from its summary.
  if (dryRun) return executeRun(stack, { ...base, dryRun: true }, null, options.stateDir, started);
  const digest = partsDigest([...parts].sort((a, b) => (a.key < b.key ? -1 : 1)));
  const runId = deriveRunId(
    { bucket: stack.bucket, key, etag },
    options.entity,
    configHash(entity),
    forcedRerun(options),
    digest,
  );
  const interrupted = await failInterruptedRuns(stack, options.entity);
  const earlier = await earlierRun(stack, runId, `${name}/`, interrupted, config, options);
  if (earlier) return earlier;
  return executeRun(stack, { ...base, rerun: options.rerun }, runId, options.stateDir, started);
}

/**
 * Runs the state machine on an object already in the local inbox, like its S3 trigger (`local
 * sync`): the run id is derived from the object's key and ETag, as ClaimRun derives it.
 */
export async function runLocalObject(
  stack: LocalStack,
  object: { key: string; etag: string },
  config: Parameters<typeof getEntity>[0],
  options: {
    entity: string;
    stateDir: string;
    /** The run id the sync derived (an export folder's includes its parts digest). */
    runId?: string | undefined;
  },
): Promise<LocalRunResult> {
  const started = Date.now();
  const entity = getEntity(config, options.entity);
  const { key, etag } = object;
  const runId =
    options.runId ?? deriveRunId({ bucket: stack.bucket, key, etag }, options.entity, configHash(entity));
  const interrupted = await failInterruptedRuns(stack, options.entity);
  const earlier = await earlierRun(stack, runId, basename(key), interrupted, config, options);
  if (earlier) return earlier;
  const input = { bucket: stack.bucket, key, etag, entity: options.entity };
  return executeRun(stack, input, runId, options.stateDir, started);
}

/**
 * Resumes a failed run as Step Functions redrives its execution: the same execution continues from
 * the state it failed in (a Distributed Map reruns only its children that did not succeed). The
 * same object and config must still make the same run id, else the run is refused with
 * RunNotResumableError. A run of a state dir from before executions were recorded, or whose
 * execution succeeded, is resumed by a new execution instead (ClaimRun's `resume`); its finished
 * chunks and partitions are kept either way.
 */
export async function redriveLocalRun(
  stack: LocalStack,
  runId: string,
  config: Parameters<typeof getEntity>[0],
  options: { stateDir: string },
): Promise<LocalRunResult> {
  const started = Date.now();
  const ledger = localLedger();
  const run = await ledger.getRun(runId);
  if (!run) throw new RunNotResumableError(`no run ${runId} in the ledger (see crm-sync local runs)`);
  const entity = getEntity(config, run.entity);
  await failInterruptedRuns(stack, run.entity);
  const input = {
    bucket: run.source.bucket,
    key: run.source.key,
    etag: run.source.etag,
    entity: run.entity,
    ...(run.source.label ? { label: run.source.label } : {}),
    rerun: run.rerun,
    ...(run.force ? { force: true } : {}),
    ...(run.forceDeletes ? { forceDeletes: true } : {}),
    resume: runId,
  };
  // An execution that succeeded cannot be redriven (its run was failed by hand, or by a crash after
  // it): the run is resumed by a new execution then.
  const record = run.executionId ? loadExecution(stack.stateDir, run.executionId) : undefined;
  const now = (await ledger.getRun(runId)) ?? run;
  if (now.status === 'SUCCEEDED')
    return refused(runId, run.entity, started, `run ${runId} is SUCCEEDED: only a failed run can be resumed`);
  if (!record || record.status === 'SUCCEEDED')
    return executeRun(stack, input, runId, options.stateDir, started);

  // A refused redrive changes nothing: the run stays as it failed.
  const refuse = (message: string) => refused(runId, run.entity, started, message);
  if (now.status !== 'FAILED')
    return refuse(`run ${runId} is ${now.status}: only a failed run can be resumed`);
  const etag = await stack.objectEtag(run.source.key);
  const current =
    etag === undefined
      ? undefined
      : deriveRunId({ ...run.source, etag }, run.entity, configHash(entity), run.rerun);
  if (current !== runId) {
    return refuse(
      `run ${runId} cannot be resumed: ${sourceName(run.source)} or the config of "${run.entity}" changed ` +
        `since it ran${current ? ` (they now make run ${current})` : ' (the object is gone)'}; start a new run`,
    );
  }
  return executeRun(stack, input, runId, options.stateDir, started, record);
}

/** A redrive that was not started: REFUSED, with its reason; the run and its reports stay as they were. */
function refused(runId: string, entity: string, started: number, message: string): LocalRunResult {
  return {
    ...emptyResult(runId, entity, 'REFUSED'),
    durationMs: Date.now() - started,
    error: { name: 'RunNotResumableError', message },
  };
}

/** Runs the state machine on an input, like a trigger would, and gathers the run's result. */
async function executeRun(
  stack: LocalStack,
  input: Parameters<LocalStack['execute']>[0],
  expectedRunId: string | null,
  stateDir: string,
  started: number,
  redrive?: ExecutionRecord,
): Promise<LocalRunResult> {
  const { key, etag } = input;
  const faultsBefore = stack.faults?.counts();
  const twin = stack.faults?.duplicateTrigger(`s3://${stack.bucket}/${key} (ETag ${etag})`);
  let exec: Awaited<ReturnType<LocalStack['execute']>>;
  let twinError: LocalRunResult['error'];
  if (twin) {
    // At-least-once delivery: the same object triggers a second execution, concurrently.
    const both = await Promise.all([
      stack.execute(input),
      new Promise((r) => setTimeout(r, twin.delayMs)).then(() => stack.execute(input)),
    ]);
    const isDuplicate = (e: (typeof both)[number]) =>
      e.status === 'SUCCEEDED' && (e.output as { duplicate?: unknown } | null)?.duplicate === true;
    const runs = both.filter((e) => !isDuplicate(e));
    // The run is the trigger that claimed it (or either, when both found an earlier claim).
    exec = runs.find((e) => e.status === 'SUCCEEDED') ?? runs[0] ?? both[0];
    if (runs.length === 2) {
      // Exactly one trigger may claim the run; the other must end DUPLICATE_TRIGGER.
      const [a, b] = both.map((e) => (e.error ? `${e.status} (${e.error.name})` : e.status));
      twinError = {
        name: 'DuplicateTriggerNotDeduplicated',
        message: `the same object triggered twice and neither execution ended DUPLICATE_TRIGGER: ${a}, ${b}`,
      };
    }
  } else {
    exec = await stack.execute(input, 'sync', redrive);
  }
  const out = exec.output as Record<string, unknown> | null;
  const base = emptyResult(
    expectedRunId ?? (out as { runId?: string } | null)?.runId ?? null,
    input.entity,
    exec.status,
  );
  const faults = (): Pick<LocalRunResult, 'faults'> => {
    const after = stack.faults?.counts();
    if (!after) return {};
    const diff = Object.fromEntries(
      Object.entries(after).map(([k, n]) => [k, n - (faultsBefore?.[k as keyof typeof after] ?? 0)]),
    );
    stack.faults?.report(diff);
    return { faults: diff };
  };
  if (exec.status === 'SUCCEEDED' && out?.duplicate === true) {
    const ran =
      out.existingStatus === 'SUCCEEDED' && base.runId
        ? {
            earlier: {
              outcome: 'already-ran' as const,
              message: `this file already ran as run ${base.runId} (SUCCEEDED): nothing to do; --rerun runs it again`,
            },
          }
        : {};
    return { ...base, status: 'DUPLICATE_TRIGGER', durationMs: Date.now() - started, ...ran, ...faults() };
  }
  // ClaimRun refused to resume the run (its object or config changed, or it is not failed).
  if (input.resume !== undefined && exec.error?.name === 'RunNotResumableError' && base.runId) {
    return refused(base.runId, input.entity, started, lambdaMessage(exec.error.message));
  }
  const summary =
    exec.status === 'SUCCEEDED'
      ? (out as unknown as RunSummary)
      : base.runId
        ? await readSummary(stack, base.runId)
        : undefined;
  const result: LocalRunResult = { ...base, durationMs: Date.now() - started };
  if (exec.error) result.error = { name: exec.error.name, message: lambdaMessage(exec.error.message) };
  if (twinError) {
    result.status = 'FAILED';
    result.error = twinError;
  }
  if (summary) {
    Object.assign(result, withSummary(result, summary), {
      reports: await copyReports(stack, summary, stateDir),
    });
  }
  // Its reports are copied out: a run that succeeded needs its work objects no more.
  if (result.status === 'SUCCEEDED' && result.runId) {
    const run = await localLedger().getRun(result.runId);
    // Housekeeping: a failure to prune does not fail the run that succeeded, it is said.
    if (run)
      await pruneRunWork(stack, run).catch((err: unknown) =>
        process.stderr.write(
          `crm-sync: run ${run.runId} succeeded, but its work objects under work/${run.runId}/ were not deleted: ${(err as Error).message}\n`,
        ),
      );
  }
  // A run that failed before Reconcile still gets its summary.json and report.html (from the ledger).
  return withFailureReport({ ...result, ...faults() }, stateDir);
}
