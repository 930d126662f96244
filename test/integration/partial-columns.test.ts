import { readFileSync } from 'node:fs';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { useLocalStack } from './support';

/**
 * Integration: a partial export (a report export with a few of the object's columns) after a full
 * one updates the columns it has and keeps every stored attribute it does not carry, through the
 * merge, verification, a rerun and a dry run; a default is never invented for a column the file
 * lacks; `onMissingColumns: remove` replaces the item whole when a user asks for it.
 */
const contact = (onMissingColumns?: 'keep' | 'remove') => ({
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', required: true },
    lastName: { source: 'LastName', required: true },
    firstName: { source: 'FirstName' },
    email: { source: 'Email', type: 'email' as const },
    phone: { source: 'Phone', type: 'phone' as const, region: 'US' },
    title: { source: 'Title' },
    optedOut: { source: 'HasOptedOutOfEmail', type: 'boolean' as const, default: false },
    updatedAt: { source: 'LastModifiedDate', type: 'datetime' as const, required: true },
  },
  updatedAt: 'updatedAt',
  deleteFlag: { source: 'IsDeleted', values: ['true', '1'] },
  ...(onMissingColumns ? { onMissingColumns } : {}),
});
const CONFIG: CrmSyncConfig = parseConfig({
  entities: { contact: contact(), 'contact-replaced': contact('remove') },
});
const META = ['_v', '_line', '_run', '_digest'];

const FULL = [
  'Id,LastName,FirstName,Email,Phone,Title,HasOptedOutOfEmail,LastModifiedDate,IsDeleted',
  'c1,Brown,Emma,emma@example.com,(415) 555-2671,Director,1,2024-01-01T00:00:00Z,',
  'c2,Young,Andy,andy@example.com,(415) 555-2672,Engineer,,2024-01-01T00:00:00Z,',
  'c3,Stone,Ann,ann@example.com,,Buyer,,2024-01-01T00:00:00Z,',
].join('\n');
// The usual report export: five columns, newer rows, one new contact, one email emptied.
const PARTIAL = [
  'Id,LastName,Email,LastModifiedDate,IsDeleted',
  'c1,Brown-Lee,emma.lee@example.com,2024-02-01T00:00:00Z,',
  'c2,Young,,2024-02-01T00:00:00Z,',
  'c9,New,new@example.com,2024-02-01T00:00:00Z,',
].join('\n');

describe('partial-column exports on the local stack', () => {
  const local = useLocalStack('partial-columns', CONFIG);
  const run = (file: string, entity: string, extra: { rerun?: string; dryRun?: boolean } = {}) =>
    runLocalFile(local.stack, file, CONFIG, { entity, stateDir: local.stateDir, ...extra });

  it('updates the columns the file has and keeps every stored attribute it does not carry', async () => {
    // Prepare
    const full = local.write('full.csv', `${FULL}\n`);
    const partial = local.write('partial.csv', `${PARTIAL}\n`);
    await run(full, 'contact');

    // Act
    const result = await run(partial, 'contact');
    const items = await local.items('contact', { omit: META });
    const rerun = await run(partial, 'contact', { rerun: 'again' });
    const dry = await run(partial, 'contact', { dryRun: true });
    const summary = JSON.parse(readFileSync(result.reports.summary ?? '', 'utf8')) as {
      missingColumns: string[];
    };
    const html = readFileSync(result.reports.html ?? '', 'utf8');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(result.counts).toMatchObject({ rows: 3, applied: 3, rejected: 0 });
    expect(items).toEqual([
      {
        id: 'c1',
        lastName: 'Brown-Lee',
        firstName: 'Emma',
        email: 'emma.lee@example.com',
        phone: '+14155552671',
        title: 'Director',
        optedOut: true,
        updatedAt: '2024-02-01T00:00:00.000Z',
      },
      // The file has an Email column and its cell is empty: the attribute goes.
      {
        id: 'c2',
        lastName: 'Young',
        firstName: 'Andy',
        phone: '+14155552672',
        title: 'Engineer',
        optedOut: false,
        updatedAt: '2024-02-01T00:00:00.000Z',
      },
      {
        id: 'c3',
        lastName: 'Stone',
        firstName: 'Ann',
        email: 'ann@example.com',
        title: 'Buyer',
        optedOut: false,
        updatedAt: '2024-01-01T00:00:00.000Z',
      },
      // A new contact of the partial export: no optedOut invented from the default.
      { id: 'c9', lastName: 'New', email: 'new@example.com', updatedAt: '2024-02-01T00:00:00.000Z' },
    ]);
    expect(summary.missingColumns).toEqual(['FirstName', 'Phone', 'Title', 'HasOptedOutOfEmail']);
    expect(result.missingColumns).toEqual(['FirstName', 'Phone', 'Title', 'HasOptedOutOfEmail']);
    expect(html).toContain('data-field="missing-columns"');
    // The rerun and the dry run see the merged items as they are stored: nothing to do.
    expect(rerun.reconciliation?.status).toBe('MATCHED');
    expect(rerun.counts).toMatchObject({ applied: 0, unchanged: 3 });
    expect(dry.counts).toMatchObject({ applied: 0, unchanged: 3 });
  });

  it('replaces items whole with onMissingColumns: remove', async () => {
    // Prepare
    const full = local.write('full-2.csv', `${FULL}\n`);
    const partial = local.write('partial-2.csv', `${PARTIAL}\n`);
    await run(full, 'contact-replaced');

    // Act
    const result = await run(partial, 'contact-replaced');
    const items = await local.items('contact-replaced', { omit: META });

    // Assess
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(items.find((i) => i.id === 'c1')).toEqual({
      id: 'c1',
      lastName: 'Brown-Lee',
      email: 'emma.lee@example.com',
      updatedAt: '2024-02-01T00:00:00.000Z',
    });
  });
});
