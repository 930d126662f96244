import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { WorkerJob } from '../../lambdas/contract/job';
import type { ChunkResult, PartitionResult, VerifyResult } from '../../lambdas/contract/results';
import { getEntity, parseConfigText } from '../../lambdas/domain/config';
import type { MirrorDecision } from '../../lambdas/domain/mirror';
import {
  accountingChecks,
  allVerifiedCheck,
  contentCheck,
  dateFormatsOfRejects,
  diffAction,
  MISMATCHES_KEPT,
  mirrorOutcome,
  type RunResults,
  reconciledRecord,
  reconcileResults,
  rejectColumns,
  rejectGate,
  reportKeys,
  runSummary,
  tallyRun,
  tallyVerify,
} from '../../lambdas/domain/reconcile';
import type { Mismatch } from '../../lambdas/domain/verify';
import { COLUMNS, CONFIG_FILE } from './handlers/support';

// Prepare: a consistent run of 2 chunks and 2 partitions (10 rows: 6 applied, 1 unchanged,
// 1 superseded, 2 rejected), verified by 2 workers.

const ENTITY = getEntity(parseConfigText(readFileSync(CONFIG_FILE, 'utf8')), 'contact');
const GATE = { maxRejectRatio: 0.5, allowEmptyExport: false, verify: undefined };

function chunk(index: number, over: Partial<ChunkResult> = {}): ChunkResult {
  return {
    index,
    rows: 5,
    rejected: 1,
    superseded: index === 0 ? 1 : 0,
    candidates: index === 0 ? 3 : 4,
    topReasons: { missing_required: 1 },
    durationMs: 1,
    ...over,
  };
}

function partition(p: number, over: Partial<PartitionResult> = {}): PartitionResult {
  return {
    partition: p,
    candidates: p === 0 ? 3 : 4,
    applied: 3,
    unchanged: p === 0 ? 0 : 1,
    superseded: 0,
    deleted: 0,
    duplicateKeys: 0,
    durationMs: 1,
    ...over,
  };
}

function verification(p: number, over: Partial<VerifyResult> = {}): VerifyResult {
  return {
    partition: p,
    verified: 3,
    decisions: 3,
    scanned: 3,
    mirrorDeleted: 0,
    problems: 0,
    sample: [],
    references: [],
    durationMs: 1,
    ...over,
  };
}

function results(over: Partial<RunResults> = {}): RunResults {
  return {
    chunks: [chunk(0), chunk(1)],
    chunkFailures: [],
    partitions: [partition(0), partition(1)],
    partitionFailures: [],
    verifications: [verification(0), verification(1)],
    verifyFailures: [],
    ...over,
  };
}

const PLAN = { chunks: 2, partitions: 2, rows: 10 };

const JOB: WorkerJob = {
  runId: 'run-1',
  entity: 'contact',
  configHash: 'h',
  data: { bucket: 'b', key: 'inbox/contact/a.csv' },
  workPrefix: 'work/run-1/',
  partitions: 2,
  format: 'csv',
  delimiter: ',',
  columns: COLUMNS,
};

function decision(over: Partial<MirrorDecision> = {}): MirrorDecision {
  return {
    targetItems: 10,
    candidates: 2,
    unkeyedRejects: 0,
    ratio: 0.2,
    maxDeleteRatio: 0.5,
    forced: false,
    allowed: true,
    ...over,
  };
}

const written = (expected: string, found: string, items = 3) => ({
  expected: { digest: expected, items },
  found: { digest: found, items },
});

