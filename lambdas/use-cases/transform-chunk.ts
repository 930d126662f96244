import type { Ledger } from '../adapters/ledger';
import { logger } from '../adapters/powertools';
import { putObject, readObject } from '../adapters/s3';
import type { ChunkItem, WorkerJob } from '../contract/job';
import { type ChunkResult, chunkResultSchema } from '../contract/results';
import { ChunkAccumulator, writeLimits } from '../domain/chunk';
import type { EntityConfig } from '../domain/config';
import { maxRecordBytesFor, recordsOf } from '../domain/csv';
import { bindHeader } from '../domain/mapping';
import { keyLines, keysByPartition } from '../domain/mirror';
import { rowOrdinal } from '../domain/row-position';
import { workKeys } from '../domain/run';
import { checkChunkRows, chunkResultOf, entityOfJob } from '../domain/transform';
import { parentsPresent } from './parents';
import type { WorkerContext } from './worker-context';

export interface TransformDeps extends WorkerContext {
  ledger: Pick<Ledger, 'runStep' | 'recordStep'>;
}

/**
 * The Transform Map's task: every chunk of the batch, in order. A resumed run's chunk that already
 * succeeded keeps its parts and its counts (the ledger's record of it is its result).
 */
export async function transformChunks(
  job: WorkerJob,
  chunks: readonly ChunkItem[],
  deps: TransformDeps,
): Promise<ChunkResult[]> {
  const results: ChunkResult[] = [];
  for (const chunk of chunks) {
    const result = await deps.ledger.runStep(
      job.runId,
      { kind: 'chunk', index: chunk.index },
      chunkResultSchema,
      () => transformChunk(job, chunk, deps),
    );
    logger.info('chunk transformed', {
      runId: job.runId,
      chunk: chunk.index,
      rows: result.rows,
      rejected: result.rejected,
    });
    results.push(result);
  }
  return results;
}

/**
 * Transforms one chunk: streams its byte range, parses, maps, validates, keeps the winner per key
 * within the chunk, and writes the winners to one part object per merge partition and the rejects
 * to a rejects object. Writes nothing to the target: the merge step does, per partition.
 */
export async function transformChunk(
  job: WorkerJob,
  chunk: ChunkItem,
  deps: TransformDeps,
): Promise<ChunkResult> {
  const started = Date.now();
  const entity = entityOfJob(deps.config, job);
  const acc = await readChunk(job, chunk, entity);
  checkChunkRows(chunk, acc.rows);
  await rejectOrphans(acc, entity, deps);
  const out = acc.serialize(job.partitions);
  await writeParts(job, chunk, out.parts, deps.bucket);
  await writeRejects(job, chunk, out, deps.bucket);
  await writeKeptKeys(job, chunk, acc, deps.bucket);
  const result = chunkResultOf(chunk.index, acc, Date.now() - started);
  await deps.ledger.recordStep(job.runId, { kind: 'chunk', ...result });
  return result;
}

/** Streams the chunk's byte range of the export into an accumulator: every row mapped, validated, kept or rejected. */
async function readChunk(job: WorkerJob, chunk: ChunkItem, entity: EntityConfig): Promise<ChunkAccumulator> {
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
  // A multi-file export's chunk names its part; a file's chunks refer to the job's data.
  const data = chunk.data ?? job.data;
  const body = await readObject(data, { start: chunk.start, end: chunk.end }, data.etag);
  // A part's rows are numbered over the export (part, line); the splitter's errors name the part's line.
  const base = rowOrdinal(chunk.part ?? 0, 0);
  for await (const records of recordsOf(body, chunk, {
    maxRecordBytes: maxRecordBytesFor(entity.source),
    delimiter: format === 'csv' ? job.delimiter : ',',
    quoting: format === 'csv',
  })) {
    for (const r of records) {
      r.line += base;
      acc.add(r);
    }
  }
  return acc;
}

/**
 * references.<field>.reject: the rows wait for their parents to be looked up (one BatchGetItem
 * per 100 distinct values of the chunk), then orphans are rejected before winners are chosen.
 */
async function rejectOrphans(
  acc: ChunkAccumulator,
  entity: EntityConfig,
  deps: WorkerContext,
): Promise<void> {
  const wanted = acc.referenceValues();
  if (wanted.size === 0) return;
  const existing = new Map<string, Set<string>>();
  for (const [field, values] of wanted) {
    const parentName = entity.references[field]?.entity ?? '';
    existing.set(field, await parentsPresent(deps, parentName, values));
  }
  acc.settleReferences(existing);
}

/** The chunk's winners, one part object per merge partition (`parts/p<partition>/c<chunk>.jsonl`). */
async function writeParts(
  job: WorkerJob,
  chunk: ChunkItem,
  parts: readonly string[],
  bucket: string,
): Promise<void> {
  await Promise.all(
    parts.map((text, p) =>
      putObject(bucket, workKeys.part(job.workPrefix, p, chunk.index), text, 'application/x-ndjson'),
    ),
  );
}

/**
 * The chunk's rejected rows (one JSON line each: line, reasons, raw row) to
 * `work/<runId>/rejects/c<chunk>.jsonl`, and its warnings to `warnings/c<chunk>.jsonl`, each an
 * object only when there is any. The chunk's result counts them per reason; from the counts
 * CheckRejects decides whether the run may write, and turns these objects into
 * `reports/<runId>/rejects.csv` when it may not; otherwise Reconcile does at the end of the run.
 */
async function writeRejects(
  job: WorkerJob,
  chunk: ChunkItem,
  out: { rejects: string; warnings: string },
  bucket: string,
): Promise<void> {
  for (const [text, key] of [
    [out.rejects, workKeys.rejects(job.workPrefix, chunk.index)],
    [out.warnings, workKeys.warnings(job.workPrefix, chunk.index)],
  ] as const) {
    if (text) await putObject(bucket, key, text, 'application/x-ndjson');
  }
}

/** Mirror mode: the keys of rejected rows keep their stored items (per partition, sparse). */
async function writeKeptKeys(
  job: WorkerJob,
  chunk: ChunkItem,
  acc: ChunkAccumulator,
  bucket: string,
): Promise<void> {
  if (!acc.keepKeys || acc.keepKeys.length === 0) return;
  await Promise.all(
    [...keysByPartition(acc.keepKeys, job.partitions)].map(([p, keys]) =>
      putObject(bucket, workKeys.keep(job.workPrefix, p, chunk.index), keyLines(keys), 'text/plain'),
    ),
  );
}
