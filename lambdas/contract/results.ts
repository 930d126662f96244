import { z } from 'zod';
import type { MissingParent, ReferenceCheck } from '../domain/references';
import type { DigestCount, Mismatch } from '../domain/verify';
import { type Equals, typesMatch } from './type-check';

/**
 * The workflow contract, part 2: what the workers return. A Distributed Map writes its children's
 * outputs to S3 (ResultWriter); the steps after it read them back (adapters/map-results.ts) with
 * these schemas, so a worker and its reader can never disagree unseen.
 */

const count = z.number().int().min(0);
const countsByCode = z.record(z.string(), count);

/** Where a Distributed Map wrote its results (the state's output with a ResultWriter). */
export const mapOutputSchema = z.object({
  ResultWriterDetails: z.object({ Bucket: z.string().min(1), Key: z.string().min(1) }),
});
export type MapOutput = z.infer<typeof mapOutputSchema>;

/** What one transform invocation returns per chunk (never rows). */
export const chunkResultSchema = z.object({
  index: count,
  /** Data rows read in the chunk (must equal the plan's count). */
  rows: count,
  rejected: count,
  /** Rows that lost to a newer row of the same key within the chunk. */
  superseded: count,
  /** Distinct keys handed to the merge step. */
  candidates: count,
  /** Mirror mode: rejected rows whose key could not be read. */
  unkeyedRejects: count.optional(),
  topReasons: countsByCode,
  /** Cells dropped or kept as text by their field's onInvalid (their rows were kept). */
  warnings: count.optional(),
  /** Warnings per reason code. */
  topWarnings: countsByCode.optional(),
  /** The first few rejected line numbers per reason code (absent in records of older runs). */
  reasonLines: z.record(z.string(), z.array(z.number().int().min(1))).optional(),
  durationMs: z.number().min(0),
});
export type ChunkResult = z.infer<typeof chunkResultSchema>;

/** What one merge invocation returns for a partition it finished (never rows). */
export const partitionResultSchema = z.object({
  partition: count,
  candidates: count,
  applied: count,
  unchanged: count,
  superseded: count,
  deleted: count,
  duplicateKeys: count,
  /** Mirror mode: items absent from the full export that this partition deleted (or would, dry run). */
  mirrorDeleted: count.optional(),
  durationMs: z.number().min(0),
});
export type PartitionResult = z.infer<typeof partitionResultSchema>;

/** A partition a merge pass did not finish: the next pass writes the rest (domain/merge-progress.ts). */
export const partitionLeftSchema = z.object({
  partition: count,
  /** The partition's chunks (the next pass's Map item is `{ partition, chunks }`). */
  chunks: count,
  complete: z.literal(false),
  /** Write requests (puts and deletes) still to send. */
  left: count,
  /** Write requests this pass sent and the table took. */
  written: count,
  /**
   * Set when the pass stopped before its reads were done: `left` then counts the keys still to
   * read, and `read` the keys this pass read.
   */
  phase: z.literal('read').optional(),
  read: count.optional(),
});
export type PartitionLeft = z.infer<typeof partitionLeftSchema>;

/** A merge pass's outcome for one partition: finished, or left for the next pass. */
export const partitionOutcomeSchema = z.union([partitionLeftSchema, partitionResultSchema]);
export type PartitionOutcome = z.infer<typeof partitionOutcomeSchema>;

export const digestCountSchema = z.object({ digest: z.string(), items: count });

export const mismatchSchema = z.object({
  key: z.string(),
  problem: z.string(),
  scope: z.enum(['run', 'table', 'mirror']),
});

const missingParentSchema = z.object({ value: z.string(), children: count, keys: z.array(z.string()) });

export const referenceCheckSchema = z.object({
  field: z.string(),
  entity: z.string(),
  checked: count,
  orphans: count,
  missingParents: count,
  sample: z.array(missingParentSchema),
});

/** What one verify invocation returns per worker (never items). */
export const verifyResultSchema = z.object({
  /**
   * The worker: table scan segment `partition` (of the job's scanSegments) and, below the run's
   * partition count, merge partition `partition`. Its problems are in mismatches/p<partition>.
   */
  partition: count,
  /** Decisions of the run checked against the target. */
  verified: count,
  /** Decisions in the partition (checked or not: a sample skips some). */
  decisions: count,
  /** Items of the table segment scanned (0 without a scan). */
  scanned: count,
  /**
   * Full mode, first pass: the set digest of the partition's puts (expected) and of the items of
   * the scan segment written by this run (found). Reconcile compares the sums over all workers.
   */
  written: z.object({ expected: digestCountSchema, found: digestCountSchema }).optional(),
  /** Mirror deletes carried out by this worker (mirror mode). */
  mirrorDeleted: count,
  /** Problems found (run decisions, table items, mirror deletes). */
  problems: count,
  /** The first problems; all of them are in the worker's mismatches object. */
  sample: z.array(mismatchSchema),
  references: z.array(referenceCheckSchema),
  durationMs: z.number().min(0),
});
export type VerifyResult = z.infer<typeof verifyResultSchema>;

/** Mirror mode, the key scan Map: one table segment's keys, handed to their partitions. */
export const mirrorScanResultSchema = z.object({
  segment: count,
  /** Items in the segment. */
  items: count,
});
export type MirrorScanResult = z.infer<typeof mirrorScanResultSchema>;

/** Mirror mode, the candidates Map: one partition's delete candidates. */
export const mirrorPlanResultSchema = z.object({
  partition: count,
  /** Target items of the partition's keys. */
  targetItems: count,
  candidates: count,
});
export type MirrorPlanResult = z.infer<typeof mirrorPlanResultSchema>;

/** Each worker's output, as its Map's ResultWriter keeps it. */
export const workerOutputSchemas = {
  transform: z.object({ chunks: z.array(chunkResultSchema) }),
  merge: z.object({ partitions: z.array(partitionOutcomeSchema) }),
  verify: z.object({ partitions: z.array(verifyResultSchema) }),
  mirrorScan: z.object({ segments: z.array(mirrorScanResultSchema) }),
  mirrorPlan: z.object({ partitions: z.array(mirrorPlanResultSchema) }),
} as const;
export type TransformOutput = z.infer<typeof workerOutputSchemas.transform>;
export type MergeOutput = z.infer<typeof workerOutputSchemas.merge>;
export type VerifyOutput = z.infer<typeof workerOutputSchemas.verify>;
export type MirrorScanOutput = z.infer<typeof workerOutputSchemas.mirrorScan>;
export type MirrorPlanOutput = z.infer<typeof workerOutputSchemas.mirrorPlan>;

// The domain's own types of the values the results carry agree with the schemas (checked by tsc).
typesMatch<Equals<z.infer<typeof digestCountSchema>, DigestCount>>();
typesMatch<Equals<z.infer<typeof mismatchSchema>, Mismatch>>();
typesMatch<Equals<z.infer<typeof missingParentSchema>, MissingParent>>();
typesMatch<Equals<z.infer<typeof referenceCheckSchema>, ReferenceCheck>>();
