/**
 * The errors a state machine does not retry, derived from the error classes: every PermanentError
 * of lambdas/domain/errors.ts whose `permanentIn` names the machine, by the name Lambda reports
 * (`errorType` = `error.name`).
 */
import * as errors from './errors';
import { PermanentError, type Workflow } from './errors';

/** An error class of errors.ts: its constructor and, for a permanent one, the machines it is permanent in. */
type ErrorClass = (new (message: string) => Error) & { permanentIn?: readonly Workflow[] };

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype instanceof Error;
}

const exported: unknown[] = Object.values(errors);

/** Every error class of errors.ts but the two base classes, by name, with the machines it is permanent in. */
export const ERROR_CLASSES: ReadonlyArray<{ name: string; permanentIn: readonly Workflow[] }> = exported
  .filter((c) => c !== PermanentError && c !== errors.CrmSyncError)
  .filter(isErrorClass)
  .map((c) => ({
    name: new c('').name,
    permanentIn: c.prototype instanceof PermanentError ? (c.permanentIn ?? []) : [],
  }))
  .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** The names of the errors `workflow`'s state machines fail on at once (a Retry with MaxAttempts 0), sorted. */
export function permanentErrorNames(workflow: Workflow): string[] {
  return ERROR_CLASSES.filter((c) => c.permanentIn.includes(workflow)).map((c) => c.name);
}
