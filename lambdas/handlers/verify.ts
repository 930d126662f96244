import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { batchGet, scanSegment } from '../adapters/dynamodb';
import { logger, tracer } from '../adapters/powertools';
import { putObject, readTextIfExists } from '../adapters/s3';
import { partitionItemSchema, workerBatchSchema } from '../contract/job';
import { csvCell, META } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { SetDigest } from '../domain/hash';
import { storedContentDigest } from '../domain/merge';
import { canBeKey, type ReferenceCheck, ReferenceCollector } from '../domain/references';
import { type MergedLine, type WorkerJob, workKeys } from '../domain/run';
import {
  decisionProblem,
  inSample,
  type Mismatch,
  PROBLEMS_RETURNED,
  provenanceProblem,
  sampleRate,
  type VerifyResult,
  verifyMode,
  writtenEntry,
} from '../domain/verify';
import { parseEvent, targetTable, workerEnv } from './env';

const eventSchema = workerBatchSchema(
  {
    /** Data rows of the run (the plan's count): the sample rate is computed from it. */
    rows: z.number().int().min(0),
    /** The second pass of a full verification: every decision read back by key. */
    byKey: z.boolean().optional(),
  },
  partitionItemSchema,
).refine(
  (e) => e.Items.every((i) => i.partition < (e.BatchInput.job.scanSegments ?? e.BatchInput.job.partitions)),
  {
    message: 'every item must be a scan segment of the job (below scanSegments, or partitions)',
    path: ['Items'],
  },
);

/**
 * Verify worker `partition` of a run (one per table scan segment: `job.scanSegments`, at least as
 * many as partitions), so verification fans out with the table and the merge:
 * - in `full` mode, segment `partition` of a parallel scan of the table in `job.scanSegments`
 *   segments (sized by Plan so that one worker scans its segment in time): every item must carry crm-sync's provenance (run, content digest) and still match
 *   it. The items the scan finds written by this run are digested (key and content digest, a set
 *   digest): Reconcile compares the segments' sum with the sum of the partitions' puts, which proves
 *   every put without reading its key again. Only when the two differ does a second pass (`byKey`)
 *   read every decision back to name the keys;
 * - every other decision of the partition (all of them by key in the second pass, a sample of them
 *   in `sample` mode) against what the table holds now;
 * - the reference fields of the partition's items against their parent tables.
 * Every problem goes to `mismatches/p<n>.jsonl`, every orphan to `orphans/p<n>.csv`; the result
 * carries counts and the first few of each.
 */
export async function verifyPartition(
  job: WorkerJob,
  partition: number,
  rows: number,
  byKey = false,
): Promise<VerifyResult> {
  const started = Date.now();
  const env = workerEnv();
  const entity = getEntity(env.config, job.entity);
  const table = targetTable(env, job.entity);
  const mode = verifyMode(job.verify ?? entity.verify);
  const rate = sampleRate(mode, rows);
  const problems: Mismatch[] = [];
  const references = new ReferenceCollector(entity.references);

  // Workers beyond the partition count scan their segment only: no partition has their number.
  const text =
    partition < job.partitions
      ? await readTextIfExists({ bucket: env.bucket, key: workKeys.merged(job.workPrefix, partition) })
      : '';
  // Full mode proves the run's puts by digest (first pass); the rest is read back by key.
  const byDigest = mode.mode === 'full' && !byKey;
  const expected = new SetDigest();
  const lines: MergedLine[] = [];
  let decisions = 0;
  for (const l of text.split('\n')) {
    if (!l) continue;
    decisions++;
    const m = JSON.parse(l) as MergedLine;
    if (byDigest && m.o === 'put' && typeof m.h === 'string') expected.add(writtenEntry(m.k, m.h));
    else if (inSample(m.k, rate)) lines.push(m);
  }
  // The decisions' reads and the table scan are independent: they run at the same time.
  const tableProblems: Mismatch[] = [];
  const found = new SetDigest();
  let scanned = 0;
  const scan = async () => {
    if (mode.mode !== 'full') return;
    // Strongly consistent: the scan proves the run's puts, so a stale page must not show an item
    // as the run wrote it after someone changed it.
    const segments = job.scanSegments ?? job.partitions;
    for await (const page of scanSegment(table, partition, segments, { consistent: true })) {
      for (const item of page) {
        scanned++;
        const key = String(item[entity.target.key]);
        const content = storedContentDigest(item);
        const problem = provenanceProblem(item, content);
        if (problem) tableProblems.push({ key, problem, scope: 'table' });
        if (byDigest && item[META.run] === job.runId) {
          found.add(writtenEntry(key, content));
          references.add(key, item);
        }
      }
    }
  };
  const [stored] = await Promise.all([
    batchGet(
      table,
      entity.target.key,
      lines.map((l) => l.k),
    ),
    scan(),
  ]);
  for (const l of lines) {
    const got = stored.get(l.k);
    if (got) references.add(l.k, got);
    const problem = decisionProblem(l, got);
    if (problem) problems.push({ key: l.k, problem, scope: l.o === 'mirror' ? 'mirror' : 'run' });
  }
  problems.push(...tableProblems);

  const checks: ReferenceCheck[] = [];
  const orphanRows: string[] = [];
  for (const { field, entity: parent, values } of references.fields()) {
    const parentEntity = getEntity(env.config, parent);
    const found = await batchGet(targetTable(env, parent), parentEntity.target.key, values.filter(canBeKey), {
      projection: [parentEntity.target.key],
    });
    const { check, missing } = references.result(field, new Set(found.keys()));
    checks.push(check);
    for (const m of missing) {
      orphanRows.push(
        `${[field, parent, m.value, String(m.children), m.keys.join(' ')].map(csvCell).join(',')}\r\n`,
      );
    }
  }

  // Written even when empty: they replace what an earlier pass or attempt left for this partition
  // (the first pass collects references by scan segment, the key-by-key pass by partition).
  await putObject(
    env.bucket,
    workKeys.mismatches(job.workPrefix, partition),
    problems.map((p) => JSON.stringify(p)).join('\n'),
    'application/x-ndjson',
  );
  await putObject(
    env.bucket,
    workKeys.orphans(job.workPrefix, partition),
    orphanRows.join(''),
    'text/csv; charset=utf-8',
  );
  return {
    partition,
    verified: lines.length + expected.count,
    decisions,
    scanned,
    ...(byDigest
      ? {
          written: {
            expected: { digest: expected.hex, items: expected.count },
            found: { digest: found.hex, items: found.count },
          },
        }
      : {}),
    mirrorDeleted: 0,
    problems: problems.length,
    sample: problems.slice(0, PROBLEMS_RETURNED),
    references: checks,
    durationMs: Date.now() - started,
  };
}

export async function verifyHandler(event: unknown): Promise<{ partitions: VerifyResult[] }> {
  const data = parseEvent(eventSchema, event, 'verify');
  const job = data.BatchInput.job;
  const partitions: VerifyResult[] = [];
  for (const item of data.Items) {
    // A dry run wrote nothing: there is nothing to verify, its decisions are the report.
    if (job.dryRun) continue;
    const result = await verifyPartition(job, item.partition, data.BatchInput.rows, data.BatchInput.byKey);
    logger.info('partition verified', {
      runId: job.runId,
      partition: item.partition,
      verified: result.verified,
      problems: result.problems,
    });
    partitions.push(result);
  }
  return { partitions };
}

export const handler = middy(verifyHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
