import { describeTableStats, isTableEmpty } from '../adapters/dynamodb';
import type { Ledger } from '../adapters/ledger';
import { logger } from '../adapters/powertools';
import { type RuntimeSettings, runtimeSettings } from '../adapters/runtime-settings';
import { objectSlices, putJson, putStream, readObject } from '../adapters/s3';
import type { ChunkItem, WorkerJob } from '../contract/job';
import type { PlanEvent, PlanOutput } from '../contract/plan';
import { compressionOf, decompressedLimit, gunzip, gunzippedName } from '../domain/compressed';
import { type CrmSyncConfig, type EntityConfig, getEntity } from '../domain/config';
import { type FilePlan, maxRecordBytesFor, planChunks, recordsOf, transcodeToUtf8 } from '../domain/csv';
import { dateSampleEnd, decideDateOrders, needsDateOrder } from '../domain/date-order';
import type { DateOrderDecision } from '../domain/dates';
import { HeaderMismatchError, MalformedFileError } from '../domain/errors';
import { SUCCESS_MARKER } from '../domain/export-folder';
import { jsonDocumentLines } from '../domain/json-document';
import type { HeaderBinding } from '../domain/mapping';
import { isParquet, parquetLines } from '../domain/parquet';
import { type SourceRef, sourceName, workKeys } from '../domain/run';
import {
  checkLayout,
  chunkItems,
  dataRowBytes,
  fileColumns,
  type JobBase,
  jobBaseOf,
  needsTableStats,
  scanLayout,
  withFileName,
  workerJob,
} from '../domain/run-plan';
import { type Layout, planLayout, type TableStats, type TableThroughput } from '../domain/sizing';
import { HEAD_BYTES, inspectHead, type SourceHead } from '../domain/source-head';
import { resolveVerify } from '../domain/verify';
import { zipMember } from '../domain/zip';
import { exportParts } from './export-parts';

export interface PlanChunksDeps {
  config: CrmSyncConfig;
  /** The bucket of the run's work objects (manifests, a transcoded copy). */
  bucket: string;
  ledger: Pick<Ledger, 'getRun' | 'updateRun'>;
  /** The target table of an entity (a ConfigError when it has none). */
  targetTable: (entity: string) => string;
}

/**
 * Tables with no throughput limit (the local stack's dynalite: the `unmeteredTables` setting): the
 * merge workers get no write or read ceiling.
 */
const UNMETERED: TableThroughput = { mode: 'on-demand', writeUnitsPerSecond: 1e9, readUnitsPerSecond: 1e9 };

/**
 * The target table's size as DescribeTable says (about six hours old). The `tableStats` setting
 * (local tests only) stands in for the answer: dynalite always says 0.
 */
async function tableStats(table: string, settings: RuntimeSettings): Promise<TableStats> {
  if (settings.tableStats) return settings.tableStats;
  const described = await describeTableStats(table);
  return { bytes: described.bytes ?? 0, items: described.items ?? 0 };
}

type PlanSource = PlanEvent['source'];

/**
 * PlanChunks: decompresses a gzip or zip export, checks the header (CSV) or first record (JSONL)
 * against the mapping, transcodes UTF-16/32 and Windows-1252 to UTF-8, converts a JSON array or
 * tree file to JSON Lines, cuts the file into byte-range chunks on record boundaries and writes the
 * chunk and partition manifests. Input errors name the file.
 */
