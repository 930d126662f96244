import type { Ledger } from '../adapters/ledger';
import { type ExecutionStatusEvent, redriveHint, transitionOf } from '../domain/execution-status';
import { LOCK_LEASE_MS } from '../domain/run';
import { failedRunMetrics, type MetricValue } from '../domain/run-metrics';
import { reportFailedRun } from './report-failed-run';

/** What the recorder needs of the run ledger. */
export type RunLedger = Pick<
  Ledger,
  | 'runOfExecution'
  | 'getRun'
  | 'failRun'
  | 'reopenRun'
  | 'acquireLock'
  | 'releaseLock'
  | 'updateRun'
  | 'listSteps'
>;

export interface RecordExecutionStatusDeps {
  ledger: RunLedger;
  bucket: string;
  /** Puts a crm-sync event (RunFinished) on the bus. */
  publish: (detailType: string, detail: Record<string, unknown>) => Promise<void>;
  /** Stops an execution with an error and cause. */
  stop: (executionArn: string, error: string, cause: string) => Promise<void>;
  /** Publishes an entity's metrics (FailedRuns). */
  publishMetrics: (entity: string, values: readonly MetricValue[]) => void;
  /** How the failure report tells a person to resume the run. @default a Step Functions redrive */
  resumeHint?: (runId: string, executionArn: string) => string;
}

export type ExecutionStatusOutcome =
  /** The failure is recorded, its report written and the lock freed. */
  | { outcome: 'failed'; runId: string; error: string }
  /** The run was no longer RUNNING: its end is recorded already (Reconcile's, or this event's). */
  | { outcome: 'already-ended'; runId: string; status: string }
  /** A redrive took the run up again (RUNNING, the entity's lock taken). */
  | { outcome: 'reopened'; runId: string }
  /** A redrive found another run holding the entity's lock: the execution is stopped. */
  | { outcome: 'busy'; runId: string; holder: string }
  /** Nothing to record: no run was claimed by the execution, or the status asks for nothing. */
  | { outcome: 'ignored'; reason: string };

/**
 * The recorder of the sync state machine's execution status changes (EventBridge "Step Functions
 * Execution Status Change"): the state machine catches no failure, so this is where a failed,
 * timed-out or aborted execution's run is recorded FAILED, gets its report, its RunFinished event
 * and FailedRuns metric (once each), and frees its entity's lock; and where a redriven execution's
 * run takes the lock again.
 * Every step is idempotent: EventBridge delivers at least once and in no promised order.
 */
export async function recordExecutionStatus(
  event: ExecutionStatusEvent,
  deps: RecordExecutionStatusDeps,
): Promise<ExecutionStatusOutcome> {
  const { detail } = event;
  const transition = transitionOf(detail);
  if (transition.kind === 'none') return { outcome: 'ignored', reason: `status ${detail.status}` };
  const runId = await deps.ledger.runOfExecution(detail.executionArn);
  // The execution ended before ClaimRun claimed a run (a redrive then runs ClaimRun again).
  if (!runId) return { outcome: 'ignored', reason: 'no run claimed by the execution' };
  const run = await deps.ledger.getRun(runId);
  if (!run) return { outcome: 'ignored', reason: `run ${runId} is not in the ledger` };
  const eventTime = eventMillis(event);

  if (transition.kind === 'redriven') {
    // A failure recorded after this redrive began belongs to the redrive itself: nothing to reopen.
    if (
      run.status !== 'FAILED' ||
      (run.finishedAt !== undefined && Date.parse(run.finishedAt) >= eventTime)
    ) {
      return { outcome: 'already-ended', runId, status: run.status };
    }
    const lock = await deps.ledger.acquireLock(run.entity, runId, LOCK_LEASE_MS);
    if (!lock.acquired) {
      const cause = `entity "${run.entity}" is busy: run ${lock.holder} (since ${lock.since}) is running; redrive run ${runId} after it ends`;
      await deps.ledger.updateRun(runId, { error: 'EntityBusyError', cause });
      await deps.stop(detail.executionArn, 'EntityBusyError', cause);
      return { outcome: 'busy', runId, holder: lock.holder };
    }
    await deps.ledger.reopenRun(runId, detail.executionArn, new Date(eventTime).toISOString());
    return { outcome: 'reopened', runId };
  }

  const stoppedAt = detail.stopDate ?? eventTime;
  let recorded = false;
  if (run.status === 'RUNNING') {
    // The failure of the attempt before a redrive, delivered after it: the run goes on.
    if (run.redrivenAt !== undefined && Date.parse(run.redrivenAt) > stoppedAt) {
      return { outcome: 'ignored', reason: 'a failure from before the run was redriven' };
    }
    const finishedAt = new Date(stoppedAt).toISOString();
    recorded = await deps.ledger.failRun(runId, {
      error: transition.error,
      cause: transition.cause,
      finishedAt,
    });
    if (!recorded) return { outcome: 'already-ended', runId, status: 'ended meanwhile' };
  } else if (run.status !== 'FAILED') {
    // Reconcile recorded the run's end (a mismatch fails the execution after it).
    return { outcome: 'already-ended', runId, status: run.status };
  }
  // FAILED already (a second delivery, or a redrive's failure recorded first): the report and the
  // lock are written again, which changes nothing; RunFinished is sent once.
  const hint = deps.resumeHint?.(runId, detail.executionArn) ?? redriveHint(detail.executionArn);
  const summary = await reportFailedRun(deps, runId, hint);
  await deps.ledger.releaseLock(run.entity, runId);
  if (recorded) {
    await deps.publish('RunFinished', {
      runId,
      entity: run.entity,
      status: 'FAILED',
      error: transition.error,
      dryRun: run.dryRun === true,
      executionArn: detail.executionArn,
      summary: summary?.reports.summary ?? `reports/${runId}/summary.json`,
    });
    if (run.dryRun !== true) deps.publishMetrics(run.entity, failedRunMetrics());
  }
  return { outcome: 'failed', runId, error: transition.error };
}

/** When the status changed: the redrive or stop date when the event has one, else the event's time. */
function eventMillis(event: ExecutionStatusEvent): number {
  const { redriveDate, stopDate } = event.detail;
  for (const v of [redriveDate, stopDate]) if (typeof v === 'number' && Number.isFinite(v)) return v;
  const t = event.time ? Date.parse(event.time) : Number.NaN;
  return Number.isFinite(t) ? t : Date.now();
}
