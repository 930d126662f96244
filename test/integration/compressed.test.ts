import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { salesforceAccount } from '../../lambdas/domain/presets';
import { runLocalFile } from '../../local/run';
import { ROOT, useLocalStack } from './support';

/**
 * Integration: a real Salesforce export (../shared/data/real-exports/salesforce-stomita/Account.csv,
 * read unchanged) gzipped here loads the same table, counts and report as the plain file; a cut-off
 * gzip fails at Plan naming the user's file.
 */
const SOURCE = resolve(ROOT, '../shared/data/real-exports/salesforce-stomita/Account.csv');
const CONFIG: CrmSyncConfig = parseConfig({
  version: 1,
  entities: { plain: salesforceAccount, gzipped: salesforceAccount },
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

  it('loads a gzipped real export as the plain file: same table, counts and report', async () => {
    // Prepare
    const gz = join(local.dataDir, 'Account.csv.gz');
    writeFileSync(gz, gzipSync(csv()));

    // Act
    const plain = await run(SOURCE, 'plain');
    const gzipped = await run(gz, 'gzipped');

    // Assess
    expect(plain.status).toBe('SUCCEEDED');
    expect(gzipped.status).toBe('SUCCEEDED');
    expect(gzipped.reconciliation?.status).toBe('MATCHED');
    expect(gzipped.counts).toEqual(plain.counts);
    expect(gzipped.counts).toMatchObject({ rows: 83, applied: 83 });
    expect(await local.items('gzipped', { omit: META })).toEqual(await local.items('plain', { omit: META }));
    const [p, g] = [summaryOf(plain), summaryOf(gzipped)];
    expect(g.topWarnings).toEqual(p.topWarnings);
    expect(g.warnings).toBe(p.warnings);
    expect(readFileSync(gzipped.reports.warnings ?? '', 'utf8')).toBe(
      readFileSync(plain.reports.warnings ?? '', 'utf8'),
    );
    expect(JSON.stringify(g)).toContain('Account.csv.gz');
    expect(JSON.stringify(g)).not.toContain('source.decompressed');
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
