import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, ROOT, useLocalStack } from './support';

/**
 * Integration: JSON documents through the local stack. The real `sf data export tree` files in
 * ../shared/data/real-exports/salesforce-sfdx-tree/ (used unchanged) with the example config,
 * accounts then contacts that point at them by `@AccountRef<n>`; a JSON array loads the same items
 * and counts as the JSON Lines file of the same rows; a broken array fails at Plan.
 */
const DIR = resolve(ROOT, '../shared/data/real-exports/salesforce-sfdx-tree');
const file = (name: string): string => {
  const path = join(DIR, name);
  if (!existsSync(path))
    throw new Error(`${path} is missing: the real exports live in ../shared beside the repo`);
  return path;
};
const EXAMPLE = JSON.parse(readFileSync(join(ROOT, 'examples/salesforce-sfdx-tree.config.json'), 'utf8')) as {
  entities: Record<string, unknown>;
};
const CONFIG: CrmSyncConfig = parseConfig({
  ...EXAMPLE,
  entities: { ...EXAMPLE.entities, lines: PERSON_ENTITY, array: PERSON_ENTITY },
});
const META = ['_v', '_line', '_run', '_digest'];

describe('JSON arrays and sfdx tree files', () => {
  const local = useLocalStack('json-documents', CONFIG);
  const run = (path: string, entity: string) =>
    runLocalFile(local.stack, path, CONFIG, { entity, stateDir: local.stateDir });

  it('loads the sfdx tree accounts, then the contacts that reference them', async () => {
    // Act: parents first.
    const accounts = await run(file('Accounts.json'), 'account');
    const contacts = await run(file('Contacts.json'), 'contact');
    const accountItems = await local.items('account', { omit: META });
    const contactItems = await local.items('contact', { omit: META });

    // Assess
    expect(accounts.status).toBe('SUCCEEDED');
    expect(accounts.reconciliation?.status).toBe('MATCHED');
    expect(accounts.counts).toEqual({
      rows: 10,
      applied: 10,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 0,
    });
    expect(accountItems).toHaveLength(10);
    expect(accountItems.find((a) => a.id === '@AccountRef1')).toEqual({
      id: '@AccountRef1',
      referenceId: 'AccountRef1',
      name: 'Alpha Dynamics',
      type: 'Technology Partner',
      phone: '+13362227000',
      numberOfEmployees: 12345,
    });
    // No item carries the tree's `attributes`.
    expect(accountItems.filter((a) => 'attributes' in a)).toEqual([]);

    expect(contacts.status).toBe('SUCCEEDED');
    expect(contacts.reconciliation?.status).toBe('MATCHED');
    expect(contacts.counts).toMatchObject({ rows: 6, applied: 6, rejected: 0 });
    expect(contacts.references).toEqual([
      expect.objectContaining({ field: 'accountId', entity: 'account', checked: 6, orphans: 0 }),
    ]);
    expect(contactItems.find((c) => c.id === '@ContactRef1')).toEqual({
      id: '@ContactRef1',
      accountId: '@AccountRef1',
      firstName: 'Amy',
      lastName: 'Taylor',
      title: 'VP of Engineering',
      email: 'amy@demo.net',
      phone: '+14152568563',
      pictureUrl:
        'https://s3-us-west-2.amazonaws.com/dev-or-devrl-s3-bucket/sample-apps/people/amy_taylor.jpg',
    });
  });

  it('a pretty-printed JSON array loads the same items and counts as the JSON Lines of its rows', async () => {
    // Prepare: 40 rows, a duplicate key (newer wins), a row without its name (a reject), a
    // non-object record (a reject), a 17-digit id and a BOM.
    const records: unknown[] = Array.from({ length: 40 }, (_, i) => ({
      Id: i === 7 ? '12345678901234567' : `p${i}`,
      Name: i === 9 ? null : `Person ${i} "quoted"\nline`,
      Modified: `2024-01-${String((i % 28) + 1).padStart(2, '0')}T00:00:00Z`,
      IsDeleted: false,
    }));
    records.push({ Id: 'p3', Name: 'Newer', Modified: '2025-01-01T00:00:00Z', IsDeleted: false }, 'text');
    const lines = local.write('people.jsonl', `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const array = local.write('people.json', `\uFEFF${JSON.stringify(records, null, 2)}\n`);

    // Act
    const fromLines = await run(lines, 'lines');
    const fromArray = await run(array, 'array');

    // Assess
    expect(fromLines.status).toBe('SUCCEEDED');
    expect(fromArray.status).toBe('SUCCEEDED');
    expect(fromArray.counts).toEqual(fromLines.counts);
    expect(fromArray.counts).toMatchObject({ rows: 42, superseded: 1, rejected: 2 });
    const arrayItems = await local.items('array', { omit: ['_run'] });
    expect(arrayItems).toEqual(await local.items('lines', { omit: ['_run'] }));
    expect(arrayItems.find((p) => p.id === 'p3')).toMatchObject({ name: 'Newer' });
  });

  it.each([
    ['a cut-off array', '[{"Id": "1", "Name": "A", "Modified": "2024-01-01T00:00:00Z"},', /cut off/],
    [
      'text after the array',
      '[{"Id": "1", "Name": "A", "Modified": "2024-01-01T00:00:00Z"}] x',
      /text after/,
    ],
    ['a tree file whose records is not an array', '{\n  "records": 5\n}\n', /"records" that is not an array/],
  ])('%s fails at Plan with one line naming the file', async (_name, text, problem) => {
    // Prepare
    const path = local.write('broken.json', text);

    // Act
    const result = await run(path, 'array');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('MalformedFileError');
    expect(result.error?.message).toMatch(problem);
    expect(result.error?.message).toContain('broken.json');
    expect(result.error?.message).not.toContain('\n');
  });

  it('an empty array is refused like a header-only CSV (EmptyExportError)', async () => {
    // Prepare
    const empty = local.write('empty.json', '[\n]\n');
    const headerOnly = local.write('header-only.csv', `${PERSON_HEADER}\n`);

    // Act
    const fromArray = await run(empty, 'array');
    const fromCsv = await run(headerOnly, 'lines');

    // Assess
    expect(fromCsv.error?.name).toBe('EmptyExportError');
    expect(fromArray.status).toBe('FAILED');
    expect(fromArray.error?.name).toBe(fromCsv.error?.name);
    expect(fromArray.counts).toEqual(fromCsv.counts);
  });
});
