import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { listInbox } from '../adapters/inbox';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { startExecution } from '../adapters/sfn';
import { configHash, getEntity } from '../domain/config';
import { ConfigError } from '../domain/errors';
import { pickExport, scheduledExecutionName } from '../domain/sync';
import { parseEvent, workerEnv } from './env';

/** What the entity's EventBridge Scheduler schedule sends (lib/sync-schedules.ts). */
const scheduledEvent = z.object({
  entity: z.string().min(1),
  /** `<aws.scheduler.scheduled-time>`: the same for every delivery of one tick. */
  scheduledTime: z.iso.datetime({ offset: true }).optional(),
});

export interface ScheduledSyncOutput {
  entity: string;
  /**
   * `started`: an execution was started for the newest export; `already-started`: this tick had
   * started it already (a duplicate delivery); `up-to-date`: the newest export already ran;
   * `empty`: the inbox holds no export.
   */
  action: 'started' | 'already-started' | 'up-to-date' | 'empty';
  key: string | null;
  runId: string | null;
  executionArn: string | null;
  /** Older exports of the inbox, which a sync never runs. */
  older: number;
  /** Objects of the inbox that are not exports (folder markers, empty, hidden files). */
  skipped: number;
}

/** The ARN of the run state machine (set by the stack). */
function stateMachineArn(): string {
  const arn = process.env.CRM_SYNC_STATE_MACHINE_ARN;
  if (!arn) throw new ConfigError('environment variable CRM_SYNC_STATE_MACHINE_ARN is not set');
  return arn;
}

/**
 * A schedule's tick for one entity: lists `inbox/<entity>/` (the latest version of each key), picks
 * the newest export, asks the ledger whether its run id ran, and if not starts the run state machine
 * with the input the S3 inbox rule sends, so ClaimRun and Plan see no difference. The execution is
 * named by the run id and the tick, so a tick delivered twice starts one execution; two triggers of
 * the same object (this and the inbox rule) are made one run by ClaimRun's claim.
 */
export async function scheduledSyncHandler(event: unknown): Promise<ScheduledSyncOutput> {
  const { entity: name, scheduledTime } = parseEvent(scheduledEvent, event, 'scheduled-sync');
  const env = workerEnv();
  const entity = getEntity(env.config, name);
  const ledger = new Ledger(env.ledgerTable);
  const objects = await listInbox(env.bucket, `inbox/${name}/`, { versions: true });
  const pick = await pickExport(
    objects,
    { bucket: env.bucket, entity: name, configHash: configHash(entity) },
    async (runId) => (await ledger.getRun(runId)) !== undefined,
  );
  const base = {
    entity: name,
    key: pick.object?.key ?? null,
    runId: pick.runId,
    executionArn: null,
    older: pick.older,
    skipped: pick.skipped,
  };
  if (pick.action !== 'run') {
    logger.info(pick.action === 'empty' ? 'no export in the inbox' : 'up to date', base);
    return { ...base, action: pick.action };
  }
  const { object, runId } = pick;
  const input = {
    bucket: env.bucket,
    key: object.key,
    versionId: object.versionId ?? null,
    etag: object.etag ?? null,
    size: object.size,
    entity: name,
  };
  const tick = scheduledTime ? new Date(scheduledTime) : new Date();
  const started = await startExecution(stateMachineArn(), scheduledExecutionName(runId, tick), input);
  const out: ScheduledSyncOutput = {
    ...base,
    action: started.started ? 'started' : 'already-started',
    executionArn: started.executionArn,
  };
  logger.info(started.started ? 'run started' : 'run already started by this tick', { ...out });
  return out;
}

export const handler = middy(scheduledSyncHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
