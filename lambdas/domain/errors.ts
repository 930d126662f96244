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

/** The config file does not match the schema; `issues` lists every problem by path. */
export class ConfigError extends CrmSyncError {
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
export class HeaderMismatchError extends CrmSyncError {
  override readonly name = 'HeaderMismatchError';
}

/** The source file cannot be read as the configured format (binary, undecodable, not CSV). */
export class MalformedFileError extends CrmSyncError {
  override readonly name = 'MalformedFileError';
}

/** The entity named by a trigger is not in the config. */
export class UnknownEntityError extends CrmSyncError {
  override readonly name = 'UnknownEntityError';
}

/** A write could not be completed after bounded retries (throttling, unprocessed items). */
export class WriteRetriesExhaustedError extends CrmSyncError {
  override readonly name = 'WriteRetriesExhaustedError';
}

/** An input event does not have the shape a handler expects. */
export class InvalidEventError extends CrmSyncError {
  override readonly name = 'InvalidEventError';
}

/** Another run of the same entity is still running; the state machine retries the claim later. */
export class EntityBusyError extends CrmSyncError {
  override readonly name = 'EntityBusyError';
}

/** A resume (redrive) was asked for a run that cannot go on: another object, config or status. */
export class RunNotResumableError extends CrmSyncError {
  override readonly name = 'RunNotResumableError';
}
