import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  GetObjectCommand,
  type GetObjectCommandInput,
  NoSuchKey,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { configHash, getEntity, parseConfigText } from '../../../lambdas/domain/config';
import { itemDigest } from '../../../lambdas/domain/digest';
import { ConfigError, InvalidEventError } from '../../../lambdas/domain/errors';
import { type ChunkItem, type PartLine, partitionOf, type WorkerJob } from '../../../lambdas/domain/run';

// The handlers read their environment (and powertools its settings) when first loaded: set it before
// the dynamic import in beforeAll (static imports are hoisted above these lines).
const CONFIG_FILE = resolve(__dirname, '../../../examples/crm-sync.config.json');
Object.assign(process.env, {
  CRM_SYNC_BUCKET: 'test-bucket',
  CRM_SYNC_LEDGER_TABLE: 'ledger',
  CRM_SYNC_TARGET_TABLES: JSON.stringify({ contact: 'contacts', account: 'accounts' }),
  CRM_SYNC_CONFIG_FILE: CONFIG_FILE,
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_TRACE_ENABLED: 'false',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});

type TransformModule = typeof import('../../../lambdas/handlers/transform');
let transformHandler: TransformModule['transformHandler'];
let ChunkCountMismatchError: TransformModule['ChunkCountMismatchError'];

const BUCKET = 'test-bucket';
const SOURCE_KEY = 'inbox/contact/contacts.csv';
const RUN_ID = 'contact-0123456789abcdef0123';
const PREFIX = `work/${RUN_ID}/`;
const CONFIG_HASH = configHash(getEntity(parseConfigText(readFileSync(CONFIG_FILE, 'utf8')), 'contact'));

/** The header of examples/data/contacts.csv (a CRLF file). */
const HEADER =
  readFileSync(resolve(__dirname, '../../../examples/data/contacts.csv'), 'utf8').split(/\r?\n/)[0] ?? '';
const COLUMNS = HEADER.split(',').map((c) => c.replaceAll('"', ''));

function row(cells: Record<string, string>): string {
  const base: Record<string, string> = {
    AccountId: '001qP0000002VfKQAU',
    FirstName: 'Ada',
    LastName: 'Lovelace',
    Email: 'ada@example.com',
    HasOptedOutOfEmail: 'false',
    CreatedDate: '2020-01-18T19:48:02.000Z',
    LastModifiedDate: '2021-04-30T04:21:16.000Z',
    IsDeleted: 'false',
  };
  return COLUMNS.map((c) => `"${(cells[c] ?? base[c] ?? '').replaceAll('"', '""')}"`).join(',');
}

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
const objects = new Map<string, { body: Buffer; etag: string }>();

function storeObject(key: string, body: string | Buffer, bucket = BUCKET): string {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const etag = createHash('md5').update(buf).digest('hex');
  objects.set(`${bucket}/${key}`, { body: buf, etag });
  return etag;
}

function stored(key: string, bucket = BUCKET): string {
  const obj = objects.get(`${bucket}/${key}`);
  if (!obj) throw new Error(`s3://${bucket}/${key} was not written`);
  return obj.body.toString('utf8');
}

function bodyStream(data: Buffer): Readable {
  return Object.assign(Readable.from([data]), {
    transformToString: async (encoding?: BufferEncoding) => data.toString(encoding ?? 'utf8'),
    transformToByteArray: async () => new Uint8Array(data),
  });
}

function fakeGetObject(input: GetObjectCommandInput) {
  const obj = objects.get(`${input.Bucket}/${input.Key}`);
  if (!obj) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
  if (input.IfMatch !== undefined && input.IfMatch !== `"${obj.etag}"`) {
    throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
      name: 'PreconditionFailed',
    });
  }
  let data = obj.body;
  if (input.Range !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(input.Range);
    if (!m) throw new Error(`unsupported Range ${input.Range}`);
    data = obj.body.subarray(Number(m[1]), Number(m[2]) + 1);
  }
  return { Body: bodyStream(data), ETag: `"${obj.etag}"`, ContentLength: data.length };
}

