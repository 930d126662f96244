import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalExport, runLocalFile } from '../../local/run';
import { cli, lastJson, PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: a multi-file export over the local stack in mirror mode (the delete candidates are
 * the keys absent from every part), the winner of a key over parts, the reports naming each row's
 * part, and a gzipped part.
 */
const META = ['_v', '_line', '_run', '_digest'];

/** A person with an email that is stored without the field when it is invalid (warnings.csv). */
const PERSON = {
  ...PERSON_ENTITY,
  fields: { ...PERSON_ENTITY.fields, email: { source: 'Email', type: 'email', onInvalid: 'drop' } },
  maxRejectRatio: 0.5,
} as const;
const HEADER = `${PERSON_HEADER},Email`;
const RAW_CONFIG = {
  entities: {
    mirrored: { ...PERSON, syncMode: 'mirror', maxDeleteRatio: 0.25 },
    whole: PERSON,
    split: PERSON,
  },
};
const PARTS_CONFIG: CrmSyncConfig = parseConfig(RAW_CONFIG);
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';
const row = (id: string, name: string, t = T2, email = `${id}@example.com`) =>
  `${id},${name},${t},false,${email}`;

describe('multi-file exports: mirror mode, winners and reports over parts', () => {
  const local = useLocalStack('multi-file-parts', PARTS_CONFIG);
  const options = (entity: string) => ({ entity, stateDir: local.stateDir });
  const partsOf = (name: string, parts: string[][]) => {
    mkdirSync(join(local.dataDir, name));
    return parts.map((rows, i) =>
      local.write(`${name}/part-${i + 1}.csv`, `${[HEADER, ...rows].join('\n')}\n`),
    );
  };
  const report = (result: { reports?: Record<string, string> }, name: string) => {
    const path = result.reports?.[name];
    return path === undefined ? '' : readFileSync(path, 'utf8');
  };

  it('mirror over 2 parts + _SUCCESS deletes only the keys absent from both parts', async () => {
    // Prepare: 10 items; the export keeps k01–k04 in part 1 and k05–k08 in part 2 (k12 is new, in
    // part 2 only), so k09 and k10 (20 %, limit 25 %) are the only delete candidates.
    const ids = Array.from({ length: 10 }, (_, i) => `k${String(i + 1).padStart(2, '0')}`);
    const first = await runLocalFile(
      local.stack,
      local.write('mirror-full.csv', `${[HEADER, ...ids.map((k) => row(k, `${k} v1`, T1))].join('\n')}\n`),
      PARTS_CONFIG,
      options('mirrored'),
    );
    const parts = partsOf('mirror-export', [
      ['k01', 'k02', 'k03', 'k04'].map((k) => row(k, `${k} v2`)),
      ['k05', 'k06', 'k07', 'k08', 'k12'].map((k) => row(k, `${k} v2`)),
    ]);

    // Act
    const second = await runLocalExport(
      local.stack,
      parts,
      'mirror-export',
      PARTS_CONFIG,
      options('mirrored'),
    );

    // Assess
    expect(first.status).toBe('SUCCEEDED');
    expect(second.error).toBeUndefined();
    expect(second.status).toBe('SUCCEEDED');
    expect(second.reconciliation?.status).toBe('MATCHED');
    expect(second.mirror).toMatchObject({ targetItems: 10, candidates: 2, deleted: 2 });
    expect(report(second, 'mirrorDeletes')).toBe('key\r\nk09\r\nk10\r\n');
    const items = await local.items('mirrored');
    expect(items.map((i) => i.id)).toEqual(['k01', 'k02', 'k03', 'k04', 'k05', 'k06', 'k07', 'k08', 'k12']);
    expect(items.every((i) => String(i.name).endsWith('v2'))).toBe(true);
  });

  it('3 parts load and report what the one file does, the rows named by part and line', async () => {
    // Prepare: 9 rows with a reject (no name), a warning (a bad email) and a key on two lines of
    // one version: in the file, the later line wins; split, the later part.
    const rows = [
      row('p1', 'Ada'),
      row('p2', 'Ben'),
      row('p3', '', T2),
      row('p4', 'Dee', T2, 'not-an-email'),
      row('p1', 'Ada again'),
      row('p5', 'Eve', T1),
      row('p6', 'Fay'),
      row('p5', 'Eve newer'),
      row('p7', 'Gus'),
    ];
    const whole = local.write('whole.csv', `${[HEADER, ...rows].join('\n')}\n`);
    const parts = partsOf('split-export', [rows.slice(0, 3), rows.slice(3, 6), rows.slice(6)]);
    // A split row's (file, line) as the whole file's line: 3 rows per part, each part with its header.
    const wholeLine = (file: string, line: string) =>
      String((Number(file.slice(5, 6)) - 1) * 3 + Number(line));
    const relabel = (text: string) =>
      text
        .replace(/^file,line,/gm, 'line,')
        .replace(/^(part-\d\.csv),(\d+),/gm, (_m, f: string, l: string) => `${wholeLine(f, l)},`)
        .replace(/(part-\d\.csv):(\d+)/g, (_m, f: string, l: string) => wholeLine(f, l));

    // Act
    const one = await runLocalFile(local.stack, whole, PARTS_CONFIG, options('whole'));
    const split = await runLocalExport(local.stack, parts, 'split-export', PARTS_CONFIG, options('split'));

    // Assess
    expect(one.status).toBe('SUCCEEDED');
    expect(split.status).toBe('SUCCEEDED');
    expect(split.reconciliation?.status).toBe('MATCHED');
    expect(split.counts).toEqual(one.counts);
    expect(split.counts).toMatchObject({ rows: 9, applied: 6, superseded: 2, rejected: 1 });
    expect(await local.items('split', { omit: META })).toEqual(await local.items('whole', { omit: META }));
    expect(report(split, 'rejects')).toMatch(/^file,line,reasons,Id,/);
    expect(report(split, 'rejects')).toContain('\r\npart-1.csv,4,');
    expect(report(split, 'warnings')).toContain('\r\npart-2.csv,2,invalid_email:Email,drop,');
    expect(report(split, 'duplicates')).toContain('p1,part-1.csv:2 part-2.csv:3,part-2.csv:3\r\n');
    for (const name of ['rejects', 'warnings', 'duplicates']) {
      expect(relabel(report(split, name))).toBe(report(one, name));
    }
  });

  it('a gzipped part is decompressed into its own work prefix and loads like a plain one', async () => {
    // Prepare
    const [plain, other] = partsOf('gzip-export', [[row('g1', 'Gia'), row('g2', 'Gil')], [row('g3', 'Guy')]]);
    const gz = `${other}.gz`;
    writeFileSync(gz, gzipSync(readFileSync(other ?? '')));

    // Act
    const result = await runLocalExport(
      local.stack,
      [plain ?? '', gz],
      'gzip-export',
      PARTS_CONFIG,
      options('split'),
    );

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ rows: 3, applied: 3, rejected: 0 });
    const names = (await local.items('split')).map((i) => i.id);
    expect(names).toEqual(expect.arrayContaining(['g1', 'g2', 'g3']));
  });

  it('`crm-sync local run <dir>` runs the directory as one export named after it', async () => {
    // Prepare: its own state dir and config file (the CLI starts its own stack).
    partsOf('cli-export', [
      [row('c1', 'Cy'), row('c2', 'Cal')],
      [row('c1', 'Cy again'), row('c3', 'Col')],
    ]);
    const config = local.write('cli-config.json', JSON.stringify(RAW_CONFIG));
    const stateDir = mkdtempSync(join(tmpdir(), 'crm-sync-cli-export-'));
    const dir = join(local.dataDir, 'cli-export');

    // Act
    const r = await cli([
      'local',
      'run',
      dir,
      '--entity',
      'split',
      '--config',
      config,
      '--state-dir',
      stateDir,
      '--json',
      '--quiet',
    ]);

    // Assess
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = lastJson<{ status: string; counts: object; reports: Record<string, string> }>(r.stdout);
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      counts: { rows: 4, applied: 3, superseded: 1, rejected: 0 },
    });
    const summary = JSON.parse(readFileSync(result.reports.summary ?? '', 'utf8')) as {
      source: { key: string };
    };
    expect(summary.source.key).toBe('inbox/split/cli-export/_SUCCESS');
    expect(readFileSync(result.reports.duplicates ?? '', 'utf8')).toBe(
      'key,lines,winner\r\nc1,part-1.csv:2 part-2.csv:2,part-2.csv:2\r\n',
    );
  });
});
