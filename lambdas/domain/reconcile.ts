/**
 * Reconcile's arithmetic: the counts of the chunks and partitions added up, the checks that every
 * planned row is accounted for exactly once and that the target holds what the run decided, the
 * run's outcome and its summary. Pure: the use case (use-cases/reconcile.ts) reads the workers'
 * results and writes the reports.
 */
import type { WorkerJob } from '../contract/job';
import type { PlanSummary } from '../contract/plan';
import type { ChunkResult, PartitionResult, VerifyResult } from '../contract/results';
import type { DuplicateKey, Warning } from './chunk';
import type { EntityConfig } from './config';
import { acceptedFormats, type DateOrderDecision, withDateOrder } from './dates';
import { missingColumnsOf } from './mapping';
import { type MirrorDecision, percent } from './mirror';
import type { ReferenceCheck } from './references';
import { decideRejects, type RejectDecision, sumRejectCounts } from './rejects';
import { type Check, type RunSummary, topReasons } from './report';
import { positionCells, positionColumns, positionLabel } from './row-position';
import { accountingGap, type Counts, type MergedLine, type RunRecord, type RunStatus } from './run';
import { compareWritten, type Mismatch, mergeReferenceChecks, verifyMode } from './verify';

/** The problems a summary lists (all of them are in mismatches.csv). */
export const MISMATCHES_KEPT = 100;

/** What the transform, merge and verify Maps reported: their workers' results and failures. */
export interface RunResults {
  chunks: ChunkResult[];
  chunkFailures: string[];
  /** The partitions the merge passes finished (a partition a pass left reports again, complete). */
  partitions: PartitionResult[];
  partitionFailures: string[];
  verifications: VerifyResult[];
  verifyFailures: string[];
}

/** The chunks' and partitions' counts added up. */
export interface RunTally {
  counts: Counts;
  /** Rejected rows per reason code. */
  reasons: Record<string, number>;
  warnings: number;
  warningReasons: Record<string, number>;
  /** Distinct keys the chunks handed over, and those the partitions merged. */
  chunkCandidates: number;
  partitionCandidates: number;
  duplicateKeys: number;
  mirrorDeleted: number;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [r, n] of Object.entries(from)) into[r] = (into[r] ?? 0) + n;
}

export function tallyRun(chunks: readonly ChunkResult[], partitions: readonly PartitionResult[]): RunTally {
  const t: RunTally = {
    counts: { rows: 0, applied: 0, unchanged: 0, superseded: 0, deleted: 0, rejected: 0 },
    reasons: {},
    warnings: 0,
    warningReasons: {},
    chunkCandidates: 0,
    partitionCandidates: 0,
    duplicateKeys: 0,
    mirrorDeleted: 0,
  };
  for (const c of chunks) {
    t.counts.rows += c.rows;
    t.counts.rejected += c.rejected;
    t.counts.superseded += c.superseded;
    t.chunkCandidates += c.candidates;
    addCounts(t.reasons, c.topReasons);
    t.warnings += c.warnings ?? 0;
    addCounts(t.warningReasons, c.topWarnings ?? {});
  }
  for (const p of partitions) {
    t.counts.applied += p.applied;
    t.counts.unchanged += p.unchanged;
    t.counts.superseded += p.superseded;
    t.counts.deleted += p.deleted;
    t.partitionCandidates += p.candidates;
    t.duplicateKeys += p.duplicateKeys;
    t.mirrorDeleted += p.mirrorDeleted ?? 0;
  }
  return t;
}

/** What the verify workers found, added up. */
export interface VerifyTally {
  verified: number;
  decisions: number;
  scanned: number;
  mismatchedCount: number;
  /** The first MISMATCHES_KEPT problems. */
  mismatched: Mismatch[];
}

export function tallyVerify(verifications: readonly VerifyResult[]): VerifyTally {
  const t: VerifyTally = { verified: 0, decisions: 0, scanned: 0, mismatchedCount: 0, mismatched: [] };
  for (const v of verifications) {
    t.verified += v.verified;
    t.decisions += v.decisions;
    t.scanned += v.scanned;
    t.mismatchedCount += v.problems;
    for (const m of v.sample) if (t.mismatched.length < MISMATCHES_KEPT) t.mismatched.push(m);
  }
  return t;
}

