import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { scanSegmentRaw } from '../adapters/dynamodb';
import { logger, tracer } from '../adapters/powertools';
import { putJson, readText } from '../adapters/s3';
import { isTableEmpty, putRawItems, readObjectBytes } from '../adapters/snapshots';
import { getEntity } from '../domain/config';
import {
  InvalidSnapshotError,
  RestoreMismatchError,
  SnapshotCorruptError,
  TargetNotEmptyError,
} from '../domain/errors';
import { combineDigests, SetDigest } from '../domain/hash';
import {
  backupWorkKeys,
  canonicalItem,
  fromDynamoJson,
  gunzipLines,
  manifestKey,
  parseItemLine,
  parseManifest,
  SNAPSHOTS_PREFIX,
  type SnapshotManifest,
  type SnapshotPart,
  sha256Hex,
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

/** The Restore state machine's input: where the snapshot is, and which entity's table it fills. */
export const restoreInputSchema = z
  .object({
    /** The entity whose (empty) table is restored. */
    entity: z.string().min(1),
    /** A snapshot under `snapshots/<fromEntity>/<snapshotId>/`. */
    snapshotId: z.string().optional(),
    /** The entity the snapshot was taken of (default: `entity`). */
    fromEntity: z.string().optional(),
    /** Or the snapshot's prefix in the bucket (under `snapshots/`). */
    prefix: z.string().optional(),
    /** Default: the execution's start time and name. */
    restoreId: z.string().optional(),
  })
  .refine((i) => i.snapshotId !== undefined || i.prefix !== undefined, {
    message: 'snapshotId or prefix is required',
  });
export type RestoreInput = z.infer<typeof restoreInputSchema>;

const jobSchema = z.object({
  restoreId: z.string(),
  entity: z.string(),
  table: z.string(),
  prefix: z.string(),
  snapshotId: z.string(),
  fromEntity: z.string(),
  segments: z.number().int().min(1),
  segmentList: z.array(z.number().int().min(0)),
  items: z.number().int().min(0),
  digest: z.string(),
});
export type RestoreJob = z.infer<typeof jobSchema>;

const eventSchema = backupEventSchema({
  input: restoreInputSchema,
  abortInput: z.looseObject({ entity: z.string(), restoreId: z.unknown().optional() }),
  job: jobSchema,
  workerAction: z.enum(['verify', 'load', 'check']),
});

export interface RestoreSummary {
  restoreId: string;
  entity: string;
  table: string;
  snapshotId: string;
  prefix: string;
  items: number;
  digest: string;
  status: 'MATCHED';
}

/** Items put per BatchWriteItem round (25 per call, 8 calls in flight). */
const WRITE_WINDOW = 1000;

function checkPrefix(prefix: string): string {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (!p.startsWith(SNAPSHOTS_PREFIX) || p.includes('..')) {
    throw new InvalidSnapshotError(`a snapshot is restored from under ${SNAPSHOTS_PREFIX} (not ${prefix})`);
  }
  return p;
}

async function readManifest(bucket: string, prefix: string): Promise<SnapshotManifest> {
  const key = manifestKey(prefix);
  let text: string;
  try {
    text = await readText({ bucket, key });
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound') {
      throw new InvalidSnapshotError(`no snapshot at s3://${bucket}/${prefix} (no manifest.json)`, {
        cause: err,
      });
    }
    throw err;
  }
  return parseManifest(text, `s3://${bucket}/${key}`);
}

/**
 * PrepareRestore: reads and checks the manifest (a JSONL snapshot of a table with the same key),
 * records the restore, takes the entity's lock, and refuses a table that holds any item.
 */
export async function prepareRestore(
  input: RestoreInput,
  execution: z.infer<typeof executionSchema>,
): Promise<RestoreJob> {
  const env = workerEnv();
  const entity = getEntity(env.config, input.entity);
  const table = targetTable(env, input.entity);
  const restoreId = backupId(input.restoreId, execution, 'restore');
  const prefix = checkPrefix(
    input.prefix ?? snapshotPrefix(input.fromEntity ?? input.entity, input.snapshotId ?? ''),
  );
  const manifest = await readManifest(env.bucket, prefix);
  if (!manifest.formats.includes('jsonl')) {
    throw new InvalidSnapshotError(
      `snapshot ${manifest.snapshotId} has no JSONL parts: it cannot be restored`,
    );
  }
  if (manifest.key !== entity.target.key) {
    throw new InvalidSnapshotError(
      `snapshot ${manifest.snapshotId} is of a table keyed by "${manifest.key}"; "${input.entity}" is keyed by "${entity.target.key}"`,
    );
  }
  await beginBackup(env, 'restore', input.entity, restoreId, execution, prefix);
  if (!(await isTableEmpty(table))) {
    throw new TargetNotEmptyError(
      `table ${table} of "${input.entity}" is not empty: a snapshot is restored into an empty table only`,
    );
  }
  logger.info('restore prepared', { entity: input.entity, restoreId, snapshotId: manifest.snapshotId });
  return {
    restoreId,
    entity: input.entity,
    table,
    prefix,
    snapshotId: manifest.snapshotId,
    fromEntity: manifest.entity,
    segments: manifest.segments,
    segmentList: manifest.parts.map((p) => p.segment),
    items: manifest.items,
    digest: manifest.digest,
  };
}

