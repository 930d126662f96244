import { readMapOutput } from '../adapters/map-results';
import { logger } from '../adapters/powertools';
import { putCsvReport, putMirrorDecision } from '../adapters/reports';
import type { CheckDeletesEvent } from '../contract/checks';
import { workerOutputSchemas } from '../contract/results';
import { csvCell } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { MirrorDeleteLimitError } from '../domain/errors';
import { decideMirrorDeletes, type MirrorDecision, parseKeyLines } from '../domain/mirror';
import { CSV_REPORTS, MIRROR_REPORT } from '../domain/reconcile';
import { workKeys } from '../domain/run';
import type { GateDeps } from './check-rejects';

/**
 * CheckMirrorDeletes (mirror mode, before anything is written): adds up the target's items and the
 * delete candidates of every partition, lists the candidates in `mirror-deletes.csv`, and refuses the
 * run (MirrorDeleteLimitError) when they are too large a share of the target, unless forced. A dry
 * run is never refused: it reports what the run would do.
 */
export async function checkMirrorDeletes(event: CheckDeletesEvent, deps: GateDeps): Promise<MirrorDecision> {
  const job = event.plan.job;
  const entity = getEntity(deps.config, job.entity);
  const [transform, scan, plans] = await Promise.all([
    readMapOutput(event.transform, workerOutputSchemas.transform),
    readMapOutput(event.scan, workerOutputSchemas.mirrorScan),
    readMapOutput(event.candidates, workerOutputSchemas.mirrorPlan),
  ]);
  const failures = [...scan.failures, ...plans.failures];
  if (failures.length > 0) throw new Error(`mirror planning failed: ${failures.slice(0, 5).join(' | ')}`);
  const segments = scan.outputs.flatMap((o) => o.segments);
  const partitions = plans.outputs.flatMap((o) => o.partitions);
  const decision = decideMirrorDeletes(
    {
      targetItems: segments.reduce((n, s) => n + s.items, 0),
      candidates: partitions.reduce((n, p) => n + p.candidates, 0),
      unkeyedRejects: transform.outputs
        .flatMap((o) => o.chunks)
        .reduce((n, c) => n + (c.unkeyedRejects ?? 0), 0),
    },
    { maxDeleteRatio: entity.maxDeleteRatio, force: job.forceDeletes === true },
  );
  if (decision.candidates > 0) {
    await putCsvReport(
      deps.bucket,
      `reports/${event.runId}/${MIRROR_REPORT}`,
      partitions.filter((p) => p.candidates > 0).map((p) => p.partition),
      CSV_REPORTS.mirrorDeletes.header,
      (p) => workKeys.mirror(job.workPrefix, p),
      (text) =>
        parseKeyLines(text)
          .map((k) => `${csvCell(k)}\r\n`)
          .join(''),
    );
  }
  await putMirrorDecision(deps.bucket, job.workPrefix, decision);
  logger.info('mirror deletes checked', { runId: event.runId, ...decision });
  if (!decision.allowed && !job.dryRun) {
    // The ledger keeps the decision so the failure report can show it.
    await deps.ledger.updateRun(event.runId, { mirror: decision });
    throw new MirrorDeleteLimitError(decision.reason ?? 'mirror deletes refused');
  }
  return decision;
}