export async function planRun(event: PlanEvent, deps: PlanChunksDeps): Promise<PlanOutput> {
  const { runId, source } = event;
  const entity = getEntity(deps.config, source.entity);
  const where = sourceName(source);
  const workPrefix = `work/${runId}/`;
  try {
    const { head, data, plan, chunks, first, files } = await scanExport(
      source,
      entity,
      deps.bucket,
      workPrefix,
    );
    const { columns, binding } = fileColumns(plan, entity);
    const dateOrder = await dateOrders(runId, data, first, head, columns, binding, entity);
    const target = await describeTarget(deps.targetTable(source.entity), entity);
    const base = jobBaseOf({
      runId,
      source,
      entity,
      data,
      workPrefix,
      format: head.format,
      delimiter: plan.delimiter,
      columns,
      targetEmpty: target.empty,
      verify: target.verify,
      dateOrder,
    });
    const jobBase = files ? { ...base, files } : base;
    const { layout, unmetered } = layOut(plan, head, entity, jobBase);
    // A resumed run keeps the partition count its finished chunks wrote their parts for: a layout
    // computed anew (another concurrency setting) must not move keys to other partitions.
    const partitions = (await deps.ledger.getRun(runId))?.partitions ?? layout.partitions;
    const scan = scanLayout({
      verify: target.verify,
      entity,
      stats: target.stats,
      rows: plan.rows,
      itemBytes: layout.itemBytes,
      partitions,
      chunks: chunks.length,
    });
    await putJson(deps.bucket, workKeys.manifest(workPrefix), chunks);
    await putJson(deps.bucket, workKeys.partitions(workPrefix), scan.partitionItems);
    await putJson(deps.bucket, workKeys.segments(workPrefix), scan.segmentItems);
    await deps.ledger.updateRun(runId, { chunks: chunks.length, partitions });
    const planned = { runId, plan, head, layout, partitions, scanSegments: scan.scanSegments };
    logPlanned(planned, target.stats);
    const job = workerJob(jobBase, layout, partitions, scan.scanSegments, unmetered);
    return planOutput(planned, { workPrefix, entity: source.entity, binding, job });
  } catch (err) {
    // Name the file in every input error, keep the class so the state machine can catch it (a
    // part's error names the part already).
    throw err instanceof PartError ? err.cause : withFileName(where, err);
  }
}

/** What Plan scanned: the first file's head and data, the plan over every file, and the chunks. */
interface Scanned {
  head: SourceHead;
  data: SourceRef;
  /** The whole export's plan (a multi-file export: its parts' chunks, rows and bytes together). */
  plan: FilePlan;
  /** The first file's own plan (the date order is decided from its first records). */
  first: FilePlan;
  chunks: ChunkItem[];
  /** A multi-file export: its parts' names relative to the folder, in part order. */
  files?: string[] | undefined;
}

/** An input error of one part of a multi-file export, already named by the part (its `cause`). */
class PartError extends Error {}

/**
 * Reads and chunks the source: one file, or each part of a multi-file export (its key the folder's
 * marker or manifest) through the same readSource, so a part is checked, transcoded or converted as
 * a file is. The parts must have the same format, delimiter and columns as the first; each chunk
 * names its part, whose bytes and lines it refers to. The parts must be those ClaimRun derived the
 * run id with (`source.parts`): a part changed since is a MalformedFileError.
 */
async function scanExport(
  source: PlanSource,
  entity: EntityConfig,
  bucket: string,
  workPrefix: string,
): Promise<Scanned> {
  if (source.parts === undefined) {
    const one = await scanFile(source, entity, bucket, workPrefix);
    return { ...one, first: one.plan, chunks: chunkItems(one.plan) };
  }
  const found = await exportParts(source);
  if (found?.digest !== source.parts) {
    throw new MalformedFileError(
      `the parts of the export changed since its run was claimed: drop its ${SUCCESS_MARKER} or manifest again to run them`,
    );
  }
  const scans: Array<Awaited<ReturnType<typeof scanFile>> & { ref: SourceRef; name: string }> = [];
  for (const [i, part] of found.parts.entries()) {
    const name = `s3://${source.bucket}/${part.key}`;
    try {
      const partSource: PlanSource = {
        bucket: source.bucket,
        key: part.key,
        entity: source.entity,
        etag: part.etag,
        size: part.size,
      };
      const scan = await scanFile(partSource, entity, bucket, `${workPrefix}sources/${i}/`);
      const first = scans[0];
      if (first) sameLayout(first, scan, entity, part.key);
      scans.push({ ...scan, ref: { bucket: source.bucket, key: part.key, etag: part.etag }, name: part.key });
    } catch (err) {
      throw new PartError(name, { cause: withFileName(name, err) });
    }
  }
  const [first] = scans;
  if (!first) throw new MalformedFileError('the export has no part');
  const chunks = scans.flatMap((s, part) =>
    chunkItems(s.plan).map((c) => ({ ...c, data: s.data, file: s.name, part })),
  );
  const plan: FilePlan = {
    ...first.plan,
    chunks: chunks.map(({ index, start, end, firstLine, rows }) => ({ index, start, end, firstLine, rows })),
    rows: scans.reduce((n, s) => n + s.plan.rows, 0),
    bytes: scans.reduce((n, s) => n + s.plan.bytes, 0),
  };
  return {
    head: first.head,
    data: first.data,
    plan,
    first: first.plan,
    chunks: chunks.map((c, index) => ({ ...c, index })),
    files: found.parts.map((p) => p.key.slice(found.folder.length)),
  };
}

