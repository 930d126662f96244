import { createHash } from 'node:crypto';
import type { SourceRef } from '../contract/job';
import type { ChunkResult, PartitionResult } from '../contract/results';
import { fnv1a32 } from './hash';
import type { MirrorDecision } from './mirror';
import type { RejectDecision } from './rejects';
import type { Value } from './value';

// The workflow's messages are typed once, by their schemas (lambdas/contract).
export type { ChunkItem, PartitionItem, SourceRef, WorkerJob } from '../contract/job';
export type { ChunkResult, PartitionResult } from '../contract/results';

/** The file as messages name it: the label a person gave it, else its S3 URL. */
export function sourceName(source: Pick<SourceRef, 'bucket' | 'key' | 'label'>): string {
  return source.label ?? `s3://${source.bucket}/${source.key}`;
}

/**
 * The time limit of one execution of a state machine (a run, a snapshot, a restore): its `timeout`,
 * the lease of the lock it holds, and the limit the estimator checks a run against.
 */
export const RUN_TIMEOUT_SECONDS = 12 * 3600;

/**
 * How long an entity's run lock holds without its run ending (ClaimRun, a redrive): a run that
 * died without a trace frees its entity after this, the run's time limit.
 */
export const LOCK_LEASE_MS = RUN_TIMEOUT_SECONDS * 1000;

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'MISMATCHED';

/** Every data row read ends in exactly one of these buckets. */
export interface Counts {
  rows: number;
  applied: number;
  unchanged: number;
  superseded: number;
  deleted: number;
  rejected: number;
}

export interface RunRecord {
  runId: string;
  entity: string;
  status: RunStatus;
  source: SourceRef;
  configHash: string;
  executionId?: string | undefined;
  startedAt: string;
  finishedAt?: string | undefined;
  counts?: Counts | undefined;
  chunks?: number | undefined;
  /** Merge partitions the plan spread the keys over (a resume keeps them). */
  partitions?: number | undefined;
  error?: string | undefined;
  cause?: string | undefined;
  /** The `rerun` token the run id was derived with (a resume needs it to find the same run). */
  rerun?: string | undefined;
  /** The run was forced past the reject gate / mirror's delete limit (a resume is forced too). */
  force?: boolean | undefined;
  forceDeletes?: boolean | undefined;
  /** How many times the run was resumed after a failure. */
  resumes?: number | undefined;
  /** When a redrive of its execution last took the run up again. */
  redrivenAt?: string | undefined;
  /** A dry run: it wrote nothing to the target. */
  dryRun?: boolean | undefined;
  /** Mirror mode: the delete decision (kept when it refused the run). */
  mirror?: MirrorDecision | undefined;
  /** The reject decision (kept when it refused the run: RejectLimitError, EmptyExportError). */
  rejects?: RejectDecision | undefined;
}

/**
 * The `rerun` token of a forced run: a forced run is another run than the refused one it follows
 * (`force-deletes`, `force`, or both). An explicit `rerun` wins.
 */
export function forcedRerun(options: {
  rerun?: string | undefined;
  force?: boolean | undefined;
  forceDeletes?: boolean | undefined;
}): string | undefined {
  if (options.rerun !== undefined) return options.rerun;
  const tags = [options.force ? 'force' : '', options.forceDeletes ? 'force-deletes' : ''].filter(Boolean);
  return tags.length > 0 ? tags.join('+') : undefined;
}

/**
 * The run id: the same object version (or ETag, where the bucket is not versioned) run with
 * the same entity config always gets the same id, so a duplicate trigger finds its claim.
 * `rerun` lets a person ask for a deliberate second run of the same object. A multi-file export's
 * run (its key the folder's marker or manifest) is derived with its `parts` digest too: the same
 * parts are the same run, a changed part another one.
 */
export function deriveRunId(
  source: SourceRef,
  entity: string,
  configHash: string,
  rerun?: string,
  parts?: string,
): string {
  const identity = [
    source.bucket,
    source.key,
    source.versionId || source.etag || '',
    configHash,
    rerun ?? '',
    ...(parts === undefined ? [] : [parts]),
  ];
  const digest = createHash('sha256').update(identity.join('\u0000')).digest('hex').slice(0, 20);
  return `${entity}-${digest}`;
}

/** `rows = applied + unchanged + superseded + deleted + rejected`, or the difference. */
export function accountingGap(c: Counts): number {
  return c.rows - (c.applied + c.unchanged + c.superseded + c.deleted + c.rejected);
}

/** Partition of a key (FNV-1a 32-bit over UTF-16 units): stable across processes. */
export function partitionOf(key: string, partitions: number): number {
  return fnv1a32(key) % partitions;
}

/**
 * Where a dry run's file goes (`local diff`; in AWS, a file to dry-run): outside `inbox/`, so no
 * inbox rule, schedule or `local sync` ever takes it for an export to load, and only a dry run may
 * read it (ClaimRun refuses a real run of it).
 */
export const DRY_RUN_PREFIX = 'dry-run/';

/** The name (before its extension) of Plan's UTF-8 copy of a transcoded export, under work/<runId>/. */
export const TRANSCODED_SOURCE = 'source.utf8.';

/** The name of Plan's decompressed copy of a gzip or zip export, under work/<runId>/. */
export const DECOMPRESSED_SOURCE = 'source.decompressed';

