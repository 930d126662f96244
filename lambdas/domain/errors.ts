/**
 * Named errors. Task handlers throw these; the state machine catches them by `name`
 * (Lambda reports `errorType` = `error.name`), so every class sets a stable name.
 */
export class CrmSyncError extends Error {
  override readonly name: string = 'CrmSyncError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The state machines: a run of an entity, and a snapshot or restore of its table. */
export type Workflow = 'run' | 'backup';

/**
 * An error no retry can fix. The state machines of `permanentIn` list its name in a Retry with
 * MaxAttempts 0 (permanentErrorNames, lambdas/domain/permanent-errors.ts), so the execution fails at
 * once instead of retrying; every other error is retried as transient.
 */
export abstract class PermanentError extends CrmSyncError {
  /** The state machines that throw it (default: the run). */
  static readonly permanentIn: readonly Workflow[] = ['run'];
}

/** The config file does not match the schema; `issues` lists every problem by path. */
export class ConfigError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['run', 'backup'];
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The source file's header does not carry the columns the entity mapping needs. */
export class HeaderMismatchError extends PermanentError {
  override readonly name = 'HeaderMismatchError';
}

/** The source file cannot be read as the configured format (binary, undecodable, not CSV). */
export class MalformedFileError extends PermanentError {
  override readonly name = 'MalformedFileError';
}

/** The plan counted a different number of rows than the worker read: the object changed or a bug. */
export class ChunkCountMismatchError extends CrmSyncError {
  override readonly name = 'ChunkCountMismatchError';
}

/**
 * A date column of the file writes its numeric dates both day-first and month-first: its order
 * cannot be decided once for the file (Plan names the column and two lines).
 */
export class InconsistentDateOrderError extends PermanentError {
  override readonly name = 'InconsistentDateOrderError';
}

/** The entity named by a trigger is not in the config. */
export class UnknownEntityError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['run', 'backup'];
  override readonly name = 'UnknownEntityError';
}

/** A write could not be completed after bounded retries (throttling, unprocessed items). */
export class WriteRetriesExhaustedError extends CrmSyncError {
  override readonly name = 'WriteRetriesExhaustedError';
}

/** An input event does not have the shape a handler expects. */
export class InvalidEventError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['run', 'backup'];
  override readonly name = 'InvalidEventError';
}

/** Another run of the same entity is still running; the state machine retries the claim later. */
export class EntityBusyError extends CrmSyncError {
  override readonly name = 'EntityBusyError';
}

/**
 * A redriven run's merge found another run of the entity holding its lock: it writes nothing, and
 * the run can be redriven again once that run ends.
 */
export class LockLostError extends PermanentError {
  override readonly name = 'LockLostError';
}

/** A resume (redrive) was asked for a run that cannot go on: another object, config or status. */
export class RunNotResumableError extends PermanentError {
  override readonly name = 'RunNotResumableError';
}

/** A snapshot's manifest is missing, malformed, inconsistent, or does not fit the target table. */
export class InvalidSnapshotError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['backup'];
  override readonly name = 'InvalidSnapshotError';
}

/** A snapshot part does not match its manifest (size, SHA-256, item count or digest): nothing is written. */
export class SnapshotCorruptError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['backup'];
  override readonly name = 'SnapshotCorruptError';
}

/** A snapshot with this id already exists (a manifest is there): snapshots are never overwritten. */
export class SnapshotExistsError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['backup'];
  override readonly name = 'SnapshotExistsError';
}

/** A restore is refused: the target table holds items (a restore only loads into an empty table). */
export class TargetNotEmptyError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['backup'];
  override readonly name = 'TargetNotEmptyError';
}

/** After a restore, the table's item count or digest differs from the snapshot's manifest. */
export class RestoreMismatchError extends PermanentError {
  static override readonly permanentIn: readonly Workflow[] = ['backup'];
  override readonly name = 'RestoreMismatchError';
}

/** The file cannot be laid out inside an AWS limit (a state payload, the partition count): not retried. */
export class PlanLimitError extends PermanentError {
  override readonly name = 'PlanLimitError';
}

/**
 * Mirror mode: the export leaves out more of the target than `maxDeleteRatio` allows (or rejected
 * rows have no readable key), so the run is refused before it writes anything.
 */
export class MirrorDeleteLimitError extends PermanentError {
  override readonly name = 'MirrorDeleteLimitError';
}

/**
 * Too many rows of the file were rejected (every row, or more than `maxRejectRatio`): the run is
 * refused after the transform, before it writes anything. `--force` loads the valid rows.
 */
export class RejectLimitError extends PermanentError {
  override readonly name = 'RejectLimitError';
}

/** The file has no data row (a header only) and the entity does not set `allowEmptyExport`. */
export class EmptyExportError extends PermanentError {
  override readonly name = 'EmptyExportError';
}

/**
 * A partial export's row, merged with the stored values of the columns its file lacks, would make
 * an item over DynamoDB's 400 KB: the merge of its partition stops before it writes anything.
 */
export class ItemTooLargeError extends CrmSyncError {
  override readonly name = 'ItemTooLargeError';
}

/**
 * On a table several entities share, a row's key names an item of another entity (its entity-type
 * attribute says so, or it has none): the entities' key templates overlap. The merge of the
 * partition stops before it writes anything; the other entity's item is untouched.
 */
export class KeyCollisionError extends PermanentError {
  override readonly name = 'KeyCollisionError';
}

/**
 * The merge made no progress for MAX_STALLED_MERGE_PASSES passes in a row: no partition finished
 * and none wrote anything (the target refuses every write). Not retried: redrive the run once the
 * table takes writes again (what was written stays, and counts once).
 */
export class MergeStalledError extends PermanentError {
  override readonly name = 'MergeStalledError';
}
