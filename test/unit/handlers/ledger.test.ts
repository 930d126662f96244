import {
  type AttributeValue,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { WriteRetriesExhaustedError } from '../../../lambdas/domain/errors';
import type { RunRecord } from '../../../lambdas/domain/run';
import { runStatusView } from '../../../lambdas/domain/run-status';
import { RUN_ID } from './support';

let Ledger: typeof import('../../../lambdas/adapters/ledger')['Ledger'];

const ddbMock = mockClient(DynamoDBClient);
const TABLE = 'ledger';

function run(runId: string, startedAt: string, fields: Partial<RunRecord> = {}): RunRecord {
  return {
    runId,
    entity: 'contact',
    status: 'SUCCEEDED',
    source: { bucket: 'b', key: `inbox/contact/${runId}.csv`, etag: 'e' },
    configHash: 'h',
    startedAt,
    ...fields,
  };
}

/** A run item as DynamoDB returns it. */
const runItem = (r: RunRecord) =>
  marshall({ pk: `RUN#${r.runId}`, sk: 'RUN', ...r }, { removeUndefinedValues: true });

const OLD = run('contact-old', '2026-01-01T00:00:00.000Z');
const MIDDLE = run('account-middle', '2026-01-02T00:00:00.000Z', { entity: 'account' });
const NEW = run('contact-new', '2026-01-03T00:00:00.000Z', { status: 'RUNNING' });
const PAGE_KEY: Record<string, AttributeValue> = marshall({ pk: `RUN#${OLD.runId}`, sk: 'RUN' });

const chunkItem = (index: number, fields: Record<string, unknown> = {}) =>
  marshall({
    pk: `RUN#${RUN_ID}`,
    sk: `CHUNK#${String(index).padStart(6, '0')}`,
    kind: 'chunk',
    index,
    rows: 10,
    rejected: 1,
    superseded: 0,
    candidates: 9,
    topReasons: {},
    durationMs: 5,
    recordedAt: '2026-01-01T00:00:01.000Z',
    status: 'SUCCEEDED',
    ...fields,
  });
const partitionItem = (partition: number) =>
  marshall({
    pk: `RUN#${RUN_ID}`,
    sk: `PART#${String(partition).padStart(4, '0')}`,
    kind: 'partition',
    partition,
    candidates: 9,
    applied: 9,
    unchanged: 0,
    superseded: 0,
    deleted: 0,
    duplicateKeys: 2,
    durationMs: 7,
    recordedAt: '2026-01-01T00:00:02.000Z',
    status: 'SUCCEEDED',
  });

describe('Ledger', () => {
  beforeAll(async () => {
    ({ Ledger } = await import('../../../lambdas/adapters/ledger'));
  });

  beforeEach(() => {
    ddbMock.reset();
  });

  describe('listRuns', () => {
    it('pages through a Scan of the run items and returns them newest first', async () => {
      // Prepare: Scan order is not time order; the middle run is on the second page
      ddbMock
        .on(ScanCommand)
        .resolvesOnce({ Items: [runItem(OLD), runItem(NEW)], LastEvaluatedKey: PAGE_KEY })
        .resolves({ Items: [runItem(MIDDLE)] });

      // Act
      const runs = await new Ledger(TABLE).listRuns();

      // Assess
      expect(runs.map((r) => r.runId)).toEqual(['contact-new', 'account-middle', 'contact-old']);
      expect(runs[2]).toEqual(OLD);
      expect(ddbMock).toHaveReceivedCommandTimes(ScanCommand, 2);
      const [first, second] = ddbMock.commandCalls(ScanCommand).map((c) => c.args[0].input);
      expect(first).toEqual({
        TableName: TABLE,
        FilterExpression: '#sk = :run',
        ExpressionAttributeNames: { '#sk': 'sk' },
        ExpressionAttributeValues: { ':run': { S: 'RUN' } },
      });
      expect(second).toEqual({ ...first, ExclusiveStartKey: PAGE_KEY });
    });

    it('filters by entity and keeps the newest `limit` runs of all pages', async () => {
      // Prepare: the newest contact run is on the last page
      ddbMock
        .on(ScanCommand)
        .resolvesOnce({ Items: [runItem(OLD)], LastEvaluatedKey: PAGE_KEY })
        .resolvesOnce({ Items: [], LastEvaluatedKey: PAGE_KEY })
        .resolves({ Items: [runItem(NEW)] });

      // Act
      const runs = await new Ledger(TABLE).listRuns({ entity: 'contact', limit: 1 });

      // Assess
      expect(runs.map((r) => r.runId)).toEqual(['contact-new']);
      expect(ddbMock).toHaveReceivedCommandTimes(ScanCommand, 3);
      expect(ddbMock).toHaveReceivedCommandWith(ScanCommand, {
        FilterExpression: '#sk = :run AND #entity = :entity',
        ExpressionAttributeNames: { '#sk': 'sk', '#entity': 'entity' },
        ExpressionAttributeValues: { ':run': { S: 'RUN' }, ':entity': { S: 'contact' } },
      });
    });

    it('returns no runs from an empty ledger', async () => {
      // Prepare
      ddbMock.on(ScanCommand).resolves({ Items: [] });

      // Act & Assess
      await expect(new Ledger(TABLE).listRuns()).resolves.toEqual([]);
    });
  });

  describe('listSteps', () => {
    it('pages through one Query per step prefix and returns chunks by index, then partitions', async () => {
      // Prepare: chunk 10 sorts after chunk 2 by number; chunk 2 is on the second page
      const pages: Record<string, Array<Record<string, AttributeValue>>> = {
        'CHUNK#': [chunkItem(0), chunkItem(10)],
        'CHUNK#+': [chunkItem(2)],
        'PART#': [partitionItem(1), partitionItem(0)],
      };
      ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
        const prefix = input.ExpressionAttributeValues?.[':prefix']?.S ?? '';
        if (prefix === 'CHUNK#' && !input.ExclusiveStartKey) {
          return { Items: pages['CHUNK#'], LastEvaluatedKey: { pk: { S: 'x' }, sk: { S: 'CHUNK#000010' } } };
        }
        return { Items: pages[input.ExclusiveStartKey ? `${prefix}+` : prefix] ?? [] };
      });

      // Act
      const steps = await new Ledger(TABLE).listSteps(RUN_ID);

      // Assess
      expect(steps.map((s) => (s.kind === 'chunk' ? `c${s.index}` : `p${s.partition}`))).toEqual([
        'c0',
        'c2',
        'c10',
        'p0',
        'p1',
      ]);
      expect(steps[0]).toEqual({
        kind: 'chunk',
        index: 0,
        rows: 10,
        rejected: 1,
        superseded: 0,
        candidates: 9,
        topReasons: {},
        durationMs: 5,
        recordedAt: '2026-01-01T00:00:01.000Z',
        status: 'SUCCEEDED',
      });
      expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 3);
      expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: `RUN#${RUN_ID}` }, ':prefix': { S: 'PART#' } },
        ConsistentRead: true,
      });
      expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
        ExpressionAttributeValues: { ':pk': { S: `RUN#${RUN_ID}` }, ':prefix': { S: 'CHUNK#' } },
        ExclusiveStartKey: { pk: { S: 'x' }, sk: { S: 'CHUNK#000010' } },
      });
    });

    it('reads a failed step with its error, and a record without a status as succeeded', async () => {
      // Prepare
      const legacy = chunkItem(0);
      delete legacy.status;
      const failed = marshall({
        pk: `RUN#${RUN_ID}`,
        sk: 'CHUNK#000001',
        kind: 'chunk',
        index: 1,
        status: 'FAILED',
        error: 'ChunkCountMismatchError',
        cause: 'chunk 1: the plan counted 5 rows, the worker read 4',
        recordedAt: '2026-01-01T00:00:03.000Z',
      });
      ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
        Items: input.ExpressionAttributeValues?.[':prefix']?.S === 'CHUNK#' ? [legacy, failed] : [],
      }));

      // Act
      const steps = await new Ledger(TABLE).listSteps(RUN_ID);

      // Assess
      expect(steps).toHaveLength(2);
      expect(steps[0]).toMatchObject({ kind: 'chunk', index: 0, status: 'SUCCEEDED', rows: 10 });
      expect(steps[1]).toEqual({
        kind: 'chunk',
        index: 1,
        status: 'FAILED',
        error: 'ChunkCountMismatchError',
        cause: 'chunk 1: the plan counted 5 rows, the worker read 4',
        recordedAt: '2026-01-01T00:00:03.000Z',
      });
    });
  });

  describe('recording steps', () => {
    it('records a succeeded step with its status', async () => {
      // Prepare
      ddbMock.on(PutItemCommand).resolves({});

      // Act
      await new Ledger(TABLE).recordStep(RUN_ID, {
        kind: 'chunk',
        index: 12,
        rows: 3,
        rejected: 0,
        superseded: 0,
        candidates: 3,
        topReasons: {},
        durationMs: 4,
      });

      // Assess
      expect(ddbMock).toHaveReceivedCommandWith(PutItemCommand, {
        TableName: TABLE,
        Item: expect.objectContaining({
          pk: { S: `RUN#${RUN_ID}` },
          sk: { S: 'CHUNK#000012' },
          status: { S: 'SUCCEEDED' },
          rows: { N: '3' },
          recordedAt: { S: expect.any(String) },
        }),
      });
    });

    it("records a failed step with the error's name and message", async () => {
      // Prepare
      ddbMock.on(PutItemCommand).resolves({});

      // Act
      await new Ledger(TABLE).recordStepFailure(
        RUN_ID,
        { kind: 'partition', partition: 3 },
        new WriteRetriesExhaustedError('2 writes still unprocessed'),
        1500,
      );

      // Assess
      const item = ddbMock.commandCalls(PutItemCommand)[0]?.args[0].input.Item;
      expect(item).toEqual({
        pk: { S: `RUN#${RUN_ID}` },
        sk: { S: 'PART#0003' },
        kind: { S: 'partition' },
        partition: { N: '3' },
        status: { S: 'FAILED' },
        error: { S: 'WriteRetriesExhaustedError' },
        cause: { S: '2 writes still unprocessed' },
        durationMs: { N: '1500' },
        recordedAt: { S: expect.any(String) },
      });
    });

    it('does not throw when the failure cannot be recorded (the worker rethrows its own error)', async () => {
      // Prepare
      ddbMock
        .on(PutItemCommand)
        .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));

      // Act
      const recorded = new Ledger(TABLE).recordStepFailure(RUN_ID, { kind: 'chunk', index: 0 }, 'boom');

      // Assess
      await expect(recorded).resolves.toBeUndefined();
      expect(ddbMock).toHaveReceivedCommand(PutItemCommand);
    });
  });
});