function fakePutObject(input: PutObjectCommandInput) {
  const { Body: body } = input;
  let buf: Buffer;
  if (typeof body === 'string') buf = Buffer.from(body);
  else if (body instanceof Uint8Array) buf = Buffer.from(body);
  else throw new Error(`unexpected PutObject body for ${input.Key}`);
  return { ETag: `"${storeObject(input.Key ?? '', buf, input.Bucket)}"` };
}

/** The job Plan hands the workers for CSV (2 merge partitions). */
function makeJob(etag: string, overrides: Partial<WorkerJob> = {}): WorkerJob {
  return {
    runId: RUN_ID,
    entity: 'contact',
    configHash: CONFIG_HASH,
    data: { bucket: BUCKET, key: SOURCE_KEY, etag },
    workPrefix: PREFIX,
    partitions: 2,
    delimiter: ',',
    columns: COLUMNS,
    ...overrides,
  };
}

const partKey = (partition: number, chunk: number) =>
  `${PREFIX}parts/p${String(partition).padStart(4, '0')}/c${String(chunk).padStart(6, '0')}.jsonl`;

function partLines(key: string): PartLine[] {
  return stored(key)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PartLine);
}

describe('Handler: transform', () => {
  beforeAll(async () => {
    ({ transformHandler, ChunkCountMismatchError } = await import('../../../lambdas/handlers/transform'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    objects.clear();
    s3Mock.on(GetObjectCommand).callsFake(fakeGetObject);
    s3Mock.on(PutObjectCommand).callsFake(fakePutObject);
    ddbMock.on(PutItemCommand).resolves({});
  });

  it('writes the chunk winners per partition, the rejects, the ledger step, and returns the counts', async () => {
    // Prepare
    const etag = storeObject(SOURCE_KEY, CSV);
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
      { k: KEY_A, l: 7, v: '2024-02-01T09:00:00.000Z', d: false, h: itemDigest(itemA), i: itemA, x: [3] },
    ]);
    expect(partLines(partKey(partitionOf(KEY_B, 2), 3))).toEqual([
      { k: KEY_B, l: 4, v: '2021-04-30T04:21:16.000Z', d: false, h: itemDigest(itemB), i: itemB },
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
          durationMs: expect.any(Number),
        },
      ],
    });
  });

  it('writes an empty part object for a partition without keys and no rejects object without rejects', async () => {
    // Prepare: one valid record, 2 partitions
    const csv = `${HEADER}\r\n${row({ Id: KEY_A })}\r\n`;
    const etag = storeObject(SOURCE_KEY, csv);
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
    expect(stored(partKey(partitionOf(KEY_B, 2), 0))).toBe('');
    expect(partLines(partKey(partitionOf(KEY_A, 2), 0))).toHaveLength(1);
    expect(s3Mock).toHaveReceivedCommandTimes(PutObjectCommand, 2);
    expect(out.chunks).toEqual([
      expect.objectContaining({ rows: 1, rejected: 0, superseded: 0, candidates: 1 }),
    ]);
  });

  it('refuses a job planned with another config (ConfigError) before reading anything', async () => {
    // Prepare
    const etag = storeObject(SOURCE_KEY, CSV);

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
    expect(ddbMock).not.toHaveReceivedAnyCommand();
  });

  it('fails with ChunkCountMismatchError when the chunk holds another number of rows than planned', async () => {
    // Prepare
    const etag = storeObject(SOURCE_KEY, CSV);

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
    expect(ddbMock).not.toHaveReceivedCommand(PutItemCommand);
  });

  it('fails when the object changed since it was planned (IfMatch)', async () => {
    // Prepare
    storeObject(SOURCE_KEY, CSV);

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
