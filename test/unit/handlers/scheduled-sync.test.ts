import { Readable } from 'node:stream';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidEventError, UnknownEntityError } from '../../../lambdas/domain/errors';
import { partsDigest } from '../../../lambdas/domain/export-folder';
import { deriveRunId } from '../../../lambdas/domain/run';
import { BUCKET, CONFIG_HASH } from './support';

type Module = typeof import('../../../lambdas/handlers/scheduled-sync');
let scheduledSyncHandler: Module['scheduledSyncHandler'];

const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:crm-sync';
process.env.CRM_SYNC_STATE_MACHINE_ARN = MACHINE;

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const sfnMock = mockClient(SFNClient);

const TICK = '2026-05-01T02:00:00Z';
const at = (minute: number) => new Date(Date.UTC(2026, 4, 1, 1, minute));
const OLD = {
  Key: 'inbox/contact/contacts-04-30.csv',
  VersionId: 'v-old',
  ETag: '"e-old"',
  Size: 10,
  LastModified: at(1),
};
const NEW = {
  Key: 'inbox/contact/contacts-05-01.csv',
  VersionId: 'v-new',
  ETag: '"e-new"',
  Size: 20,
  LastModified: at(2),
};
const runIdOf = (v: { Key: string; VersionId: string; ETag: string }) =>
  deriveRunId(
    { bucket: BUCKET, key: v.Key, versionId: v.VersionId, etag: v.ETag.replaceAll('"', '') },
    'contact',
    CONFIG_HASH,
  );

