import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { scanSegmentRaw } from '../adapters/dynamodb';
import { logger, tracer } from '../adapters/powertools';
import { putJson } from '../adapters/s3';
import { GzipObjectWriter, objectExists, tableSizeBytes } from '../adapters/snapshots';
import { configHash, getEntity } from '../domain/config';
import { SnapshotExistsError } from '../domain/errors';
import { SetDigest } from '../domain/hash';
import {
  backupWorkKeys,
  buildManifest,
  canonicalItem,
  chooseSegments,
  csvHeader,
  csvRow,
  itemLine,
  MAX_SEGMENTS,
  manifestKey,
  partFile,
  type SegmentResult,
  type SnapshotManifest,
  snapshotPrefix,
  toDynamoJson,
} from '../domain/snapshot';
import {
  abortBackup,
  backupEventSchema,
  backupId,
  beginBackup,
  eachSegment,
  endBackup,
  type executionSchema,
  idForAbort,
  readSegmentResults,
} from './backup-shared';
import { parseEvent, targetTable, workerEnv } from './env';

const formatSchema = z.enum(['jsonl', 'csv']);

/** The Snapshot state machine's input. */
export const snapshotInputSchema = z.object({
  entity: z.string().min(1),
  /** Default: the execution's start time and name. */
  snapshotId: z.string().optional(),
  /** JSONL (restorable) is always written; `csv` adds a CSV of the entity's fields per segment. */
  formats: z.array(formatSchema).optional(),
  /** Parallel scan segments (default: from the table's size, at least 8). */
  segments: z.number().int().min(1).max(MAX_SEGMENTS).optional(),
});
export type SnapshotInput = z.infer<typeof snapshotInputSchema>;

const jobSchema = z.object({
  snapshotId: z.string(),
  entity: z.string(),
  table: z.string(),
  key: z.string(),
  prefix: z.string(),
  segments: z.number().int().min(1),
  segmentList: z.array(z.number().int().min(0)),
  formats: z.array(formatSchema),
  columns: z.array(z.string()),
  configHash: z.string(),
  takenAt: z.string(),
});
export type SnapshotJob = z.infer<typeof jobSchema>;

const eventSchema = backupEventSchema({
  input: snapshotInputSchema,
  abortInput: z.looseObject({ entity: z.string(), snapshotId: z.unknown().optional() }),
  job: jobSchema,
  workerAction: z.literal('segment'),
});

export interface SnapshotSummary {
  snapshotId: string;
  entity: string;
  table: string;
  items: number;
  digest: string;
  segments: number;
  formats: SnapshotManifest['formats'];
  prefix: string;
  manifestKey: string;
  takenAt: string;
  finishedAt: string;
}

/**
 * PrepareSnapshot: checks the entity and the id (a snapshot is never overwritten), records it, takes
 * the entity's lock (so the table holds still: the snapshot is of one point in time) and picks the
 * scan segments.
 */
export async function prepareSnapshot(
  input: SnapshotInput,
  execution: z.infer<typeof executionSchema>,
): Promise<SnapshotJob> {
  const env = workerEnv();
  const entity = getEntity(env.config, input.entity);
  const table = targetTable(env, input.entity);
  const snapshotId = backupId(input.snapshotId, execution, 'snapshot');
  const prefix = snapshotPrefix(input.entity, snapshotId);
  if (await objectExists(env.bucket, manifestKey(prefix))) {
    throw new SnapshotExistsError(`snapshot ${snapshotId} of "${input.entity}" already exists at ${prefix}`);
  }
  await beginBackup(env, 'snapshot', input.entity, snapshotId, execution, prefix);
  const takenAt = new Date().toISOString();
  const segments = chooseSegments(await tableSizeBytes(table), input.segments);
  const formats = [...new Set<'jsonl' | 'csv'>(['jsonl', ...(input.formats ?? [])])];
  logger.info('snapshot prepared', { entity: input.entity, snapshotId, segments });
  return {
    snapshotId,
    entity: input.entity,
    table,
    key: entity.target.key,
    prefix,
    segments,
    segmentList: Array.from({ length: segments }, (_, i) => i),
    formats,
    columns: Object.keys(entity.fields),
    configHash: configHash(entity),
    takenAt,
  };
}

