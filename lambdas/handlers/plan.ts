import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { describeTableStats, isTableEmpty } from '../adapters/dynamodb';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { headObject, putJson, putStream, readObject } from '../adapters/s3';
import {
  type ClaimEvent,
  type ClaimOutput,
  claimEventSchema,
  type PlanEvent,
  type PlanOutput,
  planEventSchema,
} from '../contract/plan';
import { columnKey, configHash, type EntityConfig, getEntity } from '../domain/config';
import {
  binaryProblem,
  type Delimiter,
  detectEncoding,
  headerFromHead,
  maxRecordBytesFor,
  nulInFirstLine,
  parseRecord,
  planChunks,
  recordsOf,
  type SourceEncoding,
  type SourceFormat,
  transcodeToUtf8,
} from '../domain/csv';
import { dateSampleEnd, decideDateOrders, needsDateOrder } from '../domain/date-order';
import type { DateOrderDecision } from '../domain/dates';
import {
  ConfigError,
  EntityBusyError,
  HeaderMismatchError,
  InconsistentDateOrderError,
  InvalidEventError,
  MalformedFileError,
  PlanLimitError,
  RunNotResumableError,
} from '../domain/errors';
import { checkFirstJsonLine, firstJsonLine, jsonColumns, jsonNames, resolveFormat } from '../domain/jsonl';
import { bindHeader, type HeaderBinding } from '../domain/mapping';
import {
  type ChunkItem,
  DRY_RUN_PREFIX,
  deriveRunId,
  forcedRerun,
  LOCK_LEASE_MS,
  type PartitionItem,
  type RunRecord,
  type SourceRef,
  sourceName,
  workKeys,
} from '../domain/run';
import {
  averageRowBytes,
  chunkBytesFor,
  type Layout,
  planLayout,
  sampleRows,
  scanSegmentsFor,
  type TableStats,
  type TableThroughput,
} from '../domain/sizing';
import { notAnExport } from '../domain/sync';
import { resolveVerify, verifyMode } from '../domain/verify';
import { parseEvent, targetTable, workerEnv } from './env';

// The workflow's messages are typed once, by their schemas (lambdas/contract/plan.ts).
export type { ClaimOutput, PlanLayout, PlanOutput } from '../contract/plan';

const planEventsSchema = z.discriminatedUnion('action', [claimEventSchema, planEventSchema]);

/** Lambda workers at once, at most: the stack's `maxConcurrency` (CRM_SYNC_MAX_CONCURRENCY). */
function maxConcurrency(): number | undefined {
  const n = Number(process.env.CRM_SYNC_MAX_CONCURRENCY);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * Tables with no throughput limit (the local stack's dynalite: CRM_SYNC_UNMETERED_TABLES=1): the
 * merge workers get no write or read ceiling.
 */
const UNMETERED: TableThroughput = { mode: 'on-demand', writeUnitsPerSecond: 1e9, readUnitsPerSecond: 1e9 };

const tableStatsSchema = z.object({ bytes: z.number().min(0), items: z.number().int().min(0) });

/**
 * The target table's size as DescribeTable says (about six hours old). CRM_SYNC_TABLE_STATS
 * (`{"bytes":…,"items":…}`, local tests only) stands in for the answer: dynalite always says 0.
 */
async function tableStats(table: string): Promise<TableStats> {
  const seam = process.env.CRM_SYNC_TABLE_STATS;
  if (seam) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(seam);
    } catch (err) {
      throw new ConfigError(`CRM_SYNC_TABLE_STATS is not JSON: ${seam}`, [], { cause: err });
    }
    const stats = tableStatsSchema.safeParse(parsed);
    if (!stats.success) {
      const issues = stats.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new ConfigError(
        `CRM_SYNC_TABLE_STATS must be {"bytes": <bytes>, "items": <items>}: ${issues.join('; ')}`,
        issues,
      );
    }
    return stats.data;
  }
  const described = await describeTableStats(table);
  return { bytes: described.bytes ?? 0, items: described.items ?? 0 };
}

