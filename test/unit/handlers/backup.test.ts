import { gunzipSync } from 'node:zlib';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  PutItemCommand,
  type PutItemCommandInput,
  ScanCommand,
  type ScanCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import {
  EntityBusyError,
  RestoreMismatchError,
  SnapshotCorruptError,
  SnapshotExistsError,
  TargetNotEmptyError,
} from '../../../lambdas/domain/errors';
import { manifestKey, parseManifest, sha256Hex } from '../../../lambdas/domain/snapshot';
import { BUCKET, FakeBucket } from './support';

let snapshotHandler: typeof import('../../../lambdas/handlers/snapshot')['snapshotHandler'];
let restoreHandler: typeof import('../../../lambdas/handlers/restore')['restoreHandler'];
type SnapshotJob = import('../../../lambdas/handlers/snapshot').SnapshotJob;
type RestoreJob = import('../../../lambdas/handlers/restore').RestoreJob;

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();

const EXECUTION = { name: 'exec-0001', startTime: '2026-01-02T03:04:05.000Z' };
const SNAPSHOT_ID = '20260102T030405Z-exec0001';

/** The table's items as DynamoDB returns them: a numeric-looking string, a number, a boolean, unicode. */
const ITEMS: Array<Record<string, AttributeValue>> = [
  {
    id: { S: 'A1' },
    postalCode: { S: '01234' },
    score: { N: '12345678901234567890' },
    hasOptedOutOfEmail: { BOOL: true },
    lastName: { S: 'Łukaszewski' },
    _v: { S: '2024-01-01T00:00:00.000Z' },
    _line: { N: '2' },
    _run: { S: 'contact-run' },
    _digest: { S: 'd1' },
  },
  { id: { S: 'B2' }, lastName: { S: '=HYPERLINK("x")' }, hasOptedOutOfEmail: { BOOL: false } },
  { id: { S: 'C3' }, lastName: { S: '王' }, note: { NULL: true } },
];

/** Scan: the items split over two pages for segment 0, none in other segments; a Limit 1 probe sees `probe`. */
function scanTable(items: Array<Record<string, AttributeValue>>, probe = items) {
  ddbMock.on(ScanCommand).callsFake((input: ScanCommandInput) => {
    if (input.Limit === 1) return { Items: probe.slice(0, 1) };
    if ((input.Segment ?? 0) !== 0) return { Items: [] };
    if (!input.ExclusiveStartKey) return { Items: items.slice(0, 2), LastEvaluatedKey: { id: { S: 'B2' } } };
    return { Items: items.slice(2) };
  });
}

/** The ledger: lock puts succeed unless `lockHolder` is set (then held by a RUNNING run). */
function ledger(options: { lockHolder?: string; backupRecord?: Record<string, AttributeValue> } = {}) {
  ddbMock.on(PutItemCommand).callsFake((input: PutItemCommandInput) => {
    if (options.lockHolder && input.Item?.pk?.S?.startsWith('LOCK#')) {
      throw Object.assign(new Error('The conditional request failed'), {
        name: 'ConditionalCheckFailedException',
      });
    }
    return {};
  });
  ddbMock.on(GetItemCommand).callsFake((input: GetItemCommandInput) => {
    const pk = input.Key?.pk?.S ?? '';
    if (pk.startsWith('LOCK#') && options.lockHolder) {
      return {
        Item: {
          pk: { S: pk },
          runId: { S: options.lockHolder },
          acquiredAt: { S: new Date().toISOString() },
        },
      };
    }
    if (pk.startsWith('RUN#')) return { Item: { pk: { S: pk }, sk: { S: 'RUN' }, status: { S: 'RUNNING' } } };
    if (pk.startsWith('BACKUP#') && options.backupRecord) return { Item: options.backupRecord };
    return {};
  });
  ddbMock.on(UpdateItemCommand).resolves({});
  ddbMock.on(DeleteItemCommand).resolves({});
  ddbMock.on(DescribeTableCommand).resolves({ Table: { TableSizeBytes: 0 } });
  ddbMock.on(BatchWriteItemCommand).resolves({});
}

async function takeSnapshot(formats?: Array<'jsonl' | 'csv'>): Promise<SnapshotJob> {
  const job = (await snapshotHandler({
    action: 'prepare',
    input: { entity: 'contact', segments: 2, ...(formats ? { formats } : {}) },
    execution: EXECUTION,
  })) as SnapshotJob;
  for (const segment of job.segmentList) {
    await snapshotHandler({ BatchInput: { action: 'segment', job }, Items: [segment] });
  }
  await snapshotHandler({ action: 'finish', job });
  return job;
}

const restoreExecution = { name: 'exec-0002', startTime: '2026-01-02T04:00:00.000Z' };

async function prepareRestore(): Promise<RestoreJob> {
  return (await restoreHandler({
    action: 'prepare',
    input: { entity: 'account', snapshotId: SNAPSHOT_ID, fromEntity: 'contact' },
    execution: restoreExecution,
  })) as RestoreJob;
}

