import { Ledger } from '../lambdas/adapters/ledger';
import { BackupLedger } from '../lambdas/adapters/snapshots';
import type { RunRecord } from '../lambdas/domain/run';
import { backupLockHolder } from '../lambdas/domain/snapshot';
import { LOCAL } from './emulators';
import { loadExecution } from './executions';
import type { LocalStack } from './local-stack';
import { localLedger } from './runs';

/** The error an interrupted local run is recorded with (a crash, Ctrl-C): a rerun resumes it. */
export const INTERRUPTED = 'Interrupted';

/** The command that resumes a failed local run. */
export const redriveCommand = (runId: string) => `crm-sync local redrive ${runId}`;

/** A run found RUNNING with no process left to run it, and the state its execution was in. */
export interface InterruptedRun {
  runId: string;
  /** The last state its execution entered (where a redrive continues), if recorded. */
  state: string | undefined;
}

/**
 * Local runs never overlap (one process owns a state dir: local/state-dir-lock.ts), so a run of the
 * entity still RUNNING in the ledger when a command starts belongs to a process that ended: its
 * execution is recorded ABORTED, as Step Functions would report a stopped one (the recorder marks
 * the run FAILED and frees the lock), so it can be resumed with `local redrive`. A snapshot or
 * restore of the entity interrupted the same way is failed and its lock freed too.
 */
export async function failInterruptedRuns(stack: LocalStack, entity: string): Promise<InterruptedRun[]> {
  const ledger = localLedger();
  const cause = `the local process running it ended before the run did; resume it with ${redriveCommand('<runId>')}`;
  const found: InterruptedRun[] = [];
  for (const run of await ledger.listRuns({ entity })) {
    if (run.status !== 'RUNNING') continue;
    const record = run.executionId ? loadExecution(stack.stateDir, run.executionId) : undefined;
    found.push({ runId: run.runId, state: record?.state?.name });
    const message = cause.replace('<runId>', run.runId);
    if (record) {
      await stack.recordAborted(record, { name: INTERRUPTED, message });
      continue;
    }
    // A run from a state dir written before executions were recorded.
    await ledger.updateRun(run.runId, {
      status: 'FAILED',
      error: INTERRUPTED,
      cause: message,
      finishedAt: new Date().toISOString(),
    });
    await ledger.releaseLock(run.entity, run.runId);
  }
  await failInterruptedBackups(entity);
  return found;
}

/**
 * A local snapshot or restore still RUNNING in the ledger belongs to a process that ended (one
 * process owns a state dir): it is marked FAILED and its lock released, as local runs are.
 */
export async function failInterruptedBackups(entity: string): Promise<void> {
  const records = new BackupLedger(LOCAL.ledgerTable);
  for (const r of await records.list(entity)) {
    if (r.status !== 'RUNNING') continue;
    await records.update(entity, r.kind, r.id, {
      status: 'FAILED',
      error: INTERRUPTED,
      cause: 'the local process running it ended before it did',
      finishedAt: new Date().toISOString(),
    });
    await new Ledger(LOCAL.ledgerTable).releaseLock(entity, backupLockHolder(r.kind, r.id));
  }
}

/**
 * What a plain `local run` or `local sync` of an export does with the run the export already has:
 * `new` (none: it runs), `resume` (it was interrupted: it is redriven), `refuse` (it failed for a
 * reason of its own, or did not reconcile: it is reported, never silently run again — `local
 * redrive` or `--rerun` is the person's call), `done` (it succeeded: the trigger is a duplicate),
 * `running` (left to ClaimRun, which finds it a duplicate).
 */
export function priorRunAction(
  run: Pick<RunRecord, 'status' | 'error'> | undefined,
): 'new' | 'resume' | 'refuse' | 'done' | 'running' {
  if (!run) return 'new';
  if (run.status === 'SUCCEEDED') return 'done';
  if (run.status === 'RUNNING') return 'running';
  if (run.status === 'FAILED' && run.error === INTERRUPTED) return 'resume';
  return 'refuse';
}

/** Exit codes of a command stopped by a signal (128 + its number, as shells report it). */
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Ctrl-C (SIGINT) or SIGTERM while a command runs the local stack: one line per execution running
 * (which run, the state it was in, the command that resumes it), then each is stopped as
 * StopExecution would, with the error `Interrupted` — its run is recorded FAILED and its lock freed
 * by the recorder, as for a crash — and the command ends with `exit` (130 for SIGINT) once `finish`
 * (the command's own cleanup: the emulators stopped) has run. A second signal ends it at once.
 */
export function handleInterrupts(
  stack: LocalStack,
  log: (line: string) => void,
  exit: (code: number) => void = (code) => process.exit(code),
): { signal(): NodeJS.Signals | undefined; uninstall(): void } {
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signalExitCode(signal);
    if (received) return exit(code);
    received = signal;
    // Work still in flight when its execution stops fails as the emulators go: nothing to show.
    process.on('unhandledRejection', () => {});
    void (async () => {
      const running = stack.runningExecutions();
      if (running.length === 0) {
        log(`crm-sync: interrupted (${signal}) before a run started; nothing to resume`);
        await stack.stop();
        return exit(code);
      }
      const ledger = localLedger();
      for (const record of running) {
        const state = record.state?.name ?? 'its start';
        const runId =
          record.machine === 'sync'
            ? await ledger.runOfExecution(record.executionArn).catch(() => undefined)
            : undefined;
        if (record.machine !== 'sync') {
          log(`crm-sync: interrupted (${signal}): the ${record.machine} stopped at ${state}; run it again`);
        } else if (runId) {
          log(
            `crm-sync: interrupted (${signal}): run ${runId} stopped at ${state}; resume it with ${redriveCommand(runId)} (or run the same file again)`,
          );
        } else log(`crm-sync: interrupted (${signal}) before the run was claimed; nothing to resume`);
        const resume = runId ? `; resume it with ${redriveCommand(runId)}` : '';
        stack.stopExecution(
          record.executionArn,
          INTERRUPTED,
          `stopped by ${signal} before it ended${resume}`,
        );
      }
      // A command that does not end by itself within a while is ended anyway (its run is recorded
      // already, or is failed by the next command as a crash would be).
      setTimeout(() => exit(code), 15_000).unref();
    })().catch(() => exit(code));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: () => received,
    uninstall() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The exit code of a command ended by this signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return SIGNAL_EXIT[signal] ?? 130;
}
