import { chunkItemSchema, workerBatchSchema, workerJobSchema } from '../../lambdas/contract/job';
import { claimOutputSchema, planSummarySchema } from '../../lambdas/contract/plan';
import { partitionOutcomeSchema, workerOutputSchemas } from '../../lambdas/contract/results';
import { statePath } from '../../lambdas/contract/workflow';

const JOB = {
  runId: 'contact-0123456789abcdef0123',
  entity: 'contact',
  configHash: '0123456789abcdef',
  data: { bucket: 'b', key: 'inbox/contact/c.csv', etag: 'e' },
  workPrefix: 'work/contact-0123456789abcdef0123/',
  partitions: 2,
  format: 'csv',
  delimiter: ',',
  columns: ['Id', 'Email'],
};
const CHUNK = { index: 0, start: 10, end: 99, firstLine: 2, rows: 3 };

describe('Workflow contract: the messages between the state machine and the handlers', () => {
  it.each([
    ['a complete job', JOB, true],
    [
      'a job with every option',
      { ...JOB, scanSegments: 4, dryRun: true, mirror: true, verify: 'full' },
      true,
    ],
    ['a job without its run id', { ...JOB, runId: undefined }, false],
    ['a job of an unknown format', { ...JOB, format: 'xml' }, false],
    ['a job with no partition', { ...JOB, partitions: 0 }, false],
    ['a job whose columns are not a list', { ...JOB, columns: 'Id,Email' }, false],
    [
      'a job whose date order is unknown',
      { ...JOB, dateOrder: { born: { order: 'year-first', decidedBy: 'values' } } },
      false,
    ],
  ])('the job: %s -> valid %s', (_name, job, valid) => {
    // Act
    const parsed = workerJobSchema.safeParse(job);
    // Assess
    expect(parsed.success).toBe(valid);
  });

  it.each([
    ['one chunk', { BatchInput: { job: JOB }, Items: [CHUNK] }, true],
    ['no item', { BatchInput: { job: JOB }, Items: [] }, false],
    ['a chunk with a negative offset', { BatchInput: { job: JOB }, Items: [{ ...CHUNK, start: -1 }] }, false],
    ['no job', { BatchInput: {}, Items: [CHUNK] }, false],
  ])("a worker's batch: %s -> valid %s", (_name, event, valid) => {
    // Prepare
    const schema = workerBatchSchema({}, chunkItemSchema);
    // Act
    const parsed = schema.safeParse(event);
    // Assess
    expect(parsed.success).toBe(valid);
  });

  it.each([
    [
      'ignored',
      { runId: null, ignored: true, reason: 'folder', entity: 'contact', key: 'inbox/contact/' },
      true,
    ],
    ['a duplicate', { runId: 'r', duplicate: true, existingStatus: 'SUCCEEDED', entity: 'contact' }, true],
    [
      'claimed',
      {
        runId: 'r',
        duplicate: false,
        entity: 'contact',
        source: { bucket: 'b', key: 'k', entity: 'contact', size: 9 },
      },
      true,
    ],
    [
      'ignored for an unknown reason',
      { runId: null, ignored: true, reason: 'big', entity: 'c', key: 'k' },
      false,
    ],
    [
      'claimed without its size',
      { runId: 'r', duplicate: false, entity: 'c', source: { bucket: 'b', key: 'k', entity: 'c' } },
      false,
    ],
  ])("ClaimRun's output: %s -> valid %s", (_name, output, valid) => {
    // Act
    const parsed = claimOutputSchema.safeParse(output);
    // Assess
    expect(parsed.success).toBe(valid);
  });

  it('reads a plan of an older run without scan segments, and its job in full', () => {
    // Act
    const parsed = planSummarySchema.parse({
      chunks: 2,
      partitions: 2,
      rows: 7,
      job: { ...JOB, extra: 1 },
      bytes: 5,
    });
    // Assess
    expect(parsed).toEqual({ chunks: 2, partitions: 2, rows: 7, job: JOB });
  });

  it.each([
    [
      'a finished partition',
      {
        partition: 1,
        candidates: 3,
        applied: 2,
        unchanged: 1,
        superseded: 0,
        deleted: 0,
        duplicateKeys: 0,
        durationMs: 5,
      },
      'done',
    ],
    ['a partition left', { partition: 1, chunks: 2, complete: false, left: 10, written: 5 }, 'left'],
    [
      'a partition left, without its writes',
      { partition: 1, chunks: 2, complete: false, left: 10 },
      'invalid',
    ],
    [
      'counts that are not numbers',
      {
        partition: 1,
        candidates: '3',
        applied: 2,
        unchanged: 1,
        superseded: 0,
        deleted: 0,
        duplicateKeys: 0,
        durationMs: 5,
      },
      'invalid',
    ],
  ])("a merge pass's outcome: %s -> %s", (_name, outcome, expected) => {
    // Act
    const parsed = partitionOutcomeSchema.safeParse(outcome);
    // Assess
    const kind = !parsed.success ? 'invalid' : 'complete' in parsed.data ? 'left' : 'done';
    expect(kind).toBe(expected);
  });

  it("keeps a worker's output as it is and refuses one of another worker", () => {
    // Prepare
    const chunk = {
      index: 0,
      rows: 3,
      rejected: 1,
      superseded: 0,
      candidates: 2,
      topReasons: { invalid_email: 1 },
      durationMs: 4,
    };
    // Act
    const transform = workerOutputSchemas.transform.safeParse({ chunks: [chunk] });
    const asMerge = workerOutputSchemas.merge.safeParse({ chunks: [chunk] });
    // Assess
    expect(transform.success && transform.data).toEqual({ chunks: [chunk] });
    expect(asMerge.success).toBe(false);
  });

  it.each([
    ['claim.runId', '$.claim.runId'],
    ['plan.layout.transformConcurrency', '$.plan.layout.transformConcurrency'],
    ['mergeLoop.results', '$.mergeLoop.results'],
    ['summary.reconciliation.status', '$.summary.reconciliation.status'],
  ] as const)('names the state path %s as %s', (path, jsonPath) => {
    // Act / Assess
    expect(statePath(path)).toBe(jsonPath);
    // @ts-expect-error a path the state document does not have fails to compile
    expect(statePath('plan.jobs')).toBe('$.plan.jobs');
  });
});
