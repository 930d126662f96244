import type { Ledger } from '../adapters/ledger';
import { putJson, putObject } from '../adapters/s3';
import type { FailedRunSummary } from '../domain/report';
import { failureReport, runStatusView } from '../domain/run-status';

/**
 * The report of a run that failed before Reconcile wrote one: summary.json and report.html under
 * `reports/<runId>/`, built from its ledger record and steps. `resume` says how to resume it.
 * Idempotent: a second call writes the same report.
 */
export async function reportFailedRun(
  deps: { ledger: Pick<Ledger, 'getRun' | 'listSteps'>; bucket: string },
  runId: string,
  resume: string,
): Promise<FailedRunSummary | undefined> {
  const run = await deps.ledger.getRun(runId);
  if (!run) return undefined;
  const { summary, html } = failureReport(runStatusView(run, await deps.ledger.listSteps(runId)), resume);
  await putObject(
    deps.bucket,
    summary.reports.html ?? `reports/${runId}/report.html`,
    html,
    'text/html; charset=utf-8',
  );
  await putJson(deps.bucket, summary.reports.summary, summary);
  return summary;
}
