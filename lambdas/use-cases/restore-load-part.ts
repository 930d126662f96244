import { putRawItems } from '../adapters/snapshots';
import type { RestoreJob, SegmentsOutput } from '../contract/backup';
import { fromDynamoJson, gunzipLines, parseItemLine, type SnapshotPart } from '../domain/snapshot';
import { eachPart, readCheckedPart } from './restore-part';
import type { WorkerContext } from './worker-context';

/** Items put per BatchWriteItem round (25 per call, 8 calls in flight). */
const WRITE_WINDOW = 1000;

/** The LoadParts Map's task: a batch of parts, one after the other. */
export async function loadParts(
  job: RestoreJob,
  segments: readonly number[],
  ctx: WorkerContext,
): Promise<SegmentsOutput> {
  return eachPart(job, segments, ctx, loadPart);
}

/** LoadPart: puts a (re-checked) part's items with BatchWriteItem. A retry puts the same items again. */
export async function loadPart(job: RestoreJob, part: SnapshotPart, ctx: WorkerContext): Promise<number> {
  const data = await readCheckedPart(job, part, ctx.bucket);
  let window: Array<Record<string, unknown>> = [];
  let items = 0;
  let line = 0;
  for await (const text of gunzipLines(data)) {
    line++;
    window.push(fromDynamoJson(parseItemLine(text, `${part.file}:${line}`)));
    if (window.length >= WRITE_WINDOW) {
      await putRawItems(job.table, window);
      items += window.length;
      window = [];
    }
  }
  if (window.length > 0) await putRawItems(job.table, window);
  return items + window.length;
}
