import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { logger, tracer } from '../adapters/powertools';
import { partitionItemSchema, workerBatchSchema } from '../contract/job';
import type { VerifyOutput } from '../contract/results';
import { verifyPartitions } from '../use-cases/verify-partition';
import { parseEvent, workerContext } from './env';

export { verifyPartition } from '../use-cases/verify-partition';

const eventSchema = workerBatchSchema(
  {
    /** Data rows of the run (the plan's count): the sample rate is computed from it. */
    rows: z.number().int().min(0),
    /** The second pass of a full verification: every decision read back by key. */
    byKey: z.boolean().optional(),
  },
  partitionItemSchema,
).refine(
  (e) => e.Items.every((i) => i.partition < (e.BatchInput.job.scanSegments ?? e.BatchInput.job.partitions)),
  {
    message: 'every item must be a scan segment of the job (below scanSegments, or partitions)',
    path: ['Items'],
  },
);

/** The Verify Map's task: a batch of scan segments of one job (use-cases/verify-partition.ts). */
export async function verifyHandler(event: unknown): Promise<VerifyOutput> {
  const data = parseEvent(eventSchema, event, 'verify');
  const { job, rows, byKey } = data.BatchInput;
  const partitions = await verifyPartitions(job, data.Items, { rows, byKey }, workerContext());
  return { partitions };
}

export const handler = middy(verifyHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
