import type { Command } from 'commander';
import { type LocalEvent, readEvents } from '../local/events';
import { formatReport, type LocalReport, localReport } from '../local/report';
import { formatRunStatus, formatRuns, listLocalRuns, localRunStatus } from '../local/runs';
import {
  eventsOnStack,
  formatExecution,
  openFile,
  reportOnStack,
  runsOnStack,
  sinceOf,
  statusOnStack,
} from './aws/read';
import { withAwsStack } from './aws/session';
import { awsTargetOf, type TargetOptions, withTargetOptions } from './aws/target';
import { printResult, writeLine } from './format';
import { positiveInteger, STATE_DIR_HELP, stateDirOf, UsageError } from './options';

/** The detail of a RunFinished event, as `events` prints it. */
interface RunFinishedDetail {
  runId?: string;
  entity?: string;
  status?: string;
  reconciliation?: string;
  error?: string;
  dryRun?: boolean;
}

/** One line of `events`: when, which run, how it ended. */
function eventLine(e: LocalEvent): string {
  const d = e.detail as RunFinishedDetail;
  const outcome = `${d.error ? `${d.status} (${d.error})` : `${d.status}, ${d.reconciliation}`}${d.dryRun ? ' (DRY RUN)' : ''}`;
  return `${e.time}  ${e['detail-type']}  ${d.entity}  ${d.runId}  ${outcome}`;
}

type RunsOpts = { entity?: string; limit?: number; json?: boolean; stateDir?: string };
type EventsOpts = { json?: boolean; stateDir?: string; since?: string; entity?: string };
type ReportOpts = { json?: boolean; stateDir?: string; out?: string; open?: boolean };

function runsCommand(c: Command, aws: boolean): Command {
  const cmd = c
    .description(`list the runs in the ${aws ? '' : 'local '}ledger, newest first`)
    .option('--entity <name>', 'only the runs of this entity')
    .option('--limit <n>', 'only the newest n runs', positiveInteger)
    .option('--json', 'print the runs as one JSON array on stdout')
    .option('--state-dir <dir>', STATE_DIR_HELP);
  return aws ? withTargetOptions(cmd) : cmd;
}

async function runs(opts: RunsOpts & TargetOptions): Promise<void> {
  const target = awsTargetOf(opts);
  const list = { entity: opts.entity, limit: opts.limit };
  const where = target ? `the ledger of stack ${target.stackName}` : stateDirOf(opts.stateDir);
  const found = target
    ? await withAwsStack(target, (stack) => runsOnStack(stack, list))
    : await listLocalRuns(stateDirOf(opts.stateDir), list);
  printResult(opts.json, found, () => (found.length === 0 ? `no runs in ${where}` : formatRuns(found)));
}

function eventsCommand(c: Command, aws: boolean): Command {
  const cmd = c
    .description(
      `list the RunFinished events the ${aws ? 'stack (or local bus)' : 'local event bus'} received, oldest first`,
    )
    .option('--json', 'print one event per line, as an EventBridge rule target receives it')
    .option('--state-dir <dir>', STATE_DIR_HELP);
  return aws
    ? withTargetOptions(cmd)
        .option('--since <when>', 'only events after this: a duration (30m, 2h, 7d) or an ISO time')
        .option('--entity <name>', 'only the events of this entity')
    : cmd;
}

async function events(opts: EventsOpts & TargetOptions): Promise<void> {
  const target = awsTargetOf(opts);
  const sinceMs = opts.since === undefined ? undefined : sinceOf(opts.since);
  const found = target
    ? await withAwsStack(target, (stack) => eventsOnStack(stack, { sinceMs, entity: opts.entity }))
    : readEvents(stateDirOf(opts.stateDir)).filter(
        (e) =>
          (sinceMs === undefined || Date.parse(e.time) >= sinceMs) &&
          (opts.entity === undefined || (e.detail as RunFinishedDetail).entity === opts.entity),
      );
  if (opts.json) {
    for (const e of found) writeLine(JSON.stringify(e));
    return;
  }
  if (found.length === 0) writeLine('no events');
  for (const e of found) writeLine(eventLine(e));
}

function statusCommand(c: Command, aws: boolean): Command {
  const cmd = c
    .description(`show one run of the ${aws ? '' : 'local '}ledger with its chunks and partitions`)
    .option('--json', 'print the run as one JSON object on stdout')
    .option('--state-dir <dir>', STATE_DIR_HELP);
  return aws ? withTargetOptions(cmd) : cmd;
}

async function status(
  runId: string,
  opts: { json?: boolean; stateDir?: string } & TargetOptions,
): Promise<void> {
  const target = awsTargetOf(opts);
  if (!target) {
    const view = await localRunStatus(stateDirOf(opts.stateDir), runId);
    printResult(opts.json, view, () => formatRunStatus(view));
    return;
  }
  const view = await withAwsStack(target, (stack) => statusOnStack(stack, runId));
  printResult(opts.json, view, () => `${formatRunStatus(view)}\n${formatExecution(view.execution)}`);
}

async function report(runId: string, opts: ReportOpts & TargetOptions): Promise<void> {
  const target = awsTargetOf(opts);
  if (!target && opts.out !== undefined)
    throw new UsageError('--out only applies with --stack (a local report is in the state dir)');
  const found: LocalReport = target
    ? await withAwsStack(target, (stack) =>
        reportOnStack(stack, runId, opts.out ?? `crm-sync-reports/${runId}`),
      )
    : await localReport(stateDirOf(opts.stateDir), runId);
  printResult(opts.json, { summary: found.summary, html: found.htmlPath }, () => formatReport(found));
  if (opts.open) {
    if (!found.htmlPath) throw new UsageError(`run ${runId} has no report.html to open`);
    await openFile(found.htmlPath);
  }
}

/**
 * What the ledger and bus recorded: `local runs|events|status` read the state dir without
 * starting the stack; `runs`, `status`, `events` and `report` at the top level read the same, or,
 * with `--stack` / `--target aws`, the deployed stack's ledger, executions, log group and bucket.
 */
export function registerRunCommands(program: Command, local: Command): void {
  runsCommand(local.command('runs'), false).action(runs);
  eventsCommand(local.command('events'), false).action(events);
  statusCommand(local.command('status <runId>'), false).action(status);

  runsCommand(program.command('runs'), true).action(runs);
  eventsCommand(program.command('events'), true).action(events);
  statusCommand(program.command('status <runId>'), true).action(status);
  withTargetOptions(program.command('report <runId>'))
    .description("print a run's summary and where its report.html is (with --stack: downloaded to --out)")
    .option('--json', 'print {"summary": <summary.json>, "html": <path of report.html>} as one JSON line')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option(
      '--out <dir>',
      'with --stack: where the reports are downloaded (default ./crm-sync-reports/<runId>/)',
    )
    .option('--open', 'open report.html in the default browser')
    .action(report);
}
