/**
 * The "Step Functions Execution Status Change" event that EventBridge delivers for every execution
 * of the sync state machine, and what a run's record should say about it. Pure.
 *
 * The state machine catches no failure: a failed task fails the execution where it stands, so a
 * Step Functions redrive re-runs that task (and, for a Distributed Map, only its unsuccessful
 * children). The failure is recorded from this event instead, which Step Functions also sends for
 * timed-out and aborted executions (no Catch runs for those).
 */
import { z } from 'zod';

export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

/** The statuses of an execution that ended without success. */
export const FAILED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

const detail = z.looseObject({
  executionArn: z.string().min(1),
  stateMachineArn: z.string().min(1),
  name: z.string().optional(),
  status: z.string().min(1),
  error: z.string().nullish(),
  cause: z.string().nullish(),
  stopDate: z.number().nullish(),
  /** When the execution was last redriven (epoch ms). */
  redriveDate: z.number().nullish(),
  /** How many times the execution was redriven (0 before the first redrive). */
  redriveCount: z.number().int().min(0).nullish(),
});

export const executionStatusEventSchema = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal(EXECUTION_STATUS_CHANGE),
  time: z.string().optional(),
  detail,
});
export type ExecutionStatusEvent = z.infer<typeof executionStatusEventSchema>;
export type ExecutionStatusDetail = ExecutionStatusEvent['detail'];

/** What the event asks of the run: record its failure, take it up again (a redrive), or nothing. */
export type ExecutionTransition =
  | { kind: 'failed'; error: string; cause: string }
  | { kind: 'redriven' }
  | { kind: 'none' };

export function transitionOf(d: ExecutionStatusDetail): ExecutionTransition {
  if ((FAILED_STATUSES as readonly string[]).includes(d.status)) return { kind: 'failed', ...failureOf(d) };
  if (d.status === 'RUNNING' && (d.redriveCount ?? 0) > 0) return { kind: 'redriven' };
  return { kind: 'none' };
}

/**
 * The error and cause a failed run records. A FAILED execution carries its failing state's error
 * (a Lambda error's name, `States.ExceedToleratedFailureThreshold`, …); a timed-out or aborted one
 * often carries none, and gets one that says what happened.
 */
export function failureOf(d: Pick<ExecutionStatusDetail, 'status' | 'error' | 'cause'>): {
  error: string;
  cause: string;
} {
  const error = d.error || undefined;
  const cause = d.cause || undefined;
  switch (d.status) {
    case 'TIMED_OUT':
      return {
        error: error ?? 'States.Timeout',
        cause: cause ?? 'the execution ran past the state machine timeout',
      };
    case 'ABORTED':
      return {
        error: error ?? 'ExecutionAborted',
        cause: cause ?? 'the execution was stopped before it ended',
      };
    default:
      return { error: error ?? 'States.Runtime', cause: cause ?? 'the execution failed' };
  }
}

/** How a person resumes a failed run in AWS: a redrive of its execution. */
export function redriveHint(executionArn: string): string {
  return `redrive its execution (aws stepfunctions redrive-execution --execution-arn ${executionArn})`;
}
