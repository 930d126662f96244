import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lambdas/domain/config';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { configFile, logicalId, must, newApp, SHARED_TABLE, statementsOfRole } from './support';

/**
 * Infra: the target tables a config's keys ask for. Entities naming one `target.table` share one
 * DynamoDB table (its key attributes, the union of their indexes); other entities keep a table each
 * under the construct id they always had.
 */
const raw = JSON.parse(readFileSync(configFile, 'utf8')) as {
  entities: Record<string, { target: unknown; fields: Record<string, { required?: boolean }> }>;
};
const entities = structuredClone(raw.entities);
const contact = must(entities.contact, 'contact');
const account = must(entities.account, 'account');
must(contact.fields.accountId, 'accountId').required = true;
contact.target = SHARED_TABLE.contact;
account.target = {
  ...SHARED_TABLE.account,
  indexes: { byName: { partitionKey: 'name', projection: 'keys' } },
};
const config = parseConfig({
  entities: {
    ...entities,
    order: {
      target: { key: 'id', indexes: { byTotal: { partitionKey: 'customer', sortKey: 'total' } } },
      fields: {
        id: { source: 'Id', required: true },
        customer: { source: 'Customer' },
        total: { source: 'Total', type: 'number' },
      },
    },
  },
});
const stack = new CrmSyncStack(newApp(), 'CrmSync', { config, configFile });
const template = Template.fromStack(stack);
const tables = template.findResources('AWS::DynamoDB::Table');

describe('target tables from the keys of the config', () => {
  it('makes one table for the entities that share it, keyed pk/sk, with both entities’ indexes', () => {
    // Prepare
    const id = logicalId(stack, must(stack.targetTables.contact, 'contact table'));

    // Act
    const table = must(tables[id], 'shared table');

    // Assess
    expect(stack.targetTables.account).toBe(stack.targetTables.contact);
    expect(id).toMatch(/^Tablecrm/);
    expect(table.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(table.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
        { AttributeName: 'name', AttributeType: 'S' },
      ]),
    );
    expect(table.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byEmail',
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: 'byName',
        KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
    // The ledger, the shared table and the order table.
    expect(Object.keys(tables)).toHaveLength(3);
  });

  it('keeps an entity of its own its construct id and types a numeric index key as a number', () => {
    // Prepare
    const id = logicalId(stack, must(stack.targetTables.order, 'order table'));

    // Act
    const table = must(tables[id], 'order table');

    // Assess
    expect(id).toMatch(/^Targetorder/);
    expect(table.Properties.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(table.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'id', AttributeType: 'S' },
        { AttributeName: 'customer', AttributeType: 'S' },
        { AttributeName: 'total', AttributeType: 'N' },
      ]),
    );
  });

  it('names the shared table as the target table of both entities in the outputs', () => {
    // Prepare
    const ref = { Ref: logicalId(stack, must(stack.targetTables.contact, 'contact table')) };

    // Act
    const outputs = template.findOutputs('*');

    // Assess
    expect(outputs.TargetTableContact?.Value).toEqual(ref);
    expect(outputs.TargetTableAccount?.Value).toEqual(ref);
  });

  it('lets the merge write the shared table (one grant, whichever entity runs)', () => {
    // Prepare
    const tableId = logicalId(stack, must(stack.targetTables.contact, 'contact table'));
    const roleId = logicalId(stack, must(stack.mergeFunction.function.role, 'merge role'));

    // Act
    const statements = statementsOfRole(template, roleId).filter((s) =>
      JSON.stringify(s.Resource).includes(tableId),
    );

    // Assess
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:BatchWriteItem', 'dynamodb:BatchGetItem']));
    expect(new Set(actions).size).toBe(actions.length);
  });
});