/** Hard AWS limits the layout breaks fail the run here, before anything is written. */
function checkLayout(layout: Layout): void {
  const broken = layout.checks.filter((c) => !c.ok && c.kind === 'quota');
  if (broken.length > 0) {
    throw new PlanLimitError(
      `the run cannot be laid out inside AWS limits: ${broken.map((c) => `${c.name} ${c.value} > ${c.limit}`).join('; ')}`,
    );
  }
}

/**
 * ClaimRun: derives the run id from the object version and config, and claims it in the ledger.
 * A duplicate trigger ends here without the lock. Otherwise it takes the entity's run lock (one run
 * per entity at a time, so each key has one writer) — EntityBusyError while another run of the
 * entity is running, which the state machine retries with a long backoff — then claims the run with
 * a conditional put. A ClaimRun retried by the same execution finds its own claim and goes on.
 * `resume` continues a failed run; it is refused when the object or the config changed since.
 * An object that is not an export (lambdas/domain/sync.ts, notAnExport) makes no run: `ignored`.
 */
export async function claimRun(event: ClaimEvent): Promise<ClaimOutput> {
  const env = workerEnv();
  const { source } = event;
  const entity = getEntity(env.config, source.entity);
  // What `local sync` and the schedules skip (notAnExport) ends the execution here: the inbox rule
  // filters empty objects, but not names. A file a person named (`local run`, label) is Plan's to judge.
  const ignore = (size: number): ClaimOutput | undefined => {
    const reason = source.label === undefined ? notAnExport({ key: source.key, size }) : undefined;
    if (!reason) return undefined;
    logger.info('not an export: ignored', { key: source.key, reason });
    return { runId: null, ignored: true, reason, entity: source.entity, key: source.key };
  };
  const early = source.size != null ? ignore(source.size) : undefined;
  if (early) return early;
  // A dry run's copy of a file is never loaded: a real run of it would apply what was only previewed.
  if (!source.dryRun && source.key.startsWith(DRY_RUN_PREFIX)) {
    throw new InvalidEventError(
      `${source.key} is a dry run's file (under ${DRY_RUN_PREFIX}): only a dry run may read it; put the export under inbox/${source.entity}/ to load it`,
    );
  }
  const versionId = source.versionId ?? undefined;
  const head = await headObject({ bucket: source.bucket, key: source.key, versionId });
  const ignored = ignore(head.size);
  if (ignored) return ignored;
  const ref: SourceRef = {
    bucket: source.bucket,
    key: source.key,
    versionId: head.versionId,
    etag: head.etag,
    ...(source.label ? { label: source.label } : {}),
  };
  const hash = configHash(entity);
  const ledger = new Ledger(env.ledgerTable);
  const runRecord = (runId: string, extra: Partial<RunRecord>): RunRecord => ({
    runId,
    entity: source.entity,
    status: 'RUNNING',
    source: ref,
    configHash: hash,
    executionId: event.executionId,
    startedAt: new Date().toISOString(),
    ...extra,
  });
  if (source.dryRun) {
    // A dry run is its own run (never a duplicate of, nor blocked by, a real one) and takes no lock:
    // it writes nothing to the target.
    const runId = deriveRunId(ref, source.entity, hash, `dry-run:${event.executionId ?? Date.now()}`);
    await ledger.claim(runRecord(runId, { dryRun: true }));
    if (event.executionId !== undefined) await ledger.recordExecution(event.executionId, runId);
    return {
      runId,
      duplicate: false,
      entity: source.entity,
      source: { ...ref, entity: source.entity, size: head.size, dryRun: true },
    };
  }
  // A forced run is another run than the refused one it follows.
  const runId = deriveRunId(ref, source.entity, hash, forcedRerun(source));
  const claimed: ClaimOutput = {
    runId,
    duplicate: false,
    entity: source.entity,
    source: {
      ...ref,
      entity: source.entity,
      size: head.size,
      ...(source.forceDeletes ? { forceDeletes: true } : {}),
      ...(source.force ? { force: true } : {}),
    },
  };
  const duplicate = (existingStatus: string): ClaimOutput => {
    logger.info('duplicate trigger', { runId, existingStatus });
    return { runId, duplicate: true, existingStatus, entity: source.entity };
  };

  const existing = await ledger.getRun(runId);
  const own =
    existing !== undefined && event.executionId !== undefined && existing.executionId === event.executionId;
  if (source.resume !== undefined) {
    if (source.resume !== runId) {
      throw new RunNotResumableError(
        `run ${source.resume} cannot be resumed: ${sourceName(source)} or the config of ` +
          `"${source.entity}" changed since it ran (they now make run ${runId}); start a new run`,
      );
    }
    if (!existing) throw new RunNotResumableError(`run ${runId} is not in the ledger`);
    if (!own && existing.status !== 'FAILED' && existing.status !== 'MISMATCHED') {
      throw new RunNotResumableError(`run ${runId} is ${existing.status}: only a failed run can be resumed`);
    }
  } else if (existing && !own) {
    return duplicate(existing.status);
  }

  const lock = await ledger.acquireLock(source.entity, runId, LOCK_LEASE_MS);
  if (!lock.acquired) {
    throw new EntityBusyError(
      `entity "${source.entity}" is busy: run ${lock.holder} (since ${lock.since}) is still running; run ${runId} waits`,
    );
  }
  // The recorder of the execution's status changes finds the run from the execution's ARN.
  const claimedBy = async (): Promise<ClaimOutput> => {
    if (event.executionId !== undefined) await ledger.recordExecution(event.executionId, runId);
    return claimed;
  };
  try {
    if (source.resume !== undefined) {
      if (!own) {
        // The error of the attempt before is no longer the run's (Reconcile records how it ends).
        await ledger.updateRun(
          runId,
          { status: 'RUNNING', executionId: event.executionId, resumes: (existing?.resumes ?? 0) + 1 },
          ['error', 'cause', 'finishedAt'],
        );
      }
      logger.info('run resumed', { runId });
      return claimedBy();
    }
    if (own) return claimedBy();
    // The token the id was derived with (a forced run's `force`), and the forcing itself: a resume
    // finds the same run with them, and is forced as the run was.
    const claim = await ledger.claim(
      runRecord(runId, {
        rerun: forcedRerun(source),
        ...(source.force ? { force: true } : {}),
        ...(source.forceDeletes ? { forceDeletes: true } : {}),
      }),
    );
    if (!claim.claimed && claim.existing.executionId !== event.executionId) {
      // A concurrent trigger of the same object claimed it first: the lock is that run's (the same
      // run id), so it stays.
      return duplicate(claim.existing.status);
    }
    return claimedBy();
  } catch (err) {
    await ledger.releaseLock(source.entity, runId);
    throw err;
  }
}

