import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeMapRunCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListMapRunsCommand,
  type MapRunListItem,
  RedriveExecutionCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { sfnClient } from '../../lambdas/adapters/clients';
import { CrmSyncError } from '../../lambdas/domain/errors';

/** The inbox rule started no execution for an uploaded object within the wait. */
export class NoExecutionStartedError extends CrmSyncError {
  override readonly name = 'NoExecutionStartedError';
}

/** How a command waits on Step Functions: the poll interval and the clock (tests pass fakes). */
export interface Waiting {
  readonly pollMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

export const REAL_WAITING: Waiting = {
  pollMs: 2000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
};

/** How an execution ended, as DescribeExecution says it. */
export interface ExecutionEnd {
  readonly executionArn: string;
  readonly status: string;
  /** The execution's output (JSON), when it succeeded. */
  readonly output: unknown;
  readonly error?: { name: string; message: string } | undefined;
  readonly redriveCount: number;
}

/** What the inbox rule (or the CLI) passes a run execution: enough to match it to its object. */
const runInputSchema = z.looseObject({ key: z.string(), versionId: z.string().nullish() });

/**
 * The execution the inbox rule started for `object`: the newest executions of the state machine
 * (ListExecutions is newest first; pages end at executions older than `since`), matched on the
 * input's key and version. Polls until `timeoutMs`, then NoExecutionStartedError.
 */
export async function findTriggeredExecution(
  stateMachineArn: string,
  object: { key: string; versionId?: string | undefined },
  options: { since: Date; timeoutMs: number; waiting: Waiting; dlqHint: string },
): Promise<string> {
  const { waiting } = options;
  const deadline = waiting.now() + options.timeoutMs;
  const checked = new Set<string>();
  for (;;) {
    let nextToken: string | undefined;
    do {
      const page = await sfnClient().send(new ListExecutionsCommand({ stateMachineArn, nextToken }));
      const recent = (page.executions ?? []).filter(
        (e) => e.executionArn && e.startDate && e.startDate.getTime() >= options.since.getTime() - 5000,
      );
      for (const e of recent) {
        const arn = e.executionArn as string;
        if (checked.has(arn)) continue;
        checked.add(arn);
        const d = await sfnClient().send(new DescribeExecutionCommand({ executionArn: arn }));
        const input = runInputSchema.safeParse(JSON.parse(d.input ?? 'null'));
        const sameVersion = !object.versionId || input.data?.versionId === object.versionId;
        if (input.success && input.data.key === object.key && sameVersion) return arn;
      }
      // Older executions than the upload cannot be its run: no need for further pages.
      nextToken = recent.length === (page.executions ?? []).length ? page.nextToken : undefined;
    } while (nextToken);
    if (waiting.now() >= deadline) {
      throw new NoExecutionStartedError(
        `no execution of the run state machine started for ${object.key} within ${Math.round(options.timeoutMs / 1000)} s: ${options.dlqHint}`,
      );
    }
    await waiting.sleep(waiting.pollMs);
  }
}

/** Starts an execution of `stateMachineArn` with `input`; its ARN. */
export async function startExecution(stateMachineArn: string, input: unknown): Promise<string> {
  const out = await sfnClient().send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }),
  );
  if (!out.executionArn) throw new CrmSyncError(`StartExecution of ${stateMachineArn} returned no execution`);
  return out.executionArn;
}

/** Redrives a failed, timed-out or aborted execution: it continues from the state that failed. */
export async function redriveExecution(executionArn: string): Promise<void> {
  await sfnClient().send(new RedriveExecutionCommand({ executionArn }));
}

export async function describeExecution(executionArn: string): Promise<DescribeExecutionCommandOutput> {
  return sfnClient().send(new DescribeExecutionCommand({ executionArn }));
}

/** The events after `afterId`, oldest first (history read newest first until it reaches `afterId`). */
async function eventsAfter(executionArn: string, afterId: number): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfnClient().send(
      new GetExecutionHistoryCommand({
        executionArn,
        reverseOrder: true,
        includeExecutionData: false,
        nextToken,
      }),
    );
    for (const e of page.events ?? []) {
      if ((e.id ?? 0) <= afterId) return events.reverse();
      events.push(e);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return events.reverse();
}

