import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import {
  type ClaimEvent,
  type ClaimOutput,
  claimEventSchema,
  type PlanEvent,
  type PlanOutput,
  planEventSchema,
} from '../contract/plan';
import { claimRun as claim } from '../use-cases/claim-run';
import { planRun as plan } from '../use-cases/plan-chunks';
import { parseEvent, targetTable, workerEnv } from './env';

// The workflow's messages are typed once, by their schemas (lambdas/contract/plan.ts).
export type { ClaimOutput, PlanLayout, PlanOutput } from '../contract/plan';

/** The function hosts two Task states, told apart by `action`: ClaimRun and Plan. */
const planEventsSchema = z.discriminatedUnion('action', [claimEventSchema, planEventSchema]);

/** ClaimRun (lambdas/use-cases/claim-run.ts) on the worker's environment. */
export async function claimRun(event: ClaimEvent): Promise<ClaimOutput> {
  const env = workerEnv();
  return claim(event, { config: env.config, ledger: new Ledger(env.ledgerTable) });
}

/** Plan (lambdas/use-cases/plan-chunks.ts) on the worker's environment. */
export async function planRun(event: PlanEvent): Promise<PlanOutput> {
  const env = workerEnv();
  return plan(event, {
    config: env.config,
    bucket: env.bucket,
    ledger: new Ledger(env.ledgerTable),
    targetTable: (entity) => targetTable(env, entity),
  });
}

export async function planHandler(event: unknown): Promise<ClaimOutput | PlanOutput> {
  const e = parseEvent(planEventsSchema, event, 'plan');
  return e.action === 'claim' ? claimRun(e) : planRun(e);
}

export const handler = middy(planHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
