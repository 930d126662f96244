/**
 * The reject gate: a file most of whose rows are rejected is not an export with a few dirty rows,
 * it is the wrong file, a broken export or a config that does not fit it. CheckRejects refuses such
 * a run after the transform and before anything is written. Pure: the handler feeds it the chunks'
 * counts. Messages name reason codes and line numbers only, never a cell.
 */
import { percent } from './mirror';
import { positionLabel } from './row-position';

/** Line numbers kept per reason code and chunk (the message shows at most this many per reason). */
export const REJECT_LINES_SHOWN = 3;
/** Reasons the message names, most frequent first. */
export const REJECT_REASONS_SHOWN = 5;

export interface RejectCounts {
  /** Data rows the workers read. */
  rows: number;
  rejected: number;
  /** Rejected rows per reason code (a row with two reasons counts under both). */
  reasons: Record<string, number>;
  /** The first line numbers per reason code, ascending. */
  lines: Record<string, number[]>;
}

export interface RejectReason {
  reason: string;
  count: number;
  /**
   * The first few line numbers of the file rejected for this reason; a multi-file export's as
   * `part-2.csv:17` (its part's name and line).
   */
  lines: Array<number | string>;
}

export interface RejectDecision {
  rows: number;
  rejected: number;
  /** rejected / rows (0 for a file without data rows). */
  ratio: number;
  maxRejectRatio: number;
  allowEmptyExport: boolean;
  /** The run was forced past a refusal (`force` on a run the gate would have refused). */
  forced: boolean;
  /** Whether the run may write. */
  allowed: boolean;
  /** Why not: `RejectLimitError` or `EmptyExportError`. */
  error?: 'RejectLimitError' | 'EmptyExportError' | undefined;
  /** Why not, in words a person acts on (the error's message). */
  reason?: string | undefined;
  /** The most frequent reasons, with a few line numbers each. */
  topReasons: RejectReason[];
}

/**
 * The rejects of the chunks added up: counts per reason, and the first REJECT_LINES_SHOWN lines per
 * reason over the whole file (each chunk's lines are ascending, chunks come in any order).
 */
export function sumRejectCounts(
  chunks: Iterable<{
    rows: number;
    rejected: number;
    topReasons: Record<string, number>;
    reasonLines?: Record<string, number[]> | undefined;
  }>,
): RejectCounts {
  const out: RejectCounts = { rows: 0, rejected: 0, reasons: {}, lines: {} };
  for (const c of chunks) {
    out.rows += c.rows;
    out.rejected += c.rejected;
    for (const [r, n] of Object.entries(c.topReasons)) out.reasons[r] = (out.reasons[r] ?? 0) + n;
    for (const [r, lines] of Object.entries(c.reasonLines ?? {})) {
      out.lines[r] = [...(out.lines[r] ?? []), ...lines].sort((a, b) => a - b).slice(0, REJECT_LINES_SHOWN);
    }
  }
  return out;
}

/**
 * The first REJECT_LINES_SHOWN line numbers per reason code of one chunk's rejects (sorted by line).
 * Reason codes are what precedes `:` in a reason (`field_too_large:Email` → `field_too_large`), as
 * in the chunk's reason counts.
 */
export function reasonLines(
  rejects: Iterable<{ line: number; reasons: readonly string[] }>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const r of rejects) {
    for (const reason of r.reasons) {
      const code = reason.split(':')[0] ?? reason;
      const lines = out[code];
      if (!lines) out[code] = [r.line];
      else if (lines.length < REJECT_LINES_SHOWN && lines[lines.length - 1] !== r.line) lines.push(r.line);
    }
  }
  return out;
}

function describe(reasons: readonly RejectReason[]): string {
  if (reasons.length === 0) return 'no reason recorded';
  return reasons
    .map((r) => `${r.reason} ×${r.count}${r.lines.length > 0 ? ` (lines ${r.lines.join(', ')})` : ''}`)
    .join('; ');
}

/**
 * Decides whether a run may write. Refused: every row rejected (always, whatever `maxRejectRatio`
 * says), more than `maxRejectRatio` of the rows rejected, or no data row at all unless
 * `allowEmptyExport`. `force` overrides all three.
 */
export function decideRejects(
  counts: RejectCounts,
  options: {
    maxRejectRatio: number;
    allowEmptyExport: boolean;
    force: boolean;
    /** A multi-file export's part names, in part order (lines are then export ordinals). */
    files?: readonly string[] | undefined;
  },
): RejectDecision {
  const ratio = counts.rows === 0 ? 0 : counts.rejected / counts.rows;
  const { files } = options;
  const lines = (reason: string) => {
    const own = counts.lines[reason] ?? [];
    return files === undefined ? own : own.map((l) => positionLabel(l, files));
  };
  const topReasons = Object.entries(counts.reasons)
    .map(([reason, count]) => ({ reason, count, lines: lines(reason) }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, REJECT_REASONS_SHOWN);
  const base = {
    rows: counts.rows,
    rejected: counts.rejected,
    ratio,
    maxRejectRatio: options.maxRejectRatio,
    allowEmptyExport: options.allowEmptyExport,
    forced: false,
    topReasons,
  };
  const refusal = refuse(counts, ratio, topReasons, options);
  if (!refusal) return { ...base, allowed: true };
  if (options.force) return { ...base, forced: true, allowed: true };
  return { ...base, allowed: false, ...refusal };
}

function refuse(
  counts: RejectCounts,
  ratio: number,
  topReasons: readonly RejectReason[],
  options: { maxRejectRatio: number; allowEmptyExport: boolean },
): Pick<RejectDecision, 'error' | 'reason'> | undefined {
  if (counts.rows === 0) {
    if (options.allowEmptyExport) return undefined;
    return {
      error: 'EmptyExportError',
      reason:
        'the file has no data rows (a header only): nothing was written; check the export, set allowEmptyExport on the entity if empty exports are expected (deltas), or run again with --force',
    };
  }
  const all = counts.rejected >= counts.rows;
  if (all || ratio > options.maxRejectRatio) {
    return {
      error: 'RejectLimitError',
      reason: `${counts.rejected} of ${counts.rows} rows rejected (${percent(ratio)}), ${all ? 'every row' : `above maxRejectRatio ${percent(options.maxRejectRatio)}`}: nothing was written; top reasons: ${describe(topReasons)}; see rejects.csv, fix the file or the config, or run again with --force to load the valid rows`,
    };
  }
  return undefined;
}
