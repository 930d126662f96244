import { z } from 'zod';
import { csvPartSchema, MAX_SEGMENTS, partSchema, type SegmentResult } from '../domain/snapshot';
import { type Equals, typesMatch } from './type-check';

/**
 * The workflow contract of the Snapshot and Restore state machines (lib/snapshot-state-machine.ts):
 * what each Task state is given and returns. PrepareSnapshot / PrepareRestore turn the machine's
 * input into a job, which the state machine passes unchanged to every segment worker and to Finish;
 * Abort (a Catch) gets the machine's input as given. The handlers parse these with the schemas here.
 */

const count = z.number().int().min(0);
const segmentNumber = z.number().int().min(0);
const snapshotFormatSchema = z.enum(['jsonl', 'csv']);

/** `$$.Execution.Name` and `$$.Execution.StartTime`: the default id and who owns a record. */
export const executionSchema = z.object({ name: z.string().min(1), startTime: z.string().min(1) });
export type ExecutionRef = z.infer<typeof executionSchema>;

/** A Catch's `$.error`. */
export const caughtSchema = z
  .object({ Error: z.string().optional(), Cause: z.string().optional() })
  .optional();
export type CaughtError = z.infer<typeof caughtSchema>;

// ---- Snapshot ----

/** The Snapshot state machine's input. */
export const snapshotInputSchema = z.object({
  entity: z.string().min(1),
  /** Default: the execution's start time and name. */
  snapshotId: z.string().optional(),
  /** JSONL (restorable) is always written; `csv` adds a CSV of the entity's fields per segment. */
  formats: z.array(snapshotFormatSchema).optional(),
  /** Parallel scan segments (default: from the table's size, at least 8). */
  segments: z.number().int().min(1).max(MAX_SEGMENTS).optional(),
});
export type SnapshotInput = z.infer<typeof snapshotInputSchema>;

/** What PrepareSnapshot hands the segment workers and FinishSnapshot (`$.snapshot`). */
export const snapshotJobSchema = z.object({
  snapshotId: z.string(),
  entity: z.string(),
  table: z.string(),
  key: z.string(),
  /** The table's sort key attribute (unset: none). */
  sortKey: z.string().optional(),
  /** The entity's items on a shared table: those whose `name` attribute is `value` (lambdas/domain/keys.ts). */
  only: z.object({ name: z.string(), value: z.string() }).optional(),
  prefix: z.string(),
  segments: z.number().int().min(1),
  segmentList: z.array(segmentNumber),
  formats: z.array(snapshotFormatSchema),
  columns: z.array(z.string()),
  configHash: z.string(),
  takenAt: z.string(),
});
export type SnapshotJob = z.infer<typeof snapshotJobSchema>;

/** The work object one ExportSegment writes and FinishSnapshot reads: the segment's parts. */
export const snapshotSegmentResultSchema = z.object({
  part: partSchema,
  csv: csvPartSchema.optional(),
});
typesMatch<Equals<z.infer<typeof snapshotSegmentResultSchema>, SegmentResult>>();

/** FinishSnapshot's output: the execution's output. */
export const snapshotSummarySchema = z.object({
  snapshotId: z.string(),
  entity: z.string(),
  table: z.string(),
  items: count,
  digest: z.string(),
  segments: z.number().int().min(1),
  formats: z.array(snapshotFormatSchema),
  prefix: z.string(),
  manifestKey: z.string(),
  takenAt: z.string(),
  finishedAt: z.string(),
});
export type SnapshotSummary = z.infer<typeof snapshotSummarySchema>;

// ---- Restore ----

/** The Restore state machine's input: where the snapshot is, and which entity's table it fills. */
export const restoreInputSchema = z
  .object({
    /** The entity whose (empty) table is restored. */
    entity: z.string().min(1),
    /** A snapshot under `snapshots/<fromEntity>/<snapshotId>/`. */
    snapshotId: z.string().optional(),
    /** The entity the snapshot was taken of (default: `entity`). */
    fromEntity: z.string().optional(),
    /** Or the snapshot's prefix in the bucket (under `snapshots/`). */
    prefix: z.string().optional(),
    /** Default: the execution's start time and name. */
    restoreId: z.string().optional(),
  })
  .refine((i) => i.snapshotId !== undefined || i.prefix !== undefined, {
    message: 'snapshotId or prefix is required',
  });
