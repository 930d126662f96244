import { z } from 'zod';
import type { NotAnExport } from '../domain/sync';
import { sourceFormatSchema, sourceRefSchema, workerJobSchema } from './job';
import { type Equals, typesMatch } from './type-check';

/**
 * The workflow contract, part 3: ClaimRun's and Plan's inputs and outputs (`$.claim`, `$.plan` in
 * the state machine), which the steps after them read.
 */

/** The object the trigger names (the inbox rule, a schedule, `local run`, a redrive). */
export const runSourceSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  entity: z.string().min(1),
  versionId: z.string().nullish(),
  etag: z.string().nullish(),
  /** The object's size as its S3 event says (the inbox rule passes it). */
  size: z
    .number({ error: 'size must be a number of bytes' })
    .int('size must be a whole number of bytes')
    .min(0, 'size must be at least 0 bytes')
    .nullish(),
  rerun: z.string().optional(),
  /** Resume this failed run (local redrive): refused unless the object and config still make it. */
  resume: z.string().optional(),
  /** Classify and report what a run would do, writing nothing to the target (`local diff`). */
  dryRun: z.boolean().optional(),
  /** Mirror mode: delete the items the export leaves out even above maxDeleteRatio. */
  forceDeletes: z.boolean().optional(),
  /** How the person who started the run named the file (a local path): messages name it. */
  label: z.string().min(1).max(4096).optional(),
  /** Load the valid rows even above maxRejectRatio (or of a file with no data row). */
  force: z.boolean().optional(),
  /**
   * A multi-file export (the key is its folder's `_SUCCESS` or `manifest.json`): the digest of the
   * parts ClaimRun derived the run id with (lambdas/domain/export-folder.ts); Plan reads the same.
   */
  parts: z.string().min(1).optional(),
});

/** ClaimRun's event. */
export const claimEventSchema = z.object({
  action: z.literal('claim'),
  source: runSourceSchema,
  executionId: z.string().optional(),
});
export type ClaimEvent = z.infer<typeof claimEventSchema>;

/** The source of a claimed run: the object as HEAD saw it (size included, so Plan does not HEAD again). */
export const claimedSourceSchema = sourceRefSchema.extend({
  entity: z.string().min(1),
  size: z.number().int().min(0),
  dryRun: z.boolean().optional(),
  forceDeletes: z.boolean().optional(),
  force: z.boolean().optional(),
  parts: z.string().min(1).optional(),
});

export const claimOutputSchema = z.union([
  /**
   * Not an export (a folder marker, an empty object, a hidden file, a part of an export folder,
   * which its folder's marker runs): no run, no lock.
   */
  z.object({
    runId: z.null(),
    ignored: z.literal(true),
    reason: z.enum(['folder', 'empty', 'hidden', 'part']),
    entity: z.string(),
    key: z.string(),
  }),
  /** A duplicate trigger: the run exists already (its status as the ledger holds it). */
  z.object({ runId: z.string(), duplicate: z.literal(true), existingStatus: z.string(), entity: z.string() }),
  /** A claimed run: Plan follows. */
  z.object({
    runId: z.string(),
    duplicate: z.literal(false),
    entity: z.string(),
    source: claimedSourceSchema,
  }),
]);
export type ClaimOutput = z.infer<typeof claimOutputSchema>;

/** Plan's event: ClaimRun's output (the state machine passes `$.claim.runId` and `$.claim.source`). */
export const planEventSchema = z.object({
  action: z.literal('plan'),
  runId: z.string().min(1),
  // ClaimRun's output: the object as HEAD saw it (size included, so Plan does not HEAD again).
  source: runSourceSchema.extend({ etag: z.string().min(1), size: z.number().int().min(0) }),
});
export type PlanEvent = z.infer<typeof planEventSchema>;

/**
 * What the state machine and the workers need of the run's layout (lambdas/domain/sizing.ts): the
 * Distributed Maps read their MaxConcurrency from here (MaxConcurrencyPath).
 */
export const planLayoutSchema = z.object({
  chunkBytes: z.number().int().min(1),
  transformConcurrency: z.number().int().min(1),
  mergeConcurrency: z.number().int().min(1),
  verifyConcurrency: z.number().int().min(1),
  writeUnitsPerWorker: z.number().min(0),
  readUnitsPerWorker: z.number().min(0),
  /** Predicted wall time of the run, seconds. */
  estimatedSeconds: z.number().min(0),
  warnings: z.array(z.string()),
});
export type PlanLayout = z.infer<typeof planLayoutSchema>;

const count = z.number().int().min(0);

/** Plan's output (`$.plan`): the run's manifests, counts, layout and the workers' job. */
export const planOutputSchema = z.object({
  runId: z.string().min(1),
  entity: z.string().min(1),
  manifestKey: z.string().min(1),
  partitionsKey: z.string().min(1),
  /** The verify and mirror scan Maps' items: one per table scan segment (see workKeys.segments). */
  segmentsKey: z.string().min(1),
  chunks: count,
  partitions: z.number().int().min(1),
  /** Table scan segments (verify workers; mirror mode's key scan workers): at least `partitions`. */
  scanSegments: z.number().int().min(1),
  rows: count,
  bytes: count,
  format: sourceFormatSchema,
  encoding: z.string(),
  missingOptionalColumns: z.array(z.string()),
  layout: planLayoutSchema,
  job: workerJobSchema,
});
export type PlanOutput = z.infer<typeof planOutputSchema>;

/**
 * The part of Plan's output the steps after the Maps read (CheckRejects, CheckMirrorDeletes,
 * Reconcile); `scanSegments` is absent in plans of older runs (then one per partition).
 */
export const planSummarySchema = planOutputSchema
  .pick({ chunks: true, partitions: true, rows: true, job: true })
  .extend({ scanSegments: planOutputSchema.shape.scanSegments.optional() });
export type PlanSummary = z.infer<typeof planSummarySchema>;

typesMatch<
  Equals<ClaimOutput extends infer C ? (C extends { reason: infer R } ? R : never) : never, NotAnExport>
>();
