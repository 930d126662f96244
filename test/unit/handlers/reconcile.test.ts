import { readFileSync } from 'node:fs';
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  type ScanCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { configHash, getEntity, parseConfigText } from '../../../lambdas/domain/config';
import { itemDigest } from '../../../lambdas/domain/digest';
import { InvalidEventError } from '../../../lambdas/domain/errors';
import type { RunSummary } from '../../../lambdas/domain/report';
import type { ChunkResult, MergedLine, PartitionResult, WorkerJob } from '../../../lambdas/domain/run';
import { BUCKET, COLUMNS, CONFIG_FILE, captureEmf, FakeBucket, PREFIX, RUN_ID } from './support';

let reconcileHandler: typeof import('../../../lambdas/handlers/reconcile')['reconcileHandler'];
let checkWrittenHandler: typeof import('../../../lambdas/handlers/reconcile')['checkWrittenHandler'];
let verifyHandler: typeof import('../../../lambdas/handlers/verify')['verifyHandler'];

const TABLE = 'contacts';
const SOURCE = { bucket: BUCKET, key: 'inbox/contact/contacts.csv', etag: 'abc' };
const STARTED_AT = '2026-01-01T00:00:00.000Z';

const JOB: WorkerJob = {
  runId: RUN_ID,
  entity: 'contact',
  configHash: configHash(getEntity(parseConfigText(readFileSync(CONFIG_FILE, 'utf8')), 'contact')),
  data: SOURCE,
  workPrefix: PREFIX,
  partitions: 2,
  format: 'csv',
  delimiter: ',',
  columns: COLUMNS,
};

const PLAN = {
  runId: RUN_ID,
  entity: 'contact',
  manifestKey: `${PREFIX}chunks.json`,
  partitionsKey: `${PREFIX}partitions.json`,
  chunks: 2,
  partitions: 2,
  rows: 7,
  bytes: 2048,
  encoding: 'utf8',
  missingOptionalColumns: [],
  job: JOB,
};

const TRANSFORM_MANIFEST = 'results/transform/manifest.json';
const MERGE_MANIFEST = 'results/merge/manifest.json';
const VERIFY_MANIFEST = 'results/verify/manifest.json';
const EVENT = {
  runId: RUN_ID,
  plan: PLAN,
  transform: { ResultWriterDetails: { Bucket: BUCKET, Key: TRANSFORM_MANIFEST } },
  merge: { ResultWriterDetails: { Bucket: BUCKET, Key: MERGE_MANIFEST } },
  verify: { ResultWriterDetails: { Bucket: BUCKET, Key: VERIFY_MANIFEST } },
};

// 7 rows: chunk 0 has 4 (1 rejected, 1 lost to a newer row of its key), chunk 1 has 3.
const CHUNKS: ChunkResult[] = [
  {
    index: 0,
    rows: 4,
    rejected: 1,
    superseded: 1,
    candidates: 2,
    topReasons: { invalid_email: 1 },
    durationMs: 5,
  },
  { index: 1, rows: 3, rejected: 0, superseded: 0, candidates: 3, topReasons: {}, durationMs: 4 },
];
// 5 candidates: p0 applies K1 and leaves K2 unchanged; p1 applies K3, K4 loses to the target, K5 is deleted.
const PARTITIONS: PartitionResult[] = [
  {
    partition: 0,
    candidates: 2,
    applied: 1,
    unchanged: 1,
    superseded: 0,
    deleted: 0,
    duplicateKeys: 0,
    durationMs: 7,
  },
  {
    partition: 1,
    candidates: 3,
    applied: 1,
    unchanged: 0,
    superseded: 1,
    deleted: 1,
    duplicateKeys: 1,
    durationMs: 8,
  },
];
/** What the target holds for the winners (business attributes; the digest is computed from them). */
const ITEMS = {
  K1: { id: 'K1', lastName: 'Lovelace', accountId: 'A1' },
  K2: { id: 'K2', lastName: 'Hopper' },
  K3: { id: 'K3', lastName: 'Liskov', score: 3, active: true, accountId: 'A9' },
};
/** The accounts table: A1 exists, A9 (K3's account) does not. */
const ACCOUNTS = new Set(['A1', 'A2']);
const h1 = itemDigest(ITEMS.K1);
const h2 = itemDigest(ITEMS.K2);
const h3 = itemDigest(ITEMS.K3);
const MERGED: MergedLine[][] = [
  [
    { k: 'K1', o: 'put', h: h1 },
    { k: 'K2', o: 'unchanged', h: h2 },
  ],
  [
    { k: 'K3', o: 'put', h: h3 },
    { k: 'K4', o: 'superseded' },
    { k: 'K5', o: 'delete', h: null },
  ],
];
const COUNTS = { rows: 7, applied: 2, unchanged: 1, superseded: 2, deleted: 1, rejected: 1 };