/** The id of the newest event of an execution's history (0 when it has none). */
async function latestEventId(executionArn: string): Promise<number> {
  const page = await sfnClient().send(
    new GetExecutionHistoryCommand({
      executionArn,
      reverseOrder: true,
      includeExecutionData: false,
      maxResults: 1,
    }),
  );
  return page.events?.[0]?.id ?? 0;
}

/** Every map run of an execution (all ListMapRuns pages). */
export async function mapRuns(executionArn: string): Promise<MapRunListItem[]> {
  const runs: MapRunListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfnClient().send(new ListMapRunsCommand({ executionArn, nextToken }));
    runs.push(...(page.mapRuns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return runs;
}

/** `…:mapRun:<machine>/<MapStateLabel>:<id>` → the Map state's label. */
export const mapRunLabel = (arn: string) => /\/([^/:]+):[^:]+$/.exec(arn)?.[1] ?? arn;

/** A map run's item counts as one progress line (`TransformChunks 12/40 done, 1 failed, 3 running`). */
function mapRunLine(label: string, c: Record<string, number | undefined>): string {
  const done = c.succeeded ?? 0;
  const extra = [
    (c.failed ?? 0) > 0 ? `${c.failed} failed` : '',
    (c.timedOut ?? 0) > 0 ? `${c.timedOut} timed out` : '',
    (c.running ?? 0) > 0 ? `${c.running} running` : '',
  ].filter(Boolean);
  return `  map ${label}: ${done}/${c.total ?? 0} done${extra.length ? `, ${extra.join(', ')}` : ''}`;
}

/** An execution's Cause is often a Lambda error `{"errorType","errorMessage"}`. */
function errorOf(d: DescribeExecutionCommandOutput): ExecutionEnd['error'] {
  if (!d.error && !d.cause) return undefined;
  let message = d.cause ?? '';
  try {
    const parsed = z.looseObject({ errorMessage: z.string() }).safeParse(JSON.parse(message));
    if (parsed.success) message = parsed.data.errorMessage;
  } catch {
    // A plain-text cause is shown as it is.
  }
  return { name: d.error ?? 'Error', message };
}

/**
 * Follows an execution to its end: a progress line per state it enters and per change of a
 * Distributed Map run's item counts, then how it ended.
 */
export async function followExecution(
  executionArn: string,
  options: {
    onProgress?: ((line: string) => void) | undefined;
    waiting: Waiting;
    /**
     * A redrive: its progress starts after the history so far, and the execution is followed
     * until it shows this redrive count (DescribeExecution may still say FAILED just after).
     */
    redrive?: { count: number } | undefined;
  },
): Promise<ExecutionEnd> {
  const say = options.onProgress ?? (() => {});
  let lastEvent = options.redrive ? await latestEventId(executionArn) : 0;
  const counts = new Map<string, string>();
  const finishedMapRuns = new Set<string>();
  for (;;) {
    const d = await describeExecution(executionArn);
    const events = await eventsAfter(executionArn, lastEvent);
    for (const e of events) {
      lastEvent = Math.max(lastEvent, e.id ?? 0);
      if (e.type?.endsWith('StateEntered') && e.stateEnteredEventDetails?.name) {
        say(`→ ${e.stateEnteredEventDetails.name}`);
      }
    }
    for (const run of await mapRuns(executionArn)) {
      if (!run.mapRunArn || finishedMapRuns.has(run.mapRunArn)) continue;
      const m = await sfnClient().send(new DescribeMapRunCommand({ mapRunArn: run.mapRunArn }));
      const line = mapRunLine(mapRunLabel(run.mapRunArn), { ...m.itemCounts });
      if (counts.get(run.mapRunArn) !== line) say(line);
      counts.set(run.mapRunArn, line);
      if (m.status !== 'RUNNING') finishedMapRuns.add(run.mapRunArn);
    }
    const redriven = (d.redriveCount ?? 0) >= (options.redrive?.count ?? 0);
    if (redriven && d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
      return {
        executionArn,
        status: d.status ?? 'UNKNOWN',
        output: d.output ? JSON.parse(d.output) : null,
        error: errorOf(d),
        redriveCount: d.redriveCount ?? 0,
      };
    }
    await options.waiting.sleep(options.waiting.pollMs);
  }
}
