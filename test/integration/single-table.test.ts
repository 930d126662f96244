import {
  type AttributeValue,
  BatchWriteItemCommand,
  DescribeTableCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { restoreLocalSnapshot, takeLocalSnapshot } from '../../local/snapshot';
import { SHARED_TABLE } from '../shared-table';
import { useLocalStack } from './support';

/**
 * Integration: key templates and single-table design on the local stack. Accounts and their
 * contacts share one table (`pk = ACCOUNT#<accountId>`, `sk = CONTACT#<id>`, an index by email);
 * an opportunity export without an id is keyed on three columns. Mirror deletes, verification,
 * snapshots and restores of one entity never touch the other's items; a third entity whose keys
 * overlap the accounts' fails before it overwrites one.
 */
const modified = { source: 'Modified', type: 'datetime', required: true } as const;
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    account: {
      target: SHARED_TABLE.account,
      fields: { id: { source: 'Id', required: true }, name: { source: 'Name' }, modified },
      updatedAt: 'modified',
      syncMode: 'mirror',
      maxDeleteRatio: 0.5,
    },
    contact: {
      target: SHARED_TABLE.contact,
      fields: {
        id: { source: 'Id', required: true },
        accountId: { source: 'AccountId', required: true },
        email: { source: 'Email', type: 'email' },
        modified,
      },
      updatedAt: 'modified',
      references: { accountId: { entity: 'account' } },
      syncMode: 'mirror',
      maxDeleteRatio: 0.5,
    },
    // Its keys render like the accounts': ACCOUNT#<id> / ACCOUNT#<id>.
    lead: {
      target: SHARED_TABLE.account,
      fields: { id: { source: 'Id', required: true }, modified },
      updatedAt: 'modified',
    },
    opportunity: {
      target: { partitionKey: { name: 'pk', value: '{topic}#{createdOn}#{owner}' } },
      fields: {
        topic: { source: 'Topic', required: true },
        createdOn: { source: 'Created On', type: 'datetime', required: true },
        owner: { source: 'Owner', required: true },
        amount: { source: 'Amount', type: 'number' },
        modified,
      },
      updatedAt: 'modified',
    },
  },
});
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

