import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { batchGet } from '../adapters/dynamodb';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { putJson, putObject, putStream, readJson, readTextIfExists } from '../adapters/s3';
import { csvCell } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { DUPLICATES_SHOWN, RejectSampler, renderReport } from '../domain/html-report';
import { storedContentDigest } from '../domain/merge';
import { type ReferenceCheck, ReferenceCollector } from '../domain/references';
import { type Check, type RunSummary, rejectsHeader, rejectsRow, topReasons } from '../domain/report';
import {
  accountingGap,
  type ChunkResult,
  type Counts,
  type MergedLine,
  type PartitionResult,
  type WorkerJob,
  workKeys,
} from '../domain/run';
import { parseEvent, targetTable, workerEnv } from './env';
import type { PlanOutput } from './plan';

const mapOutput = z.object({ ResultWriterDetails: z.object({ Bucket: z.string(), Key: z.string() }) });
const eventSchema = z.object({
  runId: z.string(),
  plan: z.looseObject({
    job: z.looseObject({}),
    chunks: z.number(),
    partitions: z.number(),
    rows: z.number(),
  }),
  transform: mapOutput,
  merge: mapOutput,
});

interface ResultManifest {
  ResultFiles?: { SUCCEEDED?: Array<{ Key: string }>; FAILED?: Array<{ Key: string }> };
}
interface ChildResult {
  Status?: string;
  Output?: string;
  Error?: string;
  Cause?: string;
}

/** Reads a Distributed Map's ResultWriter output: the children's outputs and the failures. */
async function readMapResults<T>(
  bucket: string,
  manifestKey: string,
): Promise<{ outputs: T[]; failures: string[] }> {
  const manifest = await readJson<ResultManifest>({ bucket, key: manifestKey });
  const outputs: T[] = [];
  const failures: string[] = [];
  for (const f of manifest.ResultFiles?.SUCCEEDED ?? []) {
    for (const r of await readJson<ChildResult[]>({ bucket, key: f.Key })) {
      if (r.Output) outputs.push(JSON.parse(r.Output) as T);
    }
  }
  for (const f of manifest.ResultFiles?.FAILED ?? []) {
    for (const r of await readJson<ChildResult[]>({ bucket, key: f.Key }))
      failures.push(`${r.Error}: ${r.Cause}`);
  }
  return { outputs, failures };
}

/** A JSONL reject keeps its line as one `record` cell; a CSV reject its cells under the file's header. */
function rejectColumns(job: WorkerJob): { columns: string[]; delimiter: string | undefined } {
  return job.format === 'jsonl'
    ? { columns: ['record'], delimiter: undefined }
    : { columns: job.columns, delimiter: job.delimiter };
}

/** rejects.csv, streamed chunk by chunk; `sampler` keeps a few lines per reason for report.html. */
async function* rejectsCsv(
  bucket: string,
  job: WorkerJob,
  chunks: number,
  sampler: RejectSampler,
): AsyncGenerator<Buffer> {
  const { columns, delimiter } = rejectColumns(job);
  yield Buffer.from(rejectsHeader(columns));
  for (let c = 0; c < chunks; c++) {
    const text = await readTextIfExists({ bucket, key: workKeys.rejects(job.workPrefix, c) });
    const rows: string[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const reject = JSON.parse(line) as { line: number; reasons: string[]; raw: string };
      sampler.add(reject);
      rows.push(rejectsRow(reject, columns, delimiter));
    }
    if (rows.length > 0) yield Buffer.from(rows.join(''));
  }
}

/** diff.csv of a dry run: what the run would do per key (create, update, delete, unchanged, superseded). */
async function* diffCsv(bucket: string, job: WorkerJob, partitions: number): AsyncGenerator<Buffer> {
  yield Buffer.from('key,action,line\r\n');
  for (let p = 0; p < partitions; p++) {
    const text = await readTextIfExists({ bucket, key: workKeys.merged(job.workPrefix, p) });
    const rows: string[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const m = JSON.parse(line) as MergedLine;
      const action = m.o === 'put' ? (m.n ? 'create' : 'update') : m.o;
      rows.push(`${[m.k, action, String(m.l ?? '')].map(csvCell).join(',')}\r\n`);
    }
    if (rows.length > 0) yield Buffer.from(rows.join(''));
  }
}

/**
 * Reconcile: sums the chunk and partition counts, checks that every planned row is accounted for
 * exactly once, verifies the target's content against every winner (by digest), and writes the
 * run's reports. Returns the summary; `reconciliation.status` decides the execution's outcome.
 */
