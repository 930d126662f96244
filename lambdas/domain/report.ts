import { csvCell } from './chunk';
import { parseRecord } from './csv';
import type { DateOrderDecision } from './dates';
import type { MirrorDecision } from './mirror';
import type { ReferenceCheck } from './references';
import type { RejectDecision } from './rejects';
import { positionCells, positionColumns } from './row-position';
import type { Counts } from './run';

export type ReconciliationStatus = 'MATCHED' | 'MISMATCHED';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** summary.json: the machine-readable outcome of a run (stable, documented in the README). */
export interface RunSummary {
  runId: string;
  entity: string;
  status: 'SUCCEEDED' | 'FAILED';
  source: {
    bucket: string;
    key: string;
    versionId?: string | undefined;
    etag?: string | undefined;
    label?: string | undefined;
  };
  counts: Counts;
  duplicateKeys: number;
  chunks: number;
  partitions: number;
  topReasons: Array<{ reason: string; count: number }>;
  /** Cells of kept rows dropped or kept as text by their field's onInvalid (warnings.csv). */
  warnings?: number;
  /** Warnings per reason code, most first (up to 10). */
  topWarnings?: Array<{ reason: string; count: number }>;
  /**
   * Source columns of mapped fields the file does not carry: no row set them, and the stored items
   * kept their values (`onMissingColumns: keep`) or lost them (`remove`).
   */
  missingColumns?: string[];
  reconciliation: {
    status: ReconciliationStatus;
    checks: Check[];
    verifiedKeys: number;
    /** The first 100 problems; all of them are in mismatches.csv. */
    mismatchedKeys: Array<{ key: string; problem: string; scope?: 'run' | 'table' | 'mirror' }>;
    mismatchedKeyCount: number;
  };
  reports: {
    summary: string;
    rejects?: string | undefined;
    /** Cells dropped or kept as text (onInvalid): line, reason, action, value. */
    warnings?: string | undefined;
    duplicates?: string | undefined;
    /** A dry run's decisions per key. */
    diff?: string | undefined;
    /** Missing parents of reference fields, with the items pointing at them. */
    orphans?: string | undefined;
    /** Mirror mode: the keys absent from the export (delete candidates), when there is any. */
    mirrorDeletes?: string | undefined;
    /** Every verification problem (key, scope, problem), when there is any. */
    mismatches?: string | undefined;
    /** report.html: the page a person reads. */
    html?: string | undefined;
  };
  /**
   * Mirror mode: the target's items before the run, those absent from the export (delete
   * candidates, listed in mirror-deletes.csv), the share and the limit, and how many were deleted.
   */
  mirror?: (MirrorDecision & { deleted: number }) | undefined;
  /** The reject gate's decision: rows, rejects, their share and maxRejectRatio, the top reasons. */
  rejects?: RejectDecision | undefined;
  /** Referential integrity of the run's items, per reference field of the entity. */
  references?: ReferenceCheck[];
  /** A dry run: the counts say what the run would do; nothing was written. */
  dryRun?: boolean;
  /** Day/month order of the numeric dates of each date column that has them (by source column), as Plan decided it. */
  dateOrder?: Record<string, DateOrderDecision & { timezone?: string }>;
  /** The formats each date column with invalid_date/invalid_datetime rejects reads (by source column). */
  dateFormats?: Record<string, string>;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

/**
 * summary.json of a run that failed before Reconcile (e.g. HeaderMismatchError at Plan): the same
 * identity fields as RunSummary, the error, and `counts` and `reconciliation` null (never counted).
 */
export interface FailedRunSummary {
  runId: string;
  entity: string;
  status: 'FAILED';
  source: RunSummary['source'];
  error: { name: string; message: string };
  /** Chunks the plan cut the file into; null when the run failed before Plan finished. */
  chunks: number | null;
  counts: null;
  reconciliation: null;
  /** Mirror mode: the delete decision that refused the run (MirrorDeleteLimitError). */
  mirror?: MirrorDecision | undefined;
  /** The reject decision that refused the run (RejectLimitError, EmptyExportError): the counts known. */
  rejects?: RejectDecision | undefined;
  /** A dry run that failed: it wrote nothing to the target. */
  dryRun?: boolean | undefined;
  reports: {
    summary: string;
    html?: string | undefined;
    mirrorDeletes?: string | undefined;
    /** The rejected rows of a run the reject gate refused. */
    rejects?: string | undefined;
  };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

export function topReasons(counts: Record<string, number>, n = 10): Array<{ reason: string; count: number }> {
  return Object.entries(counts)
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, n);
}

/**
 * Header row of rejects.csv: line, reasons, then the file's own columns; a multi-file export's
 * (`files`: its parts' names) starts with file.
 */
export function rejectsHeader(columns: readonly string[], files?: readonly string[]): string {
  return `${[...positionColumns(files), 'reasons', ...columns].map(csvCell).join(',')}\r\n`;
}

/**
 * One rejects.csv row: the original cells (escaped against formula injection) after line and reasons.
 * `delimiter` undefined: the record is kept whole in one cell (JSON Lines).
 */
export function rejectsRow(
  reject: { line: number; reasons: string[]; raw: string },
  columns: readonly string[],
  delimiter: string | undefined,
  files?: readonly string[],
): string {
  const parsed = delimiter === undefined ? undefined : parseRecord(reject.raw, delimiter);
  const cells = parsed?.ok ? parsed.fields : [reject.raw];
  const padded =
    cells.length >= columns.length ? cells : [...cells, ...Array(columns.length - cells.length).fill('')];
  return `${[...positionCells(reject.line, files), reject.reasons.join(' '), ...padded].map(csvCell).join(',')}\r\n`;
}
