import pLimit from 'p-limit';
import { logger } from '../adapters/powertools';
import { listKeys, putObject, readText, readTextIfExists } from '../adapters/s3';
import type { PartitionItem, WorkerJob } from '../contract/job';
import type { MirrorPlanResult } from '../contract/results';
import { readPartLines } from '../domain/chunk';
import { deleteCandidates, keyLines, parseKeyLines } from '../domain/mirror';
import { workKeys } from '../domain/run';
import type { WorkerContext } from './worker-context';

/** How many work objects a worker reads at once. */
const READS_AT_ONCE = 8;

/** Mirror mode, the candidates Map's task: every partition of the batch. */
export async function planMirrorDeletes(
  job: WorkerJob,
  items: readonly PartitionItem[],
  ctx: WorkerContext,
): Promise<MirrorPlanResult[]> {
  const partitions: MirrorPlanResult[] = [];
  for (const item of items)
    partitions.push(await planPartitionDeletes(job, item.partition, item.chunks, ctx));
  logger.info('mirror deletes planned', { runId: job.runId, partitions: partitions.length });
  return partitions;
}

/**
 * The delete candidates of one partition: the target's keys of the partition that no row of the
 * export names (valid or rejected with a readable key). Written to `mirror/p<partition>.txt`; the
 * merge worker of the partition deletes them once the run's totals allow it.
 */
export async function planPartitionDeletes(
  job: WorkerJob,
  partition: number,
  chunks: number,
  ctx: WorkerContext,
): Promise<MirrorPlanResult> {
  const limit = pLimit(READS_AT_ONCE);
  const exported = await exportedKeys(job, partition, chunks, ctx.bucket, limit);
  const [keepObjects, targetObjects] = await Promise.all([
    listKeys(ctx.bucket, workKeys.keepPrefix(job.workPrefix, partition)),
    listKeys(ctx.bucket, workKeys.targetPrefix(job.workPrefix, partition)),
  ]);
  // The keys of rejected rows keep their items: they count as exported.
  await readKeys(keepObjects, ctx.bucket, limit, (k) => exported.add(k));
  const target: string[] = [];
  await readKeys(targetObjects, ctx.bucket, limit, (k) => target.push(k));
  const candidates = deleteCandidates(target, exported);
  await putObject(ctx.bucket, workKeys.mirror(job.workPrefix, partition), keyLines(candidates), 'text/plain');
  return { partition, targetItems: target.length, candidates: candidates.length };
}

/** The keys of the partition's part objects, one per chunk (a chunk without rows there has none). */
async function exportedKeys(
  job: WorkerJob,
  partition: number,
  chunks: number,
  bucket: string,
  limit: pLimit.Limit,
): Promise<Set<string>> {
  const exported = new Set<string>();
  await Promise.all(
    Array.from({ length: chunks }, (_, chunk) =>
      limit(async () => {
        const text = await readTextIfExists({ bucket, key: workKeys.part(job.workPrefix, partition, chunk) });
        for (const line of readPartLines(text)) exported.add(line.k);
      }),
    ),
  );
  return exported;
}

/** Reads key objects (one key per line) and hands each key to `onKey`. */
async function readKeys(
  objects: readonly string[],
  bucket: string,
  limit: pLimit.Limit,
  onKey: (key: string) => void,
): Promise<void> {
  await Promise.all(
    objects.map((key) =>
      limit(async () => {
        for (const k of parseKeyLines(await readText({ bucket, key }))) onKey(k);
      }),
    ),
  );
}
