import { scanSegmentRaw } from '../adapters/dynamodb';
import { putJson } from '../adapters/s3';
import { GzipObjectWriter } from '../adapters/snapshots';
import type { SegmentsOutput, SnapshotJob } from '../contract/backup';
import { eachSegment } from '../domain/backup';
import { SetDigest } from '../domain/hash';
import {
  backupWorkKeys,
  canonicalItem,
  csvHeader,
  csvRow,
  itemLine,
  partFile,
  type SegmentResult,
  toDynamoJson,
} from '../domain/snapshot';
import type { WorkerContext } from './worker-context';

/** The ExportSegments Map's task: a batch of segments, one after the other. */
export async function exportSegments(
  job: SnapshotJob,
  segments: readonly number[],
  ctx: WorkerContext,
): Promise<SegmentsOutput> {
  return eachSegment(segments, async (segment) => (await exportSegment(job, segment, ctx)).part.items);
}

/**
 * ExportSegment: scans one segment (strongly consistent) and streams it into its gzip JSONL part
 * (and CSV part), hashing as it goes; the part's SHA-256, item count and digest go to a work object
 * that FinishSnapshot reads.
 */
export async function exportSegment(
  job: SnapshotJob,
  segment: number,
  ctx: WorkerContext,
): Promise<SegmentResult> {
  const jsonlFile = partFile(segment, 'jsonl');
  const csvFile = partFile(segment, 'csv');
  const jsonl = new GzipObjectWriter(ctx.bucket, `${job.prefix}${jsonlFile}`, 'application/x-ndjson');
  const csv = job.formats.includes('csv')
    ? new GzipObjectWriter(ctx.bucket, `${job.prefix}${csvFile}`, 'text/csv')
    : undefined;
  const digest = new SetDigest();
  let result: SegmentResult;
  try {
    if (csv) await csv.write(csvHeader(job.columns));
    // Strongly consistent: every write acknowledged before the snapshot took the lock is seen.
    for await (const page of scanSegmentRaw(job.table, segment, job.segments, {
      consistent: true,
      only: job.only,
    })) {
      let lines = '';
      let rows = '';
      for (const raw of page) {
        const item = toDynamoJson(raw);
        const text = canonicalItem(item);
        digest.add(text);
        lines += itemLine(text);
        if (csv) rows += csvRow(item, job.columns);
      }
      await jsonl.write(lines);
      if (csv) await csv.write(rows);
    }
    const part = await jsonl.close();
    result = {
      part: { segment, file: jsonlFile, items: digest.count, ...part, digest: digest.hex },
    };
    if (csv) result.csv = { segment, file: csvFile, rows: digest.count, ...(await csv.close()) };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    jsonl.abort(error);
    csv?.abort(error);
    throw err;
  }
  await putJson(ctx.bucket, backupWorkKeys.segment('snapshot', job.entity, job.snapshotId, segment), result);
  return result;
}