/** Bytes read to check the header before anything else (a header longer than this is checked after the scan). */
const HEAD_BYTES = 64 * 1024;

/** Parses a header record and binds it to the entity's mapping; throws the error a user should see. */
function bindHeaderText(
  header: { line: number; text: string },
  entity: EntityConfig,
  delimiter: string,
): { columns: string[]; binding: HeaderBinding } {
  const parsed = parseRecord(header.text, delimiter);
  if (!parsed.ok) {
    throw new MalformedFileError(`line ${header.line}: the header is not valid CSV (${parsed.reason})`);
  }
  const columns = parsed.fields.map((c) => c.trim());
  return { columns, binding: bindHeader(columns, entity) };
}

/** The encoding to read the object with: configured, else sniffed from its first bytes. */
function sourceEncoding(entity: EntityConfig, head: Buffer): SourceEncoding {
  switch (entity.source.encoding) {
    case 'utf-8':
      return 'utf8';
    case 'utf-16le':
      return 'utf16le';
    case 'utf-16be':
      return 'utf16be';
    case 'windows-1252':
      return 'windows1252';
    default:
      return detectEncoding(head).encoding;
  }
}

/** The first bytes of the object as UTF-8 (transcoded in memory); whole code units only. */
async function utf8Head(head: Buffer, encoding: SourceEncoding): Promise<Buffer> {
  if (encoding === 'utf8') return head;
  // Whole 4-byte groups only, so no UTF-16/32 unit is cut; the full transcode reports bad bytes.
  const whole = head.subarray(0, head.length - (head.length % 4));
  const parts: Buffer[] = [];
  try {
    const bytes = (async function* () {
      yield whole;
    })();
    for await (const p of transcodeToUtf8(bytes, encoding)) parts.push(p);
  } catch (err) {
    if (err instanceof MalformedFileError) return Buffer.alloc(0);
    throw err;
  }
  return Buffer.concat(parts);
}