/** A part of another format, delimiter or header than the export's first part fails the run. */
function sameLayout(
  first: { head: SourceHead; plan: FilePlan },
  part: { head: SourceHead; plan: FilePlan },
  entity: EntityConfig,
  key: string,
): void {
  const columns = (p: FilePlan) => (p.header ? fileColumns(p, entity).columns.join('\u0000') : '');
  if (first.head.format !== part.head.format) {
    throw new HeaderMismatchError(
      `part ${key} is ${part.head.format}, the export's first part ${first.head.format}`,
    );
  }
  if (first.plan.delimiter !== part.plan.delimiter || columns(first.plan) !== columns(part.plan)) {
    throw new HeaderMismatchError(`part ${key} has another header than the export's first part`);
  }
}

/** One file read (readSource) and cut into chunks. */
async function scanFile(
  source: PlanSource,
  entity: EntityConfig,
  bucket: string,
  workPrefix: string,
): Promise<{ head: SourceHead; data: SourceRef; plan: FilePlan }> {
  const { head, data, records } = await readSource(source, entity, bucket, workPrefix);
  // A JSON document without records has no data row, as a header-only CSV (EmptyExportError).
  const plan: FilePlan =
    records === 0
      ? { delimiter: ',', bomBytes: 0, chunks: [], rows: 0, bytes: 0 }
      : await planChunks(await readObject(data, undefined, data.etag), {
          format: head.format,
          chunkBytes: head.chunkBytes,
          maxRecordBytes: maxRecordBytesFor(entity.source),
          delimiter: head.delimiter ?? entity.source.delimiter,
        });
  return { head, data, plan };
}

/**
 * A first load: the merge need not read what the (empty) target holds (the entity's lock keeps
 * other crm-sync runs out until this one ends). The table's size decides the verify mode and the
 * scans' segments.
 */
async function describeTarget(
  target: string,
  entity: EntityConfig,
): Promise<{ empty: boolean; stats: TableStats; verify: string }> {
  const empty = await isTableEmpty(target);
  const stats = needsTableStats(entity, empty)
    ? await tableStats(target, runtimeSettings())
    : { bytes: 0, items: 0 };
  return {
    empty,
    stats,
    verify: resolveVerify(entity.verify, entity.verify === undefined ? stats.items : 0),
  };
}

/** The run's layout (lambdas/domain/sizing.ts); a layout past a hard AWS limit fails the run here. */
function layOut(
  plan: FilePlan,
  head: SourceHead,
  entity: EntityConfig,
  jobBase: JobBase,
): { layout: Layout; unmetered: boolean } {
  const settings = runtimeSettings();
  const unmetered = settings.unmeteredTables;
  const layout = planLayout({
    objectBytes: plan.bytes,
    avgRowBytes: dataRowBytes(plan, head.headRowBytes),
    rows: plan.rows,
    chunks: plan.chunks.length,
    entity,
    maxConcurrency: settings.maxConcurrency,
    table: unmetered ? UNMETERED : undefined,
    // The job with its partition count and write ceilings (a few bytes more).
    jobBytes: Buffer.byteLength(JSON.stringify(jobBase)) + 100,
  });
  checkLayout(layout);
  return { layout, unmetered };
}

/** What Plan decided for the run. */
interface Planned {
  runId: string;
  plan: FilePlan;
  head: SourceHead;
  layout: Layout;
  partitions: number;
  scanSegments: number;
}