/**
 * ExportSegment: scans one segment (strongly consistent) and streams it into its gzip JSONL part
 * (and CSV part), hashing as it goes; the part's SHA-256, item count and digest go to a work object
 * that FinishSnapshot reads.
 */
export async function exportSegment(job: SnapshotJob, segment: number): Promise<SegmentResult> {
  const env = workerEnv();
  const jsonlFile = partFile(segment, 'jsonl');
  const csvFile = partFile(segment, 'csv');
  const jsonl = new GzipObjectWriter(env.bucket, `${job.prefix}${jsonlFile}`, 'application/x-ndjson');
  const csv = job.formats.includes('csv')
    ? new GzipObjectWriter(env.bucket, `${job.prefix}${csvFile}`, 'text/csv')
    : undefined;
  const digest = new SetDigest();
  let result: SegmentResult;
  try {
    if (csv) await csv.write(csvHeader(job.columns));
    // Strongly consistent: every write acknowledged before the snapshot took the lock is seen.
    for await (const page of scanSegmentRaw(job.table, segment, job.segments, { consistent: true })) {
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
    jsonl.abort(err as Error);
    csv?.abort(err as Error);
    throw err;
  }
  await putJson(env.bucket, backupWorkKeys.segment('snapshot', job.entity, job.snapshotId, segment), result);
  return result;
}

/**
 * FinishSnapshot: writes manifest.json from the segments' results (last: a snapshot without one is
 * incomplete), records the snapshot and gives the lock back.
 */
export async function finishSnapshot(job: SnapshotJob): Promise<SnapshotSummary> {
  const env = workerEnv();
  const results = await readSegmentResults<SegmentResult>(
    env.bucket,
    job.segmentList.map((s) => backupWorkKeys.segment('snapshot', job.entity, job.snapshotId, s)),
  );
  const finishedAt = new Date().toISOString();
  const manifest = buildManifest(
    {
      snapshotId: job.snapshotId,
      entity: job.entity,
      table: job.table,
      key: job.key,
      configHash: job.configHash,
      takenAt: job.takenAt,
      finishedAt,
      itemFormat: 'DYNAMODB_JSON',
      compression: 'GZIP',
      formats: job.formats,
      segments: job.segments,
      columns: job.columns,
    },
    results,
  );
  const key = manifestKey(job.prefix);
  await putJson(env.bucket, key, manifest);
  await endBackup(env, 'snapshot', job.entity, job.snapshotId, {
    status: 'SUCCEEDED',
    items: manifest.items,
  });
  logger.info('snapshot written', { entity: job.entity, snapshotId: job.snapshotId, items: manifest.items });
  return {
    snapshotId: job.snapshotId,
    entity: job.entity,
    table: job.table,
    items: manifest.items,
    digest: manifest.digest,
    segments: manifest.segments,
    formats: manifest.formats,
    prefix: job.prefix,
    manifestKey: key,
    takenAt: job.takenAt,
    finishedAt,
  };
}

export async function snapshotHandler(event: unknown): Promise<unknown> {
  const data = parseEvent(eventSchema, event, 'snapshot');
  if ('BatchInput' in data) {
    const { job } = data.BatchInput;
    return eachSegment(data.Items, async (segment) => (await exportSegment(job, segment)).part.items);
  }
  switch (data.action) {
    case 'prepare':
      return prepareSnapshot(data.input, data.execution);
    case 'finish':
      return finishSnapshot(data.job);
    case 'abort': {
      const id = idForAbort(data.input.snapshotId, data.execution);
      await abortBackup(workerEnv(), 'snapshot', data.input.entity, id, data.execution, data.error);
      return {};
    }
  }
}

export const handler = middy(snapshotHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
