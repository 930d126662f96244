import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { batchGet } from '../adapters/dynamodb';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { putJson, putStream, readJson, readTextIfExists } from '../adapters/s3';
import { csvCell, META } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { storedContentDigest } from '../domain/merge';
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

async function* rejectsCsv(bucket: string, job: WorkerJob, chunks: number): AsyncGenerator<Buffer> {
  // A JSONL reject keeps its line as one `record` cell; a CSV reject its cells under the file's header.
  const jsonl = job.format === 'jsonl';
  const columns = jsonl ? ['record'] : job.columns;
  yield Buffer.from(rejectsHeader(columns));
  for (let c = 0; c < chunks; c++) {
    const text = await readTextIfExists({ bucket, key: workKeys.rejects(job.workPrefix, c) });
    const rows: string[] = [];
    for (const line of text.split('\n')) {
      if (line) rows.push(rejectsRow(JSON.parse(line), columns, jsonl ? undefined : job.delimiter));
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
      {},
    );
    for (const l of lines) {
      verified++;
      const got = stored.get(l.k);
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
  if (counts.rejected > 0) {
    reports.rejects = `${reportPrefix}rejects.csv`;
    await putStream(
      env.bucket,
      reports.rejects,
      rejectsCsv(env.bucket, job, plan.chunks),
      'text/csv; charset=utf-8',
    );
  }
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