function logPlanned(
  { runId, plan, head, layout, partitions, scanSegments }: Planned,
  stats: TableStats,
): void {
  logger.info('planned', {
    runId,
    format: head.format,
    chunks: plan.chunks.length,
    partitions,
    scanSegments,
    tableItems: stats.items,
    tableBytes: stats.bytes,
    rows: plan.rows,
    bytes: plan.bytes,
    encoding: head.encoding,
    chunkBytes: head.chunkBytes,
    transformConcurrency: layout.transformConcurrency,
    mergeConcurrency: layout.mergeConcurrency,
    writeUnitsPerWorker: layout.writeUnitsPerWorker,
    estimatedSeconds: Math.round(layout.seconds.total),
  });
  for (const warning of layout.warnings) logger.warn('layout', { runId, warning });
}

/** Plan's output: the manifests' keys, the counts, the layout and the workers' job. */
function planOutput(
  { runId, plan, head, layout, partitions, scanSegments }: Planned,
  {
    workPrefix,
    entity,
    binding,
    job,
  }: { workPrefix: string; entity: string; binding: HeaderBinding; job: WorkerJob },
): PlanOutput {
  return {
    runId,
    entity,
    manifestKey: workKeys.manifest(workPrefix),
    partitionsKey: workKeys.partitions(workPrefix),
    segmentsKey: workKeys.segments(workPrefix),
    chunks: plan.chunks.length,
    partitions,
    scanSegments,
    rows: plan.rows,
    bytes: plan.bytes,
    format: head.format,
    encoding: head.encoding,
    missingOptionalColumns: plan.header ? binding.missingOptional : [],
    layout: {
      chunkBytes: head.chunkBytes,
      transformConcurrency: layout.transformConcurrency,
      mergeConcurrency: layout.mergeConcurrency,
      verifyConcurrency: layout.verifyConcurrency,
      writeUnitsPerWorker: layout.writeUnitsPerWorker,
      readUnitsPerWorker: layout.readUnitsPerWorker,
      estimatedSeconds: Math.round(layout.seconds.total),
      warnings: layout.warnings,
    },
    job,
  };
}

/**
 * The object's first bytes, checked (lambdas/domain/source-head.ts: its encoding, format and header),
 * and the object the chunks refer to (utf8Source). A gzip or zip export is decompressed first
 * (decompressed), a Parquet file converted to a JSON Lines copy, and the copy's first bytes checked.
 */
async function readSource(
  source: PlanSource,
  entity: EntityConfig,
  bucket: string,
  workPrefix: string,
): Promise<{ head: SourceHead; data: SourceRef; records?: number | undefined }> {
  // Real S3 answers 416 to a range over an empty object: say what is wrong instead.
  if (source.size === 0) throw new MalformedFileError('file is empty');
  const input = await decompressed(source, entity, bucket, workPrefix);
  const raw = input.raw;
  if (!isParquet(raw)) {
    const head = await inspectHead(raw, { key: input.name, size: input.source.size }, entity);
    return { head, ...(await utf8Source(input.source, head, bucket, workPrefix)) };
  }
  const key = workKeys.transcoded(workPrefix, 'jsonl');
  let records = 0;
  let size = 0;
  const parquet = sourceRefOf(input.source);
  const out = await putStream(
    bucket,
    key,
    counted(
      parquetLines(objectSlices(parquet, input.source.size, parquet.etag), (n) => {
        records = n;
      }),
      (n) => {
        size += n;
      },
    ),
    'application/x-ndjson',
  );
  const data: SourceRef = { bucket, key, etag: out.etag };
  const head = await inspectHead(
    size === 0 ? Buffer.alloc(0) : await firstBytes(data, size),
    { key, size },
    entity,
  );
  return { head, data, records };
}

/** The object a PlanSource names, pinned to its version and ETag. */
function sourceRefOf(source: PlanSource): SourceRef {
  return {
    bucket: source.bucket,
    key: source.key,
    versionId: source.versionId ?? undefined,
    etag: source.etag,
  };
}

/**
 * The object Plan reads next, with its first bytes and the name its format is told by: the source
 * itself, or, for a gzip file or a zip archive of one member (found by its first bytes), its
 * decompressed copy under the run's work prefix (work/<runId>/source.decompressed), written once,
 * streaming. Messages still name the source (planRun names `source`, never the copy).
 */
