import { listInbox } from '../adapters/inbox';
import type { Ledger } from '../adapters/ledger';
import { logger } from '../adapters/powertools';
import { readText } from '../adapters/s3';
import type { startExecution } from '../adapters/sfn';
import { type CrmSyncConfig, configHash, getEntity } from '../domain/config';
import { pickExport, scheduledExecutionName } from '../domain/sync';

/** A schedule's tick: the entity, and `<aws.scheduler.scheduled-time>` (the same for every delivery). */
export interface ScheduledTick {
  entity: string;
  scheduledTime?: string | undefined;
}

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
  /** Export folders with neither `_SUCCESS` nor `manifest.json`: not complete, not run. */
  incomplete: string[];
}

export interface ScheduledSyncDeps {
  bucket: string;
  config: CrmSyncConfig;
  ledger: Pick<Ledger, 'getRun'>;
  /** The ARN of the run state machine (asked only when a run is started). */
  stateMachineArn: () => string;
  start: typeof startExecution;
}

/**
 * A schedule's tick for one entity: lists `inbox/<entity>/` (the latest version of each key), picks
 * the newest export (a file, or a completed export folder, dated by its marker), asks the ledger whether its run id ran, and if not starts the run state machine
 * with the input the S3 inbox rule sends, so ClaimRun and Plan see no difference. The execution is
 * named by the run id and the tick, so a tick delivered twice starts one execution; two triggers of
 * the same object (this and the inbox rule) are made one run by ClaimRun's claim.
 */
export async function scheduledSync(
  tick: ScheduledTick,
  deps: ScheduledSyncDeps,
): Promise<ScheduledSyncOutput> {
  const { entity: name, scheduledTime } = tick;
  const entity = getEntity(deps.config, name);
  const objects = await listInbox(deps.bucket, `inbox/${name}/`, { versions: true });
  const pick = await pickExport(
    objects,
    { bucket: deps.bucket, entity: name, configHash: configHash(entity) },
    async (runId) => (await deps.ledger.getRun(runId)) !== undefined,
    (o) => readText({ bucket: deps.bucket, key: o.key, versionId: o.versionId }),
  );
  const base = {
    entity: name,
    key: pick.object?.key ?? null,
    runId: pick.runId,
    executionArn: null,
    older: pick.older,
    skipped: pick.skipped,
    incomplete: pick.incomplete,
  };
  if (pick.incomplete.length > 0) {
    logger.info('export folders without _SUCCESS or manifest.json: not complete, not run', {
      entity: name,
      incomplete: pick.incomplete,
    });
  }
  if (pick.action !== 'run') {
    logger.info(pick.action === 'empty' ? 'no export in the inbox' : 'up to date', base);
    return { ...base, action: pick.action };
  }
  const { object, runId } = pick;
  const input = {
    bucket: deps.bucket,
    key: object.key,
    versionId: object.versionId ?? null,
    etag: object.etag ?? null,
    size: object.size,
    entity: name,
  };
  const at = scheduledTime ? new Date(scheduledTime) : new Date();
  const started = await deps.start(deps.stateMachineArn(), scheduledExecutionName(runId, at), input);
  const out: ScheduledSyncOutput = {
    ...base,
    action: started.started ? 'started' : 'already-started',
    executionArn: started.executionArn,
  };
  logger.info(started.started ? 'run started' : 'run already started by this tick', { ...out });
  return out;
}
