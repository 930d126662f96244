import { logger } from '../adapters/powertools';
import { readManifest } from '../adapters/snapshot-objects';
import { isTableEmpty } from '../adapters/snapshots';
import type { ExecutionRef, RestoreInput, RestoreJob } from '../contract/backup';
import { backupId, checkRestorable, checkSnapshotPrefix } from '../domain/backup';
import { getEntity } from '../domain/config';
import { TargetNotEmptyError } from '../domain/errors';
import { entityFilterOf, entityKeys } from '../domain/keys';
import { snapshotPrefix } from '../domain/snapshot';
import { type BackupContext, beginBackup } from './backup-lock';

/**
 * PrepareRestore: reads and checks the manifest (a JSONL snapshot of a table with the same key),
 * records the restore, takes the entity's lock, and refuses a table that holds any item.
 */
export async function prepareRestore(
  input: RestoreInput,
  execution: ExecutionRef,
  ctx: BackupContext,
): Promise<RestoreJob> {
  const entity = getEntity(ctx.config, input.entity);
  const table = ctx.tableOf(input.entity);
  const restoreId = backupId(input.restoreId, execution, 'restore');
  const prefix = checkSnapshotPrefix(
    input.prefix ?? snapshotPrefix(input.fromEntity ?? input.entity, input.snapshotId ?? ''),
  );
  const manifest = await readManifest(ctx.bucket, prefix);
  const keys = entityKeys(entity);
  checkRestorable(manifest, input.entity, keys);
  await beginBackup(ctx, 'restore', input.entity, restoreId, execution, prefix);
  // On a shared table: empty of this entity's items (the other entities' stay as they are).
  const only = entityFilterOf(entity);
  if (!(await isTableEmpty(table, only))) {
    throw new TargetNotEmptyError(
      only
        ? `table ${table} holds items of "${input.entity}" (${only.name} = "${only.value}"): a snapshot is restored into a table without the entity's items only`
        : `table ${table} of "${input.entity}" is not empty: a snapshot is restored into an empty table only`,
    );
  }
  logger.info('restore prepared', { entity: input.entity, restoreId, snapshotId: manifest.snapshotId });
  return {
    restoreId,
    entity: input.entity,
    table,
    prefix,
    snapshotId: manifest.snapshotId,
    fromEntity: manifest.entity,
    segments: manifest.segments,
    segmentList: manifest.parts.map((p) => p.segment),
    items: manifest.items,
    digest: manifest.digest,
    ...(only ? { only } : {}),
  };
}
