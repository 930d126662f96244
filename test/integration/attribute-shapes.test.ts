import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { useLocalStack } from './support';

/**
 * Integration: attribute shapes through a real run on the local stack (transform → S3 parts →
 * merge → DynamoDB → verification): a dotted field builds a map, a multi-select picklist a string
 * set, a 30-digit number stays exact, currency and percent cells store exact amounts. A second,
 * partial export (`onMissingColumns: keep`) updates one map member and keeps the others.
 */
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    account: {
      target: { key: 'id' },
      fields: {
        id: { source: 'Id', required: true },
        'address.street': { source: 'BillingStreet' },
        'address.city': { source: 'BillingCity' },
        colors: {
          source: 'Colors__c',
          type: 'enum',
          values: ['Red', 'Green', 'Blue'],
          list: { delimiter: ';', as: 'stringSet' },
        },
        big: { source: 'Big__c', type: 'number' },
        revenue: { source: 'AnnualRevenue', type: 'currency', currencyCode: 'USD' },
        share: { source: 'Share__c', type: 'percent' },
        updatedAt: { source: 'LastModifiedDate', type: 'datetime', required: true },
      },
      updatedAt: 'updatedAt',
      onMissingColumns: 'keep',
    },
  },
});
const THIRTY_DIGITS = '123456789012345678901234567890';

describe('attribute shapes', () => {
  const local = useLocalStack('attribute-shapes', CONFIG);

  /** The table's items as DynamoDB holds them (raw attribute values), by id. */
  async function rawItems(): Promise<Map<string, Record<string, AttributeValue>>> {
    // Required here: the adapters' SDK clients read the local endpoints set by LocalStack.start.
    const { scanSegmentRaw } =
      require('../../lambdas/adapters/dynamodb') as typeof import('../../lambdas/adapters/dynamodb');
    const out = new Map<string, Record<string, AttributeValue>>();
    for await (const page of scanSegmentRaw(local.stack.tableOf('account'), 0, 1, { consistent: true })) {
      for (const item of page) out.set(item.id?.S ?? '', item);
    }
    return out;
  }

  it('stores maps, string sets and exact numbers, then keeps the members a partial export does not carry', async () => {
    // Prepare
    const full = local.write(
      'accounts.csv',
      [
        'Id,BillingStreet,BillingCity,Colors__c,Big__c,AnnualRevenue,Share__c,LastModifiedDate',
        `a1,1 Main St,Springfield,Red;blue; red,${THIRTY_DIGITS}.50,"$1,234.50",12.5%,2024-01-01T00:00:00Z`,
        'a2,,,,,(99.99),100,2024-01-01T00:00:00Z',
        '',
      ].join('\n'),
    );
    const partial = local.write(
      'accounts-street.csv',
      ['Id,BillingStreet,LastModifiedDate', 'a1,2 Side St,2024-02-01T00:00:00Z', ''].join('\n'),
    );

    // Act
    const first = await runLocalFile(local.stack, full, CONFIG, {
      entity: 'account',
      stateDir: local.stateDir,
    });
    const afterFirst = await rawItems();
    const second = await runLocalFile(local.stack, partial, CONFIG, {
      entity: 'account',
      stateDir: local.stateDir,
    });
    const afterSecond = await rawItems();

    // Assess
    expect(first.error).toBeUndefined();
    expect(first.status).toBe('SUCCEEDED');
    expect(first.reconciliation?.status).toBe('MATCHED');
    expect(first.counts).toEqual(expect.objectContaining({ rows: 2, applied: 2, rejected: 0 }));
    const a1 = afterFirst.get('a1');
    expect(a1?.address).toEqual({ M: { street: { S: '1 Main St' }, city: { S: 'Springfield' } } });
    expect(a1?.colors?.SS?.slice().sort()).toEqual(['Blue', 'Red']);
    expect(a1?.big).toEqual({ N: `${THIRTY_DIGITS}.5` });
    expect(a1?.revenue).toEqual({ N: '1234.5' });
    expect(a1?.share).toEqual({ N: '0.125' });
    const a2 = afterFirst.get('a2');
    expect(
      a2 &&
        Object.keys(a2)
          .filter((k) => !k.startsWith('_'))
          .sort(),
    ).toEqual(['id', 'revenue', 'share', 'updatedAt']);
    expect(a2?.revenue).toEqual({ N: '-99.99' });
    expect(a2?.share).toEqual({ N: '1' });

    expect(second.error).toBeUndefined();
    expect(second.status).toBe('SUCCEEDED');
    expect(second.reconciliation?.status).toBe('MATCHED');
    expect(second.counts).toEqual(expect.objectContaining({ rows: 1, applied: 1, rejected: 0 }));
    const updated = afterSecond.get('a1');
    expect(updated?.address).toEqual({ M: { street: { S: '2 Side St' }, city: { S: 'Springfield' } } });
    expect(updated?.big).toEqual({ N: `${THIRTY_DIGITS}.5` });
    expect(updated?.colors?.SS?.slice().sort()).toEqual(['Blue', 'Red']);
    expect(afterSecond.get('a2')).toEqual(a2);
  });
});
