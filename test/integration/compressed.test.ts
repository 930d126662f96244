import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { salesforceAccount } from '../../lambdas/domain/presets';
import { runLocalFile } from '../../local/run';
import { zipArchive } from '../unit/zip-archive';
import { ROOT, useLocalStack } from './support';

/**
 * Integration: a real Salesforce export (../shared/data/real-exports/salesforce-stomita/Account.csv,
 * read unchanged) gzipped or zipped here loads the same table, counts and report as the plain file;
 * a cut-off gzip, a zip bomb and a zip of several files fail at Plan naming the user's file.
 */
const SOURCE = resolve(ROOT, '../shared/data/real-exports/salesforce-stomita/Account.csv');
const CONFIG: CrmSyncConfig = parseConfig({
  version: 1,
  entities: { plain: salesforceAccount, gzipped: salesforceAccount, zipped: salesforceAccount },
});
const META = ['_v', '_line', '_run', '_digest'];

interface Summary {
  counts: unknown;
  warnings: number;
  topWarnings: unknown;
}

describe('compressed exports through the local stack', () => {
  const local = useLocalStack('compressed', CONFIG);
  const run = (path: string, entity: string) =>
    runLocalFile(local.stack, path, CONFIG, { entity, stateDir: local.stateDir });
  const summaryOf = (r: { reports: Record<string, string> }): Summary =>
    JSON.parse(readFileSync(r.reports.summary ?? '', 'utf8')) as Summary;
  const csv = (): Buffer => {
    if (!existsSync(SOURCE)) throw new Error(`${SOURCE} is missing: the real exports live in ../shared`);
    return readFileSync(SOURCE);
  };

  it('loads a gzipped and a zipped real export as the plain file: same table, counts and report', async () => {
    // Prepare
    const gz = join(local.dataDir, 'Account.csv.gz');
    writeFileSync(gz, gzipSync(csv()));
    const zip = join(local.dataDir, 'Account.zip');
    writeFileSync(zip, zipArchive([{ name: 'Account.csv', data: csv() }]));

    // Act
    const plain = await run(SOURCE, 'plain');
    const gzipped = await run(gz, 'gzipped');
    const zipped = await run(zip, 'zipped');

    // Assess
    expect(plain.status).toBe('SUCCEEDED');
    const plainItems = await local.items('plain', { omit: META });
    const p = summaryOf(plain);
    for (const [entity, result, name] of [
      ['gzipped', gzipped, 'Account.csv.gz'],
      ['zipped', zipped, 'Account.zip'],
    ] as const) {
      expect({ entity, status: result.status }).toEqual({ entity, status: 'SUCCEEDED' });
      expect(result.reconciliation?.status).toBe('MATCHED');
      expect(result.counts).toEqual(plain.counts);
      expect(result.counts).toMatchObject({ rows: 83, applied: 83 });
      expect(await local.items(entity, { omit: META })).toEqual(plainItems);
      const s = summaryOf(result);
      expect(s.topWarnings).toEqual(p.topWarnings);
      expect(s.warnings).toBe(p.warnings);
      expect(readFileSync(result.reports.warnings ?? '', 'utf8')).toBe(
        readFileSync(plain.reports.warnings ?? '', 'utf8'),
      );
      expect(JSON.stringify(s)).toContain(name);
      expect(JSON.stringify(s)).not.toContain('source.decompressed');
    }
  });

  it.each<[string, () => Buffer, string]>([
    [
      'bomb.csv.gz',
      () => gzipSync(Buffer.concat([csv(), Buffer.alloc(65 * 1024 * 1024, 0x2c)])),
      'the gzip file decompresses to more than 67108864 bytes',
    ],
    [
      'two.zip',
      () =>
        zipArchive([
          { name: 'Account.csv', data: csv() },
          { name: 'Contact.csv', data: csv() },
        ]),
      'the zip archive holds 2 files (Account.csv, Contact.csv): zip one export per archive',
    ],
  ])('fails %s at Plan with one line naming the file', async (name, bytes, message) => {
    // Prepare
    const path = join(local.dataDir, name);
    writeFileSync(path, bytes());

    // Act
    const result = await run(path, 'gzipped');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('MalformedFileError');
    expect(result.error?.message).toContain(`${name}: ${message}`);
    expect(result.error?.message).not.toContain('\n');
  });

  it('fails a cut-off gzip file at Plan with one line naming the file', async () => {
    // Prepare
    const bytes = gzipSync(csv());
    const cut = join(local.dataDir, 'cut.csv.gz');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));

    // Act
    const result = await run(cut, 'gzipped');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('MalformedFileError');
    expect(result.error?.message).toMatch(
      /cut\.csv\.gz: the gzip file is cut off: it ends before its compressed data does$/,
    );
  });
});