/** The ledger holds these run ids (GetItem answers with a run item for them). */
function ledgerHolds(...runIds: string[]): void {
  ddbMock.on(GetItemCommand).callsFake((input: { Key: Record<string, { S?: string }> }) => {
    const pk = input.Key.pk?.S ?? '';
    const runId = pk.replace(/^RUN#/, '');
    return runIds.includes(runId)
      ? { Item: marshall({ pk, sk: 'RUN', runId, entity: 'contact', status: 'SUCCEEDED' }) }
      : {};
  });
}

describe('Handler: scheduled-sync', () => {
  beforeAll(async () => {
    ({ scheduledSyncHandler } = await import('../../../lambdas/handlers/scheduled-sync'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    sfnMock.reset();
    s3Mock.on(ListObjectVersionsCommand).resolves({
      Versions: [
        { ...NEW, IsLatest: true },
        // A noncurrent version of the newest key: an older export, never picked.
        { ...NEW, VersionId: 'v-newer-but-noncurrent', IsLatest: false, LastModified: at(1) },
        { ...OLD, IsLatest: true },
      ],
    });
    ledgerHolds();
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${MACHINE}:x`, startDate: new Date() });
  });

  it('starts the state machine on the newest export with the input of the S3 inbox rule', async () => {
    // Act
    const out = await scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK });

    // Assess
    const runId = runIdOf(NEW);
    expect(out).toEqual({
      entity: 'contact',
      action: 'started',
      key: NEW.Key,
      runId,
      executionArn: `${MACHINE}:x`,
      older: 1,
      skipped: 0,
      incomplete: [],
    });
    expect(s3Mock).toHaveReceivedCommandWith(ListObjectVersionsCommand, {
      Bucket: BUCKET,
      Prefix: 'inbox/contact/',
    });
    expect(ddbMock).toHaveReceivedCommandTimes(GetItemCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(GetItemCommand, {
      TableName: 'ledger',
      Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
    });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const call = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(call?.stateMachineArn).toBe(MACHINE);
    expect(call?.name).toBe(`${runId}-20260501T0200Z`);
    expect(JSON.parse(call?.input ?? '')).toEqual({
      bucket: BUCKET,
      key: NEW.Key,
      versionId: 'v-new',
      etag: 'e-new',
      size: 20,
      entity: 'contact',
    });
  });

  it('is up to date when the ledger holds the newest export’s run, even if an older one never ran', async () => {
    // Prepare
    ledgerHolds(runIdOf(NEW));

    // Act
    const out = await scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK });

    // Assess
    expect(out).toMatchObject({
      action: 'up-to-date',
      key: NEW.Key,
      runId: runIdOf(NEW),
      executionArn: null,
    });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('a tick delivered twice starts one execution (the name is taken)', async () => {
    // Prepare
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

    // Act
    const out = await scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK });

    // Assess
    expect(out).toMatchObject({
      action: 'already-started',
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:crm-sync:${runIdOf(NEW)}-20260501T0200Z`,
    });
  });

  it('an empty inbox (only a folder marker) starts nothing and asks the ledger nothing', async () => {
    // Prepare
    s3Mock.on(ListObjectVersionsCommand).resolves({
      Versions: [{ Key: 'inbox/contact/', Size: 0, IsLatest: true, VersionId: 'v', LastModified: at(0) }],
    });

    // Act
    const out = await scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK });

    // Assess
    expect(out).toEqual({
      entity: 'contact',
      action: 'empty',
      key: null,
      runId: null,
      executionArn: null,
      older: 0,
      skipped: 1,
      incomplete: [],
    });
    expect(ddbMock).toHaveReceivedCommandTimes(GetItemCommand, 0);
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('follows the version listing across pages', async () => {
    // Prepare
    s3Mock
      .on(ListObjectVersionsCommand)
      .resolvesOnce({
        Versions: [{ ...OLD, IsLatest: true }],
        IsTruncated: true,
        NextKeyMarker: OLD.Key,
        NextVersionIdMarker: OLD.VersionId,
      })
      .resolvesOnce({ Versions: [{ ...NEW, IsLatest: true }] });

    // Act
    const out = await scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK });

    // Assess
    expect(out).toMatchObject({ action: 'started', key: NEW.Key });
    expect(s3Mock).toHaveReceivedNthCommandWith(2, ListObjectVersionsCommand, {
      KeyMarker: OLD.Key,
      VersionIdMarker: OLD.VersionId,
    });
  });

  it('refuses an unknown entity and a malformed event', async () => {
    await expect(scheduledSyncHandler({ entity: 'lead' })).rejects.toThrow(UnknownEntityError);
    await expect(scheduledSyncHandler({ scheduledTime: TICK })).rejects.toThrow(InvalidEventError);
    await expect(scheduledSyncHandler({ entity: 'contact', scheduledTime: 'yesterday' })).rejects.toThrow(
      InvalidEventError,
    );
  });

  it('lets a ledger failure through (Lambda retries the tick, then the dead-letter queue)', async () => {
    // Prepare
    ddbMock
      .on(GetItemCommand)
      .rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    // Act / Assess
    await expect(scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK })).rejects.toThrow(
      'throttled',
    );
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('an export folder: its manifest is read, its parts are not exports, and the run starts on the manifest', async () => {
    // Prepare: a folder with 2 parts and a manifest newer than every file; another still being written.
    const part = (name: string, etag: string) => ({
      Key: `inbox/contact/export-1/${name}`,
      VersionId: `v-${name}`,
      ETag: `"${etag}"`,
      Size: 30,
      LastModified: at(3),
      IsLatest: true,
    });
    const manifest = { ...part('manifest.json', 'e-m'), LastModified: at(4) };
    s3Mock.on(ListObjectVersionsCommand).resolves({
      Versions: [
        { ...NEW, IsLatest: true },
        part('part-1.csv', 'e1'),
        part('part-2.csv', 'e2'),
        manifest,
        { ...part('part-1.csv', 'e3'), Key: 'inbox/contact/export-2/part-1.csv', LastModified: at(9) },
      ],
    });
    s3Mock.on(GetObjectCommand, { Key: manifest.Key }).resolves({
      Body: Readable.from([Buffer.from('{"parts": ["part-2.csv", "part-1.csv"]}')]) as never,
    });

    // Act
    const out = await scheduledSyncHandler({ entity: 'contact', scheduledTime: TICK });

    // Assess
    const digest = partsDigest([
      { key: 'inbox/contact/export-1/part-2.csv', size: 30, etag: 'e2' },
      { key: 'inbox/contact/export-1/part-1.csv', size: 30, etag: 'e1' },
    ]);
    const runId = deriveRunId(
      { bucket: BUCKET, key: manifest.Key, versionId: manifest.VersionId },
      'contact',
      CONFIG_HASH,
      undefined,
      digest,
    );
    expect(out).toMatchObject({
      action: 'started',
      key: manifest.Key,
      runId,
      older: 1,
      skipped: 0,
      incomplete: ['inbox/contact/export-2/'],
    });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Key: manifest.Key,
      VersionId: manifest.VersionId,
    });
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input).toMatchObject({ key: manifest.Key, versionId: manifest.VersionId, entity: 'contact' });
  });
});
