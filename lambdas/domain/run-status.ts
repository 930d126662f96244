/**
 * A run as people read it: its ledger record and its steps (chunks, partitions) turned into views
 * for `local runs`, `local status`, and the report of a run that failed before Reconcile. Pure.
 */
import { renderFailureReport, type StepTiming } from './html-report';
import type { MirrorDecision } from './mirror';
import type { RejectDecision } from './rejects';
import type { FailedRunSummary } from './report';
import type { ChunkStep, Counts, PartitionStep, RunRecord, RunStatus, SourceRef, StepStatus } from './run';

export interface ErrorView {
  name: string;
  message: string;
}

/** One run as `local runs --json` prints it. */
export interface RunView {
  runId: string;
  entity: string;
  status: RunStatus;
  source: SourceRef;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  /** Set by Reconcile; null when the run failed before it or is still running. */
  counts: Counts | null;
  /** Chunks the plan cut the file into; null when the run failed before Plan. */
  chunks: number | null;
  error?: ErrorView;
  /** Mirror mode: the delete decision, when it refused the run. */
  mirror?: MirrorDecision;
  /** The reject decision, when it refused the run. */
  rejects?: RejectDecision;
  /** A dry run (`local diff`): it wrote nothing, its counts say what a run would do. */
  dryRun?: true;
}

/** PENDING / MISSING: a planned chunk with no ledger record, while the run runs / after it ended. */
export type StepState = StepStatus | 'PENDING' | 'MISSING';

type StepView<T> = Omit<T, 'kind' | 'status' | 'error' | 'cause' | 'recordedAt'> & {
  status: StepState;
  recordedAt?: string;
  error?: ErrorView;
};
export type ChunkView = StepView<ChunkStep>;
export type PartitionView = StepView<PartitionStep>;

/** One run with its chunks and partitions, as `local status <runId> --json` prints it. */
export interface RunStatusView extends RunView {
  /** Partitions with a ledger record. */
  partitions: number;
  /** Keys with more than one row in the file (from the partition records); null before Merge. */
  duplicateKeys: number | null;
  steps: { chunks: ChunkView[]; partitions: PartitionView[] };
}

/** The error's message: a Lambda error's Cause is `{"errorType","errorMessage",…}`. */
function errorView(name: string | undefined, cause: string | undefined): ErrorView | undefined {
  if (name === undefined) return undefined;
  let message = cause ?? '';
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // not JSON: the cause is the message
  }
  return { name, message };
}

export function runView(r: RunRecord): RunView {
  const finished = r.finishedAt ?? null;
  const view: RunView = {
    runId: r.runId,
    entity: r.entity,
    status: r.status,
    source: r.source,
    startedAt: r.startedAt,
    finishedAt: finished,
    durationMs: finished ? Date.parse(finished) - Date.parse(r.startedAt) : null,
    counts: r.counts ?? null,
    chunks: r.chunks ?? null,
  };
  const error = errorView(r.error, r.cause);
  if (error) view.error = error;
  if (r.mirror) view.mirror = r.mirror;
  if (r.rejects) view.rejects = r.rejects;
  if (r.dryRun) view.dryRun = true;
  return view;
}

/** A chunk's step for people: its index first, the error as name and message. */
function chunkView(step: ChunkStep): ChunkView {
  const { kind: _kind, index, status, error, cause, ...rest } = step;
  const view: ChunkView = { index, status, ...rest };
  const e = errorView(error, cause);
  if (e) view.error = e;
  return view;
}

/** A partition's step for people: its number first, the error as name and message. */
function partitionView(step: PartitionStep): PartitionView {
  const { kind: _kind, partition, status, error, cause, ...rest } = step;
  const view: PartitionView = { partition, status, ...rest };
  const e = errorView(error, cause);
  if (e) view.error = e;
  return view;
}

