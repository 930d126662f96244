import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { chunkItemSchema, workerBatchSchema } from '../contract/job';
import type { TransformOutput } from '../contract/results';
import { transformChunks } from '../use-cases/transform-chunk';
import { parseEvent, workerContext, workerEnv } from './env';

export { ChunkCountMismatchError } from '../domain/errors';
export { transformChunk } from '../use-cases/transform-chunk';

const eventSchema = workerBatchSchema({}, chunkItemSchema);

/** The Transform Map's task: a batch of chunks of one job (use-cases/transform-chunk.ts). */
export async function transformHandler(event: unknown): Promise<TransformOutput> {
  const data = parseEvent(eventSchema, event, 'transform');
  const ledger = new Ledger(workerEnv().ledgerTable);
  const chunks = await transformChunks(data.BatchInput.job, data.Items, { ...workerContext(), ledger });
  return { chunks };
}

export const handler = middy(transformHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
