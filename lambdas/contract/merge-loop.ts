import { z } from 'zod';
import { mapOutputSchema } from './results';

/**
 * The workflow contract of the merge loop: CheckMerge's input (after each merge pass) and its
 * output, the loop's state between passes ($.mergeLoop).
 */

/** CheckMerge's input (the state machine's CheckMerge task, `action: 'check-merge'`). */
export const checkMergeEventSchema = z.object({
  action: z.literal('check-merge'),
  runId: z.string(),
  workPrefix: z.string().min(1),
  /** The pass that just ran: its Map's ResultWriter output. */
  pass: mapOutputSchema,
  /** The loop before this pass ($.mergeLoop, set by StartMerge and then by this step). */
  loop: z.object({
    manifestKey: z.string(),
    pass: z.number().int().min(1),
    stalled: z.number().int().min(0),
    results: mapOutputSchema.optional(),
  }),
});
export type CheckMergeEvent = z.infer<typeof checkMergeEventSchema>;

/** CheckMerge's output ($.mergeLoop): the next pass's items, or done and every pass's results. */
export const mergeLoopStateSchema = z.object({
  done: z.boolean(),
  manifestKey: z.string(),
  pass: z.number().int().min(1),
  stalled: z.number().int().min(0),
  /** Partitions and writes left for the next pass (0 when done). */
  partitionsLeft: z.number().int().min(0),
  writesLeft: z.number().int().min(0),
  /** Every pass's results so far, as one ResultWriter manifest (Reconcile's `merge`). */
  results: mapOutputSchema,
});
export type MergeLoopState = z.infer<typeof mergeLoopStateSchema>;