describe('local status view of a ledger run', () => {
  const chunk = (index: number) => ({
    kind: 'chunk' as const,
    index,
    rows: 10,
    rejected: 0,
    superseded: 0,
    candidates: 10,
    topReasons: {},
    durationMs: 3,
    recordedAt: '2026-01-01T00:00:01.000Z',
    status: 'SUCCEEDED' as const,
  });

  it.each([
    ['RUNNING', 'PENDING'],
    ['FAILED', 'MISSING'],
  ] as const)('lists a planned chunk with no record as %s → %s', (runStatus, expected) => {
    // Prepare
    const record = run(RUN_ID, '2026-01-01T00:00:00.000Z', { status: runStatus, chunks: 3 });

    // Act
    const view = runStatusView(record, [chunk(0), chunk(2)]);

    // Assess
    expect(view.steps.chunks.map((c) => [c.index, c.status])).toEqual([
      [0, 'SUCCEEDED'],
      [1, expected],
      [2, 'SUCCEEDED'],
    ]);
    expect(view.steps.chunks[1]).toEqual({ index: 1, status: expected });
  });

  it("shows a failed run's error message from the Lambda error's cause, and its duration", () => {
    // Prepare
    const record = run(RUN_ID, '2026-01-01T00:00:00.000Z', {
      status: 'FAILED',
      finishedAt: '2026-01-01T00:00:02.500Z',
      error: 'HeaderMismatchError',
      cause: JSON.stringify({ errorType: 'HeaderMismatchError', errorMessage: 'missing columns: Id' }),
    });
    const failedPartition = {
      kind: 'partition' as const,
      partition: 0,
      status: 'FAILED' as const,
      error: 'States.Timeout',
      cause: 'Task timed out',
      recordedAt: '2026-01-01T00:00:02.000Z',
    };

    // Act
    const view = runStatusView(record, [failedPartition]);

    // Assess
    expect(view).toMatchObject({
      status: 'FAILED',
      durationMs: 2500,
      counts: null,
      chunks: null,
      error: { name: 'HeaderMismatchError', message: 'missing columns: Id' },
      partitions: 1,
      duplicateKeys: 0,
    });
    expect(view.steps.partitions).toEqual([
      {
        partition: 0,
        status: 'FAILED',
        recordedAt: '2026-01-01T00:00:02.000Z',
        error: { name: 'States.Timeout', message: 'Task timed out' },
      },
    ]);
  });
});
