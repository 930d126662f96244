import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeMapRunCommand } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { sfnClient } from '../../lambdas/adapters/clients';
import { Ledger, type ListRunsOptions } from '../../lambdas/adapters/ledger';
import { listObjects, readObject } from '../../lambdas/adapters/s3';
import { CrmSyncError } from '../../lambdas/domain/errors';
import { type RunStatusView, type RunView, runStatusView, runView } from '../../lambdas/domain/run-status';
import type { LocalEvent } from '../../local/events';
import { type AnySummary, type LocalReport, ReportNotFoundError } from '../../local/report';
import { RunNotFoundError } from '../../local/runs';
import { UsageError } from '../options';
import { logsClient } from './clients';
import type { DeployedStack } from './deployed-stack';
import { describeExecution, mapRunLabel, mapRuns } from './executions';
import { consoleUrl } from './run';

/** `crm-sync runs --stack`: the runs of the stack's ledger, newest first. */
export async function runsOnStack(stack: DeployedStack, options: ListRunsOptions): Promise<RunView[]> {
  return (await new Ledger(stack.ledgerTable).listRuns(options)).map(runView);
}

/** A Distributed Map run of an execution, as `status --stack` shows it. */
export interface MapRunView {
  readonly label: string;
  readonly status: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly running: number;
  readonly pending: number;
}

/** What `status --stack` adds to the ledger's view: the run's execution and its map runs. */
export interface ExecutionView {
  readonly executionArn: string;
  readonly status: string;
  readonly startDate: string | null;
  readonly stopDate: string | null;
  readonly redriveCount: number;
  readonly console: string;
  readonly mapRuns: readonly MapRunView[];
}

/** An execution the ledger names but Step Functions no longer holds (90 days after it ended). */
export interface GoneExecution {
  readonly executionArn: string;
  readonly status: 'GONE';
}

export type AwsRunStatusView = RunStatusView & { execution: ExecutionView | GoneExecution | null };

const isGone = (err: unknown) => (err as { name?: unknown }).name === 'ExecutionDoesNotExist';

async function executionView(stack: DeployedStack, executionArn: string): Promise<ExecutionView> {
  const d = await describeExecution(executionArn);
  const views: MapRunView[] = [];
  for (const run of await mapRuns(executionArn)) {
    if (!run.mapRunArn) continue;
    const m = await sfnClient().send(new DescribeMapRunCommand({ mapRunArn: run.mapRunArn }));
    const c = m.itemCounts;
    views.push({
      label: mapRunLabel(run.mapRunArn),
      status: m.status ?? 'UNKNOWN',
      total: c?.total ?? 0,
      succeeded: c?.succeeded ?? 0,
      failed: (c?.failed ?? 0) + (c?.timedOut ?? 0) + (c?.aborted ?? 0),
      running: c?.running ?? 0,
      pending: c?.pending ?? 0,
    });
  }
  return {
    executionArn,
    status: d.status ?? 'UNKNOWN',
    startDate: d.startDate?.toISOString() ?? null,
    stopDate: d.stopDate?.toISOString() ?? null,
    redriveCount: d.redriveCount ?? 0,
    console: consoleUrl(stack.region, executionArn),
    mapRuns: views,
  };
}

/** `crm-sync status <runId> --stack`: the run from the ledger with its steps, its execution and map runs. */
export async function statusOnStack(stack: DeployedStack, runId: string): Promise<AwsRunStatusView> {
  const ledger = new Ledger(stack.ledgerTable);
  const run = await ledger.getRun(runId);
  if (!run) {
    throw new RunNotFoundError(
      `no run ${runId} in the ledger of stack ${stack.stackName} (see crm-sync runs --stack ${stack.stackName})`,
    );
  }
  const view = runStatusView(run, await ledger.listSteps(runId));
  if (!run.executionId) return { ...view, execution: null };
  try {
    return { ...view, execution: await executionView(stack, run.executionId) };
  } catch (err) {
    // The ledger outlives Step Functions' history: the run is shown without its execution.
    if (isGone(err)) return { ...view, execution: { executionArn: run.executionId, status: 'GONE' } };
    throw err;
  }
}

/** The lines `status --stack` prints after the ledger's view. */
export function formatExecution(e: ExecutionView | GoneExecution | null): string {
  if (!e) return 'execution      (none recorded)';
  if (!('mapRuns' in e))
    return `execution      ${e.executionArn}: no longer kept by Step Functions (90 days after it ended)`;
  const lines = [
    `execution      ${e.status}${e.redriveCount > 0 ? ` (redriven ${e.redriveCount}×)` : ''}, started ${e.startDate ?? '-'}${e.stopDate ? `, stopped ${e.stopDate}` : ''}`,
    `  console      ${e.console}`,
  ];
  for (const m of e.mapRuns) {
    lines.push(
      `  map ${m.label}: ${m.status}, ${m.succeeded}/${m.total} succeeded` +
        (m.failed > 0 ? `, ${m.failed} failed` : '') +
        (m.running + m.pending > 0 ? `, ${m.running} running, ${m.pending} pending` : ''),
    );
  }
  return lines.join('\n');
}

