import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { itemDigest } from '../../../lambdas/domain/digest';
import { InvalidEventError, WriteRetriesExhaustedError } from '../../../lambdas/domain/errors';
import type { PartLine, WorkerJob } from '../../../lambdas/domain/run';
import { BUCKET, CONFIG_HASH, FakeBucket, PREFIX, RUN_ID } from './support';

let mergeHandler: typeof import('../../../lambdas/handlers/merge')['mergeHandler'];
let batchWrite: typeof import('../../../lambdas/adapters/dynamodb')['batchWrite'];

const TABLE = 'contacts';

const JOB: WorkerJob = {
  runId: RUN_ID,
  entity: 'contact',
  configHash: CONFIG_HASH,
  data: { bucket: BUCKET, key: 'inbox/contact/contacts.csv', etag: 'abc' },
  workPrefix: PREFIX,
  partitions: 1,
  format: 'csv',
  delimiter: ',',
  columns: ['Id', 'LastName', 'LastModifiedDate', 'IsDeleted'],
};

// ---------------------------------------------------------------------------------------------------
// An in-memory bucket behind the S3 mock.

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();

const partKey = (chunk: number) => `${PREFIX}parts/p0000/c${String(chunk).padStart(6, '0')}.jsonl`;

function jsonLines<T>(text: string | undefined): T[] {
  return (text ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

// ---------------------------------------------------------------------------------------------------
// One partition's candidates, as two transform workers wrote them.

type Item = Record<string, string | number | boolean>;

function part(k: string, l: number, v: string, item: Item, extra: Partial<PartLine> = {}): PartLine {
  const i = { id: k, ...item, updatedAt: v };
  return { k, l, v, d: false, h: itemDigest(i), i, ...extra };
}

/** K1, newer: line 10 in chunk 0 (it beat line 7 of the same chunk). */
const K1_NEW = part('K1', 10, '2024-02-01T00:00:00.000Z', { lastName: 'Newer' }, { x: [7] });
/** K1, older: line 50 in chunk 1 (a later line, but an older version: it must lose). */
const K1_OLD = part('K1', 50, '2024-01-01T00:00:00.000Z', { lastName: 'Older' });
/** K2: the target already holds the same content. */
const K2 = part('K2', 11, '2024-01-05T00:00:00.000Z', { lastName: 'Same' });
/** K3: the target holds a newer version. */
const K3 = part('K3', 60, '2024-01-05T00:00:00.000Z', { lastName: 'Stale' });
/** K4: a delete-flag row newer than the stored item. */
const K4_DELETE: PartLine = {
  k: 'K4',
  l: 12,
  v: '2024-03-01T00:00:00.000Z',
  d: true,
  h: itemDigest({ id: 'K4', updatedAt: '2024-03-01T00:00:00.000Z' }),
  i: { id: 'K4', updatedAt: '2024-03-01T00:00:00.000Z' },
};
/** K5: not in the target yet. */
const K5 = part('K5', 61, '2024-01-07T00:00:00.000Z', { lastName: 'Fresh' });

const STORED = [
  { ...K2.i, _v: K2.v, _line: 3, _digest: K2.h, _run: 'contact-earlier' },
  { id: 'K3', _v: '2099-01-01T00:00:00.000Z', _line: 1, _digest: 'stored-digest', _run: 'contact-later' },
  { id: 'K4', _v: '2020-01-01T00:00:00.000Z', _line: 2, _digest: 'old-digest', _run: 'contact-earlier' },
];

const putRequest = (p: PartLine): WriteRequest => ({
  PutRequest: {
    Item: marshall({ ...p.i, _v: p.v, _line: p.l, _run: RUN_ID, _digest: p.h }),
  },
});
const K1_PUT = putRequest(K1_NEW);
const K5_PUT = putRequest(K5);
const K4_DELETE_REQUEST: WriteRequest = { DeleteRequest: { Key: { id: { S: 'K4' } } } };

function writeParts(chunk0: PartLine[], chunk1: PartLine[]): void {
  fakeS3.store(partKey(0), `${chunk0.map((p) => JSON.stringify(p)).join('\n')}\n`);
  fakeS3.store(partKey(1), `${chunk1.map((p) => JSON.stringify(p)).join('\n')}\n`);
}

const EVENT = { BatchInput: { job: JOB }, Items: [{ partition: 0, chunks: 2 }] };

/** The write requests of every BatchWriteItem call, ordered by key. */
function writtenRequests(): WriteRequest[] {
  const keyOf = (r: WriteRequest) => r.PutRequest?.Item?.id?.S ?? r.DeleteRequest?.Key?.id?.S ?? '';
  return ddbMock
    .commandCalls(BatchWriteItemCommand)
    .flatMap((c) => c.args[0].input.RequestItems?.[TABLE] ?? [])
    .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

describe('Handler: merge', () => {
  beforeAll(async () => {
    ({ mergeHandler } = await import('../../../lambdas/handlers/merge'));
    ({ batchWrite } = await import('../../../lambdas/adapters/dynamodb'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    ddbMock.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: STORED.map((s) => marshall(s)) } });
    ddbMock.on(BatchWriteItemCommand).resolves({});
    ddbMock.on(PutItemCommand).resolves({});
    ddbMock.on(GetItemCommand).resolves({}); // the entity has no tombstones yet
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it.each([
    ['the newer version in chunk 0', [K1_NEW, K2, K4_DELETE], [K1_OLD, K3, K5]],
    ['the newer version in chunk 1', [K1_OLD, K3, K5], [K1_NEW, K2, K4_DELETE]],
  ])(
    'picks the winner per key by (updatedAt, line) and writes only what changes (%s)',
    async (_name, c0, c1) => {
      // Prepare
      writeParts(c0, c1);

      // Act
      const out = await mergeHandler(EVENT);

      // Assess
      expect(ddbMock).toHaveReceivedCommandWith(BatchGetItemCommand, {
        RequestItems: {
          [TABLE]: {
            Keys: expect.arrayContaining(['K1', 'K2', 'K3', 'K4', 'K5'].map((id) => ({ id: { S: id } }))),
            ConsistentRead: true,
          },
        },
      });
      // The delete's tombstone goes to the ledger first, then the target's writes.
      expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 2);
      expect(ddbMock).toHaveReceivedNthSpecificCommandWith(1, BatchWriteItemCommand, {
        RequestItems: {
          ledger: [
            {
              PutRequest: {
                Item: expect.objectContaining({
                  pk: { S: 'TOMB#contact#K4' },
                  sk: { S: 'TOMB' },
                  version: { S: K4_DELETE.v },
                  line: { N: '12' },
                  run: { S: RUN_ID },
                  removed: { BOOL: true },
                }),
              },
            },
          ],
        },
      });
      expect(ddbMock).toHaveReceivedNthSpecificCommandWith(2, BatchWriteItemCommand, {
        RequestItems: { [TABLE]: expect.arrayContaining([K1_PUT, K5_PUT, K4_DELETE_REQUEST]) },
      });
      expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
        TableName: 'ledger',
        Item: { pk: { S: 'TOMBS#contact' }, sk: { S: 'META' } },
      });
      expect(writtenRequests()).toEqual([K1_PUT, K4_DELETE_REQUEST, K5_PUT]);
      expect(K1_PUT.PutRequest?.Item).toEqual({
        id: { S: 'K1' },
        lastName: { S: 'Newer' },
        updatedAt: { S: '2024-02-01T00:00:00.000Z' },
        _v: { S: '2024-02-01T00:00:00.000Z' },
        _line: { N: '10' },
        _run: { S: RUN_ID },
        _digest: { S: K1_NEW.h },
      });
      expect(out).toEqual({
        partitions: [FAULT_FREE],
      });
      expect(
        jsonLines<{ k: string }>(fakeS3.find(`${PREFIX}merged/p0000.jsonl`)).sort((a, b) =>
          a.k.localeCompare(b.k),
        ),
      ).toEqual([
        { k: 'K1', o: 'put', h: K1_NEW.h, l: 10, n: true },
        { k: 'K2', o: 'unchanged', h: K2.h, l: 11 },
        { k: 'K3', o: 'superseded', l: 60 },
        { k: 'K4', o: 'delete', h: null, l: 12 },
        { k: 'K5', o: 'put', h: K5.h, l: 61, n: true },
      ]);
      expect(jsonLines(fakeS3.find(`${PREFIX}duplicates/p0000.jsonl`))).toEqual([
        { key: 'K1', lines: [7, 10, 50], winner: 10 },
      ]);
      expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
        TableName: 'ledger',
        Item: expect.objectContaining({
          pk: { S: `RUN#${RUN_ID}` },
          sk: { S: 'PART#0000' },
          kind: { S: 'partition' },
          status: { S: 'SUCCEEDED' },
          applied: { N: '2' },
          unchanged: { N: '1' },
          superseded: { N: '2' },
          deleted: { N: '1' },
        }),
      });
    },
  );

  it('counts an item this run already wrote (retry after a crash) as applied without writing it again', async () => {
    // Prepare
    writeParts([K1_NEW], [K1_OLD]);
    ddbMock.on(BatchGetItemCommand).resolves({
      Responses: {
        [TABLE]: [marshall({ ...K1_NEW.i, _v: K1_NEW.v, _line: K1_NEW.l, _digest: K1_NEW.h, _run: RUN_ID })],
      },
    });

    // Act
    const out = await mergeHandler(EVENT);

    // Assess
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
    expect(out.partitions).toEqual([
      expect.objectContaining({ candidates: 2, applied: 1, unchanged: 0, superseded: 1, deleted: 0 }),
    ]);
    expect(jsonLines(fakeS3.find(`${PREFIX}merged/p0000.jsonl`))).toEqual([
      { k: 'K1', o: 'put', h: K1_NEW.h, l: 10 },
    ]);
  });

  it.each([
    ['holds the entity lock: it reads nothing', RUN_ID, false],
    ['lost its lock (resumed after a failure): it reads what is stored', 'contact-other-run', true],
  ])('first load (target empty at Plan), and the run %s', async (_name, holder, reads) => {
    // Prepare: K3 and K5 are new keys
    writeParts([K3], [K5]);
    ddbMock
      .on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } })
      .resolves({ Item: marshall({ pk: 'LOCK#contact', sk: 'LOCK', runId: holder }) });

    // Act
    const out = await mergeHandler({ ...EVENT, BatchInput: { job: { ...JOB, targetEmpty: true } } });

    // Assess
    const readTarget = ddbMock
      .commandCalls(BatchGetItemCommand)
      .some((c) => c.args[0].input.RequestItems?.[TABLE] !== undefined);
    expect(readTarget).toBe(reads);
    // Either way K5 is written; without reads both winners are (the stored K3 is only seen by reading)
    expect(ddbMock).toHaveReceivedCommandWith(BatchWriteItemCommand, {
      RequestItems: { [TABLE]: expect.arrayContaining([K5_PUT]) },
    });
    if (!reads) {
      expect(out.partitions).toEqual([
        expect.objectContaining({ candidates: 2, applied: 2, unchanged: 0, superseded: 0, deleted: 0 }),
      ]);
    }
  });

  it('writes nothing when another running run holds the entity lock (a redrive before the recorder took it back)', async () => {
    // Prepare
    writeParts([K3], [K5]);
    const other = 'contact-ffffffffffffffffffff';
    ddbMock.on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } }).resolves({
      Item: marshall({ pk: 'LOCK#contact', sk: 'LOCK', runId: other, acquiredAt: '2026-12-01T09:00:00Z' }),
    });
    ddbMock
      .on(GetItemCommand, { Key: marshall({ pk: `RUN#${other}`, sk: 'RUN' }) })
      .resolves({ Item: marshall({ pk: `RUN#${other}`, sk: 'RUN', runId: other, status: 'RUNNING' }) });
    ddbMock
      .on(PutItemCommand, { Item: { pk: { S: 'LOCK#contact' } } })
      .rejects(Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' }));

    // Act
    const out = mergeHandler(EVENT);

    // Assess
    await expect(out).rejects.toMatchObject({
      name: 'LockLostError',
      message: expect.stringContaining(other),
    });
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
  });

  it('takes the free lock again before it writes (a redrive after the recorder gave it back)', async () => {
    // Prepare: no lock item
    writeParts([K3], [K5]);

    // Act
    await mergeHandler(EVENT);

    // Assess
    const lockPuts = ddbMock
      .commandCalls(PutItemCommand)
      .filter((c) => c.args[0].input.Item?.pk?.S === 'LOCK#contact');
    expect(lockPuts.map((c) => c.args[0].input.Item?.runId?.S)).toEqual([RUN_ID]);
    expect(ddbMock).toHaveReceivedCommand(BatchWriteItemCommand);
  });

  it('skips a partition that already succeeded in an earlier attempt of the run (resume)', async () => {
    // Prepare
    const recorded = {
      partition: 0,
      candidates: 6,
      applied: 2,
      unchanged: 1,
      superseded: 2,
      deleted: 1,
      duplicateKeys: 1,
      durationMs: 9,
    };
    ddbMock.on(GetItemCommand, { Key: marshall({ pk: `RUN#${RUN_ID}`, sk: 'PART#0000' }) }).resolves({
      Item: marshall({
        pk: `RUN#${RUN_ID}`,
        sk: 'PART#0000',
        kind: 'partition',
        status: 'SUCCEEDED',
        recordedAt: 'x',
        ...recorded,
      }),
    });

    // Act
    const out = await mergeHandler(EVENT);

    // Assess
    expect(out.partitions).toEqual([recorded]);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
    expect(ddbMock).not.toHaveReceivedCommand(BatchGetItemCommand);
  });

  it('classifies every key in a dry run and writes nothing to the target or the ledger', async () => {
    // Prepare
    writeParts([K1_NEW, K2, K4_DELETE], [K1_OLD, K3, K5]);

    // Act
    const out = await mergeHandler({ ...EVENT, BatchInput: { job: { ...JOB, dryRun: true } } });

    // Assess
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
    expect(ddbMock).not.toHaveReceivedCommandWith(PutItemCommand, {
      Item: { pk: { S: 'TOMBS#contact' }, sk: { S: 'META' } },
    });
    expect(out.partitions[0]).toEqual(
      expect.objectContaining({ applied: 2, unchanged: 1, superseded: 2, deleted: 1 }),
    );
    expect(
      jsonLines<{ k: string; o: string; n?: boolean }>(fakeS3.find(`${PREFIX}merged/p0000.jsonl`))
        .map((l) => [l.k, l.o, l.n ?? false])
        .sort(),
    ).toEqual([
      ['K1', 'put', true],
      ['K2', 'unchanged', false],
      ['K3', 'superseded', false],
      ['K4', 'delete', false],
      ['K5', 'put', true],
    ]);
  });

  it('retries UnprocessedItems until none are left', async () => {
    // Prepare
    writeParts([K1_NEW, K2], [K1_OLD, K3, K5]);
    ddbMock
      .on(BatchWriteItemCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: [K5_PUT] } })
      .resolves({ UnprocessedItems: {} });

    // Act
    const out = await mergeHandler(EVENT);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 2);
    expect(ddbMock).toHaveReceivedNthSpecificCommandWith(2, BatchWriteItemCommand, {
      RequestItems: { [TABLE]: [K5_PUT] },
    });
    expect(out.partitions[0]).toEqual(expect.objectContaining({ applied: 2, deleted: 0 }));
  });

  it('fails with WriteRetriesExhaustedError when items stay unprocessed, and writes no merged file', async () => {
    // Prepare: no jitter, so the 10 attempts of the default policy take no time
    jest.spyOn(Math, 'random').mockReturnValue(0);
    writeParts([K1_NEW, K2], [K1_OLD, K3, K5]);
    ddbMock.on(BatchWriteItemCommand).resolves({ UnprocessedItems: { [TABLE]: [K5_PUT] } });

    // Act
    const err = await mergeHandler(EVENT).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(WriteRetriesExhaustedError);
    expect((err as Error).name).toBe('WriteRetriesExhaustedError');
    expect((err as Error).message).toBe(`1 writes to ${TABLE} still unprocessed after 10 attempts`);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 10);
    expect(fakeS3.find(`${PREFIX}merged/p0000.jsonl`)).toBeUndefined();
    // The ledger says the partition failed and why, with no counts.
    const steps = ddbMock
      .commandCalls(PutItemCommand)
      .map((c) => c.args[0].input)
      .filter((i) => i.Item?.pk?.S === `RUN#${RUN_ID}`);
    expect(steps).toHaveLength(1);
    const step = steps[0];
    expect(step?.TableName).toBe('ledger');
    expect(step?.Item).toEqual({
      pk: { S: `RUN#${RUN_ID}` },
      sk: { S: 'PART#0000' },
      kind: { S: 'partition' },
      partition: { N: '0' },
      status: { S: 'FAILED' },
      error: { S: 'WriteRetriesExhaustedError' },
      cause: { S: `1 writes to ${TABLE} still unprocessed after 10 attempts` },
      durationMs: { N: expect.any(String) },
      recordedAt: { S: expect.any(String) },
    });
  });

  it('fails when a chunk part object is missing', async () => {
    // Prepare
    fakeS3.store(partKey(0), `${JSON.stringify(K1_NEW)}\n`);

    // Act & Assess
    await expect(mergeHandler(EVENT)).rejects.toThrow(NoSuchKey);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
  });

  it('rejects an event without partitions (InvalidEventError)', async () => {
    // Act & Assess
    await expect(mergeHandler({ BatchInput: { job: JOB }, Items: [] })).rejects.toThrow(InvalidEventError);
    expect(s3Mock).not.toHaveReceivedAnyCommand();
  });

  describe('batchWrite', () => {
    const policy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

    it('sends 25 requests per call and returns the calls and retries', async () => {
      // Prepare
      const requests: WriteRequest[] = Array.from({ length: 30 }, (_, i) => ({
        DeleteRequest: { Key: { id: { S: `K${i}` } } },
      }));
      ddbMock
        .on(BatchWriteItemCommand)
        .resolvesOnce({ UnprocessedItems: { [TABLE]: requests.slice(0, 2) } })
        .resolves({});

      // Act
      const out = await batchWrite(TABLE, requests, { inFlight: 1, policy });

      // Assess
      expect(out).toEqual({ calls: 3, retries: 1, lowestInFlight: 1, written: 30, left: [] });
      expect(ddbMock).toHaveReceivedNthSpecificCommandWith(1, BatchWriteItemCommand, {
        RequestItems: { [TABLE]: requests.slice(0, 25) },
      });
      expect(ddbMock).toHaveReceivedNthSpecificCommandWith(2, BatchWriteItemCommand, {
        RequestItems: { [TABLE]: requests.slice(0, 2) },
      });
      expect(ddbMock).toHaveReceivedNthSpecificCommandWith(3, BatchWriteItemCommand, {
        RequestItems: { [TABLE]: requests.slice(25) },
      });
    });

    it('halves the calls in flight while DynamoDB pushes back, and retries throttled batches', async () => {
      // Prepare: 16 batches, 8 workers; the first 30 calls each leave one item unprocessed (and
      // call 5 is throttled past the SDK's own retries), then DynamoDB keeps up.
      const requests: WriteRequest[] = Array.from({ length: 400 }, (_, i) => ({
        DeleteRequest: { Key: { id: { S: `K${i}` } } },
      }));
      let active = 0;
      let peakUnderPushBack = 0;
      let calls = 0;
      ddbMock
        .on(BatchWriteItemCommand)
        .callsFake(async (input: { RequestItems: Record<string, WriteRequest[]> }) => {
          const call = ++calls;
          active++;
          // Calls 1-8 start together before any answer; from call 12 on the limit has reacted.
          if (call >= 12 && call <= 30) peakUnderPushBack = Math.max(peakUnderPushBack, active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
          if (call === 5) {
            const err = new Error('Rate of requests exceeds the allowed throughput.');
            err.name = 'ThrottlingException';
            throw err;
          }
          const batch = input.RequestItems[TABLE] ?? [];
          return call <= 30 ? { UnprocessedItems: { [TABLE]: batch.slice(0, 1) } } : {};
        });

      // Act
      const out = await batchWrite(TABLE, requests, { inFlight: 8, policy: { ...policy, maxAttempts: 40 } });

      // Assess
      const written = ddbMock
        .commandCalls(BatchWriteItemCommand)
        .flatMap((c) => c.args[0].input.RequestItems?.[TABLE] ?? []);
      expect(new Set(written.map((r) => r.DeleteRequest?.Key?.id?.S)).size).toBe(400);
      expect(out.lowestInFlight).toBe(1);
      expect(peakUnderPushBack).toBeLessThanOrEqual(2);
      expect(out.retries).toBe(calls - 16);
    });

    it('pulls requests from an iterable as calls go out: each written once, never a partition ahead', async () => {
      // Prepare: a generator that records how far it was pulled while calls were in flight.
      let pulled = 0;
      let written = 0;
      let furthestAhead = 0;
      function* requests(): Generator<WriteRequest> {
        for (let i = 0; i < 201; i++) {
          pulled++;
          furthestAhead = Math.max(furthestAhead, pulled - written);
          yield { DeleteRequest: { Key: { id: { S: `K${i}` } } } };
        }
      }
      ddbMock
        .on(BatchWriteItemCommand)
        .callsFake(async (input: { RequestItems: Record<string, WriteRequest[]> }) => {
          await new Promise((r) => setTimeout(r, 1));
          written += input.RequestItems[TABLE]?.length ?? 0;
          return {};
        });

      // Act
      const out = await batchWrite(TABLE, requests(), { inFlight: 2, policy });

      // Assess: 9 calls (8 × 25 + 1), every key once, at most the batches in flight pulled ahead.
      const keys = ddbMock
        .commandCalls(BatchWriteItemCommand)
        .flatMap((c) => c.args[0].input.RequestItems?.[TABLE] ?? [])
        .map((r) => r.DeleteRequest?.Key?.id?.S);
      expect(out.calls).toBe(9);
      expect(keys).toHaveLength(201);
      expect(new Set(keys).size).toBe(201);
      expect(furthestAhead).toBeLessThanOrEqual(2 * 25);
    });

    it('fails with the error of an iterable that throws, after sending what it gave before', async () => {
      // Prepare
      function* requests(): Generator<WriteRequest> {
        for (let i = 0; i < 30; i++) yield { DeleteRequest: { Key: { id: { S: `K${i}` } } } };
        throw new Error('bad part line');
      }
      ddbMock.on(BatchWriteItemCommand).resolves({});

      // Act & Assess: the first 25 went out; the next batch never formed.
      await expect(batchWrite(TABLE, requests(), { inFlight: 1, policy })).rejects.toThrow('bad part line');
      expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 1);
    });

    it('gives up after policy.maxAttempts with WriteRetriesExhaustedError', async () => {
      // Prepare
      ddbMock.on(BatchWriteItemCommand).resolves({ UnprocessedItems: { [TABLE]: [K4_DELETE_REQUEST] } });

      // Act & Assess
      await expect(batchWrite(TABLE, [K4_DELETE_REQUEST], { policy })).rejects.toThrow(
        new WriteRetriesExhaustedError(`1 writes to ${TABLE} still unprocessed after 3 attempts`),
      );
      expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 3);
    });
  });
});