/** The manifest's part of a segment; the manifest must still be the one PrepareRestore read. */
async function partOf(job: RestoreJob, segment: number, manifests: Map<string, SnapshotManifest>) {
  let manifest = manifests.get(job.prefix);
  if (!manifest) {
    manifest = await readManifest(workerEnv().bucket, job.prefix);
    manifests.set(job.prefix, manifest);
  }
  if (manifest.digest !== job.digest || manifest.items !== job.items) {
    throw new InvalidSnapshotError(`the manifest of ${job.prefix} changed during the restore`);
  }
  const part = manifest.parts[segment];
  if (!part) throw new InvalidSnapshotError(`the manifest of ${job.prefix} has no part ${segment}`);
  return part;
}

/** A part's bytes, checked against the manifest (size and SHA-256). */
async function readPart(job: RestoreJob, part: SnapshotPart): Promise<Buffer> {
  const key = `${job.prefix}${part.file}`;
  let data: Buffer;
  try {
    data = await readObjectBytes(workerEnv().bucket, key);
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound') {
      throw new SnapshotCorruptError(`${key} is missing`, { cause: err });
    }
    throw err;
  }
  const sha256 = sha256Hex(data);
  if (data.length !== part.bytes || sha256 !== part.sha256) {
    throw new SnapshotCorruptError(
      `${key} does not match the manifest: ${data.length} bytes, sha256 ${sha256} (manifest: ${part.bytes} bytes, sha256 ${part.sha256})`,
    );
  }
  return data;
}

/**
 * VerifyParts: a part's bytes match the manifest's SHA-256, and its items the manifest's count and
 * digest. Every part is verified before LoadParts writes anything.
 */
export async function verifyPart(job: RestoreJob, part: SnapshotPart): Promise<number> {
  const data = await readPart(job, part);
  const digest = new SetDigest();
  let line = 0;
  try {
    for await (const text of gunzipLines(data)) {
      line++;
      digest.add(canonicalItem(toDynamoJson(parseItemLine(text, `${part.file}:${line}`))));
    }
  } catch (err) {
    throw new SnapshotCorruptError(`${job.prefix}${part.file}: ${(err as Error).message}`, { cause: err });
  }
  if (digest.count !== part.items || digest.hex !== part.digest) {
    throw new SnapshotCorruptError(
      `${job.prefix}${part.file} holds ${digest.count} items${digest.hex === part.digest ? '' : ' with another digest'} (manifest: ${part.items})`,
    );
  }
  return digest.count;
}

/** LoadParts: puts a (re-checked) part's items with BatchWriteItem. A retry puts the same items again. */
export async function loadPart(job: RestoreJob, part: SnapshotPart): Promise<number> {
  const data = await readPart(job, part);
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

/** CheckTarget: the item count and digest of one scan segment of the restored table. */
export async function checkSegment(
  job: RestoreJob,
  segment: number,
): Promise<{ segment: number; items: number; digest: string }> {
  const digest = new SetDigest();
  for await (const page of scanSegmentRaw(job.table, segment, job.segments, { consistent: true })) {
    for (const raw of page) digest.add(canonicalItem(toDynamoJson(raw)));
  }
  const result = { segment, items: digest.count, digest: digest.hex };
  await putJson(
    workerEnv().bucket,
    backupWorkKeys.segment('restore', job.entity, job.restoreId, segment),
    result,
  );
  return result;
}

/** FinishRestore: the table's count and digest must equal the snapshot's; records it, frees the lock. */
export async function finishRestore(job: RestoreJob): Promise<RestoreSummary> {
  const env = workerEnv();
  const results = await readSegmentResults<{ items: number; digest: string }>(
    env.bucket,
    job.segmentList.map((s) => backupWorkKeys.segment('restore', job.entity, job.restoreId, s)),
  );
  const found = combineDigests(results);
  if (found.items !== job.items || found.digest !== job.digest) {
    throw new RestoreMismatchError(
      `table ${job.table} holds ${found.items} items after the restore${found.digest === job.digest ? '' : ' with another digest'}; snapshot ${job.snapshotId} has ${job.items}`,
    );
  }
  await endBackup(env, 'restore', job.entity, job.restoreId, { status: 'SUCCEEDED', items: found.items });
  logger.info('restore verified', { entity: job.entity, restoreId: job.restoreId, items: found.items });
  return {
    restoreId: job.restoreId,
    entity: job.entity,
    table: job.table,
    snapshotId: job.snapshotId,
    prefix: job.prefix,
    items: found.items,
    digest: found.digest,
    status: 'MATCHED',
  };
}

export async function restoreHandler(event: unknown): Promise<unknown> {
  const data = parseEvent(eventSchema, event, 'restore');
  if ('BatchInput' in data) {
    const { action, job } = data.BatchInput;
    const manifests = new Map<string, SnapshotManifest>();
    return eachSegment(data.Items, async (segment) => {
      if (action === 'check') return (await checkSegment(job, segment)).items;
      const part = await partOf(job, segment, manifests);
      return action === 'verify' ? verifyPart(job, part) : loadPart(job, part);
    });
  }
  switch (data.action) {
    case 'prepare':
      return prepareRestore(data.input, data.execution);
    case 'finish':
      return finishRestore(data.job);
    case 'abort': {
      const id = idForAbort(data.input.restoreId, data.execution);
      await abortBackup(workerEnv(), 'restore', data.input.entity, id, data.execution, data.error);
      return {};
    }
  }
}

export const handler = middy(restoreHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
