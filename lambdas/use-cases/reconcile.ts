import type { Ledger } from '../adapters/ledger';
import { readMapOutput } from '../adapters/map-results';
import { publishMetrics } from '../adapters/metrics';
import { logger } from '../adapters/powertools';
import {
  csvRows,
  putCsvReport,
  putRejectsReport,
  putRunReport,
  readMirrorDecision,
} from '../adapters/reports';
import type { ReconcileEvent } from '../contract/checks';
import type { PlanSummary } from '../contract/plan';
import { workerOutputSchemas } from '../contract/results';
import type { DuplicateKey, Warning } from '../domain/chunk';
import { type CrmSyncConfig, getEntity } from '../domain/config';
import { DUPLICATES_SHOWN, RejectSampler, renderReport, WARNINGS_SHOWN } from '../domain/html-report';
import { isPartitionLeft } from '../domain/merge-progress';
import {
  CSV_REPORTS,
  type RunResults,
  reconciledRecord,
  reconcileResults,
  rejectColumns,
  reportKeys,
  runSummary,
} from '../domain/reconcile';
import type { RunSummary } from '../domain/report';
import { type PartitionResult, workKeys } from '../domain/run';
import { runMetrics } from '../domain/run-metrics';

export interface ReconcileDeps {
  bucket: string;
  config: CrmSyncConfig;
  ledger: Pick<Ledger, 'getRun' | 'updateRun' | 'releaseLock'>;
}

/**
 * Reconcile: sums the chunk and partition counts, checks that every planned row is accounted for
 * exactly once, adds up what the verify workers found (content, provenance, references), and
 * writes the run's reports and its metrics (lambdas/domain/run-metrics.ts). Returns the summary; `reconciliation.status` decides the execution's outcome.
 */
export async function reconcileRun(event: ReconcileEvent, deps: ReconcileDeps): Promise<RunSummary> {
  const { plan } = event;
  const { job } = plan;
  const entity = getEntity(deps.config, job.entity);
  const run = await deps.ledger.getRun(event.runId);
  const results = await readRunResults(event);
  const mirrorDecision = job.mirror ? await readMirrorDecision(deps.bucket, job.workPrefix) : undefined;
  const reconciliation = reconcileResults({
    plan,
    job,
    entity,
    results,
    byKey: event.written?.byKey === true,
    mirrorDecision,
  });
  const reports = reportKeys(event.runId, reconciliation, mirrorDecision, job.dryRun === true);
  const samples = await writeCsvReports(deps.bucket, reports, plan, results);
  const summary = runSummary({
    runId: event.runId,
    job,
    entity,
    plan,
    run,
    reconciliation,
    reports,
    dateReasons: samples.dateReasons,
    finishedAt: new Date().toISOString(),
  });
  await putRunReport(deps.bucket, reports, reportPage(summary, results, samples, job.files), summary);
  await deps.ledger.updateRun(event.runId, reconciledRecord(summary));
  // The run is over either way: the next run of the entity may start.
  await deps.ledger.releaseLock(job.entity, event.runId);
  logger.info('reconciled', { runId: event.runId, status: summary.reconciliation.status, ...summary.counts });
  // A dry run wrote nothing: its counts are no load's, and stay out of the entity's metrics.
  if (job.dryRun !== true) publishMetrics(job.entity, runMetrics(summary));
  return summary;
}

/** The transform, merge and verify Maps' results (the merge loop's passes: finished partitions only). */
async function readRunResults(event: ReconcileEvent): Promise<RunResults> {
  const transform = await readMapOutput(event.transform, workerOutputSchemas.transform);
  const merge = await readMapOutput(event.merge, workerOutputSchemas.merge);
  const verify = await readMapOutput(event.verify, workerOutputSchemas.verify);
  return {
    chunks: transform.outputs.flatMap((o) => o.chunks),
    chunkFailures: transform.failures,
    // A partition a pass left reports again, complete, in a later one.
    partitions: merge.outputs
      .flatMap((o) => o.partitions)
      .filter((p): p is PartitionResult => !isPartitionLeft(p)),
    partitionFailures: merge.failures,
    verifications: verify.outputs.flatMap((o) => o.partitions),
    verifyFailures: verify.failures,
  };
}

