import { batchGet, scanSegment } from '../adapters/dynamodb';
import { logger } from '../adapters/powertools';
import { putObject, readTextIfExists } from '../adapters/s3';
import type { PartitionItem, WorkerJob } from '../contract/job';
import type { VerifyResult } from '../contract/results';
import { getEntity } from '../domain/config';
import { entityFilterOf, entityKeys } from '../domain/keys';
import { type ReferenceCheck, ReferenceCollector } from '../domain/references';
import { workKeys } from '../domain/run';
import {
  decisionProblems,
  type Mismatch,
  orphanRows,
  readDecisions,
  SegmentCheck,
  sampleRate,
  verifyMode,
  verifyResultOf,
} from '../domain/verify';
import { parentsPresent } from './parents';
import type { WorkerContext } from './worker-context';

/** Which pass of the run's verification a Verify Map item belongs to. */
export interface VerifyPass {
  /** Data rows of the run (the plan's count): the sample rate is computed from it. */
  rows: number;
  /** The second pass of a full verification: every decision read back by key. */
  byKey?: boolean | undefined;
}

/** The Verify Map's task: every item (scan segment) of the batch; a dry run wrote nothing to verify. */
export async function verifyPartitions(
  job: WorkerJob,
  items: readonly PartitionItem[],
  pass: VerifyPass,
  ctx: WorkerContext,
): Promise<VerifyResult[]> {
  const results: VerifyResult[] = [];
  for (const item of items) {
    // A dry run wrote nothing: there is nothing to verify, its decisions are the report.
    if (job.dryRun) continue;
    const result = await verifyPartition(job, item.partition, pass, ctx);
    logger.info('partition verified', {
      runId: job.runId,
      partition: item.partition,
      verified: result.verified,
      problems: result.problems,
    });
    results.push(result);
  }
  return results;
}

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
  pass: VerifyPass,
  ctx: WorkerContext,
): Promise<VerifyResult> {
  const started = Date.now();
  const entity = getEntity(ctx.config, job.entity);
  const table = ctx.tableOf(job.entity);
  const mode = verifyMode(job.verify ?? entity.verify);
  // Full mode proves the run's puts by digest (first pass); the rest is read back by key.
  const byDigest = mode.mode === 'full' && !pass.byKey;
  const references = new ReferenceCollector(entity.references);
  const decisions = readDecisions(
    await readMerged(job, partition, ctx.bucket),
    byDigest,
    sampleRate(mode, pass.rows),
  );
  const keys = entityKeys(entity);
  const segment = new SegmentCheck(keys.table, job.runId, byDigest, references);
  // The decisions' reads and the table scan are independent: they run at the same time. On a
  // shared table the scan sees only this entity's items.
  const [stored] = await Promise.all([
    batchGet(
      table,
      keys.table,
      decisions.byKey.map((l) => l.k),
    ),
    mode.mode === 'full'
      ? scanTable(table, partition, job.scanSegments ?? job.partitions, segment, entityFilterOf(entity))
      : undefined,
  ]);
  const problems = [...decisionProblems(decisions.byKey, stored, references), ...segment.problems];
  const { checks, orphans } = await checkReferences(references, ctx);
  await writeFindings(job, partition, problems, orphans, ctx.bucket);
  return verifyResultOf({
    partition,
    byDigest,
    decisions,
    segment,
    problems,
    references: checks,
    durationMs: Date.now() - started,
  });
}

/** The partition's decisions; workers beyond the partition count scan their segment only. */
async function readMerged(job: WorkerJob, partition: number, bucket: string): Promise<string> {
  if (partition >= job.partitions) return '';
  return readTextIfExists({ bucket, key: workKeys.merged(job.workPrefix, partition) });
}

/**
 * Scans segment `segment` of `segments` of the table into the check. Strongly consistent: the scan
 * proves the run's puts, so a stale page must not show an item as the run wrote it after someone
 * changed it.
 */
async function scanTable(
  table: string,
  segment: number,
  segments: number,
  check: SegmentCheck,
  only: { name: string; value: string } | undefined,
): Promise<void> {
  for await (const page of scanSegment(table, segment, segments, { consistent: true, only })) {
    for (const item of page) check.add(item);
  }
}

/** Looks the collected reference values up in their parent tables: each field's check and orphans.csv rows. */
async function checkReferences(
  references: ReferenceCollector,
  ctx: WorkerContext,
): Promise<{ checks: ReferenceCheck[]; orphans: string[] }> {
  const checks: ReferenceCheck[] = [];
  const orphans: string[] = [];
  for (const { field, entity: parent, values } of references.fields()) {
    const present = await parentsPresent(ctx, parent, values);
    const { check, missing } = references.result(field, present);
    checks.push(check);
    orphans.push(...orphanRows(field, parent, missing));
  }
  return { checks, orphans };
}

/**
 * Written even when empty: they replace what an earlier pass or attempt left for this partition
 * (the first pass collects references by scan segment, the key-by-key pass by partition).
 */
async function writeFindings(
  job: WorkerJob,
  partition: number,
  problems: readonly Mismatch[],
  orphans: readonly string[],
  bucket: string,
): Promise<void> {
  await putObject(
    bucket,
    workKeys.mismatches(job.workPrefix, partition),
    problems.map((p) => JSON.stringify(p)).join('\n'),
    'application/x-ndjson',
  );
  await putObject(
    bucket,
    workKeys.orphans(job.workPrefix, partition),
    orphans.join(''),
    'text/csv; charset=utf-8',
  );
}
