import pLimit from 'p-limit';
import { z } from 'zod';
import { Ledger } from '../adapters/ledger';
import { logger } from '../adapters/powertools';
import { readJson } from '../adapters/s3';
import { BackupLedger } from '../adapters/snapshots';
import { EntityBusyError, SnapshotExistsError } from '../domain/errors';
import { RUN_TIMEOUT_SECONDS } from '../domain/run';
import { type BackupKind, backupLockHolder, checkBackupId, deriveBackupId } from '../domain/snapshot';

/** How long a snapshot or restore may hold its entity's lock: its state machine's time limit. */
export const BACKUP_LEASE_MS = RUN_TIMEOUT_SECONDS * 1000;

/** `$$.Execution.Name` and `$$.Execution.StartTime`: the default id and who owns a record. */
export const executionSchema = z.object({ name: z.string().min(1), startTime: z.string().min(1) });
export type ExecutionRef = z.infer<typeof executionSchema>;

/** A Catch's `$.error`. */
export const caughtSchema = z
  .object({ Error: z.string().optional(), Cause: z.string().optional() })
  .optional();

/**
 * A backup state machine's events: prepare (the machine's input), finish, abort (a Catch: the input
 * as given, which may be what failed validation) and a Distributed Map batch of segments for a worker
 * `action`.
 */
export function backupEventSchema<
  Input extends z.ZodType,
  AbortInput extends z.ZodType,
  Job extends z.ZodType,
  Action extends z.ZodType<string>,
>(schemas: { input: Input; abortInput: AbortInput; job: Job; workerAction: Action }) {
  return z.union([
    z.object({ action: z.literal('prepare'), input: schemas.input, execution: executionSchema }),
    z.object({ action: z.literal('finish'), job: schemas.job }),
    z.object({
      action: z.literal('abort'),
      input: schemas.abortInput,
      execution: executionSchema,
      error: caughtSchema,
    }),
    z.object({
      BatchInput: z.object({ action: schemas.workerAction, job: schemas.job }),
      Items: z.array(z.number().int().min(0)).min(1),
    }),
  ]);
}

/** The given id, checked, or the execution's. */
export function backupId(given: string | undefined, execution: ExecutionRef, kind: BackupKind): string {
  return given === undefined
    ? deriveBackupId(execution.startTime, execution.name)
    : checkBackupId(given, kind);
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

/**
 * After a failure (the state machine's Catch): marks this execution's record FAILED and releases
 * the lock. A record of another execution (the id was taken) is left alone.
 */
export async function abortBackup(
  env: { ledgerTable: string },
  kind: BackupKind,
  entity: string,
  id: string,
  execution: ExecutionRef,
  error: { Error?: string | undefined; Cause?: string | undefined } | undefined,
): Promise<void> {
  const record = await new BackupLedger(env.ledgerTable).get(entity, kind, id);
  if (!record || record.executionName !== execution.name) return;
  await endBackup(env, kind, entity, id, {
    status: 'FAILED',
    error: error?.Error ?? 'Unknown',
    cause: error?.Cause ?? '',
  });
  logger.info(`${kind} failed`, { entity, id, error: error?.Error });
}

/** Reads the per-segment result objects the workers wrote, 16 at a time. */
export async function readSegmentResults<T>(bucket: string, keys: readonly string[]): Promise<T[]> {
  const limit = pLimit(16);
  return Promise.all(keys.map((key) => limit(() => readJson<T>({ bucket, key }))));
}

/** The id of a Catch's input: the given one when valid, else the execution's. */
export function idForAbort(given: unknown, execution: ExecutionRef): string {
  return typeof given === 'string' ? given : deriveBackupId(execution.startTime, execution.name);
}

/** A Distributed Map batch of segments, one after the other: each segment's item count. */
export async function eachSegment(
  segments: readonly number[],
  run: (segment: number) => Promise<number>,
): Promise<{ segments: Array<{ segment: number; items: number }> }> {
  const done: Array<{ segment: number; items: number }> = [];
  for (const segment of segments) done.push({ segment, items: await run(segment) });
  return { segments: done };
}
