import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { PRESETS } from '../../lambdas/domain/presets';
import { runLocalExport, runLocalFile } from '../../local/run';
import { ROOT, useLocalStack } from './support';

/**
 * Integration: a multi-file export (parts + `_SUCCESS` under inbox/<entity>/<export>/) is one run:
 * the real Salesforce Account.csv (unchanged) as one file, and split in 3 parts, load equal tables.
 */
const SOURCE = resolve(ROOT, '../shared/data/real-exports/salesforce-stomita/Account.csv');
const CONFIG: CrmSyncConfig = parseConfig(PRESETS.salesforce);
const META = ['_v', '_line', '_run', '_digest'];

/** The file's header and its records (a quoted newline stays in its record), LF-terminated as the file. */
function records(text: string): { header: string; rows: string[] } {
  const out: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    pending = pending === '' ? line : `${pending}\n${line}`;
    if ((pending.match(/"/g) ?? []).length % 2 === 0) {
      if (pending !== '') out.push(pending);
      pending = '';
    }
  }
  const [header = '', ...rows] = out;
  return { header, rows };
}

/** The export split in 3 parts, each with the header, in a new directory. */
function splitParts(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'crm-sync-parts-'));
  const { header, rows } = records(readFileSync(SOURCE, 'utf8'));
  const third = Math.ceil(rows.length / 3);
  return [0, 1, 2].map((i) => {
    const path = join(dir, `part-0000${i}.csv`);
    writeFileSync(path, `${[header, ...rows.slice(i * third, (i + 1) * third)].join('\n')}\n`);
    return path;
  });
}

describe('a multi-file export through the local stack', () => {
  const local = useLocalStack('multi-file', CONFIG);

  it('3 parts + _SUCCESS load what the one file loads, as one run with the same counts', async () => {
    // Prepare: the export split in 3 parts, each with the header.
    const parts = splitParts();
    const whole = await runLocalFile(local.stack, SOURCE, CONFIG, {
      entity: 'account',
      stateDir: local.stateDir,
    });
    const wholeItems = await local.items('account', { omit: META });

    // Act: the same rows again, as parts (a rerun: the table already holds them).
    const split = await runLocalExport(local.stack, parts, 'export-1', CONFIG, {
      entity: 'account',
      stateDir: local.stateDir,
    });
    const splitItems = await local.items('account', { omit: META });

    // Assess
    expect(whole.status).toBe('SUCCEEDED');
    expect(split.status).toBe('SUCCEEDED');
    expect(split.runId).not.toBe(whole.runId);
    expect(split.reconciliation?.status).toBe('MATCHED');
    expect(split.counts).toEqual({ ...whole.counts, applied: 0, unchanged: whole.counts?.rows ?? -1 });
    expect(splitItems).toEqual(wholeItems);
  });
});

describe('a dry run of a multi-file export through the local stack', () => {
  const local = useLocalStack('multi-file-dry', CONFIG);

  it('reads the 3 parts as one export under dry-run/, counts what the real run counts, writes nothing', async () => {
    // Prepare
    const parts = splitParts();
    const options = { entity: 'account', stateDir: local.stateDir };

    // Act
    const dry = await runLocalExport(local.stack, parts, 'export-1', CONFIG, { ...options, dryRun: true });
    const afterDry = await local.items('account');
    const inboxAfterDry = await local.stack.objectEtag('inbox/account/export-1/part-00000.csv');
    const copyAfterDry = await local.stack.objectEtag('dry-run/account/export-1/part-00000.csv');
    const real = await runLocalExport(local.stack, parts, 'export-1', CONFIG, options);

    // Assess
    expect(dry).toMatchObject({ status: 'SUCCEEDED', dryRun: true });
    expect(real.status).toBe('SUCCEEDED');
    expect(dry.runId).not.toBe(real.runId);
    expect(real.counts?.applied).toBeGreaterThan(0);
    expect(dry.counts).toEqual(real.counts);
    expect(afterDry).toEqual([]);
    expect(inboxAfterDry).toBeUndefined();
    expect(copyAfterDry).toBeUndefined(); // the succeeded dry run's folder is pruned
    expect(readFileSync(dry.reports?.diff ?? '', 'utf8').split('\n')[0]).toMatch(/^[^\n]*file,line/);
  });
});
