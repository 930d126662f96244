import type { Ledger } from '../adapters/ledger';
import { logger } from '../adapters/powertools';
import { headObject } from '../adapters/s3';
import type { ClaimEvent, ClaimOutput } from '../contract/plan';
import { admitRun, claimedRef, refuseDryRunCopy } from '../domain/claim';
import { type CrmSyncConfig, configHash, getEntity } from '../domain/config';
import { EntityBusyError } from '../domain/errors';
import { inboxKeyOf } from '../domain/export-folder';
import { deriveRunId, forcedRerun, LOCK_LEASE_MS, type RunRecord, type SourceRef } from '../domain/run';
import { notAnExport } from '../domain/sync';
import { exportParts } from './export-parts';

/** What ClaimRun needs of the run ledger. */
export type ClaimLedger = Pick<
  Ledger,
  'claim' | 'getRun' | 'updateRun' | 'acquireLock' | 'releaseLock' | 'recordExecution'
>;

export interface ClaimRunDeps {
  config: CrmSyncConfig;
  ledger: ClaimLedger;
}

type ClaimSource = ClaimEvent['source'];
type Claimed = Extract<ClaimOutput, { duplicate: false }>;

/**
 * ClaimRun: derives the run id from the object version and config, and claims it in the ledger.
 * A duplicate trigger ends here without the lock. Otherwise it takes the entity's run lock (one run
 * per entity at a time, so each key has one writer) — EntityBusyError while another run of the
 * entity is running, which the state machine retries with a long backoff — then claims the run with
 * a conditional put. A ClaimRun retried by the same execution finds its own claim and goes on.
 * `resume` continues a failed run; it is refused when the object or the config changed since.
 * An object that is not an export (lambdas/domain/sync.ts, notAnExport) makes no run: `ignored`.
 * A multi-file export's marker or manifest (lambdas/domain/export-folder.ts) claims the run of its
 * folder's parts: the run id is derived with their digest, which Plan checks it reads again.
 */
export async function claimRun(event: ClaimEvent, deps: ClaimRunDeps): Promise<ClaimOutput> {
  const entity = getEntity(deps.config, event.source.entity);
  const folder = await exportParts(event.source);
  const source = folder ? { ...event.source, parts: folder.digest } : event.source;
  const early = source.size != null && !folder ? ignored(source, source.size) : undefined;
  if (early) return early;
  refuseDryRunCopy(source);
  const head = await headObject({
    bucket: source.bucket,
    key: source.key,
    versionId: source.versionId ?? undefined,
  });
  const notExport = folder ? undefined : ignored(source, head.size);
  if (notExport) return notExport;
  const ref = claimedRef(source, head);
  const hash = configHash(entity);
  const claim = { ...event, source };
  if (source.dryRun) return claimDryRun(claim, deps.ledger, ref, hash, head.size);
  return claimRealRun(claim, deps.ledger, ref, hash, head.size);
}

/**
 * What `local sync` and the schedules skip (notAnExport) ends the execution here: the inbox rule
 * filters empty objects, but not names. A file a person named (`local run`, label) is Plan's to judge.
 */
function ignored(source: ClaimSource, size: number): ClaimOutput | undefined {
  const part = inboxKeyOf(source.key, source.entity)?.kind === 'part' ? 'part' : undefined;
  const reason = source.label === undefined ? (notAnExport({ key: source.key, size }) ?? part) : undefined;
  if (!reason) return undefined;
  logger.info('not an export: ignored', { key: source.key, reason });
  return { runId: null, ignored: true, reason, entity: source.entity, key: source.key };
}

/** A multi-file export's parts digest, for Plan. */
function partsOf(source: ClaimSource): { parts?: string } {
  return source.parts === undefined ? {} : { parts: source.parts };
}

/** The ledger's record of a run this execution claims. */
function runRecord(
  event: ClaimEvent,
  ref: SourceRef,
  hash: string,
  runId: string,
  extra: Partial<RunRecord>,
): RunRecord {
  return {
    runId,
    entity: event.source.entity,
    status: 'RUNNING',
    source: ref,
    configHash: hash,
    executionId: event.executionId,
    startedAt: new Date().toISOString(),
    ...extra,
  };
}

