import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { startExecution } from '../adapters/sfn';
import { ConfigError } from '../domain/errors';
import { type ScheduledSyncOutput, scheduledSync } from '../use-cases/scheduled-sync';
import { parseEvent, workerEnv } from './env';

export type { ScheduledSyncOutput } from '../use-cases/scheduled-sync';

/** What the entity's EventBridge Scheduler schedule sends (lib/sync-schedules.ts). */
const scheduledEvent = z.object({
  entity: z.string().min(1),
  /** `<aws.scheduler.scheduled-time>`: the same for every delivery of one tick. */
  scheduledTime: z.iso.datetime({ offset: true }).optional(),
});

/** The ARN of the run state machine (set by the stack). */
function stateMachineArn(): string {
  const arn = process.env.CRM_SYNC_STATE_MACHINE_ARN;
  if (!arn) throw new ConfigError('environment variable CRM_SYNC_STATE_MACHINE_ARN is not set');
  return arn;
}

/** A schedule's tick for one entity (use-cases/scheduled-sync.ts). */
export async function scheduledSyncHandler(event: unknown): Promise<ScheduledSyncOutput> {
  const tick = parseEvent(scheduledEvent, event, 'scheduled-sync');
  const env = workerEnv();
  return scheduledSync(tick, {
    bucket: env.bucket,
    config: env.config,
    ledger: new Ledger(env.ledgerTable),
    stateMachineArn,
    start: startExecution,
  });
}

export const handler = middy(scheduledSyncHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
