import { z } from 'zod';
import type { MirrorDecision } from '../domain/mirror';
import { planSummarySchema } from './plan';
import { digestCountSchema, mapOutputSchema } from './results';
import { type Equals, typesMatch } from './type-check';

/**
 * The workflow contract, part 3: the steps that add up the Maps' results (CheckRejects,
 * CheckMirrorDeletes, CheckWrittenDigest, Reconcile). Each reads the Maps' ResultWriter outputs
 * (mapOutputSchema) and Plan's summary; the function hosting several of them tells them apart by
 * `action` (Reconcile's event has none).
 */

/** CheckRejects (after TransformChunks). */
export const checkRejectsEventSchema = z.object({
  runId: z.string().min(1),
  plan: planSummarySchema,
  transform: mapOutputSchema,
});
export type CheckRejectsEvent = z.infer<typeof checkRejectsEventSchema>;

/** CheckMirrorDeletes (mirror mode, after the key scan and candidates Maps). */
export const checkDeletesEventSchema = z.object({
  action: z.literal('check-deletes'),
  runId: z.string(),
  plan: planSummarySchema,
  transform: mapOutputSchema,
  scan: mapOutputSchema,
  candidates: mapOutputSchema,
});
export type CheckDeletesEvent = z.infer<typeof checkDeletesEventSchema>;

/** CheckWrittenDigest (after VerifyPartitions). */
export const checkWrittenEventSchema = z.object({
  action: z.literal('check-written'),
  runId: z.string(),
  verify: mapOutputSchema,
});
export type CheckWrittenEvent = z.infer<typeof checkWrittenEventSchema>;

/** What CheckWrittenDigest decides: whether verification must read every decision by key. */
export const writtenCheckSchema = z.object({
  byKey: z.boolean(),
  expected: digestCountSchema.optional(),
  found: digestCountSchema.optional(),
});
export type WrittenCheck = z.infer<typeof writtenCheckSchema>;

/** Reconcile (the last step). */
export const reconcileEventSchema = z.object({
  runId: z.string(),
  plan: planSummarySchema,
  transform: mapOutputSchema,
  merge: mapOutputSchema,
  verify: mapOutputSchema,
  /** CheckWrittenDigest's decision (absent in events of older definitions). */
  written: z.object({ byKey: z.boolean() }).loose().optional(),
});
export type ReconcileEvent = z.infer<typeof reconcileEventSchema>;

const count = z.number().int().min(0);

/** CheckMirrorDeletes' output ($.mirror), also kept under work/ for Reconcile (domain/mirror.ts). */
export const mirrorDecisionSchema = z.object({
  targetItems: count,
  candidates: count,
  unkeyedRejects: count,
  ratio: z.number().min(0),
  maxDeleteRatio: z.number().min(0),
  forced: z.boolean(),
  allowed: z.boolean(),
  reason: z.string().optional(),
});

typesMatch<Equals<z.infer<typeof mirrorDecisionSchema>, MirrorDecision>>();
