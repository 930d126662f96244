import { BatchGetItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { META } from '../../../lambdas/domain/chunk';
import { InvalidEventError } from '../../../lambdas/domain/errors';
import { storedContentDigest } from '../../../lambdas/domain/merge';
import type { MergedLine, WorkerJob } from '../../../lambdas/domain/run';
import { BUCKET, CONFIG_HASH, FakeBucket, PREFIX, RUN_ID } from './support';

let verifyHandler: typeof import('../../../lambdas/handlers/verify')['verifyHandler'];

/** Two partitions, their table scanned in five segments (Plan sized them from the table). */
const JOB: WorkerJob = {
  runId: RUN_ID,
  entity: 'contact',
  configHash: CONFIG_HASH,
  data: { bucket: BUCKET, key: 'inbox/contact/contacts.csv', etag: 'abc' },
  workPrefix: PREFIX,
  partitions: 2,
  scanSegments: 5,
  format: 'csv',
  delimiter: ',',
  columns: ['Id', 'LastName', 'LastModifiedDate', 'IsDeleted'],
  verify: 'full',
};

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();

/** An item as the run wrote it: its content, and the run and content digest beside it. */
function written(id: string): Record<string, string | number> {
  const content = { id, lastName: `Name ${id}` };
  return {
    ...content,
    [META.version]: '2024-01-01T00:00:00.000Z',
    [META.line]: 2,
    [META.run]: RUN_ID,
    [META.digest]: storedContentDigest(content),
  };
}

const event = (job: Record<string, unknown>, partition: number, chunks = 1) => ({
  BatchInput: { job: { ...JOB, ...job }, rows: 10 },
  Items: [{ partition, chunks }],
});

describe('Handler: verify (one worker per table scan segment)', () => {
  beforeAll(async () => {
    ({ verifyHandler } = await import('../../../lambdas/handlers/verify'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    ddbMock.on(BatchGetItemCommand).resolves({ Responses: {} });
    ddbMock.on(ScanCommand).resolves({ Items: [marshall(written('K9'))] });
  });

  it('worker 1 (below the partition count) scans segment 1 of 5 and proves partition 1’s puts', async () => {
    // Prepare: partition 1 put K1; segment 1 holds K9 (written by the run, from another partition)
    const put: MergedLine = { k: 'K1', o: 'put', h: storedContentDigest({ id: 'K1', lastName: 'Name K1' }) };
    fakeS3.store(`${PREFIX}merged/p0001.jsonl`, `${JSON.stringify(put)}\n`);

    // Act
    const out = await verifyHandler(event({}, 1));

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, {
      TableName: 'contacts',
      Segment: 1,
      TotalSegments: 5,
      ConsistentRead: true,
    });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Key: `${PREFIX}merged/p0001.jsonl` });
    expect(out.partitions).toHaveLength(1);
    expect(out.partitions[0]).toMatchObject({
      partition: 1,
      decisions: 1,
      verified: 1,
      scanned: 1,
      problems: 0,
      written: { expected: { items: 1 }, found: { items: 1 } },
    });
  });

  it('worker 3 (beyond the partition count) scans segment 3 of 5 only: no partition is read', async () => {
    // Act
    const out = await verifyHandler(event({}, 3, 0));

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, { Segment: 3, TotalSegments: 5 });
    expect(s3Mock).not.toHaveReceivedCommandWith(GetObjectCommand, { Key: `${PREFIX}merged/p0003.jsonl` });
    expect(out.partitions[0]).toMatchObject({
      partition: 3,
      decisions: 0,
      verified: 0,
      scanned: 1,
      written: { expected: { items: 0 }, found: { items: 1 } },
    });
    expect(fakeS3.read(`${PREFIX}mismatches/p0003.jsonl`)).toBe('');
  });

  it('a job of an older run (no scanSegments) scans as many segments as partitions', async () => {
    // Prepare
    fakeS3.store(`${PREFIX}merged/p0000.jsonl`, '');

    // Act
    await verifyHandler(event({ scanSegments: undefined }, 0));

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, { Segment: 0, TotalSegments: 2 });
  });

  it.each([
    ['a segment past scanSegments', event({}, 5)],
    ['a segment past the partitions of an older job', event({ scanSegments: undefined }, 2)],
    ['scanSegments 0', event({ scanSegments: 0 }, 0)],
    ['scanSegments over DynamoDB’s 1,000,000', event({ scanSegments: 1_000_001 }, 0)],
    ['scanSegments not a number', event({ scanSegments: 'many' }, 0)],
    ['no partitions', event({ partitions: undefined }, 0)],
  ])('refuses an event with %s (InvalidEventError), reading nothing', async (_name, bad) => {
    // Act
    const act = verifyHandler(bad);

    // Assess
    await expect(act).rejects.toBeInstanceOf(InvalidEventError);
    expect(ddbMock).not.toHaveReceivedCommand(ScanCommand);
  });
});