// The time-bounded merge's cases: the lock the passes run under, the partition's progress object,
// and the result of the partition merged without faults.
const LOCK_SINCE = '2026-12-01T09:00:00.000Z';
const progressKey = `${PREFIX}merge-progress/p0000.jsonl`;
/** Lambda's context of an invocation with `ms` left: the pass stops writing a margin before. */
const contextWith = (ms: number) => {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => end - Date.now() };
};
const FAULT_FREE = {
  partition: 0,
  candidates: 6,
  applied: 2,
  unchanged: 1,
  superseded: 2,
  deleted: 1,
  duplicateKeys: 1,
  durationMs: expect.any(Number),
};

describe('Handler: merge, time-bounded passes', () => {
  /** The target's write requests the table took (every BatchWriteItem call's, less what it handed back). */
  const taken: WriteRequest[] = [];
  let throttled = true;

  beforeAll(async () => {
    ({ mergeHandler } = await import('../../../lambdas/handlers/merge'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    taken.length = 0;
    throttled = true;
    ddbMock.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: STORED.map((s) => marshall(s)) } });
    // Persistent throttling of the target: every write comes back unprocessed while `throttled`.
    ddbMock.on(BatchWriteItemCommand).callsFake((input: { RequestItems: Record<string, WriteRequest[]> }) => {
      const requests = input.RequestItems[TABLE];
      if (!requests) return {};
      if (throttled) return { UnprocessedItems: { [TABLE]: requests } };
      taken.push(...requests);
      return {};
    });
    ddbMock.on(PutItemCommand).resolves({});
    ddbMock.on(GetItemCommand).resolves({});
    ddbMock.on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } }).resolves({
      Item: marshall({ pk: 'LOCK#contact', sk: 'LOCK', runId: RUN_ID, acquiredAt: LOCK_SINCE }),
    });
    writeParts([K1_NEW, K2, K4_DELETE], [K1_OLD, K3, K5]);
  });

  const recordedSteps = () =>
    ddbMock
      .commandCalls(PutItemCommand)
      .map((c) => c.args[0].input.Item)
      .filter((i) => i?.sk?.S === 'PART#0000' && i?.status?.S === 'SUCCEEDED');

  it('hands back the writes left at its deadline, and the next pass finishes them with the counts of a fault-free run', async () => {
    // Prepare: the first pass has 2.5 s (it stops writing 2 s before the end)

    // Act
    const first = await mergeHandler(EVENT, contextWith(2500));
    throttled = false;
    const readsBefore = ddbMock.commandCalls(BatchGetItemCommand).length;
    const second = await mergeHandler(EVENT, contextWith(60_000));

    // Assess
    // The ledger took K4's tombstone (written: 1); the target took none of its 3 writes.
    expect(first).toEqual({
      partitions: [{ partition: 0, chunks: 2, complete: false, left: 3, written: 1 }],
    });
    expect(second).toEqual({ partitions: [FAULT_FREE] });
    // The second pass wrote what was left, from the progress object: no read of the target again.
    expect(ddbMock.commandCalls(BatchGetItemCommand).length).toBe(readsBefore);
    expect(
      [...taken].sort((a, b) =>
        (a.PutRequest?.Item?.id?.S ?? a.DeleteRequest?.Key?.id?.S ?? '').localeCompare(
          b.PutRequest?.Item?.id?.S ?? b.DeleteRequest?.Key?.id?.S ?? '',
        ),
      ),
    ).toEqual([K1_PUT, K4_DELETE_REQUEST, K5_PUT]);
    // Only the pass that finished recorded the partition as done; the merged report is the first pass's.
    expect(recordedSteps()).toHaveLength(1);
    expect(
      jsonLines<{ k: string; o: string }>(fakeS3.find(`${PREFIX}merged/p0000.jsonl`)).map((m) => m.o),
    ).toEqual(expect.arrayContaining(['put', 'put', 'unchanged', 'superseded', 'delete']));
    expect(jsonLines<Record<string, unknown>>(fakeS3.find(progressKey))[0]).toEqual(
      expect.objectContaining({ version: 1, runId: RUN_ID, partition: 0, lockSince: LOCK_SINCE, passes: 1 }),
    );
  });

  it('keeps handing back while the table takes nothing, without counting anything twice', async () => {
    // Act: three passes under throttling, then one without
    const passes = [];
    for (let n = 0; n < 3; n++) passes.push(await mergeHandler(EVENT, contextWith(2200)));
    throttled = false;
    const last = await mergeHandler(EVENT, contextWith(60_000));

    // Assess
    for (const p of passes)
      expect(p.partitions).toEqual([expect.objectContaining({ complete: false, left: 3 })]);
    expect(jsonLines<Record<string, unknown>>(fakeS3.find(progressKey))[0]).toEqual(
      expect.objectContaining({ passes: 3 }),
    );
    expect(last).toEqual({ partitions: [FAULT_FREE] });
    expect(taken).toHaveLength(3);
  });

  it('merges from its parts again when the run holds another lock than the progress was written under', async () => {
    // Prepare: a first pass hands back; then the lock is taken again (a redrive after it was given back)
    await mergeHandler(EVENT, contextWith(2200));
    ddbMock.on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } }).resolves({
      Item: marshall({
        pk: 'LOCK#contact',
        sk: 'LOCK',
        runId: RUN_ID,
        acquiredAt: '2026-12-01T10:00:00.000Z',
      }),
    });
    throttled = false;
    const readsBefore = ddbMock.commandCalls(BatchGetItemCommand).length;

    // Act
    const out = await mergeHandler(EVENT, contextWith(60_000));

    // Assess
    expect(ddbMock.commandCalls(BatchGetItemCommand).length).toBeGreaterThan(readsBefore);
    expect(out).toEqual({ partitions: [FAULT_FREE] });
  });

  it('finishes in one pass when the table takes the writes before the deadline', async () => {
    // Prepare
    throttled = false;

    // Act
    const out = await mergeHandler(EVENT, contextWith(60_000));

    // Assess
    expect(out).toEqual({ partitions: [FAULT_FREE] });
    expect(fakeS3.find(progressKey)).toBeUndefined();
  });
});

