import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { Ledger } from '../adapters/ledger';
import { readMapResults } from '../adapters/map-results';
import { logger, tracer } from '../adapters/powertools';
import { putJson, putObject, putStream, readJson, readTextIfExists } from '../adapters/s3';
import { planSummarySchema } from '../contract/plan';
import { mapOutputSchema, workerOutputSchemas } from '../contract/results';
import { csvCell, type DuplicateKey, type Reject, type Warning } from '../domain/chunk';
import { type EntityConfig, getEntity } from '../domain/config';
import { acceptedFormats, type DateOrderDecision, withDateOrder } from '../domain/dates';
import { MirrorDeleteLimitError } from '../domain/errors';
import { DUPLICATES_SHOWN, RejectSampler, renderReport, WARNINGS_SHOWN } from '../domain/html-report';
import { missingColumnsOf } from '../domain/mapping';
import { isPartitionLeft } from '../domain/merge-progress';
import { decideMirrorDeletes, type MirrorDecision, parseKeyLines, percent } from '../domain/mirror';
import { decideRejects, sumRejectCounts } from '../domain/rejects';
import { type Check, type RunSummary, rejectsHeader, rejectsRow, topReasons } from '../domain/report';
import {
  accountingGap,
  type Counts,
  type MergedLine,
  type PartitionResult,
  type WorkerJob,
  workKeys,
} from '../domain/run';
import {
  compareWritten,
  type DigestCount,
  type Mismatch,
  mergeReferenceChecks,
  verifyMode,
} from '../domain/verify';
import { checkMergeHandler } from './check-merge';
import { parseEvent, workerEnv } from './env';

/** The delete candidates of a mirror run, under reports/<runId>/. */
export const MIRROR_REPORT = 'mirror-deletes.csv';

const mapOutput = mapOutputSchema;
const eventSchema = z.object({
  runId: z.string(),
  plan: planSummarySchema,
  transform: mapOutput,
  merge: mapOutput,
  verify: mapOutput,
  /** CheckWrittenDigest's decision (absent in events of older definitions). */
  written: z.object({ byKey: z.boolean() }).loose().optional(),
});

/** A JSONL reject keeps its line as one `record` cell; a CSV reject its cells under the file's header. */
export function rejectColumns(job: WorkerJob): { columns: string[]; delimiter: string | undefined } {
  return job.format === 'jsonl'
    ? { columns: ['record'], delimiter: undefined }
    : { columns: job.columns, delimiter: job.delimiter };
}

/**
 * Writes one CSV report made of the objects the workers wrote, one per partition (or chunk), in
 * their order: the header, then each object's text (`transform` may rewrite it: `jsonRows`,
 * `csvRows`). Streamed: no report is held whole.
 */
export async function putCsvReport(
  bucket: string,
  key: string,
  partitions: Iterable<number>,
  header: string,
  keyOf: (partition: number) => string,
  transform: (text: string) => string = (t) => t,
): Promise<void> {
  async function* body(): AsyncGenerator<Buffer> {
    yield Buffer.from(header);
    for (const p of [...new Set(partitions)].sort((a, b) => a - b)) {
      const text = await readTextIfExists({ bucket, key: keyOf(p) });
      if (text) yield Buffer.from(transform(text));
    }
  }
  await putStream(bucket, key, body(), 'text/csv; charset=utf-8');
}

/** A `transform` for putCsvReport: each JSON line of the object becomes one row of text. */
export function jsonRows<T>(row: (line: T) => string): (text: string) => string {
  return (text) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => row(JSON.parse(l) as T))
      .join('');
}

/** jsonRows whose rows are CSV cells (escaped for spreadsheets). */
function csvRows<T>(cells: (line: T) => string[]): (text: string) => string {
  return jsonRows<T>((line) => `${cells(line).map(csvCell).join(',')}\r\n`);
}

/** diff.csv's action of a dry run's decision. */
function diffAction(m: MergedLine): string {
  if (m.o === 'put') return m.n ? 'create' : 'update';
  return m.o === 'mirror' ? 'mirror-delete' : m.o;
}

