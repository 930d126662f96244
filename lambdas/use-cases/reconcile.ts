import type { Ledger } from '../adapters/ledger';
import { readMapOutput } from '../adapters/map-results';
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

export interface ReconcileDeps {
  bucket: string;
  config: CrmSyncConfig;
  ledger: Pick<Ledger, 'getRun' | 'updateRun' | 'releaseLock'>;
}

/**
 * Reconcile: sums the chunk and partition counts, checks that every planned row is accounted for
 * exactly once, adds up what the verify workers found (content, provenance, references), and
 * writes the run's reports. Returns the summary; `reconciliation.status` decides the execution's outcome.
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
  await putRunReport(deps.bucket, reports, reportPage(summary, results, samples), summary);
  await deps.ledger.updateRun(event.runId, reconciledRecord(summary));
  // The run is over either way: the next run of the entity may start.
  await deps.ledger.releaseLock(job.entity, event.runId);
  logger.info('reconciled', { runId: event.runId, status: summary.reconciliation.status, ...summary.counts });
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
  if (reports.mismatches) {
    const { header, cells } = CSV_REPORTS.mismatches;
    await putCsvReport(
      bucket,
      reports.mismatches,
      verified,
      header,
      (p) => workKeys.mismatches(prefix, p),
      csvRows(cells),
    );
  }
  if (reports.orphans) {
    await putCsvReport(bucket, reports.orphans, verified, CSV_REPORTS.orphans.header, (p) =>
      workKeys.orphans(prefix, p),
    );
  }
  if (reports.rejects) {
    // Chunk by chunk; the sampler keeps a few lines per reason for report.html.
    await putRejectsReport(bucket, reports.rejects, job, plan.chunks, (reject) => {
      samples.rejects.add(reject);
      for (const r of reject.reasons) if (r.startsWith('invalid_date')) samples.dateReasons.add(r);
    });
  }
  if (reports.warnings) {
    const { header, cells } = CSV_REPORTS.warnings;
    const row = (w: Warning) => {
      if (samples.warnings.length < WARNINGS_SHOWN) samples.warnings.push(w);
      return cells(w);
    };
    await putCsvReport(
      bucket,
      reports.warnings,
      allChunks,
      header,
      (c) => workKeys.warnings(prefix, c),
      csvRows(row),
    );
  }
  if (reports.duplicates) {
    const { header, cells } = CSV_REPORTS.duplicates;
    const row = (d: DuplicateKey) => {
      if (samples.duplicates.length < DUPLICATES_SHOWN) samples.duplicates.push(d);
      return cells(d);
    };
    await putCsvReport(
      bucket,
      reports.duplicates,
      allPartitions,
      header,
      (p) => workKeys.duplicates(prefix, p),
      csvRows(row),
    );
  }
  if (reports.diff) {
    const { header, cells } = CSV_REPORTS.diff;
    await putCsvReport(
      bucket,
      reports.diff,
      allPartitions,
      header,
      (p) => workKeys.merged(prefix, p),
      csvRows(cells),
    );
  }
  return samples;
}

/** report.html: the summary, the reports' samples and each chunk's and partition's timing. */
function reportPage(summary: RunSummary, results: RunResults, samples: ReportSamples): string {
  return renderReport({
    summary,
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
