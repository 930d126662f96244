import { MergeStalledError } from './errors';
import type { PartitionItem, PartitionResult } from './run';

/**
 * Time-bounded merge passes. A merge worker writes its partition until a deadline, then hands back
 * what is left (a PartitionLeft) and a progress object under the run's work prefix; the workflow
 * runs the merge Map again over the partitions left (CheckMerge decides), so no invocation must
 * outlast its timeout however slowly the table takes writes.
 */

/** A partition a pass did not finish: the next pass writes the rest. */
export interface PartitionLeft {
  partition: number;
  /** The partition's chunks (the next pass's Map item is `{ partition, chunks }`). */
  chunks: number;
  complete: false;
  /** Write requests (puts and deletes) still to send. */
  left: number;
  /** Write requests this pass sent and the table took. */
  written: number;
}

export type PartitionOutcome = PartitionResult | PartitionLeft;

export function isPartitionLeft(p: PartitionOutcome): p is PartitionLeft {
  return (p as Partial<PartitionLeft>).complete === false;
}

/** The share of the remaining time a pass keeps to save its progress and report (S3, the ledger). */
export const MERGE_MARGIN_SHARE = 0.2;
/** The least time a pass keeps for that, in ms. */
export const MERGE_MARGIN_MIN_MS = 2000;

/**
 * When a pass stops starting writes: the invocation's remaining time (Lambda's
 * getRemainingTimeInMillis at its start) less a margin of MERGE_MARGIN_SHARE of it, at least
 * MERGE_MARGIN_MIN_MS. No remaining time known (called outside Lambda): no deadline.
 */
export function mergeDeadline(now: number, remainingMs: number | undefined): number {
  if (remainingMs === undefined || !Number.isFinite(remainingMs)) return Number.POSITIVE_INFINITY;
  const margin = Math.max(MERGE_MARGIN_MIN_MS, remainingMs * MERGE_MARGIN_SHARE);
  return now + Math.max(0, remainingMs - margin);
}

/** Passes in a row that finish no partition and write nothing before the merge fails (MergeStalledError). */
export const MAX_STALLED_MERGE_PASSES = 3;

/** The workflow's merge loop, between passes ($.mergeLoop). */
export interface MergeLoop {
  /** The Map's items of the next pass: the plan's partitions, then a manifest of those left. */
  manifestKey: string;
  /** The number of the pass that just ran (1 for the first). */
  pass: number;
  /** Passes in a row without progress, this one included. */
  stalled: number;
}

export interface MergePassDecision {
  done: boolean;
  /** The partitions the next pass merges (empty when done). */
  left: PartitionItem[];
  /** Passes in a row without progress. */
  stalled: number;
  /** Write requests still to send over the partitions left. */
  writesLeft: number;
}

/**
 * After a pass: done when no partition is left; else the partitions left, and whether the pass made
 * progress (a partition finished, or some write went through). MAX_STALLED_MERGE_PASSES passes in
 * a row without progress: MergeStalledError.
 */
export function decideMergePass(
  stalledBefore: number,
  outcomes: readonly PartitionOutcome[],
): MergePassDecision {
  const left = outcomes.filter(isPartitionLeft);
  if (left.length === 0) return { done: true, left: [], stalled: 0, writesLeft: 0 };
  const finished = outcomes.length - left.length;
  const written = left.reduce((n, p) => n + p.written, 0);
  const writesLeft = left.reduce((n, p) => n + p.left, 0);
  const stalled = finished > 0 || written > 0 ? 0 : stalledBefore + 1;
  if (stalled >= MAX_STALLED_MERGE_PASSES) {
    throw new MergeStalledError(
      `the merge made no progress in ${stalled} passes in a row: ${left.length} partitions have ` +
        `${writesLeft} writes left and the table took none; redrive the run once it takes writes`,
    );
  }
  return {
    done: false,
    left: left
      .map((p) => ({ partition: p.partition, chunks: p.chunks }))
      .sort((a, b) => a.partition - b.partition),
    stalled,
    writesLeft,
  };
}

/** What a pass keeps of a partition it did not finish: the counts, fixed by the first pass, and the writes left. */
export interface MergeProgressHeader {
  version: 1;
  runId: string;
  partition: number;
  /**
   * When the entity's lock this run holds was taken: the writes left are valid only while the run
   * held the lock all along (another run may have written the keys in between otherwise).
   */
  lockSince: string;
  /** The partition's result as the first pass classified it (durationMs: the passes so far). */
  result: PartitionResult;
  /** Passes so far. */
  passes: number;
}

/** A write request as BatchWriteItem takes it (a put of an attribute map, or a delete by key). */
export type StoredWrite =
  | { PutRequest: { Item: Record<string, unknown> } }
  | { DeleteRequest: { Key: Record<string, unknown> } };

/** The progress object: the header, then one write request left per line (JSON Lines). */
export function formatMergeProgress(header: MergeProgressHeader, writes: Iterable<StoredWrite>): string {
  const lines = [JSON.stringify(header)];
  for (const w of writes) lines.push(JSON.stringify(w));
  return `${lines.join('\n')}\n`;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function isStoredWrite(v: unknown): v is StoredWrite {
  if (!isRecord(v)) return false;
  const keys = Object.keys(v);
  if (keys.length !== 1) return false;
  if (isRecord(v.PutRequest)) return isRecord(v.PutRequest.Item);
  if (isRecord(v.DeleteRequest)) return isRecord(v.DeleteRequest.Key);
  return false;
}

const COUNTS = [
  'candidates',
  'applied',
  'unchanged',
  'superseded',
  'deleted',
  'duplicateKeys',
  'durationMs',
] as const;

/**
 * Reads a progress object back. It is used only when it is this run's, this partition's, and
 * written under the lock the run holds now (`lockSince`); anything else (another lock, a text that
 * does not parse) is `undefined` with the reason: the partition is then merged from its parts
 * again, which converges (what this run wrote reads back as applied).
 */
export function parseMergeProgress(
  text: string,
  expected: { runId: string; partition: number; lockSince: string },
): { header: MergeProgressHeader; writes: StoredWrite[] } | { reason: string } {
  const lines = text.split('\n').filter((l) => l !== '');
  let header: unknown;
  const writes: StoredWrite[] = [];
  try {
    header = JSON.parse(lines[0] ?? '');
    for (let i = 1; i < lines.length; i++) {
      const w = JSON.parse(lines[i] ?? '') as unknown;
      if (!isStoredWrite(w)) return { reason: `line ${i + 1} is not a write request` };
      writes.push(w);
    }
  } catch {
    return { reason: 'not JSON Lines' };
  }
  if (!isRecord(header) || header.version !== 1 || !isRecord(header.result)) {
    return { reason: 'no version 1 header' };
  }
  const result = header.result;
  if (!COUNTS.every((c) => typeof result[c] === 'number' && Number.isFinite(result[c] as number))) {
    return { reason: 'the header has no counts' };
  }
  if (header.runId !== expected.runId || header.partition !== expected.partition) {
    return { reason: `written for run ${String(header.runId)}, partition ${String(header.partition)}` };
  }
  if (header.lockSince !== expected.lockSince) {
    return {
      reason: `written under the lock taken at ${String(header.lockSince)}, not ${expected.lockSince}`,
    };
  }
  return { header: header as unknown as MergeProgressHeader, writes };
}