/** The run with one entry per planned chunk (recorded or not) and per recorded partition. */
export function runStatusView(run: RunRecord, steps: Array<ChunkStep | PartitionStep>): RunStatusView {
  const chunkSteps = steps.filter((s): s is ChunkStep => s.kind === 'chunk');
  const partitionSteps = steps.filter((s): s is PartitionStep => s.kind === 'partition');
  const recorded = new Map(chunkSteps.map((s) => [s.index, chunkView(s)]));
  const chunks: ChunkView[] = [];
  const planned = chunkSteps.reduce((n, s) => Math.max(n, s.index + 1), run.chunks ?? 0);
  for (let index = 0; index < planned; index++) {
    chunks.push(recorded.get(index) ?? { index, status: run.status === 'RUNNING' ? 'PENDING' : 'MISSING' });
  }
  const partitions = partitionSteps.map(partitionView);
  return {
    ...runView(run),
    partitions: partitions.length,
    duplicateKeys:
      partitions.length === 0 ? null : partitions.reduce((n, p) => n + (p.duplicateKeys ?? 0), 0),
    steps: { chunks, partitions },
  };
}

function chunkTiming(c: ChunkView): StepTiming {
  return {
    id: c.index,
    status: c.status,
    rows: c.rows,
    rejected: c.rejected,
    durationMs: c.durationMs,
    error: c.error ? `${c.error.name}: ${c.error.message}` : undefined,
  };
}

function partitionTiming(p: PartitionView): StepTiming {
  return {
    id: p.partition,
    status: p.status,
    rows: p.candidates,
    applied: p.applied,
    durationMs: p.durationMs,
    error: p.error ? `${p.error.name}: ${p.error.message}` : undefined,
  };
}

/**
 * summary.json and report.html of a run that failed before Reconcile (which writes the report of
 * every run that reaches it), from its ledger record and steps. `resume` says how to resume a run
 * where it stopped (`crm-sync local redrive <runId>`, or a Step Functions redrive).
 */
export function failureReport(
  run: RunStatusView,
  resume: string,
  now: string = new Date().toISOString(),
): { summary: FailedRunSummary; html: string } {
  const prefix = `reports/${run.runId}/`;
  const finishedAt = run.finishedAt ?? now;
  const summary: FailedRunSummary = {
    runId: run.runId,
    entity: run.entity,
    status: 'FAILED',
    source: run.source,
    error: run.error ?? { name: 'Failed', message: 'the run failed without recording an error' },
    chunks: run.chunks,
    counts: null,
    reconciliation: null,
    ...(run.mirror ? { mirror: run.mirror } : {}),
    ...(run.rejects ? { rejects: run.rejects } : {}),
    ...(run.dryRun ? { dryRun: true } : {}),
    reports: {
      summary: `${prefix}summary.json`,
      html: `${prefix}report.html`,
      // CheckMirrorDeletes listed the keys before it refused the run.
      ...(run.mirror && run.mirror.candidates > 0 ? { mirrorDeletes: `${prefix}mirror-deletes.csv` } : {}),
      // CheckRejects wrote the rejected rows before it refused the run.
      ...(run.rejects && run.rejects.rejected > 0 ? { rejects: `${prefix}rejects.csv` } : {}),
    },
    startedAt: run.startedAt,
    finishedAt,
    durationMs: Date.parse(finishedAt) - Date.parse(run.startedAt),
  };
  const html = renderFailureReport({
    summary,
    chunks: run.steps.chunks.map(chunkTiming),
    partitions: run.steps.partitions.map(partitionTiming),
    nextStep:
      run.error?.name === 'MirrorDeleteLimitError'
        ? 'check that the export is complete (mirror-deletes.csv lists the keys it leaves out), or run it again with --force-deletes if the deletes are meant.'
        : run.error?.name === 'RejectLimitError'
          ? 'nothing was written: read rejects.csv (every rejected line and its reasons), fix the file or the config, or run it again with --force to load the valid rows.'
          : run.error?.name === 'EmptyExportError'
            ? 'nothing was written: check the export; if empty exports are expected (deltas), set allowEmptyExport on the entity, or run it again with --force.'
            : run.chunks === null
              ? `correct the file (or the config) and run it again. If the cause was passing (the store was unavailable), ${resume}.`
              : `${resume} once the cause is fixed: chunks and partitions that finished are not run again.`,
  });
  return { summary, html };
}
