import { z } from 'zod';
import { type ResultManifest, readMapResults, readResultManifest } from '../adapters/map-results';
import { logger } from '../adapters/powertools';
import { putJson } from '../adapters/s3';
import { mapOutputSchema, workerOutputSchemas } from '../contract/results';
import { decideMergePass } from '../domain/merge-progress';
import { workKeys } from '../domain/run';
import { parseEvent, workerEnv } from './env';

const checkMergeSchema = z.object({
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

/** CheckMerge's output ($.mergeLoop): the next pass's items, or done and every pass's results. */
export interface MergeLoopState {
  done: boolean;
  manifestKey: string;
  pass: number;
  stalled: number;
  /** Partitions and writes left for the next pass (0 when done). */
  partitionsLeft: number;
  writesLeft: number;
  /** Every pass's results so far, as one ResultWriter manifest (Reconcile's `merge`). */
  results: { ResultWriterDetails: { Bucket: string; Key: string } };
}

/**
 * CheckMerge (after each merge pass): adds the pass's result files to those of the passes before
 * (one manifest, in the ResultWriter's format), then either ends the loop (no partition left) or
 * writes the manifest of the partitions left, the next pass's items. Passes without progress are
 * bounded (decideMergePass: MergeStalledError).
 */
export async function checkMerge(event: z.infer<typeof checkMergeSchema>): Promise<MergeLoopState> {
  const env = workerEnv();
  const { Bucket, Key } = event.pass.ResultWriterDetails;
  const pass = await readMapResults(Bucket, Key, workerOutputSchemas.merge);
  const decision = decideMergePass(
    event.loop.stalled,
    pass.outputs.flatMap((o) => o.partitions),
  );
  const files = await readResultManifest(Bucket, Key);
  const before = event.loop.results
    ? await readResultManifest(
        event.loop.results.ResultWriterDetails.Bucket,
        event.loop.results.ResultWriterDetails.Key,
      )
    : {};
  const merged: ResultManifest = {
    ResultFiles: {
      SUCCEEDED: [...(before.ResultFiles?.SUCCEEDED ?? []), ...(files.ResultFiles?.SUCCEEDED ?? [])],
      FAILED: [...(before.ResultFiles?.FAILED ?? []), ...(files.ResultFiles?.FAILED ?? [])],
    },
  };
  const resultsKey = workKeys.mergeResults(event.workPrefix, event.loop.pass);
  await putJson(env.bucket, resultsKey, merged);
  const results = { ResultWriterDetails: { Bucket: env.bucket, Key: resultsKey } };
  if (decision.done) {
    return {
      done: true,
      manifestKey: event.loop.manifestKey,
      pass: event.loop.pass,
      stalled: 0,
      partitionsLeft: 0,
      writesLeft: 0,
      results,
    };
  }
  const manifestKey = workKeys.mergeLeft(event.workPrefix, event.loop.pass + 1);
  await putJson(env.bucket, manifestKey, decision.left);
  logger.info('merge pass left partitions for the next', {
    runId: event.runId,
    pass: event.loop.pass,
    partitionsLeft: decision.left.length,
    writesLeft: decision.writesLeft,
    stalled: decision.stalled,
  });
  return {
    done: false,
    manifestKey,
    pass: event.loop.pass + 1,
    stalled: decision.stalled,
    partitionsLeft: decision.left.length,
    writesLeft: decision.writesLeft,
    results,
  };
}

export async function checkMergeHandler(event: unknown): Promise<MergeLoopState> {
  return checkMerge(parseEvent(checkMergeSchema, event, 'check-merge'));
}