function failed(failures: readonly string[]): string {
  return failures.length ? `; failed: ${failures.slice(0, 5).join(' | ')}` : '';
}

type PlanCounts = Pick<PlanSummary, 'chunks' | 'partitions' | 'rows' | 'scanSegments'>;

/** Every planned chunk and partition reported once, every row read and accounted for exactly once. */
export function accountingChecks(plan: PlanCounts, results: RunResults, tally: RunTally): Check[] {
  const { chunks, partitions } = results;
  const { counts } = tally;
  const chunkIds = new Set(chunks.map((c) => c.index));
  const partIds = new Set(partitions.map((p) => p.partition));
  const gap = accountingGap(counts);
  return [
    {
      name: 'all-chunks',
      ok:
        chunkIds.size === plan.chunks && chunks.length === plan.chunks && results.chunkFailures.length === 0,
      detail: `${chunkIds.size} of ${plan.chunks} chunks reported${failed(results.chunkFailures)}`,
    },
    {
      name: 'all-partitions',
      ok:
        partIds.size === plan.partitions &&
        partitions.length === plan.partitions &&
        results.partitionFailures.length === 0,
      detail: `${partIds.size} of ${plan.partitions} partitions reported${failed(results.partitionFailures)}`,
    },
    {
      name: 'rows-read',
      ok: counts.rows === plan.rows,
      detail: `plan counted ${plan.rows} rows, workers read ${counts.rows}`,
    },
    {
      name: 'candidates-merged',
      ok: tally.chunkCandidates === tally.partitionCandidates,
      detail: `${tally.chunkCandidates} chunk winners handed over, ${tally.partitionCandidates} merged`,
    },
    {
      name: 'accounting',
      ok: gap === 0,
      detail: `rows ${counts.rows} = applied ${counts.applied} + unchanged ${counts.unchanged} + superseded ${counts.superseded} + deleted ${counts.deleted} + rejected ${counts.rejected}${gap ? ` (gap ${gap})` : ''}`,
    },
  ];
}

/**
 * A real run: one verify worker per table scan segment reported; worker i below the partition count
 * verified partition i, so every worker reporting once covers every partition and every segment.
 */
export function allVerifiedCheck(plan: PlanCounts, results: RunResults): Check {
  const { verifications, verifyFailures } = results;
  const workers = plan.scanSegments ?? plan.partitions;
  const what =
    workers === plan.partitions
      ? `${plan.partitions} partitions`
      : `${workers} scan segments (${plan.partitions} partitions)`;
  const verifiedIds = new Set(verifications.map((v) => v.partition));
  return {
    name: 'all-verified',
    ok:
      verifiedIds.size === workers &&
      verifications.length === workers &&
      verifications.every((v) => v.partition < workers) &&
      verifyFailures.length === 0,
    detail: `${verifiedIds.size} of ${what} verified${failed(verifyFailures)}`,
  };
}

/**
 * Content: the verify workers checked every decision (or a sample) and, in full mode, scanned the
 * table for items no source explains. Full mode proves the run's puts by the digest of the items the
 * scan found written by the run; when it differed, CheckWrittenDigest had every decision read back by
 * key (`byKey`: these results).
 */
export function contentCheck(options: {
  dryRun: boolean;
  /** The verify setting in force (the job's, else the entity's). */
  verify: string | undefined;
  byKey: boolean;
  verifications: readonly VerifyResult[];
  tally: VerifyTally;
}): Check {
  const { tally, byKey } = options;
  const written = compareWritten(options.verifications);
  // The digests differed but reading every decision by key named nothing: the table holds an item
  // marked as written by this run that is none of its puts (the scans are strongly consistent, so
  // not a stale page). The run does not match, even without a key to name.
  const unexplained = byKey && tally.mismatchedCount === 0;
  const mode = verifyMode(options.verify);
  const how = written
    ? written.ok
      ? ` (${written.expected.items} puts by the digest of the ${written.found.items} items the run wrote)`
      : ` (the digest of the ${written.found.items} items the run wrote differs from its ${written.expected.items} puts)`
    : unexplained
      ? ' (key by key: the digest of the items the run wrote differed from its puts, and no key explains it: an item is marked as written by this run without being one of its puts)'
      : byKey
        ? ' (key by key: the digest of the items the run wrote differed from its puts)'
        : mode.mode === 'sample'
          ? ` (sample of about ${mode.keys})`
          : '';
  return {
    name: 'content',
    ok: tally.mismatchedCount === 0 && (written?.ok ?? true) && !unexplained,
    detail: options.dryRun
      ? 'dry run: nothing was written, the decisions are in diff.csv'
      : `${tally.verified} of ${tally.decisions} keys verified against the target${how}${mode.mode === 'full' ? `, ${tally.scanned} stored items checked for provenance` : ''}, ${tally.mismatchedCount} differ`,
  };
}