/**
 * A dry run is its own run (never a duplicate of, nor blocked by, a real one) and takes no lock:
 * it writes nothing to the target.
 */
async function claimDryRun(
  event: ClaimEvent,
  ledger: ClaimLedger,
  ref: SourceRef,
  hash: string,
  size: number,
): Promise<Claimed> {
  const { source } = event;
  const runId = deriveRunId(
    ref,
    source.entity,
    hash,
    `dry-run:${event.executionId ?? Date.now()}`,
    source.parts,
  );
  await ledger.claim(runRecord(event, ref, hash, runId, { dryRun: true }));
  if (event.executionId !== undefined) await ledger.recordExecution(event.executionId, runId);
  return {
    runId,
    duplicate: false,
    entity: source.entity,
    source: { ...ref, entity: source.entity, size, dryRun: true, ...partsOf(source) },
  };
}

/**
 * A real run: a duplicate ends without the lock; otherwise the entity's lock is taken and the run
 * claimed, continued or resumed under it (the lock is released again when that fails).
 */
async function claimRealRun(
  event: ClaimEvent,
  ledger: ClaimLedger,
  ref: SourceRef,
  hash: string,
  size: number,
): Promise<ClaimOutput> {
  const { source } = event;
  // A forced run is another run than the refused one it follows.
  const runId = deriveRunId(ref, source.entity, hash, forcedRerun(source), source.parts);
  const claimed: Claimed = {
    runId,
    duplicate: false,
    entity: source.entity,
    source: {
      ...ref,
      entity: source.entity,
      size,
      ...partsOf(source),
      ...(source.forceDeletes ? { forceDeletes: true } : {}),
      ...(source.force ? { force: true } : {}),
    },
  };
  const duplicate = (existingStatus: string): ClaimOutput => {
    logger.info('duplicate trigger', { runId, existingStatus });
    return { runId, duplicate: true, existingStatus, entity: source.entity };
  };

  const existing = await ledger.getRun(runId);
  const admission = admitRun({ source, runId, existing, executionId: event.executionId });
  if (admission.kind === 'duplicate') return duplicate(admission.status);

  await takeLock(ledger, source.entity, runId);
  try {
    if (admission.kind === 'resume') {
      if (admission.reopen) {
        // The error of the attempt before is no longer the run's (Reconcile records how it ends).
        await ledger.updateRun(
          runId,
          { status: 'RUNNING', executionId: event.executionId, resumes: (existing?.resumes ?? 0) + 1 },
          ['error', 'cause', 'finishedAt'],
        );
      }
      logger.info('run resumed', { runId });
    } else if (admission.kind === 'claim') {
      // The token the id was derived with (a forced run's `force`), and the forcing itself: a resume
      // finds the same run with them, and is forced as the run was.
      const claim = await ledger.claim(
        runRecord(event, ref, hash, runId, {
          rerun: forcedRerun(source),
          ...(source.force ? { force: true } : {}),
          ...(source.forceDeletes ? { forceDeletes: true } : {}),
        }),
      );
      if (!claim.claimed && claim.existing.executionId !== event.executionId) {
        // A concurrent trigger of the same object claimed it first: the lock is that run's (the same
        // run id), so it stays.
        return duplicate(claim.existing.status);
      }
    }
    // The recorder of the execution's status changes finds the run from the execution's ARN.
    if (event.executionId !== undefined) await ledger.recordExecution(event.executionId, runId);
    return claimed;
  } catch (err) {
    await ledger.releaseLock(source.entity, runId);
    throw err;
  }
}

/** The entity's run lock (one run per entity at a time); EntityBusyError while another run holds it. */
async function takeLock(ledger: ClaimLedger, entity: string, runId: string): Promise<void> {
  const lock = await ledger.acquireLock(entity, runId, LOCK_LEASE_MS);
  if (!lock.acquired) {
    throw new EntityBusyError(
      `entity "${entity}" is busy: run ${lock.holder} (since ${lock.since}) is still running; run ${runId} waits`,
    );
  }
}
