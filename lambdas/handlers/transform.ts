import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { batchGet } from '../adapters/dynamodb';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { putObject, readObject } from '../adapters/s3';
import { chunkItemSchema, workerBatchSchema } from '../contract/job';
import { chunkResultSchema } from '../contract/results';
import { ChunkAccumulator, writeLimits } from '../domain/chunk';
import { configHash, getEntity } from '../domain/config';
import { maxRecordBytesFor, recordsOf } from '../domain/csv';
import { withDateOrder } from '../domain/dates';
import { ConfigError, CrmSyncError } from '../domain/errors';
import { bindHeader } from '../domain/mapping';
import { keyLines, keysByPartition } from '../domain/mirror';
import { reasonLines } from '../domain/rejects';
import { type ChunkItem, type ChunkResult, type WorkerJob, workKeys } from '../domain/run';
import { parseEvent, targetTable, workerEnv } from './env';

const eventSchema = workerBatchSchema({}, chunkItemSchema);

/** The plan counted a different number of rows than the worker read: the object changed or a bug. */
export class ChunkCountMismatchError extends CrmSyncError {
  override readonly name = 'ChunkCountMismatchError';
}

/**
 * Transforms one chunk: streams its byte range, parses, maps, validates, keeps the winner per key
 * within the chunk, and writes the winners to one part object per merge partition and the rejects
 * to a rejects object. Writes nothing to the target: the merge step does, per partition.
 */
export async function transformChunk(job: WorkerJob, chunk: ChunkItem): Promise<ChunkResult> {
  const started = Date.now();
  const env = workerEnv();
  const configured = getEntity(env.config, job.entity);
  if (configHash(configured) !== job.configHash) {
    throw new ConfigError(
      `the config of "${job.entity}" changed since run ${job.runId} was planned; start a new run`,
    );
  }
  // Every row reads numeric dates in the order Plan decided for the file.
  const entity = withDateOrder(configured, job.dateOrder);
  const binding = bindHeader(job.columns, entity);
  const format = job.format ?? 'csv';
  // What the merge of this run adds to each item: rows it cannot write are rejected here.
  const limits = writeLimits({ entity: job.entity, runId: job.runId });
  const acc = new ChunkAccumulator(
    entity,
    binding,
    job.delimiter,
    entity.source.maxFieldBytes,
    format,
    limits,
  );
  const body = await readObject(job.data, { start: chunk.start, end: chunk.end }, job.data.etag);
  for await (const records of recordsOf(body, chunk, {
    maxRecordBytes: maxRecordBytesFor(entity.source),
    delimiter: format === 'csv' ? job.delimiter : ',',
    quoting: format === 'csv',
  })) {
    for (const r of records) acc.add(r);
  }
  if (acc.rows !== chunk.rows) {
    throw new ChunkCountMismatchError(
      `chunk ${chunk.index}: the plan counted ${chunk.rows} rows, the worker read ${acc.rows}`,
    );
  }

  // references.<field>.reject: the rows wait for their parents to be looked up (one BatchGetItem
  // per 100 distinct values of the chunk), then orphans are rejected before winners are chosen.
  const wanted = acc.referenceValues();
  if (wanted.size > 0) {
    const existing = new Map<string, Set<string>>();
    for (const [field, values] of wanted) {
      const parentName = entity.references[field]?.entity ?? '';
      const parent = getEntity(env.config, parentName);
      const found = await batchGet(targetTable(env, parentName), parent.target.key, [...values], {
        projection: [parent.target.key],
      });
      existing.set(field, new Set(found.keys()));
    }
    acc.settleReferences(existing);
  }

  const out = acc.serialize(job.partitions);
  await Promise.all(
    out.parts.map((text, p) =>
      putObject(env.bucket, workKeys.part(job.workPrefix, p, chunk.index), text, 'application/x-ndjson'),
    ),
  );
  // The chunk's rejects and warnings, each an object only when there is any.
  for (const [text, key] of [
    [out.rejects, workKeys.rejects(job.workPrefix, chunk.index)],
    [out.warnings, workKeys.warnings(job.workPrefix, chunk.index)],
  ] as const) {
    if (text) await putObject(env.bucket, key, text, 'application/x-ndjson');
  }
  if (acc.keepKeys && acc.keepKeys.length > 0) {
    // Mirror mode: the keys of rejected rows keep their stored items (per partition, sparse).
    await Promise.all(
      [...keysByPartition(acc.keepKeys, job.partitions)].map(([p, keys]) =>
        putObject(env.bucket, workKeys.keep(job.workPrefix, p, chunk.index), keyLines(keys), 'text/plain'),
      ),
    );
  }
  const result: ChunkResult = {
    index: chunk.index,
    rows: acc.rows,
    rejected: acc.rejects.length,
    superseded: acc.superseded,
    candidates: acc.winners.size,
    ...(acc.keepKeys ? { unkeyedRejects: acc.unkeyedRejects } : {}),
    topReasons: acc.reasonCounts,
    ...(acc.warnings.length > 0 ? { warnings: acc.warnings.length, topWarnings: acc.warningCounts } : {}),
    ...(acc.rejects.length > 0 ? { reasonLines: reasonLines(acc.rejects) } : {}),
    durationMs: Date.now() - started,
  };
  await new Ledger(env.ledgerTable).recordStep(job.runId, { kind: 'chunk', ...result });
  return result;
}

export async function transformHandler(event: unknown): Promise<{ chunks: ChunkResult[] }> {
  const data = parseEvent(eventSchema, event, 'transform');
  const job = data.BatchInput.job;
  const ledger = new Ledger(workerEnv().ledgerTable);
  const chunks: ChunkResult[] = [];
  for (const item of data.Items) {
    // A resumed run: a chunk that already succeeded keeps its parts and its counts.
    const result = await ledger.runStep(
      job.runId,
      { kind: 'chunk', index: item.index },
      chunkResultSchema,
      () => transformChunk(job, item),
    );
    logger.info('chunk transformed', {
      runId: job.runId,
      chunk: item.index,
      rows: result.rows,
      rejected: result.rejected,
    });
    chunks.push(result);
  }
  return { chunks };
}

export const handler = middy(transformHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