/**
 * The reject gate as the summary tells it: a real run gets to Reconcile only when CheckRejects
 * allowed it, or forced past it (said here); a dry run reports that a run would be refused.
 * Undefined when there is nothing to say.
 */
export function rejectGate(
  chunks: readonly ChunkResult[],
  entity: Pick<EntityConfig, 'maxRejectRatio' | 'allowEmptyExport'>,
  job: Pick<WorkerJob, 'force' | 'dryRun' | 'files'>,
): RejectDecision | undefined {
  const decision = decideRejects(sumRejectCounts(chunks), {
    maxRejectRatio: entity.maxRejectRatio,
    allowEmptyExport: entity.allowEmptyExport,
    force: job.force === true,
    files: job.files,
  });
  return decision.forced || (job.dryRun && !decision.allowed) ? decision : undefined;
}

export function rejectGateCheck(gate: RejectDecision): Check {
  return {
    name: 'reject-gate',
    ok: true,
    detail: `${gate.rejected} of ${gate.rows} rows rejected (${percent(gate.ratio)}, limit ${percent(gate.maxRejectRatio)}), ${gate.forced ? 'forced: the valid rows were loaded' : `a run would be refused: ${gate.reason ?? ''}`}`,
  };
}

/**
 * Mirror mode: every candidate CheckMirrorDeletes allowed was deleted (verify checked each is gone).
 * Only a dry run gets here with a refusal (a real run stops at CheckMirrorDeletes): it reports that
 * the run would be refused, and deletes nothing either way. A resumed run re-plans its candidates
 * against the table as it is then, while partitions that had finished keep their recorded deletes:
 * the run may have deleted more than the candidates left.
 */
export function mirrorOutcome(
  decision: MirrorDecision,
  mirrorDeleted: number,
  dryRun: boolean,
): { mirror: NonNullable<RunSummary['mirror']>; check: Check } {
  const refused = !decision.allowed;
  return {
    mirror: { ...decision, deleted: refused ? 0 : mirrorDeleted },
    check: {
      name: 'mirror-deletes',
      ok: refused || mirrorDeleted >= decision.candidates,
      detail: `${decision.candidates} of ${decision.targetItems} target items absent from the export (${percent(decision.ratio)}, limit ${percent(decision.maxDeleteRatio)}${decision.forced ? ', forced' : ''}), ${refused ? `a run would be refused: ${decision.reason ?? ''}` : `${mirrorDeleted} ${dryRun ? 'would be ' : ''}deleted`}`,
    },
  };
}

/** What Reconcile decides from the workers' results. */
export interface Reconciliation {
  tally: RunTally;
  verification: VerifyTally;
  /** In the order the summary lists them. */
  checks: Check[];
  ok: boolean;
  gate: RejectDecision | undefined;
  mirror: RunSummary['mirror'];
  /** References: a report, not a failed run (parents may arrive in a later run). */
  referenceChecks: ReferenceCheck[];
}

export function reconcileResults(input: {
  plan: PlanCounts;
  job: Pick<WorkerJob, 'dryRun' | 'force' | 'verify'>;
  entity: Pick<EntityConfig, 'maxRejectRatio' | 'allowEmptyExport' | 'verify'>;
  results: RunResults;
  /** CheckWrittenDigest's decision: the verify results are those of the key-by-key pass. */
  byKey: boolean;
  /** Mirror mode: CheckMirrorDeletes' decision. */
  mirrorDecision: MirrorDecision | undefined;
}): Reconciliation {
  const { plan, job, results } = input;
  const dryRun = job.dryRun === true;
  const tally = tallyRun(results.chunks, results.partitions);
  const verification = tallyVerify(results.verifications);
  const checks = accountingChecks(plan, results, tally);
  if (!dryRun) checks.push(allVerifiedCheck(plan, results));
  checks.push(
    contentCheck({
      dryRun,
      verify: job.verify ?? input.entity.verify,
      byKey: input.byKey,
      verifications: results.verifications,
      tally: verification,
    }),
  );
  const gate = rejectGate(results.chunks, input.entity, job);
  if (gate) checks.push(rejectGateCheck(gate));
  const mirror = input.mirrorDecision && mirrorOutcome(input.mirrorDecision, tally.mirrorDeleted, dryRun);
  if (mirror) checks.push(mirror.check);
  return {
    tally,
    verification,
    checks,
    ok: checks.every((c) => c.ok),
    gate,
    mirror: mirror?.mirror,
    referenceChecks: mergeReferenceChecks(results.verifications.map((v) => v.references)),
  };
}

