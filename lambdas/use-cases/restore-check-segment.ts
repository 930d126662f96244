import { scanSegmentRaw } from '../adapters/dynamodb';
import { putJson } from '../adapters/s3';
import type { RestoreJob, RestoreSegmentCheck, SegmentsOutput } from '../contract/backup';
import { eachSegment } from '../domain/backup';
import { SetDigest } from '../domain/hash';
import { backupWorkKeys, canonicalItem, toDynamoJson } from '../domain/snapshot';
import type { WorkerContext } from './worker-context';

/** The CheckTarget Map's task: a batch of scan segments, one after the other. */
export async function checkSegments(
  job: RestoreJob,
  segments: readonly number[],
  ctx: WorkerContext,
): Promise<SegmentsOutput> {
  return eachSegment(segments, async (segment) => (await checkSegment(job, segment, ctx)).items);
}

/** CheckSegment: the item count and digest of one scan segment of the restored table. */
export async function checkSegment(
  job: RestoreJob,
  segment: number,
  ctx: WorkerContext,
): Promise<RestoreSegmentCheck> {
  const digest = new SetDigest();
  for await (const page of scanSegmentRaw(job.table, segment, job.segments, {
    consistent: true,
    only: job.only,
  })) {
    for (const raw of page) digest.add(canonicalItem(toDynamoJson(raw)));
  }
  const result = { segment, items: digest.count, digest: digest.hex };
  await putJson(ctx.bucket, backupWorkKeys.segment('restore', job.entity, job.restoreId, segment), result);
  return result;
}
