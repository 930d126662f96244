import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { readPartLines } from '../../../lambdas/domain/chunk';
import { ConfigError, InvalidEventError } from '../../../lambdas/domain/errors';
import { type ChunkItem, type PartLine, partitionOf, type WorkerJob } from '../../../lambdas/domain/run';
import { BUCKET, COLUMNS, CONFIG_HASH, FakeBucket, HEADER, PREFIX, RUN_ID, row, SOURCE_KEY } from './support';

type TransformModule = typeof import('../../../lambdas/handlers/transform');
let transformHandler: TransformModule['transformHandler'];
let ChunkCountMismatchError: TransformModule['ChunkCountMismatchError'];

// '003A' and '003B' fall in different partitions of 2 (FNV-1a), so both part objects have a line.
const KEY_A = '003A';
const KEY_B = '003B';

/** Line 2 and line 7 lie outside the chunk: the worker must read exactly its byte range. */
const LINES = [
  HEADER,
  row({ Id: '003BEFORE' }),
  row({ Id: KEY_A, Title: 'Old title', LastModifiedDate: '2024-01-01T09:00:00.000+0000' }),
  row({
    Id: KEY_B,
    FirstName: 'Grace',
    LastName: 'Hopper',
    Email: 'Grace@Example.com',
    MailingStreet: '1 Navy Rd\nApt 2',
  }),
  row({ Id: '003C', Email: 'not-an-email' }),
  row({ Id: KEY_A, Title: 'New title', LastModifiedDate: '2024-02-01T09:00:00.000+0000' }),
  row({ Id: '003AFTER' }),
];
const CSV = `${LINES.join('\r\n')}\r\n`;
/** Byte offset of LINES[i] (0-based index) in CSV. */
const offsetOf = (i: number) =>
  Buffer.byteLength(
    LINES.slice(0, i)
      .map((l) => `${l}\r\n`)
      .join(''),
  );

/** Records 3..6 of the file (the 2nd record spans two lines, so the last one starts on line 7). */
const CHUNK: ChunkItem = { index: 3, start: offsetOf(2), end: offsetOf(6), firstLine: 3, rows: 4 };

// ---------------------------------------------------------------------------------------------------
// An in-memory bucket behind the S3 mock: GetObject honours Range and IfMatch, PutObject stores.

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();

/** The job Plan hands the workers for CSV (2 merge partitions). */
function makeJob(etag: string, overrides: Partial<WorkerJob> = {}): WorkerJob {
  return {
    runId: RUN_ID,
    entity: 'contact',
    configHash: CONFIG_HASH,
    data: { bucket: BUCKET, key: SOURCE_KEY, etag },
    workPrefix: PREFIX,
    partitions: 2,
    format: 'csv',
    delimiter: ',',
    columns: COLUMNS,
    ...overrides,
  };
}

const partKey = (partition: number, chunk: number) =>
  `${PREFIX}parts/p${String(partition).padStart(4, '0')}/c${String(chunk).padStart(6, '0')}.jsonl`;

/** The winners of a part object, read with the merge step's reader. */
function partLines(key: string): PartLine[] {
  return readPartLines(fakeS3.read(key));
}