/** Plan's date order decisions keyed by the source column a person reads in the file. */
function dateOrderBySource(
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
function dateFormatsOfRejects(
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

/**
 * Reconcile: sums the chunk and partition counts, checks that every planned row is accounted for
 * exactly once, adds up what the verify workers found (content, provenance, references), and
 * writes the run's reports. Returns the summary; `reconciliation.status` decides the execution's outcome.
 */
export async function reconcileRun(event: z.infer<typeof eventSchema>): Promise<RunSummary> {
  const env = workerEnv();
  const plan = event.plan;
  const job = plan.job;
  const entity = getEntity(env.config, job.entity);
  const ledger = new Ledger(env.ledgerTable);
  const run = await ledger.getRun(event.runId);

  const transform = await readMapResults(
    event.transform.ResultWriterDetails.Bucket,
    event.transform.ResultWriterDetails.Key,
    workerOutputSchemas.transform,
  );
  const merge = await readMapResults(
    event.merge.ResultWriterDetails.Bucket,
    event.merge.ResultWriterDetails.Key,
    workerOutputSchemas.merge,
  );
  const verify = await readMapResults(
    event.verify.ResultWriterDetails.Bucket,
    event.verify.ResultWriterDetails.Key,
    workerOutputSchemas.verify,
  );
  const chunks = transform.outputs.flatMap((o) => o.chunks);
  // The merge loop's passes: a partition a pass left reports again, complete, in a later one.
  const partitions = merge.outputs
    .flatMap((o) => o.partitions)
    .filter((p): p is PartitionResult => !isPartitionLeft(p));

  const counts: Counts = { rows: 0, applied: 0, unchanged: 0, superseded: 0, deleted: 0, rejected: 0 };
  const reasons: Record<string, number> = {};
  const warningReasons: Record<string, number> = {};
  let warnings = 0;
  let chunkCandidates = 0;
  for (const c of chunks) {
    counts.rows += c.rows;
    counts.rejected += c.rejected;
    counts.superseded += c.superseded;
    chunkCandidates += c.candidates;
    for (const [r, n] of Object.entries(c.topReasons)) reasons[r] = (reasons[r] ?? 0) + n;
    warnings += c.warnings ?? 0;
    for (const [r, n] of Object.entries(c.topWarnings ?? {}))
      warningReasons[r] = (warningReasons[r] ?? 0) + n;
  }
  let partitionCandidates = 0;
  let duplicateKeys = 0;
  let mirrorDeleted = 0;
  for (const p of partitions) {
    counts.applied += p.applied;
    counts.unchanged += p.unchanged;
    counts.superseded += p.superseded;
    counts.deleted += p.deleted;
    partitionCandidates += p.candidates;
    duplicateKeys += p.duplicateKeys;
    mirrorDeleted += p.mirrorDeleted ?? 0;
  }

  const checks: Check[] = [];
  const chunkIds = new Set(chunks.map((c) => c.index));
  const partIds = new Set(partitions.map((p) => p.partition));
  checks.push({
    name: 'all-chunks',
    ok: chunkIds.size === plan.chunks && chunks.length === plan.chunks && transform.failures.length === 0,
    detail: `${chunkIds.size} of ${plan.chunks} chunks reported${transform.failures.length ? `; failed: ${transform.failures.slice(0, 5).join(' | ')}` : ''}`,
  });
  checks.push({
    name: 'all-partitions',
    ok:
      partIds.size === plan.partitions &&
      partitions.length === plan.partitions &&
      merge.failures.length === 0,
    detail: `${partIds.size} of ${plan.partitions} partitions reported${merge.failures.length ? `; failed: ${merge.failures.slice(0, 5).join(' | ')}` : ''}`,
  });
  checks.push({
    name: 'rows-read',
    ok: counts.rows === plan.rows,
    detail: `plan counted ${plan.rows} rows, workers read ${counts.rows}`,
  });
  checks.push({
    name: 'candidates-merged',
    ok: chunkCandidates === partitionCandidates,
    detail: `${chunkCandidates} chunk winners handed over, ${partitionCandidates} merged`,
  });
  const gap = accountingGap(counts);
  checks.push({
    name: 'accounting',
    ok: gap === 0,
    detail: `rows ${counts.rows} = applied ${counts.applied} + unchanged ${counts.unchanged} + superseded ${counts.superseded} + deleted ${counts.deleted} + rejected ${counts.rejected}${gap ? ` (gap ${gap})` : ''}`,
  });

  // Content: the verify workers checked every decision (or a sample) and, in full mode, scanned
  // the table for items no source explains; their problems are listed in mismatches.csv.
  const verifications = verify.outputs.flatMap((o) => o.partitions);
  const verifiedIds = new Set(verifications.map((v) => v.partition));
  // Full mode proves the run's puts by the digest of the items the scan found written by the run;
  // when it differed, CheckWrittenDigest had every decision read back by key (these results).
  const written = compareWritten(verifications);
  const byKey = event.written?.byKey === true;

  let verified = 0;
  let decisions = 0;
  let scanned = 0;
  let mismatchedCount = 0;
  const mismatched: Mismatch[] = [];
  for (const v of verifications) {
    verified += v.verified;
    decisions += v.decisions;
    scanned += v.scanned;
    mismatchedCount += v.problems;
    for (const m of v.sample) if (mismatched.length < 100) mismatched.push(m);
  }
  // The digests differed but reading every decision by key named nothing: the table holds an item
  // marked as written by this run that is none of its puts (the scans are strongly consistent, so
  // not a stale page). The run does not match, even without a key to name.
  const unexplained = byKey && mismatchedCount === 0;
  const mode = verifyMode(job.verify ?? entity.verify);
  if (!job.dryRun) {
    // One verify worker per table scan segment; worker i below the partition count verified
    // partition i, so every worker reporting once covers every partition and every segment.
    const workers = plan.scanSegments ?? plan.partitions;
    const what =
      workers === plan.partitions
        ? `${plan.partitions} partitions`
        : `${workers} scan segments (${plan.partitions} partitions)`;
    checks.push({
      name: 'all-verified',
      ok:
        verifiedIds.size === workers &&
        verifications.length === workers &&
        verifications.every((v) => v.partition < workers) &&
        verify.failures.length === 0,
      detail: `${verifiedIds.size} of ${what} verified${verify.failures.length ? `; failed: ${verify.failures.slice(0, 5).join(' | ')}` : ''}`,
    });
  }
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
  checks.push({
    name: 'content',
    ok: mismatchedCount === 0 && (written?.ok ?? true) && !unexplained,
    detail: job.dryRun
      ? 'dry run: nothing was written, the decisions are in diff.csv'
      : `${verified} of ${decisions} keys verified against the target${how}${mode.mode === 'full' ? `, ${scanned} stored items checked for provenance` : ''}, ${mismatchedCount} differ`,
  });

  // The reject gate: a real run gets here only when CheckRejects allowed it, or forced past it (said
  // here); a dry run reports that a run would be refused.
  const rejectDecision = decideRejects(sumRejectCounts(chunks), {
    maxRejectRatio: entity.maxRejectRatio,
    allowEmptyExport: entity.allowEmptyExport,
    force: job.force === true,
  });
  const gate = rejectDecision.forced || (job.dryRun && !rejectDecision.allowed) ? rejectDecision : undefined;
  if (gate) {
    checks.push({
      name: 'reject-gate',
      ok: true,
      detail: `${gate.rejected} of ${gate.rows} rows rejected (${percent(gate.ratio)}, limit ${percent(gate.maxRejectRatio)}), ${gate.forced ? 'forced: the valid rows were loaded' : `a run would be refused: ${gate.reason ?? ''}`}`,
    });
  }

  const reportPrefix = `reports/${event.runId}/`;
  const reports: RunSummary['reports'] = { summary: `${reportPrefix}summary.json` };

  // Mirror mode: every candidate CheckMirrorDeletes allowed was deleted (verify checked each is gone).
  let mirror: RunSummary['mirror'];
  if (job.mirror) {
    const decision = await readJson<MirrorDecision>({
      bucket: env.bucket,
      key: workKeys.mirrorDecision(job.workPrefix),
    });
    // Only a dry run gets here with a refusal (a real run stops at CheckMirrorDeletes): it reports
    // that the run would be refused, and deletes nothing either way.
    const refused = !decision.allowed;
    mirror = { ...decision, deleted: refused ? 0 : mirrorDeleted };
    if (decision.candidates > 0) reports.mirrorDeletes = `${reportPrefix}${MIRROR_REPORT}`;
    // Each candidate left is verified gone by the verify workers (scope `mirror`). A resumed run
    // re-plans its candidates against the table as it is then, while partitions that had finished
    // keep their recorded deletes: the run may have deleted more than the candidates left.
    checks.push({
      name: 'mirror-deletes',
      ok: refused || mirrorDeleted >= decision.candidates,
      detail: `${decision.candidates} of ${decision.targetItems} target items absent from the export (${percent(decision.ratio)}, limit ${percent(decision.maxDeleteRatio)}${decision.forced ? ', forced' : ''}), ${refused ? `a run would be refused: ${decision.reason ?? ''}` : `${mirrorDeleted} ${job.dryRun ? 'would be ' : ''}deleted`}`,
    });
  }
  if (mismatchedCount > 0) {
    reports.mismatches = `${reportPrefix}mismatches.csv`;
    await putCsvReport(
      env.bucket,
      reports.mismatches,
      verifications.map((v) => v.partition),
      'key,scope,problem\r\n',
      (p) => workKeys.mismatches(job.workPrefix, p),
      csvRows<Mismatch>((m) => [m.key, m.scope, m.problem]),
    );
  }

  // References: the parents the run's items point at must exist (a report, not a failed run:
  // parents may arrive in a later run). Each verify worker checked its partition's items.
  const referenceChecks = mergeReferenceChecks(verifications.map((v) => v.references));
  if (referenceChecks.some((c) => c.orphans > 0)) {
    reports.orphans = `${reportPrefix}orphans.csv`;
    await putCsvReport(
      env.bucket,
      reports.orphans,
      verifications.map((v) => v.partition),
      'field,entity,missing value,items,sample keys\r\n',
      (p) => workKeys.orphans(job.workPrefix, p),
    );
  }
  const { columns: rejectCols, delimiter: rejectDelimiter } = rejectColumns(job);
  const sampler = new RejectSampler(rejectCols, rejectDelimiter);
  const dateReasons = new Set<string>();
  if (counts.rejected > 0) {
    reports.rejects = `${reportPrefix}rejects.csv`;
    // Chunk by chunk; the sampler keeps a few lines per reason for report.html.
    await putCsvReport(
      env.bucket,
      reports.rejects,
      Array.from({ length: plan.chunks }, (_, c) => c),
      rejectsHeader(rejectCols),
      (c) => workKeys.rejects(job.workPrefix, c),
      jsonRows<Reject>((reject) => {
        sampler.add(reject);
        for (const r of reject.reasons) if (r.startsWith('invalid_date')) dateReasons.add(r);
        return rejectsRow(reject, rejectCols, rejectDelimiter);
      }),
    );
  }
  const warningSample: Warning[] = [];
  if (warnings > 0) {
    reports.warnings = `${reportPrefix}warnings.csv`;
    await putCsvReport(
      env.bucket,
      reports.warnings,
      Array.from({ length: plan.chunks }, (_, c) => c),
      'line,reason,action,value\r\n',
      (c) => workKeys.warnings(job.workPrefix, c),
      csvRows<Warning>((w) => {
        if (warningSample.length < WARNINGS_SHOWN) warningSample.push(w);
        return [String(w.line), w.reason, w.action, w.value];
      }),
    );
  }
  const allPartitions = Array.from({ length: plan.partitions }, (_, p) => p);
  const duplicateSample: DuplicateKey[] = [];
  if (duplicateKeys > 0) {
    reports.duplicates = `${reportPrefix}duplicates.csv`;
    await putCsvReport(
      env.bucket,
      reports.duplicates,
      allPartitions,
      'key,lines,winner\r\n',
      (p) => workKeys.duplicates(job.workPrefix, p),
      csvRows<DuplicateKey>((d) => {
        if (duplicateSample.length < DUPLICATES_SHOWN) duplicateSample.push(d);
        return [d.key, d.lines.join(' '), String(d.winner)];
      }),
    );
  }

  if (job.dryRun) {
    reports.diff = `${reportPrefix}diff.csv`;
    await putCsvReport(
      env.bucket,
      reports.diff,
      allPartitions,
      'key,action,line\r\n',
      (p) => workKeys.merged(job.workPrefix, p),
      csvRows<MergedLine>((m) => [m.k, diffAction(m), String(m.l ?? '')]),
    );
  }

  reports.html = `${reportPrefix}report.html`;
  const ok = checks.every((c) => c.ok);
  const finishedAt = new Date().toISOString();
  const startedAt = run?.startedAt ?? finishedAt;
  const summary: RunSummary = {
    runId: event.runId,
    entity: job.entity,
    status: ok ? 'SUCCEEDED' : 'FAILED',
    source: run?.source ?? { bucket: job.data.bucket, key: job.data.key },
    counts,
    duplicateKeys,
    chunks: plan.chunks,
    partitions: plan.partitions,
    topReasons: topReasons(reasons),
    warnings,
    topWarnings: topReasons(warningReasons),
    missingColumns: missingColumnsOf(job.columns, job.format, entity),
    // Always said (true or false): the RunFinished event carries it from here.
    dryRun: job.dryRun === true,
    ...(job.dateOrder ? { dateOrder: dateOrderBySource(job.dateOrder, entity) } : {}),
    ...dateFormatsOfRejects(dateReasons, withDateOrder(entity, job.dateOrder)),
    ...(referenceChecks.length > 0 ? { references: referenceChecks } : {}),
    ...(mirror ? { mirror } : {}),
    ...(gate ? { rejects: gate } : {}),
    reconciliation: {
      status: ok ? 'MATCHED' : 'MISMATCHED',
      checks,
      verifiedKeys: verified,
      mismatchedKeys: mismatched,
      mismatchedKeyCount: mismatchedCount,
    },
    reports,
    startedAt,
    finishedAt,
    durationMs: Date.parse(finishedAt) - Date.parse(startedAt),
  };
  const html = renderReport({
    summary,
    rejectSamples: sampler.samples(),
    warnings: warningSample,
    duplicates: duplicateSample,
    chunks: chunks.map((c) => ({
      id: c.index,
      rows: c.rows,
      rejected: c.rejected,
      durationMs: c.durationMs,
    })),
    partitions: partitions.map((p) => ({
      id: p.partition,
      rows: p.candidates,
      applied: p.applied,
      durationMs: p.durationMs,
    })),
  });
  await putObject(env.bucket, reports.html, html, 'text/html; charset=utf-8');
  await putJson(env.bucket, reports.summary, summary);
  await ledger.updateRun(event.runId, {
    status: ok ? 'SUCCEEDED' : 'MISMATCHED',
    counts,
    finishedAt,
    ...(ok
      ? {}
      : {
          error: 'ReconciliationMismatch',
          cause: checks
            .filter((c) => !c.ok)
            .map((c) => c.detail)
            .join('; '),
        }),
  });
  // The run is over either way: the next run of the entity may start.
  await ledger.releaseLock(job.entity, event.runId);
  logger.info('reconciled', { runId: event.runId, status: summary.reconciliation.status, ...counts });
  return summary;
}

const checkDeletesSchema = z.object({
  action: z.literal('check-deletes'),
  runId: z.string(),
  plan: eventSchema.shape.plan,
  transform: mapOutput,
  scan: mapOutput,
  candidates: mapOutput,
});

/**
 * CheckMirrorDeletes (mirror mode, before anything is written): adds up the target's items and the
 * delete candidates of every partition, lists the candidates in `mirror-deletes.csv`, and refuses the
 * run (MirrorDeleteLimitError) when they are too large a share of the target, unless forced. A dry
 * run is never refused: it reports what the run would do.
 */
export async function checkMirrorDeletes(event: z.infer<typeof checkDeletesSchema>): Promise<MirrorDecision> {
  const env = workerEnv();
  const job = event.plan.job;
  const entity = getEntity(env.config, job.entity);
  const [transform, scan, plans] = await Promise.all([
    readMapResults(
      event.transform.ResultWriterDetails.Bucket,
      event.transform.ResultWriterDetails.Key,
      workerOutputSchemas.transform,
    ),
    readMapResults(
      event.scan.ResultWriterDetails.Bucket,
      event.scan.ResultWriterDetails.Key,
      workerOutputSchemas.mirrorScan,
    ),
    readMapResults(
      event.candidates.ResultWriterDetails.Bucket,
      event.candidates.ResultWriterDetails.Key,
      workerOutputSchemas.mirrorPlan,
    ),
  ]);
  const failures = [...scan.failures, ...plans.failures];
  if (failures.length > 0) throw new Error(`mirror planning failed: ${failures.slice(0, 5).join(' | ')}`);
  const segments = scan.outputs.flatMap((o) => o.segments);
  const partitions = plans.outputs.flatMap((o) => o.partitions);
  const decision = decideMirrorDeletes(
    {
      targetItems: segments.reduce((n, s) => n + s.items, 0),
      candidates: partitions.reduce((n, p) => n + p.candidates, 0),
      unkeyedRejects: transform.outputs
        .flatMap((o) => o.chunks)
        .reduce((n, c) => n + (c.unkeyedRejects ?? 0), 0),
    },
    { maxDeleteRatio: entity.maxDeleteRatio, force: job.forceDeletes === true },
  );
  if (decision.candidates > 0) {
    await putCsvReport(
      env.bucket,
      `reports/${event.runId}/${MIRROR_REPORT}`,
      partitions.filter((p) => p.candidates > 0).map((p) => p.partition),
      'key\r\n',
      (p) => workKeys.mirror(job.workPrefix, p),
      (text) =>
        parseKeyLines(text)
          .map((k) => `${csvCell(k)}\r\n`)
          .join(''),
    );
  }
  await putJson(env.bucket, workKeys.mirrorDecision(job.workPrefix), decision);
  logger.info('mirror deletes checked', { runId: event.runId, ...decision });
  if (!decision.allowed && !job.dryRun) {
    // The ledger keeps the decision so the failure report can show it.
    await new Ledger(env.ledgerTable).updateRun(event.runId, { mirror: decision });
    throw new MirrorDeleteLimitError(decision.reason ?? 'mirror deletes refused');
  }
  return decision;
}

const checkWrittenSchema = z.object({
  action: z.literal('check-written'),
  runId: z.string(),
  verify: mapOutput,
});

/** What CheckWrittenDigest decides: whether verification must read every decision by key. */
export interface WrittenCheck {
  byKey: boolean;
  expected?: DigestCount;
  found?: DigestCount;
}

/**
 * CheckWrittenDigest (after VerifyPartitions): compares the digest of the run's puts with the digest
 * of the items the scan found written by the run. Equal: every put is proven and Reconcile follows.
 * Different: something is missing, extra or changed, and only a read of every decision can name
 * which keys, so `byKey` sends the run through VerifyPartitionsByKey first.
 */
export async function checkWritten(event: z.infer<typeof checkWrittenSchema>): Promise<WrittenCheck> {
  const verify = await readMapResults(
    event.verify.ResultWriterDetails.Bucket,
    event.verify.ResultWriterDetails.Key,
    workerOutputSchemas.verify,
  );
  const written = compareWritten(verify.outputs.flatMap((o) => o.partitions));
  if (!written) return { byKey: false };
  // A failed worker is reported by Reconcile (all-verified); a second pass would not help it.
  const byKey = !written.ok && verify.failures.length === 0;
  if (byKey) {
    logger.warn('written items differ from the puts: verifying key by key', {
      runId: event.runId,
      expected: written.expected.items,
      found: written.found.items,
    });
  }
  return { byKey, expected: written.expected, found: written.found };
}

export async function checkWrittenHandler(event: unknown): Promise<WrittenCheck> {
  return checkWritten(parseEvent(checkWrittenSchema, event, 'check-written'));
}

export async function reconcileHandler(event: unknown): Promise<RunSummary> {
  const data = parseEvent(eventSchema, event, 'reconcile');
  return reconcileRun(data);
}

export async function checkDeletesHandler(event: unknown): Promise<MirrorDecision> {
  return checkMirrorDeletes(parseEvent(checkDeletesSchema, event, 'check-deletes'));
}

/**
 * The function's tasks: CheckMirrorDeletes, CheckMerge, CheckWrittenDigest and Reconcile, told
 * apart by `action`.
 */
async function route(event: unknown): Promise<RunSummary | MirrorDecision | WrittenCheck | object> {
  const action = (event as { action?: unknown } | null)?.action;
  if (action === 'check-deletes') return checkDeletesHandler(event);
  if (action === 'check-written') return checkWrittenHandler(event);
  if (action === 'check-merge') return checkMergeHandler(event);
  return reconcileHandler(event);
}

export const handler = middy(route)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
