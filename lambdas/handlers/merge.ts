import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { partitionItemSchema, workerBatchSchema } from '../contract/job';
import { partitionOutcomeSchema } from '../contract/results';
import { getEntity } from '../domain/config';
import { isPartitionLeft, mergeDeadline, type PartitionOutcome } from '../domain/merge-progress';
import { type MergePartitionDeps, mergePartition } from '../use-cases/merge-partition';
import { parseEvent, targetTable, type WorkerEnv, workerEnv } from './env';

const eventSchema = workerBatchSchema({}, partitionItemSchema);

/** The entity's config and target table (a ConfigError fails the partition's step). */
const depsOf = (env: WorkerEnv, entity: string): MergePartitionDeps => ({
  bucket: env.bucket,
  ledgerTable: env.ledgerTable,
  entity: getEntity(env.config, entity),
  table: targetTable(env, entity),
});

/**
 * Merges the Map's partitions. With Lambda's context, each pass writes until mergeDeadline of the
 * invocation's remaining time, and a partition it did not finish comes back as a PartitionLeft
 * (`complete: false`) for the workflow's next pass; without one (a direct call), until done.
 */
export async function mergeHandler(
  event: unknown,
  context?: { getRemainingTimeInMillis?: () => number },
): Promise<{ partitions: PartitionOutcome[] }> {
  const deadline = mergeDeadline(Date.now(), context?.getRemainingTimeInMillis?.());
  const data = parseEvent(eventSchema, event, 'merge');
  const job = data.BatchInput.job;
  const env = workerEnv();
  const ledger = new Ledger(env.ledgerTable);
  const partitions: PartitionOutcome[] = [];
  for (const item of data.Items) {
    // A resumed run: a partition that already succeeded keeps its writes, reports and counts.
    const result = await ledger.runStep(
      job.runId,
      { kind: 'partition', partition: item.partition },
      partitionOutcomeSchema,
      () => mergePartition(depsOf(env, job.entity), job, item, deadline),
    );
    logger.info(isPartitionLeft(result) ? 'partition left for the next pass' : 'partition merged', {
      runId: job.runId,
      partition: item.partition,
      ...(isPartitionLeft(result)
        ? { left: result.left, written: result.written }
        : { applied: result.applied }),
    });
    partitions.push(result);
  }
  return { partitions };
}

export const handler = middy(mergeHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
