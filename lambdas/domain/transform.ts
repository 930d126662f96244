import type { ChunkItem, WorkerJob } from '../contract/job';
import type { ChunkResult } from '../contract/results';
import type { Reject, Warning } from './chunk';
import { type CrmSyncConfig, configHash, type EntityConfig, getEntity } from './config';
import { withDateOrder } from './dates';
import { ChunkCountMismatchError, ConfigError } from './errors';
import { reasonLines } from './rejects';

/**
 * The entity a transform worker maps the job's rows with: the config's entity as Plan saw it (a
 * ConfigError when the config changed since the run was planned), reading numeric dates in the
 * order Plan decided for the file.
 */
export function entityOfJob(
  config: CrmSyncConfig,
  job: Pick<WorkerJob, 'entity' | 'runId' | 'configHash' | 'dateOrder'>,
): EntityConfig {
  const configured = getEntity(config, job.entity);
  if (configHash(configured) !== job.configHash) {
    throw new ConfigError(
      `the config of "${job.entity}" changed since run ${job.runId} was planned; start a new run`,
    );
  }
  return withDateOrder(configured, job.dateOrder);
}

/** The worker read another number of rows than Plan counted in the chunk: a ChunkCountMismatchError. */
export function checkChunkRows(chunk: Pick<ChunkItem, 'index' | 'rows'>, read: number): void {
  if (read !== chunk.rows) {
    throw new ChunkCountMismatchError(
      `chunk ${chunk.index}: the plan counted ${chunk.rows} rows, the worker read ${read}`,
    );
  }
}

/** What a chunk's accumulator (ChunkAccumulator) holds once its rows are read and its references settled. */
export interface TransformedChunk {
  readonly rows: number;
  readonly rejects: readonly Reject[];
  readonly superseded: number;
  /** The winner per key, handed to the merge. */
  readonly winners: { readonly size: number };
  /** Mirror mode only: the keys of rejected rows. */
  readonly keepKeys: readonly string[] | undefined;
  readonly unkeyedRejects: number;
  readonly reasonCounts: Readonly<Record<string, number>>;
  readonly warnings: readonly Warning[];
  readonly warningCounts: Readonly<Record<string, number>>;
}

/** The chunk's result (its Map item's output and its ledger step): counts, never rows. */
export function chunkResultOf(index: number, acc: TransformedChunk, durationMs: number): ChunkResult {
  return {
    index,
    rows: acc.rows,
    rejected: acc.rejects.length,
    superseded: acc.superseded,
    candidates: acc.winners.size,
    ...(acc.keepKeys ? { unkeyedRejects: acc.unkeyedRejects } : {}),
    topReasons: acc.reasonCounts,
    ...(acc.warnings.length > 0 ? { warnings: acc.warnings.length, topWarnings: acc.warningCounts } : {}),
    ...(acc.rejects.length > 0 ? { reasonLines: reasonLines(acc.rejects) } : {}),
    durationMs,
  };
}
