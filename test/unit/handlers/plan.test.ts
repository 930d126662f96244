import { gzipSync } from 'node:zlib';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  HeaderMismatchError,
  InconsistentDateOrderError,
  InvalidEventError,
  MalformedFileError,
} from '../../../lambdas/domain/errors';
import { partsDigest } from '../../../lambdas/domain/export-folder';
import { deriveRunId } from '../../../lambdas/domain/run';
import { zipArchive } from '../zip-archive';
import { BUCKET, COLUMNS, CONFIG_HASH, FakeBucket, HEADER, md5, RUN_ID, row, SOURCE_KEY } from './support';

type PlanModule = typeof import('../../../lambdas/handlers/plan');
type PlanOutput = import('../../../lambdas/handlers/plan').PlanOutput;
let planHandler: PlanModule['planHandler'];

const SMALL_CSV = `${[
  HEADER,
  row({ Id: '003qP0000002VdAAAA' }),
  row({ Id: '003qP0000002VdBAAA', MailingStreet: '12 Main St\nSuite 4' }),
  row({ Id: '003qP0000002VdCAAA', Title: 'He said "hi"' }),
].join('\n')}\n`;

// ---------------------------------------------------------------------------------------------------
// An in-memory bucket behind the S3 mock: GetObject honours Range and IfMatch, PutObject stores.

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();