async function decompressed(
  source: PlanSource,
  entity: EntityConfig,
  bucket: string,
  workPrefix: string,
): Promise<{ source: PlanSource; name: string; raw: Buffer }> {
  const original = sourceRefOf(source);
  const raw = await firstBytes(original, source.size);
  const compression = compressionOf(raw);
  if (compression === undefined) return { source, name: source.key, raw };
  const limit = decompressedLimit(source.size, entity.source.maxDecompressionRatio);
  const member =
    compression === 'gzip'
      ? {
          name: gunzippedName(source.key),
          bytes: gunzip(await readObject(original, undefined, source.etag), limit),
        }
      : await zipMember(
          { size: source.size, read: (start, end) => readObject(original, { start, end }, source.etag) },
          limit,
        );
  const key = workKeys.decompressed(workPrefix);
  let size = 0;
  const out = await putStream(
    bucket,
    key,
    counted(member.bytes, (n) => {
      size += n;
    }),
    'application/octet-stream',
  );
  if (size === 0) throw new MalformedFileError(`the ${compression} file's member is empty`);
  const copy: PlanSource = { ...source, bucket, key, versionId: null, etag: out.etag, size };
  return { source: copy, name: member.name, raw: await firstBytes(sourceRefOf(copy), size) };
}

/** The first HEAD_BYTES of an object of `size` bytes. */
async function firstBytes(ref: SourceRef, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await readObject(ref, { start: 0, end: Math.min(HEAD_BYTES, size) }, ref.etag)) {
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks);
}

/** The pieces of `source`, telling `onBytes` the length of each. */
async function* counted(
  source: AsyncIterable<Buffer>,
  onBytes: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    onBytes(piece.length);
    yield piece;
  }
}

/**
 * The object the chunks refer to: the source, or its UTF-8 copy under the run's work prefix (a
 * transcoded export; a JSON array or tree file converted to JSON Lines, with its count of records).
 */
async function utf8Source(
  source: PlanSource,
  head: SourceHead,
  bucket: string,
  workPrefix: string,
): Promise<{ data: SourceRef; records?: number | undefined }> {
  const original = sourceRefOf(source);
  if (head.encoding === 'utf8' && head.document === undefined) return { data: original };
  const key = workKeys.transcoded(workPrefix, head.format);
  const utf8 = transcodeToUtf8(await readObject(original, undefined, source.etag), head.encoding);
  let records: number | undefined;
  const out = await putStream(
    bucket,
    key,
    head.document === undefined
      ? utf8
      : jsonDocumentLines(utf8, head.document, (n) => {
          records = n;
        }),
    head.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
  );
  return { data: { bucket, key, etag: out.etag }, records };
}

/** The day/month order of numeric dates, once per file: from the values of its first records. */
async function dateOrders(
  runId: string,
  data: SourceRef,
  plan: FilePlan,
  head: SourceHead,
  columns: string[],
  binding: HeaderBinding,
  entity: EntityConfig,
): Promise<Record<string, DateOrderDecision>> {
  if (!needsDateOrder(binding.fieldColumns) || plan.bytes === 0) return {};
  const { format } = head;
  const end = dateSampleEnd(plan.chunks);
  const dateOrder = await decideDateOrders(
    recordsOf(
      await readObject(data, { start: 0, end }, data.etag),
      { start: 0, firstLine: 1 },
      {
        maxRecordBytes: maxRecordBytesFor(entity.source),
        delimiter: format === 'csv' ? plan.delimiter : ',',
        quoting: format === 'csv',
      },
    ),
    {
      format,
      delimiter: plan.delimiter,
      columns,
      fieldColumns: binding.fieldColumns,
      truncated: end < plan.bytes,
    },
  );
  for (const [field, d] of Object.entries(dateOrder)) {
    if (d.decidedBy === 'undecided') {
      logger.warn('date order undecided: read month-first', {
        runId,
        field,
        source: entity.fields[field]?.source,
      });
    }
  }
  return dateOrder;
}
