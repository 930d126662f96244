import {
  HeaderMismatchError,
  InconsistentDateOrderError,
  MalformedFileError,
  PlanLimitError,
} from '../../lambdas/domain/errors';
import {
  checkLayout,
  chunkItems,
  dataRowBytes,
  fileColumns,
  type JobBaseInput,
  jobBaseOf,
  needsTableStats,
  scanLayout,
  withFileName,
  workerJob,
} from '../../lambdas/domain/run-plan';
import { contactEntity } from './fixtures';

const ENTITY = contactEntity();
const MIRROR = contactEntity({}, { syncMode: 'mirror' });

describe('run plan: the columns of the file', () => {
  it.each([
    [
      'a CSV header',
      { line: 1, start: 0, end: 34, text: 'Id,Email,LastName,LastModifiedDate' },
      ['Id', 'Email', 'LastName', 'LastModifiedDate'],
      [],
    ],
    [
      'a CSV header without an optional column',
      { line: 1, start: 0, end: 28, text: 'Id,LastName,LastModifiedDate' },
      ['Id', 'LastName', 'LastModifiedDate'],
      ['Email'],
    ],
    [
      'no header (JSON Lines): the mapped source names',
      undefined,
      ['Id', 'Email', 'LastName', 'LastModifiedDate'],
      [],
    ],
  ])('%s', (_name, header, columns, missing) => {
    // Act
    const bound = fileColumns({ header, delimiter: ',' }, ENTITY);

    // Assess
    expect(bound.columns).toEqual(columns);
    if (header) expect(bound.binding.missingOptional).toEqual(missing);
  });

  it('refuses a header missing a required column', () => {
    // Act
    const act = () =>
      fileColumns({ header: { line: 2, start: 0, end: 5, text: 'Email' }, delimiter: ',' }, ENTITY);

    // Assess
    expect(act).toThrow(HeaderMismatchError);
  });
});

describe('run plan: the average bytes of a data row', () => {
  it.each([
    ['rows counted, no header', { bytes: 1000, bomBytes: 0, rows: 10 }, 7, 100],
    [
      'the header and BOM left out',
      { header: { line: 1, start: 3, end: 101, text: '' }, bytes: 1102, bomBytes: 3, rows: 10 },
      7,
      100,
    ],
    ['no rows: the head estimate', { bytes: 50, bomBytes: 0, rows: 0 }, 7, 7],
  ])('%s', (_name, plan, headRowBytes, expected) => {
    // Act
    const bytes = dataRowBytes(plan, headRowBytes);

    // Assess
    expect(bytes).toBe(expected);
  });
});

describe('run plan: DescribeTable is asked only when its answer counts', () => {
  it.each([
    ['verify unset: the table size decides the mode', ENTITY, false, true],
    ['verify full', contactEntity({}, { verify: 'full' }), false, true],
    ['verify sample, upsert', contactEntity({}, { verify: 'sample:100' }), false, false],
    [
      'verify sample, mirror mode',
      contactEntity({}, { verify: 'sample:100', syncMode: 'mirror' }),
      false,
      true,
    ],
    ['an empty target', ENTITY, true, false],
  ])('%s', (_name, entity, targetEmpty, expected) => {
    // Act
    const asks = needsTableStats(entity, targetEmpty);

    // Assess
    expect(asks).toBe(expected);
  });
});

describe('run plan: hard AWS limits', () => {
  const check = (ok: boolean, kind: 'quota' | 'time', name = 'map items') => ({
    name,
    value: 20,
    limit: 10,
    ok,
    kind,
  });

  it.each([
    ['every check ok', [check(true, 'quota'), check(true, 'time')]],
    ['a time estimate over (a warning, not a failure)', [check(false, 'time')]],
  ])('passes %s', (_name, checks) => {
    // Act
    const act = () => checkLayout({ checks });

    // Assess
    expect(act).not.toThrow();
  });

  it('fails a broken quota, naming every one', () => {
    // Act
    const act = () =>
      checkLayout({ checks: [check(false, 'quota', 'a'), check(true, 'quota'), check(false, 'quota', 'b')] });

    // Assess
    expect(act).toThrow(PlanLimitError);
    expect(act).toThrow('the run cannot be laid out inside AWS limits: a 20 > 10; b 20 > 10');
  });
});