/** The run's reports under reports/<runId>/, in the summary's order: those the run has something for. */
export function reportKeys(
  runId: string,
  r: Pick<Reconciliation, 'tally' | 'verification' | 'referenceChecks'>,
  mirrorDecision: Pick<MirrorDecision, 'candidates'> | undefined,
  dryRun: boolean,
): RunSummary['reports'] & { html: string } {
  const prefix = `reports/${runId}/`;
  const reports: RunSummary['reports'] = { summary: `${prefix}summary.json` };
  if (mirrorDecision && mirrorDecision.candidates > 0) reports.mirrorDeletes = `${prefix}${MIRROR_REPORT}`;
  if (r.verification.mismatchedCount > 0) reports.mismatches = `${prefix}mismatches.csv`;
  if (r.referenceChecks.some((c) => c.orphans > 0)) reports.orphans = `${prefix}orphans.csv`;
  if (r.tally.counts.rejected > 0) reports.rejects = `${prefix}rejects.csv`;
  if (r.tally.warnings > 0) reports.warnings = `${prefix}warnings.csv`;
  if (r.tally.duplicateKeys > 0) reports.duplicates = `${prefix}duplicates.csv`;
  if (dryRun) reports.diff = `${prefix}diff.csv`;
  return { ...reports, html: `${prefix}report.html` };
}

/** The delete candidates of a mirror run, under reports/<runId>/. */
export const MIRROR_REPORT = 'mirror-deletes.csv';

/**
 * The CSV reports' headers and rows (cells, escaped by the writer). Those naming a row take the
 * export's part names (`files`, a multi-file export's; lambdas/domain/row-position.ts): a file
 * column before the line, and `part-2.csv:17` in duplicates' line lists.
 */
export const CSV_REPORTS = {
  mismatches: { header: 'key,scope,problem\r\n', cells: (m: Mismatch) => [m.key, m.scope, m.problem] },
  orphans: { header: 'field,entity,missing value,items,sample keys\r\n' },
  warnings: (files?: readonly string[]) => ({
    header: `${[...positionColumns(files), 'reason', 'action', 'value'].join(',')}\r\n`,
    cells: (w: Warning) => [...positionCells(w.line, files), w.reason, w.action, w.value],
  }),
  duplicates: (files?: readonly string[]) => ({
    header: 'key,lines,winner\r\n',
    cells: (d: DuplicateKey) => [
      d.key,
      d.lines.map((l) => positionLabel(l, files)).join(' '),
      positionLabel(d.winner, files),
    ],
  }),
  diff: (files?: readonly string[]) => ({
    header: `${['key', 'action', ...positionColumns(files)].join(',')}\r\n`,
    cells: (m: MergedLine) => [
      m.k,
      diffAction(m),
      ...(m.l === undefined ? positionColumns(files).map(() => '') : positionCells(m.l, files)),
    ],
  }),
  mirrorDeletes: { header: 'key\r\n' },
} as const;

/** diff.csv's action of a dry run's decision. */
export function diffAction(m: Pick<MergedLine, 'o' | 'n'>): string {
  if (m.o === 'put') return m.n ? 'create' : 'update';
  return m.o === 'mirror' ? 'mirror-delete' : m.o;
}

/** A JSONL reject keeps its line as one `record` cell; a CSV reject its cells under the file's header. */
export function rejectColumns(job: Pick<WorkerJob, 'format' | 'columns' | 'delimiter'>): {
  columns: string[];
  delimiter: string | undefined;
} {
  return job.format === 'jsonl'
    ? { columns: ['record'], delimiter: undefined }
    : { columns: job.columns, delimiter: job.delimiter };
}