describe('Handler: transform', () => {
  beforeAll(async () => {
    ({ transformHandler, ChunkCountMismatchError } = await import('../../../lambdas/handlers/transform'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    ddbMock.on(PutItemCommand).resolves({});
    ddbMock.on(GetItemCommand).resolves({}); // no step recorded yet
  });

  it('writes the chunk winners per partition, the rejects, the ledger step, and returns the counts', async () => {
    // Prepare
    const etag = fakeS3.store(SOURCE_KEY, CSV);
    expect(partitionOf(KEY_A, 2)).not.toBe(partitionOf(KEY_B, 2));
    const itemA = {
      id: KEY_A,
      accountId: '001qP0000002VfKQAU',
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@example.com',
      title: 'New title',
      hasOptedOutOfEmail: false,
      createdAt: '2020-01-18T19:48:02.000Z',
      updatedAt: '2024-02-01T09:00:00.000Z',
    };
    const itemB = {
      id: KEY_B,
      accountId: '001qP0000002VfKQAU',
      firstName: 'Grace',
      lastName: 'Hopper',
      email: 'grace@example.com',
      mailingStreet: '1 Navy Rd\nApt 2',
      hasOptedOutOfEmail: false,
      createdAt: '2020-01-18T19:48:02.000Z',
      updatedAt: '2021-04-30T04:21:16.000Z',
    };

    // Act
    const out = await transformHandler({ BatchInput: { job: makeJob(etag) }, Items: [CHUNK] });

    // Assess
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: BUCKET,
      Key: SOURCE_KEY,
      Range: `bytes=${CHUNK.start}-${CHUNK.end - 1}`,
      IfMatch: `"${etag}"`,
    });
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: partKey(partitionOf(KEY_A, 2), 3),
      ContentType: 'application/x-ndjson',
    });
    expect(partLines(partKey(partitionOf(KEY_A, 2), 3))).toEqual([
      { k: KEY_A, l: 7, v: '2024-02-01T09:00:00.000Z', d: false, i: itemA, x: [3] },
    ]);
    expect(partLines(partKey(partitionOf(KEY_B, 2), 3))).toEqual([
      { k: KEY_B, l: 4, v: '2021-04-30T04:21:16.000Z', d: false, i: itemB },
    ]);
    expect(s3Mock).toHaveReceivedCommandTimes(PutObjectCommand, 3);
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: `${PREFIX}rejects/c000003.jsonl`,
      Body: `${JSON.stringify({ line: 6, reasons: ['invalid_email:Email'], raw: LINES[4] })}\n`,
      ContentType: 'application/x-ndjson',
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
      TableName: 'ledger',
      Item: expect.objectContaining({
        pk: { S: `RUN#${RUN_ID}` },
        sk: { S: 'CHUNK#000003' },
        kind: { S: 'chunk' },
        index: { N: '3' },
        rows: { N: '4' },
        rejected: { N: '1' },
        superseded: { N: '1' },
        candidates: { N: '2' },
        topReasons: { M: { invalid_email: { N: '1' } } },
      }),
    });
    expect(out).toEqual({
      chunks: [
        {
          index: 3,
          rows: 4,
          rejected: 1,
          superseded: 1,
          candidates: 2,
          topReasons: { invalid_email: 1 },
          // the line numbers only (never a cell), for the reject gate's message
          reasonLines: { invalid_email: [6] },
          durationMs: expect.any(Number),
        },
      ],
    });
  });

  it('transforms a JSON Lines chunk: the same items as CSV, malformed lines rejected with their line', async () => {
    // Prepare
    const key = 'inbox/contact/contacts.jsonl';
    const good = {
      Id: KEY_A,
      AccountId: '001qP0000002VfKQAU',
      FirstName: 'Ada',
      LastName: 'Lovelace',
      Email: 'ADA@Example.com ',
      HasOptedOutOfEmail: 0,
      CreatedDate: '2020-01-18T19:48:02.000Z',
      LastModifiedDate: '2024-02-01T09:00:00.000Z',
      IsDeleted: false,
      Title: 'He said "hi", twice',
    };
    const lines = [
      JSON.stringify(good),
      '{"Id": "003qP0000002VdBAAA", "LastName": ',
      '',
      JSON.stringify({ ...good, Id: KEY_B, LastName: { first: 'x' } }),
      JSON.stringify({ ...good, Id: KEY_B, LastName: null }),
      '[1]',
    ];
    const text = `${lines.join('\n')}\n`;
    const etag = fakeS3.store(key, text);
    const job = makeJob(etag, {
      data: { bucket: BUCKET, key, etag },
      format: 'jsonl',
      columns: [...COLUMNS.filter((c) => c !== 'Salutation')],
    });
    const chunk = { index: 0, start: 0, end: Buffer.byteLength(text), firstLine: 1, rows: 5 };
    const item = {
      id: KEY_A,
      accountId: '001qP0000002VfKQAU',
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@example.com',
      title: 'He said "hi", twice',
      hasOptedOutOfEmail: false,
      createdAt: '2020-01-18T19:48:02.000Z',
      updatedAt: '2024-02-01T09:00:00.000Z',
    };

    // Act
    const out = await transformHandler({ BatchInput: { job }, Items: [chunk] });

    // Assess
    expect(out.chunks[0]).toMatchObject({ rows: 5, rejected: 4, candidates: 1, superseded: 0 });
    expect(partLines(partKey(partitionOf(KEY_A, 2), 0))).toEqual([
      { k: KEY_A, l: 1, v: '2024-02-01T09:00:00.000Z', d: false, i: item },
    ]);
    const rejects = fakeS3
      .read(`${PREFIX}rejects/c000000.jsonl`)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { line: number; reasons: string[]; raw: string });
    expect(rejects.map((r) => [r.line, r.reasons])).toEqual([
      [2, ['invalid_json']],
      [4, ['not_scalar:LastName']],
      [5, ['required:LastName']],
      [6, ['not_an_object']],
    ]);
    expect(rejects[0]?.raw).toBe(lines[1]);
  });

  it('skips a chunk that already succeeded in an earlier attempt of the run (resume), returning its counts', async () => {
    // Prepare
    const recorded = {
      index: 3,
      rows: 4,
      rejected: 1,
      superseded: 1,
      candidates: 2,
      topReasons: {},
      durationMs: 5,
    };
    ddbMock.on(GetItemCommand, { Key: marshall({ pk: `RUN#${RUN_ID}`, sk: 'CHUNK#000003' }) }).resolves({
      Item: marshall({
        pk: `RUN#${RUN_ID}`,
        sk: 'CHUNK#000003',
        kind: 'chunk',
        status: 'SUCCEEDED',
        recordedAt: 'x',
        ...recorded,
      }),
    });

    // Act
    const out = await transformHandler({ BatchInput: { job: makeJob('etag') }, Items: [CHUNK] });

    // Assess
    expect(out.chunks).toEqual([recorded]);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
    expect(ddbMock).not.toHaveReceivedCommand(PutItemCommand);
  });

  it('writes an empty part object for a partition without keys and no rejects object without rejects', async () => {
    // Prepare: one valid record, 2 partitions
    const csv = `${HEADER}\r\n${row({ Id: KEY_A })}\r\n`;
    const etag = fakeS3.store(SOURCE_KEY, csv);
    const chunk: ChunkItem = {
      index: 0,
      start: Buffer.byteLength(HEADER) + 2,
      end: csv.length,
      firstLine: 2,
      rows: 1,
    };

    // Act
    const out = await transformHandler({ BatchInput: { job: makeJob(etag) }, Items: [chunk] });

    // Assess
    expect(fakeS3.read(partKey(partitionOf(KEY_B, 2), 0))).toBe('');
    expect(partLines(partKey(partitionOf(KEY_A, 2), 0))).toHaveLength(1);
    expect(s3Mock).toHaveReceivedCommandTimes(PutObjectCommand, 2);
    expect(out.chunks).toEqual([
      expect.objectContaining({ rows: 1, rejected: 0, superseded: 0, candidates: 1 }),
    ]);
  });

  it('refuses a job planned with another config (ConfigError) before reading anything', async () => {
    // Prepare
    const etag = fakeS3.store(SOURCE_KEY, CSV);

    // Act
    const err = await transformHandler({
      BatchInput: { job: makeJob(etag, { configHash: '0000000000000000' }) },
      Items: [CHUNK],
    }).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe('ConfigError');
    expect((err as Error).message).toContain(`changed since run ${RUN_ID} was planned`);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
    // Only the ledger hears of it: the chunk failed, and why.
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
      TableName: 'ledger',
      Item: expect.objectContaining({
        sk: { S: 'CHUNK#000003' },
        status: { S: 'FAILED' },
        error: { S: 'ConfigError' },
      }),
    });
  });

  it('fails with ChunkCountMismatchError when the chunk holds another number of rows than planned', async () => {
    // Prepare
    const etag = fakeS3.store(SOURCE_KEY, CSV);

    // Act
    const err = await transformHandler({
      BatchInput: { job: makeJob(etag) },
      Items: [{ ...CHUNK, rows: 5 }],
    }).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(ChunkCountMismatchError);
    expect((err as Error).name).toBe('ChunkCountMismatchError');
    expect((err as Error).message).toBe('chunk 3: the plan counted 5 rows, the worker read 4');
    expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
      TableName: 'ledger',
      Item: expect.objectContaining({
        sk: { S: 'CHUNK#000003' },
        status: { S: 'FAILED' },
        error: { S: 'ChunkCountMismatchError' },
      }),
    });
  });

  it('fails when the object changed since it was planned (IfMatch)', async () => {
    // Prepare
    fakeS3.store(SOURCE_KEY, CSV);

    // Act & Assess
    await expect(
      transformHandler({ BatchInput: { job: makeJob('planned-etag') }, Items: [CHUNK] }),
    ).rejects.toThrow('pre-conditions');
    expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it.each([
    [
      'no items',
      { BatchInput: { job: { runId: RUN_ID, entity: 'contact', workPrefix: PREFIX } }, Items: [] },
    ],
    [
      'a chunk without a byte range',
      {
        BatchInput: { job: { runId: RUN_ID, entity: 'contact', workPrefix: PREFIX } },
        Items: [{ index: 0 }],
      },
    ],
    ['no job', { Items: [CHUNK] }],
  ])('rejects an event with %s (InvalidEventError)', async (_name, event) => {
    // Act & Assess
    await expect(transformHandler(event)).rejects.toThrow(InvalidEventError);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
  });
});