describe('key templates and single-table design on the local stack', () => {
  const local = useLocalStack('single-table', CONFIG);
  const run = (entity: string, name: string, text: string) =>
    runLocalFile(local.stack, local.write(name, text), CONFIG, { entity, stateDir: local.stateDir });
  const scan = async (entity = 'account'): Promise<Array<Record<string, AttributeValue>>> => {
    const out = await local.stack.dynamodbClient.send(
      new ScanCommand({ TableName: local.stack.tableOf(entity), ConsistentRead: true }),
    );
    const items = out.Items ?? [];
    return items.sort((a, b) => `${a.pk?.S}|${a.sk?.S}`.localeCompare(`${b.pk?.S}|${b.sk?.S}`));
  };
  const keysOf = (items: Array<Record<string, AttributeValue>>, type?: string) =>
    items.filter((i) => type === undefined || i._et?.S === type).map((i) => `${i.pk?.S} ${i.sk?.S}`);
  const accounts = (ids: string[], at = T1) =>
    `Id,Name,Modified\n${ids.map((id) => `${id},Account ${id},${at}`).join('\n')}\n`;
  const contacts = (rows: Array<[string, string, string]>, at = T1) =>
    `Id,AccountId,Email,Modified\n${rows.map(([id, account, email]) => `${id},${account},${email},${at}`).join('\n')}\n`;

  beforeAll(async () => {
    const a = await run('account', 'accounts-1.csv', accounts(['a1', 'a2', 'a3']));
    const c = await run(
      'contact',
      'contacts-1.csv',
      contacts([
        ['c1', 'a1', 'ann@example.com'],
        ['c2', 'a1', 'bob@example.com'],
        ['c3', 'a2', ''],
        ['c4', 'a3', 'dan@example.com'],
      ]),
    );
    expect([a.status, c.status, a.error, c.error]).toEqual(['SUCCEEDED', 'SUCCEEDED', undefined, undefined]);
  });

  it('writes both entities into one table, keyed by their templates, each item marked with its entity', async () => {
    // Prepare
    const table = await local.stack.dynamodbClient.send(
      new DescribeTableCommand({ TableName: local.stack.tableOf('contact') }),
    );

    // Act
    const items = await scan();

    // Assess
    expect(local.stack.tableOf('contact')).toBe(local.stack.tableOf('account'));
    expect(table.Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(table.Table?.GlobalSecondaryIndexes?.map((ix) => ix.IndexName)).toEqual(['byEmail']);
    expect(keysOf(items)).toEqual([
      'ACCOUNT#a1 ACCOUNT#a1',
      'ACCOUNT#a1 CONTACT#c1',
      'ACCOUNT#a1 CONTACT#c2',
      'ACCOUNT#a2 ACCOUNT#a2',
      'ACCOUNT#a2 CONTACT#c3',
      'ACCOUNT#a3 ACCOUNT#a3',
      'ACCOUNT#a3 CONTACT#c4',
    ]);
    const c1 = items.find((i) => i.sk?.S === 'CONTACT#c1');
    expect(c1).toMatchObject({
      _et: { S: 'contact' },
      id: { S: 'c1' },
      accountId: { S: 'a1' },
      gsi1pk: { S: 'EMAIL#ann@example.com' },
      gsi1sk: { S: 'CONTACT#c1' },
    });
    // An empty email leaves the index attributes out: the index is sparse.
    const c3 = items.find((i) => i.sk?.S === 'CONTACT#c3');
    expect(c3?.gsi1pk).toBeUndefined();
    expect(items.find((i) => i.sk?.S === 'ACCOUNT#a1')).toMatchObject({ _et: { S: 'account' } });
  });

  it('finds a contact by email through the index the config declares', async () => {
    // Act
    const out = await local.stack.dynamodbClient.send(
      new QueryCommand({
        TableName: local.stack.tableOf('contact'),
        IndexName: 'byEmail',
        KeyConditionExpression: 'gsi1pk = :e',
        ExpressionAttributeValues: { ':e': { S: 'EMAIL#bob@example.com' } },
      }),
    );

    // Assess
    expect(out.Items?.map((i) => i.id?.S)).toEqual(['c2']);
  });

  it("mirrors contacts without touching the accounts, and accounts without touching the contacts; each run's verification sees only its entity", async () => {
    // Prepare
    const before = await scan();

    // Act: c4 left out of the contacts; every account again, one changed.
    const c = await run(
      'contact',
      'contacts-2.csv',
      contacts(
        [
          ['c1', 'a1', 'ann@example.com'],
          ['c2', 'a1', 'bob@example.com'],
          ['c3', 'a2', ''],
          ['c5', 'a9', 'eve@example.com'],
        ],
        T2,
      ),
    );
    const a = await run(
      'account',
      'accounts-2.csv',
      `Id,Name,Modified\na1,Account a1,${T1}\na2,Account a2,${T1}\na3,Account three,${T2}\n`,
    );

    // Assess
    expect(c.error).toBeUndefined();
    expect(c.status).toBe('SUCCEEDED');
    expect(c.mirror).toMatchObject({ targetItems: 4, candidates: 1, deleted: 1 });
    expect(c.reconciliation?.status).toBe('MATCHED');
    expect(a.error).toBeUndefined();
    expect(a.status).toBe('SUCCEEDED');
    expect(a.mirror).toMatchObject({ targetItems: 3, candidates: 0, deleted: 0 });
    expect(a.counts).toMatchObject({ rows: 3, applied: 1, unchanged: 2 });
    expect(a.reconciliation?.status).toBe('MATCHED');
    const after = await scan();
    expect(keysOf(after, 'account')).toEqual(keysOf(before, 'account'));
    expect(keysOf(after, 'contact')).toEqual([
      'ACCOUNT#a1 CONTACT#c1',
      'ACCOUNT#a1 CONTACT#c2',
      'ACCOUNT#a2 CONTACT#c3',
      'ACCOUNT#a9 CONTACT#c5',
    ]);
    // The references were checked against the account items, not the contacts that share their pk.
    // c5 names account a9, which is no item: its key renders as the account's, ACCOUNT#a9 / ACCOUNT#a9.
    expect(c.references).toEqual([expect.objectContaining({ field: 'accountId', orphans: 1 })]);
  });

  it('diffs a contacts export by its composite keys without writing: a changed email, a new contact, the ones it leaves out', async () => {
    // Prepare
    const before = await scan();

    // Act
    const diff = await runLocalFile(
      local.stack,
      local.write(
        'contacts-diff.csv',
        contacts(
          [
            ['c1', 'a1', 'ann@new.example.com'],
            ['c2', 'a1', 'bob@example.com'],
            ['c6', 'a2', 'fay@example.com'],
          ],
          '2024-09-01T00:00:00Z',
        ),
      ),
      CONFIG,
      { entity: 'contact', stateDir: local.stateDir, dryRun: true },
    );

    // Assess
    expect(diff.error).toBeUndefined();
    expect(diff.counts).toMatchObject({ rows: 3, applied: 3, unchanged: 0 });
    expect(diff.mirror).toMatchObject({ targetItems: 4, candidates: 2 });
    expect(await scan()).toEqual(before);
  });

  it("snapshots the contacts only, and restores them while the accounts' items stay as they are", async () => {
    // Prepare
    const { result, manifest } = await takeLocalSnapshot(local.stack, CONFIG, { entity: 'contact' });
    const accountsBefore = (await scan()).filter((i) => i._et?.S === 'account');
    const contactsBefore = (await scan()).filter((i) => i._et?.S === 'contact');
    const refused = await restoreLocalSnapshot(local.stack, CONFIG, {
      entity: 'contact',
      snapshot: result.snapshotId ?? '',
    });
    // The contacts are lost (deleted behind crm-sync's back).
    await local.stack.dynamodbClient.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [local.stack.tableOf('contact')]: contactsBefore.map((i) => ({
            DeleteRequest: { Key: { pk: i.pk as AttributeValue, sk: i.sk as AttributeValue } },
          })),
        },
      }),
    );

    // Act
    const restored = await restoreLocalSnapshot(local.stack, CONFIG, {
      entity: 'contact',
      snapshot: result.snapshotId ?? '',
    });

    // Assess
    expect(result).toMatchObject({ status: 'SUCCEEDED', items: 4 });
    expect(manifest).toMatchObject({
      key: 'pk',
      sortKey: 'sk',
      entityType: { name: '_et', value: 'contact' },
    });
    expect(refused.status).toBe('FAILED');
    expect(refused.error?.name).toBe('TargetNotEmptyError');
    expect(restored.error).toBeUndefined();
    expect(restored).toMatchObject({ status: 'SUCCEEDED', items: 4, digest: result.digest });
    const after = await scan();
    expect(after.filter((i) => i._et?.S === 'contact')).toEqual(contactsBefore);
    expect(after.filter((i) => i._et?.S === 'account')).toEqual(accountsBefore);
  });

  it("fails an entity whose keys overlap another's before it overwrites the other's item", async () => {
    // Prepare
    const before = await scan();

    // Act
    const lead = await run('lead', 'leads.csv', `Id,Modified\nz9,${T2}\na1,${T2}\n`);

    // Assess
    // The merge workers' Map fails on its child's error, which the run's error names.
    expect(lead.status).toBe('FAILED');
    expect(lead.error?.name).toBe('States.ExceedToleratedFailureThreshold');
    expect(lead.error?.message).toContain('KeyCollisionError');
    expect(lead.error?.message).toContain(
      String.raw`key [\"ACCOUNT#a1\",\"ACCOUNT#a1\"] names an item of entity \"account\" (_et), not of \"lead\"`,
    );
    // Nothing of the partition was written: not the account's item, not the lead without a collision.
    expect(await scan()).toEqual(before);
  });

  it('dedupes an export without an id on a key of three columns: only rows equal on all three compete', async () => {
    // Prepare: the same topic on three records; one record twice (an older and a newer version).
    const header = 'Topic,Created On,Owner,Amount,Modified';
    const rows = [
      `Renewal,2024-01-05T10:00:00Z,Ann,100,${T1}`,
      `Renewal,2024-01-05T10:00:00Z,Bob,200,${T1}`,
      `Renewal,2024-02-01T09:00:00Z,Ann,300,${T1}`,
      `Renewal,2024-01-05T10:00:00Z,Ann,150,${T2}`,
    ];

    // Act
    const out = await run('opportunity', 'opportunities.csv', `${header}\n${rows.join('\n')}\n`);

    // Assess
    expect(out.error).toBeUndefined();
    expect(out.status).toBe('SUCCEEDED');
    expect(out.counts).toEqual({ rows: 4, applied: 3, unchanged: 0, superseded: 1, deleted: 0, rejected: 0 });
    const items = await scan('opportunity');
    expect(items.map((i) => [i.pk?.S, i.amount?.N]).sort()).toEqual([
      ['Renewal#2024-01-05T10:00:00.000Z#Ann', '150'],
      ['Renewal#2024-01-05T10:00:00.000Z#Bob', '200'],
      ['Renewal#2024-02-01T09:00:00.000Z#Ann', '300'],
    ]);
  });
});
