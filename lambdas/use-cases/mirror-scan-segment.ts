import pLimit from 'p-limit';
import { scanSegment } from '../adapters/dynamodb';
import { logger } from '../adapters/powertools';
import { putObject } from '../adapters/s3';
import type { PartitionItem, WorkerJob } from '../contract/job';
import type { MirrorScanResult } from '../contract/results';
import { getEntity } from '../domain/config';
import { entityFilterOf, entityKeys, keyOfItem } from '../domain/keys';
import { keyLines, keysByPartition } from '../domain/mirror';
import { workKeys } from '../domain/run';
import type { WorkerContext } from './worker-context';

/** Mirror mode, the key scan Map's task: every table segment of the batch. */
export async function scanTargetSegments(
  job: WorkerJob,
  items: readonly PartitionItem[],
  ctx: WorkerContext,
): Promise<MirrorScanResult[]> {
  const segments: MirrorScanResult[] = [];
  for (const item of items) segments.push(await scanTargetSegment(job, item.partition, ctx));
  logger.info('target segments scanned', { runId: job.runId, segments: segments.length });
  return segments;
}

/**
 * Scan segment `segment` of the job's scanSegments (keys only; Plan sizes them from the table, at
 * least as many as partitions) and hand each key to its
 * merge partition: `target/p<partition>/s<segment>.txt`. The table is read once, in parallel, and no
 * worker ever holds more than one segment's keys.
 */
export async function scanTargetSegment(
  job: WorkerJob,
  segment: number,
  ctx: WorkerContext,
): Promise<MirrorScanResult> {
  const keys = await scanKeys(job, segment, ctx);
  const limit = pLimit(8);
  await Promise.all(
    [...keysByPartition(keys, job.partitions)].map(([p, group]) =>
      limit(() =>
        putObject(ctx.bucket, workKeys.target(job.workPrefix, p, segment), keyLines(group), 'text/plain'),
      ),
    ),
  );
  return { segment, items: keys.length };
}

/** The keys of one segment of the target table (strongly consistent, keys only). */
async function scanKeys(job: WorkerJob, segment: number, ctx: WorkerContext): Promise<string[]> {
  const entity = getEntity(ctx.config, job.entity);
  const { table } = entityKeys(entity);
  const keys: string[] = [];
  const segments = job.scanSegments ?? job.partitions;
  // On a shared table, only this entity's items: a mirror run never deletes another entity's.
  for await (const page of scanSegment(ctx.tableOf(job.entity), segment, segments, {
    projection: table.sort === undefined ? [table.partition] : [table.partition, table.sort],
    consistent: true,
    only: entityFilterOf(entity),
  })) {
    for (const item of page) {
      const key = keyOfItem(table, item);
      if (key !== undefined) keys.push(key);
    }
  }
  return keys;
}