/**
 * Fail fast on the first bytes, before any transcoding, scan or write: the CSV header must bind to the
 * mapping; a JSONL file's first record must be a JSON object holding at least one mapped field.
 * Returns the delimiter found in the header (CSV).
 */
function checkHead(
  head: Buffer,
  wholeFile: boolean,
  format: SourceFormat,
  entity: EntityConfig,
): Delimiter | undefined {
  if (format === 'csv') {
    const header = headerFromHead(head, wholeFile, entity.source.delimiter);
    if (header) bindHeaderText(header, entity, header.delimiter);
    return header?.delimiter;
  }
  const first = firstJsonLine(head, wholeFile);
  if (!first) return undefined;
  const checked = checkFirstJsonLine(first.text);
  if ('problem' in checked) throw new MalformedFileError(`line ${first.line}: ${checked.problem}`);
  const found = new Set(checked.keys.map(columnKey));
  const columns = jsonNames(entity);
  if (!columns.some((c) => found.has(columnKey(c)) || found.has(columnKey(c.split('.')[0] ?? c)))) {
    throw new HeaderMismatchError(
      `line ${first.line}: the first record has none of the mapped fields ` +
        `(expected some of: ${columns.join(', ')}; found: ${checked.keys.slice(0, 40).join(', ')})`,
    );
  }
  return undefined;
}

/**
 * PlanChunks: checks the header (CSV) or first record (JSONL) against the mapping, transcodes
 * UTF-16/32 and Windows-1252 to UTF-8, cuts the file into byte-range chunks on record boundaries
 * and writes the chunk and partition manifests.
 */