export async function reconcileRun(event: z.infer<typeof eventSchema>): Promise<RunSummary> {
  const env = workerEnv();
  const plan = event.plan as unknown as PlanOutput;
  const job = plan.job;
  const entity = getEntity(env.config, job.entity);
  const table = targetTable(env, job.entity);
  const ledger = new Ledger(env.ledgerTable);
  const run = await ledger.getRun(event.runId);

  const transform = await readMapResults<{ chunks: ChunkResult[] }>(
    event.transform.ResultWriterDetails.Bucket,
    event.transform.ResultWriterDetails.Key,
  );
  const merge = await readMapResults<{ partitions: PartitionResult[] }>(
    event.merge.ResultWriterDetails.Bucket,
    event.merge.ResultWriterDetails.Key,
  );
  const chunks = transform.outputs.flatMap((o) => o.chunks);
  const partitions = merge.outputs.flatMap((o) => o.partitions);

  const counts: Counts = { rows: 0, applied: 0, unchanged: 0, superseded: 0, deleted: 0, rejected: 0 };
  const reasons: Record<string, number> = {};
  let chunkCandidates = 0;
  for (const c of chunks) {
    counts.rows += c.rows;
    counts.rejected += c.rejected;
    counts.superseded += c.superseded;
    chunkCandidates += c.candidates;
    for (const [r, n] of Object.entries(c.topReasons)) reasons[r] = (reasons[r] ?? 0) + n;
  }
  let partitionCandidates = 0;
  let duplicateKeys = 0;
  for (const p of partitions) {
    counts.applied += p.applied;
    counts.unchanged += p.unchanged;
    counts.superseded += p.superseded;
    counts.deleted += p.deleted;
    partitionCandidates += p.candidates;
    duplicateKeys += p.duplicateKeys;
  }

  const checks: Check[] = [];
  const chunkIds = new Set(chunks.map((c) => c.index));
  const partIds = new Set(partitions.map((p) => p.partition));
  checks.push({
    name: 'all-chunks',
    ok: chunkIds.size === plan.chunks && chunks.length === plan.chunks && transform.failures.length === 0,
    detail: `${chunkIds.size} of ${plan.chunks} chunks reported${transform.failures.length ? `; failed: ${transform.failures.slice(0, 5).join(' | ')}` : ''}`,
  });
  checks.push({
    name: 'all-partitions',
    ok:
      partIds.size === plan.partitions &&
      partitions.length === plan.partitions &&
      merge.failures.length === 0,
    detail: `${partIds.size} of ${plan.partitions} partitions reported${merge.failures.length ? `; failed: ${merge.failures.slice(0, 5).join(' | ')}` : ''}`,
  });
  checks.push({
    name: 'rows-read',
    ok: counts.rows === plan.rows,
    detail: `plan counted ${plan.rows} rows, workers read ${counts.rows}`,
  });
  checks.push({
    name: 'candidates-merged',
    ok: chunkCandidates === partitionCandidates,
    detail: `${chunkCandidates} chunk winners handed over, ${partitionCandidates} merged`,
  });
  const gap = accountingGap(counts);
  checks.push({
    name: 'accounting',
    ok: gap === 0,
    detail: `rows ${counts.rows} = applied ${counts.applied} + unchanged ${counts.unchanged} + superseded ${counts.superseded} + deleted ${counts.deleted} + rejected ${counts.rejected}${gap ? ` (gap ${gap})` : ''}`,
  });

  // Content: every final decision is checked against the target by digest.
  const mismatched: Array<{ key: string; problem: string }> = [];
  let mismatchedCount = 0;
  let verified = 0;
  const references = new ReferenceCollector(entity.references);
  // A dry run wrote nothing: there is nothing to verify, its merged decisions are the report.
  for (let p = 0; p < (job.dryRun ? 0 : plan.partitions); p++) {
    const text = await readTextIfExists({ bucket: env.bucket, key: workKeys.merged(job.workPrefix, p) });
    const lines = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as MergedLine);
    const stored = await batchGet(
      table,
      entity.target.key,
      lines.map((l) => l.k),
    );
    for (const l of lines) {
      verified++;
      const got = stored.get(l.k);
      if (got) references.add(l.k, got);
      let problem: string | undefined;
      if (l.o === 'superseded') {
        if (l.h === null) {
          if (got) problem = 'present: a newer delete should keep it out';
        } else if (!got) problem = 'missing: a newer stored item was expected';
      } else if (l.h === null) {
        if (got) problem = 'present: the item should have been deleted';
      } else if (!got) {
        problem = 'missing';
      } else if (storedContentDigest(got) !== l.h) {
        problem = 'content differs from the source row';
      }
      if (problem) {
        mismatchedCount++;
        if (mismatched.length < 100) mismatched.push({ key: l.k, problem });
      }
    }
  }
  checks.push({
    name: 'content',
    ok: mismatchedCount === 0,
    detail: job.dryRun
      ? 'dry run: nothing was written, the decisions are in diff.csv'
      : `${verified} keys verified against the target, ${mismatchedCount} differ`,
  });

  const reportPrefix = `reports/${event.runId}/`;
  const reports: RunSummary['reports'] = { summary: `${reportPrefix}summary.json` };

  // References: the parents the run's items point at must exist (a report, not a failed run:
  // parents may arrive in a later run).
  const referenceChecks: ReferenceCheck[] = [];
  const orphanRows: string[] = [];
  for (const { field, entity: parent, values } of references.fields()) {
    const parentEntity = getEntity(env.config, parent);
    const found = await batchGet(targetTable(env, parent), parentEntity.target.key, values, {
      projection: [parentEntity.target.key],
    });
    const { check, missing } = references.result(field, new Set(found.keys()));
    referenceChecks.push(check);
    for (const m of missing) {
      orphanRows.push(
        `${[field, parent, m.value, String(m.children), m.keys.join(' ')].map(csvCell).join(',')}\r\n`,
      );
    }
  }
  if (orphanRows.length > 0) {
    reports.orphans = `${reportPrefix}orphans.csv`;
    await putObject(
      env.bucket,
      reports.orphans,
      `field,entity,missing value,items,sample keys\r\n${orphanRows.join('')}`,
      'text/csv; charset=utf-8',
    );
  }
  const { columns: rejectCols, delimiter: rejectDelimiter } = rejectColumns(job);
  const sampler = new RejectSampler(rejectCols, rejectDelimiter);
  if (counts.rejected > 0) {
    reports.rejects = `${reportPrefix}rejects.csv`;
    await putStream(
      env.bucket,
      reports.rejects,
      rejectsCsv(env.bucket, job, plan.chunks, sampler),
      'text/csv; charset=utf-8',
    );
  }
  const duplicateSample: Array<{ key: string; lines: number[]; winner: number }> = [];
  if (duplicateKeys > 0) {
    reports.duplicates = `${reportPrefix}duplicates.csv`;
    const body = async function* () {
      yield Buffer.from('key,lines,winner\r\n');
      for (let p = 0; p < plan.partitions; p++) {
        const dupes = await readTextIfExists({
          bucket: env.bucket,
          key: workKeys.duplicates(job.workPrefix, p),
        });
        const rows = dupes
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const d = JSON.parse(l) as { key: string; lines: number[]; winner: number };
            if (duplicateSample.length < DUPLICATES_SHOWN) duplicateSample.push(d);
            return `${[d.key, d.lines.join(' '), String(d.winner)].map(csvCell).join(',')}\r\n`;
          });
        if (rows.length) yield Buffer.from(rows.join(''));
      }
    };
    await putStream(env.bucket, reports.duplicates, body(), 'text/csv; charset=utf-8');
  }

  if (job.dryRun) {
    reports.diff = `${reportPrefix}diff.csv`;
    await putStream(
      env.bucket,
      reports.diff,
      diffCsv(env.bucket, job, plan.partitions),
      'text/csv; charset=utf-8',
    );
  }

  reports.html = `${reportPrefix}report.html`;
  const ok = checks.every((c) => c.ok);
  const finishedAt = new Date().toISOString();
  const startedAt = run?.startedAt ?? finishedAt;
  const summary: RunSummary = {
    runId: event.runId,
    entity: job.entity,
    status: ok ? 'SUCCEEDED' : 'FAILED',
    source: run?.source ?? { bucket: job.data.bucket, key: job.data.key },
    counts,
    duplicateKeys,
    chunks: plan.chunks,
    partitions: plan.partitions,
    topReasons: topReasons(reasons),
    ...(job.dryRun ? { dryRun: true } : {}),
    ...(referenceChecks.length > 0 ? { references: referenceChecks } : {}),
    reconciliation: {
      status: ok ? 'MATCHED' : 'MISMATCHED',
      checks,
      verifiedKeys: verified,
      mismatchedKeys: mismatched,
      mismatchedKeyCount: mismatchedCount,
    },
    reports,
    startedAt,
    finishedAt,
    durationMs: Date.parse(finishedAt) - Date.parse(startedAt),
  };
  const html = renderReport({
    summary,
    rejectSamples: sampler.samples(),
    duplicates: duplicateSample,
    chunks: chunks.map((c) => ({
      id: c.index,
      rows: c.rows,
      rejected: c.rejected,
      durationMs: c.durationMs,
    })),
    partitions: partitions.map((p) => ({
      id: p.partition,
      rows: p.candidates,
      applied: p.applied,
      durationMs: p.durationMs,
    })),
  });
  await putObject(env.bucket, reports.html, html, 'text/html; charset=utf-8');
  await putJson(env.bucket, reports.summary, summary);
  await ledger.updateRun(event.runId, {
    status: ok ? 'SUCCEEDED' : 'MISMATCHED',
    counts,
    finishedAt,
    ...(ok
      ? {}
      : {
          error: 'ReconciliationMismatch',
          cause: checks
            .filter((c) => !c.ok)
            .map((c) => c.detail)
            .join('; '),
        }),
  });
  // The run is over either way: the next run of the entity may start.
  await ledger.releaseLock(job.entity, event.runId);
  logger.info('reconciled', { runId: event.runId, status: summary.reconciliation.status, ...counts });
  return summary;
}

export async function reconcileHandler(event: unknown): Promise<RunSummary> {
  const data = parseEvent(eventSchema, event, 'reconcile');
  return reconcileRun(data);
}

export const handler = middy(reconcileHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
