/**
 * The transform worker's hot path, the way lambdas/handlers/transform.ts runs it, minus S3: the file is
 * planned into chunks with planChunks at the entity's chunkBytes (the Plan step), then each chunk's byte
 * range is streamed from disk, split with recordsOf, fed to a fresh ChunkAccumulator, and its winners
 * (and rejects) are serialized into the JSON part lines the worker uploads. The accumulator is dropped
 * after each chunk, as a worker invocation would.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChunkAccumulator, type PartRow } from '../lambdas/domain/chunk';
import { type EntityConfig, getEntity, parseConfigText } from '../lambdas/domain/config';
import {
  type ChunkPlan,
  decodeUtf8,
  type FilePlan,
  maxRecordBytesFor,
  parseRecord,
  planChunks,
  type RawRecord,
  recordsOf,
} from '../lambdas/domain/csv';
import { bindHeader, mapValues } from '../lambdas/domain/mapping';
import { normalizeValue } from '../lambdas/domain/normalize';
import { partitionOf } from '../lambdas/domain/run';
import { HIGH_WATER_MARK } from './measure';

export const CONFIG_PATH = join(__dirname, '..', 'examples', 'crm-sync.config.json');
export const ENTITY = 'contact';

export function loadEntity(): EntityConfig {
  return getEntity(parseConfigText(readFileSync(CONFIG_PATH, 'utf8'), CONFIG_PATH), ENTITY);
}

/** What the Plan step hands the workers (WorkerJob without the AWS parts). */
export interface HotPathJob {
  path: string;
  entity: EntityConfig;
  plan: FilePlan;
  columns: string[];
  partitions: number;
  maxRecordBytes: number;
  planMs: number;
}

/** Plans the file like plan.ts does (same chunkBytes, maxRecordBytes, delimiter and partition count). */
export async function planJob(path: string, entity: EntityConfig, chunkBytes: number): Promise<HotPathJob> {
  const maxRecordBytes = maxRecordBytesFor(entity.source);
  const started = performance.now();
  const plan = await planChunks(createReadStream(path, { highWaterMark: HIGH_WATER_MARK }), {
    format: 'csv',
    chunkBytes,
    maxRecordBytes,
    delimiter: entity.source.delimiter,
  });
  const planMs = performance.now() - started;
  if (!plan.header) throw new Error(`${path}: planChunks found no header`);
  const header = parseRecord(plan.header.text, plan.delimiter);
  if (!header.ok) throw new Error(`${path}: header: ${header.reason}`);
  const partitions = Math.max(1, Math.min(1000, Math.ceil(plan.rows / entity.partitionRows)));
  return { path, entity, plan, columns: header.fields, partitions, maxRecordBytes, planMs };
}

/** Whether the file's header covers the mapping: every configured source column is bound. */
export function mappingCoverage(job: HotPathJob): {
  mappedFields: number;
  configuredFields: number;
  missingOptional: string[];
  unusedColumns: string[];
} {
  const binding = bindHeader(job.columns, job.entity);
  const used = new Set(binding.fieldColumns.map((f) => f.index));
  if (binding.deleteIndex !== undefined) used.add(binding.deleteIndex);
  return {
    mappedFields: binding.fieldColumns.length,
    configuredFields: Object.keys(job.entity.fields).length,
    missingOptional: binding.missingOptional,
    unusedColumns: job.columns.filter((_, i) => !used.has(i)),
  };
}

export interface HotPathTotals {
  rows: number;
  /** Fields over all data rows: not counted on the hot path (it never sees them as a total). */
  fields: number;
  chunks: number;
  candidates: number;
  rejected: number;
  superseded: number;
  /** UTF-16 units of the part objects and rejects objects the workers would upload. */
  outputChars: number;
  /** Time spent serializing winners and rejects (included in the pass time). */
  serializeMs: number;
}

export class ChunkRowsMismatchError extends Error {}

/** A chunk's records as the worker reads them: its byte range streamed from disk, split by recordsOf. */
function chunkRecords(job: HotPathJob, chunk: ChunkPlan): AsyncGenerator<RawRecord[]> {
  const body = createReadStream(job.path, {
    start: chunk.start,
    end: chunk.end - 1, // inclusive, like the ranged GET `bytes=start-(end-1)`
    highWaterMark: HIGH_WATER_MARK,
  });
  const options = { maxRecordBytes: job.maxRecordBytes, delimiter: job.plan.delimiter, quoting: true };
  return recordsOf(body, chunk, options);
}

/** Transforms one chunk like transformChunk (minus S3 and the ledger); returns what it would upload. */
async function transformChunk(
  job: HotPathJob,
  chunk: ChunkPlan,
  totals: HotPathTotals,
  onBatch: (() => void) | undefined,
): Promise<void> {
  const { entity } = job;
  const binding = bindHeader(job.columns, entity);
  const { delimiter } = job.plan;
  const acc = new ChunkAccumulator(entity, binding, delimiter, entity.source.maxFieldBytes, 'csv');
  if (chunk.end > chunk.start) {
    for await (const records of chunkRecords(job, chunk)) {
      for (const r of records) acc.add(r);
      onBatch?.();
    }
  }
  if (acc.rows !== chunk.rows) {
    throw new ChunkRowsMismatchError(
      `chunk ${chunk.index}: the plan counted ${chunk.rows} rows, the hot path read ${acc.rows}`,
    );
  }

  const started = performance.now();
  // The worker's own serialization (transform.ts writes exactly these texts).
  const out = acc.serialize(job.partitions);
  for (const text of out.parts) totals.outputChars += text.length;
  totals.outputChars += out.rejects.length;
  totals.serializeMs += performance.now() - started;
  onBatch?.();

  totals.rows += acc.rows;
  totals.chunks++;
  totals.candidates += acc.winners.size;
  totals.rejected += acc.rejects.length;
  totals.superseded += acc.superseded;
}

