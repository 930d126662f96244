import { z } from 'zod';
import { type PartitionLeft, type PartitionOutcome, partitionResultSchema } from '../contract/results';
import type { Tombstone } from './chunk';
import { MergeStalledError } from './errors';
import { keyOfItem, type TableKey } from './keys';
import type { PartitionItem } from './run';
import { isValue, type Value } from './value';

/**
 * Time-bounded merge passes. A merge worker writes its partition until a deadline, then hands back
 * what is left (a PartitionLeft) and a progress object under the run's work prefix; the workflow
 * runs the merge Map again over the partitions left (CheckMerge decides), so no invocation must
 * outlast its timeout however slowly the table takes writes.
 */

export type { PartitionLeft, PartitionOutcome } from '../contract/results';

export function isPartitionLeft(p: PartitionOutcome): p is PartitionLeft {
  return 'complete' in p && p.complete === false;
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
  const written = left.reduce((n, p) => n + p.written + (p.read ?? 0), 0);
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
const mergeProgressHeaderSchema = z.object({
  version: z.literal(1),
  runId: z.string(),
  partition: z.number(),
  /**
   * When the entity's lock this run holds was taken: the writes left are valid only while the run
   * held the lock all along (another run may have written the keys in between otherwise).
   */
  lockSince: z.string(),
  /** The partition's result as the first pass classified it (durationMs: the passes so far). */
  result: partitionResultSchema,
  /** Passes so far. */
  passes: z.number(),
});
export type MergeProgressHeader = z.infer<typeof mergeProgressHeaderSchema>;

/** A write request as BatchWriteItem takes it (a put of an attribute map, or a delete by key). */
export type StoredWrite =
  | { PutRequest: { Item: Record<string, unknown> } }
  | { DeleteRequest: { Key: Record<string, unknown> } };

/**
 * The progress object: the header, then one write request left per line (JSON Lines); tombstone
 * writes left (to the ledger, before any of the target's) as `{"t":request}` lines.
 */
export function formatMergeProgress(
  header: MergeProgressHeader,
  writes: Iterable<StoredWrite>,
  tombstoneWrites: Iterable<StoredWrite> = [],
): string {
  const lines = [JSON.stringify(header)];
  for (const w of tombstoneWrites) lines.push(JSON.stringify({ t: w }));
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
):
  | { header: MergeProgressHeader; writes: StoredWrite[]; tombstoneWrites: StoredWrite[] }
  | { reason: string } {
  const lines = text.split('\n').filter((l) => l !== '');
  let header: unknown;
  const writes: StoredWrite[] = [];
  const tombstoneWrites: StoredWrite[] = [];
  try {
    header = JSON.parse(lines[0] ?? '');
    for (let i = 1; i < lines.length; i++) {
      const w = JSON.parse(lines[i] ?? '') as unknown;
      if (isRecord(w) && Object.keys(w).length === 1 && isStoredWrite(w.t)) {
        tombstoneWrites.push(w.t);
        continue;
      }
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
  const parsed = mergeProgressHeaderSchema.safeParse(header);
  if (!parsed.success) return { reason: 'no version 1 header' };
  return { header: parsed.data, writes, tombstoneWrites };
}

/**
 * What a pass keeps of a partition whose reads it did not finish (the target's stored items, then
 * the tombstones of the keys the target does not hold): the reads done and the keys still to read.
 * The next pass reads the parts again (the winners do not depend on the pass), reads only the keys
 * left, and classifies once every read is in.
 */
const mergeReadHeaderSchema = z.object({
  version: z.literal(1),
  phase: z.literal('read'),
  runId: z.string(),
  partition: z.number(),
  /** As in MergeProgressHeader: the reads are valid only while the run held the lock all along. */
  lockSince: z.string(),
  /** Passes so far. */
  passes: z.number(),
  /** Time the passes so far took, in ms (the partition's durationMs adds it). */
  durationMs: z.number(),
});
export type MergeReadHeader = z.infer<typeof mergeReadHeaderSchema>;

/** The reads of a partition so far. */
export interface MergeReads {
  /** The target's items read so far, by key. */
  stored: Map<string, Record<string, Value>>;
  /** Keys whose target item is still to read. */
  targetLeft: string[];
  /** The tombstones read so far, by key. */
  tombstones: Map<string, Tombstone>;
  /**
   * Keys whose tombstone is still to read; `undefined` until the target's reads are done (the keys
   * it does not hold are known only then).
   */
  tombstonesLeft: string[] | undefined;
}

/** Whether every read of a partition is in: it can be classified. */
export function readsDone(reads: MergeReads): boolean {
  return (
    reads.targetLeft.length === 0 && reads.tombstonesLeft !== undefined && reads.tombstonesLeft.length === 0
  );
}

/**
 * Whether a pass's reads end it, the reads so far saved for the next: only with a deadline (a pass
 * under the lock), when reads are left, or when reads made in this pass took more than half of it,
 * so the rest (classify, tombstones, writes, the reports) gets a pass of its own: a pass never starts
 * them without the time to save what is left. Times in ms since the epoch; `read`: keys read now.
 */
export function readsEndPass(
  reads: MergeReads,
  pass: { deadline: number | undefined; started: number; now: number; read: number },
): boolean {
  const { deadline, started, now, read } = pass;
  if (deadline === undefined) return false;
  const late = read > 0 && deadline - now < (deadline - started) / 2;
  return !readsDone(reads) || late;
}

/** Reads still to make (keys), as far as they are known. */
export function readsLeft(reads: MergeReads): number {
  return reads.targetLeft.length + (reads.tombstonesLeft?.length ?? 0);
}

/**
 * The read progress object: the header, then one line per item or key: `{"s":item}` a stored item,
 * `{"q":key}` a target read left, `{"g":[key,tombstone]}` a tombstone, `{"u":key}` a tombstone read
 * left (with `tombstonesLeft` undefined, the header says `"tombstonesStarted":false`).
 */
export function formatMergeReads(header: MergeReadHeader, reads: MergeReads): string {
  const lines = [JSON.stringify({ ...header, tombstonesStarted: reads.tombstonesLeft !== undefined })];
  for (const item of reads.stored.values()) lines.push(JSON.stringify({ s: item }));
  for (const k of reads.targetLeft) lines.push(JSON.stringify({ q: k }));
  for (const [k, t] of reads.tombstones) lines.push(JSON.stringify({ g: [k, t] }));
  for (const k of reads.tombstonesLeft ?? []) lines.push(JSON.stringify({ u: k }));
  return `${lines.join('\n')}\n`;
}

/** Whether a progress object's text is a read progress (else a write progress, or not one). */
export function isMergeReadsText(text: string): boolean {
  const end = text.indexOf('\n');
  const first = end < 0 ? text : text.slice(0, end);
  try {
    const h = JSON.parse(first) as unknown;
    return isRecord(h) && h.phase === 'read';
  } catch {
    return false;
  }
}

const isItem = (v: unknown): v is Record<string, Value> => isRecord(v) && Object.values(v).every(isValue);

function isTombstone(v: unknown): v is Tombstone {
  return (
    isRecord(v) &&
    typeof v.version === 'string' &&
    typeof v.line === 'number' &&
    typeof v.run === 'string' &&
    typeof v.removed === 'boolean'
  );
}

/**
 * Reads a read progress object back, under the same rules as parseMergeProgress (this run's, this
 * partition's, the lock the run holds now); `table` names the target's key attributes.
 */
export function parseMergeReads(
  text: string,
  expected: { runId: string; partition: number; lockSince: string },
  table: TableKey,
): { header: MergeReadHeader; reads: MergeReads } | { reason: string } {
  const lines = text.split('\n').filter((l) => l !== '');
  let header: unknown;
  const reads: MergeReads = { stored: new Map(), targetLeft: [], tombstones: new Map(), tombstonesLeft: [] };
  try {
    header = JSON.parse(lines[0] ?? '');
    for (let i = 1; i < lines.length; i++) {
      const line = JSON.parse(lines[i] ?? '') as unknown;
      const bad = { reason: `line ${i + 1} is not a read` };
      if (!isRecord(line) || Object.keys(line).length !== 1) return bad;
      const storedKey = isItem(line.s) ? keyOfItem(table, line.s) : undefined;
      if (isItem(line.s) && storedKey !== undefined) {
        reads.stored.set(storedKey, line.s);
      } else if (typeof line.q === 'string') reads.targetLeft.push(line.q);
      else if (Array.isArray(line.g) && typeof line.g[0] === 'string' && isTombstone(line.g[1])) {
        reads.tombstones.set(line.g[0], line.g[1]);
      } else if (typeof line.u === 'string') reads.tombstonesLeft?.push(line.u);
      else return bad;
    }
  } catch {
    return { reason: 'not JSON Lines' };
  }
  if (
    !isRecord(header) ||
    header.version !== 1 ||
    header.phase !== 'read' ||
    typeof header.passes !== 'number' ||
    typeof header.durationMs !== 'number' ||
    typeof header.tombstonesStarted !== 'boolean'
  ) {
    return { reason: 'no version 1 read header' };
  }
  if (header.runId !== expected.runId || header.partition !== expected.partition) {
    return { reason: `written for run ${String(header.runId)}, partition ${String(header.partition)}` };
  }
  if (header.lockSince !== expected.lockSince) {
    return {
      reason: `written under the lock taken at ${String(header.lockSince)}, not ${expected.lockSince}`,
    };
  }
  if (!header.tombstonesStarted) {
    if (reads.tombstonesLeft?.length || reads.tombstones.size > 0) {
      return { reason: 'tombstone reads before the target reads were done' };
    }
    reads.tombstonesLeft = undefined;
  }
  // The schema leaves out tombstonesStarted (an unknown key): the header as the pass wrote it.
  const parsed = mergeReadHeaderSchema.safeParse(header);
  if (!parsed.success) return { reason: 'no version 1 read header' };
  return { header: parsed.data, reads };
}