/** What report.html shows of the CSV reports: a few rows of each, and the invalid-date reasons. */
interface ReportSamples {
  rejects: RejectSampler;
  warnings: Warning[];
  duplicates: DuplicateKey[];
  dateReasons: Set<string>;
}

/** The CSV reports the run has something for (`reports`), from the objects its workers wrote. */
async function writeCsvReports(
  bucket: string,
  reports: RunSummary['reports'],
  plan: PlanSummary,
  results: RunResults,
): Promise<ReportSamples> {
  const { job } = plan;
  const prefix = job.workPrefix;
  const { columns, delimiter } = rejectColumns(job);
  const samples: ReportSamples = {
    rejects: new RejectSampler(columns, delimiter),
    warnings: [],
    duplicates: [],
    dateReasons: new Set<string>(),
  };
  const verified = results.verifications.map((v) => v.partition);
  const allChunks = Array.from({ length: plan.chunks }, (_, c) => c);
  const allPartitions = Array.from({ length: plan.partitions }, (_, p) => p);
  const put = async (
    key: string | undefined,
    parts: number[],
    header: string,
    keyOf: (part: number) => string,
    transform?: (text: string) => string,
  ) => {
    if (key) await putCsvReport(bucket, key, parts, header, keyOf, transform);
  };
  const { mismatches, orphans } = CSV_REPORTS;
  const warnings = CSV_REPORTS.warnings(job.files);
  const duplicates = CSV_REPORTS.duplicates(job.files);
  const diff = CSV_REPORTS.diff(job.files);
  await put(
    reports.mismatches,
    verified,
    mismatches.header,
    (p) => workKeys.mismatches(prefix, p),
    csvRows(mismatches.cells),
  );
  await put(reports.orphans, verified, orphans.header, (p) => workKeys.orphans(prefix, p));
  if (reports.rejects) {
    // Chunk by chunk; the sampler keeps a few lines per reason for report.html.
    await putRejectsReport(bucket, reports.rejects, job, plan.chunks, (reject) => {
      samples.rejects.add(reject);
      for (const r of reject.reasons) if (r.startsWith('invalid_date')) samples.dateReasons.add(r);
    });
  }
  const warningRows = csvRows(sampled(samples.warnings, WARNINGS_SHOWN, warnings.cells));
  await put(reports.warnings, allChunks, warnings.header, (c) => workKeys.warnings(prefix, c), warningRows);
  const duplicateRows = csvRows(sampled(samples.duplicates, DUPLICATES_SHOWN, duplicates.cells));
  await put(
    reports.duplicates,
    allPartitions,
    duplicates.header,
    (p) => workKeys.duplicates(prefix, p),
    duplicateRows,
  );
  await put(reports.diff, allPartitions, diff.header, (p) => workKeys.merged(prefix, p), csvRows(diff.cells));
  return samples;
}

/** A row writer that also keeps the first `limit` lines it writes (report.html shows them). */
function sampled<T>(
  kept: T[],
  limit: number,
  cells: (line: T) => readonly string[],
): (line: T) => readonly string[] {
  return (line) => {
    if (kept.length < limit) kept.push(line);
    return cells(line);
  };
}

/** report.html: the summary, the reports' samples and each chunk's and partition's timing. */
function reportPage(
  summary: RunSummary,
  results: RunResults,
  samples: ReportSamples,
  files: readonly string[] | undefined,
): string {
  return renderReport({
    summary,
    files,
    rejectSamples: samples.rejects.samples(),
    warnings: samples.warnings,
    duplicates: samples.duplicates,
    chunks: results.chunks.map((c) => ({
      id: c.index,
      rows: c.rows,
      rejected: c.rejected,
      durationMs: c.durationMs,
    })),
    partitions: results.partitions.map((p) => ({
      id: p.partition,
      rows: p.candidates,
      applied: p.applied,
      durationMs: p.durationMs,
    })),
  });
}
