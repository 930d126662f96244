import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: a Parquet file (written by hyparquet-writer) through the local stack loads the same
 * items and counts as the JSON Lines file of the same rows; a broken or empty one is refused.
 */
const CONFIG: CrmSyncConfig = parseConfig({ entities: { lines: PERSON_ENTITY, parquet: PERSON_ENTITY } });

interface Person {
  Id: string;
  Name: string | null;
  Modified: string;
  IsDeleted: boolean;
}

describe('Parquet exports', () => {
  const local = useLocalStack('parquet', CONFIG);
  const run = (path: string, entity: string) =>
    runLocalFile(local.stack, path, CONFIG, { entity, stateDir: local.stateDir });
  const writeParquet = (name: string, rows: Person[], rowGroupSize = 10): string => {
    const path = join(local.dataDir, name);
    const bytes = parquetWriteBuffer({
      rowGroupSize,
      columnData: [
        { name: 'Id', data: rows.map((r) => r.Id), type: 'STRING' },
        { name: 'Name', data: rows.map((r) => r.Name), type: 'STRING', nullable: true },
        { name: 'Modified', data: rows.map((r) => r.Modified), type: 'STRING' },
        { name: 'IsDeleted', data: rows.map((r) => r.IsDeleted), type: 'BOOLEAN' },
      ],
    });
    writeFileSync(path, Buffer.from(bytes));
    return path;
  };

  it('loads the same items and counts as the JSON Lines file of the same rows', async () => {
    // Prepare: 35 rows over 4 row groups, a duplicate key (newer wins), a row without its name (a
    // reject), a delete.
    const rows: Person[] = Array.from({ length: 34 }, (_, i) => ({
      Id: `p${i}`,
      Name: i === 9 ? null : `Person ${i} "quoted"`,
      Modified: `2024-01-${String((i % 28) + 1).padStart(2, '0')}T00:00:00Z`,
      IsDeleted: false,
    }));
    rows.push({ Id: 'p3', Name: 'Newer', Modified: '2025-01-01T00:00:00Z', IsDeleted: false });
    const lines = local.write('people.jsonl', `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const parquet = writeParquet('people.parquet', rows);

    // Act
    const fromLines = await run(lines, 'lines');
    const fromParquet = await run(parquet, 'parquet');

    // Assess
    expect(fromLines.status).toBe('SUCCEEDED');
    expect(fromParquet.status).toBe('SUCCEEDED');
    expect(fromParquet.reconciliation?.status).toBe('MATCHED');
    expect(fromParquet.counts).toEqual(fromLines.counts);
    expect(fromParquet.counts).toMatchObject({ rows: 35, applied: 33, superseded: 1, rejected: 1 });
    const items = await local.items('parquet', { omit: ['_run'] });
    expect(items).toEqual(await local.items('lines', { omit: ['_run'] }));
    expect(items.find((p) => p.id === 'p3')).toMatchObject({ name: 'Newer' });
  });

  it('fails a cut-off Parquet file at Plan with one line naming the file', async () => {
    // Prepare
    const good = writeParquet('good.parquet', [
      { Id: '1', Name: 'A', Modified: '2024-01-01T00:00:00Z', IsDeleted: false },
    ]);
    const bytes = readFileSync(good);
    const cut = join(local.dataDir, 'cut.parquet');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 12));

    // Act
    const result = await run(cut, 'parquet');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('MalformedFileError');
    expect(result.error?.message).toMatch(/cut\.parquet: the Parquet file is not valid: /);
    expect(result.error?.message).not.toContain('\n');
  });

  it('refuses a Parquet file without rows like a header-only CSV (EmptyExportError)', async () => {
    // Prepare
    const empty = writeParquet('empty.parquet', []);
    const headerOnly = local.write('header-only.csv', `${PERSON_HEADER}\n`);

    // Act
    const fromParquet = await run(empty, 'parquet');
    const fromCsv = await run(headerOnly, 'lines');

    // Assess
    expect(fromCsv.error?.name).toBe('EmptyExportError');
    expect(fromParquet.error?.name).toBe('EmptyExportError');
    expect(fromParquet.counts).toEqual(fromCsv.counts);
  });
});
