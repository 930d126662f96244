import { readFileSync } from 'node:fs';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { useLocalStack } from './support';

/**
 * Integration: referential integrity on the local stack. With `reject: true` a row whose parent is
 * missing is rejected (`orphan:<field>`, in rejects.csv with its cells) and never written, also when
 * its value cannot be a key at all; without it the row is loaded and reported as an orphan.
 */
const person = (reject: boolean) => ({
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', required: true },
    name: { source: 'Name', required: true },
    companyId: { source: 'CompanyId' },
    updatedAt: { source: 'Modified', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  references: { companyId: { entity: 'company', reject } },
});
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    company: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true } } },
    // Most rows of these small files are orphans on purpose: the reject gate must not stop them.
    strict: {
      ...person(true),
      target: { key: 'id', tableName: 'crm-sync-orphans-strict' },
      maxRejectRatio: 1,
    },
    lenient: { ...person(false), target: { key: 'id', tableName: 'crm-sync-orphans-lenient' } },
  },
});
const PEOPLE = [
  'Id,Name,CompanyId,Modified',
  'p1,Ada,C1,2024-01-01T00:00:00Z',
  'p1,Ada (moved),C9,2024-06-01T00:00:00Z',
  'p2,Grace,C9,2024-01-01T00:00:00Z',
  'p3,Barbara,,2024-01-01T00:00:00Z',
].join('\n');

describe('orphans on the local stack', () => {
  const local = useLocalStack('orphans', CONFIG);
  const run = (entity: string, file: string) =>
    runLocalFile(local.stack, file, CONFIG, { entity, stateDir: local.stateDir });

  beforeAll(async () => {
    await run('company', local.write('companies.csv', 'Id\nC1\nC2\n'));
  });

  it('reject: true rejects the rows whose parent is missing; the older row with a parent wins', async () => {
    // Act
    const result = await run('strict', local.write('strict.csv', `${PEOPLE}\n`));

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(result.counts).toEqual({
      rows: 4,
      applied: 2,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 2,
    });
    expect(result.topReasons).toEqual([{ reason: 'orphan', count: 2 }]);
    expect(
      (await local.items('strict', { omit: ['_v', '_line', '_run', '_digest'] })).map((i) => [i.id, i.name]),
    ).toEqual([
      ['p1', 'Ada'],
      ['p3', 'Barbara'],
    ]);
    expect(readFileSync(result.reports.rejects ?? '', 'utf8')).toBe(
      'line,reasons,Id,Name,CompanyId,Modified\r\n' +
        '3,orphan:companyId,p1,Ada (moved),C9,2024-06-01T00:00:00Z\r\n' +
        '4,orphan:companyId,p2,Grace,C9,2024-01-01T00:00:00Z\r\n',
    );
    expect(result.references).toEqual([expect.objectContaining({ field: 'companyId', orphans: 0 })]);
  });

  it('reject: true rejects a value that cannot be a key (over 2,048 bytes) as an orphan, and loads the others', async () => {
    // Prepare: a lookup of such a value would fail the whole batch, and with it the run
    const rows = [
      'Id,Name,CompanyId,Modified',
      'q1,Ada,C1,2024-01-01T00:00:00Z',
      `q2,Grace,${'X'.repeat(3000)},2024-01-01T00:00:00Z`,
      'q3,Barbara,C1,2024-01-01T00:00:00Z',
    ].join('\n');

    // Act
    const result = await run('strict', local.write('strict-oversized.csv', `${rows}\n`));

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ rows: 3, applied: 2, rejected: 1 });
    expect(result.topReasons).toEqual([{ reason: 'orphan', count: 1 }]);
  });

  it('reject: false loads them and reports the orphans', async () => {
    // Act
    const result = await run('lenient', local.write('lenient.csv', `${PEOPLE}\n`));

    // Assess
    expect(result.counts).toEqual({
      rows: 4,
      applied: 3,
      unchanged: 0,
      superseded: 1,
      deleted: 0,
      rejected: 0,
    });
    expect(result.references).toEqual([
      expect.objectContaining({
        field: 'companyId',
        entity: 'company',
        checked: 2,
        orphans: 2,
        missingParents: 1,
      }),
    ]);
    expect(readFileSync(result.reports.orphans ?? '', 'utf8')).toBe(
      'field,entity,missing value,items,sample keys\r\ncompanyId,company,C9,2,p1 p2\r\n',
    );
  });
});
