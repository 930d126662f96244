import { type AttributeValue, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { dynamodbClient } from '../../lambdas/adapters/clients';
import { Ledger } from '../../lambdas/adapters/ledger';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { partitionOf } from '../../lambdas/domain/run';
import { redriveLocalRun, runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: a mirror run resumed after some merge partitions finished (local redrive, like a
 * Step Functions redrive) re-plans its delete candidates from the table as it is then (the finished
 * partitions' deletes are gone from it), while the finished partitions keep their recorded deletes.
 * The resumed run must end MATCHED with the table of an uninterrupted run.
 *
 * The crash is reproduced as the ledger and table would hold it: partition X's step FAILED, its
 * items as they were before the run, the run FAILED.
 */
const ENTITY = { ...PERSON_ENTITY, partitionRows: 100, syncMode: 'mirror', maxDeleteRatio: 0.5 };
const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: ENTITY } });
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

// The crash this test stands in for comes before the process prunes the run's work objects (a
// succeeded run's are deleted once its reports are copied): they are kept, as such a crash leaves them.
jest.mock('../../local/prune', () => ({
  ...jest.requireActual<typeof import('../../local/prune')>('../../local/prune'),
  pruneRunWork: async () => 0,
}));

describe('mirror mode: a run resumed after a partial merge', () => {
  const local = useLocalStack('mirror-resume', CONFIG, { retryIntervalMs: 1 });
  const csv = (name: string, rows: string[]) => local.write(name, `${PERSON_HEADER}\n${rows.join('\n')}\n`);
  const client = () => dynamodbClient();
  const ledger = () => new Ledger('crm-sync-ledger');
  const rawItems = async () => {
    const out = await client().send(new ScanCommand({ TableName: local.stack.tableOf('person') }));
    return (out.Items ?? []) as Record<string, AttributeValue>[];
  };

  it('a resumed mirror run that ends with the right table is MATCHED', async () => {
    const keys = Array.from({ length: 240 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    const absent = new Set(keys.filter((_, i) => i % 20 === 0)); // 12 keys, 5 %
    const first = await runLocalFile(
      local.stack,
      csv(
        'a.csv',
        keys.map((k) => `${k},${k} v1,${T1},false`),
      ),
      CONFIG,
      {
        entity: 'person',
        stateDir: local.stateDir,
      },
    );
    expect(first.status).toBe('SUCCEEDED');
    const before = await rawItems();
    const file = csv(
      'b.csv',
      keys.filter((k) => !absent.has(k)).map((k) => `${k},${k} v2,${T2},false`),
    );
    const done = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'person',
      stateDir: local.stateDir,
    });
    expect(done.status).toBe('SUCCEEDED');
    const runId = done.runId as string;
    const partSteps = (await ledger().listSteps(runId)).filter((s) => s.kind === 'partition');
    const partitions = partSteps.length;
    expect(partitions).toBeGreaterThan(1);
    const expected = await local.items('person', { omit: ['_run'] });

    // The crash: partition X never finished (its step failed, its items are as before the run).
    const x = partitionOf([...absent][0] as string, partitions);
    await ledger().recordStepFailure(runId, { kind: 'partition', partition: x }, new Error('worker crashed'));
    for (const item of before) {
      if (partitionOf(item.id?.S as string, partitions) === x) {
        await client().send(new PutItemCommand({ TableName: local.stack.tableOf('person'), Item: item }));
      }
    }
    await ledger().updateRun(runId, { status: 'FAILED' });

    // Act
    const resumed = await redriveLocalRun(local.stack, runId, CONFIG, { stateDir: local.stateDir });

    // Assess: the table is what the uninterrupted run made, and the run says so.
    expect(await local.items('person', { omit: ['_run'] })).toEqual(expected);
    expect(resumed.reconciliation?.checks.filter((c) => !c.ok)).toEqual([]);
    expect(resumed.status).toBe('SUCCEEDED');
  });
});
