import {
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  UpdateItemCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import { dynamodbClient } from '../../lambdas/adapters/clients';
import { Ledger } from '../../lambdas/adapters/ledger';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { redriveLocalRun, runLocalFile } from '../../local/run';
import { readCsv } from './reference';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration on the local stack: dry runs (`local diff`) that find drift in a tampered target and
 * write nothing, and resumed runs (`local redrive`) that run only what had not finished.
 */
const ENTITY = { ...PERSON_ENTITY, partitionRows: 100, source: { chunkBytes: 1024 } };
const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: ENTITY, clean: ENTITY } });
const T1 = '2024-01-01T00:00:00Z';

describe('dry runs and redrives on the local stack', () => {
  const local = useLocalStack('redrive', CONFIG, { retryIntervalMs: 1 });
  const stateDir = local.stateDir;
  const csv = (name: string, rows: string[]): string =>
    local.write(name, `${PERSON_HEADER}\n${rows.join('\n')}\n`);
  const people = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')},Person ${i},${T1},false`);
  const client = () => dynamodbClient();
  /** The emulator deletes and creates tables asynchronously: these helpers wait until it is done. */
  const waiter = { minDelay: 0.05, maxDelay: 0.2, maxWaitTime: 30 };
  /** Deletes the person table (the tests delete it to make merges fail) and waits until it is gone. */
  const deleteTable = async (table: string): Promise<void> => {
    await client().send(new DeleteTableCommand({ TableName: table }));
    await waitUntilTableNotExists({ ...waiter, client: client() }, { TableName: table });
  };
  /** Creates the person table again and waits until it is active. */
  const createTable = async (table: string, key = 'id'): Promise<void> => {
    await client().send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
      }),
    );
    await waitUntilTableExists({ ...waiter, client: client() }, { TableName: table });
  };
  const exportTable = (entity: string) => local.items(entity, { omit: ['_run'] });
  const steps = async (runId: string) => new Ledger('crm-sync-ledger').listSteps(runId);

  it('finds drift in a tampered target with a dry run that writes nothing, and a rerun repairs it', async () => {
    // Prepare: load, then change the table behind crm-sync's back.
    const file = csv('drift.csv', people('d', 60));
    await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    const table = local.stack.tableOf('person');
    await client().send(new DeleteItemCommand({ TableName: table, Key: { id: { S: 'd001' } } }));
    await client().send(
      new UpdateItemCommand({
        TableName: table,
        Key: { id: { S: 'd002' } },
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'name' },
        ExpressionAttributeValues: { ':n': { S: 'Mallory' } },
      }),
    );
    // The version attribute itself, moved to a later time with the name: the rerun must still see
    // the item as its row wrote it (not as newer than the row), and repair it.
    await client().send(
      new UpdateItemCommand({
        TableName: table,
        Key: { id: { S: 'd003' } },
        UpdateExpression: 'SET #n = :n, #u = :u',
        ExpressionAttributeNames: { '#n': 'name', '#u': 'updatedAt' },
        ExpressionAttributeValues: { ':n': { S: 'Eve' }, ':u': { S: '2030-01-01T00:00:00.000Z' } },
      }),
    );
    const tampered = await exportTable('person');

    // Act
    const diff = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir, dryRun: true });
    const afterDiff = await exportTable('person');
    const repair = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'person',
      stateDir,
      rerun: 'repair',
    });

    // Assess
    expect(diff.status).toBe('SUCCEEDED');
    expect(diff.dryRun).toBe(true);
    expect(diff.runId).toMatch(/^person-/);
    expect(diff.counts).toEqual({
      rows: 60,
      applied: 3,
      unchanged: 57,
      superseded: 0,
      deleted: 0,
      rejected: 0,
    });
    const [header, ...rows] = readCsv(diff.reports.diff as string);
    expect(header?.cells).toEqual(['key', 'action', 'line']);
    expect(rows.filter((r) => r.cells[1] !== 'unchanged').map((r) => r.cells)).toEqual(
      expect.arrayContaining([
        ['d001', 'create', '3'],
        ['d002', 'update', '4'],
        ['d003', 'update', '5'],
      ]),
    );
    expect(rows).toHaveLength(60);
    expect(afterDiff).toEqual(tampered);
    expect(repair.counts).toMatchObject({ applied: 3, unchanged: 57 });
    expect(repair.reconciliation?.status).toBe('MATCHED');
    const repaired = await exportTable('person');
    expect(repaired.find((i) => i.id === 'd002')?.name).toBe('Person 2');
    expect(repaired.find((i) => i.id === 'd003')).toMatchObject({ name: 'Person 3' });
    expect(repaired.find((i) => i.id === 'd003')?.updatedAt).not.toBe('2030-01-01T00:00:00.000Z');
  });

  it('resumes a forced run as forced: the same run id, past the reject gate again', async () => {
    // Prepare: 3 of 10 rows rejected (above the default 10 %), forced; its merge fails (the table
    // was replaced by one with another key), then the table is put right.
    const rows = people('f', 10).map((r, i) => (i % 3 === 1 ? r.replace(/,Person \d+,/, ',,') : r));
    const file = csv('forced.csv', rows);
    const table = local.stack.tableOf('person');
    await deleteTable(table);
    await createTable(table, 'pk');
    const failed = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir, force: true });
    await deleteTable(table);
    await createTable(table);

    // Act
    const resumed = await redriveLocalRun(local.stack, failed.runId as string, CONFIG, { stateDir });

    // Assess
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.name).not.toBe('RejectLimitError');
    expect(resumed.error).toBeUndefined();
    expect(resumed.status).toBe('SUCCEEDED');
    expect(resumed.runId).toBe(failed.runId);
    expect(resumed.counts).toMatchObject({ rows: 10, applied: 7, rejected: 3 });
  });

  it('resumes a failed run: finished chunks are not run again, and the table equals a clean run', async () => {
    // Prepare: a run whose merges fail after every chunk was transformed: the table was replaced
    // by one with another key (Plan finds it, the writes are refused).
    const file = csv('resume.csv', [...people('r', 80), `r005,Newer Five,2024-02-01T00:00:00Z,false`]);
    const table = local.stack.tableOf('person');
    await deleteTable(table);
    await createTable(table, 'pk');
    const failed = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    const before = await steps(failed.runId as string);
    await deleteTable(table);
    await createTable(table);
    const clean = await runLocalFile(local.stack, file, CONFIG, { entity: 'clean', stateDir });

    // Act
    const resumed = await redriveLocalRun(local.stack, failed.runId as string, CONFIG, { stateDir });
    const after = await steps(failed.runId as string);
    const again = await redriveLocalRun(local.stack, failed.runId as string, CONFIG, { stateDir });

    // Assess
    expect(failed.status).toBe('FAILED');
    const chunksBefore = before.filter((s) => s.kind === 'chunk');
    expect(chunksBefore.length).toBeGreaterThan(1);
    expect(chunksBefore.every((s) => s.status === 'SUCCEEDED')).toBe(true);
    expect(resumed.status).toBe('SUCCEEDED');
    expect(resumed.runId).toBe(failed.runId);
    expect(resumed.reconciliation?.status).toBe('MATCHED');
    expect(resumed.counts).toEqual(clean.counts);
    // The chunks' ledger entries are the ones written before the failure: they did not run again.
    expect(after.filter((s) => s.kind === 'chunk').map((s) => s.recordedAt)).toEqual(
      chunksBefore.map((s) => s.recordedAt),
    );
    expect(after.filter((s) => s.kind === 'partition').every((s) => s.status === 'SUCCEEDED')).toBe(true);
    expect(await exportTable('person')).toEqual(await exportTable('clean'));
    expect(again.status).toBe('REFUSED');
    expect(again.error?.name).toBe('RunNotResumableError');
    expect(again.error?.message).toContain('only a failed run can be resumed');
  });

  it('refuses to resume a run whose source object changed since', async () => {
    // Prepare: a failed run, then a new file under the same name.
    const table = local.stack.tableOf('person');
    const file = csv('changed.csv', people('c', 5));
    await deleteTable(table);
    const failed = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    await createTable(table);
    await local.stack.upload(csv('changed.csv', people('c', 6)), 'person');

    // Act
    const resumed = await redriveLocalRun(local.stack, failed.runId as string, CONFIG, { stateDir });

    // Assess
    expect(failed.status).toBe('FAILED');
    expect(resumed.status).toBe('REFUSED');
    expect(resumed.error?.name).toBe('RunNotResumableError');
    expect(resumed.error?.message).toContain(
      `run ${failed.runId} cannot be resumed: ${file} or the config of "person" changed since it ran`,
    );
  });
});
