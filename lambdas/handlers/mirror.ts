import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { logger, tracer } from '../adapters/powertools';
import { partitionItemSchema, workerBatchSchema } from '../contract/job';
import type { MirrorPlanOutput, MirrorScanOutput } from '../contract/results';
import { planMirrorDeletes } from '../use-cases/mirror-plan-deletes';
import { scanTargetSegments } from '../use-cases/mirror-scan-segment';
import { parseEvent, workerContext } from './env';

export type { MirrorPlanResult, MirrorScanResult } from '../contract/results';
export { planPartitionDeletes } from '../use-cases/mirror-plan-deletes';
export { scanTargetSegment } from '../use-cases/mirror-scan-segment';

const eventSchema = workerBatchSchema(
  {
    /** `scan`: list the keys of one table segment; `plan`: find one partition's delete candidates. */
    action: z.enum(['scan', 'plan']),
  },
  partitionItemSchema,
).refine(
  (e) =>
    e.Items.every(
      (i) =>
        i.partition <
        (e.BatchInput.action === 'scan'
          ? (e.BatchInput.job.scanSegments ?? e.BatchInput.job.partitions)
          : e.BatchInput.job.partitions),
    ),
  { message: 'every item must be a scan segment (scan) or a partition (plan) of the job', path: ['Items'] },
);

/**
 * Mirror mode's two Map tasks, picked by `action`: `scan` lists the target's keys by table segment
 * (use-cases/mirror-scan-segment.ts), `plan` finds a partition's delete candidates
 * (use-cases/mirror-plan-deletes.ts).
 */
export async function mirrorHandler(event: unknown): Promise<MirrorScanOutput | MirrorPlanOutput> {
  const { BatchInput, Items } = parseEvent(eventSchema, event, 'mirror');
  switch (BatchInput.action) {
    case 'scan':
      return { segments: await scanTargetSegments(BatchInput.job, Items, workerContext()) };
    case 'plan':
      return { partitions: await planMirrorDeletes(BatchInput.job, Items, workerContext()) };
  }
}

export const handler = middy(mirrorHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