export type RestoreInput = z.infer<typeof restoreInputSchema>;

/** What PrepareRestore hands the part and segment workers and FinishRestore (`$.restore`). */
export const restoreJobSchema = z.object({
  restoreId: z.string(),
  entity: z.string(),
  table: z.string(),
  prefix: z.string(),
  snapshotId: z.string(),
  fromEntity: z.string(),
  segments: z.number().int().min(1),
  segmentList: z.array(segmentNumber),
  items: count,
  digest: z.string(),
  /** The entity's items on a shared table: those whose `name` attribute is `value` (lambdas/domain/keys.ts). */
  only: z.object({ name: z.string(), value: z.string() }).optional(),
});
export type RestoreJob = z.infer<typeof restoreJobSchema>;

/** The work object one CheckSegment writes and FinishRestore reads: a scan segment of the table. */
export const restoreSegmentCheckSchema = z.object({
  segment: segmentNumber,
  items: count,
  digest: z.string(),
});
export type RestoreSegmentCheck = z.infer<typeof restoreSegmentCheckSchema>;

/** FinishRestore's output: the execution's output. */
export const restoreSummarySchema = z.object({
  restoreId: z.string(),
  entity: z.string(),
  table: z.string(),
  snapshotId: z.string(),
  prefix: z.string(),
  items: count,
  digest: z.string(),
  status: z.literal('MATCHED'),
});
export type RestoreSummary = z.infer<typeof restoreSummarySchema>;

// ---- Both machines ----

/** A segment worker's output (a Distributed Map child's, written to S3 and not read back). */
export const segmentsOutputSchema = z.object({
  segments: z.array(z.object({ segment: segmentNumber, items: count })),
});
export type SegmentsOutput = z.infer<typeof segmentsOutputSchema>;

/** Abort's output: nothing (its result is discarded). */
export const abortOutputSchema = z.object({});
export type AbortOutput = z.infer<typeof abortOutputSchema>;

/**
 * A backup state machine's events: the Task states with an `action` (prepare: the machine's input;
 * finish; abort: a Catch, with the input as given, which may be what failed validation), or a
 * Distributed Map batch of segments for a worker `action`.
 */
function backupEventSchema<
  Input extends z.ZodType,
  AbortInput extends z.ZodType,
  Job extends z.ZodType,
  Worker extends z.ZodType,
>(schemas: { input: Input; abortInput: AbortInput; job: Job; worker: Worker }) {
  return z.union([
    z.discriminatedUnion('action', [
      z.object({ action: z.literal('prepare'), input: schemas.input, execution: executionSchema }),
      z.object({ action: z.literal('finish'), job: schemas.job }),
      z.object({
        action: z.literal('abort'),
        input: schemas.abortInput,
        execution: executionSchema,
        error: caughtSchema,
      }),
    ]),
    z.object({ BatchInput: schemas.worker, Items: z.array(segmentNumber).min(1) }),
  ]);
}

/** A batch's `BatchInput` for the worker of `action`. */
function workerInput<const Action extends string, Job extends z.ZodType>(action: Action, job: Job) {
  return z.object({ action: z.literal(action), job });
}

/** The snapshot function's events: PrepareSnapshot, ExportSegment, FinishSnapshot, AbortSnapshot. */
export const snapshotEventSchema = backupEventSchema({
  input: snapshotInputSchema,
  abortInput: z.looseObject({ entity: z.string(), snapshotId: z.unknown().optional() }),
  job: snapshotJobSchema,
  worker: z.discriminatedUnion('action', [workerInput('segment', snapshotJobSchema)]),
});
export type SnapshotEvent = z.infer<typeof snapshotEventSchema>;

/**
 * The restore function's events: PrepareRestore, VerifyPart, LoadPart, CheckSegment, FinishRestore,
 * AbortRestore.
 */
export const restoreEventSchema = backupEventSchema({
  input: restoreInputSchema,
  abortInput: z.looseObject({ entity: z.string(), restoreId: z.unknown().optional() }),
  job: restoreJobSchema,
  worker: z.discriminatedUnion('action', [
    workerInput('verify', restoreJobSchema),
    workerInput('load', restoreJobSchema),
    workerInput('check', restoreJobSchema),
  ]),
});
export type RestoreEvent = z.infer<typeof restoreEventSchema>;
