import { InvalidEventError, RunNotResumableError } from './errors';
import { DRY_RUN_PREFIX, type RunRecord, type SourceRef, sourceName } from './run';

/**
 * What ClaimRun does with a run id the ledger may already hold:
 * - `claim`: a new run, claimed with a conditional put;
 * - `continue`: this execution claimed it already (a retried ClaimRun) and goes on;
 * - `resume`: a failed run taken up again (`reopen`: by another execution than the one that ran it);
 * - `duplicate`: another trigger's run of the same object and config, which ends this execution.
 */
export type Admission =
  | { kind: 'claim' }
  | { kind: 'continue' }
  | { kind: 'resume'; reopen: boolean }
  | { kind: 'duplicate'; status: string };

export interface AdmissionInput {
  /** The source of the trigger: `resume` names the run it asks to resume. */
  source: Pick<SourceRef, 'bucket' | 'key' | 'label'> & { entity: string; resume?: string | undefined };
  /** The run id the object and config make now. */
  runId: string;
  /** The ledger's record of that run, if any. */
  existing: Pick<RunRecord, 'status' | 'executionId'> | undefined;
  /** The execution asking (absent when the trigger names none). */
  executionId: string | undefined;
}

/**
 * Decides how a trigger's run id is admitted; a resume that cannot be is a RunNotResumableError
 * (the object or config changed since, the run is unknown, or it did not fail).
 */
export function admitRun({ source, runId, existing, executionId }: AdmissionInput): Admission {
  const own = existing !== undefined && executionId !== undefined && existing.executionId === executionId;
  if (source.resume === undefined) {
    if (existing && !own) return { kind: 'duplicate', status: existing.status };
    return own ? { kind: 'continue' } : { kind: 'claim' };
  }
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
  return { kind: 'resume', reopen: !own };
}

/**
 * A dry run's copy of a file is never loaded: a real run of it would apply what was only previewed.
 * Throws InvalidEventError for a real run of a key under DRY_RUN_PREFIX.
 */
export function refuseDryRunCopy(source: {
  key: string;
  entity: string;
  dryRun?: boolean | undefined;
}): void {
  if (!source.dryRun && source.key.startsWith(DRY_RUN_PREFIX)) {
    throw new InvalidEventError(
      `${source.key} is a dry run's file (under ${DRY_RUN_PREFIX}): only a dry run may read it; put the export under inbox/${source.entity}/ to load it`,
    );
  }
}

/** The run's source as the ledger records it: the trigger's object at the version HEAD saw. */
export function claimedRef(
  source: { bucket: string; key: string; label?: string | undefined },
  head: { versionId?: string | undefined; etag?: string | undefined },
): SourceRef {
  return {
    bucket: source.bucket,
    key: source.key,
    versionId: head.versionId,
    etag: head.etag,
    ...(source.label ? { label: source.label } : {}),
  };
}
