import type { FailedRunSummary, RunSummary } from '../lambdas/domain/report';
import type { LocalRunResult } from './local-stack';

/**
 * A run's account as the CLI prints it, built the same way for a local run and for a run of a
 * deployed stack: from the execution's end and the run's summary.json.
 */

/** A run's result before anything is known of it: no counts, no reports. */
export function emptyResult(
  runId: string | null,
  entity: string,
  status: LocalRunResult['status'],
): LocalRunResult {
  return {
    runId,
    entity,
    status,
    counts: null,
    duplicateKeys: 0,
    chunks: 0,
    partitions: 0,
    reconciliation: null,
    topReasons: [],
    reports: {},
    durationMs: 0,
  };
}

/** A Lambda error's Cause is `{"errorType","errorMessage"}`: show the message. */
export function lambdaMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

/** A summary.json as Reconcile writes it (`counts` set) or as a failure report does (`counts: null`). */
export type AnyRunSummary = RunSummary | FailedRunSummary;

const isFailed = (s: AnyRunSummary): s is FailedRunSummary => s.counts === null;

/** `result` with what its summary.json says (counts, reconciliation, decisions), reports aside. */
export function withSummary(result: LocalRunResult, summary: AnyRunSummary): LocalRunResult {
  const out: LocalRunResult = { ...result };
  if (isFailed(summary)) {
    // A run that failed before Reconcile: the state machine's ReportFailure wrote its report.
    if (summary.mirror) out.mirror = { ...summary.mirror, deleted: 0 };
    if (summary.rejects) {
      out.rejects = summary.rejects;
      out.topReasons = summary.rejects.topReasons.map(({ reason, count }) => ({ reason, count }));
    }
    return out;
  }
  out.counts = summary.counts;
  out.duplicateKeys = summary.duplicateKeys;
  out.chunks = summary.chunks;
  out.partitions = summary.partitions;
  out.reconciliation = summary.reconciliation;
  out.topReasons = summary.topReasons;
  if (summary.warnings) {
    out.warnings = summary.warnings;
    out.topWarnings = summary.topWarnings ?? [];
  }
  if (summary.missingColumns && summary.missingColumns.length > 0)
    out.missingColumns = summary.missingColumns;
  if (summary.dateOrder) out.dateOrder = summary.dateOrder;
  if (summary.dryRun) out.dryRun = true;
  if (summary.mirror) out.mirror = summary.mirror;
  if (summary.references) out.references = summary.references;
  if (summary.rejects) out.rejects = summary.rejects;
  return out;
}
