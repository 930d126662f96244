import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { useLocalStack } from './support';

/**
 * Integration: references.<field>.reject looks the distinct reference values of a chunk up in the
 * parent table. A value that cannot be a DynamoDB key (over 2,048 bytes) cannot name a parent: its
 * row is an orphan, rejected with its line and reason, and the rest of the file loads (a lookup of
 * it would fail the whole batch, and with it the run).
 */
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    company: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true } } },
    strict: {
      target: { key: 'id' },
      fields: {
        id: { source: 'Id', required: true },
        name: { source: 'Name', required: true },
        companyId: { source: 'CompanyId' },
        updatedAt: { source: 'Modified', type: 'datetime', required: true },
      },
      updatedAt: 'updatedAt',
      references: { companyId: { entity: 'company', reject: true } },
    },
  },
});

describe('orphans: an oversized reference value with reject: true', () => {
  const local = useLocalStack('orphans-oversized', CONFIG, { retryIntervalMs: 1 });
  const run = (entity: string, file: string) =>
    runLocalFile(local.stack, file, CONFIG, { entity, stateDir: local.stateDir });

  it('rejects the one row and loads the others', async () => {
    await run('company', local.write('companies.csv', 'Id\nC1\n'));
    const rows = [
      'Id,Name,CompanyId,Modified',
      'p1,Ada,C1,2024-01-01T00:00:00Z',
      `p2,Grace,${'X'.repeat(3000)},2024-01-01T00:00:00Z`,
      'p3,Barbara,C1,2024-01-01T00:00:00Z',
    ].join('\n');

    const result = await run('strict', local.write('strict.csv', `${rows}\n`));

    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ rows: 3, applied: 2, rejected: 1 });
  });
});