/** S3 keys of a run's intermediate objects. */
export const workKeys = {
  /** Plan's decompressed copy of a gzip export or of a zip archive's member. */
  decompressed: (prefix: string) => `${prefix}${DECOMPRESSED_SOURCE}`,
  /** Plan's UTF-8 copy of a UTF-16/32 or Windows-1252 export, which the workers read. */
  transcoded: (prefix: string, format: string) => `${prefix}${TRANSCODED_SOURCE}${format}`,
  manifest: (prefix: string) => `${prefix}chunks.json`,
  partitions: (prefix: string) => `${prefix}partitions.json`,
  /**
   * The verify and mirror scan Maps' items (PartitionItem, one per scan segment): worker i scans
   * segment i of the job's scanSegments and, below the partition count, verifies partition i.
   */
  segments: (prefix: string) => `${prefix}segments.json`,
  part: (prefix: string, partition: number, chunk: number) =>
    `${prefix}parts/p${String(partition).padStart(4, '0')}/c${String(chunk).padStart(6, '0')}.jsonl`,
  rejects: (prefix: string, chunk: number) => `${prefix}rejects/c${String(chunk).padStart(6, '0')}.jsonl`,
  /** Cells a chunk's kept rows dropped or kept as text (onInvalid), one Warning per line. */
  warnings: (prefix: string, chunk: number) => `${prefix}warnings/c${String(chunk).padStart(6, '0')}.jsonl`,
  /** A merge pass's progress on a partition it did not finish (merge-progress.ts), for the next pass. */
  mergeProgress: (prefix: string, partition: number) =>
    `${prefix}merge-progress/p${String(partition).padStart(4, '0')}.jsonl`,
  /** The merge loop's items of pass `pass` (the partitions the one before left), and its results so far. */
  mergeLeft: (prefix: string, pass: number) =>
    `${prefix}merge-passes/left-${String(pass).padStart(4, '0')}.json`,
  mergeResults: (prefix: string, pass: number) =>
    `${prefix}merge-passes/results-${String(pass).padStart(4, '0')}.json`,
  merged: (prefix: string, partition: number) =>
    `${prefix}merged/p${String(partition).padStart(4, '0')}.jsonl`,
  duplicates: (prefix: string, partition: number) =>
    `${prefix}duplicates/p${String(partition).padStart(4, '0')}.jsonl`,
  /** Verification problems of a partition (Mismatch per line). */
  mismatches: (prefix: string, partition: number) =>
    `${prefix}mismatches/p${String(partition).padStart(4, '0')}.jsonl`,
  /** Mirror mode: keys of a chunk's rejected rows, per partition (they keep their items). */
  keep: (prefix: string, partition: number, chunk: number) =>
    `${workKeys.keepPrefix(prefix, partition)}c${String(chunk).padStart(6, '0')}.txt`,
  keepPrefix: (prefix: string, partition: number) => `${prefix}keep/p${String(partition).padStart(4, '0')}/`,
  /** Mirror mode: keys a scan segment found in the target, per partition. */
  target: (prefix: string, partition: number, segment: number) =>
    `${workKeys.targetPrefix(prefix, partition)}s${String(segment).padStart(6, '0')}.txt`,
  targetPrefix: (prefix: string, partition: number) =>
    `${prefix}target/p${String(partition).padStart(4, '0')}/`,
  /** Mirror mode: CheckMirrorDeletes' decision (MirrorDecision), for Reconcile. */
  mirrorDecision: (prefix: string) => `${prefix}mirror-decision.json`,
  /** Mirror mode: the delete candidates of a partition. */
  mirror: (prefix: string, partition: number) => `${prefix}mirror/p${String(partition).padStart(4, '0')}.txt`,
  /** Missing parents of a partition's reference fields (orphans.csv rows). */
  orphans: (prefix: string, partition: number) =>
    `${prefix}orphans/p${String(partition).padStart(4, '0')}.csv`,
};

/** One line of a part object: a chunk's winner for a key, with the lines it beat in the chunk. */
export interface PartLine {
  k: string;
  l: number;
  v: string;
  d: boolean;
  /** Content digest, in parts of format 2 only (the merge computes it otherwise). */
  h?: string;
  i: Record<string, Value>;
  /** Lines of this key in the chunk that lost (duplicates), if any. */
  x?: number[];
}

/** One line of a merged file: the run's final decision for a key. */
export interface MergedLine {
  k: string;
  /** put | delete | unchanged | superseded; mirror: an item absent from a full export, deleted */
  o: 'put' | 'delete' | 'unchanged' | 'superseded' | 'mirror';
  /**
   * Digest the target must hold; null: the key must be absent (also for a row superseded by a newer
   * delete's tombstone); undefined for superseded: the target holds a newer item.
   */
  h?: string | null;
  /** The winning row's line. */
  l?: number;
  /** The target did not hold the key (a put creates it). */
  n?: boolean;
}

/** What the ledger records per step of a run (the steps a resume skips). */
/** A chunk's or partition's result, as the worker that succeeded records it. */
export type StepRecord = (ChunkResult & { kind: 'chunk' }) | (PartitionResult & { kind: 'partition' });

/** A chunk (by index) or a merge partition (by number). */
export type StepRef = { kind: 'chunk'; index: number } | { kind: 'partition'; partition: number };

export type StepStatus = 'SUCCEEDED' | 'FAILED';

/** How a step ended; `error` (the error's name) and `cause` (its message) when it failed. */
export interface StepOutcome {
  status: StepStatus;
  recordedAt: string;
  error?: string | undefined;
  cause?: string | undefined;
}

/** A chunk as the ledger holds it: the worker's counts when it succeeded, the error when it failed. */
export type ChunkStep = { kind: 'chunk'; index: number } & Partial<Omit<ChunkResult, 'index'>> & StepOutcome;
/** A merge partition as the ledger holds it. */
export type PartitionStep = { kind: 'partition'; partition: number } & Partial<
  Omit<PartitionResult, 'partition'>
> &
  StepOutcome;
export type LedgerStep = ChunkStep | PartitionStep;