describe('Handler: plan', () => {
  beforeAll(async () => {
    ({ planHandler } = await import('../../../lambdas/handlers/plan'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    ddbMock.on(PutItemCommand).resolves({});
    ddbMock.on(UpdateItemCommand).resolves({});
    ddbMock.on(GetItemCommand).resolves({});
    // The target already holds items (the merge reads before it writes), unless a test says not.
    ddbMock.on(ScanCommand).resolves({ Count: 1 });
    ddbMock.on(DescribeTableCommand).resolves({ Table: { ItemCount: 3 } });
  });

  describe('action: claim', () => {
    const claim = (source: Record<string, unknown> = {}) =>
      planHandler({
        action: 'claim',
        source: { bucket: BUCKET, key: SOURCE_KEY, entity: 'contact', ...source },
      });

    it('claims the run in the ledger with a conditional put', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });
      const expectedRunId = deriveRunId(
        { bucket: BUCKET, key: SOURCE_KEY, etag: 'abc123' },
        'contact',
        CONFIG_HASH,
      );

      // Act
      const out = await claim();

      // Assess
      expect(out).toEqual({
        runId: expectedRunId,
        duplicate: false,
        entity: 'contact',
        source: { bucket: BUCKET, key: SOURCE_KEY, etag: 'abc123', entity: 'contact', size: 42 },
      });
      expect(out.runId).toMatch(/^contact-[0-9a-f]{20}$/);
      expect(s3Mock).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: BUCKET, Key: SOURCE_KEY });
      // The entity's run lock, then the run's claim.
      expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 2);
      expect(ddbMock).toHaveReceivedNthSpecificCommandWith(1, PutItemCommand, {
        TableName: 'ledger',
        ConditionExpression: 'attribute_not_exists(pk) OR runId = :run OR expiresAt < :now',
        Item: expect.objectContaining({
          pk: { S: 'LOCK#contact' },
          sk: { S: 'LOCK' },
          runId: { S: expectedRunId },
        }),
      });
      expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
        TableName: 'ledger',
        ConditionExpression: 'attribute_not_exists(pk)',
        Item: expect.objectContaining({
          pk: { S: `RUN#${expectedRunId}` },
          sk: { S: 'RUN' },
          runId: { S: expectedRunId },
          entity: { S: 'contact' },
          status: { S: 'RUNNING' },
          configHash: { S: CONFIG_HASH },
          source: { M: { bucket: { S: BUCKET }, key: { S: SOURCE_KEY }, etag: { S: 'abc123' } } },
          startedAt: { S: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
        }),
      });
    });

    it('records a forced run with the token its id was derived from and the forcing (a resume finds it)', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });
      const forcedId = deriveRunId(
        { bucket: BUCKET, key: SOURCE_KEY, etag: 'abc123' },
        'contact',
        CONFIG_HASH,
        'force',
      );

      // Act
      const out = await claim({ force: true });

      // Assess
      expect(out.runId).toBe(forcedId);
      expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
        ConditionExpression: 'attribute_not_exists(pk)',
        Item: expect.objectContaining({
          pk: { S: `RUN#${forcedId}` },
          rerun: { S: 'force' },
          force: { BOOL: true },
        }),
      });
    });

    it('derives the same run id for the same object and config, another for another ETag', async () => {
      // Prepare
      s3Mock
        .on(HeadObjectCommand)
        .resolvesOnce({ ETag: '"abc123"', ContentLength: 42 })
        .resolvesOnce({ ETag: '"abc123"', ContentLength: 42 })
        .resolvesOnce({ ETag: '"def456"', ContentLength: 42 });

      // Act
      const first = await claim();
      const again = await claim();
      const changed = await claim();

      // Assess
      expect(again.runId).toBe(first.runId);
      expect(changed.runId).not.toBe(first.runId);
      expect(changed.runId).toMatch(/^contact-[0-9a-f]{20}$/);
    });

    it('returns duplicate when the run is already claimed', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });
      const runId = deriveRunId({ bucket: BUCKET, key: SOURCE_KEY, etag: 'abc123' }, 'contact', CONFIG_HASH);
      ddbMock
        .on(PutItemCommand)
        .rejects(
          new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
        );
      ddbMock.on(GetItemCommand).resolves({
        Item: marshall({
          pk: `RUN#${runId}`,
          sk: 'RUN',
          runId,
          entity: 'contact',
          status: 'SUCCEEDED',
          source: { bucket: BUCKET, key: SOURCE_KEY, etag: 'abc123' },
          configHash: CONFIG_HASH,
          startedAt: '2026-01-01T00:00:00.000Z',
        }),
      });

      // Act
      const out = await claim();

      // Assess
      expect(out).toEqual({ runId, duplicate: true, existingStatus: 'SUCCEEDED', entity: 'contact' });
      expect(ddbMock).toHaveReceivedCommandWith(GetItemCommand, {
        TableName: 'ledger',
        Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
        ConsistentRead: true,
      });
    });

    it('rethrows the conditional failure when the claimed run cannot be read back, and gives the lock back', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });
      ddbMock
        .on(PutItemCommand, { ConditionExpression: 'attribute_not_exists(pk)' })
        .rejects(
          new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
        );
      ddbMock.on(DeleteItemCommand).resolves({});

      // Act & Assess
      await expect(claim()).rejects.toThrow(ConditionalCheckFailedException);
      expect(ddbMock).toHaveReceivedCommandWith(DeleteItemCommand, {
        TableName: 'ledger',
        Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } },
        ConditionExpression: 'runId = :run',
      });
    });

    it('fails with EntityBusyError while another run of the entity is running', async () => {
      // Prepare: the lock is held by a RUNNING run.
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });
      ddbMock
        .on(PutItemCommand, {
          ConditionExpression: 'attribute_not_exists(pk) OR runId = :run OR expiresAt < :now',
        })
        .rejects(new ConditionalCheckFailedException({ message: 'held', $metadata: {} }));
      ddbMock
        .on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } })
        .resolves({ Item: { runId: { S: 'contact-other' }, acquiredAt: { S: '2026-11-25T10:00:00.000Z' } } });
      ddbMock
        .on(GetItemCommand, { Key: marshall({ pk: 'RUN#contact-other', sk: 'RUN' }) })
        .resolves({ Item: marshall({ runId: 'contact-other', status: 'RUNNING' }) });

      // Act
      const err = await claim().catch((e: unknown) => e);

      // Assess
      expect((err as Error).name).toBe('EntityBusyError');
      expect((err as Error).message).toBe(
        `entity "contact" is busy: run contact-other (since 2026-11-25T10:00:00.000Z) is still running; run ${deriveRunId({ bucket: BUCKET, key: SOURCE_KEY, etag: 'abc123' }, 'contact', CONFIG_HASH)} waits`,
      );
      expect(ddbMock).not.toHaveReceivedCommandWith(PutItemCommand, {
        ConditionExpression: 'attribute_not_exists(pk)',
      });
    });

    it('takes the lock over from a run that failed, conditioned on that holder', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });
      ddbMock
        .on(PutItemCommand, {
          ConditionExpression: 'attribute_not_exists(pk) OR runId = :run OR expiresAt < :now',
        })
        .rejects(new ConditionalCheckFailedException({ message: 'held', $metadata: {} }));
      ddbMock.on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } }).resolves({
        Item: { runId: { S: 'contact-failed' }, acquiredAt: { S: '2026-11-25T10:00:00.000Z' } },
      });
      ddbMock
        .on(GetItemCommand, { Key: marshall({ pk: 'RUN#contact-failed', sk: 'RUN' }) })
        .resolves({ Item: marshall({ runId: 'contact-failed', status: 'FAILED' }) });

      // Act
      const out = await claim();

      // Assess
      expect(out).toMatchObject({ duplicate: false });
      expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
        ConditionExpression: 'runId = :holder',
        ExpressionAttributeValues: { ':holder': { S: 'contact-failed' } },
      });
    });

    it('refuses to resume a run when the object or config now make another run id', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"changed"', ContentLength: 42 });

      // Act
      const err = await claim({ resume: 'contact-00000000000000000000' }).catch((e: unknown) => e);

      // Assess
      expect((err as Error).name).toBe('RunNotResumableError');
      expect((err as Error).message).toContain(
        `run contact-00000000000000000000 cannot be resumed: s3://${BUCKET}/${SOURCE_KEY} or the config of "contact" changed since it ran`,
      );
      expect(ddbMock).not.toHaveReceivedCommand(PutItemCommand);
    });

    it("claims an export folder's 0-byte _SUCCESS as the run of its parts, the id derived with their digest", async () => {
      // Prepare
      const folder = 'inbox/contact/2026-05-02/';
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"m0"', ContentLength: 0 });
      s3Mock.on(ListObjectsCommand).resolves({
        Contents: [
          { Key: `${folder}_SUCCESS`, Size: 0, ETag: '"m0"' },
          { Key: `${folder}part-1.csv`, Size: 10, ETag: '"p1"' },
          { Key: `${folder}part-0.csv`, Size: 10, ETag: '"p0"' },
        ],
      });
      const digest = partsDigest([
        { key: `${folder}part-0.csv`, size: 10, etag: 'p0' },
        { key: `${folder}part-1.csv`, size: 10, etag: 'p1' },
      ]);

      // Act
      const out = await claim({ key: `${folder}_SUCCESS`, size: 0 });

      // Assess
      expect(out).toMatchObject({ duplicate: false, source: { key: `${folder}_SUCCESS`, parts: digest } });
      expect(out.runId).toBe(
        deriveRunId(
          { bucket: BUCKET, key: `${folder}_SUCCESS`, etag: 'm0' },
          'contact',
          CONFIG_HASH,
          undefined,
          digest,
        ),
      );
    });

    it('pins the version id of a versioned object into the run id', async () => {
      // Prepare
      s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', VersionId: 'v1', ContentLength: 42 });

      // Act
      const out = await claim({ versionId: 'v1' });

      // Assess
      expect(s3Mock).toHaveReceivedCommandWith(HeadObjectCommand, {
        Bucket: BUCKET,
        Key: SOURCE_KEY,
        VersionId: 'v1',
      });
      expect(out.runId).toBe(
        deriveRunId(
          { bucket: BUCKET, key: SOURCE_KEY, versionId: 'v1', etag: 'abc123' },
          'contact',
          CONFIG_HASH,
        ),
      );
    });

    describe('an object that is not an export (lambdas/domain/sync.ts, notAnExport)', () => {
      it.each([
        ['a part of an export folder', 'inbox/contact/2026-05-02/part-00000.csv', 90, 'part'],
        ['a folder marker', 'inbox/contact/exports/', 0, 'folder'],
        ['a folder marker of another size', 'inbox/contact/exports/', 3, 'folder'],
        ['an empty object', 'inbox/contact/contacts.csv', 0, 'empty'],
        ['a _SUCCESS marker', 'inbox/contact/_SUCCESS', 2, 'hidden'],
        ['a .DS_Store', 'inbox/contact/.DS_Store', 6148, 'hidden'],
        ['a hidden file in a folder', 'inbox/contact/2024/.~lock.contacts.csv#', 90, 'hidden'],
      ])('%s (%s, %d bytes) makes no run, takes no lock: ignored', async (_name, key, size, reason) => {
        // Prepare
        s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: size });

        // Act
        const out = await claim({ key });

        // Assess
        expect(out).toEqual({ runId: null, ignored: true, reason, entity: 'contact', key });
        expect(ddbMock).not.toHaveReceivedCommand(PutItemCommand);
        expect(ddbMock).not.toHaveReceivedCommand(UpdateItemCommand);
        expect(ddbMock).not.toHaveReceivedCommand(GetItemCommand);
      });

      it.each([
        ['a _SUCCESS marker', 'inbox/contact/_SUCCESS', 2],
        ['an empty object', 'inbox/contact/contacts.csv', 0],
      ])(
        '%s is recognized from the event’s size, without a HEAD (it may be gone already)',
        async (_name, key, size) => {
          // Prepare
          s3Mock.on(HeadObjectCommand).rejects(new Error('NotFound'));

          // Act
          const out = await claim({ key, size });

          // Assess
          expect(out).toMatchObject({ ignored: true, runId: null });
          expect(s3Mock).not.toHaveReceivedCommand(HeadObjectCommand);
        },
      );

      it('a file a person named (`local run _x.csv`: label) is claimed, Plan judges it', async () => {
        // Prepare
        s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });

        // Act
        const out = await claim({ key: 'inbox/contact/_contacts.csv', label: './_contacts.csv' });

        // Assess
        expect(out).toMatchObject({ duplicate: false, runId: expect.stringMatching(/^contact-/) });
        expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 2);
      });

      it.each([
        ['a negative size', -1],
        ['a fractional size', 1.5],
        ['a size as text', '12'],
      ])('refuses an event with %s (InvalidEventError)', async (_name, size) => {
        // Act
        const err = await claim({ size }).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(InvalidEventError);
        expect((err as Error).message).toMatch(/size/);
        expect(ddbMock).not.toHaveReceivedCommand(PutItemCommand);
      });
    });

    describe("a dry run's file (under dry-run/): only a dry run reads it", () => {
      it.each([
        ['a run', {}],
        ['a forced run', { force: true }],
        ['a rerun', { rerun: 'again' }],
        ['a run a person named', { label: './contacts.csv' }],
      ])('refuses %s of it (InvalidEventError), reading and claiming nothing', async (_name, extra) => {
        // Act
        const err = await claim({ key: 'dry-run/contact/contacts.csv', ...extra }).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(InvalidEventError);
        expect((err as Error).message).toContain('only a dry run may read it');
        expect(s3Mock).not.toHaveReceivedCommand(HeadObjectCommand);
        expect(ddbMock).not.toHaveReceivedCommand(PutItemCommand);
      });

      it('claims a dry run of it, with no lock', async () => {
        // Prepare
        s3Mock.on(HeadObjectCommand).resolves({ ETag: '"abc123"', ContentLength: 42 });

        // Act
        const out = await claim({ key: 'dry-run/contact/contacts.csv', dryRun: true });

        // Assess
        expect(out).toMatchObject({
          duplicate: false,
          source: { key: 'dry-run/contact/contacts.csv', dryRun: true },
        });
        expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
      });
    });
  });

  describe('action: plan', () => {
    const plan = (etag: string, key = SOURCE_KEY, label?: string) =>
      planHandler({
        action: 'plan',
        runId: RUN_ID,
        source: {
          bucket: BUCKET,
          key,
          entity: 'contact',
          etag,
          size: fakeS3.sizeOf(key),
          ...(label ? { label } : {}),
        },
      });

    it('names the file as the person named it (a local path) when the run says so', async () => {
      // Prepare
      const columns = COLUMNS.filter((c) => c !== 'LastName');
      const csv = `${[columns.join(','), row({ Id: '003qP0000002VdAAAA' }, columns)].join('\n')}\n`;
      const etag = fakeS3.store(SOURCE_KEY, csv);

      // Act
      const err = await plan(etag, SOURCE_KEY, '/home/ann/exports/contacts.csv').catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(HeaderMismatchError);
      expect((err as Error).message).toMatch(
        /^\/home\/ann\/exports\/contacts\.csv: header is missing required columns/,
      );
      expect((err as Error).message).not.toContain('s3://');
    });

    it('writes the chunk and partition manifests and returns the worker job', async () => {
      // Prepare
      const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

      // Act
      const out = await plan(etag);

      // Assess
      const chunks = [
        {
          index: 0,
          start: Buffer.byteLength(HEADER) + 1,
          end: Buffer.byteLength(SMALL_CSV),
          firstLine: 2,
          rows: 3,
        },
      ];
      expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
        Bucket: BUCKET,
        Key: SOURCE_KEY,
        Range: `bytes=0-${Math.min(4096, Buffer.byteLength(SMALL_CSV)) - 1}`,
        IfMatch: `"${etag}"`,
      });
      expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
        Bucket: BUCKET,
        Key: `work/${RUN_ID}/chunks.json`,
        ContentType: 'application/json',
      });
      expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/chunks.json`))).toEqual(chunks);
      expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/partitions.json`))).toEqual([
        { partition: 0, chunks: 1 },
      ]);
      expect(ddbMock).toHaveReceivedCommandWith(UpdateItemCommand, {
        TableName: 'ledger',
        Key: marshall({ pk: `RUN#${RUN_ID}`, sk: 'RUN' }),
        UpdateExpression: 'SET #f0 = :v0, #f1 = :v1',
        ExpressionAttributeNames: { '#f0': 'chunks', '#f1': 'partitions' },
        ExpressionAttributeValues: { ':v0': { N: '1' }, ':v1': { N: '1' } },
        ConditionExpression: 'attribute_exists(pk)',
      });
      expect(out).toEqual({
        runId: RUN_ID,
        entity: 'contact',
        manifestKey: `work/${RUN_ID}/chunks.json`,
        partitionsKey: `work/${RUN_ID}/partitions.json`,
        segmentsKey: `work/${RUN_ID}/segments.json`,
        chunks: 1,
        partitions: 1,
        scanSegments: 1,
        rows: 3,
        bytes: Buffer.byteLength(SMALL_CSV),
        format: 'csv',
        encoding: 'utf8',
        missingOptionalColumns: [],
        // The config's chunkBytes (256 KiB); one worker per Map; the merge worker may use a new
        // on-demand table's warm throughput up to what one worker writes (4,000 items/s) and reads.
        layout: {
          chunkBytes: 256 * 1024,
          transformConcurrency: 1,
          mergeConcurrency: 1,
          verifyConcurrency: 1,
          writeUnitsPerWorker: 4_000,
          readUnitsPerWorker: 10_000,
          estimatedSeconds: expect.any(Number),
          warnings: [],
        },
        job: {
          runId: RUN_ID,
          entity: 'contact',
          configHash: CONFIG_HASH,
          data: { bucket: BUCKET, key: SOURCE_KEY, etag },
          workPrefix: `work/${RUN_ID}/`,
          partitions: 1,
          scanSegments: 1,
          format: 'csv',
          delimiter: ',',
          columns: COLUMNS,
          writeUnitsPerSecond: 4_000,
          readUnitsPerSecond: 10_000,
          verify: 'full',
        },
      });
    });

    it.each([
      ['empty', { Count: 0 }, true],
      ['holding items', { Count: 1, LastEvaluatedKey: { id: { S: 'x' } } }, false],
      ['answering without a count', {}, false],
    ])(
      'asks whether the target is empty (%s → targetEmpty %s), with one counting Scan of one item',
      async (_name, answer, empty) => {
        // Prepare
        ddbMock.on(ScanCommand).resolves(answer);
        const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

        // Act
        const out = await plan(etag);

        // Assess
        expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, {
          TableName: 'contacts',
          Limit: 1,
          Select: 'COUNT',
          ConsistentRead: true,
        });
        expect(ddbMock).toHaveReceivedCommandTimes(ScanCommand, 1);
        expect((out as { job: { targetEmpty?: boolean } }).job.targetEmpty).toBe(empty ? true : undefined);
      },
    );

    describe('table scan segments (full verification, mirror mode) sized from the table', () => {
      afterEach(() => {
        delete process.env.CRM_SYNC_TABLE_STATS;
      });
      const segmentsOf = () =>
        JSON.parse(fakeS3.read(`work/${RUN_ID}/segments.json`)) as Array<{
          partition: number;
          chunks: number;
        }>;

      it.each([
        // DescribeTable, verify mode the plan resolves, segments
        ['a tiny table', { TableSizeBytes: 2_000, ItemCount: 3 }, 'full', 1],
        // 10M items at this file's ~490 B an item (more than the 4 GB said): 4,670 pages × 0.25 s +
        // 10M items × 48 µs = 1,648 s, 59.7 s a worker
        ['10M items / 4 GB', { TableSizeBytes: 4e9, ItemCount: 10_000_000 }, 'full', 56],
        // 40 GB / 100M items: sampled, no scan, one worker per partition
        ['100M items / 40 GB', { TableSizeBytes: 4e10, ItemCount: 100_000_000 }, 'sample:100000', 1],
        ['no size in the answer', {}, 'full', 1],
      ])('%s: DescribeTable %j → %s, %d scan segments', async (_name, table, mode, segments) => {
        // Prepare
        ddbMock.on(DescribeTableCommand).resolves({ Table: table });
        const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

        // Act
        const out = (await plan(etag)) as PlanOutput;

        // Assess: one worker per segment; worker 0 (below the one partition) reads partition 0
        expect(out.job.verify).toBe(mode);
        expect(out.scanSegments).toBe(segments);
        expect(out.job.scanSegments).toBe(segments);
        expect(out.partitions).toBe(1);
        expect(out.segmentsKey).toBe(`work/${RUN_ID}/segments.json`);
        const items = segmentsOf();
        expect(items).toHaveLength(segments);
        expect(items.map((i) => i.partition)).toEqual(Array.from({ length: segments }, (_, i) => i));
        expect(items.map((i) => i.chunks)).toEqual(
          Array.from({ length: segments }, (_, i) => (i < 1 ? 1 : 0)),
        );
        expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/partitions.json`))).toEqual([
          { partition: 0, chunks: 1 },
        ]);
      });

      it('sizes an empty target by the run rows alone, without DescribeTable', async () => {
        // Prepare
        ddbMock.on(ScanCommand).resolves({ Count: 0 });
        const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

        // Act
        const out = (await plan(etag)) as PlanOutput;

        // Assess
        expect(out.scanSegments).toBe(1);
        expect(ddbMock).not.toHaveReceivedCommand(DescribeTableCommand);
      });

      it('takes the table size from CRM_SYNC_TABLE_STATS when set (local tests), not from DescribeTable', async () => {
        // Prepare
        process.env.CRM_SYNC_TABLE_STATS = JSON.stringify({ bytes: 4e9, items: 10_000_000 });
        const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

        // Act
        const out = (await plan(etag)) as PlanOutput;

        // Assess
        expect(out.scanSegments).toBe(56);
        expect(ddbMock).not.toHaveReceivedCommand(DescribeTableCommand);
      });

      it.each([
        ['not JSON', '{bytes', /CRM_SYNC_TABLE_STATS is not JSON/],
        ['a negative size', '{"bytes":-1,"items":3}', /CRM_SYNC_TABLE_STATS must be .*bytes:/],
        ['items missing', '{"bytes":1}', /CRM_SYNC_TABLE_STATS must be .*items:/],
        ['a fraction of an item', '{"bytes":1,"items":0.5}', /items:/],
      ])(
        'refuses a malformed CRM_SYNC_TABLE_STATS (%s) with a ConfigError',
        async (_name, value, message) => {
          // Prepare
          process.env.CRM_SYNC_TABLE_STATS = value;
          const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

          // Act
          const result = plan(etag);

          // Assess
          await expect(result).rejects.toMatchObject({
            name: 'ConfigError',
            message: expect.stringMatching(message),
          });
        },
      );
    });

    it('a resumed run keeps the partition count the ledger recorded for it, whatever the layout says now', async () => {
      // Prepare: the first attempt planned 7 partitions (its finished chunks wrote 7 parts each)
      ddbMock.on(GetItemCommand, { Key: { pk: { S: `RUN#${RUN_ID}` }, sk: { S: 'RUN' } } }).resolves({
        Item: marshall({ pk: `RUN#${RUN_ID}`, sk: 'RUN', runId: RUN_ID, partitions: 7, chunks: 1 }),
      });
      const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

      // Act
      const out = (await plan(etag)) as { partitions: number; job: { partitions: number } };

      // Assess
      expect(out.partitions).toBe(7);
      expect(out.job.partitions).toBe(7);
      expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/partitions.json`))).toHaveLength(7);
    });

    it.each([
      [3, 'full'],
      [10_000_001, 'sample:100000'],
    ])(
      'verifies in full up to 10M items in the target and samples above (%d items → %s)',
      async (items, mode) => {
        // Prepare
        ddbMock.on(DescribeTableCommand).resolves({ Table: { ItemCount: items } });
        const etag = fakeS3.store(SOURCE_KEY, SMALL_CSV);

        // Act
        const out = await plan(etag);

        // Assess
        expect((out as { job: { verify?: string } }).job.verify).toBe(mode);
        expect(ddbMock).toHaveReceivedCommandWith(DescribeTableCommand, { TableName: 'contacts' });
      },
    );

    it('cuts a larger file into contiguous chunks on record boundaries (quoted newlines are no boundary)', async () => {
      // Prepare: every record spans two lines; 1,500 records are more than one 256 KiB chunk
      const records = Array.from({ length: 1500 }, (_, i) =>
        row({ Id: `003qP${String(i).padStart(13, '0')}`, MailingStreet: `${i} Long Street\nBuilding ${i}` }),
      );
      const csv = `${[HEADER, ...records].join('\n')}\n`;
      const bytes = Buffer.from(csv);
      const etag = fakeS3.store(SOURCE_KEY, csv);

      // Act
      const out = await plan(etag);

      // Assess
      const chunks = JSON.parse(fakeS3.read(`work/${RUN_ID}/chunks.json`)) as Array<{
        index: number;
        start: number;
        end: number;
        firstLine: number;
        rows: number;
      }>;
      expect(chunks.length).toBeGreaterThan(1);
      expect(out).toEqual(expect.objectContaining({ chunks: chunks.length, rows: 1500, partitions: 1 }));
      expect(chunks[0]).toEqual(
        expect.objectContaining({ index: 0, start: Buffer.byteLength(HEADER) + 1, firstLine: 2 }),
      );
      expect(chunks.at(-1)?.end).toBe(bytes.length);
      expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(1500);
      chunks.forEach((c, i) => {
        expect(c.index).toBe(i);
        expect(bytes.subarray(c.start, c.start + 6).toString()).toBe('"003qP');
        const next = chunks[i + 1];
        if (next) {
          expect(next.start).toBe(c.end);
          expect(next.firstLine).toBe(c.firstLine + 2 * c.rows);
        }
      });
      expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/partitions.json`))).toEqual([
        { partition: 0, chunks: chunks.length },
      ]);
    });

    describe('the day/month order of numeric dates, decided once per file', () => {
      const csvOf = (created: string[]) =>
        `${[HEADER, ...created.map((c, i) => row({ Id: `003qP0000002V${String(i).padStart(3, '0')}AAA`, CreatedDate: c }))].join('\n')}\n`;

      // These times have no offset: local times, which the decision says (the summary names the zone).
      it.each<[string, string[], Record<string, unknown> | undefined]>([
        [
          'day-first by its values',
          ['03/04/24 10:00', '24/02/26 2:18 PM'],
          { createdAt: { order: 'day-first', decidedBy: 'values', localTimes: true } },
        ],
        [
          'month-first by its values',
          ['03/04/24 10:00', '2/24/26 2:18 PM'],
          { createdAt: { order: 'month-first', decidedBy: 'values', localTimes: true } },
        ],
        [
          'by the setting when no value decides',
          ['03/04/24 10:00', '1/2/24'],
          { createdAt: { order: 'month-first', decidedBy: 'setting', localTimes: true } },
        ],
        ['not at all for ISO dates', ['2020-01-18T19:48:02.000Z'], undefined],
      ])('decides %s and hands the decision to the workers', async (_what, created, expected) => {
        // Prepare
        const etag = fakeS3.store(SOURCE_KEY, csvOf(created));

        // Act
        const out = (await plan(etag)) as { job: { dateOrder?: unknown } };

        // Assess
        expect(out.job.dateOrder).toEqual(expected);
      });

      it('reads its sample up to a record boundary: a quoted field across the first 4 MiB is not a malformed file', async () => {
        // Prepare: rows of about 2 KiB whose quoted street spans lines, past 4 MiB, so the 4 MiB
        // mark falls inside a quoted field.
        const street = `${'x'.repeat(1000)}\n${'y'.repeat(1000)}`;
        const rows = Array.from({ length: 2600 }, (_, i) =>
          row({
            Id: `003qP000000${String(i).padStart(7, '0')}`,
            MailingStreet: street,
            CreatedDate: '24/02/26 2:18 PM',
          }),
        );
        const text = `${[HEADER, ...rows].join('\n')}\n`;
        const cut = 4 * 1024 * 1024;
        const before = text.lastIndexOf('\n', cut);
        expect(text.slice(before + 1, cut)).toMatch(/^y+$/); // the mark is inside the quoted street
        const etag = fakeS3.store(SOURCE_KEY, text);

        // Act
        const out = (await plan(etag)) as { job: { dateOrder?: unknown }; rows?: number };

        // Assess
        expect(out.job.dateOrder).toEqual({
          createdAt: { order: 'day-first', decidedBy: 'values', localTimes: true },
        });
      });

      it('fails a column written both ways with InconsistentDateOrderError, naming the file, the column and two lines, and writes no manifest', async () => {
        // Prepare
        const etag = fakeS3.store(
          SOURCE_KEY,
          csvOf(['03/04/24 10:00', '24/02/26 2:18 PM', '1/1/24', '2/24/26 9:00']),
        );

        // Act
        const err = await plan(etag).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(InconsistentDateOrderError);
        expect((err as Error).name).toBe('InconsistentDateOrderError');
        expect((err as Error).message).toBe(
          `s3://${BUCKET}/${SOURCE_KEY}: column CreatedDate has dates written day-first (line 3) ` +
            `and month-first (line 5); one file must write one order (or set the field's formats)`,
        );
        expect(fakeS3.find(`work/${RUN_ID}/chunks.json`)).toBeUndefined();
      });
    });

    it('rejects a header without a required column, naming the file and the column, and writes nothing', async () => {
      // Prepare
      const columns = COLUMNS.filter((c) => c !== 'LastName');
      const csv = `${[columns.map((c) => `"${c}"`).join(','), row({ Id: '003qP0000002VdAAAA' }, columns)].join('\n')}\n`;
      const etag = fakeS3.store(SOURCE_KEY, csv);

      // Act
      const err = await plan(etag).catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(HeaderMismatchError);
      expect((err as Error).name).toBe('HeaderMismatchError');
      expect((err as Error).message).toContain(`s3://${BUCKET}/${SOURCE_KEY}`);
      expect((err as Error).message).toMatch(/missing required columns: LastName\b/);
      await expect(plan(etag)).rejects.toThrow(
        `s3://${BUCKET}/${SOURCE_KEY}: header is missing required columns`,
      );
      expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
      expect(ddbMock).not.toHaveReceivedCommand(UpdateItemCommand);
    });

    it.each([
      ['UTF-8', (text: string) => Buffer.from(text)],
      [
        'UTF-16LE with a BOM',
        (text: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
      ],
    ])(
      'refuses a %s file with a bad header after one ranged read, before any scan, transcoding or write',
      async (_name, encode) => {
        // Prepare: a file far larger than the head, so a full scan would show as a second GetObject.
        const columns = COLUMNS.filter((c) => c !== 'LastName');
        const rows = Array.from({ length: 2000 }, (_, i) =>
          row({ Id: `003qP000000${String(i).padStart(7, '0')}` }, columns),
        );
        const etag = fakeS3.store(
          SOURCE_KEY,
          encode(`${[columns.map((c) => `"${c}"`).join(','), ...rows].join('\r\n')}\r\n`),
        );

        // Act
        const err = await plan(etag).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(HeaderMismatchError);
        expect((err as Error).message).toMatch(/missing required columns: LastName\b/);
        expect(s3Mock).toHaveReceivedCommandTimes(GetObjectCommand, 1);
        expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Range: 'bytes=0-65535' });
        expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
      },
    );

    it.each([
      [
        'a NUL byte in the header',
        Buffer.from(`Id,\u0000${HEADER}\r\n"003\r\n`),
        'a NUL byte at byte offset 3, in the first line',
      ],
      [
        'a PDF document',
        Buffer.from('%PDF-1.7\n%\u00e2\u00e3\n1 0 obj\n'),
        'the file is a PDF document: export the data as CSV or JSON Lines',
      ],
    ])('rejects %s with MalformedFileError naming the file and what it is', async (_name, bytes, message) => {
      // Prepare
      const etag = fakeS3.store(SOURCE_KEY, bytes);

      // Act
      const err = await plan(etag).catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(MalformedFileError);
      expect((err as Error).message).toContain(
        `s3://${BUCKET}/${SOURCE_KEY}: binary file, not CSV or JSON Lines: ${message}`.replace(
          /: a NUL/,
          ': a NUL',
        ),
      );
      expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
    });

    it('rejects an empty file with MalformedFileError before any ranged read (S3 answers 416 to one)', async () => {
      // Prepare
      const etag = fakeS3.store(SOURCE_KEY, '');

      // Act
      const err = await plan(etag).catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(MalformedFileError);
      expect((err as Error).message).toBe(`s3://${BUCKET}/${SOURCE_KEY}: file is empty`);
      expect(s3Mock).not.toHaveReceivedCommand(GetObjectCommand);
      expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
    });

    it('transcodes a UTF-16LE file with a BOM to UTF-8 and plans the transcoded copy', async () => {
      // Prepare
      const csv = `${[HEADER, row({ Id: '003qP0000002VdAAAA', LastName: 'Müller-王' }), row({ Id: '003qP0000002VdBAAA' })].join('\r\n')}\r\n`;
      const etag = fakeS3.store(
        SOURCE_KEY,
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv, 'utf16le')]),
      );
      const utf8Key = `work/${RUN_ID}/source.utf8.csv`;

      // Act
      const out = await plan(etag);

      // Assess
      expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
        Bucket: BUCKET,
        Key: utf8Key,
        ContentType: 'text/csv; charset=utf-8',
      });
      expect(fakeS3.read(utf8Key)).toBe(csv);
      const utf8Etag = md5(Buffer.from(csv));
      expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
        Bucket: BUCKET,
        Key: utf8Key,
        IfMatch: `"${utf8Etag}"`,
      });
      expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/chunks.json`))).toEqual([
        {
          index: 0,
          start: Buffer.byteLength(HEADER) + 2,
          end: Buffer.byteLength(csv),
          firstLine: 2,
          rows: 2,
        },
      ]);
      expect(out).toEqual(
        expect.objectContaining({
          encoding: 'utf16le',
          rows: 2,
          job: expect.objectContaining({
            data: { bucket: BUCKET, key: utf8Key, etag: utf8Etag },
            columns: COLUMNS,
            delimiter: ',',
          }),
        }),
      );
    });

    it('fails a Windows-1252 file read as UTF-8 at Plan, naming the line, and writes nothing', async () => {
      // Prepare: "Müller" in Windows-1252 on the second data row.
      const csv = Buffer.concat([
        Buffer.from(
          `${HEADER}\r\n${row({ Id: '003qP0000002VdAAAA' })}\r\n${row({ Id: '003qP0000002VdBAAA', LastName: 'M' })}`,
        ),
        Buffer.from([0xfc]),
        Buffer.from('ller\r\n'),
      ]);
      const etag = fakeS3.store(SOURCE_KEY, csv);

      // Act
      const err = await plan(etag).catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(MalformedFileError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^s3://${BUCKET}/${SOURCE_KEY}: line 3, byte offset \\d+: the file is not valid UTF-8 \\(bytes 0xFC 0x6C\\); it is probably Windows-1252/Latin-1`,
        ),
      );
      expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
    });

    describe('JSON Lines', () => {
      const JSONL_KEY = 'inbox/contact/contacts.jsonl';
      const record = (cells: Record<string, unknown>): string =>
        JSON.stringify({
          Id: '003qP0000002VdAAAA',
          LastName: 'Lovelace',
          Email: 'ada@example.com',
          LastModifiedDate: '2021-04-30T04:21:16.000Z',
          IsDeleted: false,
          ...cells,
        });

      it('plans a .jsonl object: no header, the mapped source names as columns', async () => {
        // Prepare
        const text = `${record({ Title: 'He said "hi", twice' })}\n${record({ Id: '003qP0000002VdBAAA' })}\n`;
        const etag = fakeS3.store(JSONL_KEY, text);

        // Act
        const out = await plan(etag, JSONL_KEY);

        // Assess
        expect(out).toEqual(
          expect.objectContaining({
            format: 'jsonl',
            rows: 2,
            chunks: 1,
            missingOptionalColumns: [],
            job: expect.objectContaining({
              format: 'jsonl',
              columns: expect.arrayContaining(['Id', 'LastName', 'LastModifiedDate', 'IsDeleted']),
            }),
          }),
        );
        expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/chunks.json`))).toEqual([
          { index: 0, start: 0, end: Buffer.byteLength(text), firstLine: 1, rows: 2 },
        ]);
      });

      it.each<[string, string, string]>([
        ['a JSON array', 'inbox/contact/contacts.json', `[\n  ${record({})},\n  ${record({ Id: '2' })}\n]\n`],
        [
          'an sfdx tree file',
          'inbox/contact/Contacts.json',
          `{\n  "records": [\n    {"attributes": {"type": "Contact", "referenceId": "ContactRef1"}, ${record({}).slice(1)},\n    ${record({ Id: '2' })}\n  ]\n}\n`,
        ],
      ])('converts %s to a JSON Lines copy under work/ and plans the copy', async (_name, key, text) => {
        // Prepare
        const etag = fakeS3.store(key, text);
        const copyKey = `work/${RUN_ID}/source.utf8.jsonl`;

        // Act
        const out = await plan(etag, key);

        // Assess
        expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
          Bucket: BUCKET,
          Key: copyKey,
          ContentType: 'application/x-ndjson',
        });
        const lines = fakeS3.read(copyKey).split('\n');
        expect(lines).toHaveLength(3);
        expect(lines[2]).toBe('');
        expect(JSON.parse(lines[1] ?? '')).toEqual(JSON.parse(record({ Id: '2' })));
        expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/chunks.json`))).toEqual([
          { index: 0, start: 0, end: Buffer.byteLength(fakeS3.read(copyKey)), firstLine: 1, rows: 2 },
        ]);
        expect(out).toEqual(
          expect.objectContaining({
            format: 'jsonl',
            rows: 2,
            job: expect.objectContaining({ data: expect.objectContaining({ bucket: BUCKET, key: copyKey }) }),
          }),
        );
      });

      it('converts a Parquet file (ranged reads of its footer and row groups) to a JSON Lines copy', async () => {
        // Prepare
        const key = 'inbox/contact/contacts.parquet';
        const bytes = parquetWriteBuffer({
          rowGroupSize: 2,
          columnData: [
            {
              name: 'Id',
              data: ['003qP0000002VdAAAA', '003qP0000002VdBAAA', '003qP0000002VdCAAA'],
              type: 'STRING',
            },
            { name: 'LastName', data: ['Lovelace', 'Hopper', 'Noether'], type: 'STRING' },
            {
              name: 'LastModifiedDate',
              data: ['2021-04-30T04:21:16.000Z', '2021-04-30T04:21:16.000Z', '2021-04-30T04:21:16.000Z'],
              type: 'STRING',
            },
            { name: 'IsDeleted', data: [false, false, true], type: 'BOOLEAN' },
          ],
        });
        const etag = fakeS3.store(key, Buffer.from(bytes));
        const copyKey = `work/${RUN_ID}/source.utf8.jsonl`;

        // Act
        const out = await plan(etag, key);

        // Assess
        const lines = fakeS3.read(copyKey).split('\n');
        expect(lines.slice(0, -1).map((l) => JSON.parse(l).LastName)).toEqual([
          'Lovelace',
          'Hopper',
          'Noether',
        ]);
        expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
          Key: key,
          Range: expect.stringMatching(/^bytes=/),
        });
        expect(out).toEqual(
          expect.objectContaining({
            format: 'jsonl',
            rows: 3,
            job: expect.objectContaining({ data: expect.objectContaining({ key: copyKey }) }),
          }),
        );
      });

      it.each<[string, string, typeof MalformedFileError | typeof HeaderMismatchError, string]>([
        [
          'a cut-off JSON array',
          `[\n  ${record({})},\n  {"Id": "2`,
          MalformedFileError,
          'the JSON array is cut off: it ends before its last record',
        ],
        [
          'a JSON array of records of another shape',
          '[{"vid":1,"properties":{}}]',
          HeaderMismatchError,
          'line 1: the first record has none of the mapped fields (expected some of: Id, AccountId',
        ],
        [
          'a CSV file named .jsonl',
          'Id,LastName\n1,a\n',
          MalformedFileError,
          'line 1: not JSON Lines: the first record is not valid JSON',
        ],
        [
          'records of another shape',
          '{"vid":1,"properties":{}}\n',
          HeaderMismatchError,
          'line 1: the first record has none of the mapped fields (expected some of: Id, AccountId',
        ],
      ])('fails %s at Plan and writes nothing', async (_name, text, errorClass, message) => {
        // Prepare
        const etag = fakeS3.store(JSONL_KEY, text);

        // Act
        const err = await plan(etag, JSONL_KEY).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(errorClass);
        expect((err as Error).message).toContain(`s3://${BUCKET}/${JSONL_KEY}: ${message}`);
        expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
      });
    });

    describe('compressed exports (found by their first bytes, decompressed once to work/)', () => {
      const GZ_KEY = 'inbox/contact/contacts.csv.gz';
      const copyKey = `work/${RUN_ID}/source.decompressed`;
      const smallChunks = [
        {
          index: 0,
          start: Buffer.byteLength(HEADER) + 1,
          end: Buffer.byteLength(SMALL_CSV),
          firstLine: 2,
          rows: 3,
        },
      ];

      it.each<[string, string, Buffer, string]>([
        ['a gzip file named .csv.gz', GZ_KEY, gzipSync(SMALL_CSV), copyKey],
        ['a gzip file named .csv', SOURCE_KEY, gzipSync(SMALL_CSV), copyKey],
        ['a plain CSV named .csv.gz', GZ_KEY, Buffer.from(SMALL_CSV), GZ_KEY],
        [
          'a zip archive of one CSV',
          'inbox/contact/contacts.zip',
          zipArchive([{ name: 'contacts.csv', data: SMALL_CSV }]),
          copyKey,
        ],
        [
          'a concatenation of gzip members (cat a.gz b.gz)',
          GZ_KEY,
          Buffer.concat([gzipSync(SMALL_CSV.slice(0, 300)), gzipSync(SMALL_CSV.slice(300))]),
          copyKey,
        ],
      ])('plans %s as the plain CSV', async (_name, key, bytes, dataKey) => {
        // Prepare
        const etag = fakeS3.store(key, bytes);

        // Act
        const out = await plan(etag, key);

        // Assess
        expect(JSON.parse(fakeS3.read(`work/${RUN_ID}/chunks.json`))).toEqual(smallChunks);
        expect(out).toEqual(
          expect.objectContaining({
            rows: 3,
            format: 'csv',
            encoding: 'utf8',
            job: expect.objectContaining({
              data: expect.objectContaining({ key: dataKey }),
              columns: COLUMNS,
            }),
          }),
        );
        if (dataKey === copyKey) expect(fakeS3.read(copyKey)).toBe(SMALL_CSV);
      });

      it('transcodes a gzipped UTF-16LE CSV from its decompressed copy', async () => {
        // Prepare
        const csv = `${[HEADER, row({ Id: '003qP0000002VdAAAA', LastName: 'Müller-王' })].join('\r\n')}\r\n`;
        const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv, 'utf16le')]);
        const etag = fakeS3.store(GZ_KEY, gzipSync(utf16));
        const utf8Key = `work/${RUN_ID}/source.utf8.csv`;

        // Act
        const out = await plan(etag, GZ_KEY);

        // Assess
        expect(fakeS3.read(utf8Key)).toBe(csv);
        expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
          Key: copyKey,
          IfMatch: `"${md5(utf16)}"`,
        });
        expect(out).toEqual(
          expect.objectContaining({
            encoding: 'utf16le',
            rows: 1,
            job: expect.objectContaining({
              data: { bucket: BUCKET, key: utf8Key, etag: md5(Buffer.from(csv)) },
            }),
          }),
        );
      });

      it('converts a gzipped JSON array to a JSON Lines copy', async () => {
        // Prepare
        const key = 'inbox/contact/contacts.json.gz';
        const records = ['003qP0000002VdAAAA', '003qP0000002VdBAAA'].map((Id) => ({
          Id,
          LastName: 'Lovelace',
          LastModifiedDate: '2021-04-30T04:21:16.000Z',
        }));
        const etag = fakeS3.store(key, gzipSync(JSON.stringify(records, null, 2)));

        // Act
        const out = await plan(etag, key);

        // Assess
        const lines = fakeS3.read(`work/${RUN_ID}/source.utf8.jsonl`).trimEnd().split('\n');
        expect(lines.map((l) => JSON.parse(l))).toEqual(records);
        expect(out).toEqual(expect.objectContaining({ format: 'jsonl', rows: 2 }));
      });

      it.each<[string, string, Buffer, string]>([
        [
          'a cut-off gzip file',
          GZ_KEY,
          gzipSync(SMALL_CSV).subarray(0, 40),
          'the gzip file is cut off: it ends before its compressed data does',
        ],
        [
          'corrupt gzip data',
          GZ_KEY,
          Buffer.concat([gzipSync(SMALL_CSV).subarray(0, 10), Buffer.alloc(40, 0xff)]),
          'the gzip file is not valid: ',
        ],
        ['a gzip file of nothing', GZ_KEY, gzipSync(''), "the gzip file's member is empty"],
        [
          'a zip archive of two files',
          'inbox/contact/contacts.zip',
          zipArchive([
            { name: 'contacts.csv', data: SMALL_CSV },
            { name: 'accounts.csv', data: SMALL_CSV },
          ]),
          'the zip archive holds 2 files (contacts.csv, accounts.csv): zip one export per archive',
        ],
        [
          'a zip bomb (a member declared past the limit)',
          'inbox/contact/contacts.zip',
          zipArchive([
            {
              name: 'contacts.csv',
              data: Buffer.concat([Buffer.from(SMALL_CSV), Buffer.alloc(65 * 1024 * 1024)]),
            },
          ]),
          'the zip file decompresses to more than 67108864 bytes',
        ],
        [
          'an encrypted zip archive',
          'inbox/contact/contacts.zip',
          zipArchive([{ name: 'contacts.csv', data: SMALL_CSV, encrypted: true }]),
          "the zip archive's contacts.csv is encrypted: zip it without a password",
        ],
        [
          'a CSV gzipped under a .jsonl.gz name (read by its member name)',
          'inbox/contact/contacts.jsonl.gz',
          gzipSync(SMALL_CSV),
          'line 1: not JSON Lines: the first record is not valid JSON',
        ],
        [
          'a gzipped gzip file',
          GZ_KEY,
          gzipSync(gzipSync(SMALL_CSV)),
          'binary file, not CSV or JSON Lines: the file is a gzip file',
        ],
        [
          'a gzipped zip archive',
          GZ_KEY,
          gzipSync(zipArchive([{ name: 'contacts.csv', data: SMALL_CSV }])),
          'binary file, not CSV or JSON Lines: the file is a zip archive',
        ],
        [
          'an xlsx workbook',
          'inbox/contact/contacts.xlsx',
          zipArchive([
            { name: '[Content_Types].xml', data: '<Types/>' },
            { name: 'xl/workbook.xml', data: '<workbook/>' },
          ]),
          'the zip archive is an Office file (an .xlsx or .docx): save the sheet as "CSV UTF-8"',
        ],
      ])('fails %s at Plan with one line naming the file', async (_name, key, bytes, message) => {
        // Prepare
        const etag = fakeS3.store(key, bytes);

        // Act
        const err = await plan(etag, key).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(MalformedFileError);
        expect((err as Error).message).toContain(`s3://${BUCKET}/${key}: ${message}`);
        expect((err as Error).message).not.toContain('\n');
        expect(s3Mock).not.toHaveReceivedCommandWith(PutObjectCommand, { Key: `work/${RUN_ID}/chunks.json` });
      });
    });

    it('fails when the source changed since the trigger saw it (ETag mismatch)', async () => {
      // Prepare
      fakeS3.store(SOURCE_KEY, SMALL_CSV);

      // Act & Assess
      await expect(plan('stale-etag')).rejects.toThrow('pre-conditions');
      expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
    });
  });

  it.each([
    ['an unknown action', { action: 'nope' }],
    [
      'a plan event without a run id',
      { action: 'plan', source: { bucket: BUCKET, key: SOURCE_KEY, entity: 'contact', etag: 'x' } },
    ],
    ['a claim event without a source', { action: 'claim' }],
    ['no object at all', undefined],
  ])('rejects %s with InvalidEventError', async (_name, event) => {
    // Act
    const err = await planHandler(event).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as Error).name).toBe('InvalidEventError');
    expect((err as Error).message).toMatch(/^plan: unexpected event/);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
    expect(ddbMock).not.toHaveReceivedAnyCommand();
  });
});