describe('Handler: merge, time-bounded reads', () => {
  type Keys = Array<Record<string, { S?: string }>>;
  type GetInput = { RequestItems: Record<string, { Keys: Keys }> };
  /** Keys the target answers before it pushes back every read (Infinity: it answers all). */
  let targetReads = Number.POSITIVE_INFINITY;
  /** Whether the ledger pushes back every tombstone read. */
  let ledgerThrottled = false;
  /** How long the target takes to answer a read, in ms. */
  let readDelayMs = 0;
  /** The keys of every target read, call by call. */
  const asked: string[][] = [];
  /** Whether the ledger pushes back every tombstone write. */
  let ledgerWritesThrottled = false;
  /** The keys of the writes the tables took, in order (tombstones by their ledger key). */
  const order: string[] = [];
  const taken: WriteRequest[] = [];
  const keyOf = (r: WriteRequest) => r.PutRequest?.Item?.id?.S ?? r.DeleteRequest?.Key?.id?.S ?? '';

  beforeAll(async () => {
    ({ mergeHandler } = await import('../../../lambdas/handlers/merge'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    taken.length = 0;
    asked.length = 0;
    order.length = 0;
    targetReads = Number.POSITIVE_INFINITY;
    ledgerThrottled = false;
    readDelayMs = 0;
    ddbMock.on(BatchGetItemCommand).callsFake(async (input: GetInput) => {
      const [table, entry] = Object.entries(input.RequestItems)[0] ?? ['', { Keys: [] }];
      if (table === TABLE) {
        asked.push(entry.Keys.map((k) => k.id?.S ?? ''));
        if (readDelayMs > 0) await new Promise((r) => setTimeout(r, readDelayMs));
        const n = Math.min(entry.Keys.length, targetReads);
        targetReads -= n;
        const answered = new Set(entry.Keys.slice(0, n).map((k) => k.id?.S));
        const rest = entry.Keys.slice(n);
        return {
          Responses: { [TABLE]: STORED.filter((s) => answered.has(s.id)).map((s) => marshall(s)) },
          ...(rest.length > 0 ? { UnprocessedKeys: { [TABLE]: { ...entry, Keys: rest } } } : {}),
        };
      }
      // The ledger: no key has a tombstone yet.
      return ledgerThrottled ? { UnprocessedKeys: { [table]: entry } } : { Responses: { [table]: [] } };
    });
    ledgerWritesThrottled = false;
    ddbMock.on(BatchWriteItemCommand).callsFake((input: { RequestItems: Record<string, WriteRequest[]> }) => {
      const ledgerWrites = input.RequestItems.ledger;
      if (ledgerWrites) {
        if (ledgerWritesThrottled) return { UnprocessedItems: { ledger: ledgerWrites } };
        order.push(...ledgerWrites.map((w) => w.PutRequest?.Item?.pk?.S ?? ''));
        return {};
      }
      const requests = input.RequestItems[TABLE] ?? [];
      order.push(...requests.map(keyOf));
      taken.push(...requests);
      return {};
    });
    ddbMock.on(PutItemCommand).resolves({});
    ddbMock.on(GetItemCommand).resolves({});
    ddbMock.on(GetItemCommand, { Key: { pk: { S: 'LOCK#contact' }, sk: { S: 'LOCK' } } }).resolves({
      Item: marshall({ pk: 'LOCK#contact', sk: 'LOCK', runId: RUN_ID, acquiredAt: LOCK_SINCE }),
    });
    writeParts([K1_NEW, K2, K4_DELETE], [K1_OLD, K3, K5]);
  });

  const progressHeader = () => jsonLines<Record<string, unknown>>(fakeS3.find(progressKey))[0];

  it.each([
    ['the target answers no read', 0, 5, 0],
    ['the target answers two keys, then none', 2, 3, 2],
  ])(
    'hands back the keys left to read at its deadline (%s), and the next pass reads only those',
    async (_name, answered, left, read) => {
      // Prepare
      targetReads = answered;

      // Act
      const first = await mergeHandler(EVENT, contextWith(2500));
      const readBefore = new Set(asked.flat().slice(0, answered));
      const mergedAfterFirst = fakeS3.find(`${PREFIX}merged/p0000.jsonl`);
      const writtenAfterFirst = taken.length;
      targetReads = Number.POSITIVE_INFINITY;
      const callsBefore = asked.length;
      const second = await mergeHandler(EVENT, contextWith(60_000));

      // Assess
      expect(first).toEqual({
        partitions: [{ partition: 0, chunks: 2, complete: false, left, written: 0, phase: 'read', read }],
      });
      // Nothing was classified or written while reads were left.
      expect(mergedAfterFirst).toBeUndefined();
      expect(writtenAfterFirst).toBe(0);
      expect(second).toEqual({ partitions: [FAULT_FREE] });
      const secondAsked = asked.slice(callsBefore).flat();
      expect(secondAsked).toHaveLength(left);
      for (const k of secondAsked) expect(readBefore.has(k)).toBe(false);
      expect([...taken].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))).toEqual([
        K1_PUT,
        K4_DELETE_REQUEST,
        K5_PUT,
      ]);
    },
  );

  it('hands back the tombstone reads left when the ledger pushes back every read', async () => {
    // Prepare: the entity has tombstones, and the ledger takes no read during the first pass
    ddbMock.on(GetItemCommand, { Key: { pk: { S: 'TOMBS#contact' }, sk: { S: 'META' } } }).resolves({
      Item: marshall({ pk: 'TOMBS#contact', sk: 'META' }),
    });
    ledgerThrottled = true;

    // Act
    const first = await mergeHandler(EVENT, contextWith(2500));
    ledgerThrottled = false;
    const targetCalls = asked.length;
    const second = await mergeHandler(EVENT, contextWith(60_000));

    // Assess: K1 and K5 are not in the target, so their tombstones are what is left
    expect(first).toEqual({
      partitions: [{ partition: 0, chunks: 2, complete: false, left: 2, written: 0, phase: 'read', read: 5 }],
    });
    expect(progressHeader()).toEqual(
      expect.objectContaining({ phase: 'read', passes: 1, lockSince: LOCK_SINCE, tombstonesStarted: true }),
    );
    expect(second).toEqual({ partitions: [FAULT_FREE] });
    // The second pass did not read the target again.
    expect(asked.length).toBe(targetCalls);
  });

  it('leaves the classification and the writes to the next pass when its reads took most of its time', async () => {
    // Prepare: a read takes 400 ms of a pass that may read for 500 ms
    readDelayMs = 400;

    // Act
    const first = await mergeHandler(EVENT, contextWith(2500));
    readDelayMs = 0;
    const targetCalls = asked.length;
    const writtenAfterFirst = taken.length;
    const second = await mergeHandler(EVENT, contextWith(60_000));

    // Assess
    expect(first).toEqual({
      partitions: [{ partition: 0, chunks: 2, complete: false, left: 0, written: 0, phase: 'read', read: 5 }],
    });
    expect(writtenAfterFirst).toBe(0);
    expect(taken).toHaveLength(3);
    expect(asked.length).toBe(targetCalls);
    expect(second).toEqual({ partitions: [FAULT_FREE] });
  });

  it('hands back the tombstones left when the ledger takes no write, and writes no delete before its tombstone', async () => {
    // Prepare
    ledgerWritesThrottled = true;

    // Act
    const first = await mergeHandler(EVENT, contextWith(2500));
    const writtenAfterFirst = taken.length;
    ledgerWritesThrottled = false;
    const second = await mergeHandler(EVENT, contextWith(60_000));

    // Assess: K4's tombstone and the target's three writes were left
    expect(first).toEqual({
      partitions: [{ partition: 0, chunks: 2, complete: false, left: 4, written: 0 }],
    });
    expect(writtenAfterFirst).toBe(0);
    expect(second).toEqual({ partitions: [FAULT_FREE] });
    expect(order.indexOf('TOMB#contact#K4')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('TOMB#contact#K4')).toBeLessThan(order.indexOf('K4'));
    expect(taken).toHaveLength(3);
  });
});
