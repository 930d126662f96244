import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrmSyncError } from '../lambdas/domain/errors';
import type { FailedRunSummary, RunSummary } from '../lambdas/domain/report';
import { sourceName } from '../lambdas/domain/run';
import { failureReport, type RunStatusView, runStatusView } from '../lambdas/domain/run-status';
import type { LocalRunResult } from './local-stack';
import { localLedger, localRunStatus } from './runs';

/** `crm-sync report` was asked for a run that has no report (yet). */
export class ReportNotFoundError extends CrmSyncError {
  override readonly name = 'ReportNotFoundError';
}

/** Where a local run's reports are copied: `<stateDir>/reports/<runId>/`. */
export function reportDir(stateDir: string, runId: string): string {
  return join(stateDir, 'reports', runId);
}

export type AnySummary = RunSummary | FailedRunSummary;

/** A run's report as `crm-sync report` shows it: its summary and the files on disk. */
export interface LocalReport {
  summary: AnySummary;
  /** Absolute paths. */
  summaryPath: string;
  /** report.html, or null for a run reported before report.html existed. */
  htmlPath: string | null;
}

/**
 * Writes summary.json and report.html of a run that failed before Reconcile (which writes the
 * report of every run that reaches it) under `<stateDir>/reports/<runId>/`, from its ledger record.
 */
export function writeFailureReport(stateDir: string, run: RunStatusView): { summary: string; html: string } {
  const { summary, html } = failureReport(run, `resume the run with "crm-sync local redrive ${run.runId}"`);
  const dir = reportDir(stateDir, run.runId);
  mkdirSync(dir, { recursive: true });
  const paths = { summary: join(dir, 'summary.json'), html: join(dir, 'report.html') };
  writeFileSync(paths.html, html);
  writeFileSync(paths.summary, `${JSON.stringify(summary, null, 2)}\n`);
  return paths;
}

/**
 * A failed run without a summary (it stopped before Reconcile, e.g. HeaderMismatchError at Plan)
 * gets its failure report from the ledger. Call while the local stack runs (the ledger adapter
 * talks to its emulator); other results are returned as they are.
 */
export async function withFailureReport(result: LocalRunResult, stateDir: string): Promise<LocalRunResult> {
  // A run Reconcile reported keeps that report; a failed run's report says how to resume it here.
  if (result.status !== 'FAILED' || !result.runId || result.counts) return result;
  const ledger = localLedger();
  const run = await ledger.getRun(result.runId);
  if (!run) return result;
  const view = runStatusView(run, await ledger.listSteps(result.runId));
  return { ...result, reports: { ...result.reports, ...writeFailureReport(stateDir, view) } };
}

/**
 * The report of a local run: `<stateDir>/reports/<runId>/summary.json`. A failed run without one
 * (it ended before this command existed, or outside the CLI) gets its failure report from the
 * ledger now. Unknown run: RunNotFoundError; a run still running: ReportNotFoundError.
 */
export async function localReport(stateDir: string, runId: string): Promise<LocalReport> {
  // A run id names a folder: nothing that could leave the reports folder.
  if (!/^[A-Za-z0-9][\w.-]*$/.test(runId)) throw new ReportNotFoundError(`not a run id: ${runId}`);
  const dir = reportDir(stateDir, runId);
  const summaryPath = join(dir, 'summary.json');
  if (!existsSync(summaryPath)) {
    const run = await localRunStatus(stateDir, runId);
    if (run.status !== 'FAILED') {
      throw new ReportNotFoundError(
        run.status === 'RUNNING'
          ? `run ${runId} is still running: its report is written when it ends`
          : `run ${runId} has no report under ${dir}`,
      );
    }
    writeFailureReport(stateDir, run);
  }
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as AnySummary;
  const htmlPath = join(dir, 'report.html');
  return { summary, summaryPath, htmlPath: existsSync(htmlPath) ? htmlPath : null };
}

const fmt = (n: number) => n.toLocaleString('en-US');
const time = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

/** `crm-sync report <runId>`: the summary as a person reads it, then where the files are. */
export function formatReport(r: LocalReport): string {
  const s = r.summary;
  const lines: string[] = [];
  if (s.counts === null) {
    lines.push(`run ${s.runId} → ${s.entity}: FAILED before reconciliation`);
  } else {
    lines.push(
      `run ${s.runId} → ${s.entity}: ${s.status}${s.dryRun ? ' (dry run)' : ''}, reconciliation ${s.reconciliation.status}`,
    );
  }
  lines.push(`  file           ${sourceName(s.source)}`);
  lines.push(`  started        ${time(s.startedAt)}, took ${(s.durationMs / 1000).toFixed(1)} s`);
  if (s.counts === null) {
    lines.push(`  error          ${s.error.name}: ${s.error.message}`);
    lines.push(`  chunks         ${s.chunks === null ? 'none planned' : `${fmt(s.chunks)} planned`}`);
  } else {
    const c = s.counts;
    lines.push(
      `  rows           ${fmt(c.rows)} = applied ${fmt(c.applied)} + unchanged ${fmt(c.unchanged)} + superseded ${fmt(c.superseded)} + deleted ${fmt(c.deleted)} + rejected ${fmt(c.rejected)}`,
      `  duplicate keys ${fmt(s.duplicateKeys)}`,
      `  chunks         ${fmt(s.chunks)} transformed, ${fmt(s.partitions)} partitions merged`,
    );
    if (s.topReasons.length > 0) {
      lines.push(
        `  top reject reasons: ${s.topReasons.map((t) => `${t.reason} ×${fmt(t.count)}`).join(', ')}`,
      );
    }
    lines.push(...warningLines(s));
    const orphans = (s.references ?? []).reduce((n, x) => n + x.orphans, 0);
    if (s.references) lines.push(`  orphans        ${fmt(orphans)}`);
    lines.push(`  reconciliation ${fmt(s.reconciliation.verifiedKeys)} keys verified`);
    for (const c of s.reconciliation.checks.filter((x) => !x.ok)) lines.push(`    ✗ ${c.name}: ${c.detail}`);
  }
  lines.push(`  summary.json   ${r.summaryPath}`);
  lines.push(`  report.html    ${r.htmlPath ?? '(none: the run was reported before report.html existed)'}`);
  return lines.join('\n');
}

/** The cells a run dropped or kept as text, and the mapped columns its file lacks. */
export function warningLines(r: {
  warnings?: number | undefined;
  topWarnings?: ReadonlyArray<{ reason: string; count: number }> | undefined;
  missingColumns?: readonly string[] | undefined;
  dateOrder?: RunSummary['dateOrder'];
}): string[] {
  const lines: string[] = [];
  const local = Object.entries(r.dateOrder ?? {}).filter(([, d]) => d.localTimes);
  if (local.length > 0) {
    const zones = local.map(([column, d]) => `${column} in ${d.timezone ?? 'UTC'}`).join(', ');
    lines.push(
      `  local times    ${zones} (the file writes no UTC offset: set timezone if that is not its zone)`,
    );
  }
  if (r.warnings) {
    const top = (r.topWarnings ?? []).map((t) => `${t.reason} ×${fmt(t.count)}`).join(', ');
    lines.push(
      `  warnings       ${fmt(r.warnings)} cells dropped or kept as text (warnings.csv)${top ? `: ${top}` : ''}`,
    );
  }
  if (r.missingColumns && r.missingColumns.length > 0) {
    lines.push(`  missing columns ${r.missingColumns.join(', ')} (not in the file: stored values kept)`);
  }
  return lines;
}