/** The rejected row of chunk 0: an invalid email, and a Title that a spreadsheet would run as a formula. */
const REJECTED_CELLS: Record<string, string> = {
  Id: '003C',
  FirstName: 'Eve',
  LastName: 'Doe',
  Email: 'not-an-email',
  Phone: '+1 206 688 0480',
  Title: '=HYPERLINK("x")',
  MailingStreet: '1 Main St, Apt 2',
  LastModifiedDate: '2024-01-01T00:00:00.000Z',
  IsDeleted: 'false',
};
const REJECTED_RAW = COLUMNS.map((c) => `"${(REJECTED_CELLS[c] ?? '').replaceAll('"', '""')}"`).join(',');

// ---------------------------------------------------------------------------------------------------
// An in-memory bucket behind the S3 mock, and a target table behind BatchGetItem.

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();
const target = new Map<string, Record<string, string | number | boolean>>();

function fakeBatchGet(input: BatchGetItemCommandInput) {
  const accountKeys = input.RequestItems?.accounts?.Keys as Array<Record<string, AttributeValue>> | undefined;
  if (accountKeys) {
    const ids = accountKeys.map((k) => k.id?.S ?? '').filter((id) => ACCOUNTS.has(id));
    return { Responses: { accounts: ids.map((id) => marshall({ id })) } };
  }
  const keys = (input.RequestItems?.[TABLE]?.Keys ?? []) as Array<Record<string, AttributeValue>>;
  const found = keys.flatMap((k) => {
    const item = target.get(k['id']?.S ?? '');
    return item ? [marshall(item)] : [];
  });
  return { Responses: { [TABLE]: found } };
}

/** Writes a Distributed Map ResultWriter output: manifest.json and one SUCCEEDED_/FAILED_ file each. */
function writeMapResults(
  manifestKey: string,
  succeeded: unknown[],
  failed: Array<{ Error: string; Cause: string }> = [],
): void {
  const dir = manifestKey.replace(/manifest\.json$/, '');
  const entry = (status: string, fields: Record<string, unknown>) => ({
    ExecutionArn: `arn:aws:states:us-east-1:123456789012:execution:crm-sync/map:${status}`,
    Input: '{}',
    InputDetails: { Included: true },
    Name: 'child',
    StartDate: STARTED_AT,
    StopDate: STARTED_AT,
    Status: status,
    ...fields,
  });
  fakeS3.store(
    `${dir}SUCCEEDED_0.json`,
    JSON.stringify(succeeded.map((o) => entry('SUCCEEDED', { Output: JSON.stringify(o) }))),
  );
  if (failed.length > 0)
    fakeS3.store(`${dir}FAILED_0.json`, JSON.stringify(failed.map((f) => entry('FAILED', f))));
  fakeS3.store(
    manifestKey,
    JSON.stringify({
      DestinationBucket: BUCKET,
      MapRunArn: 'arn:aws:states:us-east-1:123456789012:mapRun:crm-sync/map:1',
      ResultFiles: {
        FAILED: failed.length > 0 ? [{ Key: `${dir}FAILED_0.json`, Size: 1 }] : [],
        PENDING: [],
        SUCCEEDED: [{ Key: `${dir}SUCCEEDED_0.json`, Size: 1 }],
      },
    }),
  );
}

