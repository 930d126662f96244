/**
 * The run metrics crm-sync publishes to CloudWatch (Embedded Metric Format, one record per run):
 * their namespace, names, units and dimensions, and the values of one run. Pure: the stack's
 * alarms and dashboard (lib/monitoring.ts) and the metrics adapter read the same names.
 */
import type { RunSummary } from './report';

/** The CloudWatch namespace of every crm-sync metric. */
export const METRICS_NAMESPACE = 'CrmSync';

/**
 * The dimensions of every run metric: `service` (the stack's name, so that two stacks in one
 * account and region keep their own series) and `entity`.
 */
export const METRIC_DIMENSIONS = { service: 'service', entity: 'entity' } as const;

/** The `service` dimension outside a stack (local mode, tests). */
export const DEFAULT_METRICS_SERVICE = 'crm-sync';

/** The environment variable that names the stack (the `service` dimension) in a deployed worker. */
export const METRICS_SERVICE_ENV = 'CRM_SYNC_STACK_NAME';

/** The metric names, by what they count. */
export const METRIC = {
  /** Rows the run read from its file. */
  rows: 'Rows',
  /** Items the run wrote (put or updated). */
  applied: 'Applied',
  /** Rows the run rejected (rejects.csv). */
  rejected: 'Rejected',
  /** Rejected / rows, 0 to 1 (0 for an empty file): what `maxRejectRatio` is compared with. */
  rejectRatio: 'RejectRatio',
  /** From the run's claim to the end of Reconcile, in milliseconds. */
  duration: 'RunDuration',
  /** Reconciliation checks that failed: 0 for a MATCHED run, at least 1 for a MISMATCHED one. */
  mismatches: 'ReconciliationMismatches',
  /** Keys whose stored item differs from what the run wrote (mismatches.csv). */
  mismatchedKeys: 'MismatchedKeys',
  /** Runs the execution-status recorder recorded FAILED (failed, timed-out, aborted executions). */
  failedRuns: 'FailedRuns',
} as const;

export type MetricUnit = 'Count' | 'Milliseconds' | 'None';

export interface MetricValue {
  readonly name: (typeof METRIC)[keyof typeof METRIC];
  readonly unit: MetricUnit;
  readonly value: number;
}

/** The metrics of a reconciled run. */
export function runMetrics(
  summary: Pick<RunSummary, 'counts' | 'durationMs' | 'reconciliation'>,
): MetricValue[] {
  const { rows, applied, rejected } = summary.counts;
  return [
    { name: METRIC.rows, unit: 'Count', value: rows },
    { name: METRIC.applied, unit: 'Count', value: applied },
    { name: METRIC.rejected, unit: 'Count', value: rejected },
    { name: METRIC.rejectRatio, unit: 'None', value: rows > 0 ? rejected / rows : 0 },
    { name: METRIC.duration, unit: 'Milliseconds', value: summary.durationMs },
    {
      name: METRIC.mismatches,
      unit: 'Count',
      value: summary.reconciliation.checks.filter((c) => !c.ok).length,
    },
    { name: METRIC.mismatchedKeys, unit: 'Count', value: summary.reconciliation.mismatchedKeyCount },
  ];
}

/** The metric of a run recorded FAILED before Reconcile. */
export function failedRunMetrics(): MetricValue[] {
  return [{ name: METRIC.failedRuns, unit: 'Count', value: 1 }];
}
