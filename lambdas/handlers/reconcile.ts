import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { logger, tracer } from '../adapters/powertools';
import { reconcileEventSchema } from '../contract/checks';
import type { RunSummary } from '../domain/report';
import { reconcileRun } from '../use-cases/reconcile';
import { checkMergeHandler } from './check-merge';
import { checkDeletesHandler } from './check-mirror-deletes';
import { checkWrittenHandler } from './check-written';
import { parseEvent } from './env';
import { runDeps } from './run-deps';

export { MIRROR_REPORT } from '../domain/reconcile';
export { checkDeletesHandler, checkWrittenHandler };

/** Reconcile: adds up the run, checks it and writes its reports (use-cases/reconcile.ts). */
export async function reconcileHandler(event: unknown): Promise<RunSummary> {
  return reconcileRun(parseEvent(reconcileEventSchema, event, 'reconcile'), runDeps());
}

/** The function's Task states, told apart by `action` (Reconcile's event has none). */
const actionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('check-deletes') }).loose(),
  z.object({ action: z.literal('check-merge') }).loose(),
  z.object({ action: z.literal('check-written') }).loose(),
  z.object({ action: z.literal('reconcile').optional() }).loose(),
]);

const tasks = {
  'check-deletes': checkDeletesHandler, // CheckMirrorDeletes
  'check-merge': checkMergeHandler, // CheckMerge
  'check-written': checkWrittenHandler, // CheckWrittenDigest
  reconcile: reconcileHandler, // Reconcile
} as const;

async function route(event: unknown): Promise<Awaited<ReturnType<(typeof tasks)[keyof typeof tasks]>>> {
  const { action = 'reconcile' } = parseEvent(actionSchema, event, 'reconcile');
  return tasks[action](event);
}

export const handler = middy(route)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
