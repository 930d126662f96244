import { logger } from '../adapters/powertools';
import { putJson } from '../adapters/s3';
import { readSegmentResults } from '../adapters/snapshot-objects';
import { type SnapshotJob, type SnapshotSummary, snapshotSegmentResultSchema } from '../contract/backup';
import { backupWorkKeys, buildManifest, manifestKey } from '../domain/snapshot';
import { type BackupContext, endBackup } from './backup-lock';

/**
 * FinishSnapshot: writes manifest.json from the segments' results (last: a snapshot without one is
 * incomplete), records the snapshot and gives the lock back.
 */
export async function finishSnapshot(job: SnapshotJob, ctx: BackupContext): Promise<SnapshotSummary> {
  const results = await readSegmentResults(
    ctx.bucket,
    job.segmentList.map((s) => backupWorkKeys.segment('snapshot', job.entity, job.snapshotId, s)),
    snapshotSegmentResultSchema,
  );
  const finishedAt = new Date().toISOString();
  const manifest = buildManifest(
    {
      snapshotId: job.snapshotId,
      entity: job.entity,
      table: job.table,
      key: job.key,
      ...(job.sortKey !== undefined ? { sortKey: job.sortKey } : {}),
      ...(job.only !== undefined ? { entityType: job.only } : {}),
      configHash: job.configHash,
      takenAt: job.takenAt,
      finishedAt,
      itemFormat: 'DYNAMODB_JSON',
      compression: 'GZIP',
      formats: job.formats,
      segments: job.segments,
      columns: job.columns,
    },
    results,
  );
  const key = manifestKey(job.prefix);
  await putJson(ctx.bucket, key, manifest);
  await endBackup(ctx, 'snapshot', job.entity, job.snapshotId, {
    status: 'SUCCEEDED',
    items: manifest.items,
  });
  logger.info('snapshot written', { entity: job.entity, snapshotId: job.snapshotId, items: manifest.items });
  return {
    snapshotId: job.snapshotId,
    entity: job.entity,
    table: job.table,
    items: manifest.items,
    digest: manifest.digest,
    segments: manifest.segments,
    formats: manifest.formats,
    prefix: job.prefix,
    manifestKey: key,
    takenAt: job.takenAt,
    finishedAt,
  };
}