const jsonl = (lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join('\n');

/** A run whose every output agrees: the workers' counts add up and the target holds every winner. */
function writeConsistentRun(): void {
  // ItemBatcher: both chunks in one child; each partition its own child.
  writeMapResults(TRANSFORM_MANIFEST, [{ chunks: CHUNKS }]);
  writeMapResults(
    MERGE_MANIFEST,
    PARTITIONS.map((p) => ({ partitions: [p] })),
  );
  MERGED.forEach((lines, p) => {
    fakeS3.store(`${PREFIX}merged/p${String(p).padStart(4, '0')}.jsonl`, jsonl(lines));
  });
  fakeS3.store(`${PREFIX}duplicates/p0001.jsonl`, jsonl([{ key: 'K3', lines: [3, 5], winner: 5 }]));
  fakeS3.store(
    `${PREFIX}rejects/c000000.jsonl`,
    `${jsonl([{ line: 6, reasons: ['invalid_email:Email'], raw: REJECTED_RAW }])}\n`,
  );
  target.set('K1', { ...ITEMS.K1, _digest: h1, _run: RUN_ID });
  target.set('K2', { ...ITEMS.K2, _digest: h2, _run: 'contact-earlier' });
  target.set('K3', { ...ITEMS.K3, _digest: h3, _run: RUN_ID });
  const newer = { id: 'K4', lastName: 'Newer' };
  target.set('K4', { ...newer, _digest: itemDigest(newer), _run: 'contact-later' });
}

/** Parallel scan of the target: segment 0 holds K1 and K3, segment 1 the rest. */
function fakeScan(input: ScanCommandInput) {
  const inSegment = (k: string) => (['K1', 'K3'].includes(k) ? 0 : 1) === (input.Segment ?? 0);
  return { Items: [...target].filter(([k]) => inSegment(k)).map(([, item]) => marshall(item)) };
}

/** Whether the last reconcile() needed the second, key-by-key verification pass. */
let verifiedByKey = false;

/**
 * The last steps of a run, as the state machine chains them: the VerifyPartitions map (one child
 * per partition, through the real verify handler) writes its results; CheckWrittenDigest decides
 * whether VerifyPartitionsByKey must run (it then replaces the results); Reconcile adds everything up.
 */
async function reconcile(
  event: typeof EVENT & { plan: { scanSegments?: number } } = EVENT,
  lostWorkers: readonly number[] = [],
): Promise<RunSummary> {
  // One verify child per table scan segment (the segments manifest); a lost one reports nothing.
  const workers = event.plan.scanSegments ?? event.plan.partitions;
  const verifyPass = async (byKey: boolean) => {
    const results: unknown[] = [];
    for (let p = 0; p < workers; p++) {
      if (lostWorkers.includes(p)) continue;
      results.push(
        await verifyHandler({
          BatchInput: { job: event.plan.job, rows: event.plan.rows, ...(byKey ? { byKey } : {}) },
          Items: [{ partition: p, chunks: p < event.plan.partitions ? event.plan.chunks : 0 }],
        }),
      );
    }
    writeMapResults(VERIFY_MANIFEST, results);
  };
  await verifyPass(false);
  const written = await checkWrittenHandler({
    action: 'check-written',
    runId: event.runId,
    verify: event.verify,
  });
  verifiedByKey = written.byKey;
  if (verifiedByKey) await verifyPass(true);
  return reconcileHandler({ ...event, written });
}

function failedChecks(summary: RunSummary): string[] {
  return summary.reconciliation.checks.filter((c) => !c.ok).map((c) => c.name);
}

describe('Handler: reconcile', () => {
  beforeAll(async () => {
    ({ reconcileHandler, checkWrittenHandler } = await import('../../../lambdas/handlers/reconcile'));
    ({ verifyHandler } = await import('../../../lambdas/handlers/verify'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    target.clear();
    fakeS3.install(s3Mock);
    ddbMock.on(BatchGetItemCommand).callsFake(fakeBatchGet);
    ddbMock.on(ScanCommand).callsFake(fakeScan);
    ddbMock.on(UpdateItemCommand).resolves({});
    ddbMock.on(GetItemCommand).resolves({
      Item: marshall({
        pk: `RUN#${RUN_ID}`,
        sk: 'RUN',
        runId: RUN_ID,
        entity: 'contact',
        status: 'RUNNING',
        source: SOURCE,
        configHash: JOB.configHash,
        startedAt: STARTED_AT,
      }),
    });
    writeConsistentRun();
  });

  it('sums the counts, verifies the target, writes the summary and finishes the run (MATCHED)', async () => {
    // Act
    const summary = await reconcile(EVENT);

    // Assess
    expect(summary).toEqual({
      runId: RUN_ID,
      entity: 'contact',
      status: 'SUCCEEDED',
      source: SOURCE,
      counts: COUNTS,
      duplicateKeys: 1,
      chunks: 2,
      partitions: 2,
      topReasons: [{ reason: 'invalid_email', count: 1 }],
      warnings: 0,
      topWarnings: [],
      missingColumns: [],
      // Always said: the RunFinished event of the state machine carries it.
      dryRun: false,
      reconciliation: {
        status: 'MATCHED',
        checks: [
          { name: 'all-chunks', ok: true, detail: '2 of 2 chunks reported' },
          { name: 'all-partitions', ok: true, detail: '2 of 2 partitions reported' },
          { name: 'rows-read', ok: true, detail: 'plan counted 7 rows, workers read 7' },
          { name: 'candidates-merged', ok: true, detail: '5 chunk winners handed over, 5 merged' },
          {
            name: 'accounting',
            ok: true,
            detail: 'rows 7 = applied 2 + unchanged 1 + superseded 2 + deleted 1 + rejected 1',
          },
          { name: 'all-verified', ok: true, detail: '2 of 2 partitions verified' },
          {
            name: 'content',
            ok: true,
            detail:
              '5 of 5 keys verified against the target (2 puts by the digest of the 2 items the run wrote), 4 stored items checked for provenance, 0 differ',
          },
        ],
        verifiedKeys: 5,
        mismatchedKeys: [],
        mismatchedKeyCount: 0,
      },
      references: [
        {
          field: 'accountId',
          entity: 'account',
          checked: 2,
          orphans: 1,
          missingParents: 1,
          sample: [{ value: 'A9', children: 1, keys: ['K3'] }],
        },
      ],
      reports: {
        summary: `reports/${RUN_ID}/summary.json`,
        rejects: `reports/${RUN_ID}/rejects.csv`,
        duplicates: `reports/${RUN_ID}/duplicates.csv`,
        orphans: `reports/${RUN_ID}/orphans.csv`,
        html: `reports/${RUN_ID}/report.html`,
      },
      startedAt: STARTED_AT,
      finishedAt: expect.any(String),
      durationMs: expect.any(Number),
    });
    expect(fakeS3.find(`reports/${RUN_ID}/orphans.csv`)).toBe(
      'field,entity,missing value,items,sample keys\r\naccountId,account,A9,1,K3\r\n',
    );
    // Per partition (one verify worker each): one read of the decisions that are not puts of the run
    // (the puts K1 and K3 are proven by the digest of what the scan found) and, for worker 0 whose
    // scan segment holds the run's items, one read of the parents they point at.
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 3);
    // And one scan segment each: as many segments as partitions.
    expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, {
      TableName: TABLE,
      Segment: 0,
      TotalSegments: 2,
    });
    expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, {
      TableName: TABLE,
      Segment: 1,
      TotalSegments: 2,
    });
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetItemCommand, {
      RequestItems: {
        accounts: expect.objectContaining({
          Keys: [{ id: { S: 'A1' } }, { id: { S: 'A9' } }],
        }),
      },
    });
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetItemCommand, {
      RequestItems: {
        [TABLE]: {
          Keys: [{ id: { S: 'K4' } }, { id: { S: 'K5' } }],
          ConsistentRead: true,
        },
      },
    });
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetItemCommand, {
      RequestItems: { [TABLE]: { Keys: [{ id: { S: 'K2' } }], ConsistentRead: true } },
    });
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: `reports/${RUN_ID}/summary.json`,
      ContentType: 'application/json',
    });
    expect(JSON.parse(fakeS3.find(`reports/${RUN_ID}/summary.json`) ?? '')).toEqual(summary);
    expect(fakeS3.find(`reports/${RUN_ID}/duplicates.csv`)).toBe('key,lines,winner\r\nK3,3 5,5\r\n');
    expect(ddbMock).toHaveReceivedCommandWith(UpdateItemCommand, {
      TableName: 'ledger',
      Key: marshall({ pk: `RUN#${RUN_ID}`, sk: 'RUN' }),
      UpdateExpression: 'SET #f0 = :v0, #f1 = :v1, #f2 = :v2',
      ExpressionAttributeNames: { '#f0': 'status', '#f1': 'counts', '#f2': 'finishedAt' },
      ExpressionAttributeValues: {
        ':v0': { S: 'SUCCEEDED' },
        ':v1': { M: marshall(COUNTS) },
        ':v2': { S: summary.finishedAt },
      },
      ConditionExpression: 'attribute_exists(pk)',
    });
  });

  const run = (key: string, problem: string) => ({ key, problem, scope: 'run' });
  const table = (key: string, problem: string) => ({ key, problem, scope: 'table' });
  it.each([
    // A put of the run (K1, K3) that differs changes the digest of the items the run wrote: the
    // second pass reads every decision by key to name it. Other decisions are read by key at once.
    [
      'an attribute changed behind its back (its _digest left as it was)',
      () => target.set('K3', { ...target.get('K3'), score: 4 }),
      [run('K3', 'content differs from the source row'), table('K3', 'changed outside crm-sync')],
      true,
    ],
    [
      'an attribute added behind its back',
      () => target.set('K1', { ...target.get('K1'), extra: 'x' }),
      [run('K1', 'content differs from the source row'), table('K1', 'changed outside crm-sync')],
      true,
    ],
    ['a written item that is missing', () => target.delete('K1'), [run('K1', 'missing')], true],
    ['an unchanged item that is missing', () => target.delete('K2'), [run('K2', 'missing')], false],
    [
      'a deleted item that is still there (put back by hand)',
      () => target.set('K5', { id: 'K5', lastName: 'Back' }),
      [run('K5', 'present: the item should have been deleted'), table('K5', 'not written by crm-sync')],
      false,
    ],
    [
      'a newer stored item that is missing',
      () => target.delete('K4'),
      [run('K4', 'missing: a newer stored item was expected')],
      false,
    ],
    [
      'an extra item added behind its back (a key no run wrote)',
      () => target.set('K9', { id: 'K9', lastName: 'Extra' }),
      [table('K9', 'not written by crm-sync')],
      false,
    ],
  ])('reports MISMATCHED for %s, naming the key', async (_name, tamper, problems, byKey) => {
    // Prepare
    tamper();

    // Act
    const summary = await reconcile(EVENT);

    // Assess
    expect(summary.status).toBe('FAILED');
    expect(summary.reconciliation).toEqual(
      expect.objectContaining({ status: 'MISMATCHED', verifiedKeys: 5, mismatchedKeyCount: problems.length }),
    );
    expect(summary.reconciliation.mismatchedKeys).toEqual(expect.arrayContaining(problems));
    expect(summary.reconciliation.mismatchedKeys).toHaveLength(problems.length);
    expect(failedChecks(summary)).toEqual(['content']);
    expect(verifiedByKey).toBe(byKey);
    const scanned = target.size;
    const how = byKey
      ? 'key by key: the digest of the items the run wrote differed from its puts'
      : '2 puts by the digest of the 2 items the run wrote';
    expect(ddbMock).toHaveReceivedCommandWith(UpdateItemCommand, {
      ExpressionAttributeNames: {
        '#f0': 'status',
        '#f1': 'counts',
        '#f2': 'finishedAt',
        '#f3': 'error',
        '#f4': 'cause',
      },
      ExpressionAttributeValues: expect.objectContaining({
        ':v0': { S: 'MISMATCHED' },
        ':v3': { S: 'ReconciliationMismatch' },
        ':v4': {
          S: `5 of 5 keys verified against the target (${how}), ${scanned} stored items checked for provenance, ${problems.length} differ`,
        },
      }),
    });
    expect(JSON.parse(fakeS3.find(`reports/${RUN_ID}/summary.json`) ?? '')).toEqual(summary);
    // Every problem is listed in mismatches.csv, with its scope.
    const csv = fakeS3.find(`reports/${RUN_ID}/mismatches.csv`) ?? '';
    expect(csv.split('\r\n').filter(Boolean).sort()).toEqual(
      [
        'key,scope,problem',
        ...problems.map(
          (p) => `${p.key},${p.scope},${p.problem.includes(',') ? `"${p.problem}"` : p.problem}`,
        ),
      ].sort(),
    );
  });

  describe('more table scan segments than partitions (a large table)', () => {
    // 4 segments of the table, 2 partitions: workers 0 and 1 also verify partitions 0 and 1
    const segmented = (scanSegments: number) => ({
      ...EVENT,
      plan: { ...PLAN, scanSegments, job: { ...JOB, scanSegments } },
    });

    it('matches when every segment reported: each item scanned once, the puts proven over all segments', async () => {
      // Act
      const summary = await reconcile(segmented(4));

      // Assess
      expect(summary.reconciliation.status).toBe('MATCHED');
      expect(summary.reconciliation.checks.find((c) => c.name === 'all-verified')).toEqual({
        name: 'all-verified',
        ok: true,
        detail: '4 of 4 scan segments (2 partitions) verified',
      });
      expect(summary.reconciliation.checks.find((c) => c.name === 'content')?.detail).toMatch(
        /^5 of 5 keys verified against the target \(2 puts by the digest of the 2 items the run wrote\), 4 stored items checked for provenance, 0 differ$/,
      );
      expect(verifiedByKey).toBe(false);
    });

    it.each([
      ['a segment beyond the partitions', 3],
      ['a segment that also verifies a partition', 1],
    ])('does not match when %s reported nothing (worker %d)', async (_name, lost) => {
      // Act
      const summary = await reconcile(segmented(4), [lost]);

      // Assess
      expect(summary.reconciliation.status).toBe('MISMATCHED');
      expect(failedChecks(summary)).toContain('all-verified');
      expect(summary.reconciliation.checks.find((c) => c.name === 'all-verified')?.detail).toBe(
        '3 of 4 scan segments (2 partitions) verified',
      );
    });
  });

  it('reports MISMATCHED when a partition result is missing, naming the failed checks', async () => {
    // Prepare: the child of partition 1 failed; its merged file is there, its counts are not
    writeMapResults(
      MERGE_MANIFEST,
      [{ partitions: [PARTITIONS[0]] }],
      [{ Error: 'WriteRetriesExhaustedError', Cause: 'unprocessed' }],
    );

    // Act
    const summary = await reconcile(EVENT);

    // Assess
    expect(summary.reconciliation.status).toBe('MISMATCHED');
    expect(failedChecks(summary)).toEqual(['all-partitions', 'candidates-merged', 'accounting']);
    expect(summary.reconciliation.checks).toEqual(
      expect.arrayContaining([
        {
          name: 'all-partitions',
          ok: false,
          detail: '1 of 2 partitions reported; failed: WriteRetriesExhaustedError: unprocessed',
        },
        {
          name: 'accounting',
          ok: false,
          detail: 'rows 7 = applied 1 + unchanged 1 + superseded 1 + deleted 0 + rejected 1 (gap 3)',
        },
      ]),
    );
    expect(summary.counts).toEqual({
      rows: 7,
      applied: 1,
      unchanged: 1,
      superseded: 1,
      deleted: 0,
      rejected: 1,
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateItemCommand, {
      ExpressionAttributeValues: expect.objectContaining({ ':v0': { S: 'MISMATCHED' } }),
    });
  });

  it('reports MISMATCHED when the workers read another number of rows than the plan counted', async () => {
    // Act
    const summary = await reconcile({ ...EVENT, plan: { ...PLAN, rows: 8 } });

    // Assess
    expect(summary.reconciliation.status).toBe('MISMATCHED');
    expect(failedChecks(summary)).toEqual(['rows-read']);
    expect(summary.reconciliation.checks).toContainEqual({
      name: 'rows-read',
      ok: false,
      detail: 'plan counted 8 rows, workers read 7',
    });
  });

  it.each<[string, Partial<typeof PLAN>, number]>([
    ['a MATCHED run', {}, 0],
    ['a MISMATCHED run (the workers read 7 rows of 8)', { rows: 8 }, 1],
  ])(
    'publishes the metrics of %s in one EMF record: CrmSync, service and entity',
    async (_what, plan, failed) => {
      // Prepare
      let summary: RunSummary | undefined;

      // Act
      const records = await captureEmf(
        async () => {
          summary = await reconcile({ ...EVENT, plan: { ...PLAN, ...plan } });
        },
        { CRM_SYNC_STACK_NAME: 'CrmSyncProd' },
      );

      // Assess
      expect(records).toHaveLength(1);
      const [record] = records;
      expect(record?._aws.CloudWatchMetrics).toEqual([
        {
          Namespace: 'CrmSync',
          Dimensions: [['service', 'entity']],
          Metrics: [
            { Name: 'Rows', Unit: 'Count' },
            { Name: 'Applied', Unit: 'Count' },
            { Name: 'Rejected', Unit: 'Count' },
            { Name: 'RejectRatio', Unit: 'None' },
            { Name: 'RunDuration', Unit: 'Milliseconds' },
            { Name: 'ReconciliationMismatches', Unit: 'Count' },
            { Name: 'MismatchedKeys', Unit: 'Count' },
          ],
        },
      ]);
      expect(record).toMatchObject({
        service: 'CrmSyncProd',
        entity: 'contact',
        Rows: 7,
        Applied: COUNTS.applied,
        Rejected: 1,
        RejectRatio: 1 / 7,
        RunDuration: summary?.durationMs,
        ReconciliationMismatches: failed,
        MismatchedKeys: 0,
      });
    },
  );

  it('publishes no metrics for a dry run (nothing was written), and none while metrics are off', async () => {
    // Prepare
    const dryRun = { ...EVENT, plan: { ...PLAN, job: { ...JOB, dryRun: true } } };
    const stdout = jest.spyOn(process.stdout, 'write');

    // Act
    const records = await captureEmf(() => reconcile(dryRun));
    const summary = await reconcile(EVENT);

    // Assess
    expect(records).toEqual([]);
    expect(summary.reconciliation.status).toBe('MATCHED');
    expect(stdout).not.toHaveBeenCalled();
    stdout.mockRestore();
  });

  it('writes rejects.csv with line, reasons and the original cells, formula cells escaped', async () => {
    // Act
    await reconcile(EVENT);

    // Assess
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: `reports/${RUN_ID}/rejects.csv`,
      ContentType: 'text/csv; charset=utf-8',
    });
    const csv = fakeS3.find(`reports/${RUN_ID}/rejects.csv`) ?? '';
    const expectedCells = COLUMNS.map((c) => {
      if (c === 'Title') return `"'=HYPERLINK(""x"")"`;
      if (c === 'Phone') return `'+1 206 688 0480`;
      if (c === 'MailingStreet') return '"1 Main St, Apt 2"';
      return REJECTED_CELLS[c] ?? '';
    });
    expect(csv).toBe(
      `line,reasons,${COLUMNS.join(',')}\r\n` + `6,invalid_email:Email,${expectedCells.join(',')}\r\n`,
    );
    expect(csv).toContain(`"'=HYPERLINK(""x"")"`);
  });

  it('fails a run whose table holds an item marked as written by it that is none of its puts, though no key can be named', async () => {
    // Prepare: K4 (superseded: the run did not write it) carries this run's _run and a valid digest.
    const k4 = target.get('K4') ?? {};
    target.set('K4', { ...k4, _run: RUN_ID });

    // Act
    const summary = await reconcile(EVENT);

    // Assess
    expect(verifiedByKey).toBe(true);
    expect(summary.reconciliation.status).toBe('MISMATCHED');
    expect(summary.reconciliation.mismatchedKeyCount).toBe(0);
    expect(failedChecks(summary)).toEqual(['content']);
    expect(summary.reconciliation.checks.find((c) => c.name === 'content')?.detail).toContain(
      'no key explains it: an item is marked as written by this run without being one of its puts',
    );
  });

  it('lists each orphan once when the key-by-key pass ran (its files replace the first pass’s)', async () => {
    // Prepare: K1 missing sends the run through the second pass; K3 points at the missing account A9
    // (the first pass finds K3 in scan segment 0, the second in partition 1).
    target.delete('K1');

    // Act
    const summary = await reconcile(EVENT);

    // Assess
    expect(verifiedByKey).toBe(true);
    expect(summary.references).toEqual([expect.objectContaining({ orphans: 1, missingParents: 1 })]);
    expect(fakeS3.find(`reports/${RUN_ID}/orphans.csv`)).toBe(
      'field,entity,missing value,items,sample keys\r\naccountId,account,A9,1,K3\r\n',
    );
    expect(fakeS3.find(`reports/${RUN_ID}/mismatches.csv`)).toBe('key,scope,problem\r\nK1,run,missing\r\n');
  });

  it('writes no rejects, duplicates or orphans report when there are none', async () => {
    // Prepare
    ACCOUNTS.add('A9');
    const chunks = [{ ...CHUNKS[0], rows: 3, rejected: 0, topReasons: {} }, CHUNKS[1]];
    const partitions = PARTITIONS.map((p) => ({ ...p, duplicateKeys: 0 }));
    writeMapResults(TRANSFORM_MANIFEST, [{ chunks }]);
    writeMapResults(
      MERGE_MANIFEST,
      partitions.map((p) => ({ partitions: [p] })),
    );

    // Act
    const summary = await reconcile({ ...EVENT, plan: { ...PLAN, rows: 6 } });

    // Assess
    expect(summary.reconciliation.status).toBe('MATCHED');
    expect(summary.reports).toEqual({
      summary: `reports/${RUN_ID}/summary.json`,
      html: `reports/${RUN_ID}/report.html`,
    });
    expect(summary.references).toEqual([expect.objectContaining({ checked: 2, orphans: 0 })]);
    // Only the two reports (the verify workers write their, empty, work files under work/).
    const reportKeys = s3Mock
      .commandCalls(PutObjectCommand)
      .map((c) => c.args[0].input.Key ?? '')
      .filter((k) => k.startsWith('reports/'));
    expect(reportKeys.sort()).toEqual([`reports/${RUN_ID}/report.html`, `reports/${RUN_ID}/summary.json`]);
    expect(fakeS3.find(`reports/${RUN_ID}/report.html`)).toContain('No rejects');
    ACCOUNTS.delete('A9');
  });

  it('writes report.html with the counts, the checks, escaped reject samples and the chunk timings', async () => {
    // Act
    const summary = await reconcile(EVENT);

    // Assess
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: `reports/${RUN_ID}/report.html`,
      ContentType: 'text/html; charset=utf-8',
    });
    const html = fakeS3.find(`reports/${RUN_ID}/report.html`) ?? '';
    expect(html).toMatch(/^<!DOCTYPE html>/);
    for (const [bucket, n] of Object.entries(summary.counts))
      expect(html).toContain(`data-count="${bucket}">${n}</td>`);
    expect(html).toContain('data-check="content"');
    // The sample of line 6: its key, the invalid Email cell, the reason; the formula cell is not shown.
    expect(html).toContain('<code>invalid_email:Email</code>');
    expect(html).toContain(
      '<span class="kv named"><span class="k">Email</span> <span class="cell">not-an-email</span>',
    );
    expect(html).not.toContain('HYPERLINK');
    expect(html).toContain('<td class="cell">K3</td><td>3, 5</td>');
    expect(html).toContain('data-chunk="1"');
    expect(html).toContain('data-partition="1"');
    expect(html).toContain('data-reference="accountId"');
  });

  it('rejects an event without the map results (InvalidEventError)', async () => {
    // Act & Assess
    await expect(reconcileHandler({ runId: RUN_ID, plan: PLAN })).rejects.toThrow(InvalidEventError);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
  });
});