/** Plan's date order decisions keyed by the source column a person reads in the file. */
export function dateOrderBySource(
  orders: Record<string, DateOrderDecision>,
  entity: EntityConfig,
): Record<string, DateOrderDecision> {
  const out: Record<string, DateOrderDecision & { timezone?: string }> = {};
  for (const [field, decision] of Object.entries(orders)) {
    const spec = entity.fields[field];
    // Local times are read in a zone: say which, so a default UTC is never silent.
    const zone = decision.localTimes ? { timezone: spec?.timezone ?? entity.timezone ?? 'UTC' } : {};
    out[spec?.source ?? field] = { ...decision, ...zone };
  }
  return out;
}

/** The formats each date column with `invalid_date`/`invalid_datetime` rejects reads (summary.dateFormats). */
export function dateFormatsOfRejects(
  reasons: Iterable<string>,
  entity: EntityConfig,
): { dateFormats?: Record<string, string> } {
  const out: Record<string, string> = {};
  for (const reason of reasons) {
    const [code, column] = reason.split(':');
    if ((code !== 'invalid_date' && code !== 'invalid_datetime') || column === undefined) continue;
    const spec = Object.values(entity.fields).find((f) => f.source === column);
    if (spec) out[column] = acceptedFormats(spec);
  }
  return Object.keys(out).length > 0 ? { dateFormats: out } : {};
}

/** summary.json of a reconciled run. */
export function runSummary(input: {
  runId: string;
  job: WorkerJob;
  entity: EntityConfig;
  plan: Pick<PlanSummary, 'chunks' | 'partitions'>;
  run: Pick<RunRecord, 'source' | 'startedAt'> | undefined;
  reconciliation: Reconciliation;
  reports: RunSummary['reports'];
  /** The reasons of the rejects written to rejects.csv that are invalid dates. */
  dateReasons: Iterable<string>;
  finishedAt: string;
}): RunSummary {
  const { job, entity, reconciliation: r, finishedAt } = input;
  const startedAt = input.run?.startedAt ?? finishedAt;
  return {
    runId: input.runId,
    entity: job.entity,
    status: r.ok ? 'SUCCEEDED' : 'FAILED',
    source: input.run?.source ?? { bucket: job.data.bucket, key: job.data.key },
    counts: r.tally.counts,
    duplicateKeys: r.tally.duplicateKeys,
    chunks: input.plan.chunks,
    partitions: input.plan.partitions,
    topReasons: topReasons(r.tally.reasons),
    warnings: r.tally.warnings,
    topWarnings: topReasons(r.tally.warningReasons),
    missingColumns: missingColumnsOf(job.columns, job.format, entity),
    // Always said (true or false): the RunFinished event carries it from here.
    dryRun: job.dryRun === true,
    ...(job.dateOrder ? { dateOrder: dateOrderBySource(job.dateOrder, entity) } : {}),
    ...dateFormatsOfRejects(input.dateReasons, withDateOrder(entity, job.dateOrder)),
    ...(r.referenceChecks.length > 0 ? { references: r.referenceChecks } : {}),
    ...(r.mirror ? { mirror: r.mirror } : {}),
    ...(r.gate ? { rejects: r.gate } : {}),
    reconciliation: {
      status: r.ok ? 'MATCHED' : 'MISMATCHED',
      checks: r.checks,
      verifiedKeys: r.verification.verified,
      mismatchedKeys: r.verification.mismatched,
      mismatchedKeyCount: r.verification.mismatchedCount,
    },
    reports: input.reports,
    startedAt,
    finishedAt,
    durationMs: Date.parse(finishedAt) - Date.parse(startedAt),
  };
}

/** The ledger's record of a reconciled run: its status, counts and, when it did not match, why. */
export function reconciledRecord(
  summary: Pick<RunSummary, 'counts' | 'finishedAt' | 'reconciliation'>,
): Partial<RunRecord> & { status: RunStatus } {
  const ok = summary.reconciliation.status === 'MATCHED';
  return {
    status: ok ? 'SUCCEEDED' : 'MISMATCHED',
    counts: summary.counts,
    finishedAt: summary.finishedAt,
    ...(ok
      ? {}
      : {
          error: 'ReconciliationMismatch',
          cause: summary.reconciliation.checks
            .filter((c) => !c.ok)
            .map((c) => c.detail)
            .join('; '),
        }),
  };
}