describe('Handlers: snapshot and restore', () => {
  beforeAll(async () => {
    ({ snapshotHandler } = await import('../../../lambdas/handlers/snapshot'));
    ({ restoreHandler } = await import('../../../lambdas/handlers/restore'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    ledger();
    scanTable(ITEMS);
  });

  it('prepares a snapshot: records it, takes the entity lock as snapshot:<id>, 2 segments', async () => {
    // Act
    const job = (await snapshotHandler({
      action: 'prepare',
      input: { entity: 'contact', segments: 2 },
      execution: EXECUTION,
    })) as SnapshotJob;

    // Assess
    expect(job).toMatchObject({
      snapshotId: SNAPSHOT_ID,
      entity: 'contact',
      table: 'contacts',
      key: 'id',
      prefix: `snapshots/contact/${SNAPSHOT_ID}/`,
      segments: 2,
      segmentList: [0, 1],
      formats: ['jsonl'],
    });
    const puts = ddbMock.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item);
    expect(puts.map((i) => [i?.pk?.S, i?.sk?.S])).toEqual([
      ['BACKUP#contact', `SNAPSHOT#${SNAPSHOT_ID}`],
      ['LOCK#contact', 'LOCK'],
    ]);
    expect(puts[1]?.runId?.S).toBe(`snapshot:${SNAPSHOT_ID}`);
  });

  it('waits (EntityBusyError) while a sync run of the entity holds the lock', async () => {
    // Prepare
    ledger({ lockHolder: 'contact-0123456789abcdef0123' });

    // Act
    const prepare = snapshotHandler({
      action: 'prepare',
      input: { entity: 'contact' },
      execution: EXECUTION,
    });

    // Assess
    await expect(prepare).rejects.toThrow(EntityBusyError);
    await expect(prepare).rejects.toThrow(/contact-0123456789abcdef0123/);
  });

  it('never overwrites a snapshot: an id whose manifest exists is SnapshotExistsError', async () => {
    // Prepare
    fakeS3.store(manifestKey(`snapshots/contact/${SNAPSHOT_ID}/`), '{}');

    // Act
    const prepare = snapshotHandler({
      action: 'prepare',
      input: { entity: 'contact', snapshotId: SNAPSHOT_ID },
      execution: EXECUTION,
    });

    // Assess
    await expect(prepare).rejects.toThrow(SnapshotExistsError);
    expect(ddbMock.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it('exports segments to gzip JSONL parts with exact types and writes a manifest that checks out', async () => {
    // Act
    const job = await takeSnapshot(['csv']);

    // Assess
    const manifestText = fakeS3.read(manifestKey(job.prefix));
    const manifest = parseManifest(manifestText, 'manifest.json');
    expect(manifest).toMatchObject({ items: 3, segments: 2, formats: ['jsonl', 'csv'], key: 'id' });
    expect(manifest.parts[0]?.bytes).toBe(fakeS3.sizeOf(`${job.prefix}part-00000.jsonl.gz`));
    const lines = gunzipSync(await readBytes(`${job.prefix}part-00000.jsonl.gz`))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).Item);
    expect(lines[0]).toMatchObject({
      postalCode: { S: '01234' },
      score: { N: '12345678901234567890' },
      hasOptedOutOfEmail: { BOOL: true },
      lastName: { S: 'Łukaszewski' },
      _run: { S: 'contact-run' },
    });
    expect(manifest.parts[0]?.sha256).toBe(sha256Hex(await readBytes(`${job.prefix}part-00000.jsonl.gz`)));
    expect(manifest.parts[1]?.items).toBe(0);
    const csv = gunzipSync(await readBytes(`${job.prefix}part-00000.csv.gz`)).toString('utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^id,accountId,firstName,lastName,/);
    expect(csv).toContain(`'=HYPERLINK(""x"")`);
    // The lock is given back and the snapshot recorded SUCCEEDED.
    expect(ddbMock.commandCalls(DeleteItemCommand)[0]?.args[0].input.ExpressionAttributeValues).toEqual({
      ':run': { S: `snapshot:${SNAPSHOT_ID}` },
    });
    expect(JSON.stringify(ddbMock.commandCalls(UpdateItemCommand)[0]?.args[0].input)).toContain('SUCCEEDED');
  });

  it('restores into an empty table exactly the items of the snapshot, then verifies count and digest', async () => {
    // Prepare
    await takeSnapshot();
    scanTable(ITEMS, []); // the target is empty

    // Act
    const job = await prepareRestore();
    for (const action of ['verify', 'load', 'check'] as const) {
      for (const segment of job.segmentList) {
        await restoreHandler({ BatchInput: { action, job }, Items: [segment] });
      }
    }
    const summary = await restoreHandler({ action: 'finish', job });

    // Assess
    const written = ddbMock
      .commandCalls(BatchWriteItemCommand)
      .flatMap((c) => c.args[0].input.RequestItems?.accounts ?? [])
      .map((r) => r.PutRequest?.Item);
    expect(written).toEqual(ITEMS.map((i) => expect.objectContaining(i)));
    expect(written.map((i) => Object.keys(i ?? {}).sort())).toEqual(ITEMS.map((i) => Object.keys(i).sort()));
    expect(summary).toMatchObject({
      entity: 'account',
      items: 3,
      status: 'MATCHED',
      snapshotId: SNAPSHOT_ID,
    });
  });

  it('refuses a table that holds an item (TargetNotEmptyError) before writing anything', async () => {
    // Prepare
    await takeSnapshot();
    ddbMock.resetHistory();

    // Act
    const prepare = prepareRestore();

    // Assess
    await expect(prepare).rejects.toThrow(TargetNotEmptyError);
    expect(ddbMock.commandCalls(BatchWriteItemCommand)).toHaveLength(0);
  });

  it('refuses a part whose bytes do not match the manifest (SnapshotCorruptError), in verify and in load', async () => {
    // Prepare
    const snap = await takeSnapshot();
    scanTable(ITEMS, []);
    const job = await prepareRestore();
    const key = `${snap.prefix}part-00000.jsonl.gz`;
    const bytes = await readBytes(key);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
    fakeS3.store(key, bytes);

    // Act
    const verify = restoreHandler({ BatchInput: { action: 'verify', job }, Items: [0] });
    const load = restoreHandler({ BatchInput: { action: 'load', job }, Items: [0] });

    // Assess
    await expect(verify).rejects.toThrow(SnapshotCorruptError);
    await expect(verify).rejects.toThrow(/does not match the manifest/);
    await expect(load).rejects.toThrow(SnapshotCorruptError);
    expect(ddbMock.commandCalls(BatchWriteItemCommand)).toHaveLength(0);
  });

  it('fails the restore (RestoreMismatchError) when the table does not end with the snapshot’s items', async () => {
    // Prepare
    await takeSnapshot();
    scanTable(ITEMS, []);
    const job = await prepareRestore();
    scanTable(ITEMS.slice(0, 2), []); // an item went missing

    // Act
    await restoreHandler({ BatchInput: { action: 'check', job }, Items: [0] });
    await restoreHandler({ BatchInput: { action: 'check', job }, Items: [1] });
    const finish = restoreHandler({ action: 'finish', job });

    // Assess
    await expect(finish).rejects.toThrow(RestoreMismatchError);
    await expect(finish).rejects.toThrow(/holds 2 items after the restore/);
  });

  it.each([
    ['RUNNING', false],
    ['FAILED', true],
  ])('a sync run finds the lock held by a %s snapshot: taken over = %s', async (status, acquired) => {
    // Prepare
    const { Ledger } = await import('../../../lambdas/adapters/ledger');
    let lockPuts = 0;
    ddbMock.on(PutItemCommand).callsFake(() => {
      lockPuts++;
      if (lockPuts === 1) {
        throw Object.assign(new Error('conditional'), { name: 'ConditionalCheckFailedException' });
      }
      return {};
    });
    ddbMock
      .on(GetItemCommand)
      .callsFake((input: GetItemCommandInput) =>
        input.Key?.pk?.S === 'LOCK#contact'
          ? { Item: { runId: { S: `snapshot:${SNAPSHOT_ID}` }, acquiredAt: { S: new Date().toISOString() } } }
          : input.Key?.pk?.S === 'BACKUP#contact' && input.Key?.sk?.S === `SNAPSHOT#${SNAPSHOT_ID}`
            ? { Item: { status: { S: status } } }
            : {},
      );

    // Act
    const lock = await new Ledger('ledger').acquireLock('contact', 'contact-run', 12 * 3600_000);

    // Assess
    expect(lock.acquired).toBe(acquired);
  });

  it('abort marks its own record FAILED and frees the lock; another execution’s record is left alone', async () => {
    // Prepare
    const record = (executionName: string) => ({
      pk: { S: 'BACKUP#contact' },
      sk: { S: `SNAPSHOT#${SNAPSHOT_ID}` },
      kind: { S: 'snapshot' },
      id: { S: SNAPSHOT_ID },
      entity: { S: 'contact' },
      status: { S: 'RUNNING' },
      startedAt: { S: EXECUTION.startTime },
      executionName: { S: executionName },
    });
    const error = { Error: 'States.TaskFailed', Cause: 'boom' };

    // Act
    ledger({ backupRecord: record(EXECUTION.name) });
    await snapshotHandler({ action: 'abort', input: { entity: 'contact' }, execution: EXECUTION, error });
    const own = {
      updates: ddbMock.commandCalls(UpdateItemCommand).length,
      deletes: ddbMock.commandCalls(DeleteItemCommand).length,
    };
    ddbMock.reset();
    ledger({ backupRecord: record('another-execution') });
    await snapshotHandler({ action: 'abort', input: { entity: 'contact' }, execution: EXECUTION, error });

    // Assess
    expect(own).toEqual({ updates: 1, deletes: 1 });
    expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });
});

/** An object's bytes from the fake bucket (through the mocked client). */
async function readBytes(key: string): Promise<Buffer> {
  const out = await new S3Client({}).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
}
