import { createHash } from 'node:crypto';
import type { SourceFormat } from './csv';

/** The source object of a run, as the trigger saw it. */
export interface SourceRef {
  bucket: string;
  key: string;
  versionId?: string | undefined;
  etag?: string | undefined;
}

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
  error?: string | undefined;
  cause?: string | undefined;
  /** The `rerun` token the run id was derived with (a resume needs it to find the same run). */
  rerun?: string | undefined;
  /** How many times the run was resumed after a failure. */
  resumes?: number | undefined;
  /** A dry run: it wrote nothing to the target. */
  dryRun?: boolean | undefined;
}

/**
 * The run id: the same object version (or ETag, where the bucket is not versioned) run with
 * the same entity config always gets the same id, so a duplicate trigger finds its claim.
 * `rerun` lets a person ask for a deliberate second run of the same object.
 */
export function deriveRunId(source: SourceRef, entity: string, configHash: string, rerun?: string): string {
  const identity = [
    source.bucket,
    source.key,
    source.versionId || source.etag || '',
    configHash,
    rerun ?? '',
  ];
  const digest = createHash('sha256').update(identity.join('\u0000')).digest('hex').slice(0, 20);
  return `${entity}-${digest}`;
}

/** `rows = applied + unchanged + superseded + deleted + rejected`, or the difference. */
export function accountingGap(c: Counts): number {
  return c.rows - (c.applied + c.unchanged + c.superseded + c.deleted + c.rejected);
}

/** What Plan hands every worker (Distributed Map BatchInput): small, no rows. */
export interface WorkerJob {
  runId: string;
  entity: string;
  configHash: string;
  /** The object the chunks' byte offsets refer to (the source, or its UTF-8 transcoding). */
  data: SourceRef;
  /** Where the workers write intermediate objects (`work/<runId>/`). */
  workPrefix: string;
  /** Merge partitions the chunk winners are spread over. */
  partitions: number;
  /** CSV or JSON Lines (then `columns` are the source names the mapping reads, not a header). */
  format: SourceFormat;
  /** Dry run: classify every key against the target and report, write nothing to it. */
  dryRun?: boolean | undefined;
  delimiter: string;
  columns: string[];
}

/** One item of the chunk manifest that the Distributed Map reads. */
export interface ChunkItem {
  index: number;
  start: number;
  end: number;
  firstLine: number;
  rows: number;
}

/** What one transform invocation returns per chunk (never rows). */
export interface ChunkResult {
  index: number;
  /** Data rows read in the chunk (must equal the plan's count). */
  rows: number;
  rejected: number;
  /** Rows that lost to a newer row of the same key within the chunk. */
  superseded: number;
  /** Distinct keys handed to the merge step. */
  candidates: number;
  topReasons: Record<string, number>;
  durationMs: number;
}

/** Partition of a key (FNV-1a 32-bit over UTF-16 units): stable across processes. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

/** One item of the partition manifest that the merge Distributed Map reads. */
export interface PartitionItem {
  partition: number;
  /** Number of chunks: the merge worker reads one part object per chunk. */
  chunks: number;
}

/** S3 keys of a run's intermediate objects. */
export const workKeys = {
  manifest: (prefix: string) => `${prefix}chunks.json`,
  partitions: (prefix: string) => `${prefix}partitions.json`,
  part: (prefix: string, partition: number, chunk: number) =>
    `${prefix}parts/p${String(partition).padStart(4, '0')}/c${String(chunk).padStart(6, '0')}.jsonl`,
  rejects: (prefix: string, chunk: number) => `${prefix}rejects/c${String(chunk).padStart(6, '0')}.jsonl`,
  merged: (prefix: string, partition: number) =>
    `${prefix}merged/p${String(partition).padStart(4, '0')}.jsonl`,
  duplicates: (prefix: string, partition: number) =>
    `${prefix}duplicates/p${String(partition).padStart(4, '0')}.jsonl`,
};

/** One line of a part object: a chunk's winner for a key, with the lines it beat in the chunk. */
export interface PartLine {
  k: string;
  l: number;
  v: string;
  d: boolean;
  h: string;
  i: Record<string, string | number | boolean>;
  /** Lines of this key in the chunk that lost (duplicates), if any. */
  x?: number[];
}

/** One line of a merged file: the run's final decision for a key. */
export interface MergedLine {
  k: string;
  /** put | delete | unchanged | superseded */
  o: 'put' | 'delete' | 'unchanged' | 'superseded';
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

/** What one merge invocation returns (never rows). */
export interface PartitionResult {
  partition: number;
  candidates: number;
  applied: number;
  unchanged: number;
  superseded: number;
  deleted: number;
  duplicateKeys: number;
  durationMs: number;
}
