import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import pLimit from 'p-limit';
import { z } from 'zod';
import { scanSegment } from '../adapters/dynamodb';
import { logger, tracer } from '../adapters/powertools';
import { listKeys, putObject, readText, readTextIfExists } from '../adapters/s3';
import { partitionItemSchema, workerBatchSchema } from '../contract/job';
import { readPartLines } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { deleteCandidates, keyLines, keysByPartition, parseKeyLines } from '../domain/mirror';
import { type WorkerJob, workKeys } from '../domain/run';
import { parseEvent, targetTable, workerEnv } from './env';

const eventSchema = workerBatchSchema(
  {
    /** `scan`: list the keys of one table segment; `plan`: find one partition's delete candidates. */
    action: z.enum(['scan', 'plan']),
  },
  partitionItemSchema,
).refine(
  (e) =>
    e.Items.every(
      (i) =>
        i.partition <
        (e.BatchInput.action === 'scan'
          ? (e.BatchInput.job.scanSegments ?? e.BatchInput.job.partitions)
          : e.BatchInput.job.partitions),
    ),
  { message: 'every item must be a scan segment (scan) or a partition (plan) of the job', path: ['Items'] },
);

export interface MirrorScanResult {
  segment: number;
  /** Items in the segment. */
  items: number;
}

export interface MirrorPlanResult {
  partition: number;
  /** Target items of the partition's keys. */
  targetItems: number;
  candidates: number;
}

/**
 * Scan segment `segment` of the job's scanSegments (keys only; Plan sizes them from the table, at
 * least as many as partitions) and hand each key to its
 * merge partition: `target/p<partition>/s<segment>.txt`. The table is read once, in parallel, and no
 * worker ever holds more than one segment's keys.
 */
export async function scanTargetSegment(job: WorkerJob, segment: number): Promise<MirrorScanResult> {
  const env = workerEnv();
  const entity = getEntity(env.config, job.entity);
  const keyName = entity.target.key;
  const keys: string[] = [];
  const segments = job.scanSegments ?? job.partitions;
  for await (const page of scanSegment(targetTable(env, job.entity), segment, segments, {
    projection: [keyName],
    consistent: true,
  })) {
    for (const item of page) keys.push(String(item[keyName]));
  }
  const limit = pLimit(8);
  await Promise.all(
    [...keysByPartition(keys, job.partitions)].map(([p, group]) =>
      limit(() =>
        putObject(env.bucket, workKeys.target(job.workPrefix, p, segment), keyLines(group), 'text/plain'),
      ),
    ),
  );
  return { segment, items: keys.length };
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
): Promise<MirrorPlanResult> {
  const env = workerEnv();
  const exported = new Set<string>();
  const limit = pLimit(8);
  await Promise.all(
    Array.from({ length: chunks }, (_, chunk) =>
      limit(async () => {
        const text = await readTextIfExists({
          bucket: env.bucket,
          key: workKeys.part(job.workPrefix, partition, chunk),
        });
        for (const line of readPartLines(text)) exported.add(line.k);
      }),
    ),
  );
  const [keepObjects, targetObjects] = await Promise.all([
    listKeys(env.bucket, workKeys.keepPrefix(job.workPrefix, partition)),
    listKeys(env.bucket, workKeys.targetPrefix(job.workPrefix, partition)),
  ]);
  await Promise.all(
    keepObjects.map((key) =>
      limit(async () => {
        for (const k of parseKeyLines(await readText({ bucket: env.bucket, key }))) exported.add(k);
      }),
    ),
  );
  const target: string[] = [];
  await Promise.all(
    targetObjects.map((key) =>
      limit(async () => {
        target.push(...parseKeyLines(await readText({ bucket: env.bucket, key })));
      }),
    ),
  );
  const candidates = deleteCandidates(target, exported);
  await putObject(env.bucket, workKeys.mirror(job.workPrefix, partition), keyLines(candidates), 'text/plain');
  return { partition, targetItems: target.length, candidates: candidates.length };
}

export async function mirrorHandler(
  event: unknown,
): Promise<{ segments: MirrorScanResult[] } | { partitions: MirrorPlanResult[] }> {
  const data = parseEvent(eventSchema, event, 'mirror');
  const job = data.BatchInput.job;
  if (data.BatchInput.action === 'scan') {
    const segments: MirrorScanResult[] = [];
    for (const item of data.Items) segments.push(await scanTargetSegment(job, item.partition));
    logger.info('target segments scanned', { runId: job.runId, segments: segments.length });
    return { segments };
  }
  const partitions: MirrorPlanResult[] = [];
  for (const item of data.Items)
    partitions.push(await planPartitionDeletes(job, item.partition, item.chunks));
  logger.info('mirror deletes planned', { runId: job.runId, partitions: partitions.length });
  return { partitions };
}

export const handler = middy(mirrorHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