describe('tallyRun', () => {
  it('adds up the chunks and the partitions', () => {
    // Act
    const t = tallyRun(
      [
        chunk(0, { warnings: 2, topWarnings: { w: 2 } }),
        chunk(1, { topReasons: { missing_required: 1, x: 3 } }),
      ],
      [partition(0, { duplicateKeys: 2, mirrorDeleted: 1, deleted: 1 }), partition(1)],
    );
    // Assess
    expect(t).toEqual({
      counts: { rows: 10, applied: 6, unchanged: 1, superseded: 1, deleted: 1, rejected: 2 },
      reasons: { missing_required: 2, x: 3 },
      warnings: 2,
      warningReasons: { w: 2 },
      chunkCandidates: 7,
      partitionCandidates: 7,
      duplicateKeys: 2,
      mirrorDeleted: 1,
    });
  });

  it('is all zeros for no results', () => {
    expect(tallyRun([], [])).toMatchObject({
      counts: { rows: 0, applied: 0, unchanged: 0, superseded: 0, deleted: 0, rejected: 0 },
      warnings: 0,
      mirrorDeleted: 0,
    });
  });

  it('does not depend on the order the workers reported in (property)', () => {
    const chunkArb = fc.record({
      rows: fc.nat(50),
      rejected: fc.nat(50),
      superseded: fc.nat(50),
      candidates: fc.nat(50),
    });
    fc.assert(
      fc.property(fc.array(chunkArb, { maxLength: 8 }), (cs) => {
        const chunks = cs.map((c, i) => chunk(i, c));
        const forward = tallyRun(chunks, []);
        const backward = tallyRun([...chunks].reverse(), []);
        expect(backward).toEqual(forward);
        expect(forward.counts.rows).toBe(cs.reduce((n, c) => n + c.rows, 0));
      }),
    );
  });
});

describe('tallyVerify', () => {
  it('adds up the workers and keeps the first problems only', () => {
    // Prepare
    const problem = (i: number): Mismatch => ({ key: `K${i}`, problem: 'differs', scope: 'run' });
    const sample = Array.from({ length: 60 }, (_, i) => problem(i));
    // Act
    const t = tallyVerify([
      verification(0, { problems: 60, sample }),
      verification(1, { problems: 70, sample: sample.map((m) => ({ ...m, key: `L${m.key}` })) }),
    ]);
    // Assess
    expect(t).toMatchObject({ verified: 6, decisions: 6, scanned: 6, mismatchedCount: 130 });
    expect(t.mismatched).toHaveLength(MISMATCHES_KEPT);
    expect(t.mismatched[0]).toEqual(problem(0));
  });
});

/** The checks a case fails besides the one it is about (a lost chunk also loses its rows). */
const ALSO_FAILING: Record<string, string[]> = {
  'a chunk missing (and its rows)': ['rows-read', 'candidates-merged', 'accounting'],
  'a chunk reported twice': ['candidates-merged', 'accounting'],
  'a winner lost between transform and merge': ['accounting'],
};

describe('accountingChecks', () => {
  it('passes every check of a consistent run', () => {
    const r = results();
    const checks = accountingChecks(PLAN, r, tallyRun(r.chunks, r.partitions));
    expect(checks).toEqual([
      { name: 'all-chunks', ok: true, detail: '2 of 2 chunks reported' },
      { name: 'all-partitions', ok: true, detail: '2 of 2 partitions reported' },
      { name: 'rows-read', ok: true, detail: 'plan counted 10 rows, workers read 10' },
      { name: 'candidates-merged', ok: true, detail: '7 chunk winners handed over, 7 merged' },
      {
        name: 'accounting',
        ok: true,
        detail: 'rows 10 = applied 6 + unchanged 1 + superseded 1 + deleted 0 + rejected 2',
      },
    ]);
  });

  it.each<[string, Partial<RunResults>, typeof PLAN, string, string]>([
    ['a chunk missing (and its rows)', { chunks: [chunk(0)] }, PLAN, 'all-chunks', '1 of 2 chunks reported'],
    [
      'a chunk reported twice',
      { chunks: [chunk(0), chunk(0), chunk(1)] },
      { ...PLAN, rows: 15 },
      'all-chunks',
      '2 of 2 chunks reported',
    ],
    [
      'a failed transform worker',
      { chunkFailures: ['States.Timeout: late', 'b', 'c', 'd', 'e', 'f'] },
      PLAN,
      'all-chunks',
      '2 of 2 chunks reported; failed: States.Timeout: late | b | c | d | e',
    ],
    [
      'a partition missing',
      { partitions: [partition(0, { candidates: 7, applied: 6, unchanged: 1 })] },
      PLAN,
      'all-partitions',
      '1 of 2 partitions reported',
    ],
    [
      'a failed merge worker',
      { partitionFailures: ['Error: boom'] },
      PLAN,
      'all-partitions',
      '2 of 2 partitions reported; failed: Error: boom',
    ],
    [
      'rows the plan did not count',
      {},
      { ...PLAN, rows: 11 },
      'rows-read',
      'plan counted 11 rows, workers read 10',
    ],
    [
      'a winner lost between transform and merge',
      { partitions: [partition(0), partition(1, { candidates: 3, applied: 2 })] },
      PLAN,
      'candidates-merged',
      '7 chunk winners handed over, 6 merged',
    ],
    [
      'a row not accounted for',
      { partitions: [partition(0), partition(1, { applied: 2 })] },
      PLAN,
      'accounting',
      'rows 10 = applied 5 + unchanged 1 + superseded 1 + deleted 0 + rejected 2 (gap 1)',
    ],
    [
      'a row counted twice',
      { partitions: [partition(0), partition(1, { applied: 4 })] },
      PLAN,
      'accounting',
      'rows 10 = applied 7 + unchanged 1 + superseded 1 + deleted 0 + rejected 2 (gap -1)',
    ],
  ])('fails on %s', (name, over, plan, failing, detail) => {
    // Act
    const r = results(over);
    const checks = accountingChecks(plan, r, tallyRun(r.chunks, r.partitions));
    // Assess
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([failing, ...(ALSO_FAILING[name] ?? [])]);
    expect(checks.find((c) => c.name === failing)?.detail).toBe(detail);
  });
});

