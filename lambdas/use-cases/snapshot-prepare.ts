import { logger } from '../adapters/powertools';
import { objectExists, tableSizeBytes } from '../adapters/snapshots';
import type { ExecutionRef, SnapshotInput, SnapshotJob } from '../contract/backup';
import { backupId, segmentList, snapshotFormats } from '../domain/backup';
import { configHash, getEntity } from '../domain/config';
import { SnapshotExistsError } from '../domain/errors';
import { entityFilterOf, entityKeys } from '../domain/keys';
import { chooseSegments, manifestKey, snapshotPrefix } from '../domain/snapshot';
import { type BackupContext, beginBackup } from './backup-lock';

/**
 * PrepareSnapshot: checks the entity and the id (a snapshot is never overwritten), records it, takes
 * the entity's lock (so the table holds still: the snapshot is of one point in time) and picks the
 * scan segments.
 */
export async function prepareSnapshot(
  input: SnapshotInput,
  execution: ExecutionRef,
  ctx: BackupContext,
): Promise<SnapshotJob> {
  const entity = getEntity(ctx.config, input.entity);
  const table = ctx.tableOf(input.entity);
  const snapshotId = backupId(input.snapshotId, execution, 'snapshot');
  const prefix = snapshotPrefix(input.entity, snapshotId);
  if (await objectExists(ctx.bucket, manifestKey(prefix))) {
    throw new SnapshotExistsError(`snapshot ${snapshotId} of "${input.entity}" already exists at ${prefix}`);
  }
  await beginBackup(ctx, 'snapshot', input.entity, snapshotId, execution, prefix);
  const takenAt = new Date().toISOString();
  const segments = chooseSegments(await tableSizeBytes(table), input.segments);
  logger.info('snapshot prepared', { entity: input.entity, snapshotId, segments });
  return {
    snapshotId,
    entity: input.entity,
    table,
    key: entityKeys(entity).table.partition,
    ...(entityKeys(entity).table.sort !== undefined ? { sortKey: entityKeys(entity).table.sort } : {}),
    ...(entityFilterOf(entity) !== undefined ? { only: entityFilterOf(entity) } : {}),
    prefix,
    segments,
    segmentList: segmentList(segments),
    formats: snapshotFormats(input.formats),
    columns: Object.keys(entity.fields),
    configHash: configHash(entity),
    takenAt,
  };
}