/** Runs every chunk of the job in order, one accumulator at a time. `onBatch` runs after each buffer. */
export async function runHotPath(job: HotPathJob, onBatch?: () => void): Promise<HotPathTotals> {
  const totals: HotPathTotals = {
    rows: 0,
    fields: 0,
    chunks: 0,
    candidates: 0,
    rejected: 0,
    superseded: 0,
    outputChars: 0,
    serializeMs: 0,
  };
  for (const chunk of job.plan.chunks) await transformChunk(job, chunk, totals, onBatch);
  if (totals.rows !== job.plan.rows) {
    throw new ChunkRowsMismatchError(
      `the plan counted ${job.plan.rows} rows, the hot path read ${totals.rows}`,
    );
  }
  return totals;
}

/** Time of each stage of the hot path over every chunk, each stage run on its own (see runStages). */
export interface StageTimes {
  /** Range stream from disk and recordsOf (the quote-aware splitter): the chunk's records. */
  splitMs: number;
  /** decodeUtf8 + parseRecord per record: its fields. */
  parseMs: number;
  /** mapValues per parsed record (map, validate, normalize every field into the part row). */
  mapMs: number;
  /**
   * Every mapped row to its JSON text (as the accumulator does when it accepts a row) and the
   * texts joined into one part object per merge partition (as it does at the end of the chunk).
   */
  serializeMs: number;
  /**
   * normalizeValue per target field over the same parsed rows (one field at a time within a chunk,
   * every row, deletes included, which mapValues maps only in part): what each field's type and
   * transforms cost, summed over the chunks.
   */
  fieldMs: Record<string, number>;
  rows: number;
  /** Records that parsed and mapped (the others are rejects). */
  mapped: number;
}

/**
 * The hot path's stages, each timed on its own over the same planned chunks: a chunk's records are
 * split and held (a chunk is bounded by chunkBytes), then all parsed, then all mapped, then all
 * serialized. What this leaves out of the hot path is the glue: the accumulator (dedupe by key,
 * rejects, the field size check) and the per-chunk set-up. Then each field's normalizeValue alone,
 * over the same rows.
 */
export async function runStages(job: HotPathJob): Promise<StageTimes> {
  const { entity } = job;
  const { delimiter } = job.plan;
  const binding = bindHeader(job.columns, entity);
  const times: StageTimes = {
    splitMs: 0,
    parseMs: 0,
    mapMs: 0,
    serializeMs: 0,
    fieldMs: {},
    rows: 0,
    mapped: 0,
  };
  for (const { field } of binding.fieldColumns) times.fieldMs[field] = 0;
  for (const chunk of job.plan.chunks) {
    if (chunk.end <= chunk.start) continue;
    let started = performance.now();
    const records: RawRecord[] = [];
    for await (const batch of chunkRecords(job, chunk)) for (const r of batch) records.push(r);
    times.splitMs += performance.now() - started;

    started = performance.now();
    const parsed: Array<{ line: number; fields: string[] }> = [];
    for (const r of records) {
      let text: string;
      try {
        text = decodeUtf8(r.bytes, r.line);
      } catch {
        continue;
      }
      const p = parseRecord(text, delimiter);
      if (p.ok) parsed.push({ line: r.line, fields: p.fields });
    }
    times.parseMs += performance.now() - started;

    started = performance.now();
    const rows: PartRow[] = [];
    for (const { line, fields } of parsed) {
      const row: PartRow = [null, line, null, 0, null];
      const mapped = mapValues(fields, binding, entity, row);
      if (!mapped.ok) continue;
      row[0] = mapped.key;
      row[2] = mapped.updatedAt ?? '';
      if (mapped.deleted) row[3] = 1;
      rows.push(row);
    }
    times.mapMs += performance.now() - started;
    times.mapped += rows.length;

    started = performance.now();
    const lines: string[][] = Array.from({ length: job.partitions }, () => []);
    for (const row of rows) lines[partitionOf(String(row[0]), job.partitions)]?.push(JSON.stringify(row));
    let chars = 0;
    for (const l of lines) chars += l.join('\n').length;
    times.serializeMs += performance.now() - started;
    if (chars < 0) throw new Error('unreachable'); // keeps the joined texts' length used

    for (const { field, spec, index } of binding.fieldColumns) {
      started = performance.now();
      let present = 0;
      for (const { fields } of parsed) if (normalizeValue(fields[index], spec) !== undefined) present++;
      times.fieldMs[field] = (times.fieldMs[field] ?? 0) + performance.now() - started;
      if (present < 0) throw new Error('unreachable'); // keeps the loop's result alive
    }
    times.rows += records.length;
  }
  if (times.rows !== job.plan.rows) {
    throw new ChunkRowsMismatchError(`the plan counted ${job.plan.rows} rows, the stages read ${times.rows}`);
  }
  return times;
}