describe('allVerifiedCheck', () => {
  it.each<[string, Partial<RunResults>, number | undefined, boolean, string]>([
    ['every partition verified', {}, undefined, true, '2 of 2 partitions verified'],
    ['a worker lost', { verifications: [verification(0)] }, undefined, false, '1 of 2 partitions verified'],
    [
      'a failed worker',
      { verifyFailures: ['Error: throttled'] },
      undefined,
      false,
      '2 of 2 partitions verified; failed: Error: throttled',
    ],
    [
      'every scan segment verified',
      { verifications: [0, 1, 2, 3].map((p) => verification(p)) },
      4,
      true,
      '4 of 4 scan segments (2 partitions) verified',
    ],
    [
      'a worker beyond the segments',
      { verifications: [0, 1, 2, 4].map((p) => verification(p)) },
      4,
      false,
      '4 of 4 scan segments (2 partitions) verified',
    ],
  ])('%s', (_, over, scanSegments, ok, detail) => {
    expect(allVerifiedCheck({ ...PLAN, scanSegments }, results(over))).toEqual({
      name: 'all-verified',
      ok,
      detail,
    });
  });
});

describe('contentCheck', () => {
  const problem: Mismatch = { key: 'K1', problem: 'email differs', scope: 'run' };
  it.each<[string, VerifyResult[], { byKey?: boolean; verify?: string; dryRun?: boolean }, boolean, string]>([
    [
      'full mode, no digest',
      [verification(0), verification(1)],
      {},
      true,
      '6 of 6 keys verified against the target, 6 stored items checked for provenance, 0 differ',
    ],
    [
      'the written digest matches the puts',
      [verification(0, { written: written('a1', 'a1') }), verification(1, { written: written('b2', 'b2') })],
      {},
      true,
      '6 of 6 keys verified against the target (6 puts by the digest of the 6 items the run wrote), 6 stored items checked for provenance, 0 differ',
    ],
    [
      'the written digest differs from the puts',
      [verification(0, { written: written('a1', 'f3') })],
      {},
      false,
      '3 of 3 keys verified against the target (the digest of the 3 items the run wrote differs from its 3 puts), 3 stored items checked for provenance, 0 differ',
    ],
    [
      'a worker without a digest',
      [verification(0, { written: written('a1', 'a1') }), verification(1)],
      {},
      false,
      '6 of 6 keys verified against the target (the digest of the 3 items the run wrote differs from its 3 puts), 6 stored items checked for provenance, 0 differ',
    ],
    [
      'key by key, the keys named',
      [verification(0, { problems: 1, sample: [problem] })],
      { byKey: true },
      false,
      '3 of 3 keys verified against the target (key by key: the digest of the items the run wrote differed from its puts), 3 stored items checked for provenance, 1 differ',
    ],
    [
      'key by key, no key explains the digest',
      [verification(0)],
      { byKey: true },
      false,
      '3 of 3 keys verified against the target (key by key: the digest of the items the run wrote differed from its puts, and no key explains it: an item is marked as written by this run without being one of its puts), 3 stored items checked for provenance, 0 differ',
    ],
    [
      'a sample',
      [verification(0, { scanned: 0 })],
      { verify: 'sample:100' },
      true,
      '3 of 3 keys verified against the target (sample of about 100), 0 differ',
    ],
    [
      'a sample with a problem',
      [verification(0, { problems: 2, sample: [problem] })],
      { verify: 'sample:100' },
      false,
      '3 of 3 keys verified against the target (sample of about 100), 2 differ',
    ],
    [
      'a dry run',
      [verification(0)],
      { dryRun: true },
      true,
      'dry run: nothing was written, the decisions are in diff.csv',
    ],
  ])('%s', (_, verifications, options, ok, detail) => {
    // Act
    const check = contentCheck({
      dryRun: options.dryRun ?? false,
      verify: options.verify,
      byKey: options.byKey ?? false,
      verifications,
      tally: tallyVerify(verifications),
    });
    // Assess
    expect(check).toEqual({ name: 'content', ok, detail });
  });
});

