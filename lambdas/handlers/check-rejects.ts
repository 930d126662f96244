import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { logger, tracer } from '../adapters/powertools';
import { checkRejectsEventSchema } from '../contract/checks';
import type { RejectDecision } from '../domain/rejects';
import { checkRejects } from '../use-cases/check-rejects';
import { parseEvent } from './env';
import { runDeps } from './run-deps';

/** CheckRejects: refuses a run with too many rejected rows (use-cases/check-rejects.ts). */
export async function checkRejectsHandler(event: unknown): Promise<RejectDecision> {
  return checkRejects(parseEvent(checkRejectsEventSchema, event, 'check-rejects'), runDeps());
}

export const handler = middy(checkRejectsHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
