import type { ChunkItem, PartitionItem, WorkerJob } from '../contract/job';
import type { EntityConfig } from './config';
import { configHash } from './config';
import type { FilePlan, SourceFormat } from './csv';
import type { DateOrderDecision } from './dates';
import {
  HeaderMismatchError,
  InconsistentDateOrderError,
  MalformedFileError,
  PlanLimitError,
} from './errors';
import { jsonColumns } from './jsonl';
import { bindHeader, type HeaderBinding } from './mapping';
import type { SourceRef } from './run';
import { type Layout, scanSegmentsFor, type TableStats } from './sizing';
import { bindHeaderText } from './source-head';
import { verifyMode } from './verify';

/**
 * Plan's decisions after the scan: the columns the workers read, the job they get, the partitions
 * and table scan segments the run is laid out in. Pure: the use case (lambdas/use-cases/plan-chunks.ts)
 * reads the object and writes the manifests.
 */

/** The columns of the file: its CSV header bound to the mapping, or the source names a JSONL mapping reads. */
export function fileColumns(
  plan: Pick<FilePlan, 'header' | 'delimiter'>,
  entity: EntityConfig,
): { columns: string[]; binding: HeaderBinding } {
  if (plan.header) return bindHeaderText(plan.header, entity, plan.delimiter);
  const columns = jsonColumns(entity);
  return { columns, binding: bindHeader(columns, entity) };
}

/** Average bytes of a data row: the scan's count when it found rows, else the head's estimate. */
export function dataRowBytes(
  plan: Pick<FilePlan, 'header' | 'bytes' | 'bomBytes' | 'rows'>,
  headRowBytes: number,
): number {
  const headerBytes = plan.header ? plan.header.end - plan.header.start + 1 : 0;
  const dataBytes = plan.bytes - plan.bomBytes - headerBytes;
  return plan.rows > 0 ? dataBytes / plan.rows : headRowBytes;
}

/**
 * DescribeTable is asked when the verify mode depends on the table's size, or a scan is sized by
 * it; never for an empty target.
 */
export function needsTableStats(
  entity: Pick<EntityConfig, 'verify' | 'syncMode'>,
  targetEmpty: boolean,
): boolean {
  return (
    !targetEmpty &&
    (entity.verify === undefined || verifyMode(entity.verify).mode === 'full' || entity.syncMode === 'mirror')
  );
}

/** Hard AWS limits the layout breaks fail the run here, before anything is written. */
export function checkLayout(layout: Pick<Layout, 'checks'>): void {
  const broken = layout.checks.filter((c) => !c.ok && c.kind === 'quota');
  if (broken.length > 0) {
    throw new PlanLimitError(
      `the run cannot be laid out inside AWS limits: ${broken.map((c) => `${c.name} ${c.value} > ${c.limit}`).join('; ')}`,
    );
  }
}

/** The job without its layout (partitions, scan segments, throughput ceilings). */
export type JobBase = Omit<
  WorkerJob,
  'partitions' | 'scanSegments' | 'writeUnitsPerSecond' | 'readUnitsPerSecond'
>;

export interface JobBaseInput {
  runId: string;
  source: {
    entity: string;
    dryRun?: boolean | undefined;
    forceDeletes?: boolean | undefined;
    force?: boolean | undefined;
  };
  entity: EntityConfig;
  data: SourceRef;
  workPrefix: string;
  format: SourceFormat;
  delimiter: string;
  columns: string[];
  targetEmpty: boolean;
  verify: string;
  dateOrder: Record<string, DateOrderDecision>;
}

/** What every worker is told of the run, before the layout adds its partitions and ceilings. */
export function jobBaseOf(input: JobBaseInput): JobBase {
  const { source, entity, dateOrder } = input;
  return {
    runId: input.runId,
    entity: source.entity,
    configHash: configHash(entity),
    data: input.data,
    workPrefix: input.workPrefix,
    format: input.format,
    delimiter: input.delimiter,
    columns: input.columns,
    ...(source.dryRun ? { dryRun: true } : {}),
    ...(entity.syncMode === 'mirror' ? { mirror: true } : {}),
    ...(input.targetEmpty ? { targetEmpty: true } : {}),
    verify: input.verify,
    ...(source.forceDeletes ? { forceDeletes: true } : {}),
    ...(source.force ? { force: true } : {}),
    ...(Object.keys(dateOrder).length > 0 ? { dateOrder } : {}),
  };
}

/**
 * The job with its layout: the merge and verify workers' throughput ceilings, unless the tables
 * are unmetered.
 */
export function workerJob(
  base: JobBase,
  layout: Pick<Layout, 'writeUnitsPerWorker' | 'readUnitsPerWorker'>,
  partitions: number,
  scanSegments: number,
  unmetered: boolean,
): WorkerJob {
  return {
    ...base,
    partitions,
    scanSegments,
    ...(unmetered
      ? {}
      : {
          writeUnitsPerSecond: layout.writeUnitsPerWorker,
          readUnitsPerSecond: layout.readUnitsPerWorker,
        }),
  };
}

export interface ScanLayoutInput {
  verify: string;
  entity: Pick<EntityConfig, 'syncMode'>;
  stats: TableStats;
  rows: number;
  itemBytes: number;
  partitions: number;
  chunks: number;
}

/** The merge partitions' items and the table scan segments' items (see workKeys.segments). */
export interface ScanLayout {
  partitionItems: PartitionItem[];
  scanSegments: number;
  segmentItems: PartitionItem[];
}

/**
 * The table scans (full verification, mirror mode) get as many segments as the table needs for
 * one worker each to scan its segment in time; worker i below `partitions` also verifies
 * partition i. Without a scan, one worker per partition.
 */
export function scanLayout(input: ScanLayoutInput): ScanLayout {
  const { partitions, chunks } = input;
  const partitionItems: PartitionItem[] = Array.from({ length: partitions }, (_, p) => ({
    partition: p,
    chunks,
  }));
  const scans = verifyMode(input.verify).mode === 'full' || input.entity.syncMode === 'mirror';
  const scanSegments = scans
    ? scanSegmentsFor({ table: input.stats, rows: input.rows, itemBytes: input.itemBytes, partitions })
        .segments
    : partitions;
  const segmentItems: PartitionItem[] = Array.from({ length: scanSegments }, (_, p) => ({
    partition: p,
    chunks: p < partitions ? chunks : 0,
  }));
  return { partitionItems, scanSegments, segmentItems };
}

/** The chunk manifest's items. */
export function chunkItems(plan: Pick<FilePlan, 'chunks'>): ChunkItem[] {
  return plan.chunks.map((c) => ({ ...c }));
}

/**
 * An input error named by its file (`where`): the class stays, so the state machine can catch it.
 * Any other error is returned as it is.
 */
export function withFileName(where: string, err: unknown): unknown {
  if (err instanceof HeaderMismatchError)
    return new HeaderMismatchError(`${where}: ${err.message}`, { cause: err });
  if (err instanceof MalformedFileError)
    return new MalformedFileError(`${where}: ${err.message}`, { cause: err });
  if (err instanceof InconsistentDateOrderError)
    return new InconsistentDateOrderError(`${where}: ${err.message}`, { cause: err });
  return err;
}