describe('rejectGate', () => {
  const rejecting = [chunk(0, { rows: 4, rejected: 3, topReasons: { bad: 3 } })];
  it.each<[string, ChunkResult[], Partial<WorkerJob>, boolean | undefined]>([
    ['under the limit: nothing to say', [chunk(0)], {}, undefined],
    ['over the limit, forced: said', rejecting, { force: true }, true],
    ['over the limit, dry run: a run would be refused', rejecting, { dryRun: true }, false],
    ['under the limit, dry run: nothing to say', [chunk(0)], { dryRun: true }, undefined],
  ])('%s', (_, chunks, job, forced) => {
    expect(rejectGate(chunks, GATE, job)?.forced).toBe(forced);
  });
});

describe('mirrorOutcome', () => {
  it.each<[string, MirrorDecision, number, boolean, boolean, number, string]>([
    [
      'every candidate deleted',
      decision(),
      2,
      false,
      true,
      2,
      '2 of 10 target items absent from the export (20%, limit 50%), 2 deleted',
    ],
    [
      'a candidate left',
      decision(),
      1,
      false,
      false,
      1,
      '2 of 10 target items absent from the export (20%, limit 50%), 1 deleted',
    ],
    [
      'a resumed run deleted more than the candidates left',
      decision({ forced: true }),
      3,
      false,
      true,
      3,
      '2 of 10 target items absent from the export (20%, limit 50%, forced), 3 deleted',
    ],
    [
      'a dry run',
      decision(),
      2,
      true,
      true,
      2,
      '2 of 10 target items absent from the export (20%, limit 50%), 2 would be deleted',
    ],
    [
      'a dry run that a run would refuse',
      decision({ candidates: 8, ratio: 0.8, allowed: false, reason: 'too many' }),
      8,
      true,
      true,
      0,
      '8 of 10 target items absent from the export (80%, limit 50%), a run would be refused: too many',
    ],
  ])('%s', (_, d, deleted, dryRun, ok, summaryDeleted, detail) => {
    // Act
    const { mirror, check } = mirrorOutcome(d, deleted, dryRun);
    // Assess
    expect(check).toEqual({ name: 'mirror-deletes', ok, detail });
    expect(mirror).toEqual({ ...d, deleted: summaryDeleted });
  });
});

/** reconcileResults' input for the consistent run. */
const input = (over: Partial<Parameters<typeof reconcileResults>[0]> = {}) => ({
  plan: PLAN,
  job: JOB,
  entity: GATE,
  results: results(),
  byKey: false,
  mirrorDecision: undefined,
  ...over,
});

