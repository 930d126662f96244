import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { Ledger } from '../adapters/ledger';
import { readMapResults } from '../adapters/map-results';
import { logger, tracer } from '../adapters/powertools';
import { planSummarySchema } from '../contract/plan';
import { mapOutputSchema, workerOutputSchemas } from '../contract/results';
import type { Reject } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { EmptyExportError, RejectLimitError } from '../domain/errors';
import { decideRejects, type RejectDecision, sumRejectCounts } from '../domain/rejects';
import { rejectsHeader, rejectsRow } from '../domain/report';
import { workKeys } from '../domain/run';
import { parseEvent, workerEnv } from './env';
import { jsonRows, putCsvReport, rejectColumns } from './reconcile';

const eventSchema = z.object({
  runId: z.string().min(1),
  plan: planSummarySchema,
  transform: mapOutputSchema,
});

/**
 * CheckRejects (after TransformChunks, before anything is written to the target): adds up the
 * chunks' rows and rejects and refuses the run when too many rows were rejected (RejectLimitError:
 * every row, or more than `maxRejectRatio`) or when the file has no data row (EmptyExportError,
 * unless `allowEmptyExport`), unless the run is forced. A refused run gets its rejects.csv here and
 * the decision in the ledger, for its failure report. A dry run is never refused: Reconcile reports
 * what a run would do.
 */
export async function checkRejects(event: z.infer<typeof eventSchema>): Promise<RejectDecision> {
  const env = workerEnv();
  const job = event.plan.job;
  const entity = getEntity(env.config, job.entity);
  const transform = await readMapResults(
    event.transform.ResultWriterDetails.Bucket,
    event.transform.ResultWriterDetails.Key,
    workerOutputSchemas.transform,
  );
  const decision = decideRejects(sumRejectCounts(transform.outputs.flatMap((o) => o.chunks)), {
    maxRejectRatio: entity.maxRejectRatio,
    allowEmptyExport: entity.allowEmptyExport,
    force: job.force === true,
  });
  logger.info('rejects checked', {
    runId: event.runId,
    rows: decision.rows,
    rejected: decision.rejected,
    allowed: decision.allowed,
  });
  if (decision.allowed || job.dryRun) return decision;

  const reports: { rejects?: string } = {};
  if (decision.rejected > 0) {
    reports.rejects = `reports/${event.runId}/rejects.csv`;
    const { columns, delimiter } = rejectColumns(job);
    await putCsvReport(
      env.bucket,
      reports.rejects,
      Array.from({ length: event.plan.chunks }, (_, c) => c),
      rejectsHeader(columns),
      (c) => workKeys.rejects(job.workPrefix, c),
      jsonRows<Reject>((r) => rejectsRow(r, columns, delimiter)),
    );
  }
  // The ledger keeps the decision so the failure report can show it.
  await new Ledger(env.ledgerTable).updateRun(event.runId, { rejects: decision });
  const message = decision.reason ?? 'too many rows rejected';
  throw decision.error === 'EmptyExportError' ? new EmptyExportError(message) : new RejectLimitError(message);
}

export async function checkRejectsHandler(event: unknown): Promise<RejectDecision> {
  return checkRejects(parseEvent(eventSchema, event, 'check-rejects'));
}

export const handler = middy(checkRejectsHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
