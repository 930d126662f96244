import { dirname } from 'node:path/posix';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { BackupLedger } from '../lambdas/adapters/snapshots';
import { DEFAULT_LOCAL_KEEP_SNAPSHOTS } from '../lambdas/domain/config';
import { folderKeyOf } from '../lambdas/domain/export-folder';
import { DRY_RUN_PREFIX, type RunRecord } from '../lambdas/domain/run';
import { backupWorkKeys, snapshotPrefix } from '../lambdas/domain/snapshot';
import { deleteLocalFolder, LOCAL } from './emulators';
import { loadExecution } from './executions';
import type { LocalStack } from './local-stack';

/**
 * What the local bucket stops keeping once it is of no further use: a succeeded run's work
 * objects, and snapshots beyond the newest few of an entity. Without it, `work/` grows by about
 * 45 MB per 100k-row run and every `local export` leaves a full copy of the table.
 */

/** Where the Distributed Maps of the state machines write their results (ResultWriter prefix). */
const MAP_RESULTS_PREFIX = 'work/map-results/';

/** Deletes every object of the local bucket under the folder `prefix`; returns how many there were. */
export async function deletePrefix(stack: LocalStack, prefix: string): Promise<number> {
  return deleteLocalFolder(stack.stateDir, stack.bucket, prefix);
}

/** The result prefixes of the Map Runs an execution started (`work/map-results/<mapRunId>/`). */
function mapRunPrefixes(stack: LocalStack, execution: string | undefined): string[] {
  const record = execution ? loadExecution(stack.stateDir, execution) : undefined;
  return Object.values(record?.mapRuns ?? {}).map((id) => `${MAP_RESULTS_PREFIX}${id}/`);
}

/**
 * Deletes the intermediate objects of a run that succeeded, once its reports are copied out:
 * `work/<runId>/`, its Map Runs' results and, for a dry run, its file (or folder of parts) under
 * `dry-run/`. Nothing
 * reads them again: `local status` reads the ledger, the reports are under `reports/<runId>/`, and
 * only a failed run can be resumed (`local redrive`), so a run that did not succeed keeps them.
 * Returns how many objects were deleted.
 */
export async function pruneRunWork(stack: LocalStack, run: RunRecord): Promise<number> {
  if (run.status !== 'SUCCEEDED') return 0;
  const prefixes = [`work/${run.runId}/`, ...mapRunPrefixes(stack, run.executionId)];
  let deleted = 0;
  for (const prefix of prefixes) deleted += await deletePrefix(stack, prefix);
  if (run.dryRun && run.source.key.startsWith(DRY_RUN_PREFIX)) {
    // A dry run of a multi-file export: its copy is the folder of parts its marker is in.
    const kind = folderKeyOf(run.source.key, run.entity, DRY_RUN_PREFIX)?.kind;
    const folder = kind === 'marker' || kind === 'manifest' ? dirname(run.source.key) : undefined;
    if (folder) deleted += await deletePrefix(stack, `${folder}/`);
    else {
      await stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: run.source.key }));
      deleted += 1;
    }
  }
  return deleted;
}

/**
 * After a snapshot of an entity: deletes its snapshots beyond the newest `keep` that succeeded,
 * and those that failed (never restorable: no manifest), with their work objects and Map Run
 * results. A snapshot still running is left alone. Returns the ids of the deleted snapshots.
 */
export async function pruneSnapshots(
  stack: LocalStack,
  entity: string,
  keep: number = DEFAULT_LOCAL_KEEP_SNAPSHOTS,
): Promise<string[]> {
  const records = (await new BackupLedger(LOCAL.ledgerTable).list(entity)).filter(
    (r) => r.kind === 'snapshot',
  );
  const succeeded = records.filter((r) => r.status === 'SUCCEEDED');
  const doomed = [...succeeded.slice(keep), ...records.filter((r) => r.status === 'FAILED')];
  const pruned: string[] = [];
  for (const r of doomed) {
    const prefixes = [
      r.prefix ?? snapshotPrefix(entity, r.id),
      backupWorkKeys.prefix('snapshot', entity, r.id),
      ...mapRunPrefixes(stack, r.executionName),
    ];
    let deleted = 0;
    for (const prefix of prefixes) deleted += await deletePrefix(stack, prefix);
    // Its ledger record stays (what was taken when); a later pass finds nothing left to delete.
    if (deleted > 0) pruned.push(r.id);
  }
  return pruned;
}