describe('run plan: the workers job', () => {
  const input: JobBaseInput = {
    runId: 'r1',
    source: { entity: 'contact' },
    entity: ENTITY,
    data: { bucket: 'b', key: 'k', etag: 'e' },
    workPrefix: 'work/r1/',
    format: 'csv',
    delimiter: ',',
    columns: ['Id'],
    targetEmpty: false,
    verify: 'full',
    dateOrder: {},
  };

  it.each([
    ['a plain run', {}, {}],
    ['a dry run', { source: { entity: 'contact', dryRun: true } }, { dryRun: true }],
    [
      'a forced run',
      { source: { entity: 'contact', force: true, forceDeletes: true } },
      { force: true, forceDeletes: true },
    ],
    ['mirror mode', { entity: MIRROR }, { mirror: true }],
    ['a first load', { targetEmpty: true }, { targetEmpty: true }],
    [
      'date orders decided',
      { dateOrder: { updatedAt: { order: 'day-first', decidedBy: 'values' } } },
      { dateOrder: { updatedAt: { order: 'day-first', decidedBy: 'values' } } },
    ],
  ] as const)('%s', (_name, over, flags) => {
    // Act
    const job = jobBaseOf({ ...input, ...over });

    // Assess
    const { runId, data, workPrefix, format, delimiter, columns, verify } = input;
    expect(job).toStrictEqual({
      runId,
      entity: 'contact',
      configHash: expect.any(String),
      data,
      workPrefix,
      format,
      delimiter,
      columns,
      verify,
      ...flags,
    });
  });

  it.each([
    ['metered tables: the workers get ceilings', false, { writeUnitsPerSecond: 40, readUnitsPerSecond: 120 }],
    ['unmetered tables: none', true, {}],
  ])('%s', (_name, unmetered, ceilings) => {
    // Prepare
    const base = jobBaseOf(input);

    // Act
    const job = workerJob(base, { writeUnitsPerWorker: 40, readUnitsPerWorker: 120 }, 3, 5, unmetered);

    // Assess
    expect(job).toStrictEqual({ ...base, partitions: 3, scanSegments: 5, ...ceilings });
  });
});

describe('run plan: partitions and table scan segments', () => {
  const base = { stats: { bytes: 0, items: 0 }, rows: 10, itemBytes: 200, chunks: 4 };

  it.each([
    ['sample verification, upsert: one segment per partition', 'sample:100', ENTITY, 3, 3],
    ['full verification of a small table: one segment per partition', 'full', ENTITY, 3, 3],
    ['sample verification, mirror mode: sized by the table', 'sample:100', MIRROR, 2, 2],
  ])('%s', (_name, verify, entity, partitions, segments) => {
    // Act
    const scan = scanLayout({ ...base, verify, entity, partitions });

    // Assess
    expect(scan.scanSegments).toBe(segments);
    expect(scan.partitionItems).toEqual(
      Array.from({ length: partitions }, (_, p) => ({ partition: p, chunks: 4 })),
    );
  });

  it('gives the segments past the partitions no chunks (they scan, they read no partition)', () => {
    // Act
    const scan = scanLayout({
      ...base,
      stats: { bytes: 40e9, items: 1e8 },
      verify: 'full',
      entity: ENTITY,
      partitions: 2,
    });

    // Assess
    expect(scan.scanSegments).toBeGreaterThan(2);
    expect(scan.segmentItems).toHaveLength(scan.scanSegments);
    expect(scan.segmentItems.slice(0, 2)).toEqual([
      { partition: 0, chunks: 4 },
      { partition: 1, chunks: 4 },
    ]);
    expect(scan.segmentItems.slice(2).every((s, i) => s.partition === i + 2 && s.chunks === 0)).toBe(true);
  });

  it('copies the chunk plan into manifest items', () => {
    // Prepare
    const chunks = [{ index: 0, start: 10, end: 99, firstLine: 2, rows: 3 }];

    // Act
    const items = chunkItems({ chunks });

    // Assess
    expect(items).toEqual(chunks);
    expect(items[0]).not.toBe(chunks[0]);
  });
});

describe('run plan: input errors name the file', () => {
  it.each([
    ['a header mismatch', new HeaderMismatchError('line 1: no Id'), HeaderMismatchError],
    ['a malformed file', new MalformedFileError('file is empty'), MalformedFileError],
    ['inconsistent date orders', new InconsistentDateOrderError('column d'), InconsistentDateOrderError],
  ])('%s keeps its class, names the file and keeps its cause', (_name, err, errorClass) => {
    // Act
    const named = withFileName('s3://b/k.csv', err);

    // Assess
    expect(named).toBeInstanceOf(errorClass);
    expect((named as Error).message).toBe(`s3://b/k.csv: ${err.message}`);
    expect((named as Error).cause).toBe(err);
  });

  it.each([
    ['a limit error', new PlanLimitError('too big')],
    ['an unexpected error', new Error('boom')],
    ['a thrown string', 'boom'],
  ])('leaves %s as it is', (_name, err) => {
    // Act
    const named = withFileName('s3://b/k.csv', err);

    // Assess
    expect(named).toBe(err);
  });
});
