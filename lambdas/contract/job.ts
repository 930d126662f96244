import { z } from 'zod';
import { MAX_SCAN_SEGMENTS } from '../domain/sizing';

/**
 * The workflow contract, part 1: what Plan hands every worker. The state machine passes these
 * objects between its Task states unchanged (lib/sync-state-machine.ts), the handlers parse them
 * with these schemas, and every type here is inferred from its schema: typed once, never cast.
 */

/** The source object of a run, as the trigger saw it. */
export const sourceRefSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  versionId: z.string().optional(),
  etag: z.string().optional(),
  /**
   * How the person who started the run named the file (a local run: the path on their machine):
   * messages and reports name it. The bucket and key stay the object's identity (never hashed).
   */
  label: z.string().optional(),
});
export type SourceRef = z.infer<typeof sourceRefSchema>;

export const sourceFormatSchema = z.enum(['csv', 'jsonl']);

/** The day/month order Plan decided for a date/datetime field (lambdas/domain/date-order.ts). */
export const dateOrderDecisionSchema = z.object({
  order: z.enum(['month-first', 'day-first']),
  decidedBy: z.enum(['values', 'setting', 'undecided']),
  /**
   * The sampled values of a datetime column have a time and no UTC offset (`5/20/2024 7:42`, as
   * Dynamics and report exports write local times): they are read in the field's timezone, which
   * the summary names so that a default UTC is never silent.
   */
  localTimes: z.literal(true).optional(),
});

const count = z.number().int().min(0);

/** What Plan hands every worker (Distributed Map BatchInput): small, no rows. */
export const workerJobSchema = z.object({
  runId: z.string().min(1),
  entity: z.string().min(1),
  configHash: z.string().min(1),
  /** The object the chunks' byte offsets refer to (the source, or its UTF-8 transcoding). */
  data: sourceRefSchema,
  /** Where the workers write intermediate objects (`work/<runId>/`). */
  workPrefix: z.string().min(1),
  /** Merge partitions the chunk winners are spread over. */
  partitions: z.number().int().min(1),
  /**
   * TotalSegments of the verify and mirror table scans, sized by Plan from the table (at least
   * `partitions`; absent in jobs of older runs: as many as partitions).
   */
  scanSegments: z.number().int().min(1).max(MAX_SCAN_SEGMENTS).optional(),
  /** CSV or JSON Lines (then `columns` are the source names the mapping reads, not a header). */
  format: sourceFormatSchema,
  /** Dry run: classify every key against the target and report, write nothing to it. */
  dryRun: z.boolean().optional(),
  /** The verification mode Plan resolved (`full` or `sample:<n>`, see resolveVerify). */
  verify: z.string().optional(),
  /**
   * The target held no item when the run was planned (a first load): the merge skips reading the
   * stored versions of its keys, since there are none to read.
   */
  targetEmpty: z.boolean().optional(),
  /** Mirror mode: the full export replaces the target (absent items are delete candidates). */
  mirror: z.boolean().optional(),
  /** Mirror mode: delete the candidates even above maxDeleteRatio. */
  forceDeletes: z.boolean().optional(),
  /** Load the valid rows even when too many were rejected, or the file has no data row. */
  force: z.boolean().optional(),
  /** Each merge worker's write ceiling, WCU/s: its share of the table's throughput (Plan's layout). */
  writeUnitsPerSecond: z.number().min(0).optional(),
  /** Each merge or verify worker's read ceiling, RCU/s. */
  readUnitsPerSecond: z.number().min(0).optional(),
  delimiter: z.string(),
  columns: z.array(z.string()),
  /**
   * The day/month order Plan decided per date/datetime field (by target field name) for numeric
   * dates, from the file's values or the field's `dayFirst`; the workers read every row with it.
   */
  dateOrder: z.record(z.string(), dateOrderDecisionSchema).optional(),
  /**
   * A multi-file export: its parts' names (relative to the export folder), in part order. Rows are
   * numbered over the export (lambdas/domain/row-position.ts); reports name each row's part.
   */
  files: z.array(z.string().min(1)).min(1).optional(),
});
export type WorkerJob = z.infer<typeof workerJobSchema>;

/** One item of the chunk manifest that the transform Distributed Map reads. */
export const chunkItemSchema = z.object({
  index: count,
  start: count,
  end: count,
  firstLine: z.number().int().min(1),
  rows: count,
  /**
   * A multi-file export: the part object the byte range and lines refer to (else the job's `data`),
   * named in reports as `file` (the part's key).
   */
  data: sourceRefSchema.optional(),
  file: z.string().min(1).optional(),
  /**
   * A multi-file export: the index of the chunk's part in the export (key order, or the manifest's
   * order). The worker numbers the chunk's rows `part × 2^32 + line` (lambdas/domain/row-position.ts).
   */
  part: count.optional(),
});
export type ChunkItem = z.infer<typeof chunkItemSchema>;

/** One item of the partition (or scan segment) manifest that the merge, verify and mirror Maps read. */
export const partitionItemSchema = z.object({
  partition: count,
  /** Number of chunks: the merge worker reads one part object per chunk. */
  chunks: count,
});
export type PartitionItem = z.infer<typeof partitionItemSchema>;

/**
 * A worker's event as a Distributed Map with an ItemBatcher sends it: the batch input (the job and
 * what the state adds) and at least one item.
 */
export function workerBatchSchema<B extends z.ZodRawShape, I extends z.ZodType>(batchInput: B, item: I) {
  return z.object({
    BatchInput: z.object({ job: workerJobSchema, ...batchInput }),
    Items: z.array(item).min(1),
  });
}