export async function planRun(event: PlanEvent): Promise<PlanOutput> {
  const env = workerEnv();
  const { runId, source } = event;
  const entity = getEntity(env.config, source.entity);
  const where = sourceName(source);
  const workPrefix = `work/${runId}/`;
  try {
    let data: SourceRef = {
      bucket: source.bucket,
      key: source.key,
      versionId: source.versionId ?? undefined,
      etag: source.etag,
    };
    // Real S3 answers 416 to a range over an empty object: say what is wrong instead.
    if (source.size === 0) throw new MalformedFileError('file is empty');
    const headChunks: Buffer[] = [];
    const headEnd = Math.min(HEAD_BYTES, source.size);
    for await (const c of await readObject(data, { start: 0, end: headEnd }, source.etag)) {
      headChunks.push(Buffer.from(c));
    }
    const rawHead = Buffer.concat(headChunks);
    const binary = binaryProblem(rawHead);
    if (binary !== undefined) throw new MalformedFileError(binary);
    const encoding = sourceEncoding(entity, rawHead);
    const head = await utf8Head(rawHead, encoding);
    const nul = nulInFirstLine(head);
    if (nul !== undefined) throw new MalformedFileError(nul);
    const format = resolveFormat(entity.source.format, source.key, head.toString('utf8', 0, 64));
    const headerDelimiter = checkHead(head, headEnd === source.size, format, entity);
    // Size the chunks from the object and the rows in its head (UTF-8 bytes: a transcoded object
    // shrinks or grows by the head's ratio).
    const sample = sampleRows(head, { format, wholeFile: headEnd === source.size });
    const utf8Bytes = Math.round(source.size * (rawHead.length > 0 ? head.length / rawHead.length : 1));
    const chunkBytes = chunkBytesFor(utf8Bytes, averageRowBytes(sample, head.length), entity);

    if (encoding !== 'utf8') {
      const key = workKeys.transcoded(workPrefix, format);
      const out = await putStream(
        env.bucket,
        key,
        transcodeToUtf8(await readObject(data, undefined, source.etag), encoding),
        format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      );
      data = { bucket: env.bucket, key, etag: out.etag };
    }
    const plan = await planChunks(await readObject(data, undefined, data.etag), {
      format,
      chunkBytes,
      maxRecordBytes: maxRecordBytesFor(entity.source),
      delimiter: headerDelimiter ?? entity.source.delimiter,
    });
    let columns: string[];
    let binding: HeaderBinding;
    if (plan.header) {
      ({ columns, binding } = bindHeaderText(plan.header, entity, plan.delimiter));
    } else {
      columns = jsonColumns(entity);
      binding = bindHeader(columns, entity);
    }
    // The day/month order of numeric dates, once per file: from the values of its first records.
    let dateOrder: Record<string, DateOrderDecision> = {};
    if (needsDateOrder(binding.fieldColumns)) {
      const end = dateSampleEnd(plan.chunks);
      dateOrder = await decideDateOrders(
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
    }
    // A first load: the merge need not read what the (empty) target holds. The entity's lock keeps
    // other crm-sync runs out until this one ends.
    const target = targetTable(env, source.entity);
    const targetEmpty = await isTableEmpty(target);
    // DescribeTable when the verify mode depends on the table's size, or a scan is sized by it.
    const describe =
      !targetEmpty &&
      (entity.verify === undefined ||
        verifyMode(entity.verify).mode === 'full' ||
        entity.syncMode === 'mirror');
    const stats = describe ? await tableStats(target) : { bytes: 0, items: 0 };
    const verify = resolveVerify(entity.verify, entity.verify === undefined ? stats.items : 0);
    const jobBase = {
      runId,
      entity: source.entity,
      configHash: configHash(entity),
      data,
      workPrefix,
      format,
      delimiter: plan.delimiter,
      columns,
      ...(source.dryRun ? { dryRun: true } : {}),
      ...(entity.syncMode === 'mirror' ? { mirror: true } : {}),
      ...(targetEmpty ? { targetEmpty: true } : {}),
      verify,
      ...(source.forceDeletes ? { forceDeletes: true } : {}),
      ...(source.force ? { force: true } : {}),
      ...(Object.keys(dateOrder).length > 0 ? { dateOrder } : {}),
    };
    const unmetered = process.env.CRM_SYNC_UNMETERED_TABLES === '1';
    const headerBytes = plan.header ? plan.header.end - plan.header.start + 1 : 0;
    const dataBytes = plan.bytes - plan.bomBytes - headerBytes;
    const layout = planLayout({
      objectBytes: plan.bytes,
      avgRowBytes: plan.rows > 0 ? dataBytes / plan.rows : averageRowBytes(sample, head.length),
      rows: plan.rows,
      chunks: plan.chunks.length,
      entity,
      maxConcurrency: maxConcurrency(),
      table: unmetered ? UNMETERED : undefined,
      // The job with its partition count and write ceilings (a few bytes more).
      jobBytes: Buffer.byteLength(JSON.stringify(jobBase)) + 100,
    });
    checkLayout(layout);
    // A resumed run keeps the partition count its finished chunks wrote their parts for: a layout
    // computed anew (another concurrency setting) must not move keys to other partitions.
    const ledger = new Ledger(env.ledgerTable);
    const planned = (await ledger.getRun(runId))?.partitions;
    const partitions = planned ?? layout.partitions;
    const chunks: ChunkItem[] = plan.chunks.map((c) => ({ ...c }));
    const partitionItems: PartitionItem[] = Array.from({ length: partitions }, (_, p) => ({
      partition: p,
      chunks: chunks.length,
    }));
    // The table scans (full verification, mirror mode) get as many segments as the table needs for
    // one worker each to scan its segment in time; worker i below `partitions` also verifies
    // partition i. Without a scan, one worker per partition.
    const scans = verifyMode(verify).mode === 'full' || entity.syncMode === 'mirror';
    const scanSegments = scans
      ? scanSegmentsFor({ table: stats, rows: plan.rows, itemBytes: layout.itemBytes, partitions }).segments
      : partitions;
    const segmentItems: PartitionItem[] = Array.from({ length: scanSegments }, (_, p) => ({
      partition: p,
      chunks: p < partitions ? chunks.length : 0,
    }));
    await putJson(env.bucket, workKeys.manifest(workPrefix), chunks);
    await putJson(env.bucket, workKeys.partitions(workPrefix), partitionItems);
    await putJson(env.bucket, workKeys.segments(workPrefix), segmentItems);
    await ledger.updateRun(runId, { chunks: chunks.length, partitions });
    logger.info('planned', {
      runId,
      format,
      chunks: chunks.length,
      partitions,
      scanSegments,
      tableItems: stats.items,
      tableBytes: stats.bytes,
      rows: plan.rows,
      bytes: plan.bytes,
      encoding,
      chunkBytes,
      transformConcurrency: layout.transformConcurrency,
      mergeConcurrency: layout.mergeConcurrency,
      writeUnitsPerWorker: layout.writeUnitsPerWorker,
      estimatedSeconds: Math.round(layout.seconds.total),
    });
    for (const warning of layout.warnings) logger.warn('layout', { runId, warning });
    return {
      runId,
      entity: source.entity,
      manifestKey: workKeys.manifest(workPrefix),
      partitionsKey: workKeys.partitions(workPrefix),
      segmentsKey: workKeys.segments(workPrefix),
      chunks: chunks.length,
      partitions,
      scanSegments,
      rows: plan.rows,
      bytes: plan.bytes,
      format,
      encoding,
      missingOptionalColumns: plan.header ? binding.missingOptional : [],
      layout: {
        chunkBytes,
        transformConcurrency: layout.transformConcurrency,
        mergeConcurrency: layout.mergeConcurrency,
        verifyConcurrency: layout.verifyConcurrency,
        writeUnitsPerWorker: layout.writeUnitsPerWorker,
        readUnitsPerWorker: layout.readUnitsPerWorker,
        estimatedSeconds: Math.round(layout.seconds.total),
        warnings: layout.warnings,
      },
      job: {
        ...jobBase,
        partitions,
        scanSegments,
        ...(unmetered
          ? {}
          : {
              writeUnitsPerSecond: layout.writeUnitsPerWorker,
              readUnitsPerSecond: layout.readUnitsPerWorker,
            }),
      },
    };
  } catch (err) {
    // Name the file in every input error, keep the class so the state machine can catch it.
    if (err instanceof HeaderMismatchError)
      throw new HeaderMismatchError(`${where}: ${err.message}`, { cause: err });
    if (err instanceof MalformedFileError)
      throw new MalformedFileError(`${where}: ${err.message}`, { cause: err });
    if (err instanceof InconsistentDateOrderError)
      throw new InconsistentDateOrderError(`${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

export async function planHandler(event: unknown): Promise<ClaimOutput | PlanOutput> {
  const data = parseEvent(planEventsSchema, event, 'plan');
  const e = data;
  return e.action === 'claim' ? claimRun(e) : planRun(e);
}

export const handler = middy(planHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