describe('reconcileResults', () => {
  const names = (r: ReturnType<typeof reconcileResults>) => r.checks.map((c) => `${c.name}:${c.ok}`);

  it('matches a consistent run, its checks in the summary order', () => {
    // Act
    const r = reconcileResults(input());
    // Assess
    expect(r.ok).toBe(true);
    expect(names(r)).toEqual([
      'all-chunks:true',
      'all-partitions:true',
      'rows-read:true',
      'candidates-merged:true',
      'accounting:true',
      'all-verified:true',
      'content:true',
    ]);
    expect(r.gate).toBeUndefined();
    expect(r.mirror).toBeUndefined();
  });

  it('does not match when one check fails', () => {
    const r = reconcileResults(input({ plan: { ...PLAN, rows: 9 } }));
    expect(r.ok).toBe(false);
  });

  it('a dry run has no all-verified check, and says the reject gate would refuse', () => {
    // Prepare
    const rejecting = [chunk(0, { rejected: 4, topReasons: { bad: 4 } }), chunk(1, { rejected: 4 })];
    // Act
    const r = reconcileResults(
      input({ job: { ...JOB, dryRun: true }, results: results({ chunks: rejecting, verifications: [] }) }),
    );
    // Assess
    expect(names(r)).not.toContain('all-verified:true');
    expect(names(r).slice(-2)).toEqual(['content:true', 'reject-gate:true']);
    expect(r.gate?.allowed).toBe(false);
  });

  it('mirror mode ends with the mirror-deletes check', () => {
    const r = reconcileResults(
      input({
        job: JOB,
        results: results({ partitions: [partition(0, { mirrorDeleted: 2 }), partition(1)] }),
        mirrorDecision: decision(),
      }),
    );
    expect(names(r).at(-1)).toBe('mirror-deletes:true');
    expect(r.mirror?.deleted).toBe(2);
  });

  it('adds up the reference checks of the workers', () => {
    const ref = {
      field: 'accountId',
      entity: 'account',
      checked: 2,
      orphans: 1,
      missingParents: 1,
      sample: [],
    };
    const r = reconcileResults(
      input({
        results: results({ verifications: [verification(0, { references: [ref] }), verification(1)] }),
      }),
    );
    expect(r.referenceChecks).toEqual([ref]);
  });
});

describe('reportKeys', () => {
  const base = reconcileResults(
    input({ results: results({ chunks: [chunk(0, { rejected: 0 }), chunk(1, { rejected: 0 })] }) }),
  );

  it('a clean run has its summary and page only', () => {
    expect(reportKeys('r', base, undefined, false)).toEqual({
      summary: 'reports/r/summary.json',
      html: 'reports/r/report.html',
    });
  });

  it('lists every report the run has something for, in the summary order', () => {
    // Prepare
    const r = {
      ...base,
      tally: { ...base.tally, counts: { ...base.tally.counts, rejected: 1 }, warnings: 1, duplicateKeys: 1 },
      verification: { ...base.verification, mismatchedCount: 1 },
      referenceChecks: [{ field: 'f', entity: 'e', checked: 1, orphans: 1, missingParents: 1, sample: [] }],
    };
    // Act
    const keys = reportKeys('r', r, decision(), true);
    // Assess
    expect(Object.entries(keys)).toEqual([
      ['summary', 'reports/r/summary.json'],
      ['mirrorDeletes', 'reports/r/mirror-deletes.csv'],
      ['mismatches', 'reports/r/mismatches.csv'],
      ['orphans', 'reports/r/orphans.csv'],
      ['rejects', 'reports/r/rejects.csv'],
      ['warnings', 'reports/r/warnings.csv'],
      ['duplicates', 'reports/r/duplicates.csv'],
      ['diff', 'reports/r/diff.csv'],
      ['html', 'reports/r/report.html'],
    ]);
  });

  it('a mirror run without candidates has no mirror-deletes.csv', () => {
    expect(reportKeys('r', base, decision({ candidates: 0 }), false).mirrorDeletes).toBeUndefined();
  });
});

