import { logger } from '../adapters/powertools';
import { readSegmentResults } from '../adapters/snapshot-objects';
import { type RestoreJob, type RestoreSummary, restoreSegmentCheckSchema } from '../contract/backup';
import { checkRestoredTable } from '../domain/backup';
import { combineDigests } from '../domain/hash';
import { backupWorkKeys } from '../domain/snapshot';
import { type BackupContext, endBackup } from './backup-lock';

/** FinishRestore: the table's count and digest must equal the snapshot's; records it, frees the lock. */
export async function finishRestore(job: RestoreJob, ctx: BackupContext): Promise<RestoreSummary> {
  const results = await readSegmentResults(
    ctx.bucket,
    job.segmentList.map((s) => backupWorkKeys.segment('restore', job.entity, job.restoreId, s)),
    restoreSegmentCheckSchema,
  );
  const found = combineDigests(results);
  checkRestoredTable(job, found);
  await endBackup(ctx, 'restore', job.entity, job.restoreId, { status: 'SUCCEEDED', items: found.items });
  logger.info('restore verified', { entity: job.entity, restoreId: job.restoreId, items: found.items });
  return {
    restoreId: job.restoreId,
    entity: job.entity,
    table: job.table,
    snapshotId: job.snapshotId,
    prefix: job.prefix,
    items: found.items,
    digest: found.digest,
    status: 'MATCHED',
  };
}
