import type { Ledger } from '../adapters/ledger';
import { readMapOutput } from '../adapters/map-results';
import { logger } from '../adapters/powertools';
import { putRejectsReport } from '../adapters/reports';
import type { CheckRejectsEvent } from '../contract/checks';
import { workerOutputSchemas } from '../contract/results';
import { type CrmSyncConfig, getEntity } from '../domain/config';
import { EmptyExportError, RejectLimitError } from '../domain/errors';
import { decideRejects, type RejectDecision, sumRejectCounts } from '../domain/rejects';

/** What the gates before any write use (CheckRejects, CheckMirrorDeletes). */
export interface GateDeps {
  bucket: string;
  config: CrmSyncConfig;
  ledger: Pick<Ledger, 'updateRun'>;
}

/**
 * CheckRejects (after TransformChunks, before anything is written to the target): adds up the
 * chunks' rows and rejects and refuses the run when too many rows were rejected (RejectLimitError:
 * every row, or more than `maxRejectRatio`) or when the file has no data row (EmptyExportError,
 * unless `allowEmptyExport`), unless the run is forced. A refused run gets its rejects.csv here and
 * the decision in the ledger, for its failure report. A dry run is never refused: Reconcile reports
 * what a run would do.
 */
export async function checkRejects(event: CheckRejectsEvent, deps: GateDeps): Promise<RejectDecision> {
  const job = event.plan.job;
  const entity = getEntity(deps.config, job.entity);
  const transform = await readMapOutput(event.transform, workerOutputSchemas.transform);
  const decision = decideRejects(sumRejectCounts(transform.outputs.flatMap((o) => o.chunks)), {
    maxRejectRatio: entity.maxRejectRatio,
    allowEmptyExport: entity.allowEmptyExport,
    force: job.force === true,
    files: job.files,
  });
  logger.info('rejects checked', {
    runId: event.runId,
    rows: decision.rows,
    rejected: decision.rejected,
    allowed: decision.allowed,
  });
  if (decision.allowed || job.dryRun) return decision;

  if (decision.rejected > 0) {
    await putRejectsReport(deps.bucket, `reports/${event.runId}/rejects.csv`, job, event.plan.chunks);
  }
  // The ledger keeps the decision so the failure report can show it.
  await deps.ledger.updateRun(event.runId, { rejects: decision });
  const message = decision.reason ?? 'too many rows rejected';
  throw decision.error === 'EmptyExportError' ? new EmptyExportError(message) : new RejectLimitError(message);
}
