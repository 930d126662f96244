import type { Command } from 'commander';
import { type LocalEvent, readEvents } from '../local/events';
import { formatReport, localReport } from '../local/report';
import { formatRunStatus, formatRuns, listLocalRuns, localRunStatus } from '../local/runs';
import { printResult, writeLine } from './format';
import { positiveInteger, STATE_DIR_HELP, stateDirOf } from './options';

/** The detail of a RunFinished event, as `local events` prints it. */
interface RunFinishedDetail {
  runId?: string;
  entity?: string;
  status?: string;
  reconciliation?: string;
  error?: string;
  dryRun?: boolean;
}

/** One line of `local events`: when, which run, how it ended. */
function eventLine(e: LocalEvent): string {
  const d = e.detail as RunFinishedDetail;
  const outcome = `${d.error ? `${d.status} (${d.error})` : `${d.status}, ${d.reconciliation}`}${d.dryRun ? ' (DRY RUN)' : ''}`;
  return `${e.time}  ${e['detail-type']}  ${d.entity}  ${d.runId}  ${outcome}`;
}

/**
 * What the local ledger and bus recorded, read from the state dir without starting the stack:
 * `local runs`, `local events`, `local status` (under `local`) and `report` (at the top level).
 */
export function registerRunCommands(program: Command, local: Command): void {
  local
    .command('runs')
    .description('list the runs in the local ledger, newest first')
    .option('--entity <name>', 'only the runs of this entity')
    .option('--limit <n>', 'only the newest n runs', positiveInteger)
    .option('--json', 'print the runs as one JSON array on stdout')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (opts: { entity?: string; limit?: number; json?: boolean; stateDir?: string }) => {
      const stateDir = stateDirOf(opts.stateDir);
      const runs = await listLocalRuns(stateDir, { entity: opts.entity, limit: opts.limit });
      printResult(opts.json, runs, () => (runs.length === 0 ? `no runs in ${stateDir}` : formatRuns(runs)));
    });

  local
    .command('events')
    .description('list the RunFinished events the local event bus received, oldest first')
    .option('--json', 'print one event per line, as an EventBridge rule target receives it')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action((opts: { json?: boolean; stateDir?: string }) => {
      const events = readEvents(stateDirOf(opts.stateDir));
      if (opts.json) {
        for (const e of events) writeLine(JSON.stringify(e));
        return;
      }
      if (events.length === 0) writeLine('no events');
      for (const e of events) writeLine(eventLine(e));
    });

  local
    .command('status <runId>')
    .description('show one run of the local ledger with its chunks and partitions')
    .option('--json', 'print the run as one JSON object on stdout')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (runId: string, opts: { json?: boolean; stateDir?: string }) => {
      const view = await localRunStatus(stateDirOf(opts.stateDir), runId);
      printResult(opts.json, view, () => formatRunStatus(view));
    });

  program
    .command('report <runId>')
    .description("print a local run's summary and where its report.html is")
    .option('--json', 'print {"summary": <summary.json>, "html": <path of report.html>} as one JSON line')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (runId: string, opts: { json?: boolean; stateDir?: string }) => {
      const report = await localReport(stateDirOf(opts.stateDir), runId);
      printResult(opts.json, { summary: report.summary, html: report.htmlPath }, () => formatReport(report));
    });
}