/**
 * `crm-sync report <runId> --stack`: downloads every object under `reports/<runId>/` into `dir`
 * and reads its summary. A run still running, or unknown, says so in one line.
 */
export async function reportOnStack(stack: DeployedStack, runId: string, dir: string): Promise<LocalReport> {
  if (!/^[A-Za-z0-9][\w.-]*$/.test(runId)) throw new ReportNotFoundError(`not a run id: ${runId}`);
  const prefix = `reports/${runId}/`;
  const objects = await listObjects(stack.bucket, prefix);
  if (!objects.some((o) => o.Key === `${prefix}summary.json`)) {
    const run = await new Ledger(stack.ledgerTable).getRun(runId);
    if (!run) {
      throw new RunNotFoundError(
        `no run ${runId} in the ledger of stack ${stack.stackName} (see crm-sync runs --stack ${stack.stackName})`,
      );
    }
    throw new ReportNotFoundError(
      run.status === 'RUNNING'
        ? `run ${runId} is still running: its report is written when it ends`
        : `run ${runId} has no report under s3://${stack.bucket}/${prefix}`,
    );
  }
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  for (const o of objects) {
    const name = o.Key.slice(prefix.length);
    if (!name || name.includes('/')) continue;
    const chunks: Buffer[] = [];
    for await (const c of await readObject({ bucket: stack.bucket, key: o.Key })) chunks.push(Buffer.from(c));
    writeFileSync(join(out, name), Buffer.concat(chunks));
  }
  const summaryPath = join(out, 'summary.json');
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as AnySummary;
  const htmlPath = join(out, 'report.html');
  return { summary, summaryPath, htmlPath: existsSync(htmlPath) ? htmlPath : null };
}

/** The platform's opener of a file in its default application. */
export function defaultOpener(): { command: string; args: (path: string) => string[] } {
  if (process.platform === 'darwin') return { command: 'open', args: (p) => [p] };
  if (process.platform === 'win32') return { command: 'cmd', args: (p) => ['/c', 'start', '', p] };
  return { command: 'xdg-open', args: (p) => [p] };
}

/** Opens a file with `opener`; a missing opener is one line that names the file to open by hand. */
export async function openFile(path: string, opener = defaultOpener()): Promise<void> {
  await new Promise<void>((resolveOpen, reject) => {
    const child = spawn(opener.command, opener.args(path), { stdio: 'ignore', detached: true });
    child.once('error', (err) =>
      reject(
        new UsageError(`cannot open ${path}: ${opener.command} is not available (open it by hand)`, {
          cause: err,
        }),
      ),
    );
    child.once('spawn', () => {
      child.unref();
      resolveOpen();
    });
  });
}

/** The stack has no events log group (deployed before it had one). */
export class NoEventsLogError extends CrmSyncError {
  override readonly name = 'NoEventsLogError';
}

/** An event as EventBridge delivers it to a target (the log group keeps it whole). */
const eventSchema = z.object({
  version: z.literal('0'),
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.unknown(),
});
const entityOf = (detail: unknown) => z.object({ entity: z.string() }).safeParse(detail).data?.entity;

/** `--since 2h` / `30m` / `7d` / an ISO time → epoch milliseconds. */
export function sinceOf(value: string, now = Date.now()): number {
  const rel = /^(\d+)([smhd])$/.exec(value);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(rel[1]) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new UsageError(`--since must be a duration (30m, 2h, 7d) or an ISO time, not "${value}"`);
  return t;
}

/**
 * `crm-sync events --stack`: the RunFinished events the stack's log group kept (every event as
 * EventBridge delivered it), oldest first, read with FilterLogEvents over all its pages.
 */
export async function eventsOnStack(
  stack: DeployedStack,
  options: { sinceMs?: number | undefined; entity?: string | undefined },
): Promise<LocalEvent[]> {
  if (!stack.eventsLogGroup) {
    throw new NoEventsLogError(
      `stack ${stack.stackName} keeps no RunFinished events (no EventsLogGroupName output): deploy it again (\`npx cdk deploy\`)`,
    );
  }
  const events: LocalEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await logsClient().send(
      new FilterLogEventsCommand({
        logGroupName: stack.eventsLogGroup,
        startTime: options.sinceMs,
        nextToken,
      }),
    );
    for (const e of page.events ?? []) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(e.message ?? '');
      } catch {
        continue; // not an event (a line written there by something else)
      }
      const event = eventSchema.safeParse(parsed);
      if (!event.success) continue;
      if (options.entity !== undefined && entityOf(event.data.detail) !== options.entity) continue;
      events.push(event.data);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return events.sort((a, b) => a.time.localeCompare(b.time));
}
