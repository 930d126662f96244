import { concatResultManifests, readMapResults } from '../adapters/map-results';
import { logger } from '../adapters/powertools';
import { putJson } from '../adapters/s3';
import type { CheckMergeEvent, MergeLoopState } from '../contract/merge-loop';
import { workerOutputSchemas } from '../contract/results';
import { decideMergePass } from '../domain/merge-progress';
import { workKeys } from '../domain/run';

/**
 * CheckMerge (after each merge pass): adds the pass's result files to those of the passes before
 * (one manifest, in the ResultWriter's format), then either ends the loop (no partition left) or
 * writes the manifest of the partitions left, the next pass's items. Passes without progress are
 * bounded (decideMergePass: MergeStalledError).
 */
export async function checkMerge(deps: { bucket: string }, event: CheckMergeEvent): Promise<MergeLoopState> {
  const { Bucket, Key } = event.pass.ResultWriterDetails;
  const pass = await readMapResults(Bucket, Key, workerOutputSchemas.merge);
  const decision = decideMergePass(
    event.loop.stalled,
    pass.outputs.flatMap((o) => o.partitions),
  );
  const before = event.loop.results?.ResultWriterDetails;
  const resultsKey = workKeys.mergeResults(event.workPrefix, event.loop.pass);
  await concatResultManifests({ bucket: deps.bucket, key: resultsKey }, [
    ...(before ? [{ bucket: before.Bucket, key: before.Key }] : []),
    { bucket: Bucket, key: Key },
  ]);
  const results = { ResultWriterDetails: { Bucket: deps.bucket, Key: resultsKey } };
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
  await putJson(deps.bucket, manifestKey, decision.left);
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
