import { logger } from '../adapters/powertools';
import { BackupLedger } from '../adapters/snapshots';
import type { AbortOutput, CaughtError, ExecutionRef } from '../contract/backup';
import { idForAbort } from '../domain/backup';
import type { BackupKind } from '../domain/snapshot';
import { endBackup } from './backup-lock';

/** What AbortSnapshot / AbortRestore is given: the machine's input as given, and the Catch's error. */
export interface BackupAbort {
  entity: string;
  /** The input's snapshotId or restoreId, which may be what failed validation. */
  id: unknown;
  execution: ExecutionRef;
  error: CaughtError;
}

/**
 * AbortSnapshot / AbortRestore (the state machine's Catch): marks this execution's record FAILED and
 * releases the lock. A record of another execution (the id was taken) is left alone.
 */
export async function abortBackup(
  ctx: { ledgerTable: string },
  kind: BackupKind,
  abort: BackupAbort,
): Promise<AbortOutput> {
  const { entity, execution, error } = abort;
  const id = idForAbort(abort.id, execution);
  const record = await new BackupLedger(ctx.ledgerTable).get(entity, kind, id);
  if (!record || record.executionName !== execution.name) return {};
  await endBackup(ctx, kind, entity, id, {
    status: 'FAILED',
    error: error?.Error ?? 'Unknown',
    cause: error?.Cause ?? '',
  });
  logger.info(`${kind} failed`, { entity, id, error: error?.Error });
  return {};
}