describe('runSummary and reconciledRecord', () => {
  const FINISHED = '2026-01-01T00:00:10.000Z';
  const summarize = (over: Partial<RunResults> = {}, job: WorkerJob = JOB) => {
    const reconciliation = reconcileResults(input({ job, results: results(over) }));
    return runSummary({
      runId: 'run-1',
      job,
      entity: ENTITY,
      plan: PLAN,
      run: { source: { bucket: 'b', key: 'k', etag: 'e' }, startedAt: '2026-01-01T00:00:00.000Z' },
      reconciliation,
      reports: reportKeys('run-1', reconciliation, undefined, job.dryRun === true),
      dateReasons: [],
      finishedAt: FINISHED,
    });
  };

  it('a matched run succeeds, and the ledger records it', () => {
    // Act
    const summary = summarize();
    // Assess
    expect(summary).toMatchObject({
      status: 'SUCCEEDED',
      source: { bucket: 'b', key: 'k', etag: 'e' },
      counts: { rows: 10, applied: 6, rejected: 2 },
      topReasons: [{ reason: 'missing_required', count: 2 }],
      dryRun: false,
      reconciliation: { status: 'MATCHED', verifiedKeys: 6, mismatchedKeyCount: 0 },
      durationMs: 10_000,
    });
    expect(reconciledRecord(summary)).toEqual({
      status: 'SUCCEEDED',
      counts: summary.counts,
      finishedAt: FINISHED,
    });
  });

  it('a mismatched run fails, and the ledger records why', () => {
    // Act
    const summary = summarize({ partitions: [partition(0)] });
    // Assess
    expect(summary.status).toBe('FAILED');
    expect(summary.reconciliation.status).toBe('MISMATCHED');
    expect(reconciledRecord(summary)).toEqual({
      status: 'MISMATCHED',
      counts: summary.counts,
      finishedAt: FINISHED,
      error: 'ReconciliationMismatch',
      cause:
        '1 of 2 partitions reported; 7 chunk winners handed over, 3 merged; rows 10 = applied 3 + unchanged 0 + superseded 1 + deleted 0 + rejected 2 (gap 4)',
    });
  });

  it('a run without a ledger record starts when it finished, from the job source', () => {
    const reconciliation = reconcileResults(input());
    const summary = runSummary({
      runId: 'run-1',
      job: JOB,
      entity: ENTITY,
      plan: PLAN,
      run: undefined,
      reconciliation,
      reports: { summary: 's' },
      dateReasons: [],
      finishedAt: FINISHED,
    });
    expect(summary).toMatchObject({ source: { bucket: 'b', key: 'inbox/contact/a.csv' }, durationMs: 0 });
  });
});

describe('report helpers', () => {
  it.each<[string, Parameters<typeof diffAction>[0], string]>([
    ['a new key', { o: 'put', n: true }, 'create'],
    ['a changed key', { o: 'put' }, 'update'],
    ['a mirror delete', { o: 'mirror' }, 'mirror-delete'],
    ['a delete', { o: 'delete' }, 'delete'],
    ['an unchanged key', { o: 'unchanged' }, 'unchanged'],
  ])('diff.csv names %s', (_, line, action) => {
    expect(diffAction(line)).toBe(action);
  });

  it.each<[string, Pick<WorkerJob, 'format' | 'columns' | 'delimiter'>, ReturnType<typeof rejectColumns>]>([
    [
      'CSV: the file header',
      { format: 'csv', columns: ['a', 'b'], delimiter: ';' },
      { columns: ['a', 'b'], delimiter: ';' },
    ],
    [
      'JSON Lines: one record cell',
      { format: 'jsonl', columns: ['a'], delimiter: ',' },
      { columns: ['record'], delimiter: undefined },
    ],
  ])('rejects.csv columns of %s', (_, job, expected) => {
    expect(rejectColumns(job)).toEqual(expected);
  });

  it('dateFormatsOfRejects names only the date columns of invalid dates', () => {
    // Prepare
    const dateField = Object.values(ENTITY.fields).find((f) => f.type === 'date' || f.type === 'datetime');
    if (!dateField) throw new Error('the example contact entity has a date field');
    const reasons = [
      'missing_required:Email',
      'invalid_date:NoSuchColumn',
      `invalid_date:${dateField.source}`,
    ];
    // Act
    const out = dateFormatsOfRejects(reasons, ENTITY);
    // Assess
    expect(Object.keys(out.dateFormats ?? {})).toEqual([dateField.source]);
    expect(dateFormatsOfRejects(['missing_required:Email'], ENTITY)).toEqual({});
  });
});
