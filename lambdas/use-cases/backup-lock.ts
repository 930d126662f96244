import { Ledger } from '../adapters/ledger';
import { BackupLedger } from '../adapters/snapshots';
import type { ExecutionRef } from '../contract/backup';
import { EntityBusyError, SnapshotExistsError } from '../domain/errors';
import { RUN_TIMEOUT_SECONDS } from '../domain/run';
import { type BackupKind, backupLockHolder } from '../domain/snapshot';
import type { WorkerContext } from './worker-context';

/** How long a snapshot or restore may hold its entity's lock: its state machine's time limit. */
export const BACKUP_LEASE_MS = RUN_TIMEOUT_SECONDS * 1000;

/** What a snapshot's or restore's use cases read of their environment: a worker's, and the ledger. */
export interface BackupContext extends WorkerContext {
  /** The ledger table: the backup records and the entities' locks. */
  ledgerTable: string;
}

/**
 * Records the snapshot or restore as RUNNING for this execution, then takes the entity's lock, so no
 * sync run writes the table meanwhile. EntityBusyError while a run (or another snapshot or restore)
 * holds it: the state machine retries like ClaimRun. A record of the same id owned by another
 * execution that did not fail is SnapshotExistsError.
 */
export async function beginBackup(
  env: { ledgerTable: string },
  kind: BackupKind,
  entity: string,
  id: string,
  execution: ExecutionRef,
  prefix: string,
): Promise<void> {
  const records = new BackupLedger(env.ledgerTable);
  const existing = await records.get(entity, kind, id);
  if (existing && existing.executionName !== execution.name && existing.status !== 'FAILED') {
    throw new SnapshotExistsError(
      `${kind} ${id} of "${entity}" already exists (${existing.status}, started ${existing.startedAt}); choose another id`,
    );
  }
  if (!existing || existing.executionName !== execution.name) {
    await records.put({
      kind,
      id,
      entity,
      status: 'RUNNING',
      startedAt: new Date().toISOString(),
      executionName: execution.name,
      prefix,
    });
  }
  const holder = backupLockHolder(kind, id);
  const lock = await new Ledger(env.ledgerTable).acquireLock(entity, holder, BACKUP_LEASE_MS);
  if (!lock.acquired) {
    throw new EntityBusyError(
      `entity "${entity}" is busy: ${lock.holder} (since ${lock.since}) holds it; ${kind} ${id} waits`,
    );
  }
}

/** Records the outcome and gives the entity's lock back. */
export async function endBackup(
  env: { ledgerTable: string },
  kind: BackupKind,
  entity: string,
  id: string,
  fields: { status: 'SUCCEEDED' | 'FAILED'; items?: number; error?: string; cause?: string },
): Promise<void> {
  await new BackupLedger(env.ledgerTable).update(entity, kind, id, {
    ...fields,
    finishedAt: new Date().toISOString(),
  });
  await new Ledger(env.ledgerTable).releaseLock(entity, backupLockHolder(kind, id));
}
